"""``pond mkdir [-p] PATH...``: create directories (one transaction)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "mkdir",
        parents=[common],
        help="create directories",
        description="Create directories, all in one transaction.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="pond path of a new directory")
    p.add_argument(
        "-p",
        "--parents",
        action="store_true",
        help="create missing parents too; an existing directory is not an error",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import write_transaction

    with write_transaction(args) as (_, wd):
        for path in args.paths:
            wd.mkdir(path, parents=args.parents, exist_ok=args.parents)
    return 0
