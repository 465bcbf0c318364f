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
With ``columns`` unset, the columns of stored inputs come in the order of their merged schema;
columns only a dynamic input has follow, in the order they first appear in time.

How it is computed (and kept up to date)
    Time is cut into *segments*: epoch-aligned spans of ``S`` µs, ``S`` the smallest multiple of
    every resolution (their lcm) of at least :data:`SEGMENT_TARGET_S` seconds, so every bucket of
    every resolution lies in one segment. A segment's content depends only on the input rows
    inside it, so its key is a digest of the node's lineage shape (config, inputs) and of the
    input *leaves* (appended series versions: :class:`~duckpond.tinyfs.lineage.Leaf`) whose
    event-time span overlaps it. A computation aggregates *partial aggregates* per bucket and
    column (sum, non-null count, min, max: only those the aggregations need) and rolls them up;
    per segment and resolution the node keeps each bucket's final statistics (those the
    aggregations name, avg as sum / count), and an output is the segments' rows in time order.

    A read computes the current keys and takes each segment from, in turn: this process's
    memory, the persistent cache (:mod:`duckpond.factories.cache`), else a computation from the
    raw input rows inside the missing segments only: one pass aggregating at the base width
    ``g`` = gcd of the resolutions, rolled up exactly to each resolution (sum of sums, sum of
    counts, min of mins, max of maxes), by pyarrow, by DataFusion (large inputs:
    :data:`ARROW_ENGINE_MAX_BYTES`) or in plain Python (small inputs in a process that has not
    loaded ``pyarrow.compute``: :data:`PYTHON_ENGINE_MAX_BYTES`). All add the rows in source
    order on one thread, so a segment holds the same float bits whichever engine computed it
    and however often. Computed segments are written back to the
    cache entries that hold them (readers write without the write lock).

    Cache entries are per resolution: ``$POND/cache/temporal-reduce/<node id>/s<S>-r<R>-<n>.dpc``
    holds the partial rows of resolution ``R`` of :func:`entry_segments` consecutive segments
    (as many as fit :data:`ENTRY_ROWS` buckets, at most :data:`ENTRY_SEGMENTS`: 1 segment at
    15m, 4 at 1h, 16 at 6h and 1d), so reading one resolution reads only that resolution's
    rows, a 1d read over five years reads eight small files, and an entry an append rewrites
    holds at most 2,048 rows and 16 segments. Which
    segments the cache holds is read from the headers of the coarsest resolution's entries
    (the fewest files; every record names the segment's inputs and its spans at every
    resolution); rows are loaded per resolution when an output needs them, each checked by
    checksum and by key, and a segment missing from the entry of the resolution read (deleted,
    corrupt, replaced) is computed. A computed segment is written to its entry of every
    resolution (each rewritten whole, from its other segments' rows as the entry holds them).

    A process does not walk every leaf to know the keys when the inputs only appended versions
    since the last plan computed: that plan is remembered (``plan.dpc``, see
    :meth:`ReduceDir._remembered_plan`) and extended by the leaves appended since.

    A segment whose key changed because versions were appended whose rows all come after its
    cached buckets *grows*: the appended rows are aggregated alone and added after the cached
    ones (:meth:`ReduceDir._grow`; the same bits as a computation from every version).

    So an append costs the segments its rows fall in, usually only its own rows; late data (a
    version with old times) recomputes only the segments it overlaps; a collapse changes no key
    (the leaves of a series are its appended versions, whatever collapses merged them into),
    and the next append after it recomputes its segment; a config change, a removed or
    replaced input change every key (a full recompute). Inputs that are not
    time-local (``sql-derived`` without ``time_local``, another node's ``res=`` series) or whose
    leaves have unknown time bounds are one segment keyed by the whole lineage.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from duckpond import sql
from duckpond.errors import InvalidData
from duckpond.factories.base import FactoryNode, Match, match_inputs, warn_empty
from duckpond.factories.registry import Factory
from duckpond.sql import quote, register_table, ts_literal
from duckpond.times import Window, parse_resolution, time_type
from duckpond.tinyfs.lineage import Leaf, Lineage
from duckpond.tinyfs.model import FILE_SERIES
from duckpond.tinyfs.tables import Chunk

if TYPE_CHECKING:
    from datafusion import SessionContext

    from duckpond.factories.cache import Cache, Entry
    from duckpond.tinyfs.fs import NodePath
    from duckpond.tinyfs.model import NodeVersion

__all__ = [
    "ENTRY_ROWS",
    "ENTRY_SEGMENTS",
    "FACTORY",
    "SEGMENT_TARGET_S",
    "ReduceDir",
    "ReduceSettings",
    "ReduceStats",
    "ReducedBlocks",
    "ReducedSeries",
    "entry_segments",
    "segment_seconds",
]

#: The time type (``duckpond.timeseries`` is not imported: it imports ``pyarrow.compute``).
TIME_TYPE: Final = time_type()

_SEP = "\x1f"  # separates a column name from its partial statistic in internal names
_STATS = ("sum", "count", "min", "max")
_US = 1_000_000

#: Segments are at least this long (s): the span a late or new version makes recompute.
SEGMENT_TARGET_S: Final = 16 * 86_400
#: Buckets of one resolution a cache entry holds at most (when every bucket has rows): an entry
#: holds one resolution's partial rows of :func:`entry_segments` consecutive segments.
ENTRY_ROWS: Final = 2048
#: Segments a cache entry holds at most: a new segment rewrites its entry of every resolution
#: whole, so a coarse entry holding years (128 segments of 1d rows) made each new day rewrite,
#: and first load and check, what the years hold (measured: 4% of a 5-year site build's
#: instructions and 6% of a reduced read's after one more day).
ENTRY_SEGMENTS: Final = 16
#: Version of what cache entries hold; a change makes every entry of an older one a miss.
#: 2: one resolution per entry (1 held every resolution of 16 segments). 3: the average of
#: each bucket is stored beside its sum and count (a read computes nothing: it needs no
#: ``pyarrow.compute``, ~40 ms of a process). 4: at most :data:`ENTRY_SEGMENTS` per entry
#: (the same names held other segments). 5: a bucket's sum is not stored (only the
#: statistics the aggregations name: a fifth less to read, ~20% of a reduced read's bytes).
CACHE_FORMAT: Final = 5


def segment_seconds(seconds: Iterable[int]) -> int | None:
    """The segment length (s) for these resolutions (s): the smallest multiple of their lcm of
    at least :data:`SEGMENT_TARGET_S`; ``None`` when that overflows µs in int64."""
    lcm = math.lcm(*seconds)
    out = lcm * max(1, -(-SEGMENT_TARGET_S // lcm))
    return out if out * _US < (1 << 62) else None


def entry_segments(segment_s: int, width_s: int) -> int:
    """Consecutive segments (of ``segment_s`` s) per cache entry of the resolution ``width_s``
    (s): the largest power of two whose buckets fit in :data:`ENTRY_ROWS`, at least one and at
    most :data:`ENTRY_SEGMENTS`.

    With 16-day segments: 1 at 15m, 4 at 1h, 16 at 6h and 1d (256 days in one entry).
    """
    fit = ENTRY_ROWS * width_s // segment_s
    return min(1 << (fit.bit_length() - 1) if fit > 1 else 1, ENTRY_SEGMENTS)


@dataclass(frozen=True)
class ReduceSettings:
    """A validated ``temporal-reduce`` config, as plain data: what the node uses.

    pydantic validates a config once (:class:`~duckpond.factories.reduce_config.ReduceConfig`);
    the validated values are remembered in the pond's cache, so a new process reading the node
    builds this from them without importing yaml or pydantic
    (:meth:`~duckpond.factories.registry.Factory.load`).
    """

    input: str
    resolutions: tuple[str, ...]
    aggregations: tuple[str, ...]
    columns: tuple[str, ...] | None
    time_column: str
    _seconds: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_seconds", {r: parse_resolution(r) for r in self.resolutions})

    @classmethod
    def of(cls, validated: Mapping[str, Any]) -> ReduceSettings:
        """From a validated config's JSON dump (``ReduceConfig.model_dump(mode="json")``).

        Raises:
            KeyError, TypeError, ValueError: not such a dump.
        """
        columns = validated["columns"]
        return cls(
            input=str(validated["input"]),
            resolutions=tuple(str(r) for r in validated["resolutions"]),
            aggregations=tuple(str(a) for a in validated["aggregations"]),
            columns=None if columns is None else tuple(str(c) for c in columns),
            time_column=str(validated["time_column"]),
        )

    def seconds(self) -> dict[str, int]:
        """Resolution name -> width in seconds."""
        return self._seconds


# --------------------------------------------------------------------------------------------
# Partial aggregates
# --------------------------------------------------------------------------------------------


def _floor(values: pa.Array | pa.ChunkedArray, width: int) -> Any:
    """Floor int64 µs to a multiple of ``width`` (correct below zero too)."""
    import pyarrow.compute as pc

    q = pc.multiply(pc.divide(values, width), width)  # integer division truncates toward zero
    return pc.if_else(pc.greater(q, values), pc.subtract(q, width), q)


def _stats_needed(aggs: Sequence[str]) -> tuple[str, ...]:
    """The partial statistics computed and merged for ``aggs`` (in :data:`_STATS` order)."""
    need = set()
    for a in aggs:
        need |= {"avg": {"sum", "count"}, "count": {"count"}, "min": {"min"}, "max": {"max"}}[a]
    return tuple(s for s in _STATS if s in need)


def _stats_stored(aggs: Sequence[str]) -> tuple[str, ...]:
    """The statistics a segment's rows hold (cached, read): those of ``aggs`` among count,
    min and max (in :data:`_STATS` order), then ``avg`` (``sum / count``, null where the count
    is 0) if it is one. A stored bucket is final (every bucket lies in one segment, and a
    segment grows by whole buckets), so a sum kept only for ``avg`` is not stored."""
    stored = tuple(s for s in _STATS if s in aggs)
    return stored + (("avg",) if "avg" in aggs else ())


def _with_avg(partials: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``partials`` (``__b``, ``<column>\x1f<stat>``, merged) with ``<column>\x1favg`` added
    after each column's statistics: sum / count, null where the count is 0 or null."""
    import pyarrow.compute as pc

    for c in columns:
        s = partials.column(f"{c}{_SEP}sum")
        n = partials.column(f"{c}{_SEP}count")
        avg = pc.if_else(
            pc.greater(pc.fill_null(n, 0), 0), pc.divide(s, n), pa.scalar(None, pa.float64())
        )
        partials = partials.append_column(f"{c}{_SEP}avg", avg)
    return partials


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
#: Inputs up to this many bytes are aggregated in plain Python when the process has not loaded
#: ``pyarrow.compute`` (``pond cat --sql`` of a reduced series after an append): importing it
#: costs a new process ~20 ms and DataFusion's first two queries ~40 ms, while the rows an
#: append adds (a day of 1-minute readings, ~30 KB of Parquet) take ~2 ms in Python. Measured
#: (5-year pond, the segment of one new day): DataFusion 43 ms cold, 16-19 ms warm.
PYTHON_ENGINE_MAX_BYTES = 1 << 20


def _source_bytes(sources: list[_Source]) -> int:
    size = 0
    for src in sources:
        if src.part.path is not None:
            size += os.path.getsize(src.part.path)  # noqa: PTH202 - a plain host path
        elif src.part.table is not None:
            size += src.part.table.nbytes
    return size


def _engine(sources: list[_Source]) -> str:
    """Which engine aggregates ``sources``: ``"python"`` (:func:`_partials_python`: small
    inputs in a process without ``pyarrow.compute``), ``"arrow"`` (:func:`_partials_arrow`:
    up to :data:`ARROW_ENGINE_MAX_BYTES`, when ``pyarrow.compute`` is loaded or DataFusion is
    not) or ``"datafusion"`` (:func:`_partials_datafusion`). All three give the same bits."""
    import sys

    size = _source_bytes(sources)
    if size > ARROW_ENGINE_MAX_BYTES:
        return "datafusion"
    if "pyarrow.compute" in sys.modules:
        return "arrow"
    if size <= PYTHON_ENGINE_MAX_BYTES:
        return "python"
    return "datafusion" if "datafusion" in sys.modules else "arrow"


def _in_windows(ts: Any, windows: list[Window]) -> Any:
    """Boolean mask: int64 µs ``ts`` inside any of ``windows``."""
    import pyarrow.compute as pc

    mask = None
    for w in windows:
        assert w.start is not None and w.end is not None
        inside = pc.and_(pc.greater_equal(ts, w.start), pc.less(ts, w.end))
        mask = inside if mask is None else pc.or_(mask, inside)
    return mask


def _partials_arrow(
    sources: list[_Source],
    columns: list[str],
    base_s: int,
    stats: tuple[str, ...],
    windows: list[Window] | None,
) -> pa.Table:
    """Partial statistics per base bucket (``__b``, µs) and column, unordered, of the rows
    inside ``windows`` (half-open, bounded, disjoint; ``None``: every row), with pyarrow (small
    inputs): the same buckets as :func:`_partials_datafusion`, NaN as null."""
    import pyarrow.compute as pc

    from duckpond.parquet import ParquetFile

    width = base_s * _US
    pieces = []
    for src in sources:
        present = [c for c in columns if c in src.part.schema.names]
        if src.part.table is not None:
            t = src.part.table.select([src.time_column, *present])
        else:
            # not pq.read_table: it reads through pyarrow.dataset (imported, ~0.5 ms a file)
            t = ParquetFile(src.part.path).read([src.time_column, *present])
        ts = t.column(src.time_column)
        if ts.type != TIME_TYPE:
            ts = ts.cast(TIME_TYPE)
        ts = ts.cast(pa.int64())
        if windows is not None:
            mask = _in_windows(ts, windows)
            t = t.filter(mask)
            ts = ts.filter(mask)
        arrays: dict[str, Any] = {"__b": _floor(ts, width)}
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
    widths_s: Sequence[int],
    stats: tuple[str, ...],
    avg: bool,
    windows: list[Window] | None,
    path: str,
) -> list[pa.Table]:
    """Per width of ``widths_s`` (s), the partial statistics per bucket (``__b``, µs, sorted)
    and column of the rows inside ``windows``, and each column's average if ``avg``: the base
    width ``base_s`` (``date_bin`` with the epoch origin) rolled up in SQL (sum of sums, sum of
    counts, min of mins, max of maxes). No ``pyarrow.compute``.

    The rows are aggregated as one in-memory partition, in source order, by one thread: sums
    are added in row order, so they are the same every run and the same as
    :func:`_partials_arrow` then :func:`_combine` give (a multi-threaded scan adds them in an
    order that changes from run to run, and so do the last bits of a float sum)."""
    from datafusion import SessionConfig, SessionContext

    ctx = SessionContext(SessionConfig().with_target_partitions(1))
    pieces = [_rows_of(ctx, i, src, columns, path) for i, src in enumerate(sources)]
    rows = pa.concat_tables(pieces) if pieces else _row_schema(len(columns)).empty_table()
    register_table(ctx, "__rows", rows)  # one partition: read in order, by one thread
    where = ""
    if windows is not None:
        spans = []
        for w in windows:
            assert w.start is not None and w.end is not None
            spans.append(f"(__t >= {ts_literal(w.start)} AND __t < {ts_literal(w.end)})")
        where = f" WHERE {' OR '.join(spans)}"
    sql_stat = {"sum": "sum", "count": "count", "min": "min", "max": "max"}
    aggs = [
        f"{sql_stat[s]}(nanvl(__v{k}, NULL)) AS {quote(f'{c}{_SEP}{s}')}"
        for k, c in enumerate(columns)
        for s in stats
    ]
    # date_bin gives nanoseconds: back to µs (bucket starts are whole seconds, so exact)
    base = sql.execute(
        ctx,
        f"SELECT arrow_cast(date_bin(INTERVAL '{base_s} seconds', __t, "
        f"TIMESTAMP '1970-01-01T00:00:00Z'), 'Int64') / 1000 AS __b, {', '.join(aggs)} "
        f"FROM __rows{where} GROUP BY 1 ORDER BY 1",
        path,
        what="reduce",
    )
    register_table(ctx, "__base", base)
    schema = _empty_partials(columns, stats + (("avg",) if avg else ())).schema
    roll = {"sum": "sum", "count": "sum", "min": "min", "max": "max"}
    selects = []
    for k, width_s in enumerate(widths_s):
        wu = width_s * _US  # floor to a multiple, below zero too:
        bucket = "__b" if width_s == base_s else f"__b - ((__b % {wu}) + {wu}) % {wu}"
        exprs = [f"{k} AS __w", f"{bucket} AS __b"]
        for c in columns:
            for s in stats:
                name = quote(f"{c}{_SEP}{s}")
                exprs.append(f"{roll[s]}({name}) AS {name}")
            if avg:
                total, n = quote(f"{c}{_SEP}sum"), quote(f"{c}{_SEP}count")
                exprs.append(
                    f"CASE WHEN sum({n}) > 0 THEN sum({total}) / sum({n}) END "
                    f"AS {quote(f'{c}{_SEP}avg')}"
                )
        selects.append(f"SELECT {', '.join(exprs)} FROM __base GROUP BY 2")
    # every width in one query (each reads __base in its order: the same sums as one query per
    # width), its rows ordered by width, then bucket
    rolled = sql.execute(ctx, " UNION ALL ".join(selects) + " ORDER BY 1, 2", path, what="reduce")
    which = rolled.column("__w").to_pylist()
    out = []
    for k in range(len(widths_s)):
        lo, hi = bisect.bisect_left(which, k), bisect.bisect_right(which, k)
        part = rolled.slice(lo, hi - lo)
        out.append(pa.Table.from_arrays([part.column(f.name) for f in schema], schema=schema))
    return out


def _row_schema(n: int) -> pa.Schema:
    """The rows :func:`_partials_datafusion` aggregates: time, then ``n`` values as float64."""
    return pa.schema(
        [pa.field("__t", TIME_TYPE)] + [pa.field(f"__v{k}", pa.float64()) for k in range(n)]
    )


def _rows_of(ctx: SessionContext, i: int, src: _Source, columns: list[str], path: str) -> pa.Table:
    """The rows of one source as :func:`_row_schema` (its time, its values of ``columns`` as
    float64, null where it lacks one), in the source's order: read by pyarrow when no value
    needs a conversion, else converted by a DataFusion projection."""
    from duckpond.parquet import ParquetFile

    present = [c for c in columns if c in src.part.schema.names]
    schema = src.part.schema
    plain = schema.field(src.time_column).type == TIME_TYPE and all(
        schema.field(c).type == pa.float64() for c in present
    )
    if plain:
        if src.part.table is not None:
            t = src.part.table.select([src.time_column, *present])
        else:
            assert src.part.path is not None
            t = ParquetFile(src.part.path).read([src.time_column, *present])
        arrays = [t.column(0)]
        for c in columns:
            arrays.append(t.column(c) if c in present else pa.nulls(t.num_rows, pa.float64()))
        return pa.Table.from_arrays(arrays, schema=_row_schema(len(columns)))
    name = f"__p{i}"
    if src.part.path is not None:
        ctx.register_parquet(name, src.part.path, file_extension="")
    else:
        assert src.part.table is not None
        register_table(ctx, name, src.part.table)
    exprs = [
        f"arrow_cast({quote(src.time_column)}, 'Timestamp(Microsecond, Some(\"UTC\"))') AS __t"
    ]
    for k, c in enumerate(columns):
        v = f"CAST({quote(c)} AS DOUBLE)" if c in present else "CAST(NULL AS DOUBLE)"
        exprs.append(f"{v} AS __v{k}")
    t = sql.execute(ctx, f"SELECT {', '.join(exprs)} FROM {quote(name)}", path, what="reduce")
    return pa.Table.from_arrays(t.columns, schema=_row_schema(len(columns)))


def _partials_python(
    sources: list[_Source],
    columns: list[str],
    base_s: int,
    widths_s: Sequence[int],
    stats: tuple[str, ...],
    avg: bool,
    windows: list[Window] | None,
) -> list[pa.Table] | None:
    """What :func:`_partials_datafusion` gives (per width of ``widths_s``, the partial
    statistics per bucket, sorted), computed in plain Python for small inputs: no
    ``pyarrow.compute``, no DataFusion session. ``None`` when a source is not plain (its time
    column is not :data:`TIME_TYPE` without nulls, or a value column is neither float64 nor
    int64): the other engines convert those.

    The same bits as the other engines: each base bucket's sum adds its values in source and
    row order from 0.0 (``functools.reduce``, not ``sum``, which compensates from Python 3.12),
    each width's sum adds the base sums in bucket order from 0.0, NaN is null, a bucket with
    rows but no value has count 0 and null sum, min and max."""
    width = base_s * _US
    spans = None
    if windows is not None:
        spans = [(w.start, w.end) for w in windows if w.start is not None and w.end is not None]
    # base bucket -> per column [sum, count, min, max] (sum/min/max None until a value)
    acc: dict[int, list[list[Any]]] = {}
    for src in sources:
        rows = _plain_rows(src, columns, spans)
        if rows is None:
            return None
        _accumulate(acc, *rows, width, spans)
    base = sorted(acc.items())
    schema = _empty_partials(columns, stats + (("avg",) if avg else ())).schema
    return [_rolled_up(base, len(columns), w * _US, stats, avg, schema) for w in widths_s]


#: Value types :func:`_partials_python` converts itself (as DataFusion's ``CAST AS DOUBLE``).
_PYTHON_VALUE_TYPES: Final = (pa.float64(), pa.int64())


def _plain_rows(
    src: _Source, columns: list[str], spans: list[tuple[int, int]] | None
) -> tuple[list[int], list[list[Any] | None], bool] | None:
    """A source's times (µs), its values of ``columns`` as floats (``None`` for a column it
    lacks) and whether the times are in order, of the rows ``spans`` may hold (the rows
    between their first start and last end when the times are in order); ``None`` when the
    source is not plain (see :func:`_partials_python`)."""
    from duckpond.parquet import ParquetFile

    present = [c for c in columns if c in src.part.schema.names]
    if src.part.table is not None:
        t = src.part.table.select([src.time_column, *present])
    else:
        assert src.part.path is not None
        t = ParquetFile(src.part.path).read([src.time_column, *present], use_threads=False)
    time_col = t.column(0)
    if time_col.type != TIME_TYPE or time_col.null_count:
        return None
    if any(t.schema.field(c).type not in _PYTHON_VALUE_TYPES for c in present):
        return None
    ts = [x for chunk in time_col.chunks for x in chunk.view(pa.int64()).to_pylist()]
    ordered = ts == sorted(ts)  # linear on sorted input
    if ordered and spans:  # only the rows the windows may hold become objects
        first = bisect.bisect_left(ts, spans[0][0])
        last = bisect.bisect_left(ts, spans[-1][1])
        t, ts = t.slice(first, last - first), ts[first:last]
    values: list[list[Any] | None] = []
    for c in columns:
        if c not in present:
            values.append(None)
            continue
        col = t.column(c).to_pylist()
        if t.schema.field(c).type != pa.float64():
            col = [None if v is None else float(v) for v in col]
        values.append(col)
    return ts, values, ordered


def _accumulate(
    acc: dict[int, list[list[Any]]],
    ts: list[int],
    values: list[list[Any] | None],
    ordered: bool,
    width: int,
    spans: list[tuple[int, int]] | None,
) -> None:
    """Add one source's rows to ``acc`` (base bucket -> per column [sum, count, min, max]), in
    row order; NaN and null are no value."""
    import functools
    import operator

    add, reduce_ = operator.add, functools.reduce
    for bucket, sel in _runs_of(ts, width, spans, ordered=ordered):
        cells = acc.get(bucket)
        if cells is None:
            cells = acc[bucket] = [[None, 0, None, None] for _ in values]
        for cell, col in zip(cells, values, strict=True):
            if col is None:
                continue
            part = col[sel] if isinstance(sel, slice) else [col[i] for i in sel]
            vals = [v for v in part if v is not None and v == v]
            if not vals:
                continue
            cell[0] = reduce_(add, vals, 0.0 if cell[0] is None else cell[0])
            cell[1] += len(vals)
            lo, hi = min(vals), max(vals)
            cell[2] = lo if cell[2] is None or lo < cell[2] else cell[2]
            cell[3] = hi if cell[3] is None or hi > cell[3] else cell[3]


def _rolled_up(
    base: list[tuple[int, list[list[Any]]]],
    n_columns: int,
    wu: int,
    stats: tuple[str, ...],
    avg: bool,
    schema: pa.Schema,
) -> pa.Table:
    """The base buckets' statistics (bucket order) rolled up to buckets of ``wu`` µs, as a
    table of ``schema`` (sums added in bucket order from 0.0, as SQL's ``sum`` of the sums)."""
    rolled: dict[int, list[list[Any]]] = {}
    for b, cells in base:
        key = b - b % wu
        into = rolled.get(key)
        if into is None:
            into = rolled[key] = [[None, 0, None, None] for _ in range(n_columns)]
        for cell, got in zip(into, cells, strict=True):
            if got[0] is not None:
                cell[0] = (0.0 if cell[0] is None else cell[0]) + got[0]
            cell[1] += got[1]
            if got[2] is not None and (cell[2] is None or got[2] < cell[2]):
                cell[2] = got[2]
            if got[3] is not None and (cell[3] is None or got[3] > cell[3]):
                cell[3] = got[3]
    keys = sorted(rolled)
    arrays: list[list[Any]] = [keys]
    for k in range(n_columns):
        cells = [rolled[key][k] for key in keys]
        for s in stats:
            arrays.append([cell[_STATS.index(s)] for cell in cells])
        if avg:
            arrays.append([cell[0] / cell[1] if cell[1] > 0 else None for cell in cells])
    return pa.Table.from_arrays(
        [pa.array(a, f.type) for a, f in zip(arrays, schema, strict=True)], schema=schema
    )


def _runs_of(
    ts: list[int], width: int, spans: list[tuple[int, int]] | None, *, ordered: bool
) -> Iterable[tuple[int, slice | list[int]]]:
    """The rows of ``ts`` (µs) inside ``spans`` (half-open, in time order; ``None``: every row)
    as runs of one bucket of ``width`` µs each, in row order: ``(bucket start, rows)``, the rows
    a slice when ``ts`` is ``ordered`` (in time order: found by bisection), else a list of row
    numbers."""
    if ordered:
        for lo, hi in spans if spans is not None else [(ts[0], ts[-1] + 1)] if ts else []:
            i, end = bisect.bisect_left(ts, lo), bisect.bisect_left(ts, hi)
            while i < end:
                bucket = ts[i] - ts[i] % width
                j = bisect.bisect_left(ts, bucket + width, i, end)
                yield bucket, slice(i, j)
                i = j
        return
    if spans is None:
        rows: Iterable[int] = range(len(ts))
    else:
        rows = [i for i, x in enumerate(ts) if any(lo <= x < hi for lo, hi in spans)]
    for bucket, run in itertools.groupby(rows, key=lambda i: ts[i] - ts[i] % width):
        yield bucket, list(run)


def _slices(table: pa.Table, bounds: list[tuple[int, int]]) -> list[pa.Table]:
    """The rows of ``table`` (sorted by its int64 first column) inside each ``[lo, hi)``
    (found by bisection: no ``pyarrow.compute``)."""
    b = table.column(0).to_pylist()
    return [
        table.slice(
            bisect.bisect_left(b, lo), bisect.bisect_left(b, hi) - bisect.bisect_left(b, lo)
        )
        for lo, hi in bounds
    ]


# --------------------------------------------------------------------------------------------
# Segments and the state kept per node
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Which segments the current lineage has, and their keys.

    ``segment_us`` is ``None`` when the input is one segment (index 0) keyed by the whole
    lineage (inputs that are not time-local, or leaves without time bounds)."""

    segment_us: int | None
    keys: dict[int, str]  # segment index -> key, ascending
    persist: bool  # whether entries may be written to the persistent cache
    # per resolution number: the cache entry names' prefix (``<factory>/<node id>/<name>``)
    # and segments per entry (0: the one entry of a plan without segments)
    entries: tuple[tuple[str, int], ...] = ()
    # the resolution number whose entries' headers say which segments the cache holds: the
    # coarsest (fewest entries)
    finder: int = 0
    # a digest of the lineage shape (config and inputs) the keys were made for
    shape: str = ""

    def entry(self, r: int, index: int) -> str:
        """The cache entry holding the rows of resolution number ``r`` of segment ``index``."""
        prefix, group = self.entries[r]
        return prefix if group == 0 else f"{prefix}{index // group}"

    def bounds(self, index: int) -> tuple[int | None, int | None]:
        """The segment's time span ``[lo, hi)`` in µs (``None``: unbounded)."""
        if self.segment_us is None:
            return None, None
        return index * self.segment_us, (index + 1) * self.segment_us


#: A column of the input as a segment saw it: (name, Arrow type, numeric).
_Field = tuple[str, str, bool]


@dataclass(eq=False)
class _Seg:
    """One segment: its key; once known (computed, or from the headers of its cache entries)
    the input columns its rows came with, the columns reduced and, per resolution, the first
    and last bucket start; its rows per resolution number (config order; ``__b`` then
    ``<column>\x1f<stat>``) as they are loaded or computed."""

    index: int
    key: str
    known: bool = False
    cached: bool = False  # found current in its cache entry of every resolution
    schema: tuple[_Field, ...] = ()
    time_columns: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    spans: tuple[tuple[int, int] | None, ...] = ()
    rows: dict[int, pa.Table] = field(default_factory=dict)
    # the stored versions its rows were computed from (:func:`_sources_mark`), if known
    sources: dict[str, Any] | None = None
    # its cache entries hold rows of an earlier key of the same lineage shape
    stale: bool = False

    def fill(
        self,
        schema: tuple[_Field, ...],
        time_columns: tuple[str, ...],
        columns: tuple[str, ...],
        tables: tuple[pa.Table, ...],
    ) -> None:
        """Record what a computation gave (its rows per resolution, sorted by ``__b``)."""
        self.schema, self.time_columns, self.columns = schema, time_columns, columns
        self.rows = dict(enumerate(tables))
        self.spans = tuple(
            (t.column(0)[0].as_py(), t.column(0)[-1].as_py()) if t.num_rows else None
            for t in tables
        )
        self.known = True


@dataclass(frozen=True)
class _Record:
    """What an entry's header says of one of its segments: its rows in the entry's table
    (of the entry's resolution), its spans (of every resolution); ``raw`` is the header's
    record, whose ``schema``, ``time_columns`` and ``columns`` are parsed when used."""

    index: int
    key: str
    rows: int  # of this entry's resolution
    spans: tuple[tuple[int, int] | None, ...]  # first and last bucket start, per resolution
    raw: dict[str, Any]

    def inputs(self) -> tuple[tuple[_Field, ...], tuple[str, ...], tuple[str, ...]]:
        """Schema, time columns and columns reduced (raises KeyError, TypeError, ValueError
        when malformed)."""
        h = self.raw
        return (
            tuple((str(a), str(b), bool(c)) for a, b, c in h["schema"]),
            tuple(str(c) for c in h["time_columns"]),
            tuple(str(c) for c in h["columns"]),
        )


@dataclass
class _State:
    plan: _Plan  # its keys stand for the lineage (equal keys: equal rows)
    segments: list[_Seg]  # in time order
    columns: list[str]  # the output columns (before .avg etc.)
    outputs: dict[str, pa.Table] = field(default_factory=dict)
    _indices: list[int] | None = None

    def indices(self) -> list[int]:
        """The segments' indices, in time order (made once: a site build asks per block)."""
        if self._indices is None:
            self._indices = [seg.index for seg in self.segments]
        return self._indices


@dataclass
class ReduceStats:
    """How reads were served (for tests and benchmarks).

    Attributes:
        cached: reads whose lineage had not changed (served from memory).
        reused: segments taken from this process's memory when the lineage changed.
        found: segments found current in the persistent cache (by its entries' headers).
        loaded: segments whose rows (of one resolution or more) were read from the persistent
            cache and not computed after all.
        computed: segments computed from the raw input.
        grown: of those, segments computed from their cached rows and the rows of the versions
            appended since, all in buckets after the cached ones (see :meth:`ReduceDir._grow`).
        passes: computations (each reads the raw rows of one or more segments).
        written: cache entry files written.
        entries_read: cache entry files whose rows were read (headers alone not counted).
        rows_read: partial-aggregate rows those entries held (every segment's, every row).
        plans_remembered: plans (segment keys) taken from the plan memo, updated by the
            versions appended since (no input leaf walked).
        plans_computed: plans computed from every leaf of the inputs.
    """

    cached: int = 0
    reused: int = 0
    found: int = 0
    loaded: int = 0
    computed: int = 0
    grown: int = 0
    passes: int = 0
    written: int = 0
    entries_read: int = 0
    rows_read: int = 0
    plans_remembered: int = 0
    plans_computed: int = 0


class ReduceDir(FactoryNode):
    """The dynamic directory of a ``temporal-reduce`` node: ``res=<R>.series`` children."""

    config: ReduceSettings

    def __init__(self, nodepath: NodePath, config: Any, raw: bytes) -> None:
        super().__init__(nodepath, config, raw, "temporal-reduce")
        self._state: _State | None = None
        self._children: dict[str, ReducedSeries] = {}
        self.stats = ReduceStats()
        self._read: dict[str, Entry | None] | None = None

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

    @property
    def _stats_needed(self) -> tuple[str, ...]:
        return _stats_needed(self.config.aggregations)

    @property
    def _stats_stored(self) -> tuple[str, ...]:
        return _stats_stored(self.config.aggregations)

    # -- lineage and update ----------------------------------------------------------------

    def _matches(self) -> list[Match]:
        self.refresh_config()
        return match_inputs(self.nodepath, self.config.input, what="input")

    def _lineage_of(self, matches: list[Match]) -> Lineage:
        parts = [(m.path, m.lineage()) for m in matches]
        return Lineage.combine(self.own_key(), parts, time_local=True)

    def _inputs(self) -> tuple[list[Match], Lineage]:
        matches = self._matches()
        return matches, self._lineage_of(matches)

    def lineage(self) -> Lineage:
        with self.computing():
            return self._inputs()[1]

    def _current(self) -> tuple[list[Match], _Plan]:
        """The inputs and the plan of the current lineage: from the plan memo when it holds
        (see :meth:`_remembered_plan`), else computed from every leaf (and remembered)."""
        matches = self._matches()
        plan = self._remembered_plan(matches)
        if plan is not None:
            self.stats.plans_remembered += 1
            return matches, plan
        return matches, self._plan(matches, self._lineage_of(matches))

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
                r = self.config.resolutions.index(resolution)
                self._ensure(state, state.segments, (r,))
                out = self._output(state, r, state.segments)
                state.outputs[resolution] = out
            return out

    def blocks(self) -> dict[str, ReducedBlocks]:
        """Every resolution (name -> :class:`ReducedBlocks`) as the inputs are now: read by time
        window, each window keyed by the segments it overlaps."""
        with self.computing():
            state = self._update()
        return {r: ReducedBlocks(self, state, r) for r in self.config.resolutions}

    def cache_entries(self) -> dict[str, frozenset[str]]:
        """The cache entries the current lineage uses: entry key -> its current segment keys
        (:class:`duckpond.factories.cache.CacheUser`, for ``pond maintain``)."""
        with self.computing():
            matches, lineage = self._inputs()
            plan = self._plan(matches, lineage, remember=False)
        out: dict[str, set[str]] = {}
        memo = FACTORY.memo(self.nodepath, self.config_bytes)  # the remembered config
        if memo is not None:
            out[memo[0]] = {memo[1]}
        if plan.persist:
            for r in range(len(self.config.resolutions)):
                for index, key in plan.keys.items():
                    out.setdefault(plan.entry(r, index), set()).add(key)
        if self._memo_eligible(matches) is not None:
            out[self._memo_key()] = {lineage.shape}
        return {k: frozenset(v) for k, v in out.items()}

    def _update(self) -> _State:
        """The state of the current lineage: every segment known (from memory, a cache entry's
        header, else computed now); rows are loaded when an output needs them."""
        matches, plan = self._current()
        st = self._state
        if st is not None and st.plan == plan:
            self.stats.cached += 1
            return st
        if not matches:
            warn_empty(self.path, "input", self.config.input)
        known = {seg.key: seg for seg in st.segments} if st is not None else {}
        segs: dict[int, _Seg] = {}
        for index, key in plan.keys.items():
            if key in known:
                segs[index] = known[key]
                self.stats.reused += 1
        cache = self._cache() if plan.persist else None
        stale: set[int] = set()
        if cache is not None and len(segs) < len(plan.keys):
            for seg in self._found(cache, plan, [i for i in plan.keys if i not in segs], stale):
                segs[seg.index] = seg
                self.stats.found += 1
        for index, key in plan.keys.items():
            segs.setdefault(index, _Seg(index, key, stale=index in stale))
        state = _State(plan, [segs[i] for i in plan.keys], [])
        every = range(len(self.config.resolutions))
        self._ensure(state, [seg for seg in state.segments if not seg.known], every, matches)
        state.columns = self._columns(matches, state.segments)
        self._state = state
        return state

    def _overlapping(self, state: _State, start: int, end: int) -> list[_Seg]:
        """The segments (in time order) whose span overlaps ``[start, end)``."""
        width = state.plan.segment_us
        if width is None:
            return list(state.segments)
        indices = state.indices()
        i = bisect.bisect_left(indices, start // width)
        j = bisect.bisect_right(indices, (end - 1) // width)
        return state.segments[i:j]

    def _ensure(
        self,
        state: _State,
        want: Sequence[_Seg],
        resolutions: Iterable[int],
        matches: list[Match] | None = None,
    ) -> None:
        """Give every segment of ``want`` its rows of ``resolutions`` (numbers, config order):
        from its cache entries (one per resolution), else computed (in one pass, every
        resolution); every entry of every resolution holding a computed segment is rewritten."""
        res = tuple(resolutions)
        need = [seg for seg in want if any(r not in seg.rows for r in res)]
        if not need:
            return
        self._read = {}  # entries read during this call (an entry is read once)
        try:
            self._ensure_rows(state, need, res, matches)
        finally:
            self._read = None

    def _ensure_rows(
        self,
        state: _State,
        need: list[_Seg],
        res: tuple[int, ...],
        matches: list[Match] | None,
    ) -> None:
        plan = state.plan
        cache = self._cache() if plan.persist else None
        failed = self._load_rows(cache, plan, need, res)
        if not failed:
            return
        # an entry a computed segment goes into is rewritten whole: its other segments' rows
        # of that resolution are needed too (from the entry as it is now, else computed)
        n_res = len(self.config.resolutions)
        rewrite = {(r, plan.entry(r, seg.index)) for seg in failed for r in range(n_res)}
        compute = {seg.index: seg for seg in failed}
        for r in range(n_res):
            others = [
                seg
                for seg in state.segments
                if r not in seg.rows
                and seg.index not in compute
                and (r, plan.entry(r, seg.index)) in rewrite
            ]
            for seg in self._load_rows(cache, plan, others, (r,)):
                compute[seg.index] = seg
        todo = sorted(compute.values(), key=lambda seg: seg.index)
        # rows some of them had from the cache are replaced: they count as computed
        self.stats.loaded -= sum(1 for seg in todo if seg.rows)
        if matches is None:
            matches = self._inputs()[0]
        grown = self._grow(matches, plan, todo, cache) if cache is not None else []
        rest = [seg for seg in todo if seg not in grown]
        if rest:
            self._compute(matches, plan, rest)
        self.stats.computed += len(todo)
        self.stats.grown += len(grown)
        self.stats.passes += 1
        if cache is not None:
            written = 0
            for r, entry in sorted(rewrite):
                held = [seg for seg in state.segments if plan.entry(r, seg.index) == entry]
                written += self._save(cache, r, entry, plan, held)
            if written:  # never for a pond opened as of an older transaction (it never writes)
                cache.trim()
            self.stats.written += written

    def _plan(self, matches: list[Match], lineage: Lineage, *, remember: bool = True) -> _Plan:
        """The segments of the current lineage (see the module docstring) and their keys,
        written to the plan memo if ``remember`` (and the plan can be remembered)."""
        leaves = lineage.leaves
        persist = not any(m.lineage().shape.startswith("opaque:") for m in matches)
        seg_s = segment_seconds(self.config.seconds().values())
        dynamic_only = any(not m.stored for m in matches) and not leaves
        whole = (
            seg_s is None
            or not lineage.time_local
            or dynamic_only
            or any(leaf.min_us is None or leaf.max_us is None for leaf in leaves)
        )
        prefix = f"{CACHE_FORMAT}\0{lineage.shape}\0".encode()
        text = {leaf: _leaf_text(leaf) for leaf in leaves}
        if whole:
            self.stats.plans_computed += 1
            h = hashlib.sha256(prefix + b"whole\0")
            h.update("\n".join(sorted(text.values())).encode())
            return _Plan(None, {0: h.hexdigest()}, persist, self._entry_names(None), self._finder())
        assert seg_s is not None
        width = seg_s * _US
        by_index: dict[int, list[str]] = {}
        for leaf, t in text.items():
            assert leaf.min_us is not None and leaf.max_us is not None
            for index in range(leaf.min_us // width, leaf.max_us // width + 1):
                by_index.setdefault(index, []).append(t)
        keys = {}
        texts: dict[int, list[str]] = {}
        for index in sorted(by_index):
            texts[index] = sorted(by_index[index])
            keys[index] = _segment_key(prefix, seg_s, index, texts[index])
        self.stats.plans_computed += 1
        if remember:
            self._remember_plan(matches, lineage.shape, seg_s, keys, texts)
        return _Plan(
            width, keys, persist, self._entry_names(width), self._finder(), _digest(lineage.shape)
        )

    # -- the persistent cache --------------------------------------------------------------

    def _cache(self) -> Cache | None:
        from duckpond.factories.cache import cache_of

        return cache_of(self.nodepath.fs)

    # -- the plan memo ---------------------------------------------------------------------
    #
    # A plan's keys digest every leaf of the inputs (~1,850 for five years of daily appends,
    # ~8,800 for a year of hourly ones), and walking them is most of what a new process pays
    # for a reduce beyond what it reads. The memo (a cache entry, ``<factory>/<node id>/plan``)
    # holds the last plan computed: its shape, each input's history length and last version
    # then, and per segment its key and its leaves' texts. A later process whose inputs only
    # appended versions since takes it and adds the appended leaves to the segments they
    # overlap: the same keys as a computation from every leaf (tested), for the cost of the
    # versions appended. Anything else (a correction, a leaf without time bounds, another
    # shape, a history that is not an extension) computes the plan from every leaf.

    def _memo_key(self) -> str:
        return f"{self.factory}/{self.node_id}/plan"

    def _memo_eligible(self, matches: list[Match]) -> tuple[int, str] | None:
        """``(segment length in s, lineage shape)`` if the plan of these inputs may be
        remembered (time-local stored series with a segment length), else ``None``."""
        from duckpond.tinyfs.lineage import combined_shape, stored_shape

        seg_s = segment_seconds(self.config.seconds().values())
        if not matches or seg_s is None:
            return None
        parts = []
        for m in matches:
            if not m.stored or m.file_type != FILE_SERIES:
                return None
            kind = f"{m.file_type}:{m.time_column}"
            parts.append((m.path, stored_shape(m.nodepath.node.node_id, kind)))
        return seg_s, combined_shape(self.own_key(), parts)

    def _remember_plan(
        self,
        matches: list[Match],
        shape: str,
        seg_s: int,
        keys: dict[int, str],
        texts: dict[int, list[str]],
    ) -> None:
        """Write the plan memo of a plan computed from every leaf (when eligible and the
        cache is writable; a failure to write is the cache's, logged)."""
        cache = self._cache()
        eligible = self._memo_eligible(matches)
        if cache is None or not self._may_remember(cache) or eligible != (seg_s, shape):
            return
        inputs = []
        for m in matches:
            history = m.nodepath._history()
            if not len(history):
                return
            inputs.append([m.nodepath.node.node_id, len(history), *_mark(history)])
        segments, column = _memo_segments(keys, {i: (t, None) for i, t in texts.items()})
        self._save_memo(cache, shape, seg_s, inputs, segments, column)

    def _may_remember(self, cache: Cache) -> bool:
        """Whether a plan may be written to the memo: the cache is writable and no version is
        staged (a transaction's versions may be rolled back, and the next commit may give other
        content the same version number and txn_seq: a memo must record committed histories
        only)."""
        return cache.writable and not getattr(self.nodepath.fs.persistence, "staged", ())

    def _save_memo(
        self,
        cache: Cache,
        shape: str,
        seg_s: int,
        inputs: list[list[Any]],
        segments: list[list[Any]],
        column: pa.ChunkedArray,
    ) -> None:
        header = {
            "format": CACHE_FORMAT,
            "memo": _MEMO_FORMAT,
            "keys": [shape],
            "segment_s": seg_s,
            "inputs": inputs,
            "segments": segments,
        }
        cache.put(self._memo_key(), header, pa.table({"text": column}))

    def _remembered_plan(self, matches: list[Match]) -> _Plan | None:
        """The current plan from the memo and the versions appended since, or ``None`` (no
        memo, or one these inputs do not extend)."""
        eligible = self._memo_eligible(matches)
        cache = self._cache() if eligible is not None else None
        if cache is None or eligible is None:
            return None
        seg_s, shape = eligible
        header = cache.header(self._memo_key())
        marks = []
        for m in matches:
            history = m.nodepath._history()
            marks.append((history, len(history)))
        try:
            if not _memo_matches(header, shape, seg_s, matches):
                return None
            assert header is not None
            recorded = header["inputs"]
            same = all(
                n == int(rec[1]) and n > 0 and list(_mark(history)) == [rec[2], rec[3]]
                for (history, n), rec in zip(marks, recorded, strict=True)
            )
            found: dict[int, str] | None
            if same:
                found = {int(i): str(key) for i, key, _, _ in header["segments"]}
            else:
                entry = cache.get(self._memo_key())  # the texts are needed: the whole entry
                if entry is None or not _memo_matches(entry.header, shape, seg_s, matches):
                    return None
                found = self._extend_memo(cache, entry, shape, seg_s, marks)
            if found is None:
                return None
            keys = found
        except (KeyError, TypeError, ValueError, IndexError, pa.ArrowException):
            return None  # a memo of another shape: computed again, never served
        width = seg_s * _US
        return _Plan(width, keys, True, self._entry_names(width), self._finder(), _digest(shape))

    def _extend_memo(
        self,
        cache: Cache,
        entry: Any,
        shape: str,
        seg_s: int,
        marks: list[tuple[Sequence[NodeVersion], int]],
    ) -> dict[int, str] | None:
        """The keys of the memo ``entry`` with the leaves appended since it was written, and
        the memo rewritten with them; ``None`` if some input is not an extension of what it
        was then (a shorter history, another last version, a correction since)."""
        header = entry.header
        width = seg_s * _US
        added: dict[int, list[str]] = {}
        inputs = []
        for (history, n), (node_id, was, version, txn_seq) in zip(
            marks, header["inputs"], strict=True
        ):
            was = int(was)
            if n < was or was < 1 or list(_mark(history, was - 1)) != [version, txn_seq]:
                return None
            leaves = _appended_leaves(history, was)
            if leaves is None:
                return None
            for leaf in leaves:
                if leaf.min_us is None or leaf.max_us is None:
                    return None
                text = _leaf_text(leaf)
                for index in range(leaf.min_us // width, leaf.max_us // width + 1):
                    added.setdefault(index, []).append(text)
            inputs.append([node_id, n, *_mark(history)])
        column = entry.table.column("text")
        prefix = f"{CACHE_FORMAT}\0{shape}\0".encode()
        keys: dict[int, str] = {}
        parts: dict[int, tuple[list[str] | None, tuple[int, int] | None]] = {}
        for index, key, offset, count in header["segments"]:
            index, offset, count = int(index), int(offset), int(count)
            if offset < 0 or count < 0 or offset + count > len(column):
                return None
            keys[index] = str(key)
            parts[index] = (None, (offset, count))
        for index, texts in added.items():
            old: list[str] = []
            if index in parts:
                _, (offset, count) = parts[index]  # type: ignore[misc]
                old = [str(t) for t in column.slice(offset, count).to_pylist()]
            merged = sorted(old + texts)
            keys[index] = _segment_key(prefix, seg_s, index, merged)
            parts[index] = (merged, None)
        keys = dict(sorted(keys.items()))
        behind = max(n - int(rec[1]) for (_, n), rec in zip(marks, header["inputs"], strict=True))
        if behind >= _MEMO_REFRESH and self._may_remember(cache):
            segments, out = _memo_segments(keys, parts, column)
            self._save_memo(cache, shape, seg_s, inputs, segments, out)
        return keys

    def _entry_names(self, segment_us: int | None) -> tuple[tuple[str, int], ...]:
        """Per resolution number: the prefix of its cache entries' names and the segments per
        entry (:attr:`_Plan.entries`). An entry is ``<factory>/<node id>/s<S>-r<R>-<n>``
        (``S`` the segment length in s, ``R`` the resolution, ``n`` the segment index over
        :func:`entry_segments`), or ``.../all-r<R>`` for the one segment of inputs that are not
        time-local."""
        from duckpond.times import format_resolution

        base = f"{self.factory}/{self.node_id}/"
        out = []
        for resolution in self.config.resolutions:
            width = self.config.seconds()[resolution]
            res = format_resolution(width)
            if segment_us is None:
                out.append((f"{base}all-r{res}", 0))
            else:
                seg_s = segment_us // _US
                out.append((f"{base}s{seg_s}-r{res}-", entry_segments(seg_s, width)))
        return tuple(out)

    def _finder(self) -> int:
        """The number of the coarsest resolution (the last of equal ones): :attr:`_Plan.finder`."""
        widths = [self.config.seconds()[r] for r in self.config.resolutions]
        return max(range(len(widths)), key=lambda r: (widths[r], r))

    def _header_base(self, plan: _Plan, r: int) -> dict[str, Any]:
        resolution = self.config.resolutions[r]
        return {
            "format": CACHE_FORMAT,
            "factory": self.factory,
            "node": self.node_id,
            "resolution": resolution,
            "width_s": self.config.seconds()[resolution],
            "stats": list(self._stats_stored),
            "segment_us": plan.segment_us,
        }

    def _records(self, header: dict[str, Any], plan: _Plan, r: int) -> list[_Record]:
        """The segment records of an entry's header for resolution number ``r``, whether
        current or not; none if the entry is of another kind or shape."""
        base = self._header_base(plan, r)
        if any(header.get(k) != v for k, v in base.items()):
            return []
        records = header.get("segments")
        if not isinstance(records, list):
            return []
        n_res = len(self.config.resolutions)
        out = []
        try:
            for h in records:
                if not all(isinstance(h[k], list) for k in ("schema", "time_columns", "columns")):
                    return []
                spans = tuple(None if x is None else (int(x[0]), int(x[1])) for x in h["spans"])
                if len(spans) != n_res:
                    return []
                out.append(_Record(int(h["index"]), str(h["key"]), int(h["rows"]), spans, h))
        except (KeyError, TypeError, ValueError, IndexError):
            return []  # an entry of another shape: recomputed, never served
        return out

    def _found(self, cache: Cache, plan: _Plan, indices: list[int], stale: set[int]) -> list[_Seg]:
        """The segments among ``indices`` whose current key the entries of the coarsest
        resolution (:attr:`_Plan.finder`: fewest files) hold, known from those headers (rows
        not loaded). An entry of another resolution that turns out to lack a segment when its
        rows are loaded (deleted, corrupt, replaced) costs a computation of that segment.
        Adds to ``stale`` the indices whose entry holds rows of another key of the same
        lineage shape (they may grow: :meth:`_grow`)."""
        wanted = set(indices)
        r = plan.finder
        out = []
        for entry in sorted({plan.entry(r, i) for i in indices}):
            header = cache.header(entry)
            if header is None:
                continue
            for rec in self._records(header, plan, r):
                if rec.index not in wanted:
                    continue
                if plan.keys.get(rec.index) != rec.key:
                    mark = _mark_of(rec)
                    if mark is not None and plan.shape and mark.get("shape") == plan.shape:
                        stale.add(rec.index)
                    continue
                seg = _Seg(rec.index, rec.key, known=True, cached=True)
                try:
                    seg.schema, seg.time_columns, seg.columns = rec.inputs()
                except (KeyError, TypeError, ValueError):
                    continue
                seg.spans = rec.spans
                seg.sources = _mark_of(rec)
                wanted.discard(rec.index)
                out.append(seg)
        return out

    def _load_rows(
        self, cache: Cache | None, plan: _Plan, segs: list[_Seg], resolutions: tuple[int, ...]
    ) -> list[_Seg]:
        """Load the rows of ``resolutions`` of ``segs`` from their entries (one file per
        resolution and group of segments); returns the segments some of whose rows could not
        be loaded (not cached, entry missing or corrupt, or replaced by another key)."""
        failed: set[_Seg] = set()
        by_entry: dict[tuple[int, str], list[_Seg]] = {}
        for seg in segs:
            if not seg.cached or cache is None:
                failed.add(seg)
                continue
            for r in resolutions:
                if r not in seg.rows:
                    by_entry.setdefault((r, plan.entry(r, seg.index)), []).append(seg)
        for (r, entry), group in sorted(by_entry.items(), key=lambda kv: kv[0]):
            assert cache is not None
            rows = self._rows(cache, entry, plan, r, {seg.key for seg in group})
            for seg in group:
                got = rows.get(seg.key)
                if got is None or got[0] != seg.columns:
                    failed.add(seg)
                    continue
                if not seg.rows:
                    self.stats.loaded += 1
                seg.rows[r] = got[1]
        return [seg for seg in segs if seg in failed]

    def _rows(
        self, cache: Cache, entry: str, plan: _Plan, r: int, keys: set[str]
    ) -> dict[str, tuple[tuple[str, ...], pa.Table]]:
        """Segment key -> (columns, rows of resolution number ``r``) of the segments of a cache
        entry whose key is in ``keys`` (none if it is missing, corrupt or of another shape)."""
        got = self._entry_rows(cache, entry, plan, r, lambda rec: rec.key in keys)
        return {rec.key: (columns, rows) for rec, columns, rows in got or ()}

    def _entry(self, cache: Cache, entry: str) -> Entry | None:
        """Cache entry ``entry`` (read once during an :meth:`_ensure`), or ``None``."""
        if self._read is not None and entry in self._read:
            return self._read[entry]
        found = cache.get(entry)
        if found is not None:
            self.stats.entries_read += 1
            self.stats.rows_read += found.table.num_rows
        if self._read is not None:
            self._read[entry] = found
        return found

    def _entry_rows(
        self, cache: Cache, entry: str, plan: _Plan, r: int, want: Callable[[_Record], bool]
    ) -> list[tuple[_Record, tuple[str, ...], pa.Table]] | None:
        """The records of a cache entry's segments that ``want`` selects, each with its
        columns and its rows of resolution number ``r``; ``None`` if the entry is missing,
        corrupt or of another shape."""
        found = self._entry(cache, entry)
        if found is None:
            return None
        table = found.table
        stats = self._stats_stored
        out = []
        try:
            offset = 0
            for rec in self._records(found.header, plan, r):
                if want(rec):
                    columns = tuple(str(c) for c in rec.raw["columns"])
                    names = ["__b", *[f"{c}{_SEP}{s}" for c in columns for s in stats]]
                    out.append((rec, columns, table.slice(offset, rec.rows).select(names)))
                offset += rec.rows
            if offset != table.num_rows:
                return None
        except (KeyError, TypeError, ValueError, pa.ArrowException):
            return None  # an entry of another shape: recomputed, never served
        return out

    def _save(self, cache: Cache, r: int, entry: str, plan: _Plan, segs: list[_Seg]) -> int:
        """Write one cache entry: the rows of resolution number ``r`` of ``segs`` (returns 1 if
        written). The caller trims the cache after its writes."""
        stats = self._stats_stored
        columns: list[str] = []
        for seg in segs:
            columns += [c for c in seg.columns if c not in columns]
        parts = [_order(seg.rows[r], columns, stats) for seg in segs]
        table = pa.concat_tables(parts) if parts else _empty_partials(columns, stats)
        header = self._header_base(plan, r)
        header["path"] = self.path
        header["keys"] = [seg.key for seg in segs]
        header["segments"] = [
            {
                "index": seg.index,
                "key": seg.key,
                "schema": [list(f) for f in seg.schema],
                "time_columns": list(seg.time_columns),
                "columns": list(seg.columns),
                "rows": seg.rows[r].num_rows,
                "spans": [None if x is None else list(x) for x in seg.spans],
                **({} if seg.sources is None else {"sources": seg.sources}),
            }
            for seg in segs
        ]
        return int(cache.put(entry, header, table, trim=False))

    # -- computing segments ----------------------------------------------------------------

    def _compute(self, matches: list[Match], plan: _Plan, segs: list[_Seg]) -> None:
        """Compute the rows of ``segs`` from the raw input rows inside them (one pass)."""
        from duckpond.tinyfs.tables import merged_schema

        width = plan.segment_us
        missing = [seg.index for seg in segs]
        windows = None if width is None else _runs(list(plan.keys), set(missing), width)
        sources, schemas, time_columns = self._sources(matches, windows)
        schema = merged_schema(schemas) if schemas else pa.schema([])
        numeric = [f.name for f in schema if f.name not in time_columns and _numeric(f.type)]
        if self.config.columns is None:
            columns = numeric
        else:
            columns = [c for c in self.config.columns if c in numeric]
        rolled = self._rolled(sources, columns, windows)
        fields = tuple((f.name, str(f.type), _numeric(f.type)) for f in schema)
        tcs = tuple(sorted(time_columns))
        if width is None:
            for seg in segs:
                seg.fill(fields, tcs, tuple(columns), tuple(rolled))
            return
        bounds = [(i * width, (i + 1) * width) for i in missing]
        per_res = [_slices(t, bounds) for t in rolled]
        for k, seg in enumerate(segs):
            seg.fill(fields, tcs, tuple(columns), tuple(p[k] for p in per_res))
            seg.sources = _sources_mark(plan.shape, matches, *bounds[k])

    def _rolled(
        self, sources: list[_Source], columns: list[str], windows: list[Window] | None
    ) -> list[pa.Table]:
        """Per resolution (config order), the stored statistics of ``columns`` per bucket of
        the rows of ``sources`` inside ``windows`` (all rows if ``None``), sorted by bucket."""
        stats = self._stats_needed
        avg = "avg" in self.config.aggregations
        widths = [self.config.seconds()[r] for r in self.config.resolutions]
        rolled: list[pa.Table]
        if not sources or not columns:
            empty = _empty_partials(columns, self._stats_stored)
            rolled = [empty for _ in widths]
        elif (engine := _engine(sources)) != "arrow":
            got = None
            if engine == "python":
                got = _partials_python(
                    sources, columns, self.base_seconds, widths, stats, avg, windows
                )
            if got is None:
                got = _partials_datafusion(
                    sources, columns, self.base_seconds, widths, stats, avg, windows, self.path
                )
            rolled = got
        else:
            partials = _partials_arrow(sources, columns, self.base_seconds, stats, windows).sort_by(
                "__b"
            )
            base = self.base_seconds
            rolled = [
                partials if w == base else _combine(partials, w * _US, stats).sort_by("__b")
                for w in widths
            ]
            if avg:
                rolled = [_with_avg(t, columns) for t in rolled]
        return rolled

    def _grow(
        self, matches: list[Match], plan: _Plan, segs: list[_Seg], cache: Cache
    ) -> list[_Seg]:
        """Of ``segs`` (to compute), those computed here from the rows their cache entries
        hold for an earlier key and the rows of the stored versions appended since: when the
        entries record (:func:`_sources_mark`) the same lineage shape and, among the versions
        overlapping the segment now, exactly the versions the rows came from, and every row
        the appended versions add to the segment lies after the last cached bucket of every
        resolution, with no column or type the cached rows lack. Each bucket is then made of
        the same rows, added in the same order, as in a computation from every version: the
        same bits (an append of late data, a correction, a collapse of the segment's versions
        or another shape is computed from every version). Only segments the headers found stale
        are tried (:meth:`_found`). Returns the grown segments."""
        width = plan.segment_us
        if width is None or not plan.shape or not all(m.stored for m in matches):
            return []
        widths = [self.config.seconds()[r] * _US for r in self.config.resolutions]
        stats = self._stats_stored
        grown = []
        for seg in segs:
            if not seg.stale:
                continue
            lo, hi = seg.index * width, (seg.index + 1) * width
            previous = self._previous(cache, plan, seg.index)
            if previous is None:
                continue
            rec, rows = previous
            mark = _mark_of(rec)
            if mark is None or mark.get("shape") != plan.shape:
                continue
            added, first = _appended_since(matches, lo, hi, mark)
            if not added:
                continue
            start = max(lo, first)
            if any(
                s is not None and start < s[1] + w for s, w in zip(rec.spans, widths, strict=True)
            ):
                continue  # rows in (or before) a cached bucket
            try:
                schema, time_columns, columns = rec.inputs()
            except (KeyError, TypeError, ValueError):
                continue
            known = {(name, typ) for name, typ, _ in schema}
            sources = []
            for m, v in added:
                chunk = m.nodepath.fs.version_chunk(v)
                tc = m.time_column or self._detect_tc(m)
                if tc not in time_columns or any(
                    (f.name, str(f.type)) not in known for f in chunk.schema
                ):
                    break
                sources.append(_Source(chunk, tc))
            else:
                new = self._rolled(sources, list(columns), [Window(lo, hi)])
                tables = tuple(
                    pa.concat_tables([_order(old, columns, stats), _order(t, columns, stats)])
                    for old, t in zip(rows, new, strict=True)
                )
                seg.fill(schema, time_columns, columns, tables)
                seg.sources = _sources_mark(plan.shape, matches, lo, hi)
                grown.append(seg)
        return grown

    def _previous(
        self, cache: Cache, plan: _Plan, index: int
    ) -> tuple[_Record, list[pa.Table]] | None:
        """The record of segment ``index`` its cache entries hold under another key than the
        current one (the same in the entry of every resolution) and its rows per resolution,
        or ``None``."""
        key = plan.keys.get(index)
        first: _Record | None = None
        rows = []
        for r in range(len(self.config.resolutions)):
            got = self._entry_rows(
                cache, plan.entry(r, index), plan, r, lambda rec: rec.index == index
            )
            if not got or len(got) != 1:
                return None
            rec, _, table = got[0]
            if rec.key == key or (first is not None and rec.key != first.key):
                return None
            first = first or rec
            rows.append(table)
        return (first, rows) if first is not None else None

    def _sources(
        self, matches: list[Match], windows: list[Window] | None
    ) -> tuple[list[_Source], list[pa.Schema], set[str]]:
        """The chunks holding rows inside ``windows`` (all rows if ``None``), their schemas and
        time columns."""
        span = None
        if windows is not None:
            span = Window(windows[0].start, windows[-1].end)
        sources: list[_Source] = []
        schemas: list[pa.Schema] = []
        time_columns: set[str] = set()
        for m in matches:
            if m.stored:
                versions = m.versions
                if windows is not None:
                    versions = tuple(
                        v
                        for v in versions
                        if any(w.overlaps(v.min_event_time, v.max_event_time) for w in windows)
                    )
                if not versions:
                    continue
                tc = m.time_column or self._detect_tc(m)
                for chunk in m.chunks(None, versions):
                    sources.append(_Source(chunk, tc))
                    schemas.append(chunk.schema)
            else:
                table = m.read(span)
                tc = m.time_column or self._detect_tc(m, table.schema)
                sources.append(_Source(Chunk(table.schema, table=table), tc))
                schemas.append(table.schema)
            time_columns.add(tc)
        return sources, schemas, time_columns

    def _detect_tc(self, m: Match, schema: pa.Schema | None = None) -> str:
        from duckpond.timeseries import detect_time_column

        try:
            return detect_time_column(schema if schema is not None else m.schema())
        except InvalidData as exc:
            raise InvalidData(
                f"input: {m.path} has no time column ({exc.message})", self.path
            ) from None

    def _columns(self, matches: list[Match], segs: list[_Seg]) -> list[str]:
        """The output columns: those of the stored inputs' merged schema, then those only the
        segments saw (dynamic inputs), in time order; checked against ``columns``."""
        from duckpond.tinyfs.tables import merged_schema

        fields: dict[str, tuple[str, bool]] = {}
        time_columns: set[str] = set()
        stored = [m for m in matches if m.stored]
        if stored:
            for f in merged_schema([m.schema() for m in stored]):
                fields[f.name] = (str(f.type), _numeric(f.type))
            time_columns |= {m.time_column or self._detect_tc(m) for m in stored}
        for seg in segs:
            time_columns |= set(seg.time_columns)
            for name, typ, num in seg.schema:
                if name not in fields or (fields[name][1] and not num):
                    fields[name] = (typ, num)
        if self.config.columns is None:
            return [n for n, (_, num) in fields.items() if num and n not in time_columns]
        if not fields:
            return list(self.config.columns)
        for i, c in enumerate(self.config.columns):
            if c not in fields:
                shown = ", ".join(n for n in fields if n not in time_columns)
                raise InvalidData(
                    f"columns[{i}]: {c!r} is not a column of the input (columns: {shown})",
                    self.path,
                )
            typ, num = fields[c]
            if not num:
                raise InvalidData(f"columns[{i}]: {c!r} is {typ}, not numeric", self.path)
        return list(self.config.columns)

    # -- outputs ---------------------------------------------------------------------------

    def _output(self, state: _State, r: int, segs: Sequence[_Seg]) -> pa.Table:
        """Output rows of resolution number ``r`` from ``segs`` (in time order, rows loaded)."""
        stats = self._stats_stored
        parts = []
        for seg in segs:
            parts.append(_order(seg.rows[r], state.columns, stats))
        # not combined: the segments' slices stay chunks (combining copied ~6 MB and took
        # ~20 ms for five years of 1h rows; Parquet and CSV writers take chunks, and
        # sql.register_table combines small ones for DataFusion, whose cost is per batch)
        partials = pa.concat_tables(parts) if parts else _empty_partials(state.columns, stats)
        return self._outputs(partials, state.columns)

    def _outputs(self, rolled: pa.Table, columns_in: list[str]) -> pa.Table:
        """Output rows (schema in the module docstring) from stored rows (:func:`_stats_stored`,
        every column present): columns picked and renamed, nothing computed."""
        b = rolled.column("__b")  # int64 µs: the same bytes as TIME_TYPE (a cast needs compute)
        columns: list[pa.Array | pa.ChunkedArray] = [
            pa.chunked_array([c.view(TIME_TYPE) for c in b.chunks], type=TIME_TYPE)
        ]
        names = [self.config.time_column]
        for c in columns_in:
            for agg in self.config.aggregations:
                names.append(f"{c}.{agg}")
                columns.append(rolled.column(f"{c}{_SEP}{agg}"))
        if names[0] in names[1:]:
            raise InvalidData(
                f"time_column {names[0]!r} is also the name of an output column", self.path
            )
        fields = [pa.field(names[0], TIME_TYPE)] + [
            pa.field(n, pa.int64() if n.endswith(".count") else pa.float64()) for n in names[1:]
        ]
        return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _digest(text: str) -> str:
    """A short digest (128 bits, hex) of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _sources_mark(shape: str, matches: Sequence[Match], lo: int, hi: int) -> dict[str, Any] | None:
    """What a segment ``[lo, hi)`` (µs) is computed from, as its cache records keep it:
    ``shape`` (:attr:`_Plan.shape`), a digest of the stored versions overlapping it (node id,
    version, sha256) and the last version number of each of their nodes; ``None`` if an input
    is not stored (its rows are not versions)."""
    if not shape or not all(m.stored for m in matches):
        return None
    window = Window(lo, hi)
    lines, last = _overlapping(matches, window, None)
    return {"shape": shape, "digest": _digest("\n".join(sorted(lines))), "last": last}


def _overlapping(
    matches: Sequence[Match], window: Window, upto: Mapping[str, int] | None
) -> tuple[list[str], dict[str, int]]:
    """The texts of the stored versions overlapping ``window`` (all, or only those numbered at
    most ``upto[node id]``) and the last version number per node among them."""
    lines: list[str] = []
    last: dict[str, int] = {}
    for m in matches:
        for v in m.versions:
            if not window.overlaps(v.min_event_time, v.max_event_time):
                continue
            if upto is not None and v.version > upto.get(v.node_id, -1):
                continue
            lines.append(f"{v.node_id}:{v.version}:{v.sha256}")
            last[v.node_id] = max(v.version, last.get(v.node_id, v.version))
    return lines, last


def _appended_since(
    matches: Sequence[Match], lo: int, hi: int, mark: Mapping[str, Any]
) -> tuple[list[tuple[Match, NodeVersion]], int]:
    """The stored versions overlapping ``[lo, hi)`` appended since a segment's ``mark``
    (:func:`_sources_mark`), with their inputs, and their first event time (µs): none unless
    the versions it recorded are all still there and no other (a collapse, a correction or a
    rollback since), and each appended one has time bounds."""
    try:
        upto = {str(k): int(v) for k, v in mark["last"].items()}
        digest = str(mark["digest"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return [], 0
    window = Window(lo, hi)
    lines, _ = _overlapping(matches, window, upto)
    if _digest("\n".join(sorted(lines))) != digest:
        return [], 0
    out = []
    first: int | None = None
    for m in matches:
        for v in m.versions:
            if v.version > upto.get(v.node_id, -1) and window.overlaps(
                v.min_event_time, v.max_event_time
            ):
                if v.min_event_time is None:
                    return [], 0
                first = v.min_event_time if first is None else min(first, v.min_event_time)
                out.append((m, v))
    return out, 0 if first is None else first


def _mark_of(rec: _Record) -> dict[str, Any] | None:
    """The sources mark of a cache record (:func:`_sources_mark`), if it has one."""
    mark = rec.raw.get("sources")
    return mark if isinstance(mark, dict) else None


def _runs(indices: list[int], missing: set[int], width: int) -> list[Window]:
    """Windows covering the ``missing`` segments among ``indices`` (ascending) and no other of
    ``indices``: consecutive missing ones share a window (segments not in ``indices`` hold no
    rows, so a window may cross them)."""
    out: list[Window] = []
    run: list[int] = []
    for i in indices:
        if i in missing:
            run.append(i)
            continue
        if run:
            out.append(Window(run[0] * width, (run[-1] + 1) * width))
            run = []
    if run:
        out.append(Window(run[0] * width, (run[-1] + 1) * width))
    return out


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _order(partials: pa.Table, columns: Sequence[str], stats: tuple[str, ...]) -> pa.Table:
    names = ["__b"] + [f"{c}{_SEP}{s}" for c in columns for s in stats]
    have = partials.column_names
    if have == names:
        return partials
    cols = []
    for n in names:
        if n in have:
            cols.append(partials.column(n))
        elif n.endswith(f"{_SEP}count"):  # a column the segment's input did not have
            cols.append(pa.repeat(pa.scalar(0, pa.int64()), partials.num_rows))
        else:
            cols.append(pa.nulls(partials.num_rows, pa.float64()))
    return pa.table(cols, names=names)


#: Version of the plan memo's layout (see :meth:`ReduceDir._remembered_plan`); 2: a leaf's text
#: names the first 64 bits of its sha256 (:data:`~duckpond.tinyfs.lineage.DIGEST_KEY_CHARS`).
_MEMO_FORMAT: Final = 2
#: The plan memo is rewritten once an input has this many versions more than it records:
#: until then each process adds them itself (rewriting it, ~2 ms at five years of daily
#: appends, would cost more than adding a few versions).
_MEMO_REFRESH: Final = 16


def _leaf_text(leaf: Leaf) -> str:
    """What a segment key digests of one leaf."""
    return f"{leaf.node_id}:{leaf.version}:{leaf.sha256}:{leaf.min_us}:{leaf.max_us}"


def _segment_key(prefix: bytes, seg_s: int, index: int, texts: Sequence[str]) -> str:
    """The key of segment ``index``: ``prefix`` (cache format and lineage shape), the segment,
    and the sorted texts of the leaves overlapping it."""
    h = hashlib.sha256(prefix + f"{seg_s}\0{index}\0".encode())
    h.update("\n".join(texts).encode())
    return h.hexdigest()


def _mark(history: Sequence[NodeVersion], position: int = -1) -> tuple[int, int]:
    """(version, txn_seq) of the version at ``position`` of a history (nothing decoded from a
    lazy one)."""
    from duckpond.tinyfs.persistence import LazyHistory

    if isinstance(history, LazyHistory):
        if position < 0:
            position += len(history)
        version, txn_seq = history.fields([position], ("version", "txn_seq"))[0]
        return int(version), int(txn_seq)
    v = history[position]
    return v.version, v.txn_seq


def _appended_leaves(history: Sequence[NodeVersion], start: int) -> list[Leaf] | None:
    """The leaves the versions from ``start`` on add to those before them, or ``None`` if one
    of them supersedes versions other than by a collapse (a correction: the leaves before it
    are not all leaves after it). A collapse adds no leaf (its rows are its children's), and
    neither does a version of no rows."""
    from duckpond.tinyfs.collapse import COLLAPSES, REPLACES
    from duckpond.tinyfs.lineage import LEAF_FIELDS
    from duckpond.tinyfs.persistence import LazyHistory

    lazy = isinstance(history, LazyHistory)
    positions = []
    for i in range(start, len(history)):
        attrs = history.attributes_at(i) if lazy else history[i].extended_attributes  # type: ignore[attr-defined]
        if attrs.get(REPLACES):
            return None
        if attrs.get(COLLAPSES) or attrs.get("rows") == 0:
            continue
        positions.append(i)
    if lazy:
        return list(itertools.starmap(Leaf.from_fields, history.fields(positions, LEAF_FIELDS)))  # type: ignore[attr-defined]
    return [Leaf.of(history[i]) for i in positions]


def _memo_matches(header: Any, shape: str, seg_s: int, matches: Sequence[Match]) -> bool:
    """Whether a plan memo's header is of this format, shape, segment length and inputs."""
    if not isinstance(header, dict):
        return False
    if header.get("format") != CACHE_FORMAT or header.get("memo") != _MEMO_FORMAT:
        return False
    if header.get("keys") != [shape] or header.get("segment_s") != seg_s:
        return False
    inputs = header.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != len(matches):
        return False
    return all(
        isinstance(rec, list) and len(rec) == 4 and rec[0] == m.nodepath.node.node_id
        for rec, m in zip(inputs, matches, strict=True)
    )


def _memo_segments(
    keys: dict[int, str],
    parts: Mapping[int, tuple[list[str] | None, tuple[int, int] | None]],
    old: pa.ChunkedArray | None = None,
) -> tuple[list[list[Any]], pa.ChunkedArray]:
    """The memo's segment records (index, key, offset, count) and its text column, in index
    order: each segment's texts given as a list, or as ``(offset, count)`` in ``old``."""
    records: list[list[Any]] = []
    pieces: list[pa.Array] = []
    offset = 0
    for index in sorted(keys):
        texts, where = parts.get(index, ([], None))
        if texts is not None:
            chunks = [pa.array(texts, pa.string())]
        else:
            assert where is not None and old is not None
            chunks = old.slice(where[0], where[1]).chunks
        count = sum(len(c) for c in chunks)
        records.append([index, keys[index], offset, count])
        pieces += chunks
        offset += count
    return records, pa.chunked_array(pieces, pa.string())


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

    def blocks(self) -> ReducedBlocks:
        """This series read by time window, each window with a key (for the site renderer)."""
        return self.parent.blocks()[self.resolution]


class ReducedBlocks:
    """One resolution of a reduce as it is now, read by time window, each window with a key
    that changes whenever its rows may (a :class:`duckpond.site.render.BlockSource`).

    The time column is named ``Timestamp`` whatever the node's ``time_column``. Keys and spans
    come from the segments' records (no rows are read); :meth:`read` loads or computes only the
    segments that overlap the window. The object stands for the reduce as it was when made: a
    later change of the inputs is seen by a new one.
    """

    def __init__(self, parent: ReduceDir, state: _State, resolution: str) -> None:
        self.parent = parent
        self.state = state
        self.resolution = resolution
        self.index = parent.config.resolutions.index(resolution)
        self._key_base: hashlib._Hash | None = None  # the digest of what every key starts with

    @property
    def column_names(self) -> list[str]:
        """``Timestamp`` then ``<column>.<aggregation>`` for each output column."""
        names = ["Timestamp"]
        for c in self.state.columns:
            names += [f"{c}.{agg}" for agg in self.parent.config.aggregations]
        return names

    def span(self) -> tuple[int, int] | None:
        """The first and last bucket start (µs), ``None`` if there are no rows."""
        spans = [s.spans[self.index] for s in self.state.segments if s.spans[self.index]]
        if not spans:
            return None
        first, last = spans[0], spans[-1]
        assert first is not None and last is not None
        return first[0], last[1]

    def key(self, start_us: int, end_us: int) -> str:
        """A digest of the output columns and of the keys of the segments overlapping
        ``[start_us, end_us)``: equal keys, equal rows."""
        if self._key_base is None:  # the same for every block (a site build asks per block)
            base = hashlib.sha256(f"{CACHE_FORMAT}\0{self.resolution}\0".encode())
            base.update("\0".join(self.column_names).encode())
            self._key_base = base
        h = self._key_base.copy()
        for seg in self.parent._overlapping(self.state, start_us, end_us):
            h.update(b"\0" + seg.key.encode())
        return h.hexdigest()

    def read(self, start_us: int, end_us: int) -> pa.Table:
        """The rows with bucket start in ``[start_us, end_us)`` (schema of
        :mod:`duckpond.factories.reduce`, time column named ``Timestamp``)."""
        from duckpond.tinyfs.tables import filter_window

        parent = self.parent
        with parent.computing():
            segs = parent._overlapping(self.state, start_us, end_us)
            parent._ensure(self.state, segs, (self.index,))
            out = parent._output(self.state, self.index, segs)
        # a block is small and may cross many segments: one chunk, not one per segment
        out = filter_window(
            out.combine_chunks(), parent.config.time_column, Window(start_us, end_us)
        )
        return out.rename_columns(self.column_names)


FACTORY = Factory(
    name="temporal-reduce",
    kind="dir",
    description="downsampled series res=<R>.series: avg/min/max/count per epoch-aligned bucket",
    config_model="duckpond.factories.reduce_config:ReduceConfig",
    restore=ReduceSettings.of,
    config_sources=(
        "duckpond.factories.reduce_config",
        "duckpond.factories.config",
        "duckpond.factories.base",
        "duckpond.times",
    ),
    build=ReduceDir,
)
