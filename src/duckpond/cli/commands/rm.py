"""``pond rm [-r] PATH...``: remove entries (their history stays in the oplog)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "rm",
        parents=[common],
        help="remove files, symlinks or directories",
        description="Remove entries in one transaction. A PATH with wildcards is a glob and must "
        "match something. Removed versions stay in the history (time travel, 'pond show'). "
        "A symlink is removed itself, not its target.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="pond path or glob")
    p.add_argument(
        "-r", "--recursive", action="store_true", help="remove directories and their contents"
    )
    from duckpond.cli.common import add_dry_run

    add_dry_run(p, "print each path that would be removed ('would remove PATH'), remove nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import write_transaction
    from duckpond.errors import DirectoryNotEmpty
    from duckpond.ops.remove import remove

    try:
        with write_transaction(args, dry_run=args.dry_run) as (_, root):
            removed = remove(root, args.paths, recursive=args.recursive)
    except DirectoryNotEmpty as exc:
        raise DirectoryNotEmpty("directory not empty (use 'pond rm -r')", exc.path) from exc
    if args.dry_run:
        import sys

        sys.stdout.write("".join(f"would remove {path}\n" for path in removed))
    return 0
