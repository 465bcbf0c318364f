"""The bundled real CSVs into series, checked against pyarrow's CSV reader and DuckDB."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from core_testlib import B01_CSV, JFK_CSV

from duckpond.formats import read_csv_series


@pytest.fixture
def loaded(pond):
    with pond.transaction(["load"]) as tx:
        r = tx.root()
        r.mkdir("/raw")
        for name, path in [("jfk", JFK_CSV), ("b01", B01_CSV)]:
            table, tc = read_csv_series(path)
            r.append_series(f"/raw/{name}.series", table, time_column=tc)
    return pond


@pytest.mark.parametrize(
    ("name", "path", "rows"), [("jfk", JFK_CSV, 8706), ("b01", B01_CSV, 19225)]
)
def test_rows_and_values_match_pyarrow(loaded, name, path, rows):
    from duckpond import Pond

    got = Pond.open(loaded.path).root().resolve(f"/raw/{name}.series").read_table()
    want = pacsv.read_csv(path)
    assert got.num_rows == want.num_rows == rows
    assert got.schema.field("Timestamp").type == pa.timestamp("us", "UTC")
    assert got.column("Timestamp").equals(want.column("Timestamp").cast(pa.timestamp("us", "UTC")))
    for col in want.column_names[1:]:
        assert got.column(col).equals(want.column(col)), col


def test_hourly_average_equals_duckdb(loaded):
    ours = loaded.sql(
        "SELECT date_bin(INTERVAL '1 hour', \"Timestamp\", TIMESTAMP '1970-01-01T00:00:00Z')"
        " AS hour,"
        ' avg("WaterTemperature.C") AS avg_t, min("WaterTemperature.C") AS min_t,'
        " count(*) AS n FROM source GROUP BY hour ORDER BY hour",
        "/raw/b01.series",
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    theirs = con.sql(
        f"""SELECT time_bucket(INTERVAL 1 HOUR, "Timestamp"::TIMESTAMPTZ) AS hour,
                   avg("WaterTemperature.C") AS avg_t, min("WaterTemperature.C") AS min_t,
                   count(*) AS n
            FROM read_csv('{B01_CSV}') GROUP BY hour ORDER BY hour"""
    ).to_arrow_table()
    assert ours.num_rows == theirs.num_rows > 9000
    assert ours.column("n").to_pylist() == theirs.column("n").to_pylist()
    their_hours = theirs.column("hour").cast(pa.timestamp("us", "UTC"))
    assert pc.all(pc.equal(ours.column("hour"), their_hours)).as_py()
    pairs = zip(ours.column("avg_t").to_pylist(), theirs.column("avg_t").to_pylist(), strict=True)
    for a, b in pairs:
        assert a == pytest.approx(b, rel=1e-12)
    assert ours.column("min_t").to_pylist() == theirs.column("min_t").to_pylist()


def test_series_time_bounds_recorded(loaded):
    st = loaded.root().stat("/raw/jfk.series")
    assert st.min_event_time == 1357020000 * 1_000_000  # 2013-01-01T06:00:00Z
    assert st.max_event_time == 1388444400 * 1_000_000  # 2013-12-30T23:00:00Z
