"""``pond diff PATH [--from-txn N] [--to-txn M]``: what changed at a path."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    from duckpond.cli.parser import positive_int

    p = subparsers.add_parser(
        "diff",
        parents=[common],
        help="what changed at a path between two transactions",
        description="A data file: a unified diff of its text (or which bytes differ); a table "
        "or series: the counts of rows added and removed and the first of each (in time "
        "order); a directory: the entries added and removed. Default: from right before the "
        "last transaction that changed PATH, to now.",
    )
    p.add_argument("path", help="pond path")
    p.add_argument("--from-txn", metavar="N", type=positive_int, help="the earlier side")
    p.add_argument("--to-txn", metavar="M", type=positive_int, help="the later side (default: now)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from duckpond.cli.common import pond_path
    from duckpond.errors import NotFound, printable
    from duckpond.ops.corrections import diff
    from duckpond.steward.pond import Pond

    path = pond_path(args)
    for txn in (args.from_txn, args.to_txn):
        if txn is not None:
            try:
                Pond.open(path, at_txn=txn)  # NotFound: never committed
            except NotFound as exc:
                raise NotFound(exc.message, exc.path or args.path) from exc
    pond = Pond.open(path)
    result = diff(pond.fs, args.path, args.from_txn, args.to_txn)
    sys.stdout.write("".join(printable(line) + "\n" for line in result.lines()))
    return 0
