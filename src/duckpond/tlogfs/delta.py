"""DeltaPersistence: tinyfs node versions stored as rows of a Delta Lake table (the oplog).

Layout (:class:`duckpond.layout.PondLayout`)::

    $POND/data/                     Delta table, partitioned by part_id, rows of OPLOG_SCHEMA
    $POND/data/_large_files/        sha256=<hex>: file versions of >= 64 KiB, written before commit

Reads go straight to the Parquet files of one partition, found through the Delta log's add
actions and read with pyarrow's native local filesystem (docs/design.md, "Known traps": no
threaded scan over deltalake's Python filesystem). Each partition is read once per process and
then kept up to date by this process's own commits.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import itertools
import json
import operator
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, overload

import pyarrow as pa

from duckpond import diagnostics
from duckpond.errors import IntegrityError, NotFound, ReadOnly, translate_errors
from duckpond.layout import PondLayout
from duckpond.tinyfs.model import NodeVersion
from duckpond.tinyfs.persistence import INLINE_LIMIT, Blob, HashedFile, copy_hashing, make_temp
from duckpond.tlogfs.log import Snapshot
from duckpond.tlogfs.opening import open_table, update_table

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = [
    "APP_ID",
    "OPLOG_SCHEMA",
    "DeltaPersistence",
    "NodeHistory",
    "held_by_collapse",
    "versions_to_arrow",
]

#: Delta app id under which each commit records its txn_seq (``Transaction(APP_ID, txn_seq)``).
APP_ID: Final = "duckpond"

#: Arrow schema of the oplog: one row per node version.
OPLOG_SCHEMA: Final = pa.schema(
    [
        pa.field("part_id", pa.string(), nullable=False),
        pa.field("node_id", pa.string(), nullable=False),
        pa.field("file_type", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        pa.field("txn_seq", pa.int64(), nullable=False),
        pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("content", pa.binary()),
        pa.field("sha256", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("min_event_time", pa.int64()),
        pa.field("max_event_time", pa.int64()),
        pa.field("extended_attributes", pa.string()),
        pa.field("factory", pa.string()),
    ]
)
_FILE_COLUMNS: Final = [f.name for f in OPLOG_SCHEMA if f.name != "part_id"]
#: The column a partition read as of now reads only when used (:class:`_LazyColumn`).
_LAZY_COLUMN: Final = "sha256"
_EAGER_COLUMNS: Final = [c for c in _FILE_COLUMNS if c != _LAZY_COLUMN]

_log = diagnostics.get_logger("tlogfs")

#: Extended attribute on a large file recording "<sha256>:<size>:<mtime ns>" when it was last found
#: to match its sha256, so that other processes need not hash it again until it changes. Where
#: the host filesystem has no user xattrs, every process hashes a large file on first read.
VERIFIED_XATTR: Final = "user.duckpond.verified"


def versions_to_arrow(versions: Sequence[NodeVersion]) -> pa.Table:
    """Rows of :data:`OPLOG_SCHEMA` for the given node versions."""
    cols: dict[str, list[Any]] = {name: [] for name in OPLOG_SCHEMA.names}
    for v in versions:
        cols["part_id"].append(v.part_id)
        cols["node_id"].append(v.node_id)
        cols["file_type"].append(v.file_type)
        cols["version"].append(v.version)
        cols["txn_seq"].append(v.txn_seq)
        cols["timestamp"].append(v.timestamp)
        cols["content"].append(v.content)
        cols["sha256"].append(v.sha256)
        cols["size"].append(v.size)
        cols["min_event_time"].append(v.min_event_time)
        cols["max_event_time"].append(v.max_event_time)
        cols["extended_attributes"].append(v.attributes_json())
        cols["factory"].append(v.factory)
    return pa.Table.from_pydict(cols, schema=OPLOG_SCHEMA)


def arrow_to_versions(table: pa.Table, part_id: str | None = None) -> Iterator[NodeVersion]:
    """Inverse of :func:`versions_to_arrow` (``part_id`` fills a table read without it)."""
    columns = _Columns(table, part_id)
    return columns.decode(range(table.num_rows))


class _Columns:
    """The oplog rows of one partition, decoded into :class:`NodeVersion` objects only when
    asked for (each at most once).

    Every process decodes the versions of the nodes it touches, so this is on the hot path of
    opening a long-lived series, whose partition holds a row for every version of every series
    beside it. What a read needs is small: the rows of the nodes it names, the version numbers
    and attribute texts of those nodes (:meth:`NodeHistory.numbers` and ``attributes``), and a
    few whole versions (the live ones). So:

    - node ids and attribute texts are read dictionary-coded (:data:`DICTIONARY_COLUMNS`): a row
      is an int code, each distinct text is converted and parsed once;
    - a node's rows are found by comparing codes (:meth:`rows_of`), without an index of the
      whole partition until many nodes are asked for;
    - a few versions are decoded value by value from Arrow (~2 µs a value); past
      :data:`_PER_ROW_LIMIT` rows, the columns are converted whole (~0.05 µs a value).
    """

    def __init__(
        self, table: pa.Table | None, part_id: str | None, lazy: _LazyColumn | None = None
    ) -> None:
        self.table = table
        self.part_id = part_id
        self.num_rows = table.num_rows if table is not None else 0
        #: a column not in ``table``, read from the Delta data files when first used
        self.lazy = lazy
        self._cols: dict[str, list[Any]] = {}
        self._chunks: dict[str, tuple[list[pa.Array], list[int]]] = {}
        self._per_row = 0
        self._decoded: dict[int, NodeVersion] = {}
        # Most versions of a series carry the same attributes ({"rows": 4, "time_column": ...}):
        # each distinct text is decoded once and the dict shared, which is safe because a
        # NodeVersion is frozen and nothing mutates its attributes (changes go through ``with_``).
        self._codes: dict[str, tuple[list[int], list[Any]]] = {}
        self._parsed: dict[int, dict[str, Any]] = {}
        self._superseded: dict[int, list[int]] = {}

    def column(self, name: str) -> list[Any]:
        """A whole column as Python values (converted once)."""
        col = self._cols.get(name)
        if col is None:
            if self.table is None:
                col = []
            elif name == "part_id" and name not in self.table.column_names:
                col = [self.part_id] * self.num_rows
            elif self.lazy is not None and name == self.lazy.name:
                col = self.lazy.column()
            elif name == "timestamp":
                # µs as int64 by view (a cast would import pyarrow.compute: ~40 ms of a process)
                chunks = self.table.column(name).chunks
                col = [x for c in chunks for x in c.view(pa.int64()).to_pylist()]
            elif name in self._codes or isinstance(self.table.column(name).type, pa.DictionaryType):
                codes, values = self.codes(name)
                col = [values[c] if c >= 0 else None for c in codes]
            else:
                col = self.table.column(name).to_pylist()
            self._cols[name] = col
        return col

    def codes(self, name: str) -> tuple[list[int], list[Any]]:
        """A dictionary-coded column as (a code per row, the value of each code); -1 is null.
        Codes are unique across the table's chunks (each chunk has its own dictionary)."""
        found = self._codes.get(name)
        if found is None:
            codes: list[int] = []
            values: list[Any] = []
            for chunk in self.table.column(name).chunks if self.table is not None else ():
                base = len(values)
                if not isinstance(chunk, pa.DictionaryArray):  # a table not read by _load
                    seen: dict[Any, int] = {}
                    for x in chunk.to_pylist():
                        codes.append(-1 if x is None else seen.setdefault(x, base + len(seen)))
                    values += seen
                    continue
                values += chunk.dictionary.to_pylist()
                indices = chunk.indices.to_pylist()
                if chunk.null_count:
                    codes += [-1 if c is None else base + c for c in indices]
                else:
                    codes += [base + c for c in indices] if base else indices
            found = self._codes[name] = (codes, values)
        return found

    def rows_of(self, node_id: str) -> list[int]:
        """The rows of one node, in table order (one pass over the node-id codes)."""
        codes, values = self.codes("node_id")
        wanted = {k for k, v in enumerate(values) if v == node_id}
        if len(wanted) == 1:
            (k,) = wanted
            return [i for i, c in enumerate(codes) if c == k]
        return [i for i, c in enumerate(codes) if c in wanted]

    def value(self, name: str, row: int) -> Any:
        """One value, from the converted column if there is one, else read from Arrow alone."""
        col = self._cols.get(name)
        if col is not None:
            return col[row]
        if name == "part_id" and self.table is not None and name not in self.table.column_names:
            return self.part_id
        if self.lazy is not None and name == self.lazy.name:
            return self.lazy.value(row)
        found = self._chunks.get(name)
        if found is None:
            if self.table is None:
                raise IndexError(row)
            chunks = self.table.column(name).chunks
            starts = list(itertools.accumulate((len(c) for c in chunks), initial=0))
            found = self._chunks[name] = (chunks, starts)
        chunks, starts = found
        k = bisect.bisect_right(starts, row) - 1
        chunk = chunks[k]
        if chunk.null_count == len(chunk):  # no Scalar for a chunk of nulls (series content)
            return None
        scalar = chunk[row - starts[k]]
        if name == "timestamp":
            return scalar.value  # µs since the epoch (a TimestampScalar's int)
        return scalar.as_py()

    def attributes(self, row: int) -> dict[str, Any]:
        codes, texts = self.codes("extended_attributes")
        return self._attributes_of(codes[row], texts)

    def _attributes_of(self, code: int, texts: list[Any]) -> dict[str, Any]:
        parsed = self._parsed.get(code)
        if parsed is None:
            text = texts[code] if code >= 0 else None
            parsed = self._parsed[code] = json.loads(text) if text else {}
        return parsed

    def attributes_of_rows(self, rows: Iterable[int]) -> list[dict[str, Any]]:
        """The attributes of each of ``rows`` (each distinct text parsed once)."""
        codes, texts = self.codes("extended_attributes")
        parsed = self._parsed
        out = []
        for row in rows:
            code = codes[row]
            found = parsed.get(code)
            out.append(found if found is not None else self._attributes_of(code, texts))
        return out

    def superseded(self, rows: Iterable[int]) -> set[int]:
        """The version numbers the versions of ``rows`` supersede (each distinct attribute
        text read once: a year of hourly versions has ~600 collapses and one text for the rest)."""
        from duckpond.tinyfs.collapse import superseded_numbers

        codes, texts = self.codes("extended_attributes")
        held: set[int] = set()
        for code in {codes[row] for row in rows}:
            found = self._superseded.get(code)
            if found is None:
                attrs = self._attributes_of(code, texts)
                found = self._superseded[code] = superseded_numbers(attrs)
            held.update(found)
        return held

    def decode(self, rows: Iterable[int]) -> Iterator[NodeVersion]:
        decoded = self._decoded
        rows = list(rows)
        wanted = [row for row in rows if row not in decoded]
        if wanted:
            # sha256 not yet read: each version reads its own when asked (see _LazyVersion)
            lazy = self.lazy if self.lazy is not None and "sha256" not in self._cols else None
            if self._per_row + len(wanted) > _PER_ROW_LIMIT:
                names = [n for n in _LISTED if n != "sha256"] if lazy is not None else _LISTED
                cols = [self.column(name) for name in names]
                if lazy is not None:
                    cols.insert(_LISTED.index("sha256"), [None] * self.num_rows)
                parts, nodes, types, numbers, seqs, stamps, shas, sizes, los, his, factories = cols
                content = self.content if self._has_content() else _no_content
                make = NodeVersion if lazy is None else _LazyVersion
                for row, attrs in zip(wanted, self.attributes_of_rows(wanted), strict=True):
                    # positional, in NodeVersion's field order (keywords cost ~30% more here)
                    decoded[row] = make(
                        parts[row], nodes[row], types[row], numbers[row], seqs[row], stamps[row],
                        content(row), shas[row], sizes[row], los[row], his[row],
                        attrs, factories[row],
                    )  # fmt: skip
            else:
                self._per_row += len(wanted)
                value = self.value
                for row in wanted:
                    values = [
                        None if lazy is not None and name == "sha256" else value(name, row)
                        for name in _LISTED
                    ]
                    decoded[row] = self._build(row, values, lazy is not None)
            if lazy is not None:
                for row in wanted:
                    object.__setattr__(decoded[row], "_sha256_at", (lazy, row))
        for row in rows:
            yield decoded[row]

    def _build(self, row: int, values: list[Any], lazy: bool = False) -> NodeVersion:
        part, node, ftype, number, seq, stamp, sha, size, lo, hi, factory = values
        make = _LazyVersion if lazy else NodeVersion
        # positional, in NodeVersion's field order (a keyword call costs ~30% more here)
        return make(
            part, node, ftype, number, seq, stamp, self.content(row), sha, size, lo, hi,
            self.attributes(row), factory,
        )  # fmt: skip

    def _has_content(self) -> bool:
        """Whether any row has content (a series' partition often has none: chunks are large
        files)."""
        if self.table is None:
            return False
        return any(c.null_count < len(c) for c in self.table.column("content").chunks)

    def content(self, row: int) -> bytes | None:
        """One row's content, read alone: the column holds directory snapshots and inline
        files (up to 64 KiB each), too much to convert for the few rows a process reads. The
        chunk is found by bisection (a whole oplog read for ``maintain`` has a chunk per file)."""
        value: bytes | None = self.value("content", row)
        return value


