"""timeseries-join: union within a scope, full outer join across scopes, prefixes, ranges."""

from __future__ import annotations

import pyarrow as pa
import pytest
from factory_testlib import B01_CSV, JFK_CSV, TIME, us

from duckpond.errors import InvalidData
from duckpond.factories.base import EmptyInputWarning
from duckpond.factories.registry import mknod

H = 3_600_000_000


def _t(hours, **cols):
    data = {"Timestamp": pa.array([h * H for h in hours], TIME)}
    data.update(cols)
    return pa.table(data)


def _join(pond, config, path="/j.series"):
    with pond.transaction(["mknod"]) as tx:
        mknod(tx.root(), "timeseries-join", path, config)
    return pond.root().resolve(path).read_table()


@pytest.fixture
def three(fpond):
    with fpond.transaction(["load"]) as tx:
        r = tx.root()
        r.append_series("/a1.series", _t([0, 1, 2], x=[1.0, 2.0, 3.0]))
        r.append_series("/a2.series", _t([2, 3], x=[30.0, 40.0], y=[7, 8]))
        r.append_series("/b.series", _t([1, 5], x=[-1.0, -5.0]))
    return fpond


def test_scopes_full_outer_join_with_prefixes(three):
    t = _join(
        three,
        "inputs:\n  - {pattern: /a*.series, scope: A}\n  - {pattern: /b.series, scope: B}\n",
    )
    assert t.schema == pa.schema(
        [("Timestamp", TIME), ("A.x", pa.float64()), ("A.y", pa.int64()), ("B.x", pa.float64())]
    )
    assert t.column("Timestamp").cast(pa.int64()).to_pylist() == [0, H, 2 * H, 3 * H, 5 * H]
    assert t.column("Timestamp").null_count == 0
    # within scope A, /a2 (the later match) wins at 02:00 where both have x
    assert t.column("A.x").to_pylist() == [1.0, 2.0, 30.0, 40.0, None]
    assert t.column("A.y").to_pylist() == [None, None, 7, 8, None]
    assert t.column("B.x").to_pylist() == [None, -1.0, None, None, -5.0]


def test_later_input_of_a_scope_overrides_but_nulls_do_not(fpond):
    with fpond.transaction(["load"]) as tx:
        r = tx.root()
        r.append_series("/p.series", _t([0, 1], v=[1.0, 2.0]))
        r.append_series("/q.series", _t([0, 1], v=[None, 20.0]))
    t = _join(
        fpond,
        "inputs:\n  - {pattern: /p.series, scope: S}\n  - {pattern: /q.series, scope: S}\n",
    )
    assert t.column("S.v").to_pylist() == [1.0, 20.0]


def test_time_range_per_input(three):
    t = _join(
        three,
        "inputs:\n"
        "  - {pattern: /a1.series, scope: A, start: '1970-01-01T01:00:00Z'}\n"
        "  - {pattern: /b.series, scope: B, end: 1970-01-01T02:00:00Z}\n",
    )
    assert t.column("Timestamp").cast(pa.int64()).to_pylist() == [H, 2 * H]
    assert t.column("A.x").to_pylist() == [2.0, 3.0]
    assert t.column("B.x").to_pylist() == [-1.0, None]


def test_duplicate_output_names_are_an_error(fpond):
    with fpond.transaction(["load"]) as tx:
        tx.root().append_series("/p.series", _t([0], **{"x.y": [1.0]}))
        tx.root().append_series("/q.series", _t([0], y=[2.0]))
    with pytest.raises(InvalidData, match=r"duplicate output column 'A.x.y'"):
        _join(
            fpond,
            "inputs:\n  - {pattern: /p.series, scope: A}\n  - {pattern: /q.series, scope: A.x}\n",
        )


def test_output_named_like_the_time_column_is_an_error(fpond):
    with fpond.transaction(["load"]) as tx:
        tx.root().append_series("/p.series", _t([0], t=[1.0]))
    with pytest.raises(InvalidData, match="is the time column"):
        _join(fpond, "time_column: A.t\ninputs:\n  - {pattern: /p.series, scope: A}\n")


def test_join_without_a_time_column(fpond):
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1.0]}), buf)
    with fpond.transaction(["load"]) as tx:
        tx.root().write_file("/t.table", buf.getvalue(), file_type="file:table")
    seq = fpond.txn_seq + 1
    with pytest.raises(InvalidData) as info:
        _join(fpond, "inputs:\n  - {pattern: /t.table, scope: T}\n")
    assert "inputs[0]: /t.table has no time column" in str(info.value)
    assert info.value.path == "/j.series"
    assert fpond.txn_seq == seq  # the mknod committed; the read changed nothing


def test_a_table_with_a_time_column_joins(fpond):
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"time": ["1970-01-01T01:00:00Z"], "x": [1.0]}), buf)
    with fpond.transaction(["load"]) as tx:
        tx.root().write_file("/t.table", buf.getvalue(), file_type="file:table")
    t = _join(fpond, "inputs:\n  - {pattern: /t.table, scope: T}\n")
    assert t.to_pylist()[0]["T.x"] == 1.0
    assert t.column("Timestamp").cast(pa.int64()).to_pylist() == [H]


def test_scope_matching_nothing_is_said_and_skipped(three):
    with pytest.warns(EmptyInputWarning, match=r"inputs\[1\].pattern \(/zzz\*\) matches nothing"):
        t = _join(
            three, "inputs:\n  - {pattern: /b.series, scope: B}\n  - {pattern: /zzz*, scope: Z}\n"
        )
    assert t.column_names == ["Timestamp", "B.x"]
    with pytest.warns(EmptyInputWarning):
        t = _join(three, "inputs:\n  - {pattern: /zzz*, scope: Z}\n", path="/e.series")
    assert t.num_rows == 0 and t.column_names == ["Timestamp"]


def test_real_data_join_keeps_every_row_of_both(real_pond):
    import pyarrow.csv as pacsv

    t = _join(
        real_pond,
        "inputs:\n  - {pattern: /raw/jfk.series, scope: JFK}\n"
        "  - {pattern: /raw/b01.series, scope: B01}\n",
        path="/real_join.series",
    )
    jfk = pacsv.read_csv(JFK_CSV)
    b01 = pacsv.read_csv(B01_CSV)
    assert t.num_rows == jfk.num_rows + b01.num_rows  # 2013 and 2016-17 do not overlap
    assert "B01.WaterTemperature.C" in t.column_names
    assert "JFK.AirTemperature.C" in t.column_names
    rows = {r["Timestamp"].isoformat(): r for r in t.slice(0, 3).to_pylist()}
    first = rows["2013-01-01T06:00:00+00:00"]
    assert first["JFK.AirTemperature.C"] == 3.9 and first["B01.WaterTemperature.C"] is None
    ts = t.column("Timestamp").cast(pa.int64()).to_pylist()
    assert ts == sorted(ts) and ts[-1] == us("2017-03-22T00:00:00+00:00")
