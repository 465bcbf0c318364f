"""temporal-reduce over the bundled real data: every value against DuckDB over the raw CSV.

The oracle (factory_testlib.duckdb_reduce) reads the CSV with DuckDB itself and buckets by integer
floor division of epoch µs, independently of our date_bin; values must agree to 1e-9 relative.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from factory_testlib import B01_CSV, JFK_CSV, H, compare_reduced, duckdb_reduce, us

from duckpond.factories.registry import mknod

RESOLUTIONS = {"1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600, "12h": 43200, "24h": 86400}
AGGS = ("avg", "min", "max", "count")
JFK_COLUMNS = [
    "AirTemperature.C",
    "DewPoint.C",
    "RelativeHumidity.pct",
    "WindDirection.deg",
    "WindSpeed.m_s",
    "WindGust.m_s",
    "Precipitation.mm",
    "BarometricPressure.hPa",
    "Visibility.km",
]


@pytest.fixture(scope="module")
def reduced(real_pond):
    res = ", ".join(RESOLUTIONS)
    with real_pond.transaction(["mknod"]) as tx:
        r = tx.root()
        for name in ("b01", "jfk"):
            mknod(
                r,
                "temporal-reduce",
                f"/{name}_reduced",
                f"input: /raw/{name}.series\nresolutions: [{res}]\n"
                "aggregations: [avg, min, max, count]\n",
            )
    return real_pond


def _read(pond, path: str) -> pa.Table:
    return pond.root().resolve(path).read_table()


@pytest.mark.parametrize("res", list(RESOLUTIONS))
def test_b01_every_value_equals_duckdb(reduced, res):
    ours = _read(reduced, f"/b01_reduced/res={res}.series")
    expected = duckdb_reduce(B01_CSV, ["WaterTemperature.C"], RESOLUTIONS[res])
    n = compare_reduced(ours, expected, {"WaterTemperature.C": "WaterTemperature.C"}, AGGS)
    assert n == 4 * len(expected)
    assert ours.column_names == [
        "Timestamp",
        "WaterTemperature.C.avg",
        "WaterTemperature.C.min",
        "WaterTemperature.C.max",
        "WaterTemperature.C.count",
    ]


@pytest.mark.parametrize("res", list(RESOLUTIONS))
def test_jfk_every_value_of_every_column_equals_duckdb(reduced, res):
    ours = _read(reduced, f"/jfk_reduced/res={res}.series")
    expected = duckdb_reduce(JFK_CSV, JFK_COLUMNS, RESOLUTIONS[res])
    n = compare_reduced(ours, expected, {c: c for c in JFK_COLUMNS}, AGGS)
    assert n == 4 * len(JFK_COLUMNS) * len(expected)
    # the integer wind direction is reduced too (as float64), nulls are skipped, counts say so
    assert ours.schema.field("WindDirection.deg.avg").type == pa.float64()
    assert ours.schema.field("WindGust.m_s.count").type == pa.int64()


def _rows(table: pa.Table, column: str) -> dict[int, object]:
    ts = table.column("Timestamp").cast(pa.int64()).to_pylist()
    return dict(zip(ts, table.column(column).to_pylist(), strict=True))


def test_b01_twelve_hour_hole_gives_no_rows_not_null_rows(reduced):
    """B01 has nothing from 2016-07-08T01:30Z (last) to 13:30Z (next): 23 missing slots."""
    day = us("2016-07-08T00:00:00+00:00")
    h1 = _rows(_read(reduced, "/b01_reduced/res=1h.series"), "WaterTemperature.C.count")
    assert h1[day + 1 * H] == 2  # 01:00 and 01:30
    for hour in range(2, 13):
        assert day + hour * H not in h1, f"an empty 1h bucket at {hour}:00 has a row"
    assert h1[day + 13 * H] == 1  # 13:30 only
    h6 = _rows(_read(reduced, "/b01_reduced/res=6h.series"), "WaterTemperature.C.count")
    assert h6[day] == 4  # 00:00 .. 01:30
    assert day + 6 * H not in h6  # 06:00-12:00 is entirely inside the hole
    assert h6[day + 12 * H] == 9  # 13:30 .. 17:30
    h12 = _rows(_read(reduced, "/b01_reduced/res=12h.series"), "WaterTemperature.C.count")
    assert (h12[day], h12[day + 12 * H]) == (4, 21)
    h24 = _rows(_read(reduced, "/b01_reduced/res=24h.series"), "WaterTemperature.C.count")
    assert h24[day] == 25
    assert h24[day - 24 * H] == 48
    # the one missing slot of 2016-06-14T13:00Z: the 1h bucket keeps one sample
    assert h1[us("2016-06-14T13:00:00+00:00")] == 1


def test_jfk_missing_hours(reduced):
    h1 = _rows(_read(reduced, "/jfk_reduced/res=1h.series"), "AirTemperature.C.count")
    h2 = _rows(_read(reduced, "/jfk_reduced/res=2h.series"), "AirTemperature.C.count")
    h4 = _rows(_read(reduced, "/jfk_reduced/res=4h.series"), "AirTemperature.C.count")
    h6 = _rows(_read(reduced, "/jfk_reduced/res=6h.series"), "AirTemperature.C.count")
    # 2013-01-01T17:00Z is missing
    assert us("2013-01-01T17:00:00+00:00") not in h1
    assert h2[us("2013-01-01T16:00:00+00:00")] == 1
    # the 6 h interval 2013-10-25T23Z -> 10-26T05Z: 00..04 missing
    night = us("2013-10-26T00:00:00+00:00")
    assert all(night + k * H not in h1 for k in range(5))
    assert night not in h4  # 00:00-04:00 holds no row at all
    assert h4[night + 4 * H] == 3  # 05:00, 06:00, 07:00
    assert h6[night] == 1  # only 05:00
    # the first row is at 2013-01-01T06:00Z: no earlier buckets
    assert min(h1) == us("2013-01-01T06:00:00+00:00")
    # JFK has no 31 Dec: the last daily bucket is the 30th
    h24 = _rows(_read(reduced, "/jfk_reduced/res=24h.series"), "AirTemperature.C.count")
    assert max(h24) == us("2013-12-30T00:00:00+00:00")


def test_pressure_gaps_give_null_values_and_zero_counts_but_keep_the_row(reduced):
    t = _read(reduced, "/jfk_reduced/res=1h.series")
    count = t.column("BarometricPressure.hPa.count").to_pylist()
    avg = t.column("BarometricPressure.hPa.avg").to_pylist()
    air = t.column("AirTemperature.C.count").to_pylist()
    empty = [i for i, c in enumerate(count) if c == 0]
    assert len(empty) == 831  # PROVENANCE.md: 831 NaN pressures, one per hourly row
    assert all(avg[i] is None and air[i] == 1 for i in empty)


def test_datafusion_engine_gives_the_same_values(real_pond, monkeypatch):
    """Large inputs are aggregated by DataFusion, small ones by pyarrow: both agree with DuckDB."""
    from duckpond import Pond
    from duckpond.factories import reduce, resolver

    monkeypatch.setattr(reduce, "ARROW_ENGINE_MAX_BYTES", 0)
    with real_pond.transaction(["mknod"]) as tx:
        mknod(
            tx.root(),
            "temporal-reduce",
            "/df_reduced",
            "input: /raw/jfk.series\nresolutions: [6h, 1h]\naggregations: [avg, min, max, count]\n",
        )
    pond = Pond.open(real_pond.path, factories=resolver)
    for res in ("1h", "6h"):
        ours = _read(pond, f"/df_reduced/res={res}.series")
        expected = duckdb_reduce(JFK_CSV, JFK_COLUMNS, RESOLUTIONS[res])
        compare_reduced(ours, expected, {c: c for c in JFK_COLUMNS}, AGGS)
