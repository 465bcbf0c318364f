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
    "check_appendable",
    "check_columns",
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


def check_columns(schema: pa.Schema, path: str) -> None:
    """Refuse a table or series version that some reader could not show whole.

    Column names must be non-blank and unique (JSON output would drop a repeated one and SQL could
    not name it); columns must not be nested (struct, list, map, union): the pond's outputs (CSV,
    JSON, SQL through every read path, the site) are defined for flat columns only.

    Raises:
        InvalidData: naming ``path``, the column and its position (1-based).
    """
    seen: dict[str, int] = {}
    for i, f in enumerate(schema):
        if not f.name.strip():
            raise InvalidData(f"column {i + 1} has no name", path)
        if f.name in seen:
            raise InvalidData(
                f"column name {f.name!r} is repeated (columns {seen[f.name] + 1} and {i + 1})",
                path,
            )
        seen[f.name] = i
        if pa.types.is_nested(f.type):
            raise InvalidData(
                f"column {f.name!r} has the nested type {f.type}; tables and series hold flat "
                "columns only (numbers, text, booleans, times, binary)",
                path,
            )


def _family(t: pa.DataType) -> str:
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "text"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "binary"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.tz}]"
    if pa.types.is_dictionary(t):
        return _family(t.value_type)
    return str(t)


def check_appendable(series: pa.Schema, table: pa.Table, path: str) -> None:
    """Refuse a new series version whose columns cannot merge with the series' earlier versions.

    A series reads as the union of its versions, so a column shared with earlier versions must
    keep a type they merge with. Allowed: the same type; a column that is all null (type ``null``)
    on either side; numbers with numbers (integers and floats of any width merge to the wider
    type); text with text; binary with binary; timestamps of one time zone (any unit). Anything
    else, such as a ``double`` column arriving as ``string`` because one cell says ``ERR``, would
    make every later read of the series fail, so it is refused here, before anything is written.
    New columns (null in earlier versions) and missing ones (null in this version) are fine.

    Args:
        series: the merged schema of the earlier versions.
        table: the new version.
        path: the series, named in the error.

    Raises:
        InvalidData: naming the column, the first row (1-based) whose value does not fit the
            series' type (or the first row with a value), that value and both types.
    """
    for f in table.schema:
        if f.name not in series.names:
            continue
        old = series.field(f.name).type
        new = f.type
        if old == new or pa.types.is_null(old) or pa.types.is_null(new):
            continue
        if _family(old) == _family(new):
            try:
                merged_schema([pa.schema([pa.field(f.name, old)]), pa.schema([f])])
                continue
            except InvalidData:
                pass
        raise InvalidData(_misfit(table.column(f.name), f.name, old, new), path)
    merged_schema([series, table.schema])


def _misfit(column: pa.ChunkedArray, name: str, old: pa.DataType, new: pa.DataType) -> str:
    """The message for a column of type ``new`` that cannot join a series column of ``old``."""
    row = _first_misfit_row(column, old)
    text = ""
    if row is not None:
        shown = repr(column[row].as_py())
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        text = f" ({shown} at data row {row + 1})"
    hint = ""
    if _family(new) == "text" and _family(old) != "text":
        hint = "; if that text means a missing value, give it as a null value (--null-value)"
    return (
        f"cannot add these rows: column {name!r} holds {new}{text}, but the series' earlier "
        f"versions hold {old} there, and the two cannot be read as one column{hint}"
    )


def _first_misfit_row(column: pa.ChunkedArray, target: pa.DataType) -> int | None:
    """The first row whose value does not cast to ``target`` (bisection); if every value casts
    or the types do not cast at all, the first row with a value; None if all are null."""
    import pyarrow.compute as pc

    try:
        column.cast(target)
    except pa.ArrowInvalid:
        low, high = 0, len(column)
        while high - low > 1:
            middle = (low + high) // 2
            try:
                column.slice(low, middle - low).cast(target)
            except pa.ArrowInvalid:
                high = middle
            else:
                low = middle
        return low
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    valid = pc.invert(pc.is_null(column))
    return int(pc.index(valid, True).as_py()) if pc.any(valid).as_py() else None


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
