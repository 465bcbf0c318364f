"""``pond mirror sync|auto``: the pond's current tree as plain files in a host folder."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """\
Keep a host folder holding the pond's current tree as plain files, for programs that read files:
/raw/b01.series in the pond is DIR/raw/b01.series (a series as one Parquet file, a table as
Parquet, a data file as its bytes; dynamic nodes are not mirrored).

  pond mirror sync DIR [--rebuild] [--dry-run]   bring DIR up to date (incremental)
  pond mirror auto DIR | --off       sync DIR after every committed write command

A file changed by hand in DIR is left alone and reported (a 'pond: warning:' line each, exit 0)
until it is deleted or --rebuild wipes DIR and writes everything again. A sync that was killed is
finished by the next one.
"""


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    subparsers.add_parser(
        "mirror",
        parents=[common],
        help="mirror the pond's tree into a host folder",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        populate=lambda parser: add_actions(parser, common),
    )


def add_actions(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """The actions' parsers (built only when ``pond mirror`` is parsed)."""
    sub = p.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True)
    s = sub.add_parser(
        "sync",
        parents=[common],
        help="bring the mirror up to date",
        description="Write what changed since the last sync into DIR (created if missing; "
        "otherwise it must be empty or a mirror of this pond), delete what the pond no longer "
        "has, leave files changed by hand alone (one warning line each).",
    )
    s.add_argument("dir", metavar="DIR", help="the mirror folder")
    s.add_argument(
        "--rebuild",
        action="store_true",
        help="wipe DIR (hand-made changes included) and write everything again",
    )
    s.add_argument(
        "-n",
        "--dry-run",
        action="store_true",
        help="print what would be written, deleted or left alone; change nothing",
    )
    s.set_defaults(func=run_sync)
    a = sub.add_parser(
        "auto",
        parents=[common],
        help="sync a folder after every commit",
        description="After every write command that commits, sync the mirror in DIR (a failure "
        "is a warning; the commit stands). --off stops it.",
    )
    a.add_argument("name", metavar="DIR", nargs="?")
    a.add_argument("--off", action="store_true", help="stop syncing after commits")
    a.set_defaults(func=run_auto)


def run_sync(args: argparse.Namespace) -> int:
    from duckpond import mirror
    from duckpond.cli.common import open_pond, progress, warn

    pond = open_pond(args)
    if args.dry_run:
        plan = mirror.plan_sync(pond, args.dir, rebuild=args.rebuild)
        print("\n".join(plan.lines()))
        return 0
    with progress("syncing the mirror", None):
        report = mirror.sync(pond, args.dir, rebuild=args.rebuild)
    print(report.summary())
    for conflict in report.conflicts:
        warn(f"mirror: {conflict}")
    return 0


def run_auto(args: argparse.Namespace) -> int:
    from duckpond import mirror
    from duckpond.cli.commands.backup import auto_target
    from duckpond.cli.common import open_pond

    folder = auto_target(args, "DIR")
    pond = open_pond(args)
    mirror.set_auto_sync(pond, folder)
    shown = mirror.auto_sync_dir(pond)
    print(f"auto mirror sync: {shown if shown is not None else 'off'}")
    return 0
