"""``pond rm [-r] PATH...``: remove entries (their history stays in the oplog)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import WD


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import write_transaction
    from duckpond.errors import DirectoryNotEmpty

    try:
        with write_transaction(args) as (_, wd):
            for pattern in args.paths:
                _remove(wd, pattern, recursive=args.recursive)
    except DirectoryNotEmpty as exc:
        raise DirectoryNotEmpty("directory not empty (use 'pond rm -r')", exc.path) from exc
    return 0


def _remove(wd: WD, pattern: str, *, recursive: bool) -> None:
    from duckpond.cli.common import has_magic
    from duckpond.errors import NotFound

    if not has_magic(pattern):
        wd.remove(pattern, recursive=recursive)
        return
    matches = [np.path for np in wd.glob(pattern)]
    if not matches:
        raise NotFound("no match", pattern)
    # deepest first, so '/d/**' removes children before their directory
    for path in sorted(set(matches), key=lambda p: (-p.count("/"), p)):
        if path != "/" and wd.lookup(path, follow=False) is not None:
            wd.remove(path, recursive=recursive)