def _no_content(row: int) -> None:
    return None


class _LazyVersion(NodeVersion):
    """A :class:`NodeVersion` decoded from a partition read as of now: its ``sha256`` is read
    from the oplog (:class:`_LazyColumn`, the data file holding its row) when first asked for.

    A read builds the live versions of the series it reads (a year of hourly appends: ~30,
    spread over the partition's data files) and needs the sha256 of the few it reads the
    content of. Otherwise it is a NodeVersion: equal to one of the same fields, hashed the
    same, copied (``with_``) and pickled with its sha256 read."""

    __slots__ = ("_sha256_at",)

    @property
    def sha256(self) -> str | None:
        at = getattr(self, "_sha256_at", None)
        if at is not None:
            lazy, row = at
            _SHA256_SLOT.__set__(self, lazy.value(row))
            object.__setattr__(self, "_sha256_at", None)
        value: str | None = _SHA256_SLOT.__get__(self, NodeVersion)
        return value

    @sha256.setter
    def sha256(self, value: str | None) -> None:  # the dataclass's __init__ (frozen: only it)
        _SHA256_SLOT.__set__(self, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeVersion):
            return NotImplemented
        return _fields_of(self) == _fields_of(other)

    __hash__ = NodeVersion.__hash__


#: NodeVersion's own storage of ``sha256`` (a slot), under :class:`_LazyVersion`'s property
_SHA256_SLOT: Final = NodeVersion.__dict__["sha256"]


