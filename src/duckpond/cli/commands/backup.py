"""``pond backup add|list|remove|auto|push|verify``: back the pond up to S3 or a folder."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

DESCRIPTION = """\
Back the pond up to named remotes: an S3-compatible store (s3://bucket/prefix) or a folder
(file:///dir, or a plain host path). Remotes are pond settings; options (-o KEY=VALUE) are kept as
written, and secrets (secret_access_key, session_token) must be ${env:VAR} references, expanded
only when the remote is used.

  pond backup add NAME URL [-o KEY=VALUE ...] [--replace]
  pond backup list
  pond backup remove NAME
  pond backup auto NAME | --off     push to NAME after every committed write command
  pond backup push [NAME] [--dry-run]  send what the remote lacks (incremental, resumable)
  pond backup verify [NAME] [--deep]  compare the remote with the pond (exit 8 on a problem)

NAME may be left out when one remote is configured (or one is the auto-push remote). Restore a
backup with 'pond restore URL DEST'.
"""


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    subparsers.add_parser(
        "backup",
        parents=[common],
        help="configure backup remotes, push to them, verify them",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        populate=lambda parser: add_actions(parser, common),
    )


def add_actions(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """The actions' parsers (built only when ``pond backup`` is parsed)."""
    sub = p.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True)

    a = sub.add_parser(
        "add",
        parents=[common],
        help="configure a remote",
        description="Configure the backup remote NAME at URL (nothing is contacted yet). S3 "
        "options: endpoint_url, region, access_key_id, secret_access_key, session_token, ... "
        "(secrets as ${env:VAR}).",
    )
    a.add_argument("name", metavar="NAME", help="the remote's name")
    a.add_argument("url", metavar="URL", help="s3://bucket/prefix, file:///dir or a host path")
    add_options(a)
    a.add_argument("--replace", action="store_true", help="replace a remote of the same name")
    a.set_defaults(func=run_add)

    ls = sub.add_parser(
        "list",
        parents=[common],
        help="list the remotes",
        description="One line per remote: name, URL, options as stored (${env:VAR} references "
        "unexpanded) and '(auto push)' for the remote pushed to after every commit.",
    )
    ls.set_defaults(func=run_list)

    rm = sub.add_parser(
        "remove",
        parents=[common],
        help="forget a remote (its objects stay)",
        description="Forget the remote NAME; what it holds is left alone. Stops its auto push.",
    )
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(func=run_remove)

    au = sub.add_parser(
        "auto",
        parents=[common],
        help="push to a remote after every commit",
        description="After every write command that commits, push to NAME (a failed push is a "
        "warning; the commit stands and the next push catches up). --off stops it.",
    )
    au.add_argument("name", metavar="NAME", nargs="?")
    au.add_argument("--off", action="store_true", help="stop pushing after commits")
    au.set_defaults(func=run_auto)

    pu = sub.add_parser(
        "push",
        parents=[common],
        help="send the remote what it lacks",
        description="Send the remote every object it lacks, in an order that keeps it a readable "
        "backup at every moment; an interrupted push is resumed by the next. Refuses a remote "
        "holding another pond's backup (exit 4).",
    )
    pu.add_argument("name", metavar="NAME", nargs="?")
    pu.add_argument(
        "-n",
        "--dry-run",
        action="store_true",
        help="print what would be sent (one line per object), send nothing",
    )
    pu.set_defaults(func=run_push)

    ve = sub.add_parser(
        "verify",
        parents=[common],
        help="check the remote against the pond",
        description="Check that the remote holds every pushed object with the right content "
        "(through the fingerprints recorded at push; --deep downloads and hashes everything). "
        "Prints a summary, then each problem; exit 8 if there is one. Objects not pushed yet "
        "are counted, not problems.",
    )
    ve.add_argument("name", metavar="NAME", nargs="?")
    ve.add_argument("--deep", action="store_true", help="download and hash every object")
    ve.set_defaults(func=run_verify)


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        "--option",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a remote option (repeatable), e.g. -o endpoint_url=http://host:9000 "
        "-o secret_access_key='${env:AWS_SECRET_ACCESS_KEY}'",
    )


def transfer_progress(verb: str) -> Any:
    """A context manager yielding a ``progress(key, bytes)`` callback for push/restore: a spinner
    with the objects and bytes moved so far on a terminal, nothing otherwise."""
    import contextlib
    import threading

    from duckpond.cli.common import progress
    from duckpond.units import format_bytes

    @contextlib.contextmanager
    def manage() -> Any:
        with progress(verb, None) as bar:
            lock = threading.Lock()
            moved = [0, 0]

            def callback(key: str, size: int) -> None:
                with lock:
                    moved[0] += 1
                    moved[1] += int(size)
                    bar.describe(f"{verb}: {moved[0]} objects, {format_bytes(moved[1])}")

            yield callback

    return manage()


def run_add(args: argparse.Namespace) -> int:
    from duckpond.cli.common import key_values, open_pond
    from duckpond.remote import add_backup

    options = key_values(args.options, "-o")
    remote = add_backup(open_pond(args), args.name, args.url, options, replace=args.replace)
    print(f"{remote.name}: {remote.url}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    import sys

    from duckpond.cli.common import open_pond
    from duckpond.remote import list_backups

    remotes = list_backups(open_pond(args))
    width = max((len(r.name) for r in remotes), default=0)
    lines = []
    for r in remotes:
        line = f"{r.name:<{width}}  {r.url}"
        if r.options:
            line += "  " + " ".join(f"{k}={v}" for k, v in sorted(r.options.items()))
        if r.auto_push:
            line += "  (auto push)"
        lines.append(line)
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from duckpond.cli.common import open_pond
    from duckpond.remote import remove_backup

    remove_backup(open_pond(args), args.name)
    return 0


def run_auto(args: argparse.Namespace) -> int:
    from duckpond.cli.common import open_pond
    from duckpond.remote import set_auto_push

    name = auto_target(args, "NAME")
    set_auto_push(open_pond(args), name)
    print(f"auto push: {name or 'off'}")
    return 0


def auto_target(args: argparse.Namespace, what: str) -> str | None:
    """The value of an ``auto X | --off`` command (``None`` for ``--off``).

    Raises:
        UsageError: both or neither given.
    """
    from duckpond.errors import UsageError

    if args.off == (args.name is not None):
        raise UsageError(f"give either {what} or --off")
    return None if args.off else str(args.name)


def run_push(args: argparse.Namespace) -> int:
    import sys

    from duckpond.cli.common import open_pond
    from duckpond.remote import plan_push, push

    pond = open_pond(args)
    if args.dry_run:
        plan = plan_push(pond, args.name)
        sys.stdout.write("\n".join(plan.lines()) + "\n")
        return 0
    callback: Callable[[str, int], None]
    with transfer_progress("pushing") as callback:
        report = push(pond, args.name, progress=callback)
    print(report.summary())
    return 0


def run_verify(args: argparse.Namespace) -> int:
    import sys

    from duckpond.cli.common import open_pond, progress
    from duckpond.remote import verify

    pond = open_pond(args)
    with progress("verifying", None):
        report = verify(pond, args.name, deep=args.deep)
    lines = [report.summary(), *(f"  {p}" for p in report.problems)]
    sys.stdout.write("\n".join(lines) + "\n")
    if report.ok:
        return 0
    sys.stdout.flush()
    problems = len(report.problems)
    print(f"pond: {report.url}: backup not whole: {problems} problem(s)", file=sys.stderr)
    return 8
