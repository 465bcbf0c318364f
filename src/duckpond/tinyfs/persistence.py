"""The Persistence protocol: the small storage core under tinyfs.

A backend implements a few methods; everything else in tinyfs (lookup, list, glob, walk, exists,
versions, rename, ...) is written once above them. Two backends exist: :class:`MemoryPersistence`
here and :class:`duckpond.tlogfs.DeltaPersistence`; one conformance suite
(:mod:`duckpond.testing.conformance`) runs against both, at the Persistence level and through
tinyfs.

Changes happen in transactions: :meth:`Persistence.begin` starts one with its txn_seq, staged
versions (:meth:`Persistence.stage`) are visible to reads at once ("read your writes"),
:meth:`Persistence.commit` makes them durable all at once and :meth:`Persistence.rollback` drops
them (and the large files they wrote).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from duckpond.errors import IntegrityError, NotFound
from duckpond.layout import TMP_PREFIX
from duckpond.tinyfs.model import ROOT_ID, NodeVersion

__all__ = [
    "INLINE_LIMIT",
    "Blob",
    "HashedFile",
    "MemoryPersistence",
    "Persistence",
    "copy_hashing",
    "make_temp",
    "write_hashed",
]

#: File versions of at least this many bytes are stored as large files, not inline (64 KiB).
INLINE_LIMIT = 64 * 1024
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes stored by :meth:`Persistence.put_blob`: inline ``content`` or a large file by hash."""

    content: bytes | None
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class HashedFile:
    """A host file whose sha256 and size the writer already computed (see :func:`write_hashed`)."""

    path: Path
    sha256: str
    size: int