def _fields_of(v: NodeVersion) -> tuple[Any, ...]:
    return (
        v.part_id, v.node_id, v.file_type, v.version, v.txn_seq, v.timestamp, v.content,
        v.sha256, v.size, v.min_event_time, v.max_event_time, v.extended_attributes, v.factory,
    )  # fmt: skip


class _LazyColumn:
    """One oplog column of a partition, read from its Delta data files only when used, and
    then only from the files holding the rows asked for (:meth:`value`), or all of them
    (:meth:`column`).

    ``sha256`` is ~70% of an oplog's bytes (64 hex digits per version: incompressible), and a
    read needs it for a few versions (the live ones, those appended since a remembered plan),
    while knowing which versions those are takes the other columns of every row: a partition
    of five years of daily versions is ~600 KB, ~170 KB without it."""

    def __init__(self, name: str, files: list[str], rows: list[int]) -> None:
        self.name = name
        self.files = files
        self.starts = list(itertools.accumulate(rows, initial=0))
        self._chunks: dict[int, pa.Array] = {}

    def _chunk(self, k: int) -> pa.Array:
        chunk = self._chunks.get(k)
        if chunk is None:
            from duckpond.parquet import ParquetFile

            rows = self.starts[k + 1] - self.starts[k]
            with translate_errors(self.files[k], what="reading the oplog"):
                pf = ParquetFile(self.files[k])
                if self.name in pf.schema_arrow.names:
                    col = pf.read(columns=[self.name], use_threads=False).column(0)
                    chunk = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
                else:  # a file written before the column existed
                    chunk = pa.nulls(rows, OPLOG_SCHEMA.field(self.name).type)
            if len(chunk) != rows:
                raise IntegrityError(
                    f"{self.files[k]}: {len(chunk)} rows of {self.name}, {rows} of the others"
                )
            self._chunks[k] = chunk
        return chunk

    def value(self, row: int) -> Any:
        """The value of one row (its file's column read once)."""
        k = bisect.bisect_right(self.starts, row) - 1
        if not 0 <= row < self.starts[-1]:
            raise IndexError(row)
        return self._chunk(k)[row - self.starts[k]].as_py()

    def column(self) -> list[Any]:
        """Every row's value, in table order."""
        return [x for k in range(len(self.files)) for x in self._chunk(k).to_pylist()]


