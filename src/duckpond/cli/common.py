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
    "Progress",
    "binary_stdout",
    "key_values",
    "open_pond",
    "pond_path",
    "progress",
    "stderr_is_tty",
    "stdout_is_tty",
    "warn",
    "write_transaction",
]


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
def write_transaction(args: argparse.Namespace) -> Iterator[tuple[Pond, WD]]:
    """Open the pond and one transaction recording the command line; yields (pond, root WD).

    Nothing is committed if the block raises; after a commit the pond's after-commit hooks run
    (auto push, auto mirror sync; see :mod:`duckpond.steward.hooks`).

    Raises:
        PondLocked: another writer holds the lock (at once, never waits). NotAPond, UsageError.
    """
    from duckpond.steward.pond import Pond

    pond = Pond.open(pond_path(args))
    with pond.transaction(getattr(args, "argv", None) or [args.command]) as tx:
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
    if not (show and stderr_is_tty()):
        yield Progress()
        return
    from rich.console import Console
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
    with RichProgress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield Progress(bar, task)
