"""The persistent partial-aggregate cache of temporal-reduce (issue 15).

Every check is made in a *new process's view* of the pond (``Pond.open`` again: a new FS, so
nothing from this process's memory) and compares count, sum, min, max and avg of every bucket
of every resolution against DuckDB over the raw rows, and against a cold computation
(``DUCKPOND_CACHE=off``). The stats of the reduce node say how each segment was served, so the
tests also check that only what changed was computed.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from factory_testlib import B01_CSV, JFK_CSV

from duckpond import Pond
from duckpond.factories import resolver
from duckpond.factories.cache import Cache, prune
from duckpond.factories.reduce import entry_segments, segment_seconds
from duckpond.factories.registry import mknod
from duckpond.formats import read_csv_series

TIME = pa.timestamp("us", tz="UTC")
MIN = 60_000_000
DAY = 86_400_000_000
T0 = 18_262 * DAY  # 2020-01-01
RES = {"15m": 900, "1h": 3600, "6h": 21600, "1d": 86400}
CONFIG = "input: {input}\nresolutions: [15m, 1h, 6h, 1d]\naggregations: [avg, min, max, count]\n"
SEG_S = segment_seconds(RES.values())
assert SEG_S is not None
SEG = SEG_S * 1_000_000  # 16 days


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def readings(start: int, n: int, step: int = 10 * MIN, seed: int = 0, shift: float = 0.0):
    """``n`` rows from ``start`` every ``step`` µs: a float column with nulls and NaNs, an int
    column, a text column (not reduced)."""
    ts = [start + k * step for k in range(n)]
    v = []
    for k in range(n):
        x = ((k * 7919 + seed * 104729) % 1000) / 10.0 + shift
        v.append(None if k % 37 == 5 else (math.nan if k % 53 == 7 else x))
    return pa.table(
        {
            "Timestamp": pa.array(ts, TIME),
            "v": pa.array(v, pa.float64()),
            "n": pa.array([(k * 31 + seed) % 17 - 8 for k in range(n)], pa.int64()),
            "note": pa.array([f"r{k % 3}" for k in range(n)]),
        }
    )


def append(pond: Pond, path: str, table: pa.Table) -> None:
    with pond.transaction(["append", path]) as tx:
        tx.root().append_series(path, table, time_column="Timestamp")


def fresh(pond: Pond) -> Pond:
    """The pond as a new process sees it (nothing in memory)."""
    return Pond.open(pond.path, factories=resolver)


def stats(pond: Pond, node: str = "/r"):
    return pond.fs.dynamic_object(pond.root().resolve(node)).stats


def read_all(pond: Pond, node: str = "/r") -> dict[str, pa.Table]:
    return {r: pond.root().resolve(f"{node}/res={r}.series").read_table() for r in RES}


def segments_of(*tables: pa.Table) -> set[int]:
    """Segments each table (a version) spans, from its min to its max time."""
    out: set[int] = set()
    for t in tables:
        ts = t.column("Timestamp").cast(pa.int64())
        lo, hi = pc.min(ts).as_py(), pc.max(ts).as_py()
        out |= set(range(lo // SEG, hi // SEG + 1))
    return out


def duckdb_oracle(raw: pa.Table, columns: list[str], seconds: int) -> dict[int, dict]:
    """bucket start µs -> column -> (count, sum, min, max, avg), NaN as missing (DuckDB)."""
    con = duckdb.connect()
    con.register("raw", raw)
    w = seconds * 1_000_000
    parts = []
    for c in columns:
        x = f'CASE WHEN isnan(CAST("{c}" AS DOUBLE)) THEN NULL ELSE CAST("{c}" AS DOUBLE) END'
        parts.append(f"count({x}), sum({x}), min({x}), max({x}), avg({x})")
    q = (
        f'SELECT floor(epoch_us("Timestamp") / {w})::BIGINT * {w} AS b, {", ".join(parts)} '
        "FROM raw GROUP BY b ORDER BY b"
    )
    out = {}
    for row in con.sql(q).fetchall():
        out[row[0]] = {c: row[1 + 5 * i : 6 + 5 * i] for i, c in enumerate(columns)}
    return out


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def check_duckdb(ours: dict[str, pa.Table], raw: pa.Table, columns: list[str]) -> int:
    """Every bucket of every resolution: count, sum (avg x count), min, max, avg vs DuckDB."""
    n = 0
    for res, seconds in RES.items():
        table = ours[res]
        expected = duckdb_oracle(raw, columns, seconds)
        ts = table.column("Timestamp").cast(pa.int64()).to_pylist()
        assert ts == sorted(expected), f"res={res}: buckets differ from DuckDB's"
        data = {name: table.column(name).to_pylist() for name in table.column_names}
        for i, b in enumerate(ts):
            for c in columns:
                count, total, lo, hi, avg = expected[b][c]
                got_count = data[f"{c}.count"][i]
                got_avg = data[f"{c}.avg"][i]
                got_sum = None if got_count == 0 else got_avg * got_count
                assert got_count == count, f"{res} {c}.count at {b}: {got_count} != {count}"
                assert close(got_sum, total), f"{res} {c} sum at {b}: {got_sum} != {total}"
                assert close(data[f"{c}.min"][i], lo), f"{res} {c}.min at {b}"
                assert close(data[f"{c}.max"][i], hi), f"{res} {c}.max at {b}"
                assert close(got_avg, avg), f"{res} {c}.avg at {b}"
                n += 5
    return n


def cold(pond: Pond, monkeypatch, node: str = "/r") -> dict[str, pa.Table]:
    """The outputs computed from the raw data alone (no cache read or written)."""
    with monkeypatch.context() as m:
        m.setenv("DUCKPOND_CACHE", "off")
        p = fresh(pond)
        out = read_all(p, node)
        assert stats(p, node).loaded == 0 and stats(p, node).written == 0
    return out


def same(a: dict[str, pa.Table], b: dict[str, pa.Table]) -> None:
    """Two computations give the same buckets and values (counts, mins, maxes exactly)."""
    for res in RES:
        x, y = a[res], b[res]
        assert x.schema == y.schema, res
        assert x.column("Timestamp").equals(y.column("Timestamp")), res
        for name in x.column_names[1:]:
            if name.endswith(".avg"):
                assert all(
                    close(p, q)
                    for p, q in zip(x[name].to_pylist(), y[name].to_pylist(), strict=True)
                )
            else:
                assert x.column(name).equals(y.column(name)), f"{res} {name}"


def check(pond: Pond, raw: pa.Table, monkeypatch, columns=("v", "n"), node="/r"):
    """A new process's outputs against DuckDB and against a cold computation."""
    p = fresh(pond)
    ours = read_all(p, node)
    assert check_duckdb(ours, raw, list(columns)) > 0
    same(ours, cold(pond, monkeypatch, node))
    return p, ours


