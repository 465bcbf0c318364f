"""tinyfs: the filesystem over a :class:`~duckpond.tinyfs.persistence.Persistence`.

``FS`` holds the persistence and the working copies of directories changed in the current
transaction; ``WD`` is a working directory (resolve, open, create, mkdir, glob, walk, ...);
``NodePath`` is a node with the path it was reached by. Paths are POSIX, absolute from the pond
root (``/``) or relative to a WD; ``..`` never leaves the root; symlinks are followed up to
:data:`SYMLINK_DEPTH` times (then :class:`~duckpond.errors.SymlinkLoop`, like ELOOP).

Changes are staged in the persistence as they happen (file versions) or at :meth:`FS.flush`
(one full snapshot per changed directory); the steward calls ``flush`` before it commits.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

import pyarrow as pa

from duckpond.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    InvalidData,
    InvalidPath,
    IsADirectory,
    NotADirectory,
    NotFound,
    ReadOnly,
    SymlinkLoop,
    UsageError,
    translate_errors,
)
from duckpond.times import Window
from duckpond.tinyfs import paths, tables
from duckpond.tinyfs.dynamic import DynamicDirectory, DynamicFile, DynamicTable, FactoryResolver
from duckpond.tinyfs.lineage import LEAF_FIELDS, Leaf, Lineage
from duckpond.tinyfs.model import (
    DIR_DYNAMIC,
    DIR_PHYSICAL,
    FILE_DATA,
    FILE_DYNAMIC,
    FILE_SERIES,
    FILE_TABLE,
    SYMLINK,
    DirEntry,
    NodeVersion,
    child_id,
    decode_directory,
    encode_directory,
    new_node_id,
    now_us,
)
from duckpond.tinyfs.persistence import Blob, HashedFile, Persistence, make_temp, write_hashed

__all__ = [
    "FS",
    "SYMLINK_DEPTH",
    "WD",
    "DynamicDirectory",
    "DynamicFile",
    "FactoryResolver",
    "Node",
    "NodePath",
    "Stat",
]

#: Maximum number of symlinks followed while resolving one path (Linux's ELOOP limit is 40).
SYMLINK_DEPTH = 40

Data: TypeAlias = "bytes | BinaryIO | pa.Table"


@dataclass(frozen=True, slots=True)
class Node:
    """A handle on a node: its identity and type, plus the computed object if dynamic."""

    node_id: str
    part_id: str
    file_type: str
    dynamic: Any = field(default=None, compare=False)

    @property
    def is_dir(self) -> bool:
        return self.file_type.startswith("dir:") or isinstance(self.dynamic, DynamicDirectory)

    @property
    def is_symlink(self) -> bool:
        return self.file_type == SYMLINK


@dataclass(frozen=True, slots=True)
class Stat:
    """What ``stat`` reports of a node. Times are µs since the epoch, UTC; sizes in bytes."""

    path: str
    node_id: str
    file_type: str
    version: int
    size: int
    created: int | None
    modified: int | None
    txn_seq: int | None
    min_event_time: int | None = None
    max_event_time: int | None = None
    time_column: str | None = None
    factory: str | None = None
    dynamic: bool = False


# --------------------------------------------------------------------------------------------
# FS
# --------------------------------------------------------------------------------------------


class FS:
    """A filesystem over one persistence backend.

    Args:
        persistence: where node versions live.
        factories: builds dynamic nodes; ``None`` means dynamic nodes cannot be read.
        read_only: refuse every change (a pond opened as of an older transaction).
        tmp_dir: host folder for temporary files (large Parquet writes); defaults to the system's.
    """

    def __init__(
        self,
        persistence: Persistence,
        *,
        factories: FactoryResolver | None = None,
        read_only: bool = False,
        tmp_dir: str | None = None,
    ) -> None:
        self.persistence = persistence
        self.factories = factories
        self.read_only = read_only
        self.tmp_dir = tmp_dir
        self._work: dict[str, dict[str, DirEntry]] = {}  # changed directories, by node id
        self._decoded: dict[tuple[str, int], dict[str, DirEntry]] = {}
        self._dynamic: dict[str, Any] = {}  # node id -> computed object, cached in-process
        self._schemas: dict[tuple[str, int], pa.Schema] = {}  # (node id, version) -> schema
        self._schema_ids: dict[str, pa.Schema] = {}  # tables.SCHEMA_ID -> schema
        #: a series' merged schema, by node id, as of its latest version number then
        self.merged: dict[str, tuple[int, pa.Schema]] = {}
        #: series appended to in this transaction (node id -> path), for the auto-collapse
        self.appended: dict[str, NodePath] = {}
        #: a series' live versions, by node id: (N, the Nth version's number, the live versions
        #: of the first N versions)
        self._live: dict[str, tuple[int, int, list[NodeVersion]]] = {}
        #: large files of series chunks superseded by collapses staged in this transaction
        self._superseded: list[str] = []
        self.root_node = Node(persistence.root_id, persistence.root_id, DIR_PHYSICAL)

    # -- node versions --------------------------------------------------------------------

    def history(self, node: Node) -> list[NodeVersion]:
        """All stored versions of a node, oldest first (empty for dynamic children)."""
        return list(self.persistence.partition(node.part_id).get(node.node_id, ()))

    def live(self, node: Node) -> list[NodeVersion]:
        """A series' live versions (:func:`duckpond.tinyfs.collapse.live`), kept up to date
        incrementally: the oplog only grows, and a new version can only supersede older ones,
        so the versions added since the last call are folded into the last answer. Each append
        then costs what its live versions cost, not the series' history."""
        from duckpond.tinyfs import collapse

        history = self.persistence.partition(node.part_id).get(node.node_id, [])
        seen, last, live = self._live.get(node.node_id, (0, 0, []))
        if seen > len(history) or (seen and history[seen - 1].version != last):
            seen, live = 0, []  # not a prefix of what is stored now: start again
        if seen < len(history):
            live = collapse.fold_live(live, history[seen:]) if seen else collapse.live(history)
            self._live[node.node_id] = (len(history), history[-1].version, live)
        return list(live)

    def latest(self, node: Node) -> NodeVersion | None:
        versions = self.persistence.partition(node.part_id).get(node.node_id)
        return versions[-1] if versions else None

    def entries(self, node: Node) -> dict[str, DirEntry]:
        """The entries of a physical directory (its working copy if changed in this transaction)."""
        if node.node_id in self._work:
            return self._work[node.node_id]
        latest = self.latest(node)
        if latest is None:
            if node.node_id == self.root_node.node_id:
                return {}
            raise NotFound(f"directory node {node.node_id} has no stored version")
        key = (node.node_id, latest.version)
        cached = self._decoded.get(key)
        if cached is None:
            cached = decode_directory(latest.content)
            self._decoded[key] = cached
        return cached

    def _entries_for_change(self, node: Node, path: str) -> dict[str, DirEntry]:
        self.check_writable(path)
        if node.dynamic is not None or node.file_type == DIR_DYNAMIC:
            raise ReadOnly("a dynamic directory cannot be changed", path)
        work = self._work.get(node.node_id)
        if work is None:
            work = dict(self.entries(node))
            self._work[node.node_id] = work
        return work

    def check_writable(self, path: str) -> None:
        if self.read_only:
            raise ReadOnly("the pond is open read-only", path)

    @property
    def dirty(self) -> bool:
        return bool(self._work)

    def flush(self) -> int:
        """Stage one full snapshot version of every directory changed since the last flush.

        Returns:
            The number of directory versions staged.
        """
        count = 0
        for node_id, entries in sorted(self._work.items()):
            latest = self.persistence.partition(node_id).get(node_id)
            version = latest[-1].version + 1 if latest else 1
            self.persistence.stage(
                NodeVersion(
                    part_id=node_id,
                    node_id=node_id,
                    file_type=DIR_PHYSICAL,
                    version=version,
                    txn_seq=self.persistence.txn_seq,
                    timestamp=now_us(),
                    content=encode_directory(entries),
                )
            )
            count += 1
        self._work.clear()
        return count

    def discard(self) -> None:
        """Forget unflushed directory changes (the transaction was abandoned)."""
        self._work.clear()
        self._dynamic.clear()
        self.appended.clear()
        self._superseded.clear()
        self.merged.clear()  # version numbers of the abandoned versions will be used again
        self._live.clear()
        self._schemas.clear()

    def take_superseded(self) -> list[str]:
        """The sha256s of large files superseded by this transaction's collapses (and forget
        them): the steward records them once the commit succeeded."""
        out, self._superseded = self._superseded, []
        return out

    # -- dynamic nodes --------------------------------------------------------------------

    def dynamic_object(self, nodepath: NodePath) -> Any:
        node = nodepath.node
        if node.dynamic is not None:
            return node.dynamic
        cached = self._dynamic.get(node.node_id)
        if cached is not None:
            return cached
        latest = self.latest(node)
        if latest is None or latest.factory is None:
            raise NotFound("dynamic node has no factory", nodepath.path)
        if self.factories is None:
            raise UsageError(f"no factory registry to compute {latest.factory!r}", nodepath.path)
        obj = self.factories(nodepath, latest.factory, latest.content or b"")
        self._dynamic[node.node_id] = obj
        return obj

    def version_schema(self, v: NodeVersion) -> pa.Schema:
        """The Parquet schema of a table/series version, read from its footer once per FS. A
        version that records its schema's id (:data:`~duckpond.tinyfs.tables.SCHEMA_ID`) reads
        nothing when a version with that id was read: the ~25 live chunks of a long series share
        one schema."""
        sid = v.extended_attributes.get(tables.SCHEMA_ID)
        if sid is not None:
            known = self._schema_ids.get(sid)
            if known is not None:
                return known
        key = (v.node_id, v.version)
        schema = self._schemas.get(key)
        if schema is None and v.content is None and not self.persistence.has_blob(v):
            schema = self._schemas[key] = self.version_chunk(v).schema  # from its collapse
        if schema is None:
            from duckpond.parquet import read_schema

            host = self.persistence.blob_path(v)
            source: Any = host
            if host is None:
                with self.persistence.open_blob(v) as f:
                    source = pa.BufferReader(f.read())
            schema = read_schema(source).remove_metadata()
            self._schemas[key] = schema
        if sid is not None:
            self._schema_ids[sid] = schema
        return schema

    def recording_schema(self, nv: NodeVersion) -> NodeVersion:
        """``nv`` (a table/series version whose bytes are stored) with the id of its schema, as
        read back from what was stored, in its attributes
        (:data:`~duckpond.tinyfs.tables.SCHEMA_ID`)."""
        schema = self.version_schema(nv)
        attrs = {**nv.extended_attributes, tables.SCHEMA_ID: tables.schema_id(schema)}
        return nv.with_(extended_attributes=attrs)

    def version_chunk(self, v: NodeVersion) -> tables.Chunk:
        """A table/series version as a :class:`~duckpond.tinyfs.tables.Chunk`: its host Parquet
        file when it is a large file, else its rows read into memory. A series version whose
        own bytes are gone (a collapse holds its rows) is read back from that collapse.

        Raises:
            IntegrityError: the bytes are missing or corrupt and no collapse holds the rows.
        """
        lo, hi = v.min_event_time, v.max_event_time
        if v.content is None and not self.persistence.has_blob(v):
            table = self._from_collapse(v)
            return tables.Chunk(table.schema, table=table, min_us=lo, max_us=hi)
        host = self.persistence.blob_path(v)
        if host is not None:
            return tables.Chunk(self.version_schema(v), path=host, min_us=lo, max_us=hi)
        from duckpond.parquet import read_table

        with self.persistence.open_blob(v) as f:
            table = read_table(pa.BufferReader(f.read())).replace_schema_metadata(None)
        return tables.Chunk(table.schema, table=table, min_us=lo, max_us=hi)

    def _from_collapse(self, v: NodeVersion) -> pa.Table:
        """The rows of a superseded version, read from the collapse that holds them."""
        from duckpond.tinyfs import collapse

        everything = self.persistence.history(v.part_id).get(v.node_id, [])
        holder = collapse.superseded_by(everything).get(v.version)
        if holder is None:
            raise NotFound(
                f"version {v.version} (transaction {v.txn_seq}) is no longer stored", None
            )
        chunk = self.version_chunk(holder).read()
        return collapse.child_table(chunk, collapse.children(holder), v.version)

    def store_chunk(self, table: pa.Table, node_id: str, version: int) -> Blob:
        """Store a series chunk as its own large file (zstd Parquet).

        The Parquet metadata names the node and version, so no two versions share bytes (and a
        superseded chunk can be deleted without asking who else uses it).
        """
        import pyarrow.parquet as pq

        meta = {b"duckpond.node_id": node_id.encode(), b"duckpond.version": str(version).encode()}
        table = table.replace_schema_metadata(meta)
        fd, tmp = self.temp_file()
        try:
            os.close(fd)
            # by path (pyarrow's native writer), hashed in a thread as it is written
            with translate_errors(str(tmp), what="writing a series chunk"):
                hashed = write_hashed(
                    Path(tmp), lambda p: pq.write_table(table, p, compression="zstd")
                )
            return self.persistence.put_blob(hashed, large=True)  # moved in, not copied
        finally:
            _unlink(tmp)

    def store_chunk_file(
        self, source: Path, node_id: str, version: int, seen: tuple[int, int] | None = None
    ) -> Blob:
        """Store a Parquet file as a series chunk without rewriting it: its bytes as they are,
        with a marker naming the node and version between the last column chunk and the footer
        (so, as with :meth:`store_chunk`, no two versions share bytes). The footer is found from
        the file's end and the column chunks by their absolute offsets (Apache Parquet file
        format), so every reader reads the file as it was. Copied and hashed in one pass.

        ``seen`` is the file's ``(st_size, st_mtime_ns)`` when the caller checked its content;
        the copy is refused if the file is not that file any more when the copy ends.

        Raises:
            InvalidData: ``source`` is not a Parquet file (no PAR1 magic, impossible footer), or
            it changed since ``seen`` (while it was being checked or copied).
        """
        import hashlib

        marker = f"\0duckpond.node_id={node_id};duckpond.version={version}\0".encode()
        with open(source, "rb") as f:
            st = os.fstat(f.fileno())
            size = st.st_size
            head = f.read(4)
            f.seek(max(0, size - 8))
            tail = f.read(8)
            if size < 12 or head != b"PAR1" or tail[4:] != b"PAR1":
                raise InvalidData("not a Parquet file (no PAR1 magic)", str(source))
            footer_start = size - 8 - int.from_bytes(tail[:4], "little")
            if footer_start < 4:
                raise InvalidData("not a valid Parquet file (footer length)", str(source))
            f.seek(0)
            fd, tmp = self.temp_file()
            try:
                digest = hashlib.sha256()
                with (
                    translate_errors(str(tmp), what="writing a series chunk"),
                    os.fdopen(fd, "wb") as out,
                ):

                    def put(data: bytes) -> None:
                        digest.update(data)
                        out.write(data)

                    left = footer_start
                    while left:
                        data = f.read(min(_COPY_CHUNK, left))
                        if not data:
                            raise InvalidData("truncated while copying", str(source))
                        put(data)
                        left -= len(data)
                    put(marker)
                    copied = footer_start
                    while data := f.read(_COPY_CHUNK):
                        put(data)
                        copied += len(data)
                now = os.fstat(f.fileno())
                if copied != size or (now.st_size, now.st_mtime_ns) != (
                    seen or (size, st.st_mtime_ns)
                ):
                    raise InvalidData(
                        "changed while it was being copied; copy it again", str(source)
                    )
                hashed = HashedFile(Path(tmp), digest.hexdigest(), size + len(marker))
                return self.persistence.put_blob(hashed, large=True)  # moved in, not copied
            finally:
                _unlink(tmp)

    # -- collapse ---------------------------------------------------------------------------

    def collapse(self, series: NodePath, run: list[NodeVersion]) -> NodeVersion:
        """Write a collapse version of ``series`` holding the rows of ``run`` (live versions, in
        order) and superseding them (see :mod:`duckpond.tinyfs.collapse`).

        Raises:
            ReadOnly: outside a transaction. InvalidData: the versions' columns cannot merge.
        """
        from duckpond.tinyfs import collapse

        self.check_writable(series.path)
        node = series.node
        history = self.history(node)
        version = history[-1].version + 1
        tables_in = [(v, self.version_chunk(v).read()) for v in run]
        chunk, entries = collapse.merge_children(tables_in)
        lows = [v.min_event_time for v in run if v.min_event_time is not None]
        highs = [v.max_event_time for v in run if v.max_event_time is not None]
        blob = self.store_chunk(chunk, node.node_id, version)
        held = {v.version for v in run}
        attrs = {
            "time_column": history[-1].time_column,
            "rows": chunk.num_rows,
            "level": max(collapse.level(v) for v in run) + 1,
            "first": min(collapse.first(v) for v in run),
            collapse.COLLAPSES: [e.to_json() for e in entries],
            collapse.LIVE: [
                *(v.version for v in self.live(node) if v.version not in held),
                version,
            ],
        }
        nv = NodeVersion(
            part_id=node.part_id,
            node_id=node.node_id,
            file_type=FILE_SERIES,
            version=version,
            txn_seq=self.persistence.txn_seq,
            timestamp=now_us(),
            content=blob.content,
            sha256=blob.sha256,
            size=blob.size,
            min_event_time=min(lows) if lows else None,
            max_event_time=max(highs) if highs else None,
            extended_attributes=attrs,
        )
        self.persistence.stage(self.recording_schema(nv))
        self._superseded.extend(v.sha256 for v in run if v.content is None and v.sha256)
        cached = self.merged.get(node.node_id)
        if cached is not None and cached[0] == version - 1:  # a collapse keeps the schema
            self.merged[node.node_id] = (version, cached[1])
        return nv

    def correct(
        self,
        series: NodePath,
        table: pa.Table,
        replaces: list[NodeVersion],
        *,
        reason: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> NodeVersion:
        """Write a correction version of ``series``: ``table`` (its rows, already normalized:
        time column ``timestamp[us, UTC]``, no nulls there) supersedes the versions
        ``replaces`` (live versions, any content; see :mod:`duckpond.tinyfs.collapse`).

        ``reason`` (``revert``, ``replace``, ``rm-rows``) and ``attributes`` are kept in the
        version's extended attributes. The superseded versions keep their bytes (time travel
        reads them). A table of no rows is stored too (a correction that removed every row).

        Raises:
            ReadOnly: outside a transaction. InvalidData: ``table`` lacks the time column.
        """
        from duckpond import timeseries
        from duckpond.tinyfs import collapse

        self.check_writable(series.path)
        node = series.node
        history = self.history(node)
        tc = history[-1].time_column
        if tc is None or tc not in table.column_names:
            raise InvalidData(f"a correction needs the time column {tc!r}", series.path)
        version = history[-1].version + 1
        lo, hi = timeseries.time_bounds(table, tc) if table.num_rows else (None, None)
        blob = self.store_chunk(table, node.node_id, version)
        attrs: dict[str, Any] = dict(attributes or {})
        attrs.update(
            {
                "time_column": tc,
                "rows": table.num_rows,
                "level": max((collapse.level(v) for v in replaces), default=0),
                "first": min((collapse.first(v) for v in replaces), default=version),
                collapse.REPLACES: sorted(v.version for v in replaces),
                collapse.CORRECTION: reason,
            }
        )
        nv = NodeVersion(
            part_id=node.part_id,
            node_id=node.node_id,
            file_type=FILE_SERIES,
            version=version,
            txn_seq=self.persistence.txn_seq,
            timestamp=now_us(),
            content=blob.content,
            sha256=blob.sha256,
            size=blob.size,
            min_event_time=lo,
            max_event_time=hi,
            extended_attributes=attrs,
        )
        self.persistence.stage(self.recording_schema(nv))
        self.merged.pop(node.node_id, None)  # the content changed: merge the schema again
        self.appended[node.node_id] = series  # the auto-collapse looks at it
        return nv

    def auto_collapse(self, fanin: int | None = None) -> int:
        """Collapse the series appended to in this transaction where the policy says so
        (:func:`duckpond.tinyfs.collapse.next_run`, cascading); returns how many collapses."""
        from duckpond.tinyfs import collapse

        done = 0
        for series in self.appended.values():
            while True:
                run = collapse.next_run(self.live(series.node), fanin or collapse.FANIN)
                if run is None:
                    break
                self.collapse(series, run)
                done += 1
        self.appended.clear()
        return done

    def root(self) -> WD:
        """The root working directory."""
        return WD(self, NodePath(self, (), self.root_node))

    # -- host temporary files -------------------------------------------------------------

    def temp_file(self) -> tuple[int, str]:
        """A new temporary host file (fd, path) in :attr:`tmp_dir`, mode 0666 less the umask."""
        return make_temp(self.tmp_dir, ".parquet")


# --------------------------------------------------------------------------------------------
# NodePath
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodePath:
    """A node with the path it was reached by (``parts`` are root-relative components)."""

    fs: FS = field(repr=False, compare=False)
    parts: tuple[str, ...]
    node: Node
    captures: tuple[str, ...] = field(default=(), compare=False)

    @property
    def path(self) -> str:
        return paths.join(self.parts)

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""

    @property
    def is_dir(self) -> bool:
        node = self.node
        if node.is_dir or node.file_type.startswith("dir:"):
            return True
        if node.file_type == FILE_DYNAMIC and node.dynamic is None:
            # stored as a file (its factory is of kind "file"): a listing need not build it
            # (importing a factory's module and validating its config: ~0.1 s)
            return False
        return self.file_type.startswith("dir:")

    @property
    def is_symlink(self) -> bool:
        return self.node.is_symlink

    @property
    def is_dynamic(self) -> bool:
        return self.node.dynamic is not None or self.node.file_type in {DIR_DYNAMIC, FILE_DYNAMIC}

    @property
    def file_type(self) -> str:
        """The type the node presents: a dynamic file reports what its factory computes."""
        node = self.node
        if node.file_type == FILE_DYNAMIC or (
            node.dynamic is not None and not node.file_type.startswith("dir:")
        ):
            obj = self.fs.dynamic_object(self)
            if isinstance(obj, DynamicDirectory):
                return DIR_DYNAMIC
            return str(obj.file_type)
        return node.file_type

    def versions(self) -> list[NodeVersion]:
        """Stored versions, oldest first (a dynamic node's children have none)."""
        return self.fs.history(self.node)

    def latest(self) -> NodeVersion:
        latest = self.fs.latest(self.node)
        if latest is None:
            raise NotFound("no stored version", self.path)
        return latest

    def _version(self, version: int | None) -> NodeVersion:
        history = self.versions()
        if not history:
            raise NotFound("no stored version", self.path)
        if version is None:
            return history[-1]
        if version < 0:
            version = len(history) + 1 + version
        for v in history:
            if v.version == version:
                return v
        raise NotFound(f"no version {version} (it has 1..{history[-1].version})", self.path)

    def _check_file(self) -> None:
        if self.is_dir:
            raise IsADirectory("is a directory", self.path)
        if self.is_symlink:
            raise UsageError("is a symlink (resolve it first)", self.path)

    # -- reading ---------------------------------------------------------------------------

    def open(self, version: int | None = None) -> BinaryIO:
        """A seekable binary stream of a version's bytes (the latest by default).

        For a series this is one version's Parquet chunk; use :meth:`read_table` for the union.

        Raises:
            IsADirectory, NotFound (no such version), IntegrityError (stored bytes corrupted).
        """
        self._check_file()
        if self.is_dynamic:
            import io

            return io.BytesIO(self.read_bytes())
        with self._naming_missing():
            return self.fs.persistence.open_blob(self._version(version))

    def read_bytes(self, version: int | None = None) -> bytes:
        """All bytes of a version (a dynamic table/series is rendered as Parquet)."""
        self._check_file()
        if self.is_dynamic:
            obj = self.fs.dynamic_object(self)
            if not isinstance(obj, DynamicFile):
                raise IsADirectory("is a directory", self.path)
            return bytes(obj.read_bytes())
        with self.open(version) as f:
            return f.read()

    def read_text(self, version: int | None = None) -> str:
        try:
            return self.read_bytes(version).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidData("not UTF-8 text", self.path) from exc

    def readlink(self) -> str:
        """The target of a symlink, as written."""
        if not self.is_symlink:
            raise InvalidPath("not a symlink", self.path)
        return (self.latest().content or b"").decode("utf-8")

    @contextlib.contextmanager
    def _naming_missing(self) -> Iterator[None]:
        """A version whose bytes are gone (time travel past a prune) is named by this path."""
        try:
            yield
        except NotFound as exc:
            if exc.path is None:
                raise NotFound(exc.message, self.path) from exc
            raise

    def _tabular(self) -> str:
        """The file type of a table or series; anything else raises InvalidData."""
        self._check_file()
        file_type = self.file_type
        if file_type not in {FILE_TABLE, FILE_SERIES}:
            raise InvalidData(f"is a {file_type}, not a table or series", self.path)
        return file_type

    def dynamic_table(self) -> DynamicTable:
        """The factory object of a dynamic table or series.

        Raises:
            InvalidData: the node is not a dynamic table or series.
        """
        obj = self.fs.dynamic_object(self)
        if not isinstance(obj, DynamicTable):
            raise InvalidData(f"is a {self.file_type}, not a table or series", self.path)
        return obj

    def live_versions(self) -> list[NodeVersion]:
        """The versions whose union is the content: a series' versions that no collapse holds
        (in logical order); a table's latest version."""
        if self.file_type == FILE_SERIES:
            return self.fs.live(self.node)
        return [self.latest()]

    def appended_versions(self) -> list[NodeVersion]:
        """A series' leaves (:func:`duckpond.tinyfs.collapse.leaves`): the appended versions and
        corrections its content is made of, whatever collapses merged them into, less those a
        correction superseded. The lineage: a collapse leaves it as it is, a correction changes
        it."""
        from duckpond.tinyfs import collapse

        # the stored history as the backend gives it (lazy: only the leaves are built)
        return collapse.leaves(self._history())

    def leaf_records(self) -> list[Leaf]:
        """A series' leaves (:meth:`appended_versions`) as lineage leaves, read without building
        the versions where the backend allows it: every process that reads a derived series
        computes its inputs' lineage, ~1,800 leaves for 5 years of daily appends."""
        from duckpond.tinyfs import collapse
        from duckpond.tinyfs.persistence import LazyHistory

        history = self._history()
        if isinstance(history, LazyHistory):
            positions = collapse.leaf_positions(history)
            return list(itertools.starmap(Leaf.from_fields, history.fields(positions, LEAF_FIELDS)))
        return [Leaf.of(v) for v in collapse.leaves(history)]

    def _history(self) -> Sequence[NodeVersion]:
        """The stored versions as the backend gives them (lazy for the Delta backend)."""
        return self.fs.persistence.partition(self.node.part_id).get(self.node.node_id, [])

    def _stored_versions(self, version: int | None) -> list[NodeVersion]:
        if self.file_type == FILE_SERIES and version is None:
            return self.live_versions()
        return [self._version(version)]

    def time_column(self) -> str | None:
        """The recorded time column of a series (``None`` for other types)."""
        if self.is_dynamic:
            obj = self.fs.dynamic_object(self)
            return obj.time_column if isinstance(obj, DynamicTable) else None
        latest = self.fs.latest(self.node)
        return latest.time_column if latest else None

    def chunks(
        self, version: int | None = None, *, window: Window | None = None
    ) -> list[tables.Chunk]:
        """The table or series as pieces to read: one per stored version (host Parquet files in
        place, small versions in memory), or one Arrow table of a dynamic node's content.

        Versions whose event-time bounds miss ``window`` are left out (rows are not filtered:
        :meth:`read_table` does that).

        Raises:
            InvalidData: not a table or series. NotFound: no such version.
        """
        self._tabular()
        if self.is_dynamic:
            table = self.dynamic_table().read_table(window)
            return [tables.Chunk(table.schema.remove_metadata(), table=table)]
        with self._naming_missing():
            return [
                self.fs.version_chunk(v)
                for v in self._stored_versions(version)
                if window is None or window.overlaps(v.min_event_time, v.max_event_time)
            ]

    def schema(self, version: int | None = None) -> pa.Schema:
        """Arrow schema of a table or series (merged over a series' versions).

        Raises:
            InvalidData: not a table or series; versions with incompatible column types.
        """
        self._tabular()
        if self.is_dynamic:
            return self.dynamic_table().read_table().schema
        series = self.file_type == FILE_SERIES and version is None
        latest = self.latest().version
        cached = self.fs.merged.get(self.node.node_id) if series else None
        if cached is not None and cached[0] == latest:
            return cached[1]
        versions = self._stored_versions(version)
        with self._naming_missing():
            schema = tables.merged_schema([self.fs.version_schema(v) for v in versions])
        if series:  # versions only ever get added: valid until the next one
            self.fs.merged[self.node.node_id] = (latest, schema)
        return schema

    def read_table(
        self,
        version: int | None = None,
        *,
        window: Window | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """The content of a table or series as an Arrow table.

        A series is the union of all its versions (schemas merged), or one version if
        ``version`` is given. ``window`` (half-open ``[start, end)``, µs UTC) skips versions by
        their min/max event time and filters rows; ``columns`` projects.

        Raises:
            InvalidData: the node is a data file or a symlink; stored chunks incompatible.
        """
        self._tabular()
        tc = self.time_column()
        if self.is_dynamic:
            table = self.dynamic_table().read_table(window)
            if columns is not None:
                table = table.select([c for c in columns if c in table.column_names])
            return table
        return tables.read_chunks(
            self.chunks(version, window=window),
            self.schema(version),
            time_column=tc,
            window=window,
            columns=columns,
        )

    def iter_batches(
        self, *, batch_size: int = 65536
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """Stream a table or series as (merged schema, record batches) without reading it whole."""
        self._tabular()
        if self.is_dynamic:
            table = self.read_table()
            if any(c.num_chunks > 1 for c in table.columns):
                # a dynamic table may be many small chunks (a reduce's segments); a Parquet
                # writer makes a row group of every batch it is given
                table = table.combine_chunks()
            return table.schema, iter(table.to_batches(max_chunksize=batch_size))
        schema = self.schema()
        versions = self._stored_versions(None)

        def batches() -> Iterator[pa.RecordBatch]:
            for v in versions:  # one version in memory at a time
                with self._naming_missing():
                    chunk = self.fs.version_chunk(v)
                yield from tables.iter_chunks([chunk], schema, batch_size=batch_size)

        return schema, batches()

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The table or series as an Arrow C stream (the Arrow PyCapsule interface:
        https://arrow.apache.org/docs/format/CDataInterface/PyCapsuleInterface.html), so
        ``polars.from_arrow(nodepath)``, ``duckdb.sql("FROM nodepath")``,
        ``pyarrow.table(nodepath)`` and ``pandas.DataFrame.from_arrow`` read it directly.

        Record batches of :meth:`iter_batches` (a series: one version at a time, merged schema;
        times ``timestamp[us, tz=UTC]``); ``requested_schema`` is passed on to pyarrow (a cast).

        Raises:
            InvalidData: not a table or series.
        """
        schema, batches = self.iter_batches()
        reader = pa.RecordBatchReader.from_batches(schema, batches)
        return reader.__arrow_c_stream__(requested_schema)

    def lineage(self) -> Lineage:
        """What the content depends on: a stored file's versions, a dynamic node's inputs."""
        if self.is_dynamic:
            obj = self.fs.dynamic_object(self)
            return obj.lineage()  # type: ignore[no-any-return]
        # a series: its leaves (a collapse changes what is read, not the content)
        series = self.file_type == FILE_SERIES
        versions = self.leaf_records() if series else [self.latest()]
        return Lineage.stored(self.node.node_id, str(self.file_type), versions)

    def stat(self) -> Stat:
        """Type, size (bytes; for a series the sum over its live chunks), latest version, times."""
        history = self.versions()
        latest = history[-1] if history else None
        file_type = self.file_type
        if file_type == FILE_SERIES and history:
            live = self.live_versions()
            size = sum(v.size or 0 for v in live)
            mins = [v.min_event_time for v in live if v.min_event_time is not None]
            maxs = [v.max_event_time for v in live if v.max_event_time is not None]
            lo, hi = (min(mins) if mins else None), (max(maxs) if maxs else None)
        else:
            size = (latest.size or 0) if latest and not latest.is_dir else 0
            lo = latest.min_event_time if latest else None
            hi = latest.max_event_time if latest else None
        return Stat(
            path=self.path,
            node_id=self.node.node_id,
            file_type=file_type,
            version=latest.version if latest else 0,
            size=size,
            created=history[0].timestamp if history else None,
            modified=latest.timestamp if latest else None,
            txn_seq=latest.txn_seq if latest else None,
            min_event_time=lo,
            max_event_time=hi,
            time_column=latest.time_column if latest else None,
            factory=latest.factory if latest else None,
            dynamic=self.is_dynamic,
        )


# --------------------------------------------------------------------------------------------
# WD
# --------------------------------------------------------------------------------------------


class WD:
    """A working directory: every path argument is absolute or relative to it."""

    def __init__(self, fs: FS, here: NodePath) -> None:
        if not here.is_dir:
            raise NotADirectory("not a directory", here.path)
        self.fs = fs
        self.here = here

    def __repr__(self) -> str:
        return f"WD({self.here.path!r})"

    @property
    def path(self) -> str:
        return self.here.path

    # -- resolution ------------------------------------------------------------------------

    def _children_of(self, nodepath: NodePath) -> dict[str, Node]:
        """Children of a directory NodePath as name -> Node (dynamic ones computed)."""
        node = nodepath.node
        if node.dynamic is not None or node.file_type == DIR_DYNAMIC:
            obj = self.fs.dynamic_object(nodepath)
            if not isinstance(obj, DynamicDirectory):
                raise NotADirectory("dynamic node is not a directory", nodepath.path)
            out: dict[str, Node] = {}
            for name, child in obj.entries():
                paths.validate_name(name, paths.join((*nodepath.parts, name)))
                ft: str = DIR_DYNAMIC
                if isinstance(child, DynamicFile):
                    ft = str(child.file_type)
                elif not isinstance(child, DynamicDirectory):
                    raise InvalidData(
                        f"a factory gave {type(child).__name__}, not a dynamic file or directory",
                        paths.join((*nodepath.parts, name)),
                    )
                out[name] = Node(child_id(node.node_id, name), node.node_id, ft, child)
            return out
        return {name: self._node_of(node, e) for name, e in self.fs.entries(node).items()}

    @staticmethod
    def _node_of(parent: Node, entry: DirEntry) -> Node:
        part = entry.node_id if entry.is_dir else entry.part_id or parent.node_id
        return Node(entry.node_id, part, entry.file_type)

    def _child(self, nodepath: NodePath, name: str) -> Node | None:
        node = nodepath.node
        if node.dynamic is not None or node.file_type == DIR_DYNAMIC:
            return self._children_of(nodepath).get(name)
        entry = self.fs.entries(node).get(name)
        return None if entry is None else self._node_of(node, entry)

    def _walk_to(
        self, path: str, *, follow_last: bool, budget: list[int] | None = None
    ) -> tuple[list[NodePath], str | None]:
        """Resolve ``path`` to the stack of directories traversed plus the last component.

        Returns (stack, last) where ``stack[-1]`` is the parent directory of ``last``; ``last``
        is ``None`` when the path names a directory on the stack itself (``/``, ``.``, ``..``).
        """
        absolute, parts = paths.split(path)
        budget = budget if budget is not None else [SYMLINK_DEPTH]
        stack = [self.fs.root().here] if absolute else self._stack_of(self.here)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "..":
                if len(stack) > 1:
                    stack.pop()
                continue
            if last and not follow_last:
                return stack, part
            parent = stack[-1]
            child = self._child(parent, part)
            full = paths.join((*parent.parts, part))
            if child is None:
                if last:
                    return stack, part
                raise NotFound("no such file or directory", full)
            nodepath = NodePath(self.fs, (*parent.parts, part), child)
            if child.is_symlink:
                stack, final = self._through_symlink(nodepath, parent, last=last, budget=budget)
                if final is not None:
                    return stack, final
                continue
            if not nodepath.is_dir:
                if last:
                    return stack, part
                raise NotADirectory("not a directory", full)
            stack.append(nodepath)
        return stack, None

    def _through_symlink(
        self, link: NodePath, parent: NodePath, *, last: bool, budget: list[int]
    ) -> tuple[list[NodePath], str | None]:
        """Follow ``link`` (a child of ``parent``): the new stack, and the final component when
        the link is the path's last component and names a file (else ``None``)."""
        budget[0] -= 1
        if budget[0] < 0:
            raise SymlinkLoop("too many levels of symbolic links", link.path)
        target = link.readlink()
        tstack, tlast = WD(self.fs, parent)._walk_to(target, follow_last=True, budget=budget)
        if tlast is None:
            return tstack, None
        tchild = self._child(tstack[-1], tlast)
        if tchild is None:
            raise NotFound(f"dangling symlink to {target!r}", link.path)
        resolved = NodePath(self.fs, (*tstack[-1].parts, tlast), tchild)
        if resolved.is_dir:
            return [*tstack, resolved], None
        if last:  # keep the path the user gave for the final file
            return tstack, tlast
        raise NotADirectory("not a directory", link.path)

    def _stack_of(self, here: NodePath) -> list[NodePath]:
        root = self.fs.root().here
        stack = [root]
        for part in here.parts:
            child = self._child(stack[-1], part)
            if child is None:
                raise NotFound("working directory vanished", paths.join(here.parts))
            stack.append(NodePath(self.fs, (*stack[-1].parts, part), child))
        return stack

    def lookup(self, path: str, *, follow: bool = True) -> NodePath | None:
        """The node at ``path``, or ``None`` if its last component does not exist.

        Raises:
            NotFound: an intermediate component is missing.
            NotADirectory, SymlinkLoop, InvalidPath.
        """
        stack, last = self._walk_to(path, follow_last=follow)
        if last is None:
            return stack[-1]
        parent = stack[-1]
        child = self._child(parent, last)
        if child is None:
            return None
        return NodePath(self.fs, (*parent.parts, last), child)

    def resolve(self, path: str, *, follow: bool = True) -> NodePath:
        """The node at ``path`` (symlinks followed unless ``follow`` is false).

        Raises:
            NotFound, NotADirectory, SymlinkLoop, InvalidPath.
        """
        nodepath = self.lookup(path, follow=follow)
        if nodepath is None:
            raise NotFound("no such file or directory", self._display(path))
        return nodepath

    def _display(self, path: str) -> str:
        if path.startswith("/"):
            return path
        return paths.join((*self.here.parts, *paths.split(path)[1]))

    def exists(self, path: str) -> bool:
        try:
            return self.lookup(path) is not None
        except (NotFound, NotADirectory, SymlinkLoop):
            return False

    def stat(self, path: str) -> Stat:
        return self.resolve(path).stat()

    def open_dir(self, path: str) -> WD:
        """A WD for the directory at ``path``.

        Raises:
            NotFound, NotADirectory.
        """
        nodepath = self.resolve(path)
        if not nodepath.is_dir:
            raise NotADirectory("not a directory", nodepath.path)
        return WD(self.fs, nodepath)

    def list(self, path: str = ".") -> list[NodePath]:
        """Entries of the directory at ``path``, sorted by name."""
        nodepath = self.resolve(path)
        if not nodepath.is_dir:
            raise NotADirectory("not a directory", nodepath.path)
        children = self._children_of(nodepath)
        return [NodePath(self.fs, (*nodepath.parts, n), children[n]) for n in sorted(children)]

    def walk(self, path: str = ".", *, include_hidden: bool = True) -> Iterator[NodePath]:
        """Every node below ``path`` (not itself), depth first, sorted; symlinks not followed."""
        for nodepath in self.list(path):
            if not include_hidden and nodepath.name.startswith("."):
                continue
            yield nodepath
            if nodepath.is_dir:
                yield from WD(self.fs, nodepath).walk(".", include_hidden=include_hidden)

    def glob(self, pattern: str, *, include_hidden: bool = False) -> Iterator[NodePath]:
        """Nodes matching a glob (``*``, ``?``, ``[...]``, ``**``; :mod:`duckpond.tinyfs.glob`).

        Each result's ``captures`` hold what the wildcards matched, for ``$0, $1, ...``.
        Relative patterns are relative to this WD.
        """
        from duckpond.tinyfs import glob as globmod

        compiled = globmod.compile_glob(pattern)
        start = self.fs.root().here if compiled.absolute else self.here

        def kind_of(nodepath: NodePath) -> str:
            if nodepath.is_symlink:
                try:
                    target = self.resolve(nodepath.path)
                except (NotFound, NotADirectory, SymlinkLoop):
                    return "symlink"
                return "symlink_dir" if target.is_dir else "symlink"
            return "dir" if nodepath.is_dir else "file"

        def target_dir(nodepath: NodePath) -> NodePath:
            return self.resolve(nodepath.path) if nodepath.is_symlink else nodepath

        def lookup(nodepath: NodePath, name: str) -> tuple[NodePath, str] | None:
            d = target_dir(nodepath)
            child = self._child(d, name)
            if child is None:
                return None
            cnp = NodePath(self.fs, (*nodepath.parts, name), child)
            return cnp, kind_of(cnp)

        def children(nodepath: NodePath) -> Iterable[tuple[str, NodePath, str]]:
            d = target_dir(nodepath)
            kids = self._children_of(d)
            for name in sorted(kids):
                cnp = NodePath(self.fs, (*nodepath.parts, name), kids[name])
                yield name, cnp, kind_of(cnp)

        for m in globmod.expand(
            compiled,
            start,
            start.parts,
            lookup,
            children,
            include_hidden=include_hidden,
            root=self.fs.root().here,
        ):
            node: NodePath = m.node
            yield NodePath(self.fs, tuple(m.parts), node.node, tuple(m.captures))

    # -- changes ---------------------------------------------------------------------------

    def _parent_for_create(self, path: str) -> tuple[NodePath, str]:
        stack, last = self._walk_to(path, follow_last=False)
        if last is None or last == "..":
            raise AlreadyExists("already exists", self._display(path))
        paths.validate_name(last, self._display(path))
        parent = stack[-1]
        return parent, last

    def mkdir(self, path: str, *, parents: bool = False, exist_ok: bool = False) -> WD:
        """Create a directory (and missing parents with ``parents=True``).

        Raises:
            AlreadyExists (unless ``exist_ok``/``parents`` and it is a directory), NotFound
            (missing parent), NotADirectory, InvalidPath, ReadOnly.
        """
        if parents:
            absolute, parts = paths.split(path)
            wd: WD = self.fs.root() if absolute else self
            for part in parts:
                wd = wd.mkdir(part, exist_ok=True)
            return wd
        parent, name = self._parent_for_create(path)
        existing = self._child(parent, name)
        full = paths.join((*parent.parts, name))
        if existing is not None:
            nodepath = NodePath(self.fs, (*parent.parts, name), existing)
            if exist_ok and (
                nodepath.is_dir or (nodepath.is_symlink and self.resolve(full).is_dir)
            ):
                return WD(self.fs, self.resolve(full))
            raise AlreadyExists("already exists", full)
        entries = self.fs._entries_for_change(parent.node, full)
        node_id = new_node_id()
        entries[name] = DirEntry(name, node_id, DIR_PHYSICAL)
        # a new directory's (empty) snapshot is written at flush
        self.fs._work[node_id] = {}
        return WD(
            self.fs, NodePath(self.fs, (*parent.parts, name), Node(node_id, node_id, DIR_PHYSICAL))
        )

    def create_file(
        self,
        path: str,
        data: Data,
        *,
        file_type: str = FILE_DATA,
        time_column: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> NodePath:
        """Create a new file; ``data`` is bytes, a binary stream (streamed) or an Arrow table.

        ``file:table`` takes Parquet bytes/stream or an Arrow table; ``file:series`` also
        requires a usable time column (auto-detected unless given) with no nulls. Tables and
        series must have flat, uniquely and non-blank named columns (:func:`tables.check_columns`).
        ``attributes`` (small, JSON-able) are kept in the version's ``extended_attributes``
        (``time_column`` is set by the pond).

        Raises:
            AlreadyExists, NotFound (missing parent), InvalidPath, InvalidData, ReadOnly.
        """
        parent, name = self._parent_for_create(path)
        full = paths.join((*parent.parts, name))
        if self._child(parent, name) is not None:
            raise AlreadyExists("already exists", full)
        return self._write_version(
            parent, name, full, None, data, file_type, time_column, attributes
        )

    def write_file(
        self,
        path: str,
        data: Data,
        *,
        file_type: str | None = None,
        time_column: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> NodePath:
        """Create a file or add a new version of an existing one (for a series: append a chunk).

        Content rules and ``attributes`` as :meth:`create_file`. A chunk appended to a series must
        keep the type of every column it shares with the series' earlier versions (numbers with
        numbers, text with text, ...: :func:`tables.check_appendable`), so that no version can
        make the series unreadable.

        Raises:
            IsADirectory, InvalidData (type mismatch, bad content, columns that cannot merge with
            the series), ReadOnly, NotFound.
        """
        parent, name = self._parent_for_create(path)
        full = paths.join((*parent.parts, name))
        existing = self._child(parent, name)
        if existing is None:
            return self._write_version(
                parent, name, full, None, data, file_type or FILE_DATA, time_column, attributes
            )
        nodepath = NodePath(self.fs, (*parent.parts, name), existing)
        if nodepath.is_symlink:
            target = self.resolve(full)
            return self.fs.root().write_file(
                target.path,
                data,
                file_type=file_type,
                time_column=time_column,
                attributes=attributes,
            )
        if nodepath.is_dir:
            raise IsADirectory("is a directory", full)
        if nodepath.is_dynamic:
            raise ReadOnly("a dynamic node is computed on read and cannot be written", full)
        if file_type is not None and file_type != existing.file_type:
            raise InvalidData(f"is a {existing.file_type}, not a {file_type}", full)
        return self._write_version(
            parent, name, full, existing, data, existing.file_type, time_column, attributes
        )

    def create_series_as_is(
        self,
        path: str,
        source: Path,
        *,
        time_column: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> NodePath | None:
        """Create a series whose first version is the Parquet file ``source`` stored as it is
        (:meth:`FS.store_chunk_file`), when the file needs nothing :meth:`create_file` would
        change: flat, uniquely named columns and a time column already of type
        ``timestamp[us, tz=UTC]`` with no nulls. Only the footer and the time column are read.

        Returns:
            The new series, or ``None`` when the file must be read and rewritten (its time
            column has another type or nulls, no rows, ...): the caller then reads it as a table
            and uses :meth:`create_file`, which says what is wrong with it.

        Raises:
            AlreadyExists, NotFound (missing parent), InvalidPath, ReadOnly; InvalidData naming
            ``source``: not a valid Parquet file, or columns no reader could show whole.
        """
        import pyarrow.parquet as pq

        from duckpond import timeseries

        parent, name = self._parent_for_create(path)
        full = paths.join((*parent.parts, name))
        if self._child(parent, name) is not None:
            raise AlreadyExists("already exists", full)
        st = source.stat()  # the file checked here must be the file copied
        footer = tables.check_parquet(str(source), str(source))
        schema = footer.schema.to_arrow_schema()
        tables.check_columns(schema, str(source))
        try:
            tc = timeseries.detect_time_column(schema, time_column, path=str(source))
        except InvalidData:
            return None
        if schema.field(tc).type != timeseries.TIME_TYPE or footer.num_rows == 0:
            return None
        times = pq.ParquetFile(source).read(columns=[tc]).column(0)
        if times.null_count:
            return None
        lo, hi = timeseries.time_bounds(pa.table({tc: times}), tc)
        seen = (st.st_size, st.st_mtime_ns)
        chunk = _StoredChunk(source, seen, tc, footer.num_rows, lo, hi, schema.remove_metadata())
        return self._write_version(parent, name, full, None, chunk, FILE_SERIES, tc, attributes)

    def append_series(
        self,
        path: str,
        table: pa.Table | bytes,
        *,
        time_column: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> NodePath:
        """Append a chunk to a series (creating it if missing); same rules as :meth:`write_file`."""
        return self.write_file(
            path, table, file_type=FILE_SERIES, time_column=time_column, attributes=attributes
        )

    def _write_version(
        self,
        parent: NodePath,
        name: str,
        full: str,
        existing: Node | None,
        data: Data | _StoredChunk,
        file_type: str,
        time_column: str | None,
        attributes: Mapping[str, Any] | None = None,
    ) -> NodePath:
        self.fs.check_writable(full)
        if file_type not in {FILE_DATA, FILE_TABLE, FILE_SERIES}:
            raise InvalidData(f"cannot write a file of type {file_type!r}", full)
        # only a new name changes the directory; a new version of a file leaves it as it is
        entries = self.fs._entries_for_change(parent.node, full) if existing is None else None
        persistence = self.fs.persistence
        attrs: dict[str, Any] = dict(attributes or {})
        lo = hi = None
        if file_type == FILE_DATA:
            if isinstance(data, pa.Table | _StoredChunk):
                raise InvalidData(
                    "an Arrow table cannot be a data file (use table or series)", full
                )
            blob = persistence.put_blob(data)
        node_id = existing.node_id if existing is not None else new_node_id()
        # a new node lives in its parent's partition; an existing one where it always was
        part_id = existing.part_id if existing is not None else parent.node.node_id
        prev_versions = self.fs.persistence.partition(part_id).get(node_id, [])
        version = prev_versions[-1].version + 1 if prev_versions else 1
        if isinstance(data, _StoredChunk):  # create_series_as_is: checked, stored as it is
            lo, hi, schema = data.min_us, data.max_us, data.schema
            attrs["time_column"] = data.time_column
            attrs["rows"] = data.rows
            blob = self.fs.store_chunk_file(data.source, node_id, version, data.seen)
        elif file_type == FILE_SERIES:
            from duckpond import timeseries

            table = data if isinstance(data, pa.Table) else _read_parquet_input(data, full)
            if existing is not None and time_column is None:
                prev = self.fs.latest(existing)
                time_column = prev.time_column if prev else None
            tables.check_columns(table.schema, full)
            table, tc = timeseries.normalize_series(table, time_column, path=full)
            if existing is not None:  # the new chunk must merge with the earlier ones
                series = NodePath(self.fs, (*parent.parts, name), existing)
                tables.check_appendable(
                    series.schema(),
                    table,
                    full,
                    lambda column: series.read_table(columns=[column]).column(column),
                )
            lo, hi = timeseries.time_bounds(table, tc)
            attrs["time_column"] = tc
            attrs["rows"] = table.num_rows
            schema = table.schema.remove_metadata()
            blob = self.fs.store_chunk(table, node_id, version)
        elif file_type == FILE_TABLE:
            blob = self._store_parquet(data, full)
        nv = NodeVersion(
            part_id=part_id,
            node_id=node_id,
            file_type=file_type,
            version=version,
            txn_seq=persistence.txn_seq,
            timestamp=now_us(),
            content=blob.content,
            sha256=blob.sha256,
            size=blob.size,
            min_event_time=lo,
            max_event_time=hi,
            extended_attributes=attrs,
        )
        if file_type in (FILE_SERIES, FILE_TABLE):
            nv = self.fs.recording_schema(nv)
        persistence.stage(nv)
        if entries is not None:
            entries[name] = DirEntry(name, node_id, file_type)
        node = Node(node_id, part_id, file_type)
        written = NodePath(self.fs, (*parent.parts, name), node)
        if file_type == FILE_SERIES:
            self.fs.appended[node_id] = written
            cached = self.fs.merged.get(node_id)
            if cached is not None and cached[0] == version - 1:  # keep it current, cheaply
                merged = tables.merged_schema([cached[1], schema])
                self.fs.merged[node_id] = (version, merged)
        return written

    def _store_parquet(self, data: Data, full: str) -> Blob:
        persistence = self.fs.persistence
        if isinstance(data, pa.Table):
            import pyarrow.parquet as pq

            tables.check_columns(data.schema, full)
            fd, tmp = self.fs.temp_file()
            try:
                os.close(fd)
                table = data
                # by path (pyarrow's native writer), hashed in a thread as it is written
                hashed = write_hashed(Path(tmp), lambda p: pq.write_table(table, p))
                return persistence.put_blob(hashed)  # moved in, not copied
            finally:
                _unlink(tmp)
        if isinstance(data, bytes):
            footer = tables.check_parquet(data, full)
            tables.check_columns(footer.schema.to_arrow_schema(), full)
            return persistence.put_blob(data)
        # a stream: validate its footer, then stream it in
        try:
            data.seek(0)
            footer = tables.check_parquet(data, full)
            data.seek(0)
        except (AttributeError, OSError) as exc:
            raise InvalidData("a table must be given as a seekable stream", full) from exc
        tables.check_columns(footer.schema.to_arrow_schema(), full)
        return persistence.put_blob(data)

    def symlink(self, path: str, target: str) -> NodePath:
        """Create a symlink at ``path`` pointing to ``target`` (not checked: may dangle)."""
        parent, name = self._parent_for_create(path)
        full = paths.join((*parent.parts, name))
        paths.validate_target(target)
        if self._child(parent, name) is not None:
            raise AlreadyExists("already exists", full)
        entries = self.fs._entries_for_change(parent.node, full)
        node_id = new_node_id()
        raw = target.encode("utf-8")
        self.fs.persistence.stage(
            NodeVersion(
                part_id=parent.node.node_id,
                node_id=node_id,
                file_type=SYMLINK,
                version=1,
                txn_seq=self.fs.persistence.txn_seq,
                timestamp=now_us(),
                content=raw,
                size=len(raw),
            )
        )
        entries[name] = DirEntry(name, node_id, SYMLINK)
        return NodePath(self.fs, (*parent.parts, name), Node(node_id, parent.node.node_id, SYMLINK))

    def create_dynamic(
        self,
        path: str,
        factory: str,
        config: bytes,
        *,
        directory: bool,
        overwrite: bool = False,
    ) -> NodePath:
        """Create (or with ``overwrite``, re-version) a dynamic node holding a factory config.

        Raises:
            AlreadyExists: the name is taken and ``overwrite`` is false, or it is not dynamic.
        """
        parent, name = self._parent_for_create(path)
        full = paths.join((*parent.parts, name))
        existing = self._child(parent, name)
        file_type = DIR_DYNAMIC if directory else FILE_DYNAMIC
        if existing is not None and not (overwrite and existing.file_type == file_type):
            raise AlreadyExists("already exists" + ("" if overwrite else " (use overwrite)"), full)
        entries = self.fs._entries_for_change(parent.node, full)
        node_id = existing.node_id if existing is not None else new_node_id()
        if existing is not None:
            part_id = existing.part_id
        else:
            part_id = node_id if directory else parent.node.node_id
        prev = self.fs.persistence.partition(part_id).get(node_id, [])
        self.fs.persistence.stage(
            NodeVersion(
                part_id=part_id,
                node_id=node_id,
                file_type=file_type,
                version=prev[-1].version + 1 if prev else 1,
                txn_seq=self.fs.persistence.txn_seq,
                timestamp=now_us(),
                content=config,
                size=len(config),
                factory=factory,
            )
        )
        entries[name] = DirEntry(
            name, node_id, file_type, entries[name].part_id if existing is not None else None
        )
        self.fs._dynamic.pop(node_id, None)
        return NodePath(self.fs, (*parent.parts, name), Node(node_id, part_id, file_type))

    def remove(self, path: str, *, recursive: bool = False) -> None:
        """Remove the entry at ``path`` (a symlink itself, not its target).

        Its stored versions stay in the oplog (history, time travel) but are no longer reachable.

        Raises:
            NotFound, DirectoryNotEmpty (a non-empty directory without ``recursive``), InvalidPath
            (the root), ReadOnly.
        """
        stack, last = self._walk_to(path, follow_last=False)
        if last is None or last == "..":
            raise InvalidPath("cannot remove the root or a directory on the working path", path)
        parent = stack[-1]
        full = paths.join((*parent.parts, last))
        child = self._child(parent, last)
        if child is None:
            raise NotFound("no such file or directory", full)
        nodepath = NodePath(self.fs, (*parent.parts, last), child)
        if (
            nodepath.is_dir
            and child.file_type == DIR_PHYSICAL
            and not recursive
            and self.fs.entries(child)
        ):
            raise DirectoryNotEmpty("directory not empty (use recursive)", full)
        entries = self.fs._entries_for_change(parent.node, full)
        del entries[last]

    def rename(self, src: str, dst: str) -> NodePath:
        """Move or rename ``src`` to ``dst`` within the pond.

        If ``dst`` is an existing directory the node moves into it, keeping its name. Only the
        two directory entries change: the node's versions stay in its home partition, which the
        new entry records when it is not the new parent's id (a move never copies versions).

        Raises:
            NotFound, AlreadyExists (``dst`` exists and is not a directory), InvalidPath (moving
            a directory into itself), ReadOnly.
        """
        sstack, slast = self._walk_to(src, follow_last=False)
        if slast is None or slast == "..":
            raise InvalidPath("cannot move the root", src)
        sparent = sstack[-1]
        sfull = paths.join((*sparent.parts, slast))
        child = self._child(sparent, slast)
        if child is None:
            raise NotFound("no such file or directory", sfull)
        target = self.lookup(dst)
        if target is not None and target.is_dir:
            dparent, dname = target, slast
        elif target is not None:
            raise AlreadyExists("already exists", target.path)
        else:
            dparent, dname = self._parent_for_create(dst)
        dfull = paths.join((*dparent.parts, dname))
        if self._child(dparent, dname) is not None:
            raise AlreadyExists("already exists", dfull)
        if child.is_dir and dparent.parts[: len(sparent.parts) + 1] == (*sparent.parts, slast):
            raise InvalidPath("cannot move a directory into itself", dfull)
        sentries = self.fs._entries_for_change(sparent.node, sfull)
        dentries = self.fs._entries_for_change(dparent.node, dfull)
        entry = sentries.pop(slast)
        home = None if entry.is_dir or child.part_id == dparent.node.node_id else child.part_id
        dentries[dname] = DirEntry(dname, entry.node_id, entry.file_type, home)
        return NodePath(self.fs, (*dparent.parts, dname), child)


_COPY_CHUNK = 8 << 20  # bytes read at a time by FS.store_chunk_file


@dataclass(frozen=True, slots=True)
class _StoredChunk:
    """A Parquet host file :meth:`WD.create_series_as_is` checked: stored as it is."""

    source: Path
    seen: tuple[int, int]  # (st_size, st_mtime_ns) when it was checked
    time_column: str
    rows: int
    min_us: int
    max_us: int
    schema: pa.Schema


def _read_parquet_input(data: bytes | BinaryIO, path: str) -> pa.Table:
    import pyarrow.parquet as pq

    if isinstance(data, bytes):
        footer = tables.check_parquet(data, path)
        tables.check_columns(footer.schema.to_arrow_schema(), path)
        return pq.read_table(pa.BufferReader(data))
    footer = tables.check_parquet(data, path)
    tables.check_columns(footer.schema.to_arrow_schema(), path)
    data.seek(0)
    return pq.read_table(data)


def _unlink(path: str) -> None:
    Path(path).unlink(missing_ok=True)
