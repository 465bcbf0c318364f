"""SQL over the pond with DataFusion (https://datafusion.apache.org/python/): the one place that
sets up sessions, registers pond content as tables and runs queries.

Every query is read-only: DDL (``CREATE``), DML (``INSERT``, ``COPY ... TO``) and statements
(``SET``) are refused with :class:`~duckpond.errors.QueryError` before anything runs
(DataFusion ``SQLOptions``), whoever wrote the SQL (``pond cat --sql``, a stored ``sql-derived``
query, a library caller).

A table or series is registered as one table whose columns are its merged schema (columns missing
from a version are null; types promoted). A stored series is read as its chunks
(:meth:`duckpond.tinyfs.fs.NodePath.chunks`): large chunks are Parquet files that DataFusion reads
in place (projection, row-group pruning), small ones are Arrow batches in memory; a few chunks are
registered directly, many as one ``pyarrow.dataset`` union (one scan, however many chunks). Times
are ``timestamp[us, tz=UTC]``; results with nanosecond timestamps (``date_bin``) come back as µs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import pyarrow as pa

from duckpond import diagnostics
from duckpond.errors import InvalidData, QueryError
from duckpond.tinyfs.tables import Chunk, conform, merged_schema

if TYPE_CHECKING:
    from datafusion import SessionContext, SQLOptions

    from duckpond.times import Window
    from duckpond.tinyfs.fs import NodePath

__all__ = [
    "execute",
    "query_table",
    "quote",
    "read_only",
    "register_chunks",
    "register_node",
    "register_nodes",
    "register_table",
    "session",
    "to_microseconds",
    "ts_literal",
]

_log = diagnostics.get_logger("sql")

#: More host Parquet chunks than this are registered as one pyarrow dataset instead of a union of
#: native Parquet tables. Measured (DataFusion 55, a daily aggregate over 20,000-row chunks): the
#: union is faster up to ~200 chunks (25: 28 vs 38 ms; 64: 66 vs 87 ms; 200: 274 vs 257 ms), and
#: ``pyarrow.dataset`` costs a process ~40 ms to import. A collapsed series has a few dozen live
#: chunks (at most 15 per collapse level), so the union is the usual path.
DIRECT_CHUNKS: Final = 128


def session() -> SessionContext:
    """A DataFusion session for pond queries (with ``information_schema``)."""
    from datafusion import SessionConfig, SessionContext

    return SessionContext(SessionConfig().with_information_schema(True))


def read_only() -> SQLOptions:
    """Options that refuse DDL, DML and statements: queries may only read."""
    from datafusion import SQLOptions

    return SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)


def quote(name: str) -> str:
    """A SQL identifier in double quotes (``"a.b"``; embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def ts_literal(us: int) -> str:
    """A SQL literal of type timestamp[us, UTC] for ``us`` µs since the epoch."""
    return f"arrow_cast({int(us)}, 'Timestamp(Microsecond, Some(\"UTC\"))')"


#: A table registered in many batches averaging fewer rows than this is combined first.
SMALL_BATCH_ROWS: Final = 8192


def register_table(ctx: SessionContext, name: str, table: pa.Table) -> None:
    """Register an Arrow table in ``ctx`` (an empty one keeps its schema).

    A table of many small chunks (a reduced series: one per 16-day segment, 120 for five years
    of 1h rows) is combined into batches of up to 65,536 rows first: DataFusion's cost is per
    batch (measured: registering and querying the 120 chunks, 9-25 ms in a new process; the
    same rows combined, 7-10 ms with the copy)."""
    batches = table.to_batches()
    if len(batches) > 16 and table.num_rows < SMALL_BATCH_ROWS * len(batches):
        batches = table.combine_chunks().to_batches(max_chunksize=65_536)
    ctx.register_record_batches(name, [batches or [pa.RecordBatch.from_pylist([], table.schema)]])


def _window_sql(time_column: str | None, window: Window | None) -> str:
    if window is None or time_column is None or window.unbounded:
        return ""
    tc = quote(time_column)
    conds = []
    if window.start is not None:
        conds.append(f"{tc} >= {ts_literal(window.start)}")
    if window.end is not None:
        conds.append(f"{tc} < {ts_literal(window.end)}")
    return " WHERE " + " AND ".join(conds)


def register_chunks(
    ctx: SessionContext,
    name: str,
    chunks: Sequence[Chunk],
    schema: pa.Schema,
    *,
    time_column: str | None = None,
    window: Window | None = None,
) -> None:
    """Register ``chunks`` as one table ``name`` of ``schema``, rows within ``window`` only.

    Chunks whose event-time bounds miss ``window`` are skipped. In-memory chunks become one Arrow
    table; host Parquet chunks are read in place: directly when there are at most
    :data:`DIRECT_CHUNKS` and each has the merged schema, else as one ``pyarrow.dataset`` (one
    scan, columns aligned by pyarrow: missing ones null, types cast).
    """
    if window is not None:
        chunks = [c for c in chunks if window.overlaps(c.min_us, c.max_us)]
    where = _window_sql(time_column, window)
    hosts = [c.path for c in chunks if c.path is not None]
    memory = [c.table for c in chunks if c.table is not None]
    pieces: list[str] = []  # registered tables, each with exactly ``schema``
    if memory or not hosts:
        mem = pa.concat_tables([conform(t, schema) for t in memory]) if memory else None
        register_table(ctx, f"{name}\x1fm", mem if mem is not None else schema.empty_table())
        pieces.append(f"{name}\x1fm")
    same = all(c.schema == schema for c in chunks if c.path is not None)
    if hosts and (len(hosts) > DIRECT_CHUNKS or not same):
        # one scan; pyarrow aligns the files' columns to the merged schema (nulls, casts)
        import pyarrow.dataset as ds

        ctx.register_dataset(f"{name}\x1fd", ds.dataset(hosts, schema=schema, format="parquet"))
        pieces.append(f"{name}\x1fd")
    else:
        for i, path in enumerate(hosts):
            # each file's schema is ``schema`` (checked above): given, it is not read again
            ctx.register_parquet(f"{name}\x1f{i}", path, file_extension="", schema=schema)
            pieces.append(f"{name}\x1f{i}")
    if len(pieces) == 1 and not where:
        ctx.register_view(name, ctx.table(pieces[0]))
        return
    columns = ", ".join(quote(f.name) for f in schema)
    selects = [f"SELECT {columns} FROM {quote(p)}{where}" for p in pieces]
    ctx.register_view(name, ctx.sql(" UNION ALL ".join(selects)))


def register_node(
    ctx: SessionContext, name: str, node: NodePath, *, window: Window | None = None
) -> pa.Schema:
    """Register the table or series at ``node`` (stored or dynamic) as ``name``.

    Returns:
        The registered table's schema.

    Raises:
        InvalidData: the node is not a table or series; its versions cannot be merged.
    """
    if node.is_dynamic:
        table = node.read_table(window=window)
        register_table(ctx, name, table)
        return table.schema
    schema = node.schema()
    register_chunks(
        ctx, name, node.chunks(window=window), schema, time_column=node.time_column(), window=window
    )
    return schema


def register_nodes(
    ctx: SessionContext, name: str, nodes: Sequence[NodePath], *, window: Window | None = None
) -> pa.Schema:
    """Register the union of several tables/series (columns aligned by name) as ``name``.

    Returns:
        The merged schema.

    Raises:
        InvalidData: the nodes have incompatible column types (the message names them).
    """
    if len(nodes) == 1:
        return register_node(ctx, name, nodes[0], window=window)
    chunks: list[Chunk] = []
    schemas: list[pa.Schema] = []
    for node in nodes:
        if node.is_dynamic:
            table = node.read_table(window=window)
            chunks.append(Chunk(table.schema, table=table))
            schemas.append(table.schema)
        else:
            chunks.extend(node.chunks(window=window))
            schemas.append(node.schema())
    try:
        schema = merged_schema(schemas)
    except InvalidData as exc:
        paths = ", ".join(n.path for n in nodes)
        raise InvalidData(
            f"{name}: the matches ({paths}) have incompatible columns: {exc}"
        ) from exc
    time_columns = {n.time_column() for n in nodes} - {None}
    tc = time_columns.pop() if len(time_columns) == 1 else None
    # rows of a window: in-memory chunks of dynamic nodes are already filtered; filtering again
    # is harmless
    register_chunks(ctx, name, chunks, schema, time_column=tc, window=window if tc else None)
    return schema


def execute(
    ctx: SessionContext, query: str, path: str | None = None, *, what: str = "SQL"
) -> pa.Table:
    """Run the read-only ``query`` in ``ctx``; nanosecond timestamps come back as µs.

    Args:
        ctx: a session with the query's tables registered.
        query: the SQL text.
        path: the pond path errors name (the node queried or defined by the SQL).
        what: a prefix for error messages (``"SQL"``, ``"reduce"``).

    Raises:
        QueryError: DataFusion rejected or failed the query, or it would write (DDL, DML,
            ``SET``); one line naming ``path``.
    """
    started = time.perf_counter()
    prefix = f"{what}: " if what else ""
    try:
        df = ctx.sql_with_options(query, read_only())
        result = df.to_arrow_table()
    except Exception as exc:  # DataFusion raises ValueError/Exception for every SQL failure
        raise QueryError(prefix + _clean(str(exc)), path) from exc
    _log.info(
        "sql source=%s rows=%d ms=%.1f",
        path,
        result.num_rows,
        (time.perf_counter() - started) * 1e3,
    )
    return to_microseconds(result)


def query_table(table: pa.Table, query: str, path: str | None = None) -> pa.Table:
    """Run ``query`` with the Arrow ``table`` registered as ``source`` (e.g. a CSV data file).

    Raises:
        QueryError: as :func:`execute`.
    """
    ctx = session()
    register_table(ctx, "source", table)
    return execute(ctx, query, path)


def to_microseconds(table: pa.Table) -> pa.Table:
    """Cast every nanosecond timestamp column to µs, keeping its zone (the pond's time unit)."""
    fields = []
    changed = False
    for f in table.schema:
        if pa.types.is_timestamp(f.type) and f.type.unit == "ns":
            fields.append(f.with_type(pa.timestamp("us", tz=f.type.tz)))
            changed = True
        else:
            fields.append(f)
    return table.cast(pa.schema(fields)) if changed else table


def _clean(text: str) -> str:
    """DataFusion nests 'DataFusion error: Error during planning: ...'; keep the cause, one line."""
    line = " ".join(text.split())
    for marker in ("DataFusion error: ", "Error during planning: ", "Execution error: "):
        line = line.replace(marker, "")
    line = line.replace("DML not supported", "SQL is read-only here; DML not supported")
    line = line.replace("DDL not supported", "SQL is read-only here; DDL not supported")
    line = line.replace("Statement not supported", "SQL is read-only here; statement not supported")
    return line[:400]