def cache_files(pond: Pond) -> list[Path]:
    """The partial-aggregate entries (not the remembered configs, ``config.dpc``, nor the
    plan memos, ``plan.dpc``)."""
    root = pond.layout.cache
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.dpc") if p.name not in ("config.dpc", "plan.dpc"))


def config_files(pond: Pond) -> list[Path]:
    """The remembered configs (:meth:`duckpond.factories.registry.Factory.load`)."""
    root = pond.layout.cache
    return sorted(root.rglob("config.dpc")) if root.is_dir() else []


@pytest.fixture(autouse=True, params=["arrow", "datafusion", "python"])
def engine(request, monkeypatch):
    """Every test with each engine: pyarrow (small inputs in a process that has
    ``pyarrow.compute``), DataFusion (large inputs) and plain Python (small inputs in a process
    without ``pyarrow.compute``: ``pond cat --sql`` after an append)."""
    from duckpond.factories import reduce

    monkeypatch.setattr(reduce, "_engine", lambda sources: request.param)
    return request.param


@pytest.fixture
def series_pond(fpond):
    """/s.series and /r = temporal-reduce over it at 15m/1h/6h/1d."""
    with fpond.transaction(["mknod"]) as tx:
        mknod(tx.root(), "temporal-reduce", "/r", CONFIG.format(input="/s.series"))
    return fpond


# --------------------------------------------------------------------------------------------
# appends, late data, overlapping versions, collapses
# --------------------------------------------------------------------------------------------


def test_appends_in_order_each_new_process_computes_only_the_new_day(series_pond, monkeypatch):
    """A collector's days, each its own transaction (16+ of them: auto-collapse runs)."""
    pond = series_pond
    days = [readings(T0 + d * DAY, 144, seed=d) for d in range(40)]
    for d in range(20):
        append(pond, "/s.series", days[d])
    raw = pa.concat_tables(days[:20])
    p, _ = check(pond, raw, monkeypatch)
    assert stats(p).computed == len(segments_of(raw))  # the first read: everything
    for d in range(20, 40):
        append(pond, "/s.series", days[d])
        raw = pa.concat_tables(days[: d + 1])
        p = fresh(pond)
        ours = read_all(p)
        s = stats(p)
        assert s.computed == 1 and s.passes == 1, s  # the new day's segment, nothing else
        assert s.loaded == len(segments_of(raw)) - 1
        if d % 5 == 4:
            assert check_duckdb(ours, raw, ["v", "n"]) > 0
            same(ours, cold(pond, monkeypatch))
    series = pond.root().resolve("/s.series")
    assert len(series.live_versions()) < len(series.versions()) - 1  # collapsed on the way
    p = fresh(pond)
    read_all(p)
    assert stats(p).computed == 0  # a collapse changes no key


