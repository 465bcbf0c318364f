"""Parquet content of ``file:table`` and ``file:series`` versions.

A table version is one Parquet file. A series is many versions, each a Parquet chunk; reading a
series is the union of its versions with their schemas merged (columns missing from a chunk are
null), pruned by each version's min/max event time when the read bounds time (DESIGN.md).
Times are ``timestamp[us, tz=UTC]``; bounds are integer µs since the epoch, UTC.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from duckpond.errors import InvalidData
from duckpond.tinyfs.model import NodeVersion

__all__ = [
    "TimeRange",
    "check_parquet",
    "conform",
    "filter_time",
    "merged_schema",
    "overlaps",
    "parquet_bytes",
    "read_versions",
]

#: Closed interval of event times, µs since the epoch UTC; ``None`` on a side means unbounded.
TimeRange = tuple[int | None, int | None]

Opener = Callable[[NodeVersion], "str | BinaryIO"]


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
        raise InvalidData(f"not a valid Parquet file ({_first_line(exc)})", path) from exc


def parquet_bytes(table: pa.Table) -> bytes:
    """Serialize a table as Parquet bytes (pyarrow's defaults: snappy)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def overlaps(version: NodeVersion, time_range: TimeRange | None) -> bool:
    """Whether a series version may hold rows in ``time_range`` (by its min/max event time)."""
    if time_range is None or version.min_event_time is None or version.max_event_time is None:
        return True
    start, end = time_range
    if start is not None and version.max_event_time < start:
        return False
    return not (end is not None and version.min_event_time > end)


def filter_time(table: pa.Table, time_column: str, time_range: TimeRange | None) -> pa.Table:
    """Rows of ``table`` whose time is within the closed ``time_range``."""
    if time_range is None or (time_range[0] is None and time_range[1] is None):
        return table
    import pyarrow.compute as pc

    col = table.column(time_column)
    mask = None
    start, end = time_range
    if start is not None:
        mask = pc.greater_equal(col, pa.scalar(start, pa.timestamp("us", "UTC")))
    if end is not None:
        upper = pc.less_equal(col, pa.scalar(end, pa.timestamp("us", "UTC")))
        mask = upper if mask is None else pc.and_(mask, upper)
    return table.filter(mask)


def _source(opener: Opener, version: NodeVersion) -> Any:
    src = opener(version)
    if isinstance(src, str):
        return src
    if isinstance(src, io.BytesIO):
        return pa.BufferReader(src.getvalue())
    return src


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
        raise InvalidData(
            f"series versions have incompatible schemas ({_first_line(exc)})"
        ) from exc


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


def read_versions(
    versions: Sequence[NodeVersion],
    opener: Opener,
    *,
    time_column: str | None = None,
    time_range: TimeRange | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Union of the Parquet content of ``versions`` as one table (schemas merged).

    Args:
        versions: file versions to read, in order.
        opener: gives a host path or a binary stream of a version's bytes.
        time_column: the series' time column (needed when ``time_range`` is given).
        time_range: keep only rows in this closed µs interval; versions outside it are skipped.
        columns: project to these columns (the time column is always kept for filtering).
    """
    chosen = [v for v in versions if overlaps(v, time_range)]
    tables = []
    for v in chosen:
        want = None
        if columns is not None:
            want = list(dict.fromkeys([*(columns or []), *([time_column] if time_column else [])]))
            schema = pq.read_schema(_source(opener, v))
            want = [c for c in want if c in schema.names]
        t = pq.read_table(_source(opener, v), columns=want)
        if time_column and time_range is not None:
            t = filter_time(t, time_column, time_range)
        tables.append(t)
    if not tables:
        if not versions:
            return pa.table({})
        schema = merged_schema([pq.read_schema(_source(opener, v)) for v in versions])
        return schema.empty_table()
    schema = merged_schema([t.schema for t in tables])
    if len(tables) == 1:
        return conform(tables[0], schema)
    return pa.concat_tables([conform(t, schema) for t in tables])


def iter_version_batches(
    versions: Sequence[NodeVersion],
    opener: Opener,
    *,
    batch_size: int = 65536,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Streaming form of :func:`read_versions`: the merged schema and an iterator of batches."""
    schemas = [pq.read_schema(_source(opener, v)) for v in versions]
    schema = merged_schema(schemas) if schemas else pa.schema([])

    def batches() -> Iterator[pa.RecordBatch]:
        for v in versions:
            pf = pq.ParquetFile(_source(opener, v))
            for batch in pf.iter_batches(batch_size=batch_size):
                yield (
                    conform(pa.Table.from_batches([batch]), schema).combine_chunks().to_batches()[0]
                )

    return schema, batches()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
