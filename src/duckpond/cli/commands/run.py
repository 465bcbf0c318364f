"""``pond run PATH COMMAND [ARGS...]``: run a command of the factory behind a dynamic node."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "run",
        parents=[common],
        usage="pond run [-h] [--pond PATH] PATH COMMAND [ARG ...]",
        help="run a command of a dynamic node's factory (build a site, collect data)",
        description="Run COMMAND of the factory behind the dynamic node at PATH, with ARGS: "
        "'pond run /site build DIR' writes a sitegen node's website into the host folder DIR; "
        "'pond run /hydrovu collect' fetches new readings. A command that writes commits one "
        "transaction (recorded as 'run PATH COMMAND ARGS'); others only read. An argument that "
        "starts with '-' goes after '--'.",
    )
    p.add_argument("path", metavar="PATH", help="pond path of a dynamic node (made with mknod)")
    p.add_argument(
        "name", metavar="COMMAND", nargs="?", help="the factory's command, e.g. build, collect"
    )
    p.add_argument("args", nargs="*", metavar="ARG", help="the command's arguments")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import open_pond
    from duckpond.errors import UsageError
    from duckpond.factories.registry import run as run_command

    if args.name is None:  # argparse would also name ARG as missing
        raise UsageError("the following argument is required: COMMAND (see 'pond run --help')")
    pond = open_pond(args)
    result = run_command(pond, args.path, args.name, list(args.args))
    text = describe_result(result)
    if text:
        print(text)
    return 0


def describe_result(result: Any) -> str:
    """What a factory command returned, as text: its ``summary()``, its own ``str()``, else a
    site report's files and bytes, else its repr (nothing for ``None``)."""
    from dataclasses import fields, is_dataclass

    from duckpond.units import format_bytes

    if result is None:
        return ""
    summary = getattr(result, "summary", None)
    if callable(summary):
        return str(summary())
    own_str: Any = type(result).__str__
    if own_str is not object.__str__:  # its own text (reports of collectors)
        return str(result)
    names = {f.name for f in fields(result)} if is_dataclass(result) else set()
    if {"out_dir", "files", "bytes"} <= names:  # duckpond.site.render.SiteReport
        pages = getattr(result, "pages", ())
        line = (
            f"{result.out_dir}: wrote {len(result.files)} files "
            f"({format_bytes(result.bytes)}, {result.bytes} bytes)"
        )
        return line + (f", {len(pages)} page(s): {', '.join(pages)}" if pages else "")
    return repr(result)
