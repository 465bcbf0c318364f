"""The pond's side of a backup: which host files a backup holds, their keys, their push order.

A backup holds the pond's two Delta tables as they are on disk (:mod:`duckpond.layout`), each
file under the key that is its path below ``$POND``, POSIX-style::

    data/part_id=<id>/part-....parquet         PUSH ORDER: Phase.DATA_FILE
    data/_large_files/sha256=<hex>                         Phase.LARGE_FILE
    data/_delta_log/<version>.json|.checkpoint.parquet     Phase.DATA_LOG (by version)
    control/...parquet                                     Phase.DATA_FILE
    control/_delta_log/<version>...                        Phase.CONTROL_LOG (by version)
    data|control/_delta_log/_last_checkpoint               Phase.MUTABLE (last of all)

The write lock (``control/write.lock``), temporary files and Delta's own scratch files are not
part of a backup. Everything here reads the host only; nothing contacts a remote.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from enum import IntEnum
from pathlib import Path
from typing import Any, Final, TypeVar

from duckpond.errors import PondLocked
from duckpond.layout import (
    CONTROL_DIR,
    DATA_DIR,
    DELTA_LOG,
    LARGE_FILES,
    LARGE_PREFIX,
    LOCK_FILE,
    TABLES,
    TMP_PREFIX,
    PondLayout,
)

__all__ = [
    "LARGE_KEY_PREFIX",
    "LocalObject",
    "Phase",
    "Snapshot",
    "hash_file",
    "is_large_key",
    "local_objects",
    "log_key_version",
    "sha256_file",
    "snapshot",
]

#: Keys of large files start with this: ``data/_large_files/sha256=``.
LARGE_KEY_PREFIX: Final = f"{DATA_DIR}/{LARGE_FILES}/{LARGE_PREFIX}"
#: Pins of running pushes live in ``$POND/cache/<PIN_PREFIX><pid>-<random>``.
PIN_PREFIX: Final = "push-pins-"
_VERSIONED: Final = re.compile(r"^(\d{20})\.(.+)$")
_CHUNK: Final = 1 << 20

T = TypeVar("T")


class Phase(IntEnum):
    """When an object is pushed: every object of one phase before any of the next.

    The order keeps a remote readable at every moment: a Delta log entry arrives only after the
    files it refers to, the control table's log after the data table's, ``_last_checkpoint``
    (the only file a pond rewrites in place) last.
    """

    DATA_FILE = 0
    LARGE_FILE = 1
    DATA_LOG = 2
    CONTROL_LOG = 3
    MUTABLE = 4


@dataclass(frozen=True, slots=True)
class LocalObject:
    """A pond file a backup holds.

    Attributes:
        key: its key on the remote (its path below ``$POND``, POSIX).
        path: the host file (or a hard link to it, while a push holds it).
        size: bytes.
        phase: push order, see :class:`Phase`.
        order: order within the phase: ``(version, kind, name)`` for a log entry (a checkpoint
            before the commit of the same version), ``(0, 0, key)`` otherwise.
    """

    key: str
    path: Path
    size: int
    phase: Phase
    order: tuple[int, int, str] = (0, 0, "")

    @property
    def mutable(self) -> bool:
        """Whether the pond rewrites this file in place (``_last_checkpoint``)."""
        return self.phase is Phase.MUTABLE

    @property
    def sort_key(self) -> tuple[int, tuple[int, int, str]]:
        return int(self.phase), self.order


def is_large_key(key: str) -> bool:
    """Whether ``key`` names a large file (``data/_large_files/sha256=<hex>``)."""
    return key.startswith(LARGE_KEY_PREFIX)


def log_key_version(key: str) -> tuple[str, int, bool] | None:
    """``(table, version, is_checkpoint)`` of a versioned ``_delta_log`` key, else ``None``.

    ``data/_delta_log/00000000000000000007.json`` is ``("data", 7, False)``;
    ``control/_delta_log/00000000000000000010.checkpoint.parquet`` is ``("control", 10, True)``.
    """
    parts = key.split("/")
    if len(parts) != 3 or parts[0] not in TABLES or parts[1] != DELTA_LOG:
        return None
    m = _VERSIONED.match(parts[2])
    if not m:
        return None
    rest = m.group(2)
    if rest == "json":
        return parts[0], int(m.group(1)), False
    if rest.startswith("checkpoint") and rest.endswith(".parquet"):
        return parts[0], int(m.group(1)), True
    return None


def _log_rank(name: str) -> tuple[int, int, str] | None:
    """(version, kind, name) of a versioned ``_delta_log`` entry; ``None`` if unversioned.

    A checkpoint goes before the commit of the same version: the pond may have cleaned up the
    commits before a checkpoint, and a reader that finds ``N.json`` with no earlier commits
    and no checkpoint cannot read the table, while a checkpoint alone is a whole state.
    """
    m = _VERSIONED.match(name)
    if not m:
        return None
    rest = m.group(2)
    kind = 0 if "checkpoint" in rest else 1 if rest == "json" else 2
    return int(m.group(1)), kind, name


def _skip(name: str) -> bool:
    """Names no backup holds: hidden and temporary files, Delta's in-flight commits."""
    return name.startswith((".", "_commit_", TMP_PREFIX)) or name.endswith(".tmp")


