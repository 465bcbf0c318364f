"""``pond init``: create a new, empty pond."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "init",
        parents=[common],
        help="create a new pond",
        description="Create a new pond at PATH (or --pond / $POND). The directory may exist if "
        "it is empty. The first transaction (1) writes the empty root directory.",
    )
    p.add_argument("path", nargs="?", help="where to create it (default: --pond or $POND)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import info, pond_path
    from duckpond.steward.pond import Pond

    path = args.path or pond_path(args)
    pond = Pond.init(path)
    info(f"created pond {pond.pond_id} at {pond.path}")
    return 0