#: Nodes a :class:`Partition` finds by a pass over the node ids before it indexes them all.
_LOOKUPS_BEFORE_INDEX: Final = 8

#: Rows a :class:`_Columns` decodes value by value before it converts whole columns.
_PER_ROW_LIMIT: Final = 256
#: Versions :meth:`NodeHistory.fields` reads value by value (~2 µs a value) rather than from
#: whole converted columns (~0.05 µs a value of every row of the partition).
_FIELDS_PER_ROW: Final = 64

#: Oplog columns read dictionary-coded (node ids and attribute texts repeat across rows).
DICTIONARY_COLUMNS: Final = ("node_id", "extended_attributes")


#: the columns :class:`_Columns` converts whole (in :class:`NodeVersion` field order, without
#: ``content`` and ``extended_attributes``)
_LISTED: Final = (
    "part_id",
    "node_id",
    "file_type",
    "version",
    "txn_seq",
    "timestamp",
    "sha256",
    "size",
    "min_event_time",
    "max_event_time",
    "factory",
)


class NodeHistory(Sequence[NodeVersion]):
    """One node's versions, oldest first (by version, then txn_seq), each decoded from the
    oplog row only when it is asked for.

    A series collected hourly for a year has ~9,000 versions of which a read needs the ~30 live
    ones and the last: :meth:`numbers` and :meth:`attributes` answer what a collapse fold needs
    (:func:`duckpond.tinyfs.collapse.fold_live`) without building the versions. A slice is a
    view (nothing decoded)."""

    __slots__ = ("_columns", "_items")

    def __init__(self, columns: _Columns, items: list[int | NodeVersion]) -> None:
        self._columns = columns
        #: a row of the partition's table, or a version added by this process
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> NodeVersion: ...

    @overload
    def __getitem__(self, index: slice) -> NodeHistory: ...

    def __getitem__(self, index: int | slice) -> NodeVersion | NodeHistory:
        if isinstance(index, slice):
            return NodeHistory(self._columns, self._items[index])
        item = self._items[index]
        if isinstance(item, int):
            return next(self._columns.decode((item,)))
        return item

    def __iter__(self) -> Iterator[NodeVersion]:
        rows = [i for i in self._items if isinstance(i, int)]
        decoded = dict(zip(rows, self._columns.decode(rows), strict=True))
        for item in self._items:
            yield decoded[item] if isinstance(item, int) else item

    def numbers(self) -> list[int]:
        """The version numbers, in order (nothing decoded)."""
        numbers = self._columns.column("version") if len(self._items) else []
        return [numbers[i] if isinstance(i, int) else i.version for i in self._items]

    def select(self, positions: Sequence[int]) -> list[NodeVersion]:
        """The versions at ``positions``, decoded in one call (past a few hundred rows, from
        whole converted columns)."""
        items = self._items
        rows = [i for i in (items[k] for k in positions) if isinstance(i, int)]
        decoded = dict(zip(rows, self._columns.decode(rows), strict=True))
        picked = (items[k] for k in positions)
        return [decoded[i] if isinstance(i, int) else i for i in picked]

    def fields(self, positions: Sequence[int], names: Sequence[str]) -> list[tuple[Any, ...]]:
        """Some fields of the versions at ``positions``, from whole converted columns (no
        version built: a lineage needs five fields of every leaf)."""
        items = self._items
        picked = [items[k] for k in positions]
        columns = self._columns
        if len(picked) <= _FIELDS_PER_ROW and any(n not in columns._cols for n in names):
            # a few versions (those appended since a remembered plan): value by value, no
            # column of the whole partition converted (nor a lazy one read whole)
            return [
                tuple([columns.value(n, i) for n in names])
                if isinstance(i, int)
                else tuple([getattr(i, n) for n in names])
                for i in picked
            ]
        cols = [columns.column(name) for name in names]
        if len(picked) > 1 and all(isinstance(i, int) for i in picked):
            get = operator.itemgetter(*picked)  # rows of the table: gathered at C speed
            return list(zip(*(get(col) for col in cols), strict=True))
        out = []
        for item in picked:
            if isinstance(item, int):
                out.append(tuple([col[item] for col in cols]))
            else:
                out.append(tuple([getattr(item, name) for name in names]))
        return out

    def superseded(self) -> set[int]:
        """The version numbers these versions supersede (nothing decoded but the distinct
        attribute texts)."""
        from duckpond.tinyfs.collapse import superseded_numbers

        rows: list[int] = []
        held: set[int] = set()
        for item in self._items:
            if isinstance(item, int):
                rows.append(item)
            else:
                held.update(superseded_numbers(item.extended_attributes))
        return held | self._columns.superseded(rows)

    def attributes(self) -> list[Mapping[str, Any]]:
        """The extended attributes of each version, in order (only the attribute texts are
        decoded, each distinct text once)."""
        items = self._items
        if all(isinstance(i, int) for i in items):
            return list(self._columns.attributes_of_rows(items))  # type: ignore[arg-type]
        attrs = self._columns.attributes
        return [attrs(i) if isinstance(i, int) else i.extended_attributes for i in items]

    def attributes_at(self, position: int) -> Mapping[str, Any]:
        """The extended attributes of the version at ``position`` (only its text parsed)."""
        item = self._items[position]
        return self._columns.attributes(item) if isinstance(item, int) else item.extended_attributes

    def plus(self, version: NodeVersion) -> NodeHistory:
        """A new history with ``version`` added (this one is unchanged: copies of a partition
        share it)."""
        items = self._items
        if items and _keys(self._columns, items[-1:])[0] < (version.version, version.txn_seq):
            return NodeHistory(self._columns, [*items, version])  # the usual case: the newest
        return NodeHistory(self._columns, _ordered(self._columns, [*items, version]))


