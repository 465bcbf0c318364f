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

import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from duckpond import diagnostics
from duckpond.errors import InvalidData, QueryError
from duckpond.tinyfs.tables import Chunk, conform, merged_schema

if TYPE_CHECKING:
    from datafusion import SessionContext, SQLOptions

    from duckpond.times import Window
    from duckpond.tinyfs.fs import NodePath

__all__ = [
    "Session",
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


class Session:
    """A DataFusion session for pond queries (with ``information_schema``).

    A query over tables in memory (a reduced series, a CSV file, the oplog) runs on DataFusion's
    native module (``datafusion._internal``) alone, loaded without the ``datafusion`` package:
    the package imports its Python API whole (functions, expressions, catalogs, and
    ``importlib.metadata`` for its version), ~22 ms of a new process here against ~6 ms for the
    native module, and such a query uses three of its methods, which the package's classes call
    as they are. The first call that needs more (Parquet files, views: :meth:`public`) wraps
    the same native context in the package's ``SessionContext``, as the package
    itself wraps one (``SessionContext.global_ctx``): the tables registered so far stay. When
    the package is already imported, or the native module cannot be loaded so (another
    DataFusion), the session is the package's from the start. ``tests/core/test_sql_tables.py``
    runs the same queries both ways in new processes.
    """

    def __init__(self) -> None:
        native = _native()
        self._module: Any = native  # kept: the package may be imported meanwhile
        self._native: Any = None
        self._public: SessionContext | None = None
        if native is not None:
            config = native.SessionConfig().with_information_schema(True)
            self._native = native.SessionContext(config, None)
        else:
            from datafusion import SessionConfig, SessionContext

            self._public = SessionContext(SessionConfig().with_information_schema(True))

    @property
    def native(self) -> bool:
        """Whether no call has needed the ``datafusion`` package yet."""
        return self._public is None

    def public(self) -> SessionContext:
        """The session as the ``datafusion`` package's ``SessionContext`` (imported now if it
        was not; the tables registered so far stay)."""
        if self._public is None:
            from datafusion import SessionContext

            ctx = SessionContext.__new__(SessionContext)
            ctx.ctx = self._native  # the package's own wrapping (SessionContext.global_ctx)
            self._public = ctx
        return self._public

    def register_record_batches(self, name: str, partitions: list[list[pa.RecordBatch]]) -> None:
        (self._native if self._public is None else self._public).register_record_batches(
            name, partitions
        )

    def query(self, query: str) -> pa.Table:
        """Run ``query`` read-only (:func:`read_only`) and collect the result.

        Raises:
            Exception: whatever DataFusion raises (:func:`execute` translates it).
        """
        if self._public is None:
            options = _refusing_writes(self._module.SQLOptions())
            return self._native.sql_with_options(query, options).to_arrow_table()
        result: pa.Table = self._public.sql_with_options(query, read_only()).to_arrow_table()
        return result


def session() -> Session:
    """A new :class:`Session`."""
    return Session()


#: DataFusion's native module, when it was loaded without the package (see :class:`Session`);
#: ``False``: not tried yet.
_NATIVE: Any = False


def _native() -> Any:
    """``datafusion._internal`` loaded alone, or ``None`` (the package is imported already, or
    the module cannot be found or loaded so). Registered as ``datafusion._internal`` in
    ``sys.modules``: an import of the package later uses this module (a native module is
    initialized once per process)."""
    global _NATIVE
    if "datafusion" in sys.modules:
        return None
    if _NATIVE is not False:
        return _NATIVE
    _NATIVE = None
    try:
        import importlib.machinery
        import importlib.util

        found = sys.modules.get("datafusion._internal")
        if found is None:
            spec = importlib.util.find_spec("datafusion")
            folders = list(spec.submodule_search_locations or ()) if spec is not None else []
            paths = [
                os.path.join(folder, "_internal" + suffix)  # noqa: PTH118
                for folder in folders
                for suffix in importlib.machinery.EXTENSION_SUFFIXES
            ]
            path = next((p for p in paths if os.path.isfile(p)), None)  # noqa: PTH113
            if path is None:
                return None
            loader = importlib.machinery.ExtensionFileLoader("datafusion._internal", path)
            native_spec = importlib.util.spec_from_file_location(
                "datafusion._internal", path, loader=loader
            )
            if native_spec is None:
                return None
            found = importlib.util.module_from_spec(native_spec)
            sys.modules["datafusion._internal"] = found
            try:
                loader.exec_module(found)
            except BaseException:
                del sys.modules["datafusion._internal"]  # the package loads it its own way
                raise
        for name in ("SessionContext", "SessionConfig", "SQLOptions"):
            getattr(found, name)
        _NATIVE = found
    except (ImportError, AttributeError, OSError, ValueError) as exc:
        _log.debug("datafusion's native module not loaded alone: %s", exc)
    return _NATIVE


def read_only() -> SQLOptions:
    """Options that refuse DDL, DML and statements: queries may only read."""
    from datafusion import SQLOptions

    result: SQLOptions = _refusing_writes(SQLOptions())
    return result


def _refusing_writes(options: Any) -> Any:
    """``options`` (the package's ``SQLOptions`` or the native module's: the same methods)
    refusing DDL, DML and statements."""
    return options.with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)


def quote(name: str) -> str:
    """A SQL identifier in double quotes (``"a.b"``; embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def ts_literal(us: int) -> str:
    """A SQL literal of type timestamp[us, UTC] for ``us`` µs since the epoch."""
    return f"arrow_cast({int(us)}, 'Timestamp(Microsecond, Some(\"UTC\"))')"


#: A table registered in many batches averaging fewer rows than this is combined first.
SMALL_BATCH_ROWS: Final = 8192


def register_table(ctx: Session | SessionContext, name: str, table: pa.Table) -> None:
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
    session: Session,
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
    ctx = session.public()
    hosts = [c.path for c in chunks if c.path is not None]
    memory = [c.table for c in chunks if c.table is not None]
    pieces: list[str] = []  # registered tables, each with exactly ``schema``
    if memory or not hosts:
        mem = pa.concat_tables([conform(t, schema) for t in memory]) if memory else None
        register_table(session, f"{name}\x1fm", mem if mem is not None else schema.empty_table())
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
    ctx: Session, name: str, node: NodePath, *, window: Window | None = None
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
    ctx: Session, name: str, nodes: Sequence[NodePath], *, window: Window | None = None
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
    ctx: Session | SessionContext, query: str, path: str | None = None, *, what: str = "SQL"
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
        if isinstance(ctx, Session):
            result = ctx.query(query)
        else:
            result = ctx.sql_with_options(query, read_only()).to_arrow_table()
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
