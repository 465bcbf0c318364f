"""The README quick start on the bundled real data: copy the CSVs in as series with
``host+csv+series://``, print an hourly summary with ``pond cat --sql``, and check every number
against DuckDB reading the raw CSV."""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path

import cli_testlib
import duckdb
import pyarrow.parquet as pq
import pytest
from cli_testlib import B01_CSV, JFK_CSV, RunCli

run_cli = cli_testlib.run_cli
pond_dir = cli_testlib.pond_dir


def hourly_sql(column: str) -> str:
    return (
        "SELECT date_bin(INTERVAL '1 hour', \"Timestamp\", TIMESTAMP '1970-01-01T00:00:00Z') "
        f'AS hour, min("{column}") AS lo, avg("{column}") AS mean, max("{column}") AS hi, '
        f'count("{column}") AS n FROM source GROUP BY hour ORDER BY hour'
    )


def duckdb_hourly(csv: Path, column: str) -> list[tuple]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.execute(
        f"""
        SELECT epoch_us(date_trunc('hour', "Timestamp"::TIMESTAMPTZ)) AS hour,
               min("{column}"), avg("{column}"), max("{column}"), count("{column}")
        FROM read_csv('{csv}', header = true, types = {{'Timestamp': 'VARCHAR'}})
        GROUP BY hour ORDER BY hour
        """
    ).fetchall()


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


@pytest.mark.parametrize(
    ("csv", "name", "column", "rows", "buckets"),
    [
        (B01_CSV, "b01.series", "WaterTemperature.C", 19225, None),
        (JFK_CSV, "jfk.series", "AirTemperature.C", 8706, 8706),
        (JFK_CSV, "jfk.series", "BarometricPressure.hPa", 8706, 8706),  # 831 empty cells
    ],
)
def test_hourly_summary_matches_duckdb(
    pond_dir: Path,
    run_cli: RunCli,
    csv: Path,
    name: str,
    column: str,
    rows: int,
    buckets: int | None,
) -> None:
    assert run_cli("mkdir", "/data").code == 0
    r = run_cli("copy", f"host+csv+series://{csv}", "/data")
    assert r.code == 0, r.err
    desc = run_cli("describe", f"/data/{csv.name}").text
    assert f"rows        {rows}" in desc
    r = run_cli("mv", f"/data/{csv.name}", f"/data/{name}")
    assert r.code == 0, r.err
    r = run_cli("cat", f"/data/{name}", "--sql", hourly_sql(column))
    assert r.code == 0, r.err
    ours = pq.read_table(io.BytesIO(r.out))
    assert str(ours.schema.field("hour").type) == "timestamp[us, tz=UTC]"
    expected = duckdb_hourly(csv, column)
    if buckets is not None:
        assert len(expected) == buckets
    assert ours.num_rows == len(expected)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    for got, want in zip(ours.to_pylist(), expected, strict=True):
        assert (got["hour"] - epoch) // dt.timedelta(microseconds=1) == want[0]
        assert close(got["lo"], want[1]) and close(got["hi"], want[3])
        assert close(got["mean"], want[2]), (got, want)
        assert got["n"] == want[4]


def test_quick_start_text_output(pond_dir: Path, run_cli: RunCli) -> None:
    """The CSV form of the summary (what a user reads in a terminal pipeline)."""
    run_cli("copy", f"host+csv+series://{B01_CSV}", "/b01.series")
    r = run_cli("cat", "/b01.series", "--sql", hourly_sql("WaterTemperature.C"), "--format", "csv")
    lines = r.text.splitlines()
    assert lines[0] == '"hour","lo","mean","hi","n"'
    first = duckdb_hourly(B01_CSV, "WaterTemperature.C")[0]
    hour, lo, mean, hi, n = lines[1].split(",")
    assert hour == "2016-02-15 00:00:00.000000Z"
    assert (float(lo), float(hi), int(n)) == (first[1], first[3], first[4])
    assert math.isclose(float(mean), first[2])