def local_objects(root: str | os.PathLike[str] | PondLayout) -> list[LocalObject]:
    """Every file of the pond at ``root`` that a backup holds, in push order.

    The logs are listed first (control, then data), then the data files: a data file a listed
    commit refers to was written before that commit, so it is in the listing too. Hold the
    pond's write lock around this (:func:`snapshot` does) to list a state between transactions.
    """
    layout = root if isinstance(root, PondLayout) else PondLayout.of(root)
    logs: list[LocalObject] = []
    for phase, table in ((Phase.CONTROL_LOG, CONTROL_DIR), (Phase.DATA_LOG, DATA_DIR)):
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(layout.delta_log(table)):
                if not entry.is_file() or _skip(entry.name):
                    continue
                rank = _log_rank(entry.name)
                key = f"{table}/{DELTA_LOG}/{entry.name}"
                try:
                    size = entry.stat().st_size
                except FileNotFoundError:
                    continue
                if rank is None:
                    logs.append(
                        LocalObject(key, Path(entry.path), size, Phase.MUTABLE, (phase, 0, key))
                    )
                else:
                    logs.append(LocalObject(key, Path(entry.path), size, phase, rank))
    files: list[LocalObject] = []
    large_dir = f"{DATA_DIR}/{LARGE_FILES}"
    for table in TABLES:
        base = layout.root / table
        for dirpath, dirnames, filenames in os.walk(base):
            rel_dir = Path(dirpath).relative_to(layout.root).as_posix()
            if rel_dir == table:
                dirnames[:] = [d for d in dirnames if d != DELTA_LOG]
            large = rel_dir == large_dir
            for name in filenames:
                if _skip(name) or (rel_dir == CONTROL_DIR and name == LOCK_FILE):
                    continue
                if large and PondLayout.large_sha256(name) is None:
                    continue
                path = Path(dirpath) / name
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                key = f"{rel_dir}/{name}"
                phase = Phase.LARGE_FILE if large else Phase.DATA_FILE
                files.append(LocalObject(key, path, size, phase, (0, 0, key)))
    everything = files + logs
    everything.sort(key=lambda o: o.sort_key)
    return everything


