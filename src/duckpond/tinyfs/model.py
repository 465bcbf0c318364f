"""Typed records of tinyfs: node versions (one oplog row each) and directory entries.

One definition each. :class:`NodeVersion` is the in-memory form of one row of the
oplog (docs/design.md, "Storage"); :data:`DIRECTORY_SCHEMA` is the Arrow schema of a directory
snapshot stored in a directory version's ``content``.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

import pyarrow as pa

from duckpond.times import now_us

__all__ = [
    "DIRECTORY_SCHEMA",
    "DIR_DYNAMIC",
    "DIR_PHYSICAL",
    "FILE_DATA",
    "FILE_DYNAMIC",
    "FILE_SERIES",
    "FILE_TABLE",
    "FILE_TYPES",
    "ROOT_ID",
    "SYMLINK",
    "DirEntry",
    "FileType",
    "NodeVersion",
    "child_id",
    "decode_directory",
    "encode_directory",
    "new_node_id",
    "now_us",
]


class FileType(StrEnum):
    """What a node is, as the oplog's ``file_type`` column spells it.

    A ``StrEnum``: each member equals its oplog string (``FileType.SERIES == "file:series"``).
    """

    DIR_PHYSICAL = "dir:physical"
    DIR_DYNAMIC = "dir:dynamic"
    SYMLINK = "symlink"
    DATA = "file:data"
    TABLE = "file:table"
    SERIES = "file:series"
    FILE_DYNAMIC = "file:dynamic"

    @property
    def is_dir(self) -> bool:
        return self in (FileType.DIR_PHYSICAL, FileType.DIR_DYNAMIC)

    @property
    def is_tabular(self) -> bool:
        """A table or a series: content read as Arrow, queried with SQL."""
        return self in (FileType.TABLE, FileType.SERIES)

    @property
    def is_dynamic(self) -> bool:
        return self in (FileType.DIR_DYNAMIC, FileType.FILE_DYNAMIC)


# Short names for the members, used throughout the package.
DIR_PHYSICAL: Final = FileType.DIR_PHYSICAL
DIR_DYNAMIC: Final = FileType.DIR_DYNAMIC
SYMLINK: Final = FileType.SYMLINK
FILE_DATA: Final = FileType.DATA
FILE_TABLE: Final = FileType.TABLE
FILE_SERIES: Final = FileType.SERIES
FILE_DYNAMIC: Final = FileType.FILE_DYNAMIC
FILE_TYPES: Final = frozenset(FileType)

#: The root directory's fixed node id (a UUID, like every other id).
ROOT_ID: Final = "00000000-0000-7000-8000-000000000000"

#: Arrow schema of a directory snapshot (the ``content`` of a directory version, as Arrow IPC).
#: ``part_id`` is the child's home partition when it is not the directory's own node_id (a file
#: moved here from another directory keeps its versions where they are); null otherwise. A
#: snapshot written before the column existed decodes as all null.
DIRECTORY_SCHEMA: Final = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("child_node_id", pa.string(), nullable=False),
        pa.field("file_type", pa.string(), nullable=False),
        pa.field("part_id", pa.string(), nullable=True),
    ]
)


def new_node_id() -> str:
    """A fresh, time-ordered node id (UUID version 7, RFC 9562)."""
    import uuid6  # lazy: only writers need it

    return str(uuid6.uuid7())


def child_id(parent_id: str, name: str) -> str:
    """Deterministic id of a dynamic directory's child: UUID5-style hash of parent id and name."""
    digest = bytearray(hashlib.sha256(f"{parent_id}/{name}".encode()).digest()[:16])
    # RFC 9562 version 8 and variant bits, set by hand: Python 3.11's uuid.UUID rejects version=8
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


@dataclass(frozen=True, slots=True)
class DirEntry:
    """One entry of a directory: the child's name, node id and file type.

    ``part_id`` is the partition holding the child's versions when it is not the default: a
    directory's versions are in its own partition, any other node's in its parent directory's
    (``None``). A node moved to another directory keeps its home partition (a move never copies
    versions), so its entry in the new directory names it.
    """

    name: str
    node_id: str
    file_type: str
    part_id: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.file_type.startswith("dir:")


@dataclass(frozen=True, slots=True)
class NodeVersion:
    """One version of one node: exactly one row of the oplog.

    Attributes:
        part_id: partition: a directory's own node_id; for any other node the node_id of the
            directory it was created in (its home partition, kept when it moves: see
            :class:`DirEntry`).
        node_id: UUID of the node (:data:`ROOT_ID` for the root).
        file_type: one of :data:`FILE_TYPES`.
        version: 1, 2, ... per node.
        txn_seq: the transaction that wrote it.
        timestamp: write time, µs since the epoch, UTC.
        content: inline bytes (file versions < 64 KiB), the directory snapshot (Arrow IPC of
            :data:`DIRECTORY_SCHEMA`), the symlink target (UTF-8) or a factory's YAML config;
            ``None`` when the bytes are a large file (then ``sha256`` names it).
        sha256: hex digest of the file version's bytes (``None`` for directories).
        size: byte length of the file version (``None`` for directories).
        min_event_time, max_event_time: time bounds (µs, UTC) of a table/series version.
        extended_attributes: small JSON-able dict, e.g. ``{"time_column": "Timestamp"}``.
        factory: factory name of a dynamic node.
    """

    part_id: str
    node_id: str
    file_type: str
    version: int
    txn_seq: int
    timestamp: int
    content: bytes | None = None
    sha256: str | None = None
    size: int | None = None
    min_event_time: int | None = None
    max_event_time: int | None = None
    extended_attributes: dict[str, Any] = field(default_factory=dict)
    factory: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.file_type.startswith("dir:")

    @property
    def is_large(self) -> bool:
        """True when the bytes live in ``_large_files`` rather than inline."""
        return self.content is None and self.sha256 is not None

    @property
    def time_column(self) -> str | None:
        value = self.extended_attributes.get("time_column")
        return str(value) if value is not None else None

    def with_(self, **changes: Any) -> NodeVersion:
        return replace(self, **changes)

    def attributes_json(self) -> str | None:
        if not self.extended_attributes:
            return None
        return json.dumps(self.extended_attributes, sort_keys=True)


def encode_directory(entries: dict[str, DirEntry]) -> bytes:
    """Serialize a directory snapshot as Arrow IPC (stream format) of :data:`DIRECTORY_SCHEMA`."""
    names = sorted(entries)
    batch = pa.record_batch(
        [
            pa.array(names, pa.string()),
            pa.array([entries[n].node_id for n in names], pa.string()),
            pa.array([entries[n].file_type for n in names], pa.string()),
            pa.array([entries[n].part_id for n in names], pa.string()),
        ],
        schema=DIRECTORY_SCHEMA,
    )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, DIRECTORY_SCHEMA) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def decode_directory(content: bytes | None) -> dict[str, DirEntry]:
    """Inverse of :func:`encode_directory`; ``None`` or empty bytes is an empty directory."""
    if not content:
        return {}
    table = pa.ipc.open_stream(content).read_all()
    names = table.column("name").to_pylist()
    ids = table.column("child_node_id").to_pylist()
    types = table.column("file_type").to_pylist()
    if "part_id" not in table.column_names:  # a snapshot written before the column existed
        return {n: DirEntry(n, i, t) for n, i, t in zip(names, ids, types, strict=True)}
    homes = table.column("part_id").to_pylist()
    return {n: DirEntry(n, i, t, p) for n, i, t, p in zip(names, ids, types, homes, strict=True)}
