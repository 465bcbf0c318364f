"""``pond mv SRC DST``: move or rename within the pond."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "mv",
        parents=[common],
        help="move or rename an entry",
        description="Move or rename SRC to DST. If DST is an existing directory, SRC moves into "
        "it and keeps its name. History moves with the node.",
    )
    p.add_argument("src", help="pond path to move")
    p.add_argument("dst", help="new pond path, or an existing directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import write_transaction

    with write_transaction(args) as (_, wd):
        wd.rename(args.src, args.dst)
    return 0
