"""The argparse tree of ``pond`` (stdlib only: importing this must stay cheap).

Global options (``--pond``, ``--color``, ``-q``, ``-v``) are accepted before or after the command
name; read commands also take ``--at-txn N``. Usage errors never print argparse's two-line usage:
:class:`CliParser` raises :class:`CliUsageError`, which :func:`duckpond.cli.main.main` prints as
one line with exit status 2; a mistyped command, choice or option gets a "did you mean" (closest
match by :func:`difflib.get_close_matches`). Positional pond paths complete from the pond in the
shell (``pond completion bash|zsh|fish``, argcomplete).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
from collections.abc import Callable, Iterable, Sequence
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
        "tracebacks (-v and -vv say the same)",
        "  NO_COLOR        set (not empty): no colors, as --color never (https://no-color.org)",
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
        m = re.match(r"unrecognized arguments: (\S+)", message)
        if m is not None and m.group(1).startswith("-"):
            message += _did_you_mean(m.group(1).split("=")[0], self._option_strings())
        raise CliUsageError(f"{message} (see '{self.prog} --help')")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            if isinstance(action, argparse._SubParsersAction):
                text = f"unknown command {value!r}"
            else:
                shown = ", ".join(map(repr, choices))
                text = f"invalid choice: {value!r} (choose from {shown})"
            raise argparse.ArgumentError(action, text + _did_you_mean(str(value), choices))

    def _option_strings(self) -> list[str]:
        self.populated()
        found = [o for a in self._actions for o in a.option_strings]
        for action in self._actions:  # options of the command given, when there is one
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found += [o for a in sub._actions for o in a.option_strings]
        return found


def _did_you_mean(value: str, choices: Iterable[Any]) -> str:
    close = difflib.get_close_matches(value, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a transaction sequence number)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return value


def build_parser(argv: Sequence[str] | None = None) -> CliParser:
    """The ``pond`` parser with one sub-parser per command module.

    Given the command line ``argv``, only the sub-parser of the command it names is built (the
    others' modules are not imported: ~20 ms of every command's start); a line whose command
    cannot be told for sure (``--help``, an unknown or abbreviated option before it, no
    command) gets the whole tree, so help, errors and "did you mean" are the same either way.
    """
    from duckpond import __version__

    parser = CliParser(
        prog="pond",
        description="DuckPond: a very small data lake. A transactional, versioned filesystem "
        "for timeseries on Delta Lake, queried with SQL.",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pond (duckpond) {__version__}")
    add_global_options(parser, before_command=True)
    # The same options on every sub-command; SUPPRESS keeps a value given before the command.
    common = CliParser(add_help=False)
    add_global_options(common, before_command=False)
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
    named = command_of(argv) if argv is not None else None
    for name in COMMANDS if named is None else (named,):
        module = importlib.import_module(f"duckpond.cli.commands.{name}")
        module.add_parser(subparsers, common=common, reading=reading)
    _attach_completers(subparsers)
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The module (in :data:`COMMANDS`) of the command ``argv`` names after the global options,
    or ``None`` when that is not certain."""
    takes_value = {f for flags, kw, _ in GLOBAL_OPTIONS if "action" not in kw for f in flags}
    switches = {f for flags, kw, _ in GLOBAL_OPTIONS if "action" in kw for f in flags}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in takes_value:
            i += 2
        elif (
            token in switches
            or re.fullmatch(r"-v+|-q+", token)
            or token.split("=", 1)[0] in takes_value  # --pond=PATH
        ):
            i += 1
        elif token.startswith("-"):
            return None  # --help, --version, an abbreviation or a mistake: the whole tree
        else:
            module = token.replace("-", "_")
            return module if module in COMMANDS and token == module.replace("_", "-") else None
    return None


#: Global options: (flags, argparse keywords, default when not given anywhere).
GLOBAL_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any], Any], ...] = (
    (("--pond",), {"metavar": "PATH", "help": "the pond directory (default: $POND)"}, None),
    (
        ("--color",),
        {
            "choices": ("auto", "always", "never"),
            "help": "colors in output: auto (default: on a terminal, unless NO_COLOR is set), "
            "always or never",
        },
        "auto",
    ),
    (
        ("-q", "--quiet"),
        {
            "action": "store_true",
            "help": "no progress bars and no summary lines (data, warnings and errors still)",
        },
        False,
    ),
    (
        ("-v", "--verbose"),
        {
            "action": "count",
            "help": "-v: structured logs of what is read, written and committed on stderr "
            "(DUCKPOND_LOG=info); -vv: debug logs and tracebacks",
        },
        0,
    ),
)


def add_global_options(parser: argparse.ArgumentParser, *, before_command: bool) -> None:
    """``--pond``, ``--color``, ``-q/--quiet``, ``-v/--verbose`` (before the command they have
    defaults; after it, ``SUPPRESS`` keeps what was given before)."""
    for flags, kwargs, default in GLOBAL_OPTIONS:
        parser.add_argument(
            *flags, default=default if before_command else argparse.SUPPRESS, **kwargs
        )


#: Arguments that name pond paths, completed from the pond: (command, dest).
POND_PATH_ARGUMENTS = frozenset(
    {
        ("list", "pattern"),
        ("cat", "path"),
        ("describe", "paths"),
        ("rm", "paths"),
        ("mv", "src"),
        ("mv", "dst"),
        ("mkdir", "paths"),
        ("mknod", "path"),
        ("run", "path"),
        ("export", "patterns"),
    }
)


def _attach_completers(subparsers: argparse._SubParsersAction[Any]) -> None:
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if (name, action.dest) in POND_PATH_ARGUMENTS:
                action.completer = complete_pond_path


def complete_pond_path(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """argcomplete completer: the pond entries whose path starts with ``prefix`` (directories
    end with ``/``), read from ``--pond`` or ``$POND``; nothing if there is no pond."""
    import os

    from duckpond.errors import PondError

    pond_dir = getattr(parsed_args, "pond", None) or os.environ.get("POND")
    if not pond_dir:
        return []
    try:
        from duckpond.steward.pond import Pond

        root = Pond.open(pond_dir).root()
        absolute = "/" + prefix.lstrip("/")
        folder = absolute.rpartition("/")[0] or "/"
        out = [e.path + ("/" if e.is_dir else "") for e in root.list(folder)]
        if not prefix.startswith("/"):  # a relative prefix: relative answers
            out = [p[1:] for p in out]
        return [p for p in out if p.startswith(prefix)]
    except (PondError, OSError):
        return []
