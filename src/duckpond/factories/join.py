"""``timeseries-join``: series outer-joined on time, grouped by scope (the PoC's Combine).

Config (YAML)::

    time_column: Timestamp        # the output's time column (default Timestamp)
    inputs:
      - pattern: /derived/B01*.series   # glob of series (or tables with a time column)
        scope: B01                      # output columns are "<scope>.<column>"
        start: 2016-03-01T00:00:00Z     # optional: only rows with time >= start
        end: 2017-01-01T00:00:00Z       # optional: only rows with time < end
      - pattern: /derived/JFK.series
        scope: JFK

Semantics:

- Within a scope, every match of every input with that scope is one timeline: rows are grouped by
  time and each column takes the last non-null value at that time, "last" in config order, then in
  match order (so a later input overrides an earlier one where both have a value).
- Scopes are full-outer-joined on time: the output has one row per time at which any scope has a
  row, the time column is the coalesced time (never null), sorted ascending.
- Value columns are renamed ``<scope>.<column>`` (``B01`` + ``WaterTemperature.C`` ->
  ``B01.WaterTemperature.C``) and keep their types (promoted across matches of a scope).

Output schema: ``<time_column>: timestamp[us, tz=UTC]`` then, per scope in order of first
appearance, its columns in order of first appearance.

Errors (:class:`~duckpond.errors.InvalidData`, naming the node): an input without a time column
(a table with none, a data file), two scopes producing the same output name (``A`` + ``x.y`` and
``A.x`` + ``y``), an output name equal to the time column. A pattern matching nothing is said with
an :class:`~duckpond.factories.base.EmptyInputWarning`; its scope contributes no columns.

The join is time-local (rows at time t come only from input rows at time t), so reducers over it
update incrementally, and :meth:`TimeseriesJoin.read_window` reads only the inputs' versions that
overlap the window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import pyarrow as pa
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from duckpond import sql
from duckpond.errors import InvalidData
from duckpond.factories.base import FactoryNode, Match, warn_empty
from duckpond.factories.config import NonBlank
from duckpond.factories.registry import Factory
from duckpond.sql import quote, register_table
from duckpond.times import Window, parse_time
from duckpond.timeseries import TIME_TYPE
from duckpond.tinyfs.lineage import Lineage
from duckpond.tinyfs.model import FILE_SERIES
from duckpond.tinyfs.tables import filter_window

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import NodePath

__all__ = ["FACTORY", "JoinConfig", "JoinInput", "TimeseriesJoin"]


TimeUs = Annotated[int, BeforeValidator(parse_time)]


class JoinInput(BaseModel):
    """One input of a join: a glob, its scope and an optional half-open time range."""

    model_config = ConfigDict(extra="forbid")

    pattern: NonBlank
    scope: NonBlank
    start: TimeUs | None = None
    end: TimeUs | None = None

    @model_validator(mode="after")
    def _range(self) -> JoinInput:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class JoinConfig(BaseModel):
    """Config of ``timeseries-join`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[JoinInput] = Field(min_length=1)
    time_column: NonBlank = "Timestamp"


def _intersect(a: Window | None, b: Window | None) -> Window | None:
    """The overlap of two windows (``None``: unbounded)."""
    if a is None:
        return b
    if b is None:
        return a
    starts = [x for x in (a.start, b.start) if x is not None]
    ends = [x for x in (a.end, b.end) if x is not None]
    return Window(max(starts) if starts else None, min(ends) if ends else None)


class TimeseriesJoin(FactoryNode):
    """The dynamic series of a ``timeseries-join`` node; the result is cached by lineage."""

    config: JoinConfig
    file_type = FILE_SERIES

    def __init__(self, nodepath: NodePath, config: Any, raw: bytes) -> None:
        super().__init__(nodepath, config, raw, "timeseries-join")
        self._cache: tuple[Lineage, pa.Table] | None = None

    @property
    def time_column(self) -> str:
        return self.config.time_column

    def reset(self) -> None:
        self._cache = None

    def _inputs(self) -> tuple[list[list[Match]], Lineage]:
        from duckpond.factories.base import match_inputs

        self.refresh_config()
        matches = [
            match_inputs(self.nodepath, inp.pattern, what=f"inputs[{i}].pattern")
            for i, inp in enumerate(self.config.inputs)
        ]
        parts = [(f"{i}\0{m.path}", m.lineage()) for i, ms in enumerate(matches) for m in ms]
        return matches, Lineage.combine(self.own_key(), parts, time_local=True)

    def lineage(self) -> Lineage:
        """What the result depends on (see :class:`~duckpond.factories.base.Lineage`)."""
        with self.computing():
            return self._inputs()[1]

    def read_table(self, window: Window | None = None) -> pa.Table:
        """The joined series (cached while no input changes); with ``window``, only rows with
        time in ``[start, end)``, reading only the input versions that overlap it.

        Raises:
            InvalidData: see the module docstring. QueryError: DataFusion failed.
        """
        with self.computing():
            matches, lineage = self._inputs()
            cached = self._cache is not None and self._cache[0] == lineage
            if window is not None and not cached:
                return self._compute(matches, window)
            if self._cache is None or not cached:
                self._cache = (lineage, self._compute(matches, None))
            table = self._cache[1]
        return table if window is None else filter_window(table, self.time_column, window)

    def _compute(self, matches: list[list[Match]], window: Window | None) -> pa.Table:
        out_tc = self.config.time_column
        inputs: list[tuple[str, pa.Table, str]] = []  # (scope, table, time column)
        out_cols: dict[str, tuple[str, str, pa.DataType]] = {}  # output -> (scope, column, type)
        for i, (inp, ms) in enumerate(zip(self.config.inputs, matches, strict=True)):
            if not ms:
                warn_empty(self.path, f"inputs[{i}].pattern", inp.pattern)
                continue
            rng = None
            if inp.start is not None or inp.end is not None:
                rng = Window(inp.start, inp.end)
            eff = _intersect(rng, window)
            for m in ms:
                table, tc = self._read_input(m, i, eff)
                for c in table.column_names:
                    if c != tc:
                        self._add_output(out_cols, inp.scope, c, table.schema.field(c).type)
                inputs.append((inp.scope, table, tc))
        if not inputs:
            return pa.table({out_tc: pa.array([], TIME_TYPE)})
        names = list(out_cols)
        index = {(out_cols[n][0], out_cols[n][1]): k for k, n in enumerate(names)}
        ctx = sql.session()
        selects = []
        for prio, (scope, table, tc) in enumerate(inputs):
            name = f"__in{prio}"
            exprs = [f"{quote(tc)} AS __t", f"{prio} AS __p"]
            cast = {}
            for c in table.column_names:
                if c != tc:
                    k = index[(scope, c)]
                    typ = out_cols[names[k]][2]
                    cast[c] = table.column(c) if table.schema.field(c).type == typ else None
                    if cast[c] is None:
                        cast[c] = table.column(c).cast(typ)
            have = {index[(scope, c)]: c for c in cast}
            columns = [table.column(tc), *cast.values()]
            register_table(ctx, name, pa.table(columns, names=[tc, *cast]))
            for k in range(len(names)):
                col = quote(have[k]) if k in have else "NULL"
                exprs.append(f"{col} AS __c{k}")
            selects.append(f"SELECT {', '.join(exprs)} FROM {quote(name)}")
        aggs = [
            f"last_value(__c{k} IGNORE NULLS ORDER BY __p) AS {quote(n)}"
            for k, n in enumerate(names)
        ]
        query = (
            f"SELECT __t AS {quote(out_tc)}{''.join(', ' + a for a in aggs)} "
            f"FROM ({' UNION ALL '.join(selects)}) GROUP BY __t ORDER BY __t"
        )
        result = sql.execute(ctx, query, self.path, what="join")
        return _cast_columns(result, out_tc, {n: out_cols[n][2] for n in names})

    def _add_output(
        self,
        out_cols: dict[str, tuple[str, str, pa.DataType]],
        scope: str,
        column: str,
        typ: pa.DataType,
    ) -> None:
        """Record the output column ``<scope>.<column>`` (its type promoted across matches).

        Raises:
            InvalidData: two scopes make the same output name, or it is the time column.
        """
        out = f"{scope}.{column}"
        prev = out_cols.get(out)
        if prev is not None and (prev[0], prev[1]) != (scope, column):
            raise InvalidData(
                f"duplicate output column {out!r}: from scope {prev[0]!r} column "
                f"{prev[1]!r} and from scope {scope!r} column {column!r}",
                self.path,
            )
        if out == self.config.time_column:
            raise InvalidData(
                f"output column {out!r} (scope {scope!r}) is the time column", self.path
            )
        if prev is not None and prev[2] != typ:
            typ = _promote(prev[2], typ, out, self.path)
        out_cols[out] = (scope, column, typ)

    def _read_input(self, m: Match, i: int, window: Window | None) -> tuple[pa.Table, str]:
        from duckpond.timeseries import detect_time_column, normalize_series

        tc = m.time_column
        if tc is None:
            schema = m.schema()
            try:
                tc = detect_time_column(schema)
            except InvalidData as exc:
                raise InvalidData(
                    f"inputs[{i}]: {m.path} has no time column ({exc.message})", self.path
                ) from None
        if (
            window is not None
            and window.start is not None
            and window.end is not None
            and window.start >= window.end
        ):
            table = m.schema().empty_table()
        else:
            table = m.read(window if m.time_column is not None else None)
        if table.num_rows and table.schema.field(tc).type != TIME_TYPE:
            table = normalize_series(table, tc, path=m.path)[0]
        elif table.schema.field(tc).type != TIME_TYPE:
            table = table.set_column(
                table.schema.get_field_index(tc), pa.field(tc, TIME_TYPE), pa.array([], TIME_TYPE)
            )
        if m.time_column is None and window is not None:
            table = filter_window(table, tc, window)
        if table.column(tc).null_count:
            raise InvalidData(f"inputs[{i}]: {m.path} has null times in {tc!r}", self.path)
        return table, tc


def _promote(a: pa.DataType, b: pa.DataType, name: str, path: str) -> pa.DataType:
    try:
        return (
            pa.unify_schemas(
                [pa.schema([("x", a)]), pa.schema([("x", b)])], promote_options="permissive"
            )
            .field("x")
            .type
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidData(f"column {name!r} has incompatible types {a} and {b}", path) from exc


def _cast_columns(table: pa.Table, tc: str, types: dict[str, pa.DataType]) -> pa.Table:
    fields = [pa.field(tc, TIME_TYPE)] + [pa.field(n, types[n]) for n in table.column_names[1:]]
    schema = pa.schema(fields)
    if table.schema == schema:
        return table
    return table.cast(schema)


FACTORY = Factory(
    name="timeseries-join",
    kind="file",
    description="series outer-joined on time by scope; columns renamed <scope>.<column>",
    config_model=JoinConfig,
    build=TimeseriesJoin,
)
