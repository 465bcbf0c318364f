"""``sql-derived``: a table or series defined by SQL over named glob patterns.

Config (YAML)::

    patterns:                 # table name in the query -> glob of tables/series
      raw: /raw/jfk.series
    query: |
      SELECT "Timestamp", "AirTemperature.C" * 1.8 + 32 AS "AirTemperature.F" FROM raw
    output: series            # series (default) or table
    time_column: Timestamp    # series only; default: detected (Timestamp, timestamp, time, ...)
    time_local: false         # true: each output row depends only on input rows at its time

Each pattern is one SQL table: the union of everything it matches, columns aligned by name (a
column missing from one match is null there; types are promoted). Matches can be stored tables and
series or other dynamic nodes, so derived nodes feed derived nodes. Pattern names are lower-case
SQL identifiers (``[a-z_][a-z0-9_]*``): DataFusion folds unquoted names to lower case.

A series output has its time column cast to ``timestamp[us, tz=UTC]``, is sorted by it (stable: a
query's own order is kept among equal times) and may not hold a null time
(:class:`~duckpond.errors.InvalidData` naming the row). If any pattern matches nothing, the result
is empty (a series: only its time column) and an
:class:`~duckpond.factories.base.EmptyInputWarning` says which pattern. SQL errors are
:class:`~duckpond.errors.QueryError` naming the node.

``time_local: true`` declares that the query is row-wise in time (selects, renames, arithmetic,
filters, joins on the time column; not window functions or aggregates across times). Reducers
downstream then recompute only the time window that new input versions touch.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pyarrow as pa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from duckpond import sql
from duckpond.errors import InvalidData
from duckpond.factories.base import FactoryNode, Match, match_inputs, warn_empty
from duckpond.factories.config import NonBlank
from duckpond.factories.registry import Factory
from duckpond.times import Window
from duckpond.timeseries import TIME_TYPE
from duckpond.tinyfs.lineage import Lineage
from duckpond.tinyfs.model import FILE_SERIES, FILE_TABLE
from duckpond.tinyfs.tables import filter_window

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import NodePath

__all__ = ["FACTORY", "SqlDerived", "SqlDerivedConfig"]

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


def _table_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(
            f"pattern name {name!r} must be a lower-case SQL name: a-z, 0-9, _ (not first digit)"
        )
    return name


TableName = Annotated[str, AfterValidator(_table_name)]


class SqlDerivedConfig(BaseModel):
    """Config of ``sql-derived`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    patterns: dict[TableName, NonBlank] = Field(min_length=1)
    query: NonBlank
    output: Literal["series", "table"] = "series"
    time_column: str | None = None
    time_local: bool = False


class SqlDerived(FactoryNode):
    """The dynamic file of a ``sql-derived`` node (presents as ``file:series`` or ``file:table``).

    The result is cached in this object, keyed by the lineage of its inputs.
    """

    config: SqlDerivedConfig

    def __init__(self, nodepath: NodePath, config: Any, raw: bytes) -> None:
        super().__init__(nodepath, config, raw, "sql-derived")
        self._cache: tuple[Lineage, pa.Table] | None = None

    @property
    def file_type(self) -> str:
        return FILE_SERIES if self.config.output == "series" else FILE_TABLE

    @property
    def time_column(self) -> str | None:
        """The output's time column (a series only): as configured, else detected on read."""
        if self.config.output != "series":
            return None
        if self.config.time_column:
            return self.config.time_column
        return _result_time_column(self.read_table().schema, None, self.path)

    def reset(self) -> None:
        self._cache = None

    # -- inputs ---------------------------------------------------------------------------

    def _inputs(self) -> tuple[dict[str, list[Match]], Lineage]:
        self.refresh_config()
        matches = {
            name: match_inputs(self.nodepath, pattern, what=f"patterns.{name}")
            for name, pattern in self.config.patterns.items()
        }
        parts = [(f"{name}\0{m.path}", m.lineage()) for name, ms in matches.items() for m in ms]
        lineage = Lineage.combine(self.own_key(), parts, time_local=self.config.time_local)
        return matches, lineage

    def lineage(self) -> Lineage:
        """What the result depends on (see :class:`~duckpond.factories.base.Lineage`)."""
        with self.computing():
            return self._inputs()[1]

    # -- reading --------------------------------------------------------------------------

    def read_table(self, window: Window | None = None) -> pa.Table:
        """Run the query (or return the cached result if no input changed).

        With ``window``, only rows with time in ``[start, end)``; computed from that window's
        inputs only when the node is ``time_local``.

        Raises:
            QueryError: the SQL is invalid, fails or would write. InvalidData: a series result
            without a usable time column or with a null time; inputs with incompatible columns;
            a cycle.
        """
        with self.computing():
            matches, lineage = self._inputs()
            cached = self._cache is not None and self._cache[0] == lineage
            if window is not None and not cached and self.config.time_local:
                return self._compute(matches, window)
            if self._cache is None or not cached:
                self._cache = (lineage, self._compute(matches, None))
            table = self._cache[1]
        if window is None:
            return table
        tc = self.time_column
        return filter_window(table, tc, window) if tc else table

    def _compute(self, matches: dict[str, list[Match]], window: Window | None) -> pa.Table:
        empty = [name for name, ms in matches.items() if not ms]
        if empty:
            for name in empty:
                warn_empty(self.path, f"pattern {name}", self.config.patterns[name])
            if self.config.output == "series":
                return pa.table({self.config.time_column or "Timestamp": pa.array([], TIME_TYPE)})
            return pa.table({})
        ctx = sql.session()
        for name, ms in matches.items():
            nodes = [m.nodepath for m in ms]
            sql.register_nodes(ctx, name, nodes, window=window if self.config.time_local else None)
        table = sql.execute(ctx, self.config.query, self.path)
        if self.config.output == "table":
            return table
        tc = _result_time_column(table.schema, self.config.time_column, self.path)
        # in time order (a query without ORDER BY has none: DataFusion reads chunks in parallel)
        table = _normalize(table, tc, self.path).sort_by(tc)
        if window is not None:
            table = filter_window(table, tc, window)
        return table


def _result_time_column(schema: pa.Schema, requested: str | None, path: str) -> str:
    from duckpond.timeseries import detect_time_column

    try:
        return detect_time_column(schema, requested)
    except InvalidData as exc:
        raise InvalidData(
            f"the query result has no usable time column: {exc.message}", path
        ) from None


def _normalize(table: pa.Table, tc: str, path: str) -> pa.Table:
    """Series time column -> timestamp[us, UTC], no nulls (an empty result is allowed)."""
    from duckpond.timeseries import normalize_series

    if table.num_rows == 0:
        i = table.schema.get_field_index(tc)
        col = table.column(i)
        if col.type != TIME_TYPE:
            try:
                col = col.cast(TIME_TYPE)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InvalidData(
                    f"time column {tc!r} of the query result has type {col.type}", path
                ) from exc
        return table.set_column(i, pa.field(tc, TIME_TYPE), col)
    try:
        return normalize_series(table, tc, path=path)[0]
    except InvalidData as exc:
        raise InvalidData(f"the query result is not a series: {exc.message}", path) from None


FACTORY = Factory(
    name="sql-derived",
    kind="file",
    description="a table or series computed by SQL over named glob patterns",
    config_model=SqlDerivedConfig,
    build=SqlDerived,
)
