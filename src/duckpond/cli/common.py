"""Helpers shared by the command modules: opening the pond, output streams, times, progress.

Only the standard library at module level; pyarrow, deltalake and rich are imported on use.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from duckpond.errors import UsageError

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.fs import WD

__all__ = [
    "AUTO_SETTINGS",
    "GLOB_MAGIC",
    "Progress",
    "after_commit",
    "binary_stdout",
    "format_size",
    "format_time",
    "has_magic",
    "key_values",
    "open_pond",
    "pond_path",
    "progress",
    "stderr_is_tty",
    "stdout_is_tty",
    "warn",
    "write_transaction",
]

GLOB_MAGIC = frozenset("*?[")

#: The settings that make :func:`duckpond.remote.after_commit` do anything (auto push, auto
#: mirror sync). Spelled out here so that a write command on a pond without them never imports
#: ``duckpond.remote`` (~25 ms); tests check they equal ``duckpond.remote.config.AUTO_PUSH`` and
#: ``duckpond.mirror.AUTO_SYNC``.
AUTO_SETTINGS = ("backup.auto_push", "mirror.auto_sync")


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
    from duckpond.factories import resolver
    from duckpond.steward.pond import Pond

    return Pond.open(pond_path(args), at_txn=getattr(args, "at_txn", None), factories=resolver)


@contextlib.contextmanager
def write_transaction(args: argparse.Namespace) -> Iterator[tuple[Pond, WD]]:
    """Open the pond and one transaction recording the command line; yields (pond, root WD).

    Nothing is committed if the block raises. After a commit (the write lock released), the
    auto push and auto mirror sync run (:func:`after_commit`).

    Raises:
        PondLocked: another writer holds the lock (at once, never waits). NotAPond, UsageError.
    """
    from duckpond.factories import resolver
    from duckpond.steward.pond import Pond

    pond = Pond.open(pond_path(args), factories=resolver)
    before = pond.txn_seq
    with pond.transaction(getattr(args, "argv", None) or [args.command]) as tx:
        yield pond, tx.root()
    if pond.txn_seq != before:
        after_commit(pond)


def after_commit(pond: Pond) -> None:
    """Run the auto push and auto mirror sync the pond's settings ask for, after a commit.

    Never raises: each failure is a ``pond: warning:`` line on stderr (the commit stands).
    Without either setting this costs one read of the settings and imports nothing.
    """
    from duckpond.errors import PondError

    try:
        settings = pond.settings
    except PondError as exc:
        warn(f"after-commit hooks skipped: {exc}")
        return
    if not any(settings.get(key) for key in AUTO_SETTINGS):
        return
    from duckpond.remote import after_commit as run_hooks

    try:
        errors = run_hooks(pond).errors
    except Exception as exc:  # noqa: BLE001 - the commit stands; a hook's bug must not hide it
        errors = [f"after-commit hooks failed: {type(exc).__name__}: {exc}"]
    for line in errors:
        warn(line)


def warn(message: str) -> None:
    """One line ``pond: warning: <message>`` on stderr (after flushing stdout)."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    print(f"pond: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


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


def has_magic(pattern: str) -> bool:
    """Whether a pond path holds glob wildcards (``*``, ``?``, ``[``)."""
    return any(c in GLOB_MAGIC for c in pattern)


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


def format_time(us: int | None, *, precise: bool = False) -> str:
    """µs since the epoch (UTC) as ISO-8601 with ``Z``: seconds, or µs when ``precise``."""
    if us is None:
        return "-"
    seconds, micros = divmod(int(us), 1_000_000)
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if precise and micros:
        text += f".{micros:06d}"
    return text + "Z"


def format_size(size: int) -> str:
    """Bytes for people: ``512 B``, ``1.5 KiB``, ``20.0 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


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
