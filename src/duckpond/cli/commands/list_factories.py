"""``pond list-factories``: the factories ``pond mknod`` can use (name, kind, description).

``--format json``: one object per factory (JSON Lines): ``name``, ``kind`` (``dir`` or ``file``),
``description``.
"""

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
    from duckpond.cli.common import add_format

    add_format(p, "one object per factory (JSON Lines): name, kind (dir|file), description")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from duckpond.factories.registry import list_factories

    rows = list_factories()
    if args.format == "json":
        from duckpond.cli.common import emit_json

        emit_json({"name": n, "kind": k, "description": d} for n, d, k in rows)
        return 0
    width = max((len(name) for name, _, _ in rows), default=0)
    lines = [f"{name:<{width}}  {kind:<4}  {description}" for name, description, kind in rows]
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0