def _keys(columns: _Columns, items: list[int | NodeVersion]) -> list[tuple[int, int]]:
    """(version, txn_seq) of each item."""
    numbers, seqs = columns.column("version"), columns.column("txn_seq")
    return [(numbers[i], seqs[i]) if isinstance(i, int) else (i.version, i.txn_seq) for i in items]


def _ordered(columns: _Columns, items: list[int | NodeVersion]) -> list[int | NodeVersion]:
    """``items`` by (version, txn_seq); rows usually come in that order already."""
    if len(items) > 1 and all(isinstance(i, int) for i in items):
        # rows alone (the usual case), compared at C speed: Delta compaction often writes a
        # node's rows newest first
        numbers = columns.column("version")
        found = [numbers[i] for i in items]  # type: ignore[index]
        if all(map(operator.lt, found, found[1:])):  # strictly increasing: in order
            return items
        if len(set(found)) == len(found):  # distinct numbers: the txn_seq never decides
            return sorted(items, key=numbers.__getitem__)  # type: ignore[arg-type]
    keys = _keys(columns, items)
    if all(a < b for a, b in itertools.pairwise(keys)):
        return items
    return [items[k] for k in sorted(range(len(items)), key=keys.__getitem__)]


class Partition(Mapping[str, NodeHistory]):
    """The versions of every node in one partition, read lazily from one Arrow table.

    Rows are indexed by node_id once (one column converted); a :class:`NodeVersion` is built
    only when asked for, so looking up one name in a directory of 10,000 files, or the live
    versions of a series with years of hourly versions, costs what is used. Versions added by
    this process (:meth:`add`) are kept beside the table.
    """

    def __init__(
        self, part_id: str, table: pa.Table | None, lazy: _LazyColumn | None = None
    ) -> None:
        self.part_id = part_id
        self._columns = _Columns(table, part_id, lazy)
        self._rows: dict[str, list[int]] | None = None
        self._lookups = 0
        self._extra: dict[str, list[NodeVersion]] = {}
        self._cache: dict[str, NodeHistory] = {}

    def _index(self) -> dict[str, list[int]]:
        if self._rows is None:
            codes, values = self._columns.codes("node_id")
            by_code: dict[int, list[int]] = {}
            for i, code in enumerate(codes):
                by_code.setdefault(code, []).append(i)
            rows: dict[str, list[int]] = {}
            for code, found in by_code.items():  # codes of later chunks come later
                rows.setdefault(values[code], []).extend(found)
            self._rows = rows
        return self._rows

    def _rows_of(self, node_id: str) -> list[int] | None:
        """The table rows of one node: a pass over the node-id codes for the first few nodes a
        process asks for (a read names two or three), an index of every node after that."""
        if self._rows is None and self._lookups < _LOOKUPS_BEFORE_INDEX:
            self._lookups += 1
            return self._columns.rows_of(node_id) or None
        return self._index().get(node_id)

    def __getitem__(self, node_id: str) -> NodeHistory:
        cached = self._cache.get(node_id)
        if cached is not None:
            return cached
        rows = self._rows_of(node_id)
        extra = self._extra.get(node_id)
        if rows is None and extra is None:
            raise KeyError(node_id)
        items: list[int | NodeVersion] = [*(rows or ()), *(extra or ())]
        history = NodeHistory(self._columns, _ordered(self._columns, items))
        self._cache[node_id] = history
        return history

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._index(), *self._extra]))

    def __len__(self) -> int:
        return len(set(self._index()) | set(self._extra))

    def add(self, version: NodeVersion) -> None:
        self._extra.setdefault(version.node_id, []).append(version)
        cached = self._cache.get(version.node_id)
        if cached is not None:
            # a new history: copies of this partition may share the old one (copy-on-write)
            self._cache[version.node_id] = cached.plus(version)

    def copy(self) -> Partition:
        """A partition that sees the same versions and takes more (:meth:`add`) without
        changing this one. The rows decoded so far are shared, not decoded again: a
        transaction's working copy of a partition costs what its changes cost, not its history."""
        other = Partition.__new__(Partition)
        other.part_id = self.part_id
        other._columns = self._columns
        other._rows = self._rows
        other._lookups = self._lookups
        other._extra = {k: list(v) for k, v in self._extra.items()}
        other._cache = dict(self._cache)  # histories are replaced, never changed in place
        return other


