"""temporal-reduce with many versions: out of order, overlapping, incremental updates, caching."""

from __future__ import annotations

import math
import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from factory_testlib import B01_CSV, TIME, H, compare_reduced, duckdb_reduce

from duckpond.errors import InvalidData
from duckpond.factories.base import EmptyInputWarning
from duckpond.factories.reduce import segment_seconds
from duckpond.factories.registry import mknod
from duckpond.formats import read_csv_series

COL = "WaterTemperature.C"
AGGS = ("avg", "min", "max", "count")
CONFIG = "input: {input}\nresolutions: [1h, 6h, 24h]\naggregations: [avg, min, max, count]\n"
SECONDS = {"1h": 3600, "6h": 21600, "24h": 86400}


@pytest.fixture(scope="module")
def b01() -> pa.Table:
    return read_csv_series(B01_CSV)[0]


def _shuffled(t: pa.Table, seed: int) -> pa.Table:
    idx = list(range(t.num_rows))
    random.Random(seed).shuffle(idx)
    return t.take(pa.array(idx))


def _chunks(b01: pa.Table) -> list[pa.Table]:
    """Three versions: a late one, an earlier one (out of order), one overlapping both with
    duplicate timestamps and different values; rows shuffled inside each."""
    late = b01.slice(12000)
    early = b01.slice(0, 6000)
    overlap = b01.slice(5000, 8000)
    overlap = overlap.set_column(1, COL, pc.add(overlap.column(COL), 0.125))
    return [_shuffled(late, 1), _shuffled(early, 2), _shuffled(overlap, 3)]


def _check(pond, path: str, union: pa.Table) -> None:
    for res, seconds in SECONDS.items():
        ours = pond.root().resolve(f"{path}/res={res}.series").read_table()
        compare_reduced(ours, duckdb_reduce(union, [COL], seconds), {COL: COL}, AGGS)


def _stats(pond, path: str):
    return pond.fs.dynamic_object(pond.root().resolve(path)).stats


SEGMENT_S = segment_seconds(SECONDS.values())
assert SEGMENT_S is not None
SEGMENT_US = SEGMENT_S * 1_000_000


