"""``pond list-factories``: the factories ``pond mknod`` can use (name, kind, description)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "list-factories",
        parents=[common],
        help="list the factories of dynamic nodes",
        description="List the factories 'pond mknod' can make dynamic nodes of: name, kind "
        "(dir: the node is a directory of computed files; file: one computed file) and what it "
        "computes. Needs no pond.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from duckpond.factories.registry import list_factories

    rows = list_factories()
    width = max((len(name) for name, _, _ in rows), default=0)
    lines = [f"{name:<{width}}  {kind:<4}  {description}" for name, description, kind in rows]
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0
