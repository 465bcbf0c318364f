"""Parquet content of ``file:table`` and ``file:series`` versions.

A table version is one Parquet file. A series is many versions, each a Parquet chunk; reading a
series is the union of its versions with their schemas merged (columns missing from a chunk are
null), pruned by each version's min/max event time when the read is given a time window
(half-open ``[start, end)``, :class:`duckpond.times.Window`). Times are
``timestamp[us, tz=UTC]``; bounds are integer µs since the epoch, UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from duckpond.errors import InvalidData, first_line
from duckpond.times import Window

__all__ = [
    "Chunk",
    "check_parquet",
    "conform",
    "filter_window",
    "iter_chunks",
    "merged_schema",
    "parquet_bytes",
    "read_chunks",
]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a table or series: a host Parquet file (read in place) or an Arrow table.

    Attributes:
        schema: the piece's own schema (without metadata).
        path: a host Parquet file, or ``None``.
        table: the rows in memory, or ``None``.
        min_us, max_us: its event-time bounds (µs, UTC), ``None`` when unknown.
    """

    schema: pa.Schema
    path: str | None = None
    table: pa.Table | None = None
    min_us: int | None = None
    max_us: int | None = None

    def read(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The piece as Arrow (only ``columns`` it has, if given)."""
        if self.table is not None:
            t = self.table
            return t if columns is None else t.select([c for c in columns if c in t.column_names])
        assert self.path is not None
        want = None if columns is None else [c for c in columns if c in self.schema.names]
        return pq.ParquetFile(self.path).read(columns=want).replace_schema_metadata(None)


def check_parquet(source: bytes | BinaryIO | str, path: str) -> pq.FileMetaData:
    """Return the Parquet footer of ``source`` or raise :class:`InvalidData` naming ``path``."""
    try:
        if isinstance(source, bytes):
            if len(source) < 12 or source[:4] != b"PAR1" or source[-4:] != b"PAR1":
                raise InvalidData("not a Parquet file (no PAR1 magic)", path)
            return pq.read_metadata(pa.BufferReader(source))
        return pq.read_metadata(source)
    except InvalidData:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise InvalidData(f"not a valid Parquet file ({first_line(exc)})", path) from exc


def parquet_bytes(table: pa.Table) -> bytes:
    """Serialize a table as Parquet bytes (pyarrow's defaults: snappy)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def filter_window(table: pa.Table, time_column: str, window: Window | None) -> pa.Table:
    """Rows of ``table`` with ``window.start <= time < window.end`` (all rows if no window)."""
    if window is None or window.unbounded:
        return table
    import pyarrow.compute as pc

    tt = pa.timestamp("us", "UTC")
    col = table.column(time_column)
    if col.type != tt:
        col = col.cast(tt)
    mask = None
    if window.start is not None:
        mask = pc.greater_equal(col, pa.scalar(window.start, tt))
    if window.end is not None:
        upper = pc.less(col, pa.scalar(window.end, tt))
        mask = upper if mask is None else pc.and_(mask, upper)
    return table.filter(mask)


def merged_schema(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """Union of schemas by column name (first-seen order); types promoted where they differ.

    Raises:
        InvalidData: two versions hold the same column with incompatible types.
    """
    if len(schemas) == 1:
        return schemas[0].remove_metadata()
    try:
        return pa.unify_schemas(
            [s.remove_metadata() for s in schemas], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidData(f"series versions have incompatible schemas ({first_line(exc)})") from exc


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns (missing ones null, types cast)."""
    if table.schema.remove_metadata() == schema:
        return table.replace_schema_metadata(None)
    columns = []
    for f in schema:
        if f.name in table.column_names:
            columns.append(table.column(f.name).cast(f.type))
        else:
            columns.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def read_chunks(
    chunks: Sequence[Chunk],
    schema: pa.Schema,
    *,
    time_column: str | None = None,
    window: Window | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """The union of ``chunks`` as one table of ``schema`` (columns aligned by name).

    Args:
        chunks: the pieces, in order.
        schema: their merged schema (:func:`merged_schema`).
        time_column: needed when ``window`` is given.
        window: keep only rows with time in ``[start, end)``; chunks outside it are skipped.
        columns: project to these columns (in ``schema`` order).
    """
    want = schema
    if columns is not None:
        keep = set(columns)
        want = pa.schema([f for f in schema if f.name in keep])
    read_cols = list(want.names)
    if window is not None and time_column is not None and time_column not in read_cols:
        read_cols.append(time_column)
    tables = []
    for p in chunks:
        if window is not None and not window.overlaps(p.min_us, p.max_us):
            continue
        t = p.read(read_cols)
        if window is not None and time_column is not None:
            t = filter_window(t, time_column, window)
        tables.append(conform(t, want))
    if not tables:
        return want.empty_table()
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def iter_chunks(
    chunks: Sequence[Chunk], schema: pa.Schema, *, batch_size: int = 65536
) -> Iterator[pa.RecordBatch]:
    """Stream the union of ``chunks`` as record batches of ``schema`` (never whole in memory)."""
    for p in chunks:
        if p.table is not None:
            batches = p.table.to_batches(max_chunksize=batch_size)
        else:
            assert p.path is not None
            batches = pq.ParquetFile(p.path).iter_batches(batch_size=batch_size)
        for batch in batches:
            yield conform(pa.Table.from_batches([batch]), schema).combine_chunks().to_batches()[0]
