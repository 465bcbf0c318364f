"""The argparse tree of ``pond`` (stdlib only: importing this must stay cheap).

Global options (``--pond``) are accepted before or after the command name; read commands also take
``--at-txn N``. Usage errors never print argparse's two-line usage: :class:`CliParser` raises
:class:`CliUsageError`, which :func:`duckpond.cli.main.main` prints as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any, NoReturn

from duckpond.cli.commands import COMMANDS

__all__ = ["CliParser", "CliUsageError", "build_parser", "positive_int"]


def epilog() -> str:
    """The ``--help`` epilog: the environment and the exit statuses (from
    :data:`duckpond.errors.EXIT_STATUSES`, the one table of them)."""
    from duckpond.errors import EXIT_STATUSES

    lines = [
        "environment:",
        "  POND            the pond directory (instead of --pond)",
        "  DUCKPOND_LOG    off (default), info or debug: structured logs on stderr; debug adds "
        "tracebacks",
        "",
        "exit status:",
    ]
    lines += [f"  {int(code):<3} {meaning}" for code, (meaning, _) in EXIT_STATUSES.items()]
    return "\n".join(lines) + "\n"


class CliUsageError(Exception):
    """A command line argparse rejected; ``str()`` is one line."""


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are exceptions (one line, exit 2) instead of exits.

    Args:
        populate: called with the parser before it first parses or formats help: a command
            with actions of its own (``pond backup push``) adds them there, so that ``pond
            --help`` and the other commands do not pay for building their parsers.
    """

    def __init__(
        self, *args: Any, populate: Callable[[CliParser], None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._populate = populate

    def populated(self) -> CliParser:
        """This parser with its deferred arguments added."""
        populate, self._populate = self._populate, None
        if populate is not None:
            populate(self)
        return self

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        return super(CliParser, self.populated()).parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        return super(CliParser, self.populated()).format_usage()

    def format_help(self) -> str:
        return super(CliParser, self.populated()).format_help()

    def error(self, message: str) -> NoReturn:
        raise CliUsageError(f"{message} (see '{self.prog} --help')")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a transaction sequence number)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return value


def build_parser() -> CliParser:
    """The ``pond`` parser with one sub-parser per command module."""
    from duckpond import __version__

    parser = CliParser(
        prog="pond",
        description="DuckPond: a very small data lake. A transactional, versioned filesystem "
        "for timeseries on Delta Lake, queried with SQL.",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pond (duckpond) {__version__}")
    parser.add_argument(
        "--pond", metavar="PATH", default=None, help="the pond directory (default: $POND)"
    )
    # The same option on every sub-command; SUPPRESS keeps a value given before the command.
    common = CliParser(add_help=False)
    common.add_argument(
        "--pond",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the pond directory (default: $POND)",
    )
    reading = CliParser(add_help=False)
    reading.add_argument(
        "--at-txn",
        metavar="N",
        type=positive_int,
        default=None,
        help="read the pond as it was right after transaction N",
    )
    subparsers = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", required=True
    )
    for name in COMMANDS:
        module = importlib.import_module(f"duckpond.cli.commands.{name}")
        module.add_parser(subparsers, common=common, reading=reading)
    return parser
