"""Parquet content of ``file:table`` and ``file:series`` versions.

A table version is one Parquet file. A series is many versions, each a Parquet chunk; reading a
series is the union of its versions with their schemas merged (columns missing from a chunk are
null), pruned by each version's min/max event time when the read is given a time window
(half-open ``[start, end)``, :class:`duckpond.times.Window`). Times are
``timestamp[us, tz=UTC]``; bounds are integer µs since the epoch, UTC.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

import pyarrow as pa

from duckpond.errors import InvalidData, first_line
from duckpond.parquet import ParquetFile, read_metadata
from duckpond.times import Window

__all__ = [
    "Chunk",
    "check_appendable",
    "check_columns",
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
        return ParquetFile(self.path).read(want).replace_schema_metadata(None)


def check_parquet(source: bytes | BinaryIO | str, path: str) -> Any:
    """Return the Parquet footer of ``source`` (``pyarrow.parquet.FileMetaData``) or raise
    :class:`InvalidData` naming ``path``."""
    try:
        if isinstance(source, bytes):
            if len(source) < 12 or source[:4] != b"PAR1" or source[-4:] != b"PAR1":
                raise InvalidData("not a Parquet file (no PAR1 magic)", path)
            return read_metadata(pa.BufferReader(source))
        return read_metadata(source)
    except InvalidData:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise InvalidData(f"not a valid Parquet file ({first_line(exc)})", path) from exc


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


def check_appendable(
    series: pa.Schema,
    table: pa.Table,
    path: str,
    read_column: Callable[[str], pa.ChunkedArray] | None = None,
) -> None:
    """Refuse a new series version whose columns cannot merge with the series' earlier versions.

    A series reads as the union of its versions, each column cast to the type that merges all of
    theirs (``pyarrow.unify_schemas``, permissive). A new version must keep every read working,
    so for each column it shares with the earlier versions:

    - the types must be of one family: the same type, or ``null`` on either side (a column that
      was all empty), numbers with numbers (integers and floats), text with text, binary with
      binary, timestamps with timestamps of the same zone. A ``double`` column arriving as
      ``string`` because one cell says ``ERR`` is refused here, not found broken by every later
      read;
    - every value must keep its value in the merged type: a new integer beyond 2**53 cannot join
      a ``double`` column, and when the merged type changes (the first ``double`` version of an
      integer column), the earlier versions' values are read (``read_column``) and checked too.

    New columns (null in earlier versions) and missing ones (null in this version) are fine.

    Args:
        series: the merged schema of the earlier versions.
        table: the new version.
        path: the series, named in the error.
        read_column: the earlier versions' values of a column (read only when its merged type
            changes); ``None``: that check is skipped.

    Raises:
        InvalidData: naming the column, the first row (1-based) whose value does not fit, that
            value and both types.
    """
    for f in table.schema:
        if f.name not in series.names:
            continue
        old = series.field(f.name).type
        new = f.type
        if old == new or pa.types.is_null(old) or pa.types.is_null(new):
            continue
        merged = None
        if _family(old) == _family(new):
            try:
                one = merged_schema([pa.schema([pa.field(f.name, old)]), pa.schema([f])])
                merged = one.field(f.name).type
            except InvalidData:
                pass
        column = table.column(f.name)
        if merged is None or (
            merged != new and _first_misfit_row(column, merged, strict=True) is not None
        ):
            raise InvalidData(_misfit(column, f.name, old, new, merged), path)
        if merged != old and read_column is not None:
            earlier = read_column(f.name)
            row = _first_misfit_row(earlier, merged, strict=True)
            if row is not None:
                raise InvalidData(
                    f"cannot add these rows: column {f.name!r} holds {new}, which makes the "
                    f"series' column {merged}, but the earlier versions hold "
                    f"{earlier[row].as_py()!r} ({old}) there, which {merged} cannot hold exactly",
                    path,
                )
    merged_schema([series, table.schema])


def _misfit(
    column: pa.ChunkedArray,
    name: str,
    old: pa.DataType,
    new: pa.DataType,
    merged: pa.DataType | None,
) -> str:
    """The message for a column of type ``new`` that cannot join a series column of ``old``."""
    row = _first_misfit_row(column, merged or old)
    text = ""
    if row is not None:
        shown = repr(column[row].as_py())
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        text = f" ({shown} at data row {row + 1})"
    hint = ""
    if _family(new) == "text" and _family(old) != "text":
        hint = "; if that text means a missing value, give it as a null value (--null-value)"
    if merged is not None:
        return (
            f"cannot add these rows: column {name!r} holds {new}{text}, a value the series' "
            f"column ({merged}, merging its earlier versions' {old}) cannot hold exactly"
        )
    return (
        f"cannot add these rows: column {name!r} holds {new}{text}, but the series' earlier "
        f"versions hold {old} there, and the two cannot be read as one column{hint}"
    )


def _first_misfit_row(
    column: pa.ChunkedArray, target: pa.DataType, *, strict: bool = False
) -> int | None:
    """The first row whose value does not cast (safely) to ``target``, by bisection. If every
    value casts, or the types do not cast at all: with ``strict`` None (resp. 0, the types
    cannot cast), else the first row with a value (None if all are null)."""
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
        if strict:
            return 0
    else:
        if strict:
            return None
    valid = pc.invert(pc.is_null(column))
    return int(pc.index(valid, True).as_py()) if pc.any(valid).as_py() else None


def parquet_bytes(table: pa.Table) -> bytes:
    """Serialize a table as Parquet bytes (pyarrow's defaults: snappy)."""
    import pyarrow.parquet as pq

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


#: Extended attribute of a table/series version: :func:`schema_id` of its chunk's schema, so a
#: reader knows which versions share a schema without reading their footers (versions written
#: before it was recorded have none and are read).
SCHEMA_ID: Final = "schema_id"


def schema_id(schema: pa.Schema) -> str:
    """A short id of an Arrow schema (fields, types, field metadata; schema metadata left out):
    64 bits of the sha256 of its IPC serialization."""
    return hashlib.sha256(schema.remove_metadata().serialize().to_pybytes()).hexdigest()[:16]


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
            batches = ParquetFile(p.path).iter_batches(batch_size)
        for batch in batches:
            yield conform(pa.Table.from_batches([batch]), schema).combine_chunks().to_batches()[0]
