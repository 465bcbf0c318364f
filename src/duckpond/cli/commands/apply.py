"""``pond apply -f FILE [-e KEY=VALUE ...] [-n]``: apply YAML pipelines in one transaction."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "apply",
        parents=[common],
        help="apply a pipeline: directories, copies and dynamic nodes from YAML",
        description="Apply the pipelines in FILE(s): multi-document YAML whose documents are "
        "resources (kind: mkdir, copy or mknod; see examples/README.md). The text is first a "
        "Jinja2 template rendered in a sandbox: {{ NAME }} is the value of -e NAME=VALUE, else "
        "of the environment variable NAME (names that look like secrets are not visible). "
        "Relative host paths are relative to each FILE's folder. Everything is validated first, "
        "then all files are applied in one transaction; applying the same files again changes "
        "nothing and commits nothing. Prints one line per change.",
    )
    p.add_argument(
        "-f",
        "--file",
        required=True,
        action="append",
        metavar="FILE",
        help="a pipeline (YAML) on the host; repeat for several, applied together in order",
    )
    p.add_argument(
        "-e",
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template variable (repeatable); overrides the environment",
    )
    from duckpond.cli.common import add_dry_run

    add_dry_run(
        p,
        "print the changes applying would make ('would create  ...'), commit nothing (the "
        "same checks and errors as a real apply)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from duckpond.cli.common import OUTPUT, info, key_values, open_pond
    from duckpond.errors import printable
    from duckpond.pipeline import apply_files

    variables = key_values(args.var, "-e")
    pond = open_pond(args)
    report = apply_files(pond, args.file, variables, args=tuple(args.argv), dry_run=args.dry_run)
    changes = [c for c in report.changes if c.action != "unchanged"]
    if not changes:
        info("nothing would change" if args.dry_run else "nothing changed")
        return 0
    if OUTPUT.quiet and not args.dry_run:
        return 0
    actions = [("would " + c.action if args.dry_run else c.action) for c in changes]
    width = max(len(a) for a in actions)
    lines = [
        f"{a:<{width}}  {c.kind:<5}  {c.path}" + (f"  ({c.detail})" if c.detail else "")
        for a, c in zip(actions, changes, strict=True)
    ]
    if report.txn_seq is not None:
        lines.append(f"committed transaction {report.txn_seq}")
    sys.stdout.write("\n".join(map(printable, lines)) + "\n")
    return 0
