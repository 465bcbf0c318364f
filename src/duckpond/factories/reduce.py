"""``temporal-reduce``: downsampled series at several resolutions (the PoC's Reduce).

Config (YAML)::

    input: /combined/all.series       # glob of series; several matches are unioned by column
    resolutions: [1h, 2h, 4h, 12h, 24h]   # <n>s|m|h|d, names kept as written
    aggregations: [avg, min, max]     # default; also count
    columns: [B01.WaterTemperature.C] # default: every numeric column but the time column
    time_column: Timestamp            # of the outputs (default Timestamp)

The node is a directory with one child per resolution, ``res=<R>.series`` (``res=1h.series``).
Each output row is one bucket ``[start, start + R)`` with ``start`` a multiple of ``R`` since
1970-01-01T00:00:00Z (DataFusion ``date_bin`` with the epoch as origin; ``date_trunc`` would ignore
the multiplier), labelled by its start. Only buckets holding at least one input row appear, so
gaps in the data give no rows, not rows of nulls.

Output schema per resolution::

    <time_column>          timestamp[us, tz=UTC]   bucket start, ascending, unique
    <column>.avg           float64                 mean of the non-null values (null if none)
    <column>.min           float64                 smallest non-null value (null if none)
    <column>.max           float64                 largest non-null value (null if none)
    <column>.count         int64                   number of non-null values (0 if none)

for each input column in input order, aggregations in config order. Values are read as float64;
NaN counts as missing (null), like an empty CSV cell. Every row of every version of the input
counts: versions may arrive out of order and overlap in time (duplicate times are two samples).

How it is computed (and kept up to date)
    The input is aggregated once, at the base width ``g`` = gcd of the resolutions, into partial
    aggregates per bucket and column (sum, non-null count, min, max) by one DataFusion query that
    reads large Parquet versions in place. Every resolution is a multiple of ``g``, so each is an
    exact roll-up of the partials (sum of sums, sum of counts, min of mins, max of maxes) — one
    pass over the raw data for all resolutions. The partials are kept in the node's object (one
    per process and pond), keyed by the input's :class:`~duckpond.factories.base.Lineage`:

    - nothing changed: outputs are served from memory;
    - stored series gained versions: only the new versions are aggregated, and their partials are
      merged in (sums and counts add, mins and maxes combine), exact whatever their time range;
    - a time-local dynamic input (``timeseries-join``, ``sql-derived`` with ``time_local``) over
      stored series that gained versions: only the base buckets inside the new versions' event
      time span are recomputed, from a read of that window;
    - anything else (a config changed, a version disappeared, a foreign input): full recompute.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from duckpond import sql
from duckpond.errors import InvalidData
from duckpond.factories.base import FactoryNode, Match, NonBlank, match_inputs, warn_empty
from duckpond.factories.registry import Factory
from duckpond.sql import quote, register_table, ts_literal
from duckpond.times import Window, parse_resolution
from duckpond.timeseries import TIME_TYPE
from duckpond.tinyfs.lineage import Lineage, added_window
from duckpond.tinyfs.model import FILE_SERIES
from duckpond.tinyfs.tables import Chunk

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import NodePath

__all__ = ["FACTORY", "ReduceConfig", "ReduceDir", "ReducedSeries"]

Aggregation = Literal["avg", "min", "max", "count"]
_SEP = "\x1f"  # separates a column name from its partial statistic in internal names
_STATS = ("sum", "count", "min", "max")


def _resolution(text: str) -> str:
    parse_resolution(text)
    return text.strip()


Resolution = Annotated[str, AfterValidator(_resolution)]


class ReduceConfig(BaseModel):
    """Config of ``temporal-reduce`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    input: NonBlank
    resolutions: list[Resolution] = Field(min_length=1)
    aggregations: list[Aggregation] = Field(default=["avg", "min", "max"], min_length=1)
    columns: list[NonBlank] | None = Field(default=None, min_length=1)
    time_column: NonBlank = "Timestamp"
    _seconds: dict[str, int] | None = PrivateAttr(default=None)

    @field_validator("resolutions")
    @classmethod
    def _distinct_resolutions(cls, value: list[str]) -> list[str]:
        seen: dict[int, str] = {}
        for i, r in enumerate(value):
            s = parse_resolution(r)
            if s in seen:
                raise ValueError(
                    f"resolutions[{i}] {r!r} repeats {seen[s]!r} ({s} s): output names must differ"
                )
            seen[s] = r
        return value

    @field_validator("aggregations", "columns")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for i, v in enumerate(value):
                if v in value[:i]:
                    raise ValueError(f"[{i}] {v!r} is listed twice")
        return value

    def seconds(self) -> dict[str, int]:
        """Resolution name -> width in seconds."""
        if self._seconds is None:
            self._seconds = {r: parse_resolution(r) for r in self.resolutions}
        return self._seconds


# --------------------------------------------------------------------------------------------
# Partial aggregates
# --------------------------------------------------------------------------------------------


def _floor(values: pa.Array | pa.ChunkedArray, width: int) -> Any:
    """Floor int64 µs to a multiple of ``width`` (correct below zero too)."""
    q = pc.multiply(pc.divide(values, width), width)  # integer division truncates toward zero
    return pc.if_else(pc.greater(q, values), pc.subtract(q, width), q)


def _stats_needed(aggs: Sequence[str]) -> tuple[str, ...]:
    need = set()
    for a in aggs:
        need |= {"avg": {"sum", "count"}, "count": {"count"}, "min": {"min"}, "max": {"max"}}[a]
    return tuple(s for s in _STATS if s in need)


def _combine(
    partials: pa.Table, width: int | None, stats: tuple[str, ...], keys: tuple[str, ...] = ()
) -> pa.Table:
    """Merge partial rows of the same bucket (``width``: roll up to that many µs first).

    ``keys`` are extra grouping columns (kept in the result, after ``__b``).
    """
    if width is not None:
        partials = partials.set_column(0, "__b", _floor(partials.column("__b"), width))
    aggs = []
    for name in partials.column_names[1:]:
        if name in keys:
            continue
        stat = name.rsplit(_SEP, 1)[1]
        aggs.append((name, {"sum": "sum", "count": "sum", "min": "min", "max": "max"}[stat]))
    grouped = partials.group_by(["__b", *keys], use_threads=False).aggregate(aggs)
    # pyarrow names the results "<column>_<function>" and puts the keys last
    out = {"__b": grouped.column("__b")}
    for k in keys:
        out[k] = grouped.column(k)
    for name, func in aggs:
        out[name] = grouped.column(f"{name}_{func}")
    return pa.table(out)


def _splice(old: pa.Table, fresh: pa.Table, lo: int, hi: int) -> pa.Table:
    """``old`` (sorted by its first column) with rows in ``[lo, hi)`` replaced by ``fresh``."""
    t = old.column(0)
    if old.num_rows == 0 or pc.less(pc.max(t), pa.scalar(lo, t.type)).as_py():
        return _concat_sorted(old, fresh.cast(old.schema))  # the usual append at the end
    keep = old.filter(
        pc.or_(pc.less(t, pa.scalar(lo, t.type)), pc.greater_equal(t, pa.scalar(hi, t.type)))
    )
    if fresh.num_rows == 0:
        return keep
    return _concat_sorted(keep, fresh.cast(keep.schema))


def _concat_sorted(a: pa.Table, b: pa.Table) -> pa.Table:
    """Two tables sorted by their first column, as one sorted table."""
    if a.num_rows == 0:
        return b
    if b.num_rows == 0:
        return a
    if pc.less(pc.max(a.column(0)), pc.min(b.column(0))).as_py():
        out = pa.concat_tables([a, b])  # the usual case, an append at the end: still sorted
    else:
        out = pa.concat_tables([a, b]).sort_by(a.schema.names[0])
    # each update adds chunks; many small chunks make every later operation slower
    return out.combine_chunks() if out.column(0).num_chunks > 16 else out


def _align(tables: list[pa.Table]) -> list[pa.Table]:
    names: dict[str, pa.DataType] = {}
    for t in tables:
        for f in t.schema:
            names.setdefault(f.name, f.type)
    out = []
    for t in tables:
        cols = [
            t.column(n) if n in t.column_names else pa.nulls(t.num_rows, typ)
            for n, typ in names.items()
        ]
        out.append(pa.table(cols, names=list(names)))
    return out


def _empty_partials(columns: list[str], stats: tuple[str, ...]) -> pa.Table:
    fields = [pa.field("__b", pa.int64())]
    for c in columns:
        for s in stats:
            fields.append(pa.field(f"{c}{_SEP}{s}", pa.int64() if s == "count" else pa.float64()))
    return pa.schema(fields).empty_table()


@dataclass
class _Source:
    part: Chunk
    time_column: str


#: Inputs up to this many bytes (Parquet file sizes plus in-memory Arrow sizes) are aggregated
#: with pyarrow in process; larger ones by DataFusion (multi-threaded, reading Parquet in place).
#: Both compute the same thing; DataFusion's fixed cost (~5 ms a query) matters for small updates.
ARROW_ENGINE_MAX_BYTES = 32 << 20


def _compute_partials(
    sources: list[_Source],
    columns: list[str],
    base_s: int,
    stats: tuple[str, ...],
    window: Window | None,
    path: str,
) -> pa.Table:
    """Partial statistics per base bucket (``__b``, µs) and column, unordered."""
    if not sources or not columns:
        return _empty_partials(columns, stats)
    size = 0
    for src in sources:
        if src.part.path is not None:
            size += os.path.getsize(src.part.path)  # noqa: PTH202 - a plain host path
        elif src.part.table is not None:
            size += src.part.table.nbytes
    if size <= ARROW_ENGINE_MAX_BYTES:
        return _partials_arrow(sources, columns, base_s, stats, window)
    return _partials_datafusion(sources, columns, base_s, stats, window, path)


def _partials_arrow(
    sources: list[_Source],
    columns: list[str],
    base_s: int,
    stats: tuple[str, ...],
    window: Window | None,
) -> pa.Table:
    """:func:`_compute_partials` with pyarrow (small inputs): same buckets, NaN as null."""
    import pyarrow.parquet as pq

    from duckpond.tinyfs.tables import filter_window

    width = base_s * 1_000_000
    pieces = []
    for src in sources:
        present = [c for c in columns if c in src.part.schema.names]
        if src.part.table is not None:
            t = src.part.table.select([src.time_column, *present])
        else:
            t = pq.read_table(src.part.path, columns=[src.time_column, *present])
        if window is not None:
            t = filter_window(t, src.time_column, window)
        ts = t.column(src.time_column)
        if ts.type != TIME_TYPE:
            ts = ts.cast(TIME_TYPE)
        arrays: dict[str, Any] = {"__b": _floor(ts.cast(pa.int64()), width)}
        for k, c in enumerate(columns):
            if c in present:
                v = t.column(c).cast(pa.float64())
                if pa.types.is_floating(t.schema.field(c).type):
                    v = pc.if_else(pc.is_nan(v), pa.scalar(None, pa.float64()), v)
            else:
                v = pa.nulls(t.num_rows, pa.float64())
            arrays[f"__v{k}"] = v
        pieces.append(pa.table(arrays))
    table = pa.concat_tables(pieces)
    aggs = [(f"__v{k}", s if s != "count" else "count") for k in range(len(columns)) for s in stats]
    grouped = table.group_by("__b", use_threads=False).aggregate(aggs)
    out: dict[str, Any] = {"__b": grouped.column("__b")}
    for k, c in enumerate(columns):
        for s in stats:
            out[f"{c}{_SEP}{s}"] = grouped.column(f"__v{k}_{s}")
    return pa.table(out).cast(_empty_partials(columns, stats).schema)


def _partials_datafusion(
    sources: list[_Source],
    columns: list[str],
    base_s: int,
    stats: tuple[str, ...],
    window: Window | None,
    path: str,
) -> pa.Table:
    """:func:`_compute_partials` in one DataFusion pass (``date_bin`` with the epoch origin)."""
    ctx = sql.session()
    selects = []
    for i, src in enumerate(sources):
        name = f"__p{i}"
        if src.part.path is not None:
            ctx.register_parquet(name, src.part.path, file_extension="")
        else:
            assert src.part.table is not None
            register_table(ctx, name, src.part.table)
        tc = quote(src.time_column)
        exprs = [f"{tc} AS __t"]
        for k, c in enumerate(columns):
            if c in src.part.schema.names:
                typ = src.part.schema.field(c).type
                v = f"CAST({quote(c)} AS DOUBLE)"
                if pa.types.is_floating(typ):
                    v = f"nanvl({v}, NULL)"
                exprs.append(f"{v} AS __v{k}")
            else:
                exprs.append(f"CAST(NULL AS DOUBLE) AS __v{k}")
        where = ""
        if window is not None:
            lo, hi = window
            assert lo is not None and hi is not None
            where = f" WHERE {tc} >= {ts_literal(lo)} AND {tc} < {ts_literal(hi)}"
        selects.append(f"SELECT {', '.join(exprs)} FROM {quote(name)}{where}")
    sql_stat = {"sum": "sum", "count": "count", "min": "min", "max": "max"}
    aggs = [
        f"{sql_stat[s]}(__v{k}) AS {quote(f'{c}{_SEP}{s}')}"
        for k, c in enumerate(columns)
        for s in stats
    ]
    query = (
        f"SELECT arrow_cast(date_bin(INTERVAL '{base_s} seconds', __t, "
        f"TIMESTAMP '1970-01-01T00:00:00Z'), 'Int64') AS __b, {', '.join(aggs)} "
        f"FROM ({' UNION ALL '.join(selects)}) GROUP BY 1"
    )
    result = sql.execute(ctx, query, path, what="reduce")
    # date_bin returns nanoseconds: back to µs (bucket starts are whole seconds, so exact)
    b = pc.divide(result.column(0), 1000)
    result = result.set_column(0, "__b", b)
    schema = _empty_partials(columns, stats).schema
    return result.cast(schema)


# --------------------------------------------------------------------------------------------
# The state kept per node
# --------------------------------------------------------------------------------------------


@dataclass
class _State:
    lineage: Lineage
    columns: list[str]
    seen: frozenset[str]  # every input column name seen (numeric or not)
    partials: pa.Table  # sorted by __b
    outputs: dict[str, pa.Table] = field(default_factory=dict)


@dataclass
class ReduceStats:
    """How reads were served (for tests and benchmarks): counts per path taken."""

    full: int = 0
    merged: int = 0
    windowed: int = 0
    cached: int = 0


class ReduceDir(FactoryNode):
    """The dynamic directory of a ``temporal-reduce`` node: ``res=<R>.series`` children."""

    config: ReduceConfig

    def __init__(self, nodepath: NodePath, config: Any, raw: bytes) -> None:
        super().__init__(nodepath, config, raw, "temporal-reduce")
        self._state: _State | None = None
        self._children: dict[str, ReducedSeries] = {}
        self.stats = ReduceStats()

    def reset(self) -> None:
        self._state = None
        self._children = {}

    def entries(self) -> list[tuple[str, ReducedSeries]]:
        """``(res=<R>.series, child)`` per configured resolution, in config order."""
        self.refresh_config()
        out = []
        for r in self.config.resolutions:
            child = self._children.get(r)
            if child is None:
                child = self._children[r] = ReducedSeries(self, r)
            out.append((f"res={r}.series", child))
        return out

    @property
    def base_seconds(self) -> int:
        return math.gcd(*self.config.seconds().values())

    # -- lineage and update ----------------------------------------------------------------

    def _inputs(self) -> tuple[list[Match], Lineage]:
        self.refresh_config()
        matches = match_inputs(self.nodepath, self.config.input, what="input")
        parts = [(m.path, m.lineage()) for m in matches]
        return matches, Lineage.combine(self.own_key(), parts, time_local=True)

    def lineage(self) -> Lineage:
        with self.computing():
            return self._inputs()[1]

    def result(self, resolution: str) -> pa.Table:
        """The output table of one resolution (see the module docstring for the schema).

        Raises:
            InvalidData: a configured column is missing or not numeric; the input has no time
                column; inputs form a cycle. QueryError: DataFusion failed.
        """
        with self.computing():
            state = self._update()
            out = state.outputs.get(resolution)
            if out is None:
                out = self._output(state, resolution)
                state.outputs[resolution] = out
            return out

    def _update(self) -> _State:
        matches, lineage = self._inputs()
        st = self._state
        if st is not None and st.lineage == lineage:
            self.stats.cached += 1
            return st
        if not matches:
            warn_empty(self.path, "input", self.config.input)
        if st is not None:
            ext = added_window(st.lineage, lineage)
            if ext is not None:
                added, window = ext
                new = None
                if all(m.stored for m in matches):
                    new = self._merge(st, matches, added, lineage)
                    if new is not None:
                        self.stats.merged += 1
                elif window is not None and lineage.time_local:
                    new = self._windowed(st, matches, window, lineage)
                    if new is not None:
                        self.stats.windowed += 1
                if new is not None:
                    self._state = new
                    return new
        self.stats.full += 1
        sources, schema_names, columns = self._prepare(matches, None, None)
        stats = _stats_needed(self.config.aggregations)
        partials = _compute_partials(
            sources, columns, self.base_seconds, stats, None, self.path
        ).sort_by("__b")
        self._state = _State(lineage, columns, frozenset(schema_names), partials)
        return self._state

    def _prepare(
        self,
        matches: list[Match],
        window: Window | None,
        versions: dict[str, set[tuple[int, str | None]]] | None,
    ) -> tuple[list[_Source], list[str], list[str]]:
        # a partial update (versions or window given) sees only part of the input: configured
        # columns it lacks are simply absent there, not an error
        """Sources to aggregate, all column names seen and the columns to reduce."""
        from duckpond.tinyfs.tables import merged_schema

        sources: list[_Source] = []
        schemas: list[pa.Schema] = []
        time_columns: set[str] = set()
        for m in matches:
            if m.stored:
                chosen = m.versions
                if versions is not None:  # appended versions, live or held by a collapse
                    keep = versions.get(m.nodepath.node.node_id, set())
                    history = m.nodepath.versions()
                    chosen = tuple(v for v in history if (v.version, v.sha256) in keep)
                    if not chosen:
                        continue
                tc = m.time_column or self._detect_tc(m)
                for chunk in m.chunks(window, chosen):
                    sources.append(_Source(chunk, tc))
                    schemas.append(chunk.schema)
            else:
                table = m.read(window)
                tc = m.time_column or self._detect_tc(m, table.schema)
                sources.append(_Source(Chunk(table.schema, table=table), tc))
                schemas.append(table.schema)
            time_columns.add(tc)
        schema = merged_schema(schemas) if schemas else pa.schema([])
        partial = versions is not None or window is not None
        return sources, list(schema.names), self._columns(schema, time_columns, partial=partial)

    def _detect_tc(self, m: Match, schema: pa.Schema | None = None) -> str:
        from duckpond.timeseries import detect_time_column

        try:
            return detect_time_column(schema if schema is not None else m.schema())
        except InvalidData as exc:
            raise InvalidData(
                f"input: {m.path} has no time column ({exc.message})", self.path
            ) from None

    def _columns(
        self, schema: pa.Schema, time_columns: set[str], *, partial: bool = False
    ) -> list[str]:
        if self.config.columns is None:
            return [f.name for f in schema if f.name not in time_columns and _numeric(f.type)]
        if partial:
            return [c for c in self.config.columns if c in schema.names]
        if not schema.names:
            return list(self.config.columns)
        for i, c in enumerate(self.config.columns):
            if c not in schema.names:
                shown = ", ".join(n for n in schema.names if n not in time_columns)
                raise InvalidData(
                    f"columns[{i}]: {c!r} is not a column of the input (columns: {shown})",
                    self.path,
                )
            typ = schema.field(c).type
            if not (
                pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ)
            ):
                raise InvalidData(f"columns[{i}]: {c!r} is {typ}, not numeric", self.path)
        return list(self.config.columns)

    def _extend_columns(self, st: _State, names: list[str], columns: list[str]) -> list[str] | None:
        """The state's columns plus new ones, or None if a known column changed kind."""
        out = list(st.columns)
        for c in columns:
            if c not in st.columns:
                if c in st.seen:
                    return None  # was there but not reduced (e.g. its type changed): recompute
                out.append(c)
        return out

    def _merge(
        self, st: _State, matches: list[Match], added: frozenset[Any], lineage: Lineage
    ) -> _State | None:
        """Aggregate only the added stored versions and merge their partials in (exact)."""
        wanted: dict[str, set[tuple[int, str | None]]] = {}
        for leaf in added:
            wanted.setdefault(leaf.node_id, set()).add((leaf.version, leaf.sha256))
        sources, names, columns = self._prepare(matches, None, wanted)
        all_columns = self._extend_columns(st, names, columns)
        if all_columns is None:
            return None
        stats = _stats_needed(self.config.aggregations)
        new = _compute_partials(sources, columns, self.base_seconds, stats, None, self.path)
        if new.num_rows == 0:
            return _State(lineage, st.columns, st.seen | frozenset(names), st.partials, st.outputs)
        old = st.partials
        new = _order(new, all_columns, stats)
        touched = pc.is_in(old.column("__b"), value_set=new.column("__b"))
        if pc.any(touched).as_py():
            # only the buckets that got new rows are combined; the rest are carried over
            both = pa.concat_tables(_align([old.filter(touched), new]))
            new = _order(_combine(both, None, stats), all_columns, stats)
            old = old.filter(pc.invert(touched))
        new = new.sort_by("__b")
        old = _order(old, all_columns, stats)
        merged = _concat_sorted(old, new)
        bounds = pc.min_max(new.column("__b"))
        changed = Window(
            bounds["min"].as_py(), bounds["max"].as_py() + self.base_seconds * 1_000_000
        )
        return self._patched(st, lineage, all_columns, names, merged, changed)

    def _windowed(
        self, st: _State, matches: list[Match], window: Window, lineage: Lineage
    ) -> _State | None:
        """Recompute the base buckets covering ``window`` from a read of that window only."""
        g = self.base_seconds * 1_000_000
        assert window.start is not None and window.end is not None
        lo = window.start - (window.start % g)
        hi = window.end + (-window.end % g)
        sources, names, columns = self._prepare(matches, Window(lo, hi), None)
        all_columns = self._extend_columns(st, names, columns)
        if all_columns is None:
            return None
        stats = _stats_needed(self.config.aggregations)
        new = _compute_partials(
            sources, columns, self.base_seconds, stats, Window(lo, hi), self.path
        )
        b = st.partials.column("__b")
        keep = st.partials.filter(pc.or_(pc.less(b, lo), pc.greater_equal(b, hi)))
        merged = pa.concat_tables(_align([keep, new]))
        merged = _order(merged, all_columns, stats).sort_by("__b")
        return self._patched(st, lineage, all_columns, names, merged, Window(lo, hi))

    def _patched(
        self,
        st: _State,
        lineage: Lineage,
        columns: list[str],
        names: list[str],
        partials: pa.Table,
        changed: Window,
    ) -> _State:
        """The new state; outputs already computed are patched in the changed span only."""
        new = _State(lineage, columns, st.seen | frozenset(names), partials)
        if columns != st.columns:
            return new  # the output schema changed: outputs are rebuilt when read
        if not st.outputs:
            return new
        stats = _stats_needed(self.config.aggregations)
        res_list = list(st.outputs)
        widths = [self.config.seconds()[r] * 1_000_000 for r in res_list]
        assert changed.start is not None and changed.end is not None
        c_lo, c_hi = changed.start, changed.end
        spans = [(c_lo - c_lo % w, c_hi + (-c_hi % w)) for w in widths]
        # the base rows any resolution needs, selected once (partials are sorted by __b)
        b = partials.column("__b")
        lo_all = min(lo for lo, _ in spans)
        hi_all = max(hi for _, hi in spans)
        wide = partials.filter(pc.and_(pc.greater_equal(b, lo_all), pc.less(b, hi_all)))
        n = wide.num_rows
        # every resolution's rows stacked, rolled up in one group-by (it has a fixed cost)
        stacked = pa.concat_tables([wide] * len(res_list))
        tag = pa.array([i for i in range(len(res_list)) for _ in range(n)], pa.int64())
        width = pa.array([w for w in widths for _ in range(n)], pa.int64())
        lo_col = pa.array([sp[0] for sp in spans for _ in range(n)], pa.int64())
        hi_col = pa.array([sp[1] for sp in spans for _ in range(n)], pa.int64())
        sb = stacked.column("__b")
        inside = pc.and_(pc.greater_equal(sb, lo_col), pc.less(sb, hi_col))
        stacked = stacked.set_column(0, "__b", _floor(sb, width)).append_column("__r", tag)
        rolled = _combine(stacked.filter(inside), None, stats, keys=("__r",))
        rolled = rolled.sort_by([("__r", "ascending"), ("__b", "ascending")])
        fresh_all = self._outputs(rolled.drop_columns(["__r"]), columns, None)
        counts = {int(r): 0 for r in range(len(res_list))}
        for r in rolled.column("__r").to_pylist():
            counts[r] += 1
        offset = 0
        for i, res in enumerate(res_list):
            fresh = fresh_all.slice(offset, counts[i])
            offset += counts[i]
            new.outputs[res] = _splice(st.outputs[res], fresh, *spans[i])
        return new

    # -- outputs ---------------------------------------------------------------------------

    def _output(self, state: _State, resolution: str) -> pa.Table:
        width = self.config.seconds()[resolution] * 1_000_000
        return self._outputs(state.partials, state.columns, width)

    def _outputs(self, partials: pa.Table, columns_in: list[str], width: int | None) -> pa.Table:
        """Output rows (schema in the module docstring) from base partials rolled up to
        ``width`` µs (``None``: already rolled up)."""
        stats = _stats_needed(self.config.aggregations)
        rolled = partials
        if width is not None and width != self.base_seconds * 1_000_000:
            rolled = _combine(rolled, width, stats).sort_by("__b")
        columns: list[pa.Array | pa.ChunkedArray] = [rolled.column("__b").cast(TIME_TYPE)]
        names = [self.config.time_column]
        for c in columns_in:
            for agg in self.config.aggregations:
                names.append(f"{c}.{agg}")
                if agg == "avg":
                    s = rolled.column(f"{c}{_SEP}sum")
                    n = rolled.column(f"{c}{_SEP}count")
                    columns.append(
                        pc.if_else(
                            pc.greater(pc.fill_null(n, 0), 0),
                            pc.divide(s, n),
                            pa.scalar(None, pa.float64()),
                        )
                    )
                elif agg == "count":
                    columns.append(pc.fill_null(rolled.column(f"{c}{_SEP}count"), 0))
                else:
                    columns.append(rolled.column(f"{c}{_SEP}{agg}"))
        if names[0] in names[1:]:
            raise InvalidData(
                f"time_column {names[0]!r} is also the name of an output column", self.path
            )
        fields = [pa.field(names[0], TIME_TYPE)] + [
            pa.field(n, pa.int64() if n.endswith(".count") else pa.float64()) for n in names[1:]
        ]
        return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _order(partials: pa.Table, columns: list[str], stats: tuple[str, ...]) -> pa.Table:
    names = ["__b"] + [f"{c}{_SEP}{s}" for c in columns for s in stats]
    have = partials.column_names
    if have == names:
        return partials
    cols = []
    for n in names:
        if n in have:
            cols.append(partials.column(n))
        else:
            typ = pa.int64() if n.endswith(f"{_SEP}count") else pa.float64()
            cols.append(pa.nulls(partials.num_rows, typ))
    return pa.table(cols, names=names)


class ReducedSeries:
    """One ``res=<R>.series`` child: a dynamic series computed by its :class:`ReduceDir`."""

    file_type = FILE_SERIES

    def __init__(self, parent: ReduceDir, resolution: str) -> None:
        self.parent = parent
        self.resolution = resolution

    @property
    def time_column(self) -> str:
        return self.parent.config.time_column

    @property
    def seconds(self) -> int:
        """The bucket width in seconds."""
        return self.parent.config.seconds()[self.resolution]

    def lineage(self) -> Lineage:
        return Lineage.combine(
            f"res={self.resolution}", [("", self.parent.lineage())], time_local=False
        )

    def read_table(self, window: Window | None = None) -> pa.Table:
        """The downsampled series (see :mod:`duckpond.factories.reduce` for the schema); with
        ``window``, the buckets starting in ``[start, end)``."""
        from duckpond.tinyfs.tables import filter_window

        return filter_window(self.parent.result(self.resolution), self.time_column, window)

    def read_bytes(self) -> bytes:
        from duckpond.tinyfs.tables import parquet_bytes

        return parquet_bytes(self.read_table())


FACTORY = Factory(
    name="temporal-reduce",
    kind="dir",
    description="downsampled series res=<R>.series: avg/min/max/count per epoch-aligned bucket",
    config_model=ReduceConfig,
    build=ReduceDir,
)
