"""Derived nodes after a correction (issue 14): a temporal-reduce over a series that was
rm-rowed, replaced and reverted gives what a cold computation gives, checked bucket by bucket
(count, sum, min, max, avg) against DuckDB over the corrected raw rows, in a new process's view,
with its persistent cache warm from before the correction."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from test_reduce_cache import (
    CONFIG,
    DAY,
    MIN,
    T0,
    append,
    check,
    fresh,
    read_all,
    readings,
    segments_of,
    stats,
)

from duckpond.factories.registry import mknod
from duckpond.ops.corrections import remove_rows, replace_series, revert
from duckpond.times import Window


@pytest.fixture
def corr_pond(fpond):
    with fpond.transaction(["mknod"]) as tx:
        mknod(tx.root(), "temporal-reduce", "/r", CONFIG.format(input="/s.series"))
    return fpond


def without(raw: pa.Table, start: int, end: int) -> pa.Table:
    t = raw.column("Timestamp").cast(pa.int64())
    return raw.filter(pc.or_(pc.less(t, start), pc.greater_equal(t, end)))


def test_reduce_over_corrected_series_equals_a_cold_computation(corr_pond, monkeypatch):
    pond = corr_pond
    days = [readings(T0 + d * DAY, 144, seed=d) for d in range(40)]
    for d in range(40):  # 40 appends: collapsed on the way
        append(pond, "/s.series", days[d])
    raw = pa.concat_tables(days)
    check(pond, raw, monkeypatch)  # the cache is warm
    # rm-rows: half of day 21 goes; only the segment it lies in is recomputed
    start, end = T0 + 21 * DAY + 6 * 60 * MIN, T0 + 21 * DAY + 18 * 60 * MIN
    with pond.transaction(["rm-rows"]) as tx:
        assert remove_rows(tx.root(), "/s.series", Window(start, end)) == 72
    raw = without(raw, start, end)
    p, _ = check(pond, raw, monkeypatch)
    s = stats(p)
    assert 1 <= s.computed < len(segments_of(raw)) and s.loaded > 0, s
    # a replace with other values: every bucket follows
    shifted = pa.concat_tables(
        [readings(T0 + d * DAY, 144, seed=d, shift=50.0) for d in range(10, 30)]
    )
    with pond.transaction(["replace"]) as tx:
        replace_series(tx.root(), "/s.series", shifted)
    replaced_at = pond.txn_seq
    check(pond, shifted, monkeypatch)
    # a revert to before the rm-rows, then appends after it (16+: a collapse holds the fix)
    with pond.transaction(["revert"]) as tx:
        assert revert(tx.root(), "/s.series", replaced_at - 2) == "reverted"
    raw = pa.concat_tables(days)
    check(pond, raw, monkeypatch)
    more = [readings(T0 + d * DAY, 144, seed=d) for d in range(40, 58)]
    for t in more:
        append(pond, "/s.series", t)
    raw = pa.concat_tables([*days, *more])
    p, _ = check(pond, raw, monkeypatch)
    assert stats(p).computed == len(segments_of(*more))  # only the new days' segments
    assert pond.maintain().collapses >= 1
    p = fresh(pond)
    read_all(p)
    assert stats(p).computed == 0  # a collapse after a correction changes no key
    check(pond, raw, monkeypatch)
