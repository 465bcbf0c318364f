"""``pond revert PATH --to-txn N``: a file's content as it was right after transaction N."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    from duckpond.cli.parser import positive_int

    p = subparsers.add_parser(
        "revert",
        parents=[common],
        help="make a file hold what it held right after transaction N",
        description="One transaction: PATH gets a new version whose content equals PATH as of "
        "transaction N (a data file or table: those bytes; a series: a correction version "
        "holding the rows it had then, superseding its current versions). History keeps both: "
        "--at-txn of a transaction before this one still reads the old content. A file removed "
        "since is created again.",
    )
    p.add_argument("path", help="pond path of a file, table or series")
    p.add_argument(
        "--to-txn", metavar="N", type=positive_int, required=True, help="transaction to go back to"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import info, pond_path, write_transaction
    from duckpond.errors import NotFound
    from duckpond.ops.corrections import revert
    from duckpond.steward.pond import Pond

    try:
        Pond.open(pond_path(args), at_txn=args.to_txn)  # NotFound: never committed
    except NotFound as exc:
        raise NotFound(exc.message, exc.path or args.path) from exc
    with write_transaction(args) as (_, root):
        done = revert(root, args.path, args.to_txn)
    info(f"{args.path}: {done} (as of transaction {args.to_txn})")
    return 0
