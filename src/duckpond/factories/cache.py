"""The derived-data cache: results worth keeping between processes, in ``$POND/cache/``.

Every ``pond`` command is a new process; without a cache each one would recompute derived data
(the partial aggregates of ``temporal-reduce``) from the whole raw history. The cache keeps
them on the host, beside the pond's Delta tables and outside them (``PondLayout.cache``):

    $POND/cache/<factory>/<node id>/<name>.dpc     one entry: a header and an Arrow table
    $POND/cache/<factory>/<node id>/config.dpc     the node's validated config, remembered
                                                   (its header; :meth:`Factory.load
                                                   <duckpond.factories.registry.Factory.load>`)

It is derived data: deleting any part of it (or all of it) costs only time. It is not backed up,
restored or mirrored, and no transaction writes it.

Entry format (``.dpc``, integers little-endian)::

    b"DUCKPOND-CACHE\x02\n"       magic and format version (16 bytes)
    header length                  4 bytes
    sha1 of the header             20 bytes
    header                         UTF-8 JSON object: what the entry holds (its keys), and
                                   "body_sha1", "body_bytes" of the body
    body                           an Arrow IPC stream (uncompressed: read in place)

The header is verified (its sha1) before it is used, and the body (against the sha1 the
verified header records) before any of it is used; the header alone can be read without the
body (:meth:`Cache.header`), so a reader decides what to load from it. sha1 serves as a
checksum against torn or corrupted files, not as a security measure: whoever can write
``$POND/cache`` can write the pond. A corrupt or truncated entry is deleted and reported as
missing, so the caller recomputes it; whether a valid entry is *current* is the caller's
business (it compares the keys in the header with the lineage it is computing).

Writers need no lock: an entry is written to a unique temporary sibling (``.tmp-...``) and
renamed over the old one, so a reader sees the old entry or the new one, never a torn one, and
two processes filling the same entry both succeed (the last rename wins; both are valid).
Readers of a pond opened as of an older transaction never write.

Size: after each write (or batch of writes: ``put(..., trim=False)`` then :meth:`Cache.trim`),
when the cache holds more than :func:`max_bytes` (``DUCKPOND_CACHE_MAX_BYTES``, default
2 GiB), the least recently used entries are deleted until it holds less than 90% of that. What
the cache holds is listed (every file) at most once an hour (:data:`RESCAN_S`) while it holds
less than 90% of the bound: in between, ``$POND/cache/.size`` (text: bytes, then the time of
the last listing in seconds since the epoch) keeps the total, to which each batch adds what it
wrote. It is an estimate (two processes adding at once may lose one's bytes; ``pond maintain``
deletes it), corrected by the next listing: a lost or missing ``.size`` only means a listing.
``pond maintain`` removes the entries no current node uses (:func:`prune`).
``DUCKPOND_CACHE=off`` turns the cache off (every process computes from the raw data).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from duckpond import diagnostics
from duckpond.errors import PondError
from duckpond.layout import TMP_PREFIX, PondLayout

if TYPE_CHECKING:
    import pyarrow as pa

    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.fs import FS

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUFFIX",
    "Cache",
    "CacheUser",
    "Entry",
    "PruneReport",
    "cache_of",
    "max_bytes",
    "prune",
]

MAGIC: Final = b"DUCKPOND-CACHE\x02\n"
#: Entry files end with this suffix.
SUFFIX: Final = ".dpc"
#: The cache's default size bound (bytes).
DEFAULT_MAX_BYTES: Final = 2 << 30
#: A temporary file older than this (s) is a leftover of a writer that died: prune removes it.
STALE_TMP_S: Final = 3600
_DIGEST = 20  # bytes of sha1
_PREFIX = len(MAGIC) + 4 + _DIGEST  # magic, header length, header sha1
_TOUCH_S = 600  # an entry read is marked as used (mtime) at most this often
#: The cache is listed to learn its size at least this often (s); in between, ``.size`` tells.
RESCAN_S: Final = 3600
_LEDGER: Final = ".size"

_log = diagnostics.get_logger("cache")


def max_bytes() -> int:
    """The size bound: ``DUCKPOND_CACHE_MAX_BYTES`` (bytes) if set and valid, else 2 GiB."""
    raw = os.environ.get("DUCKPOND_CACHE_MAX_BYTES", "").strip()
    if raw.isdigit():
        return int(raw)
    return DEFAULT_MAX_BYTES


def _enabled() -> bool:
    return os.environ.get("DUCKPOND_CACHE", "on").strip().lower() not in {"off", "0", "no"}


@dataclass(frozen=True)
class Entry:
    """A verified cache entry: its header (JSON object) and its table."""

    header: dict[str, Any]
    table: pa.Table


class Cache:
    """The cache folder of one pond.

    Args:
        root: the cache folder (``PondLayout.cache``).
        writable: False for a pond opened as of an older transaction (it reads, never writes).
        limit: size bound in bytes (default :func:`max_bytes`).
    """

    def __init__(self, root: Path, *, writable: bool = True, limit: int | None = None) -> None:
        self.root = root
        self.writable = writable
        self.limit = max_bytes() if limit is None else limit
        self._added = 0  # bytes written since the last trim (new entries less replaced ones)

    def path(self, key: str) -> Path:
        """The host file of entry ``key`` (``<factory>/<node id>/<name>``)."""
        return self.root / f"{key}{SUFFIX}"

    def get(self, key: str) -> Entry | None:
        """The entry ``key`` if it exists and its checksums hold; a corrupt one is deleted.

        Never raises for a missing, unreadable or corrupt entry: it is ``None`` (recompute).
        """
        path = self.path(key)
        data = _read(path)
        if data is None:
            return None
        magic = bytes(data[: len(MAGIC)])
        if magic[: len(MAGIC) - 2] == MAGIC[:-2] and magic != MAGIC:
            return None  # another format version: a miss, overwritten when written
        entry = _decode(data)
        if entry is None:
            self._corrupt(path)
            return None
        if self.writable:
            self._touch(path)
        return entry

    def header(self, key: str) -> dict[str, Any] | None:
        """The verified header of entry ``key`` (its body is not read), or ``None`` (missing or
        corrupt: a corrupt one is deleted)."""
        path = self.path(key)
        try:
            with path.open("rb") as f:
                head = f.read(_PREFIX)
                if head[: len(MAGIC) - 2] == MAGIC[:-2] and head[: len(MAGIC)] != MAGIC:
                    return None  # another format version: a miss, overwritten when written
                if len(head) < _PREFIX or head[: len(MAGIC)] != MAGIC:
                    self._corrupt(path)
                    return None
                (size,) = struct.unpack_from("<I", head, len(MAGIC))
                text = f.read(size)
        except OSError:
            return None
        header = _header(head, text)
        if header is None:
            self._corrupt(path)
        return header

    def _corrupt(self, path: Path) -> None:
        _log.warning("cache entry %s is corrupt: removed", path)
        with contextlib.suppress(OSError):
            path.unlink()

    def put(self, key: str, header: dict[str, Any], table: pa.Table, *, trim: bool = True) -> bool:
        """Write entry ``key`` atomically (temporary sibling, then rename); returns whether it
        was written. A failure to write (read-only host, disk full) is logged, never raised:
        the cache is an optimisation. ``trim=False``: the caller calls :meth:`trim` after a
        batch of writes (each trim lists the whole cache)."""
        if not self.writable:
            return False
        path = self.path(key)
        data = _encode(header, table)
        tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as f:
                f.write(data)
            try:
                replaced = os.stat(path).st_size  # noqa: PTH116 - the entry this one replaces
            except OSError:
                replaced = 0
            tmp.replace(path)
            self._added += len(data) - replaced
        except OSError as exc:
            _log.warning("cache entry %s not written: %s", path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
            return False
        if trim:
            self.trim()
        return True

    def remove(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self.path(key).unlink()

    def files(self) -> Iterator[Path]:
        """Every file under the cache folder (entries and temporaries)."""
        if not self.root.is_dir():
            return
        for dirpath, _, names in os.walk(self.root):
            for name in names:
                yield Path(dirpath) / name

    def _scan(self) -> list[tuple[float, int, str]]:
        """``(mtime, size, path)`` of every file under the cache folder (``os.scandir``: no
        ``Path`` per file, since a trim lists the whole cache after every batch of writes)."""
        out: list[tuple[float, int, str]] = []
        stack = [str(self.root)]
        while stack:
            try:
                listing = os.scandir(stack.pop())
            except OSError:
                continue
            with listing:
                for e in listing:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                            continue
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    out.append((st.st_mtime, st.st_size, e.path))
        return out

    def size(self) -> int:
        """Bytes the cache occupies."""
        return sum(size for _, size, _ in self._scan())

    def trim(self) -> int:
        """Delete the least recently used entries while the cache exceeds its bound (down to 90%
        of it); returns how many were deleted. The cache is listed only when ``.size`` says it
        may hold 90% of the bound, or was listed more than :data:`RESCAN_S` ago."""
        added, self._added = self._added, 0
        known = self._ledger()
        if known is not None:
            total, listed = known
            total += added
            if total < self.limit * 0.9 and 0 <= time.time() - listed < RESCAN_S:
                self._record(total, listed)
                return 0
        found = self._scan()
        total = sum(size for _, size, _ in found)
        removed = 0
        if total > self.limit:
            for _, size, path in sorted(found):
                if total < self.limit * 0.9:
                    break
                with contextlib.suppress(OSError):
                    os.unlink(path)  # noqa: PTH108 - a plain host path from os.scandir
                    total -= size
                    removed += 1
            _log.info("cache over %d bytes: %d entries removed", self.limit, removed)
        self._record(total, time.time())
        return removed

    def _ledger(self) -> tuple[int, float] | None:
        """``.size``: the bytes the cache holds and when it was last listed, or ``None``."""
        try:
            text = (self.root / _LEDGER).read_bytes().decode("ascii")
            size, listed = text.split()
            if not text.endswith("\n"):
                return None
            return int(size), float(listed)
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def _record(self, total: int, listed: float) -> None:
        """Write ``.size`` in place (creating a file costs ~1 ms here, rewriting one ~10 µs). Two
        processes writing at once can leave a mix of both texts, which does not read as two
        numbers (or is one process's total): the next trim then lists the cache. A failure to
        write only means the same."""
        data = f"{max(total, 0)} {listed:.3f}\n".encode("ascii")
        try:
            fd = os.open(self.root / _LEDGER, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError:
            return
        try:
            os.write(fd, data)
            os.ftruncate(fd, len(data))
        except OSError:
            pass
        finally:
            os.close(fd)

    def _touch(self, path: Path) -> None:
        """Mark an entry as used (its mtime), for the least-recently-used bound."""
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > _TOUCH_S:
                os.utime(path)


def _encode(header: dict[str, Any], table: pa.Table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    # uncompressed: read back in place (zero copy); zstd would make reads ~50x slower for a
    # gain of about 2.4x in size (the partials are mostly float64 noise)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    body: bytes = sink.getvalue().to_pybytes()
    full = {**header, "body_sha1": _checksum(body).hex(), "body_bytes": len(body)}
    head = json.dumps(full, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return MAGIC + struct.pack("<I", len(head)) + _checksum(head) + head + body


def _header(prefix: bytes | memoryview, text: bytes | memoryview) -> dict[str, Any] | None:
    """The header from the file's first :data:`_PREFIX` bytes and its text, if its sha1 holds."""
    if _checksum(text) != bytes(prefix[len(MAGIC) + 4 : _PREFIX]):
        return None
    try:
        header = json.loads(bytes(text).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return header if isinstance(header, dict) else None


def _read(path: Path) -> memoryview | None:
    """The bytes of an entry file, memory-mapped read-only where the host allows (``None`` if it
    cannot be read). Mapped, an entry's table is read in place: no copy of the file into new
    memory (5 MB for five years of 1h rows: ~4 ms of page faults in a new process). The file is
    closed at once; the mapping stays while the entry's buffers use it (Arrow unmaps it when
    the last is released), and a writer replaces an entry by renaming a new file over it, so a
    mapped file never changes under a reader."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(path), "r") as f:
            if f.size():
                return memoryview(f.read_buffer())
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowException):
        pass  # an empty file (no mapping of 0 bytes), a host without mmap: read it
    try:
        return memoryview(path.read_bytes())
    except OSError:
        return None


def _decode(data: bytes | memoryview) -> Entry | None:
    import pyarrow as pa

    if len(data) < _PREFIX or data[: len(MAGIC)] != MAGIC:
        return None
    view = memoryview(data)
    (size,) = struct.unpack_from("<I", data, len(MAGIC))
    header = _header(view[:_PREFIX], view[_PREFIX : _PREFIX + size])
    if header is None:
        return None
    body = view[_PREFIX + size :]
    if len(body) != header.get("body_bytes") or _checksum(body).hex() != header.get("body_sha1"):
        return None
    try:
        table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    except (ValueError, pa.ArrowException):
        return None
    return Entry(header, table)


def _checksum(data: bytes | memoryview) -> bytes:
    return hashlib.sha1(data, usedforsecurity=False).digest()


def cache_of(fs: FS) -> Cache | None:
    """The cache of the pond ``fs`` reads, or ``None`` (a pond without a host folder, such as
    the memory backend, or ``DUCKPOND_CACHE=off``)."""
    if not _enabled():
        return None
    persistence = fs.persistence
    layout = getattr(persistence, "layout", None)
    if not isinstance(layout, PondLayout):
        return None
    writable = getattr(persistence, "as_of", None) is None
    return Cache(layout.cache, writable=writable)


# --------------------------------------------------------------------------------------------
# Pruning (pond maintain)
# --------------------------------------------------------------------------------------------


@runtime_checkable
class CacheUser(Protocol):
    """A dynamic node that keeps cache entries: it names those its current lineage uses."""

    def cache_entries(self) -> dict[str, frozenset[str]]:
        """Entry key -> the keys (``header["keys"]``) in it that are current."""
        ...


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune` removed: entry files and their bytes; the bytes left."""

    removed: int
    bytes_removed: int
    bytes_left: int


def prune(pond: Pond) -> PruneReport:
    """Delete the cache entries no current node uses (``pond maintain``).

    Every stored dynamic node of the pond is asked (if its object is a :class:`CacheUser`)
    which entries and keys its current lineage uses; an entry file not named, or holding none of
    the current keys, is deleted, and so are temporary files older than an hour (a writer that
    died). Dynamic directories are not walked into. The entries of a node that cannot compute
    its lineage (a broken config: a :class:`~duckpond.errors.PondError`) are kept.
    """
    cache = Cache(pond.layout.cache)
    if not cache.root.is_dir():
        return PruneReport(0, 0, 0)
    used, unknown = _used_entries(pond)
    removed = 0
    freed = 0
    now = time.time()
    for p in list(cache.files()):
        rel = p.relative_to(cache.root).as_posix()
        try:
            st = p.stat()
        except OSError:
            continue
        if p.name.startswith(TMP_PREFIX):
            drop = now - st.st_mtime > STALE_TMP_S
        elif not rel.endswith(SUFFIX):
            drop = True
        elif any(node in f"/{rel}" for node in unknown):
            drop = False
        else:
            keys = used.get(rel[: -len(SUFFIX)])
            drop = keys is None or not _holds_any(cache, rel[: -len(SUFFIX)], keys)
        if drop:
            with contextlib.suppress(OSError):
                p.unlink()
                removed += 1
                freed += st.st_size
    _remove_empty_dirs(cache.root)
    return PruneReport(removed, freed, cache.size())


def _used_entries(pond: Pond) -> tuple[dict[str, frozenset[str]], set[str]]:
    """Entry key -> current keys, over every stored dynamic node; and ``/<node id>/`` of the
    nodes that could not say (their entries are kept)."""
    from duckpond.tinyfs.fs import WD

    used: dict[str, frozenset[str]] = {}
    unknown: set[str] = set()

    def visit(wd: WD) -> None:
        for np in wd.list("."):
            if np.is_symlink:
                continue
            if np.is_dynamic:
                try:
                    obj = pond.fs.dynamic_object(np)
                    if isinstance(obj, CacheUser):
                        used.update(obj.cache_entries())
                except PondError as exc:
                    _log.warning("cache of %s kept: %s", np.path, exc)
                    unknown.add(f"/{np.node.node_id}/")
                continue
            if np.is_dir:
                visit(WD(pond.fs, np))

    visit(pond.root())
    return used, unknown


def _holds_any(cache: Cache, key: str, keys: frozenset[str]) -> bool:
    header = cache.header(key)
    return header is not None and any(k in keys for k in header.get("keys", ()))


def _remove_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for dirpath, _, _ in sorted(os.walk(root), key=lambda t: -len(t[0])):
        if Path(dirpath) != root:
            with contextlib.suppress(OSError):
                Path(dirpath).rmdir()