class DeltaPersistence:
    """The Delta Lake backend of tinyfs.

    Args:
        layout: the pond's layout (its ``data`` directory is the table).
        table: the loaded DeltaTable, or the snapshot its log states
            (:func:`duckpond.tlogfs.log.read_snapshot`: a reader then never imports deltalake;
            :attr:`table` loads it on first use).
        read_only: refuse :meth:`stage` and :meth:`put_blob`.
        as_of: read only the rows of this transaction and earlier ones (time travel: the current
            table filtered by txn_seq, so maintenance that removed old Delta files is harmless).
    """

    def __init__(
        self,
        layout: PondLayout,
        table: DeltaTable | Snapshot,
        *,
        read_only: bool = False,
        as_of: int | None = None,
    ) -> None:
        from duckpond.tinyfs.model import ROOT_ID

        self.root_id = ROOT_ID
        self.txn_seq = 0
        self.layout = layout
        self.table_path = layout.data
        self.large_dir = layout.large_files
        #: The table as deltalake loaded it (writers, maintenance), or None while this object
        #: reads only the :class:`~duckpond.tlogfs.log.Snapshot` it was given.
        self._table: DeltaTable | None = None if isinstance(table, Snapshot) else table
        self._snapshot: Snapshot | None = table if isinstance(table, Snapshot) else None
        #: Read the pond as of this transaction: rows of later transactions are left out.
        self.as_of = as_of
        self._full: dict[str, Partition] = {}
        #: Large files checked against their sha256 by this object, by (path, size, mtime ns):
        #: a file rewritten since (other size or mtime) is checked again.
        self._verified: set[tuple[str, int, int]] = set()
        self.read_only = read_only
        self._index: dict[str, list[str]] | None = None
        self._index_version = -1
        self._committed: dict[str, Partition] = {}
        self._merged: dict[str, Partition] = {}
        self._staged: list[NodeVersion] = []
        self._new_blobs: set[str] = set()

    # -- reading ---------------------------------------------------------------------------

    @property
    def table(self) -> DeltaTable:
        """The Delta table loaded by deltalake (at its latest version when first asked for here:
        what this object read from a snapshot is dropped if the table moved on since).

        Raises:
            InvalidData, NotAPond: as :func:`~duckpond.tlogfs.opening.open_table`.
        """
        if self._table is None:
            table = open_table(self.table_path, what="reading the pond")
            if self._snapshot is not None and table.version() != self._snapshot.version:
                self._drop_cached()
            self._table, self._snapshot = table, None
        return self._table

    def version(self) -> int:
        """The Delta version this object reads."""
        if self._snapshot is not None:
            return self._snapshot.version
        return int(self.table.version())

    def transaction_version(self, app_id: str) -> int | None:
        """The last version app ``app_id`` recorded in the table (``txn`` actions)."""
        if self._snapshot is not None:
            return self._snapshot.transaction_version(app_id)
        return self.table.transaction_version(app_id)

    def _file_index(self) -> dict[str, list[str]]:
        version = self.version()
        if self._index is None or self._index_version != version:
            base = str(self.table_path)
            index: dict[str, list[str]] = {}
            if self._snapshot is not None:
                for rel, values in self._snapshot.files:
                    part = values.get("part_id") or ""
                    index.setdefault(part, []).append(os.path.join(base, rel))  # noqa: PTH118
            else:
                actions = pa.table(self.table.get_add_actions(flatten=True))
                parts = actions.column("partition.part_id").to_pylist()
                for rel, part in zip(actions.column("path").to_pylist(), parts, strict=True):
                    index.setdefault(part, []).append(os.path.join(base, rel))  # noqa: PTH118
            self._index, self._index_version = index, version
        return self._index

    def _load(self, part_id: str, *, everything: bool = False) -> Partition:
        started = time.perf_counter()
        files = self._file_index().get(part_id, [])
        lazy = None
        if files and self.as_of is None:  # read as of now: no row filtered out
            tables = _read_parquet_tables(files, _EAGER_COLUMNS, DICTIONARY_COLUMNS)
            lazy = _LazyColumn(_LAZY_COLUMN, files, [t.num_rows for t in tables])
            table = _concat(tables)
        else:
            table = _read_parquet_files(files, _FILE_COLUMNS, DICTIONARY_COLUMNS) if files else None
        if table is not None and self.as_of is not None and not everything:
            import pyarrow.compute as pc

            table = table.filter(pc.less_equal(table.column("txn_seq"), self.as_of))
        _log.debug(
            "read partition part_id=%s files=%d rows=%d ms=%.1f",
            part_id,
            len(files),
            table.num_rows if table is not None else 0,
            (time.perf_counter() - started) * 1e3,
        )
        return Partition(part_id, table, lazy)

    def file_count(self, part_id: str) -> int:
        """Number of live Delta data files in partition ``part_id``."""
        return len(self._file_index().get(part_id, ()))

    def partition(self, part_id: str) -> Partition:
        merged = self._merged.get(part_id)
        if merged is not None:
            return merged
        committed = self._committed.get(part_id)
        if committed is None:
            committed = self._load(part_id)
            self._committed[part_id] = committed
        return committed

    def history(self, part_id: str) -> Partition:
        if self.as_of is None:
            return self.partition(part_id)
        full = self._full.get(part_id)
        if full is None:
            full = self._full[part_id] = self._load(part_id, everything=True)
        return full

    def all_versions(self) -> pa.Table:
        """Every committed row of the oplog (all partitions) as :data:`OPLOG_SCHEMA`."""
        index = self._file_index()
        tables = []
        for part_id, files in sorted(index.items()):
            t = _read_parquet_files(files, _FILE_COLUMNS)
            tables.append(t.add_column(0, "part_id", pa.array([part_id] * t.num_rows, pa.string())))
        if not tables:
            return OPLOG_SCHEMA.empty_table()
        return pa.concat_tables(tables).cast(OPLOG_SCHEMA)

    def referenced_hashes(self) -> set[str]:
        """sha256 of every large file some committed row refers to."""
        index = self._file_index()
        files = [f for fs in index.values() for f in fs]
        if not files:
            return set()
        t = _read_parquet_files(files, ["sha256", "content", "size"])
        import pyarrow.compute as pc

        mask = pc.and_(pc.is_null(t.column("content")), pc.is_valid(t.column("sha256")))
        return set(t.filter(mask).column("sha256").to_pylist())

    # -- blobs ------------------------------------------------------------------------------

    def large_path(self, sha256: str) -> Path:
        return self.layout.large_file(sha256)

    def put_blob(
        self, source: bytes | BinaryIO | Path | HashedFile, *, large: bool = False
    ) -> Blob:
        if self.read_only:
            raise ReadOnly("the pond is open read-only")
        if isinstance(source, bytes) and len(source) < INLINE_LIMIT and not large:
            return Blob(source, hashlib.sha256(source).hexdigest(), len(source))
        # a host failure here (disk full, quota) names the pond's large-file folder
        with translate_errors(str(self.large_dir), what="writing a large file"):
            return self._put_large(source, large)

    def _put_large(self, source: bytes | BinaryIO | Path | HashedFile, large: bool) -> Blob:
        self.large_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(source, HashedFile | Path):
            if isinstance(source, HashedFile):
                digest, size, source = source.sha256, source.size, source.path
            else:
                with open(source, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
                size = source.stat().st_size
            if size < INLINE_LIMIT and not large:
                return Blob(source.read_bytes(), digest, size)
            self._adopt(source, digest)
            return Blob(None, digest, size)
        fd, tmp = make_temp(self.large_dir)
        try:
            with os.fdopen(fd, "wb") as sink:
                sha, size, small = copy_hashing(source, sink)
            if small is not None and not large:
                return Blob(small, sha, size)
            self._adopt(Path(tmp), sha)
            return Blob(None, sha, size)
        finally:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()

    def _adopt(self, tmp: Path, sha: str) -> None:
        final = self.large_path(sha)
        if final.exists():
            tmp.unlink()
            return
        tmp.replace(final)
        _log.info("wrote large file sha256=%s bytes=%d", sha, final.stat().st_size)
        self._new_blobs.add(sha)
        st = final.stat()
        self._verified.add((str(final), st.st_size, st.st_mtime_ns))
        _set_stamp(final, f"{sha}:{st.st_size}:{st.st_mtime_ns}".encode())

    def has_blob(self, version: NodeVersion) -> bool:
        if version.content is not None:
            return True
        return version.sha256 is not None and self.large_path(version.sha256).exists()

    def blob_path(self, version: NodeVersion) -> str | None:
        if version.content is not None or version.sha256 is None:
            return None
        path = self.large_path(version.sha256)
        self._verify(version, path)
        return str(path)

    def open_blob(self, version: NodeVersion) -> BinaryIO:
        import io

        if version.content is not None:
            if version.sha256 and hashlib.sha256(version.content).hexdigest() != version.sha256:
                raise IntegrityError("inline content does not match its sha256", version.node_id)
            return io.BytesIO(version.content)
        if version.sha256 is None:
            raise NotFound("no content", version.node_id)
        path = self.large_path(version.sha256)
        self._verify(version, path)
        return open(path, "rb")

    def _verify(self, version: NodeVersion, path: Path) -> None:
        sha = version.sha256
        assert sha is not None
        try:
            st = path.stat()
        except FileNotFoundError:
            if self.as_of is not None:  # time travel to bytes a prune removed: gone, not corrupt
                raise NotFound(
                    f"version {version.version} (transaction {version.txn_seq}) is no longer "
                    "stored",
                    None,
                ) from None
            raise IntegrityError(f"large file {path.name} is missing", str(path)) from None
        if version.size is not None and st.st_size != version.size:
            raise IntegrityError(
                f"large file has {st.st_size} bytes, the oplog says {version.size}", str(path)
            )
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key in self._verified:
            return
        stamp = f"{sha}:{st.st_size}:{st.st_mtime_ns}".encode()
        if _get_stamp(path) == stamp:
            self._verified.add(key)
            return
        started = time.perf_counter()
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if digest != sha:
            raise IntegrityError("large file content does not match its sha256", str(path))
        self._verified.add(key)
        _set_stamp(path, stamp)
        _log.debug(
            "verified large file sha256=%s bytes=%d ms=%.1f",
            sha,
            st.st_size,
            (time.perf_counter() - started) * 1e3,
        )

    def verify_all(self) -> list[str]:
        """Hash every stored file version's bytes (inline and large) against its sha256.

        Ignores verification stamps. Returns one line per problem (missing or mismatching
        content); an empty list means everything matched. The large file of a series chunk that
        a collapse superseded may be gone (deleted after the retention: the collapse holds its
        rows): that is not a problem; if it is there, it is checked.
        """
        problems = []
        table = self.all_versions()
        held = held_by_collapse(table)
        cols = table.select(["node_id", "version", "content", "sha256", "size"]).to_pylist()
        checked: set[str] = set()
        for row in cols:
            sha = row["sha256"]
            if sha is None:
                continue
            if row["content"] is not None:
                if hashlib.sha256(row["content"]).hexdigest() != sha:
                    problems.append(
                        f"node {row['node_id']} v{row['version']}: inline content does not match"
                    )
                continue
            if sha in checked:
                continue
            path = self.large_path(sha)
            if not path.exists():
                if (row["node_id"], row["version"]) not in held:
                    checked.add(sha)
                    problems.append(f"{path.name}: missing")
                continue
            checked.add(sha)
            with open(path, "rb") as f:
                if hashlib.file_digest(f, "sha256").hexdigest() != sha:
                    problems.append(f"{path.name}: content does not match its sha256")
        return problems

    # -- staging and commit -----------------------------------------------------------------

    def begin(self, txn_seq: int) -> None:
        """Start staging versions for transaction ``txn_seq``."""
        if self.read_only:
            raise ReadOnly("the pond is open read-only", str(self.table_path))
        self.txn_seq = txn_seq
        self._staged.clear()
        self._merged.clear()
        self._new_blobs.clear()

    def stage(self, version: NodeVersion) -> None:
        if self.read_only:
            raise ReadOnly("the pond is open read-only")
        self._staged.append(version)
        merged = self._merged.get(version.part_id)
        if merged is None:
            merged = self.partition(version.part_id).copy()
            self._merged[version.part_id] = merged
        merged.add(version)

    @property
    def staged(self) -> list[NodeVersion]:
        return list(self._staged)

    def commit(self, metadata: Mapping[str, str]) -> int | None:
        """Write every staged version in ONE Delta commit (append) and return the new version.

        The commit carries ``metadata`` as custom commit info and ``Transaction(APP_ID,
        txn_seq)``, with no retries: if anyone else committed since the table was loaded, it
        fails with :class:`~duckpond.errors.ConflictError` and nothing is written.

        Returns:
            The Delta version written, or ``None`` if nothing was staged (no commit).
        """
        from deltalake import CommitProperties, Transaction, write_deltalake

        if not self._staged:
            return None
        started = time.perf_counter()
        table = versions_to_arrow(self._staged)
        props = CommitProperties(
            custom_metadata=dict(metadata),
            app_transactions=[Transaction(APP_ID, self.txn_seq)],
            max_commit_retries=0,
        )
        with translate_errors(str(self.table_path), what="commit"):
            write_deltalake(
                self.table, table, mode="append", partition_by=["part_id"], commit_properties=props
            )
        _log.info(
            "committed data version=%d txn_seq=%d rows=%d partitions=%d ms=%.1f",
            self.table.version(),
            self.txn_seq,
            table.num_rows,
            len(self._merged),
            (time.perf_counter() - started) * 1e3,
        )
        for part_id, merged in self._merged.items():
            self._committed[part_id] = merged
        self._merged.clear()
        self._staged.clear()
        self._new_blobs.clear()
        return self.table.version()

    def rollback(self) -> None:
        """Drop staged versions and delete the large files this transaction created."""
        for sha in self._new_blobs:
            with contextlib.suppress(FileNotFoundError):
                self.large_path(sha).unlink()
        self._new_blobs.clear()
        self._staged.clear()
        self._merged.clear()

    def refresh(self) -> None:
        """Load commits made by others since the table was loaded; drop stale caches. The first
        refresh of an object made from a snapshot loads the table with deltalake."""
        if self._table is None:
            self.table  # noqa: B018 (loads it)
            return
        before = self._table.version()
        update_table(self._table, self.table_path, what="reading the pond")
        if self._table.version() != before:
            self._drop_cached()

    def _drop_cached(self) -> None:
        self._committed.clear()
        self._full.clear()
        self._index = None


def held_by_collapse(table: pa.Table) -> set[tuple[str, int]]:
    """(node_id, version) of every series version a collapse in ``table`` (oplog rows) holds:
    its own chunk file may be gone (deleted after the retention), the collapse has its rows."""
    import pyarrow.compute as pc

    from duckpond.tinyfs import collapse

    series = table.filter(pc.equal(table.column("file_type"), "file:series"))
    by_node: dict[str, list[NodeVersion]] = {}
    for v in arrow_to_versions(series):
        by_node.setdefault(v.node_id, []).append(v)
    return {
        (node_id, number)
        for node_id, versions in by_node.items()
        for number in collapse.superseded_by(versions)
    }


def _get_stamp(path: Path) -> bytes | None:
    """The verification stamp of a large file, or ``None`` (none set, or no xattr support)."""
    getxattr = getattr(os, "getxattr", None)  # Linux only: macOS and Windows have none
    if getxattr is None:
        return None
    try:
        return getxattr(path, VERIFIED_XATTR)  # type: ignore[no-any-return]
    except OSError:  # no such attribute, or no xattr support on this filesystem: hash it
        return None


def _set_stamp(path: Path, stamp: bytes) -> None:
    """Record a verification stamp where the host supports user xattrs (else: nothing)."""
    setxattr = getattr(os, "setxattr", None)
    if setxattr is None:
        return
    try:
        setxattr(path, VERIFIED_XATTR, stamp)
    except OSError:  # read-only pond or no xattr support: the next process hashes again
        pass


def _read_parquet_files(
    files: list[str], columns: list[str], dictionary: Sequence[str] = ()
) -> pa.Table:
    """Read Delta data files with pyarrow's native filesystem (single-threaded per file);
    the ``dictionary`` columns as dictionary arrays."""
    return _concat(_read_parquet_tables(files, columns, dictionary))


def _read_parquet_tables(
    files: list[str], columns: list[str], dictionary: Sequence[str] = ()
) -> list[pa.Table]:
    """Each of ``files`` read as :func:`_read_parquet_files` reads them (a table per file)."""
    from duckpond.parquet import ParquetFile

    tables = []
    for f in files:
        with translate_errors(f, what="reading the oplog"):
            pf = ParquetFile(f, read_dictionary=dictionary or None)
            t = pf.read(columns=columns, use_threads=False)
        tables.append(t)
    return tables


def _concat(tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")