def test_an_append_after_the_cached_buckets_grows_its_segment(series_pond, monkeypatch):
    """A version whose rows all come after the cached buckets of its segment (at every
    resolution) adds its own buckets to the cached rows (the segment *grows*: the other rows
    are not read again); one with rows in a cached bucket, a version of other columns, or one
    replacing the segment's versions (a collapse) makes the segment computed from every
    version. Each gives a cold computation's bits and DuckDB's values."""
    pond = series_pond
    seg0 = -(-T0 // SEG) * SEG  # a segment's first day: 16 days fit in it
    days = [readings(seg0 + d * DAY, 144, seed=d) for d in range(8)]
    for d in range(3):
        append(pond, "/s.series", days[d])
    raw = pa.concat_tables(days[:3])
    p, _ = check(pond, raw, monkeypatch)
    assert stats(p).grown == 0
    # the next days, each in a new process: each grows the segment
    for d in range(3, 6):
        append(pond, "/s.series", days[d])
        raw = pa.concat_tables([raw, days[d]])
        p, _ = check(pond, raw, monkeypatch)
        assert stats(p).computed == 1 and stats(p).grown == 1, stats(p)
    # half a day, then its other half: the second shares the day's 1d and 6h buckets
    half = readings(seg0 + 6 * DAY, 72, seed=6)
    rest = readings(seg0 + 6 * DAY + 12 * 3_600_000_000, 72, seed=7)
    append(pond, "/s.series", half)
    raw = pa.concat_tables([raw, half])
    p, _ = check(pond, raw, monkeypatch)
    assert stats(p).grown == 1
    append(pond, "/s.series", rest)
    raw = pa.concat_tables([raw, rest])
    p, _ = check(pond, raw, monkeypatch)
    assert stats(p).computed == 1 and stats(p).grown == 0, stats(p)
    # late data (a cached bucket's time): computed from every version
    late = readings(seg0 + DAY + 5 * MIN, 10, seed=9)
    append(pond, "/s.series", late)
    raw = pa.concat_tables([raw, late])
    p, _ = check(pond, raw, monkeypatch)
    assert stats(p).computed == 1 and stats(p).grown == 0, stats(p)
    # a later day with a column the cached rows lack: computed from every version
    wider = days[7].append_column("w", pa.array([float(k) for k in range(144)]))
    append(pond, "/s.series", wider)
    raw = pa.concat_tables([raw, wider], promote_options="default")
    p, _ = check(pond, raw, monkeypatch, columns=("v", "n", "w"))
    assert stats(p).computed == 1 and stats(p).grown == 0, stats(p)
    # a collapse of the segment's versions changes no key: nothing computed
    series = pond.root().resolve("/s.series")
    before = len(series.live_versions())
    pond.maintain()
    assert len(pond.root().resolve("/s.series").live_versions()) < before
    p, _ = check(pond, raw, monkeypatch, columns=("v", "n", "w"))
    assert stats(p).computed == 0
    # the next day after the collapse: the versions the cached rows came from are gone
    # (collapsed into one): computed from every version, then grown again
    nxt = [
        readings(seg0 + d * DAY, 144, seed=d).append_column("w", pa.array([1.5] * 144))
        for d in (8, 9)
    ]
    for k, day in enumerate(nxt):
        append(pond, "/s.series", day)
        raw = pa.concat_tables([raw, day])
        p, _ = check(pond, raw, monkeypatch, columns=("v", "n", "w"))
        assert stats(p).computed == 1 and stats(p).grown == k, (k, stats(p))


def test_a_segment_cached_from_a_rolled_back_version_never_grows(series_pond, monkeypatch):
    """A read inside a transaction caches rows of a version that is then rolled back; the next
    commit gives other rows the same version number. A later day appended after it (rows after
    the cached buckets) must not grow those cached rows: the versions they came from are not
    the versions there now (their digest differs)."""
    pond = series_pond
    seg0 = -(-T0 // SEG) * SEG
    days = [readings(seg0 + d * DAY, 144, seed=d) for d in range(3)]
    append(pond, "/s.series", days[0])
    read_all(fresh(pond))
    with pytest.raises(RuntimeError), pond.transaction(["append"]) as tx:
        tx.root().append_series("/s.series", days[1], time_column="Timestamp")
        for r in RES:
            tx.root().resolve(f"/r/res={r}.series").read_table()
        raise RuntimeError("rolled back")
    other = readings(seg0 + DAY, 144, seed=11, shift=500.0)
    append(pond, "/s.series", other)
    append(pond, "/s.series", days[2])
    raw = pa.concat_tables([days[0], other, days[2]])
    p, _ = check(pond, raw, monkeypatch)
    assert stats(p).computed == 1 and stats(p).grown == 0, stats(p)


def test_reading_one_resolution_reads_only_its_entries(series_pond, monkeypatch):
    """Entries are per resolution: a new process reading the 1d rows of 100 days reads one
    entry of 100 rows (not the 15m rows), and a day of 15m rows one 15m entry."""
    pond = series_pond
    raw = pa.concat_tables([readings(T0 + d * DAY, 144, seed=d) for d in range(100)])
    append(pond, "/s.series", raw)
    check(pond, raw, monkeypatch)  # fills the cache
    p = fresh(pond)
    days = p.root().resolve("/r/res=1d.series").read_table()
    s = stats(p)
    assert s.computed == 0 and s.loaded == len(segments_of(raw))
    assert s.entries_read == 1 and s.rows_read == days.num_rows == 100
    # the site's path: one resolution read by time window
    p = fresh(pond)
    node = p.fs.dynamic_object(p.root().resolve("/r"))
    day = T0 + 50 * DAY
    rows = node.blocks()["15m"].read(day, day + DAY)
    assert rows.num_rows == 96
    s = stats(p)
    width = entry_segments(SEG_S, RES["15m"])  # segments per 15m entry
    assert s.computed == 0 and s.loaded == 1
    assert s.entries_read == 1 and 0 < s.rows_read <= width * SEG_S // RES["15m"]
    # a block crossing several segments is one chunk (a site build normalizes and encodes it:
    # per-chunk work made a 5-year build's coarse blocks cost ~4x their rows)
    year = node.blocks()["1d"].read(T0, T0 + 100 * DAY)
    assert year.num_rows == 100 and len(segments_of(raw)) > 1
    assert {c.num_chunks for c in year.columns} == {1}
    # the 15m entries gone: a 1d read does not notice (segments are found by the headers of
    # the coarsest resolution's entries); a 15m read computes them, and rewrites them
    for f in cache_files(pond):
        if "-r15m-" in f.name:
            f.unlink()
    p = fresh(pond)
    s = stats(p)
    assert p.root().resolve("/r/res=1d.series").read_table().equals(days)
    assert s.computed == 0 and s.entries_read == 1
    p.root().resolve("/r/res=15m.series").read_table()
    assert s.computed == len(segments_of(raw))
    # the 1d entry gone: no segment is found, every one is computed (nothing read)
    for f in cache_files(pond):
        if "-r1d-" in f.name:
            f.unlink()
    p = fresh(pond)
    s = stats(p)
    assert p.root().resolve("/r/res=1d.series").read_table().equals(days)
    assert s.computed == len(segments_of(raw)) and s.entries_read == 0 and s.loaded == 0
    p, _ = check(pond, raw, monkeypatch)
    assert stats(p).computed == 0


def test_one_more_day_rewrites_one_entry_per_resolution_of_at_most_16_segments(
    series_pond, monkeypatch
):
    """A coarse entry holds at most ``ENTRY_SEGMENTS`` segments (not years of 1d rows): a day
    appended after two years computes one segment, rewrites one entry per resolution, each of
    at most 16 segments, and leaves every other entry's bytes as they were."""
    from duckpond.factories.reduce import ENTRY_SEGMENTS

    pond = series_pond
    raw = pa.concat_tables(
        [readings(T0 + d * DAY, 4, step=6 * 60 * MIN, seed=d) for d in range(730)]
    )
    append(pond, "/s.series", raw)
    check(pond, raw, monkeypatch)  # fills the cache
    cache = Cache(pond.layout.cache)

    def held(f: Path) -> int:
        header = cache.header(str(f.relative_to(pond.layout.cache))[: -len(".dpc")])
        assert header is not None
        return len(header["segments"])

    before = {f: f.read_bytes() for f in cache_files(pond)}
    per_entry = entry_segments(SEG_S, RES["1d"])
    assert per_entry == ENTRY_SEGMENTS == 16
    days = [f for f in before if "-r1d-" in f.name]
    assert len(days) == len({i // per_entry for i in segments_of(raw)}) >= 3
    assert all(held(f) <= ENTRY_SEGMENTS for f in before)
    day = readings(T0 + 730 * DAY, 4, step=6 * 60 * MIN, seed=730)
    append(pond, "/s.series", day)
    p, _ = check(pond, pa.concat_tables([raw, day]), monkeypatch)
    assert stats(p).computed == 1 and stats(p).written == len(RES)
    after = {f: f.read_bytes() for f in cache_files(pond)}
    changed = [f for f in after if before.get(f) != after[f]]
    assert len(changed) == len(RES)  # one entry per resolution
    assert sorted(f.name.split("-r")[1].split("-")[0] for f in changed) == sorted(RES)
    assert all(held(f) <= ENTRY_SEGMENTS for f in changed)


def test_pond_maintain_collapse_keeps_every_key(series_pond, monkeypatch):
    pond = series_pond
    days = [readings(T0 + d * DAY + (d % 3) * MIN, 100, seed=d) for d in range(12)]
    for t in days:
        append(pond, "/s.series", t)
    raw = pa.concat_tables(days)
    check(pond, raw, monkeypatch)
    report = pond.maintain()
    assert report.collapses >= 1
    assert len(pond.root().resolve("/s.series").live_versions()) == 1
    p, _ = check(pond, raw, monkeypatch)
    assert stats(p).computed == 0 and stats(p).loaded == len(segments_of(raw))
    # and appending after the collapse adds to it, exactly
    late = readings(T0 + 3 * DAY + 5 * MIN, 50, step=7 * MIN, seed=99)
    append(pond, "/s.series", late)
    p, _ = check(pond, pa.concat_tables([raw, late]), monkeypatch)
    assert stats(p).computed == len(segments_of(late))


def test_late_out_of_order_data_unseals_only_its_own_segments(series_pond, monkeypatch):
    pond = series_pond
    chunks = [readings(T0 + k * 10 * DAY, 1440, seed=k) for k in range(10)]  # 100 days
    for t in chunks:
        append(pond, "/s.series", t)
    raw = pa.concat_tables(chunks)
    check(pond, raw, monkeypatch)
    # late rows inside buckets already cached: the same times (duplicates: two samples) and
    # times between them, arriving after everything else
    late = readings(T0 + 33 * DAY + 5 * MIN, 300, step=5 * MIN, seed=7, shift=1000.0)
    append(pond, "/s.series", late)
    raw = pa.concat_tables([raw, late])
    p, _ = check(pond, raw, monkeypatch)
    s = stats(p)
    assert s.computed == len(segments_of(late)) == 1
    assert s.loaded == len(segments_of(raw)) - 1


def test_overlapping_versions_and_a_sparse_version_across_segments(series_pond, monkeypatch):
    pond = series_pond
    a = readings(T0, 3000, step=15 * MIN, seed=1)
    b = readings(T0 + 10 * DAY, 3000, step=15 * MIN, seed=2, shift=-50.0)  # overlaps a
    c = readings(T0 + 10 * DAY, 3000, step=15 * MIN, seed=3)  # the very same times as b
    for t in (a, b, c):
        append(pond, "/s.series", t)
    raw = pa.concat_tables([a, b, c])
    check(pond, raw, monkeypatch)
    sparse = readings(T0 - 20 * DAY, 12, step=9 * DAY, seed=4)  # one row every 9 days
    append(pond, "/s.series", sparse)
    raw = pa.concat_tables([raw, sparse])
    p, _ = check(pond, raw, monkeypatch)
    assert stats(p).computed == len(segments_of(sparse))


def test_a_column_added_later_counts_zero_where_it_was_missing(series_pond, monkeypatch):
    """A version that brings a new column: the segments before it have no rows of it (count 0,
    avg/min/max null), computed and then served from the cache alike."""
    pond = series_pond
    before = readings(T0, 2000, step=15 * MIN, seed=5)
    later = readings(T0 + 40 * DAY, 500, step=15 * MIN, seed=6)
    later = later.append_column("w", pc.multiply(later.column("n"), 0.5))
    append(pond, "/s.series", before)
    read_all(fresh(pond))  # the cache holds the segments before, of columns v and n
    append(pond, "/s.series", later)
    raw = pa.concat_tables([before, later], promote_options="default")
    p, ours = check(pond, raw, monkeypatch, columns=("v", "n", "w"))
    assert stats(p).computed == len(segments_of(later)) and stats(p).loaded > 0
    first = ours["1h"].slice(0, 1).to_pylist()[0]
    assert (first["w.count"], first["w.avg"], first["w.max"]) == (0, None, None)
    again = fresh(pond)
    served = read_all(again)
    assert stats(again).computed == 0 and stats(again).loaded > 0
    assert check_duckdb(served, raw, ["v", "n", "w"]) > 0
    same(served, ours)


def test_times_before_1970_fall_in_epoch_aligned_buckets(series_pond, monkeypatch):
    """Buckets are floored towards the past below zero too (1969 rows, the epoch crossed)."""
    pond = series_pond
    raw = readings(-3 * DAY + 7 * MIN, 900, step=7 * MIN, seed=8)  # 1969-12-29 .. 1970-01-01
    append(pond, "/s.series", raw)
    _, ours = check(pond, raw, monkeypatch)
    first = ours["1d"].column("Timestamp").cast(pa.int64()).to_pylist()
    assert first[:4] == [-3 * DAY, -2 * DAY, -DAY, 0]


def test_both_engines_give_the_same_bits(series_pond, monkeypatch, engine):
    """pyarrow, DataFusion and Python add the rows in the same order (one thread, source
    order), so a segment computed by any of them holds the same float bits, run after run."""
    from duckpond.factories import reduce

    if engine != "arrow":
        pytest.skip("one run compares every engine")
    pond = series_pond
    for k in range(5):  # overlapping versions, nulls, NaNs, an int column
        append(pond, "/s.series", readings(T0 + k * 3 * DAY, 3000, step=7 * MIN, seed=k))
    used = []
    python = reduce._partials_python

    def counted(*args, **kwargs):
        got = python(*args, **kwargs)
        used.append(got is not None)
        return got

    monkeypatch.setattr(reduce, "_partials_python", counted)
    outputs = {}
    for name in ("arrow", "datafusion", "datafusion again", "python"):
        monkeypatch.setattr(reduce, "_engine", lambda sources, n=name: n.split()[0])
        outputs[name] = cold(pond, monkeypatch)
    assert used and all(used)  # the Python engine computed (no source it would not convert)
    for res in RES:
        assert outputs["arrow"][res].equals(outputs["datafusion"][res]), res
        assert outputs["datafusion"][res].equals(outputs["datafusion again"][res]), res
        assert outputs["python"][res].equals(outputs["datafusion"][res]), res


def test_real_buoy_data_by_month_out_of_order(fpond, monkeypatch):
    """B01 water temperature (30 min, 2016-2017) appended a month at a time, months shuffled;
    a new process after each month computes only that month's segments."""
    raw, _ = read_csv_series(B01_CSV)
    ts = raw.column("Timestamp")
    months = pc.strftime(ts, format="%Y-%m").to_pylist()
    order = sorted(set(months))
    order = order[1::2] + order[::2]  # odd months first, then the even ones (late data)
    with fpond.transaction(["mknod"]) as tx:
        mknod(tx.root(), "temporal-reduce", "/r", CONFIG.format(input="/b01.series"))
    months_arr = pa.array(months)
    added = []
    for i, month in enumerate(order):
        chunk = raw.filter(pc.equal(months_arr, month))
        append(fpond, "/b01.series", chunk)
        added.append(chunk)
        p = fresh(fpond)
        read_all(p)
        assert stats(p).computed == len(segments_of(chunk)), month
        if i in (len(order) // 2, len(order) - 1):
            check(fpond, pa.concat_tables(added), monkeypatch, columns=["WaterTemperature.C"])


# --------------------------------------------------------------------------------------------
# config, inputs, the cache itself
# --------------------------------------------------------------------------------------------


def test_config_change_recomputes_everything(series_pond, monkeypatch):
    pond = series_pond
    raw = pa.concat_tables([readings(T0 + k * 5 * DAY, 500, seed=k) for k in range(6)])
    append(pond, "/s.series", raw)
    check(pond, raw, monkeypatch)
    before = cache_files(pond)
    with pond.transaction(["mknod"]) as tx:  # same resolutions, one column only
        mknod(
            tx.root(),
            "temporal-reduce",
            "/r",
            CONFIG.format(input="/s.series") + "columns: [n]\n",
            overwrite=True,
        )
    p, ours = check(pond, raw, monkeypatch, columns=["n"])
    assert stats(p).computed == len(segments_of(raw)) and stats(p).loaded == 0
    assert [c for c in ours["1h"].column_names if c.startswith("v.")] == []
    assert cache_files(pond) == before  # the same entries, rewritten for the new config


def test_removed_and_replaced_inputs(fpond, monkeypatch):
    with fpond.transaction(["load"]) as tx:
        r = tx.root()
        r.mkdir("/in")
        mknod(r, "temporal-reduce", "/r", CONFIG.format(input="/in/*.series"))
    a = readings(T0, 2000, seed=1)
    b = readings(T0 + 3 * DAY, 2000, seed=2)
    append(fpond, "/in/a.series", a)
    append(fpond, "/in/b.series", b)
    check(fpond, pa.concat_tables([a, b]), monkeypatch)
    with fpond.transaction(["rm"]) as tx:
        tx.root().remove("/in/b.series")
    check(fpond, a, monkeypatch)
    # replaced: a new series at the same path, other values
    b2 = readings(T0 + 3 * DAY, 2000, seed=5, shift=400.0)
    append(fpond, "/in/b.series", b2)
    check(fpond, pa.concat_tables([a, b2]), monkeypatch)
    # a removed and written again with the very same rows: still right
    with fpond.transaction(["rm"]) as tx:
        tx.root().remove("/in/a.series")
    append(fpond, "/in/a.series", a)
    check(fpond, pa.concat_tables([a, b2]), monkeypatch)


def test_deleting_the_cache_mid_way_costs_only_time(series_pond, monkeypatch):
    pond = series_pond
    tables = [readings(T0 + k * 9 * DAY, 1000, seed=k) for k in range(8)]
    for t in tables[:4]:
        append(pond, "/s.series", t)
    first = read_all(fresh(pond))
    shutil.rmtree(pond.layout.cache)
    p = fresh(pond)
    again = read_all(p)
    assert stats(p).loaded == 0 and stats(p).computed == len(segments_of(*tables[:4]))
    for res in RES:
        assert again[res].equals(first[res]), res
    for t in tables[4:]:
        append(pond, "/s.series", t)
        shutil.rmtree(pond.layout.cache / "temporal-reduce", ignore_errors=True)
    check(pond, pa.concat_tables(tables), monkeypatch)


def test_corrupt_truncated_or_stale_entries_are_recomputed_never_served(series_pond, monkeypatch):
    pond = series_pond
    tables = [readings(T0 + k * 20 * DAY, 2880, seed=k) for k in range(3)]
    for t in tables:
        append(pond, "/s.series", t)
    raw = pa.concat_tables(tables)
    expected = read_all(fresh(pond))
    files = cache_files(pond)
    assert files
    # one flipped bit inside the body, a truncated entry, garbage
    data = bytearray(files[0].read_bytes())
    data[len(data) // 2] ^= 0x10
    files[0].write_bytes(bytes(data))
    if len(files) > 1:
        files[1].write_bytes(files[1].read_bytes()[:-100])
    p = fresh(pond)
    got = read_all(p)
    for res in RES:
        assert got[res].equals(expected[res])
    assert stats(p).computed == len(segments_of(raw)) - stats(p).loaded
    assert stats(p).computed > 0
    for f in cache_files(pond):  # rewritten whole
        assert Cache(pond.layout.cache).get(str(f.relative_to(pond.layout.cache))[:-4])
    # a stale entry: the file as it was before a late version, put back after it
    saved = {f: f.read_bytes() for f in cache_files(pond)}
    late = readings(T0 + 21 * DAY, 100, step=MIN, seed=9, shift=-300.0)
    append(pond, "/s.series", late)
    check(pond, pa.concat_tables([raw, late]), monkeypatch)
    for f, b in saved.items():
        f.write_bytes(b)
    p, _ = check(pond, pa.concat_tables([raw, late]), monkeypatch)
    assert stats(p).computed == len(segments_of(late))


def _scoped(t: pa.Table) -> pa.Table:
    return t.rename_columns(["Timestamp", "X.v", "X.n", "X.note"])


def test_a_join_input_a_new_process_and_late_data(fpond, monkeypatch):
    """series -> timeseries-join (time-local) -> reduce: segments keyed by the series' versions."""
    a = readings(T0, 3000, seed=1)
    with fpond.transaction(["load"]) as tx:
        r = tx.root()
        r.append_series("/s.series", a, time_column="Timestamp")
        mknod(r, "timeseries-join", "/j.series", "inputs:\n  - {pattern: /s.series, scope: X}\n")
        mknod(r, "temporal-reduce", "/r", CONFIG.format(input="/j.series"))
    check(fpond, _scoped(a), monkeypatch, columns=["X.v", "X.n"])
    late = readings(T0 + 2 * DAY, 200, step=2 * MIN, seed=2)  # every 5th time is in a too
    append(fpond, "/s.series", late)
    raw = pa.concat_tables([_scoped(a), _scoped(late)])
    # the join keeps one row per time (the last version wins), so DuckDB reads the join itself
    joined = fresh(fpond).root().resolve("/j.series").read_table()
    p, _ = check(fpond, joined, monkeypatch, columns=["X.v", "X.n"])
    assert stats(p).computed == len(segments_of(late))
    assert joined.num_rows < raw.num_rows


def test_not_time_local_input_is_one_segment(fpond, monkeypatch):
    """One segment keyed by the whole lineage: one entry per resolution."""
    a = readings(T0, 2000, seed=1)
    with fpond.transaction(["load"]) as tx:
        r = tx.root()
        r.append_series("/s.series", a, time_column="Timestamp")
        mknod(
            r,
            "sql-derived",
            "/d.series",
            "patterns: {s: /s.series}\ntime_column: Timestamp\n"
            'query: SELECT "Timestamp", v, n FROM s\n',
        )
        mknod(r, "temporal-reduce", "/r", CONFIG.format(input="/d.series"))
    check(fpond, a, monkeypatch)
    names = sorted(f.name for f in cache_files(fpond))
    assert names == sorted(f"all-r{r}.dpc" for r in RES)
    b = readings(T0 + 30 * DAY, 100, seed=2)
    append(fpond, "/s.series", b)
    p, _ = check(fpond, pa.concat_tables([a, b]), monkeypatch)
    assert stats(p).computed == 1 and stats(p).loaded == 0


def test_time_travel_reads_the_cache_and_never_writes_it(series_pond, monkeypatch):
    pond = series_pond
    a = readings(T0, 1000, seed=1)
    append(pond, "/s.series", a)
    txn_a = pond.txn_seq
    read_all(fresh(pond))
    b = readings(T0 + 40 * DAY, 1000, seed=2)
    append(pond, "/s.series", b)
    read_all(fresh(pond))
    late = readings(T0 + 2 * DAY, 10, seed=3)  # a's segment: its entries now hold another key
    append(pond, "/s.series", late)
    read_all(fresh(pond))
    snapshot = {f: f.read_bytes() for f in cache_files(pond)}
    monkeypatch.setenv("DUCKPOND_CACHE_MAX_BYTES", "1")  # a trim would delete every entry
    old = Pond.open(pond.path, at_txn=txn_a, factories=resolver)
    got = read_all(old)
    assert check_duckdb(got, a, ["v", "n"]) > 0
    assert stats(old).computed > 0 and stats(old).written == 0
    assert {f: f.read_bytes() for f in cache_files(pond)} == snapshot


# --------------------------------------------------------------------------------------------
# concurrency, size, pruning, the command line
# --------------------------------------------------------------------------------------------


def _pond_env(pond: Pond, **extra: str) -> dict[str, str]:
    env = {**os.environ, "POND": str(pond.path), **extra}
    env.pop("DUCKPOND_CACHE", None)
    return env


def _cat(res: str) -> list[str]:
    return [sys.executable, "-m", "duckpond", "cat", f"/r/res={res}.series", "--format", "csv"]


def test_a_reduced_series_streams_whole_batches_across_its_segments(series_pond, tmp_path):
    """A reduce's output is its segments' rows (16 days each) as chunks: streamed out (``pond
    cat --format parquet``, ``copy``, the Arrow stream) they come as batches of the size asked
    for, and ``pond cat --format parquet`` writes row groups of up to 1M rows whatever the
    batches (not one per segment, nor one per 8,192 rows of a query)."""
    pond = series_pond
    append(pond, "/s.series", readings(T0, 6 * 1440, step=10 * MIN))  # 60 days: 4+ segments
    node = fresh(pond).root().resolve("/r/res=15m.series")
    _, batches = node.iter_batches(batch_size=1000)
    sizes = [b.num_rows for b in batches]
    assert sum(sizes) == 60 * 96 and all(n == 1000 for n in sizes[:-1]), sizes
    out = tmp_path / "r.parquet"
    with out.open("wb") as f:
        cat = [sys.executable, "-m", "duckpond", "cat", "/r/res=15m.series", "--format", "parquet"]
        proc = subprocess.run(cat, env=_pond_env(pond), stdout=f, stderr=subprocess.PIPE)
    assert proc.returncode == 0, proc.stderr.decode()
    meta = pq.ParquetFile(out).metadata
    assert (meta.num_rows, meta.num_row_groups) == (60 * 96, 1)
    # a query's batches (8,192 rows from DataFusion) are regrouped too
    with out.open("wb") as f:
        cat = [*cat[:-3], "/s.series", "--sql", "SELECT * FROM source", "--format", "parquet"]
        proc = subprocess.run(cat, env=_pond_env(pond), stdout=f, stderr=subprocess.PIPE)
    assert proc.returncode == 0, proc.stderr.decode()
    meta = pq.ParquetFile(out).metadata
    assert (meta.num_rows, meta.num_row_groups) == (6 * 1440, 1)


def test_concurrent_readers_fill_the_same_entries(series_pond, monkeypatch):
    pond = series_pond
    raw = pa.concat_tables([readings(T0 + k * 11 * DAY, 1584, seed=k) for k in range(6)])
    append(pond, "/s.series", raw)
    for round_ in range(2):
        procs = [
            subprocess.Popen(
                _cat("15m"), env=_pond_env(pond), stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(4)
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, [e.decode()[-500:] for _, e in outs]
        assert len({o for o, _ in outs}) == 1  # all four printed the same
        for f in cache_files(pond):
            assert Cache(pond.layout.cache).get(str(f.relative_to(pond.layout.cache))[:-4])
        assert not [p for p in pond.layout.cache.rglob("*") if p.name.startswith(".tmp-")]
        more = readings(T0 + 70 * DAY + round_ * DAY, 144, seed=10 + round_)
        append(pond, "/s.series", more)
        raw = pa.concat_tables([raw, more])
    check(pond, raw, monkeypatch)


def test_readers_write_the_cache_while_a_writer_holds_the_lock(series_pond):
    pond = series_pond
    raw = readings(T0, 3000, seed=3)
    append(pond, "/s.series", raw)
    with pond.transaction(["hold the lock"]) as tx:
        tx.root().mkdir("/busy")
        proc = subprocess.run(_cat("1h"), env=_pond_env(pond), capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()
        assert cache_files(pond)
    p = fresh(pond)
    read_all(p)
    assert stats(p).computed == 0  # what the reader wrote is used


def test_the_cache_size_is_bounded(fpond, monkeypatch):
    with fpond.transaction(["load"]) as tx:
        r = tx.root()
        for k in range(4):
            r.append_series(f"/s{k}.series", readings(T0, 4000, seed=k), time_column="Timestamp")
            mknod(r, "temporal-reduce", f"/r{k}", CONFIG.format(input=f"/s{k}.series"))
    sizes = []
    for k in range(4):
        read_all(fresh(fpond), f"/r{k}")
        sizes.append(sum(f.stat().st_size for f in cache_files(fpond)))
    every = len(cache_files(fpond))  # the entries of the four nodes
    limit = sizes[1] + 1000  # room for about two nodes' entries
    monkeypatch.setenv("DUCKPOND_CACHE_MAX_BYTES", str(limit))
    shutil.rmtree(fpond.layout.cache)
    for k in range(4):
        ours = read_all(fresh(fpond), f"/r{k}")
        assert check_duckdb(ours, readings(T0, 4000, seed=k), ["v", "n"]) > 0
        assert sum(f.stat().st_size for f in cache_files(fpond)) <= limit
    assert len(cache_files(fpond)) <= every // 2


def _entry(n: int) -> pa.Table:
    return pa.table({"__b": pa.array(range(n), pa.int64()), "x": pa.array([0.5] * n)})


def _on_disk(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_the_cache_is_listed_only_when_its_recorded_size_nears_the_bound(tmp_path, monkeypatch):
    """A trim reads the recorded size (``.size``) instead of listing every file, until the total
    may pass 90% of the bound or the record is an hour old; then it lists, deletes the least
    recently used entries and records the true size."""
    from duckpond.factories import cache as cache_mod

    root = tmp_path / "cache"
    one = len(cache_mod._encode({"keys": []}, _entry(1000)))  # bytes of one entry
    listings = []
    real_scan = Cache._scan

    def counted(self):
        listings.append(1)
        return real_scan(self)

    monkeypatch.setattr(Cache, "_scan", counted)
    c = Cache(root, limit=10 * one + 100)
    for k in range(3):
        assert c.put(f"t/n/e{k}", {"keys": []}, _entry(1000), trim=False)
    c.trim()
    assert len(listings) == 1  # no record yet: listed once
    recorded, _ = c._ledger()
    assert abs(recorded - _on_disk(root)) < 64
    for k in range(3, 8):  # 8 entries: under 90% of the bound
        assert Cache(root, limit=10 * one + 100).put(f"t/n/e{k}", {"keys": []}, _entry(1000))
    assert len(listings) == 1  # each new process added its bytes to the record
    assert abs(c._ledger()[0] - _on_disk(root)) < 64
    # an entry replaced by one of the same size adds nothing
    assert Cache(root, limit=10 * one + 100).put("t/n/e0", {"keys": []}, _entry(1000))
    assert len(listings) == 1 and abs(c._ledger()[0] - _on_disk(root)) < 64
    # the ninth entry nears the bound: listed, and the oldest entries deleted down to 90%
    for k, path in enumerate(sorted(root.rglob("e*.dpc"))):
        os.utime(path, (1000 + k, 1000 + k))
    small = Cache(root, limit=6 * one)
    assert small.put("t/n/e8", {"keys": []}, _entry(1000))
    assert len(listings) == 2
    assert _on_disk(root) <= 6 * one
    assert not (root / "t/n/e0.dpc").exists() and (root / "t/n/e8.dpc").exists()
    assert abs(small._ledger()[0] - _on_disk(root)) < 64


@pytest.mark.parametrize("record", ["old", "corrupt", "mixed", "missing"])
def test_an_old_corrupt_or_missing_size_record_lists_the_cache(tmp_path, record):
    """The record may undercount (two processes adding at once): an hour later the cache is
    listed again and the bound holds; a record that cannot be read means a listing too."""
    import time as _time

    from duckpond.factories import cache as cache_mod

    root = tmp_path / "cache"
    one = len(cache_mod._encode({"keys": []}, _entry(1000)))
    for k in range(6):
        Cache(root, limit=100 * one).put(f"t/n/e{k}", {"keys": []}, _entry(1000))
    ledger = root / ".size"
    if record == "old":  # says empty, listed more than an hour ago
        ledger.write_text(f"0 {_time.time() - cache_mod.RESCAN_S - 5}\n")
    elif record == "corrupt":
        ledger.write_bytes(b"\xff\xfe not a size")
    elif record == "mixed":  # two processes wrote it at once
        ledger.write_text(f"0 {_time.time():.3f}\n0.000\n")
    else:
        ledger.unlink()
    c = Cache(root, limit=4 * one)
    c.trim()
    assert _on_disk(root) <= 4 * one
    assert abs(c._ledger()[0] - _on_disk(root)) < 64
    # a recent record that undercounts is believed (the bound is passed) until what is added
    # takes it near the bound, or it is an hour old: then the cache is listed again
    ledger.write_text(f"0 {_time.time()}\n")
    for k in range(6, 8):
        c.put(f"t/n/e{k}", {"keys": []}, _entry(1000))
    assert _on_disk(root) > 4 * one
    for k in range(8, 10):
        c.put(f"t/n/e{k}", {"keys": []}, _entry(1000))
    assert _on_disk(root) <= 4 * one


def test_maintain_prunes_entries_no_lineage_uses(fpond, monkeypatch):
    with fpond.transaction(["load"]) as tx:
        r = tx.root()
        r.append_series("/s.series", readings(T0, 6000, seed=1), time_column="Timestamp")
        mknod(r, "temporal-reduce", "/keep", CONFIG.format(input="/s.series"))
        mknod(r, "temporal-reduce", "/gone", CONFIG.format(input="/s.series"))
        mknod(r, "temporal-reduce", "/changed", CONFIG.format(input="/s.series"))
    p = fresh(fpond)
    for node in ("/keep", "/gone", "/changed"):
        read_all(p, node)
    by_node = {n: fresh(fpond).root().resolve(n).node.node_id for n in ("/keep", "/gone")}
    with fpond.transaction(["change"]) as tx:
        tx.root().remove("/gone")
        mknod(
            tx.root(),
            "temporal-reduce",
            "/changed",
            "input: /s.series\nresolutions: [7d]\n",  # other segments: other entry files
            overwrite=True,
        )
    stale = fpond.layout.cache / "temporal-reduce" / "x" / f".tmp-old{os.getpid()}"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by a writer that died")
    os.utime(stale, (1, 1))
    before = cache_files(fpond)
    report = fpond.maintain()
    assert report.bytes_freed > 0
    after = cache_files(fpond)
    assert [f for f in after if by_node["/gone"] in str(f)] == []
    assert not any(by_node["/gone"] in str(f) for f in config_files(fpond))
    assert any(by_node["/keep"] in str(f) for f in config_files(fpond))
    kept = [f for f in after if by_node["/keep"] in str(f)]
    assert kept and kept == [f for f in before if by_node["/keep"] in str(f)]
    assert not stale.exists() and not stale.parent.exists()
    # nothing current was lost: a new process computes nothing for /keep
    p = fresh(fpond)
    read_all(p, "/keep")
    assert stats(p, "/keep").computed == 0
    assert prune(fpond).removed == 0  # idempotent


def test_pond_cat_in_new_processes_and_a_deleted_cache(series_pond):
    """The CLI path: exit status 0 each time, the same bytes with and without the cache."""
    pond = series_pond
    raw, tc = read_csv_series(JFK_CSV)
    with pond.transaction(["load"]) as tx:
        tx.root().append_series("/jfk.series", raw, time_column=tc)
        mknod(
            tx.root(),
            "temporal-reduce",
            "/r",
            CONFIG.format(input="/jfk.series"),
            overwrite=True,
        )
    env = _pond_env(pond)
    first = subprocess.run(_cat("6h"), env=env, capture_output=True, timeout=300)
    assert first.returncode == 0, first.stderr.decode()
    assert cache_files(pond)
    second = subprocess.run(_cat("6h"), env=env, capture_output=True, timeout=300)
    assert second.returncode == 0 and second.stdout == first.stdout
    shutil.rmtree(pond.layout.cache)
    third = subprocess.run(_cat("6h"), env=env, capture_output=True, timeout=300)
    assert third.returncode == 0 and third.stdout == first.stdout
    off = subprocess.run(_cat("6h"), env={**env, "DUCKPOND_CACHE": "off"}, capture_output=True)
    assert off.returncode == 0 and off.stdout == first.stdout
    numeric = [c for c in raw.column_names if c != tc and pa.types.is_floating(raw[c].type)]
    raw = raw.rename_columns(["Timestamp" if c == tc else c for c in raw.column_names])
    assert check_duckdb(read_all(fresh(pond)), raw, numeric) > 0


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the process's mappings")
def test_an_entry_is_read_in_place_and_outlives_its_file(tmp_path):
    """An entry's table is read from the file's memory mapping (no copy into new memory); a
    writer renaming a new entry over it, or a prune deleting it, leaves a reader's rows as
    they were; an empty entry file is a corrupt one (deleted, a miss)."""
    root = tmp_path / "cache"
    cache = Cache(root)
    n = 20_000
    old = pa.table({"__b": pa.array(range(n), pa.int64()), "x": pa.array([0.25] * n)})
    assert cache.put("t/n/e", {"keys": ["a"]}, old)
    entry = cache.get("t/n/e")
    assert entry is not None and entry.header["keys"] == ["a"]
    path = str(cache.path("t/n/e"))
    mapped = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, *_, name = line.split(maxsplit=5)
        if name == path:
            lo, hi = (int(x, 16) for x in span.split("-"))
            mapped.append((lo, hi))
    assert mapped, "the entry file is not mapped"
    address = entry.table.column("__b").chunk(0).buffers()[1].address
    assert any(lo <= address < hi for lo, hi in mapped)  # the rows are the file's bytes
    # replaced by a writer, then deleted: the rows read are still the old ones
    new = pa.table({"__b": pa.array(range(5), pa.int64()), "x": pa.array([9.0] * 5)})
    assert Cache(root).put("t/n/e", {"keys": ["b"]}, new)
    assert Cache(root).get("t/n/e").table.num_rows == 5
    cache.path("t/n/e").unlink()
    b, x = entry.table.column("__b"), entry.table.column("x")
    assert (len(b), pc.sum(b).as_py(), pc.min(b).as_py(), pc.max(b).as_py()) == (
        n, n * (n - 1) // 2, 0, n - 1,
    )  # fmt: skip
    assert (pc.sum(x).as_py(), pc.min(x).as_py(), pc.max(x).as_py()) == (n * 0.25, 0.25, 0.25)
    # an empty file: corrupt, deleted, a miss
    cache.path("t/n/e").write_bytes(b"")
    assert cache.get("t/n/e") is None and not cache.path("t/n/e").exists()