def _segment_set(t: pa.Table) -> set[int]:
    """The segments a version of these rows overlaps (from its min to its max time)."""
    ts = t.column("Timestamp").cast(pa.int64())
    lo, hi = pc.min(ts).as_py(), pc.max(ts).as_py()
    return set(range(lo // SEGMENT_US, hi // SEGMENT_US + 1))


def _segments(t: pa.Table) -> int:
    return len(_segment_set(t))


def test_out_of_order_overlapping_versions_full_compute(fpond, b01):
    chunks = _chunks(b01)
    with fpond.transaction(["load"]) as tx:
        for c in chunks:
            tx.root().append_series("/s.series", c)
        mknod(tx.root(), "temporal-reduce", "/r", CONFIG.format(input="/s.series"))
    assert len(fpond.root().resolve("/s.series").versions()) == 3
    _check(fpond, "/r", pa.concat_tables(chunks))  # duplicate times are two samples


def test_incremental_merge_matches_a_full_recompute(fpond, b01):
    from duckpond import Pond
    from duckpond.factories import resolver

    chunks = _chunks(b01)
    with fpond.transaction(["load"]) as tx:
        tx.root().append_series("/s.series", chunks[0])
        mknod(tx.root(), "temporal-reduce", "/r", CONFIG.format(input="/s.series"))
    _check(fpond, "/r", chunks[0])
    for i in (1, 2):
        with fpond.transaction(["append"]) as tx:
            tx.root().append_series("/s.series", chunks[i])
        _check(fpond, "/r", pa.concat_tables(chunks[: i + 1]))
        # only the segments the new version's rows fall in were computed, the rest reused
        stats = _stats(fpond, "/r")
        assert stats.passes == 1 + i
        assert stats.computed == sum(_segments(c) for c in chunks[: i + 1])
        assert stats.reused == sum(
            len(_segment_set(pa.concat_tables(chunks[:k])) - _segment_set(chunks[k]))
            for k in range(1, i + 1)
        )
    # a new process takes every segment from the persistent cache
    fresh = Pond.open(fpond.path, factories=resolver)
    _check(fresh, "/r", pa.concat_tables(chunks))
    stats = _stats(fresh, "/r")
    assert stats.passes == 0 and stats.computed == 0
    assert stats.loaded == _segments(pa.concat_tables(chunks))


def test_incremental_window_through_a_join(fpond, b01):
    """series -> timeseries-join -> reduce: versions interleaved in time (odd/even rows)."""
    even = b01.filter(pc.equal(pc.bit_wise_and(pa.array(range(b01.num_rows)), 1), 0))
    odd = b01.filter(pc.equal(pc.bit_wise_and(pa.array(range(b01.num_rows)), 1), 1))
    late_odd = odd.slice(5000)
    early_odd = odd.slice(0, 5000)
    with fpond.transaction(["load"]) as tx:
        r = tx.root()
        r.append_series("/s.series", even)
        mknod(r, "timeseries-join", "/j.series", "inputs:\n  - {pattern: /s.series, scope: B}\n")
        mknod(r, "temporal-reduce", "/r", CONFIG.format(input="/j.series"))
    fpond.root().resolve("/r/res=1h.series").read_table()
    for step, (chunk, so_far) in enumerate(
        [(late_odd, pa.concat_tables([even, late_odd])), (early_odd, b01)], start=1
    ):
        with fpond.transaction(["append"]) as tx:
            tx.root().append_series("/s.series", chunk)
        for res, seconds in SECONDS.items():
            ours = fpond.root().resolve(f"/r/res={res}.series").read_table()
            compare_reduced(ours, duckdb_reduce(so_far, [COL], seconds), {f"B.{COL}": COL}, AGGS)
        assert _stats(fpond, "/r").passes == 1 + step
    assert _stats(fpond, "/r").computed == sum(_segments(t) for t in (even, late_odd, early_odd))


def test_cached_until_an_input_or_the_config_changes(fpond, b01):
    from duckpond import Pond
    from duckpond.factories import resolver

    with fpond.transaction(["load"]) as tx:
        tx.root().append_series("/s.series", b01)
        mknod(tx.root(), "temporal-reduce", "/r", CONFIG.format(input="/s.series"))
    first = fpond.root().resolve("/r/res=1h.series").read_table()
    again = fpond.root().resolve("/r/res=1h.series").read_table()
    assert again is first
    assert _stats(fpond, "/r").passes == 1 and _stats(fpond, "/r").cached == 1
    # another process changes the config; this one sees it after a refresh (its next txn)
    other = Pond.open(fpond.path, factories=resolver)
    with other.transaction(["mknod"]) as tx:
        mknod(
            tx.root(),
            "temporal-reduce",
            "/r",
            CONFIG.replace("1h, ", "2h, ").format(input="/s.series"),
            overwrite=True,
        )
    with fpond.transaction(["noop"]):
        pass
    assert [n.name for n in fpond.root().list("/r")] == [
        "res=24h.series",
        "res=2h.series",
        "res=6h.series",
    ]
    two = fpond.root().resolve("/r/res=2h.series").read_table()
    assert two.num_rows == duckdb_reduce(b01, [COL], 7200).__len__()


def test_rolled_back_version_is_not_remembered(fpond, b01):
    with fpond.transaction(["load"]) as tx:
        tx.root().append_series("/s.series", b01.slice(0, 1000))
        mknod(tx.root(), "temporal-reduce", "/r", CONFIG.format(input="/s.series"))
    before = fpond.root().resolve("/r/res=1h.series").read_table()
    with pytest.raises(RuntimeError), fpond.transaction(["append"]) as tx:
        tx.root().append_series("/s.series", b01.slice(1000, 1000))
        inside = tx.root().resolve("/r/res=1h.series").read_table()  # sees the staged version
        assert inside.num_rows > before.num_rows
        raise RuntimeError("abandon")
    after = fpond.root().resolve("/r/res=1h.series").read_table()
    assert after.equals(before)


def test_several_matches_are_one_timeline(fpond, b01):
    with fpond.transaction(["load"]) as tx:
        r = tx.root()
        r.mkdir("/s")
        r.append_series("/s/a.series", b01.slice(0, 9000))
        r.append_series("/s/b.series", b01.slice(9000))
        mknod(r, "temporal-reduce", "/r", CONFIG.format(input="/s/*.series"))
    _check(fpond, "/r", b01)


def test_times_before_1970_nan_and_explicit_columns(fpond):
    ts = [-3 * H - 1, -3 * H, -H // 2, 0, H + 5, 2 * H]
    table = pa.table(
        {
            "Timestamp": pa.array(ts, TIME),
            "a": pa.array([1.0, 2.0, float("nan"), 4.0, None, 6.0]),
            "n": pa.array([1, 2, 3, 4, 5, 6], pa.int32()),
            "label": ["x"] * 6,
        }
    )
    with fpond.transaction(["load"]) as tx:
        tx.root().append_series("/s.series", table)
        mknod(
            tx.root(),
            "temporal-reduce",
            "/r",
            "input: /s.series\nresolutions: [1h, 2h]\naggregations: [count, avg]\n"
            "columns: [a, n]\ntime_column: t\n",
        )
    h1 = fpond.root().resolve("/r/res=1h.series").read_table()
    assert h1.column_names == ["t", "a.count", "a.avg", "n.count", "n.avg"]
    assert h1.column("t").cast(pa.int64()).to_pylist() == [-4 * H, -3 * H, -H, 0, H, 2 * H]
    assert h1.column("a.count").to_pylist() == [1, 1, 0, 1, 0, 1]  # NaN and null: missing
    assert h1.column("a.avg").to_pylist() == [1.0, 2.0, None, 4.0, None, 6.0]
    assert h1.column("n.avg").to_pylist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    h2 = fpond.root().resolve("/r/res=2h.series").read_table()
    assert h2.column("t").cast(pa.int64()).to_pylist() == [-4 * H, -2 * H, 0, 2 * H]
    assert h2.column("a.count").to_pylist() == [2, 0, 1, 1]
    assert math.isclose(h2.column("a.avg")[0].as_py(), 1.5)


@pytest.mark.parametrize(
    ("columns", "words"),
    [
        ("[nope]", "columns[0]: 'nope' is not a column"),
        ("[label]", "columns[0]: 'label' is string"),
    ],
)
def test_bad_columns_fail_on_read_naming_the_field(fpond, columns, words):
    table = pa.table({"Timestamp": pa.array([0], TIME), "v": [1.0], "label": ["x"]})
    with fpond.transaction(["load"]) as tx:
        tx.root().append_series("/s.series", table)
        mknod(
            tx.root(),
            "temporal-reduce",
            "/r",
            f"input: /s.series\nresolutions: [1h]\ncolumns: {columns}\n",
        )
    seq = fpond.txn_seq
    with pytest.raises(InvalidData) as info:
        fpond.root().resolve("/r/res=1h.series").read_table()
    assert words in str(info.value)
    assert info.value.path == "/r"
    assert fpond.txn_seq == seq


def test_input_matching_nothing_is_an_empty_result_said_so(fpond):
    with fpond.transaction(["mknod"]) as tx:
        mknod(tx.root(), "temporal-reduce", "/r", "input: /nothing/*.series\nresolutions: [1h]\n")
    with pytest.warns(EmptyInputWarning, match=r"/r: input \(/nothing/\*.series\) matches nothing"):
        t = fpond.root().resolve("/r/res=1h.series").read_table()
    assert t.num_rows == 0
    assert t.schema == pa.schema([pa.field("Timestamp", TIME)])


def test_input_table_without_time_column(fpond):
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1.0, 2.0]}), buf)
    with fpond.transaction(["load"]) as tx:
        tx.root().write_file("/t.table", buf.getvalue(), file_type="file:table")
        mknod(tx.root(), "temporal-reduce", "/r", "input: /t.table\nresolutions: [1h]\n")
    with pytest.raises(InvalidData, match=r"/r: input: /t.table has no time column"):
        fpond.root().resolve("/r/res=1h.series").read_table()


def test_a_reduce_cannot_read_itself_or_form_a_cycle(fpond):
    with fpond.transaction(["mknod"]) as tx:
        r = tx.root()
        r.append_series("/s.series", pa.table({"Timestamp": pa.array([0], TIME), "v": [1.0]}))
        # /** would match the reduce's own children: they are skipped
        mknod(r, "temporal-reduce", "/r", "input: /**/*.series\nresolutions: [1h]\n")
        mknod(r, "sql-derived", "/a.series", "patterns: {b: /b.series}\nquery: SELECT * FROM b\n")
        mknod(r, "sql-derived", "/b.series", "patterns: {a: /a.series}\nquery: SELECT * FROM a\n")
    with pytest.raises(InvalidData, match="cycle"):
        fpond.root().resolve("/a.series").read_table()
    with pytest.raises(InvalidData, match="cycle"):
        fpond.root().resolve("/r/res=1h.series").read_table()
