"""``pond mknod FACTORY PATH --config FILE``: create a dynamic node (one transaction)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "mknod",
        parents=[common],
        help="create a dynamic node (computed on read by a factory)",
        description="Create a dynamic node at PATH: it stores FACTORY's name and the YAML config "
        "read from FILE, and its content is computed whenever it is read ('pond "
        "list-factories' lists the factories). The config is validated first: a bad field is "
        "reported by its YAML path (exit 8) and nothing is written. The parent directory must "
        "exist.",
    )
    p.add_argument("factory", metavar="FACTORY", help="factory name (see 'pond list-factories')")
    p.add_argument("path", metavar="PATH", help="pond path of the new node")
    p.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        required=True,
        help="host file holding the node's YAML config ('-': standard input)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the config of an existing dynamic node of the same kind (a new version)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import write_transaction
    from duckpond.errors import UsageError
    from duckpond.factories.registry import get_factory, mknod

    config = read_config(args.config)
    # validate before the transaction, so a typo leaves no failed transaction in 'pond log'
    try:
        factory = get_factory(args.factory)
    except UsageError as exc:
        raise UsageError(exc.message, args.path) from None
    factory.parse(config, args.path)
    with write_transaction(args) as (_, wd):
        mknod(wd, factory.name, args.path, config, overwrite=args.overwrite)
    return 0


def read_config(name: str) -> str:
    """The text of the config file ``name`` (``-``: standard input).

    Raises:
        NotFound: no such file. InvalidData: not UTF-8.
    """
    import sys
    from pathlib import Path

    from duckpond.errors import InvalidData, IsADirectory, NotFound

    if name == "-":
        return sys.stdin.read()
    path = Path(name)
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        raise NotFound("no such config file", name) from None
    except IsADirectoryError:
        raise IsADirectory("the config is a directory, not a file", name) from None
    except UnicodeDecodeError:
        raise InvalidData("the config file is not UTF-8 text", name) from None
