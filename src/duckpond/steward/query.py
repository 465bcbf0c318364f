"""SQL over the pond with DataFusion (https://datafusion.apache.org/python/).

A table or series is registered as ``source``: each stored Parquet version that is a large file
is registered by its host path, so DataFusion reads it natively (projection, row-group pruning);
small inline versions are registered as Arrow batches; several versions are unioned with columns
aligned by name (missing ones null). The oplog is registered as ``oplog``: one row per node version
(:data:`~duckpond.tlogfs.delta.OPLOG_SCHEMA` without ``content``) plus a ``path`` column where the
node is reachable in the current tree. Times are timestamp[us, UTC].
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from duckpond import diagnostics
from duckpond.errors import InvalidData, QueryError, translate_errors
from duckpond.tinyfs.fs import NodePath
from duckpond.tinyfs.model import FILE_SERIES, FILE_TABLE

if TYPE_CHECKING:
    from datafusion import SessionContext

    from duckpond.steward.pond import Pond

_log = diagnostics.get_logger("sql")

__all__ = [
    "execute",
    "register_node",
    "register_table",
    "run_sql",
    "session",
    "sql_over_table",
]


def session() -> SessionContext:
    """A DataFusion session configured for pond queries (UTC, µs timestamps)."""
    from datafusion import SessionConfig, SessionContext

    config = SessionConfig().with_information_schema(True)
    return SessionContext(config)


def register_node(ctx: SessionContext, np: NodePath, name: str = "source") -> None:
    """Register the table or series at ``np`` in ``ctx`` under ``name``.

    Raises:
        InvalidData: the node is not a table or series.
    """
    import pyarrow.parquet as pq

    file_type = np.file_type
    if file_type not in {FILE_TABLE, FILE_SERIES}:
        raise InvalidData(f"is a {file_type}; SQL needs a table or series", np.path)
    if np.is_dynamic:
        register_table(ctx, name, np.read_table())
        return
    versions = np.versions() if file_type == FILE_SERIES else [np.latest()]
    sources = [np._opener(v) for v in versions]
    schemas = []
    for src in sources:
        if isinstance(src, str):
            schemas.append(pq.read_schema(src))
        else:
            schemas.append(pq.read_schema(pa.BufferReader(src.read())))
            src.seek(0)
    from duckpond.tinyfs.tables import merged_schema

    schema = merged_schema(schemas)
    parts: list[str] = []
    for i, (src, sch) in enumerate(zip(sources, schemas, strict=True)):
        part = f"__{name}_v{i}"
        if isinstance(src, str):
            ctx.register_parquet(part, src, file_extension="")
        else:
            register_table(ctx, part, pq.read_table(pa.BufferReader(src.read())))
        parts.append(_aligned_select(part, sch, schema))
    if len(parts) == 1 and schemas[0].remove_metadata() == schema:
        ctx.register_view(name, ctx.table(f"__{name}_v0"))
        return
    ctx.register_view(name, ctx.sql(" UNION ALL ".join(parts)))


def register_table(ctx: SessionContext, name: str, table: pa.Table) -> None:
    """Register an Arrow table in ``ctx`` (an empty one keeps its schema)."""
    batches = table.to_batches() or [pa.RecordBatch.from_pylist([], table.schema)]
    ctx.register_record_batches(name, [batches])


def _aligned_select(table: str, have: pa.Schema, want: pa.Schema) -> str:
    cols = []
    for f in want:
        q = _quote(f.name)
        if f.name in have.names:
            if have.field(f.name).type == f.type:
                cols.append(q)
            else:
                cols.append(f"CAST({q} AS {_sql_type(f.type)}) AS {q}")
        else:
            cols.append(f"CAST(NULL AS {_sql_type(f.type)}) AS {q}")
    return f"SELECT {', '.join(cols)} FROM {_quote(table)}"


def _sql_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"  # DataFusion keeps the unit/zone of a cast from a typed NULL poorly
    mapping: dict[Any, str] = {
        pa.float64(): "DOUBLE",
        pa.float32(): "FLOAT",
        pa.int64(): "BIGINT",
        pa.int32(): "INT",
        pa.string(): "VARCHAR",
        pa.large_string(): "VARCHAR",
        pa.bool_(): "BOOLEAN",
    }
    return mapping.get(t, "VARCHAR")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def run_sql(pond: Pond, query: str, path: str | None = None) -> pa.Table:
    """Run ``query``; ``path``'s table/series is ``source`` and the oplog is ``oplog``.

    Returns:
        The result as an Arrow table (timestamps as DataFusion returns them, normalized to µs
        where DataFusion produced ns, e.g. from ``date_bin``).

    Raises:
        QueryError: DataFusion rejected or failed the query (one line, with its cause).
        NotFound, InvalidData: ``path`` is missing or not a table/series.
    """
    ctx = session()
    if path is not None:
        register_node(ctx, pond.root().resolve(path))
    if "oplog" in query.lower():
        register_table(ctx, "oplog", pond.oplog().drop_columns(["content"]))
    return execute(ctx, query, path)


def sql_over_table(table: pa.Table, query: str, path: str | None = None) -> pa.Table:
    """Run ``query`` with the Arrow ``table`` registered as ``source`` (e.g. a CSV data file)."""
    ctx = session()
    register_table(ctx, "source", table)
    return execute(ctx, query, path)


def execute(ctx: SessionContext, query: str, path: str | None = None) -> pa.Table:
    """Run ``query`` in ``ctx``; nanosecond timestamps come back as µs.

    Raises:
        QueryError: DataFusion rejected or failed the query (one line naming ``path``).
    """
    started = time.perf_counter()
    with translate_errors(path, what="SQL"):
        try:
            result = ctx.sql(query).to_arrow_table()
        except Exception as exc:  # DataFusion raises bare Exception subclasses
            raise QueryError(_clean(str(exc)), path) from exc
    _log.info(
        "sql source=%s rows=%d ms=%.1f",
        path,
        result.num_rows,
        (time.perf_counter() - started) * 1e3,
    )
    return to_microseconds(result)


def to_microseconds(table: pa.Table) -> pa.Table:
    """Cast every nanosecond timestamp column to µs, keeping its zone (DESIGN.md time unit)."""
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
    line = " ".join(text.split())
    for marker in ("DataFusion error: ", "Error during planning: ", "Execution error: "):
        line = line.replace(marker, "")
    return line[:400]
