"""Helpers shared by the command modules: opening the pond, output streams, times, progress.

Only the standard library at module level; pyarrow, deltalake and rich are imported on use.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from duckpond.errors import UsageError, printable

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.fs import WD

__all__ = [
    "FORMATS",
    "OUTPUT",
    "Output",
    "Progress",
    "add_dry_run",
    "add_format",
    "binary_stdout",
    "console",
    "emit_json",
    "info",
    "json_time",
    "key_values",
    "open_pond",
    "pond_path",
    "progress",
    "stderr_is_tty",
    "stdout_is_tty",
    "use_color",
    "warn",
    "write_transaction",
]

#: ``--format`` of the listing commands: text for people, json (JSON Lines where a list) for
#: programs.
FORMATS = ("text", "json")


class Output:
    """How this run of ``pond`` prints (set from the global options by ``main``).

    Attributes:
        color: ``auto`` (on a terminal, unless ``NO_COLOR`` is set), ``always`` or ``never``.
        quiet: no progress bars and no summary lines.
        verbose: 0, 1 (info logs) or 2+ (debug logs, tracebacks).
    """

    def __init__(self, color: str = "auto", quiet: bool = False, verbose: int = 0) -> None:
        self.color = color
        self.quiet = quiet
        self.verbose = verbose

    def set(self, args: argparse.Namespace | None) -> None:
        """Take the global options of ``args`` (``None``: the defaults)."""
        self.color = getattr(args, "color", "auto") or "auto"
        self.quiet = bool(getattr(args, "quiet", False))
        self.verbose = int(getattr(args, "verbose", 0) or 0)


#: The settings of the current run (reset by ``main`` for every command line).
OUTPUT = Output()


def use_color(stream: IO[str] | None = None) -> bool:
    """Whether to color output to ``stream`` (default stdout): ``--color``, else ``NO_COLOR``
    (set and not empty: no color, https://no-color.org), else whether it is a terminal."""
    if OUTPUT.color == "always":
        return True
    if OUTPUT.color == "never" or os.environ.get("NO_COLOR"):
        return False
    stream = stream if stream is not None else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def console(*, stderr: bool = False, **kwargs: Any) -> Any:
    """A ``rich`` Console for stdout (or stderr) that honours ``--color`` and ``NO_COLOR``: no
    escape codes at all without color; ``--color always`` colors a pipe too."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if use_color(stream):
        forced = True if OUTPUT.color == "always" else None
        return Console(stderr=stderr, force_terminal=forced, **kwargs)
    return Console(stderr=stderr, color_system=None, no_color=True, **kwargs)


def info(message: str) -> None:
    """A summary line on stdout (``created pond ...``, ``nothing changed``), unless ``-q``."""
    if not OUTPUT.quiet:
        print(message)


def add_format(parser: argparse.ArgumentParser, fields: str) -> None:
    """``--format text|json`` on a listing command; ``fields`` documents the JSON fields."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help=f"text (default) or json: {fields}",
    )


def add_dry_run(parser: argparse.ArgumentParser, what: str) -> None:
    """``-n/--dry-run``: say what the command would do, change nothing."""
    parser.add_argument("-n", "--dry-run", action="store_true", help=what)


def json_time(us: int | None) -> str | None:
    """µs since the epoch as ISO-8601 UTC with µs and ``Z`` (``2013-01-01T06:00:00.000000Z``),
    the time format of every ``--format json``; ``None`` stays ``null``."""
    if us is None:
        return None
    from datetime import UTC, datetime, timedelta

    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def emit_json(rows: Any) -> None:
    """Each row (a dict) as one line of JSON (JSON Lines, https://jsonlines.org) on stdout."""
    import json

    out = sys.stdout
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")


def pond_path(args: argparse.Namespace) -> str:
    """The pond directory: ``--pond``, else ``$POND``.

    Raises:
        UsageError: neither is set.
    """
    path = getattr(args, "pond", None) or os.environ.get("POND")
    if not path:
        raise UsageError("no pond given: use --pond PATH or set POND")
    return str(path)


def open_pond(args: argparse.Namespace) -> Pond:
    """Open the pond, as of ``--at-txn`` when the command has it and it is given.

    The built-in factories resolve dynamic nodes (``pond mknod``), so they read like any file.

    Raises:
        UsageError (no pond given), NotAPond, NotFound (``--at-txn`` never committed).
    """
    from duckpond.steward.pond import Pond

    return Pond.open(pond_path(args), at_txn=getattr(args, "at_txn", None))


@contextlib.contextmanager
def write_transaction(
    args: argparse.Namespace, *, dry_run: bool = False
) -> Iterator[tuple[Pond, WD]]:
    """Open the pond and one transaction recording the command line; yields (pond, root WD).

    Nothing is committed if the block raises; after a commit the pond's after-commit hooks run
    (auto push, auto mirror sync; see :mod:`duckpond.steward.hooks`). ``dry_run``: the block
    runs as in a transaction, then everything is discarded (nothing committed or recorded).

    Raises:
        PondLocked: another writer holds the lock (at once, never waits). NotAPond, UsageError.
    """
    from duckpond.steward.pond import Pond

    pond = Pond.open(pond_path(args))
    recorded = getattr(args, "argv", None) or [args.command]
    with pond.transaction(recorded, dry_run=dry_run) as tx:
        yield pond, tx.root()


def warn(message: str) -> None:
    """One line ``pond: warning: <message>`` on stderr (after flushing stdout)."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    text = printable(" ".join(str(message).split()))
    print(f"pond: warning: {text}", file=sys.stderr, flush=True)


def key_values(items: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}`` (``-o``/``-v`` options; last wins).

    Raises:
        UsageError: an item without ``=`` or with an empty key.
    """
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} takes KEY=VALUE, not {item!r}")
        out[key.strip()] = value
    return out


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def binary_stdout() -> IO[bytes]:
    """stdout as a binary stream (text written so far is flushed first)."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # an unusual replacement of sys.stdout
        raise UsageError("stdout cannot take binary output")
    return buffer  # type: ignore[no-any-return]


class Progress:
    """Progress of long work: a rich bar on stderr when it is a terminal, nothing otherwise."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar = bar
        self._task = task

    def advance(self, amount: float = 1, *, description: str | None = None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=amount, description=description)

    def describe(self, description: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=description)


@contextlib.contextmanager
def progress(
    description: str, total: float | None, *, in_bytes: bool = False, show: bool = True
) -> Iterator[Progress]:
    """A progress bar on stderr for ``total`` units (``None``: a spinner), if stderr is a tty."""
    if not (show and stderr_is_tty()) or OUTPUT.quiet:
        yield Progress()
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as RichProgress

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns.append(BarColumn())
        columns += [DownloadColumn(), TransferSpeedColumn()] if in_bytes else [MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with RichProgress(*columns, console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield Progress(bar, task)