# --------------------------------------------------------------------------------------------
# a listing between two transactions, its files pinned
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The pond's backed-up files as listed between two transactions.

    Attributes:
        objects: every file, in push order; the ones selected for pinning carry the path of
            their hard link (a vacuum or log cleanup cannot take those bytes away).
        gone: keys selected for pinning that vanished before they could be pinned.
        data_version: the newest version in the data table's log (``-1`` if none): the state
            of the pond the snapshot shows.
    """

    objects: tuple[LocalObject, ...]
    gone: tuple[str, ...]
    data_version: int


@contextlib.contextmanager
def snapshot(
    root: str | os.PathLike[str] | PondLayout,
    *,
    lock_timeout: float = 60.0,
    pin: Callable[[LocalObject], bool] | None = None,
) -> Iterator[Snapshot]:
    """List the pond's backed-up files between two transactions and pin the selected ones.

    The write lock is held (waiting up to ``lock_timeout`` s for a running transaction) only
    while listing and linking: milliseconds. Selected files are hard-linked into
    ``$POND/cache/push-pins-<pid>-<random>/`` (removed on exit, or by the next snapshot if this
    process died); where links are impossible (another filesystem, a read-only pond) the
    originals are used.

    Args:
        root: the pond.
        lock_timeout: seconds to wait for the write lock.
        pin: which objects to pin (``None``: none, e.g. for a dry run).

    Raises:
        PondLocked: a transaction held the lock longer than ``lock_timeout``.
    """
    layout = root if isinstance(root, PondLayout) else PondLayout.of(root)
    pin_dir: Path | None = None
    try:
        with _between_transactions(layout, lock_timeout):
            objects = local_objects(layout)
            gone: list[str] = []
            if pin is not None:
                pin_dir, objects, gone = _pin(layout, objects, pin)
        data_version = max(
            (
                v[1]
                for o in objects
                if (v := log_key_version(o.key)) is not None and v[0] == DATA_DIR
            ),
            default=-1,
        )
        yield Snapshot(tuple(objects), tuple(gone), data_version)
    finally:
        if pin_dir is not None:
            shutil.rmtree(pin_dir, ignore_errors=True)


@contextlib.contextmanager
def _between_transactions(layout: PondLayout, timeout: float) -> Iterator[None]:
    """Hold the pond's write lock (waiting up to ``timeout`` s) so no transaction is half done."""
    from duckpond.steward.lock import WriteLock

    lock = WriteLock(layout.lock)
    deadline = time.monotonic() + timeout
    while True:
        try:
            lock.acquire()
            break
        except PondLocked:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
        except PermissionError:  # a read-only pond: no writer can be active either
            yield
            return
    try:
        yield
    finally:
        lock.release()


def _pin(
    layout: PondLayout, objects: list[LocalObject], select: Callable[[LocalObject], bool]
) -> tuple[Path | None, list[LocalObject], list[str]]:
    """Hard-link the selected objects into a private folder; (folder, objects, keys gone)."""
    _remove_stale_pins(layout)
    pin_dir = layout.cache / f"{PIN_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        pin_dir.mkdir(parents=True)
    except OSError:
        return None, objects, []
    out: list[LocalObject] = []
    gone: list[str] = []
    for i, obj in enumerate(objects):
        if not select(obj):
            out.append(obj)
            continue
        link = pin_dir / str(i)
        try:
            os.link(obj.path, link)
        except FileNotFoundError:
            gone.append(obj.key)
        except OSError:
            out.append(obj)
        else:
            out.append(replace(obj, path=link))
    return pin_dir, out, gone


def _remove_stale_pins(layout: PondLayout) -> None:
    """Remove pin folders left by pushes whose process is gone."""
    if not layout.cache.is_dir():
        return
    for entry in layout.cache.glob(f"{PIN_PREFIX}*"):
        pid = entry.name[len(PIN_PREFIX) :].split("-", 1)[0]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


# --------------------------------------------------------------------------------------------
# hashing and running transfers
# --------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """The sha256 (hex) of a host file."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def hash_file(path: Path) -> tuple[str, str]:
    """(sha256, md5) hex digests of a host file, in one read."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


class HashSink:
    """A binary sink that hashes what it is given and passes it on to ``sink`` (if any)."""

    def __init__(self, *hashes: Any, sink: Any = None) -> None:
        self.hashes = hashes
        self.sink = sink

    def write(self, data: bytes) -> int:
        for h in self.hashes:
            h.update(data)
        if self.sink is not None:
            self.sink.write(data)
        return len(data)


def each(
    workers: int,
    items: list[T],
    fn: Callable[[T], Any],
    done: Callable[[Any], None],
) -> None:
    """Run ``fn`` over ``items`` (``workers`` at a time), calling ``done`` in this thread.

    The first failure cancels what has not started and is raised once the running ones end.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            done(fn(item))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: set[Future[Any]] = {pool.submit(fn, item) for item in items}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    done(fut.result())
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def parallel_map(workers: int, items: list[T], fn: Callable[[T], Any]) -> list[Any]:
    """``[fn(i) for i in items]``, ``workers`` at a time, in order."""
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))