def write_hashed(path: Path, write: Callable[[str], object]) -> HashedFile:
    """Call ``write(path)`` (which writes the file sequentially) while hashing it in a thread.

    The hashing thread follows the file as it grows, so on two cores the sha256 costs almost no
    extra wall time (``hashlib`` releases the GIL; so does pyarrow's Parquet writer).
    """
    done = threading.Event()
    digest = hashlib.sha256()
    size = [0]

    def follow() -> None:
        while not path.exists() and not done.is_set():
            time.sleep(0.002)
        with open(path, "rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                if chunk:
                    digest.update(chunk)
                    size[0] += len(chunk)
                elif done.is_set():
                    rest = f.read()
                    if not rest:
                        return
                    digest.update(rest)
                    size[0] += len(rest)
                else:
                    time.sleep(0.002)

    thread = threading.Thread(target=follow, name="duckpond-sha256", daemon=True)
    thread.start()
    try:
        write(str(path))
    finally:
        done.set()
        thread.join()
    if size[0] != path.stat().st_size:  # pragma: no cover - a writer that seeks back
        with open(path, "rb") as f:
            sha = hashlib.file_digest(f, "sha256").hexdigest()
        return HashedFile(path, sha, path.stat().st_size)
    return HashedFile(path, digest.hexdigest(), size[0])


@runtime_checkable
class LazyHistory(Protocol):
    """A node's versions (a ``Sequence[NodeVersion]``) that builds each version only when it
    is asked for, and tells what a collapse fold needs without building any
    (:func:`duckpond.tinyfs.collapse.fold_live`). A backend's :meth:`Persistence.partition`
    may return these; plain lists work too."""

    def __len__(self) -> int: ...

    def numbers(self) -> list[int]:
        """The version numbers, in order."""
        ...

    def superseded(self) -> set[int]:
        """The version numbers these versions supersede
        (:func:`duckpond.tinyfs.collapse.superseded_numbers` of each)."""
        ...

    def attributes(self) -> Sequence[Mapping[str, Any]]:
        """The extended attributes of each version, in order."""
        ...

    def attributes_at(self, position: int) -> Mapping[str, Any]:
        """The extended attributes of the version at ``position`` (only its text parsed)."""
        ...

    def select(self, positions: Sequence[int]) -> list[NodeVersion]:
        """The versions at these positions, built in one go."""
        ...

    def fields(self, positions: Sequence[int], names: Sequence[str]) -> list[tuple[Any, ...]]:
        """Some fields (:class:`NodeVersion` attribute names) of the versions at these
        positions, without building the versions."""
        ...


class Persistence(Protocol):
    """Storage of node versions: ``root_id``, ``txn_seq`` and the methods below."""

    root_id: str
    #: The transaction sequence number that staged versions belong to.
    txn_seq: int

    def begin(self, txn_seq: int) -> None:
        """Start a transaction: versions staged from now on belong to ``txn_seq``.

        Raises:
            ReadOnly: the backend is read-only.
        """
        ...

    def commit(self, metadata: Mapping[str, str]) -> int | None:
        """Make every staged version durable at once; returns a backend version, or ``None``
        when nothing was staged (nothing is written).

        Raises:
            ConflictError: someone else committed since the transaction began.
        """
        ...

    def rollback(self) -> None:
        """Drop the staged versions and the large files the transaction wrote."""
        ...

    def partition(self, part_id: str) -> Mapping[str, Sequence[NodeVersion]]:
        """All versions (ascending) of every node in partition ``part_id``, staged included.

        A backend opened as of a transaction gives only the versions of that transaction and
        earlier.
        """
        ...

    def history(self, part_id: str) -> Mapping[str, Sequence[NodeVersion]]:
        """Like :meth:`partition`, but every committed version, even of later transactions (a
        pond opened as of a transaction reads superseded versions from later collapses)."""
        ...

    def stage(self, version: NodeVersion) -> None:
        """Add a new node version (visible to reads at once, durable when the owner commits).

        Raises:
            ReadOnly: the backend is read-only (e.g. a pond opened as of an older transaction).
        """
        ...

    def put_blob(
        self, source: bytes | BinaryIO | Path | HashedFile, *, large: bool = False
    ) -> Blob:
        """Store bytes for a file version: inline under :data:`INLINE_LIMIT` (unless ``large``),
        else as a large file.

        A file-like ``source`` is streamed in chunks (never read whole into memory); a
        :class:`~pathlib.Path` (or a :class:`HashedFile`, already hashed) is a host file the
        backend takes over (moved, not copied, when it can be; the caller must not use it after).
        """
        ...

    def open_blob(self, version: NodeVersion) -> BinaryIO:
        """A seekable binary stream of a file version's bytes.

        Raises:
            IntegrityError: a large file is missing or its size/sha256 differ from the record.
        """
        ...

    def blob_path(self, version: NodeVersion) -> str | None:
        """A host path of the version's bytes, verified, if the backend keeps them in a file."""
        ...

    def has_blob(self, version: NodeVersion) -> bool:
        """Whether the version's bytes are stored (a superseded series chunk may be gone)."""
        ...


def make_temp(directory: str | os.PathLike[str] | None, suffix: str = "") -> tuple[int, str]:
    """Create a new empty temporary file; return (open fd, path).

    Unlike :func:`tempfile.mkstemp` (mode 0600) the file is created with mode 0666 less the
    process umask, like every other file of the pond, so a pond shared with a group stays
    readable by it when the file is renamed into place.
    """
    import uuid

    folder = directory if directory is not None else tempfile.gettempdir()
    while True:
        path = os.path.join(folder, f"{TMP_PREFIX}{uuid.uuid4().hex}{suffix}")  # noqa: PTH118
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:  # pragma: no cover - a uuid4 collision
            continue


def copy_hashing(source: bytes | BinaryIO, sink: BinaryIO | None) -> tuple[str, int, bytes | None]:
    """Copy ``source`` into ``sink`` in 1 MiB chunks, hashing as it goes.

    Returns:
        (sha256 hex, size in bytes, the bytes if they fit under :data:`INLINE_LIMIT` else None).
    """
    digest = hashlib.sha256()
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        digest.update(data)
        if sink is not None:
            sink.write(data)
        return digest.hexdigest(), len(data), data if len(data) < INLINE_LIMIT else None
    size = 0
    head = bytearray()
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
        if len(head) < INLINE_LIMIT:
            head += chunk[: INLINE_LIMIT - len(head) + 1]
        if sink is not None:
            sink.write(chunk)
    small = bytes(head) if size < INLINE_LIMIT else None
    return digest.hexdigest(), size, small


class MemoryPersistence:
    """A backend that keeps everything in process memory (tests, scratch filesystems).

    It has real transactions: staged versions are visible to reads at once, kept apart until
    :meth:`commit`, and dropped by :meth:`rollback`. A :meth:`stage` outside a transaction
    begins the next one (convenient for scratch filesystems).
    """

    def __init__(self) -> None:
        self.root_id = ROOT_ID
        self.txn_seq = 0
        self.committed_seq = 0
        self._parts: dict[str, dict[str, list[NodeVersion]]] = {}
        self._staged: list[NodeVersion] = []
        self._blobs: dict[str, bytes] = {}
        self._new_blobs: set[str] = set()
        self._in_txn = False

    def begin(self, txn_seq: int) -> None:
        self.rollback()
        self.txn_seq = txn_seq
        self._in_txn = True

    def partition(self, part_id: str) -> dict[str, list[NodeVersion]]:
        committed = self._parts.get(part_id, {})
        staged = [v for v in self._staged if v.part_id == part_id]
        if not staged:
            return committed
        merged = {k: list(v) for k, v in committed.items()}
        for v in staged:
            merged.setdefault(v.node_id, []).append(v)
        return merged

    def history(self, part_id: str) -> dict[str, list[NodeVersion]]:
        return self.partition(part_id)

    def _auto_begin(self) -> None:
        if not self._in_txn:  # a scratch filesystem writing without begin(): the next txn
            self.txn_seq = self.committed_seq + 1
            self._in_txn = True

    def stage(self, version: NodeVersion) -> None:
        self._auto_begin()
        self._staged.append(version)

    def commit(self, metadata: Mapping[str, str] | None = None) -> int | None:
        staged, self._staged = self._staged, []
        self._in_txn = False
        self._new_blobs.clear()
        if not staged:
            return None
        for v in staged:
            self._parts.setdefault(v.part_id, {}).setdefault(v.node_id, []).append(v)
        self.committed_seq = self.txn_seq
        return self.committed_seq

    def rollback(self) -> None:
        for sha in self._new_blobs:
            self._blobs.pop(sha, None)
        self._new_blobs.clear()
        self._staged.clear()
        self._in_txn = False

    @property
    def staged(self) -> list[NodeVersion]:
        return list(self._staged)

    def put_blob(
        self, source: bytes | BinaryIO | Path | HashedFile, *, large: bool = False
    ) -> Blob:
        self._auto_begin()
        if isinstance(source, HashedFile):
            source = source.path
        if isinstance(source, Path):
            source = source.read_bytes()
        sink = io.BytesIO()
        sha, size, small = copy_hashing(source, sink)
        if small is not None and not large:
            return Blob(small, sha, size)
        if sha not in self._blobs:
            self._new_blobs.add(sha)
        self._blobs[sha] = sink.getvalue()
        return Blob(None, sha, size)

    def open_blob(self, version: NodeVersion) -> BinaryIO:
        if version.content is not None:
            return io.BytesIO(version.content)
        if version.sha256 is None:
            raise NotFound("no content", version.node_id)
        try:
            data = self._blobs[version.sha256]
        except KeyError:
            raise IntegrityError(f"large file sha256={version.sha256} is missing") from None
        if hashlib.sha256(data).hexdigest() != version.sha256:
            raise IntegrityError(f"large file sha256={version.sha256} does not match its content")
        return io.BytesIO(data)

    def blob_path(self, version: NodeVersion) -> str | None:
        return None

    def has_blob(self, version: NodeVersion) -> bool:
        return version.content is not None or (
            version.sha256 is not None and version.sha256 in self._blobs
        )

    def drop_blob_for_test(self, sha256: str) -> None:
        """Forget a stored large file (as a sweep of superseded chunks does)."""
        self._blobs.pop(sha256, None)

    def corrupt_blob_for_test(self, sha256: str) -> None:
        """Flip a byte of a stored large file (used by tests of integrity checking)."""
        data = bytearray(self._blobs[sha256])
        data[0] ^= 0xFF
        self._blobs[sha256] = bytes(data)


def copy_stream(src: BinaryIO, dst: BinaryIO) -> None:
    """Copy one binary stream into another in 1 MiB chunks."""
    shutil.copyfileobj(src, dst, _CHUNK)
