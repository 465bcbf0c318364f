"""``pond export --delta``: a Delta Lake table per series, kept in step incrementally, in a host
folder or on S3 (a real moto_server); read by deltalake and polars, checked against
``pond cat --sql``. A slow test has Apache Spark (pyspark, Java) read the Parquet export and
compute the hourly aggregates ``pond cat --sql`` computes."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import ecosystem_testlib
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable
from ecosystem_testlib import sql_json

from duckpond import Pond

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote"))
from remote_testlib import ACCESS_KEY, SECRET, SECRET_ENV, MotoServer

run_cli = ecosystem_testlib.run_cli
pond_dir = ecosystem_testlib.pond_dir
real_pond = ecosystem_testlib.real_pond

TEMP = "WaterTemperature.C"
STATS = 'SELECT count(*) AS n, sum("{c}") AS s, min("{c}") AS lo, max("{c}") AS hi FROM source{w}'


def _stats(table: pa.Table, column: str) -> tuple[int, float, float, float]:
    col = table.column(column)
    return (
        table.num_rows,
        pc.sum(col).as_py(),
        pc.min(col).as_py(),
        pc.max(col).as_py(),
    )


def _want(run, path: str, column: str, where: str = "") -> tuple[int, float, float, float]:
    (row,) = sql_json(run, path, STATS.format(c=column, w=where))
    return row["n"], row["s"], row["lo"], row["hi"]


def _same(got, want) -> None:
    assert got[0] == want[0] and got[2:] == want[2:]
    assert math.isclose(got[1], want[1], rel_tol=1e-12)


def _export(run, out: Path, delta: str, *extra: str) -> list[str]:
    done = run("export", "-p", "/*/*.series", "--dir", out, "--delta", delta, *extra)
    assert done.code == 0, done.err
    return [line for line in done.text.splitlines() if line.startswith("delta ")]


def test_a_delta_table_per_series_matches_the_pond(real_pond, run_cli, tmp_path):
    lake = tmp_path / "lake"
    lines = _export(run_cli, tmp_path / "out", str(lake))
    assert len(lines) == 2 and all("version 0" in line for line in lines)
    b01 = DeltaTable(str(lake / "buoy" / "b01"))
    table = b01.to_pyarrow_table()
    _same(
        _stats(table, "WaterTemperature.C"),
        _want(run_cli, "/buoy/b01.series", "WaterTemperature.C"),
    )
    assert table.schema.field("Timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("month").type == pa.int32()
    assert b01.metadata().partition_columns == ["year", "month"]
    jfk = pl.read_delta(str(lake / "weather" / "jfk"))
    want = _want(run_cli, "/weather/jfk.series", "AirTemperature.C")
    air = pl.col("AirTemperature.C")
    got = jfk.select(
        pl.len(), air.sum().alias("s"), air.min().alias("lo"), air.max().alias("hi")
    ).row(0)
    _same(got, want)
    assert _export(run_cli, tmp_path / "out", str(lake)) == [
        f"delta buoy/b01: unchanged  ({lake / 'buoy' / 'b01'})",
        f"delta weather/jfk: unchanged  ({lake / 'weather' / 'jfk'})",
    ]
    assert DeltaTable(str(lake / "buoy" / "b01")).version() == 0  # nothing committed


def test_each_export_commits_only_what_changed(real_pond, run_cli, tmp_path):
    lake, out = tmp_path / "lake", tmp_path / "out"
    _export(run_cli, out, str(lake))
    pond = Pond.open(real_pond)
    us = 1_000_000
    later = pa.table(
        {
            # a late reading in July 2016 (a partition that changes) and one in May 2017 (new)
            "Timestamp": pa.array(
                [1_467_936_000 * us + 15 * 60 * us, 1_494_000_000 * us],
                pa.timestamp("us", tz="UTC"),
            ),
            "WaterTemperature.C": [17.25, 8.5],
        }
    )
    with pond.transaction(["two late readings"]) as tx:
        tx.root().append_series("/buoy/b01.series", later)
    lines = _export(run_cli, out, str(lake))
    (touched,) = sql_json(
        run_cli,
        "/buoy/b01.series",
        "SELECT count(*) AS n FROM source WHERE (\"Timestamp\" >= '2016-07-01T00:00:00Z' AND "
        "\"Timestamp\" < '2016-08-01T00:00:00Z') OR \"Timestamp\" >= '2017-05-01T00:00:00Z'",
    )
    assert lines[0].startswith(f"delta buoy/b01: version 1, {touched['n']} rows written")
    assert "added 1, replaced 1, removed 0 partitions" in lines[0]
    assert lines[1].startswith("delta weather/jfk: unchanged")
    table = DeltaTable(str(lake / "buoy" / "b01")).to_pyarrow_table()
    b01_stats = _want(run_cli, "/buoy/b01.series", TEMP)
    _same(_stats(table, TEMP), b01_stats)

    salty = pa.table(
        {
            "Timestamp": pa.array([1_494_000_000 * us + 60 * us], pa.timestamp("us", tz="UTC")),
            "WaterTemperature.C": [8.75],
            "Salinity.psu": [31.0],  # a new column: merged into the table's schema
        }
    )
    with pond.transaction(["a new column"]) as tx:
        tx.root().append_series("/buoy/b01.series", salty)
    lines = _export(run_cli, out, str(lake))  # every part gains the column: all replaced
    assert "added 0, replaced 15, removed 0 partitions" in lines[0]
    table = DeltaTable(str(lake / "buoy" / "b01")).to_pyarrow_table()
    _same(_stats(table, TEMP), _want(run_cli, "/buoy/b01.series", TEMP))
    assert table.column("Salinity.psu").null_count == table.num_rows - 1

    # a narrower export removes the partitions it no longer has, in one more commit
    lines = _export(run_cli, out, str(lake), "--start", "2017-01-01")
    (gone,) = sql_json(
        run_cli,
        "/buoy/b01.series",
        "SELECT count(DISTINCT date_trunc('month', \"Timestamp\")) AS n FROM source "
        "WHERE \"Timestamp\" < '2017-01-01T00:00:00Z'",
    )
    assert f"added 0, replaced 0, removed {gone['n']} partitions" in lines[0]
    b01 = DeltaTable(str(lake / "buoy" / "b01"))
    assert b01.version() == 3
    where = " WHERE \"Timestamp\" >= '2017-01-01T00:00:00Z'"
    _same(
        _stats(b01.to_pyarrow_table(), TEMP),
        _want(run_cli, "/buoy/b01.series", TEMP, where),
    )
    # Delta time travel still has the first export
    first = DeltaTable(str(lake / "buoy" / "b01"), version=0).to_pyarrow_table()
    assert first.num_rows == 19225


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory):
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_a_delta_export_to_s3(real_pond, run_cli, tmp_path, moto, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    bucket = moto.new_bucket()
    url = f"s3://{bucket}/lake"
    options = [
        "-o",
        f"endpoint_url={moto.endpoint}",
        "-o",
        "region=us-east-1",
        "-o",
        f"access_key_id={ACCESS_KEY}",
        "-o",
        f"secret_access_key=${{env:{SECRET_ENV}}}",
    ]
    lines = _export(run_cli, tmp_path / "out", url, *options)
    assert lines[0] == (
        f"delta buoy/b01: version 0, 19225 rows written  ({url}/buoy/b01)  added 14, "
        "replaced 0, removed 0 partitions"
    )
    storage = {
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ALLOW_HTTP": "true",
    }
    table = DeltaTable(f"{url}/buoy/b01", storage_options=storage).to_pyarrow_table()
    _same(
        _stats(table, "WaterTemperature.C"),
        _want(run_cli, "/buoy/b01.series", "WaterTemperature.C"),
    )
    jfk = pl.read_delta(f"{url}/weather/jfk", storage_options=storage)
    assert jfk.height == 8706
    keys = [o["Key"] for o in moto.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert "lake/buoy/b01/_delta_log/00000000000000000000.json" in keys
    assert any(k.startswith("lake/buoy/b01/year=2016/month=7/") for k in keys)
    again = _export(run_cli, tmp_path / "out", url, *options)
    assert all(": unchanged" in line for line in again)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("-o", "region=x"), "-o options apply to --delta"),
        (("--delta", "LAKE", "-o", "region=x"), "options apply to s3:// tables only"),
        (("--delta", "ftp://host/lake"), "a host folder or s3://bucket/prefix"),
        (
            ("--delta", "s3://b/lake", "-o", "secret_access_key=${env:DUCKPOND_UNSET_VAR}"),
            "DUCKPOND_UNSET_VAR is not set",
        ),
    ],
)
def test_bad_delta_options_are_usage_errors(real_pond, run_cli, tmp_path, extra, says):
    extra = tuple(str(tmp_path / "lake") if e == "LAKE" else e for e in extra)
    result = run_cli("export", "-p", "/buoy/*", "--dir", tmp_path / "out", *extra)
    assert result.code == 2
    (line,) = result.err_lines
    assert says in line
    assert not (tmp_path / "lake").exists()


@pytest.mark.slow
def test_spark_reads_the_parquet_export_and_agrees_with_pond_cat(real_pond, run_cli, tmp_path):
    pyspark_sql = pytest.importorskip("pyspark.sql", reason="pip install '.[spark]'")
    out = tmp_path / "out"
    done = run_cli("export", "-p", "/buoy/b01.series", "--dir", out)
    assert done.code == 0, done.err
    want = sql_json(
        run_cli,
        "/buoy/b01.series",
        """SELECT CAST(to_unixtime(date_bin(INTERVAL '1 hour', "Timestamp")) AS BIGINT)
                  * 1000000 AS hour, count(*) AS n, sum("WaterTemperature.C") AS s,
                  min("WaterTemperature.C") AS lo, max("WaterTemperature.C") AS hi
           FROM source GROUP BY hour ORDER BY hour""",
    )
    spark = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("duckpond-export")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    try:
        frame = spark.read.parquet(str(out / "buoy" / "b01"))
        types = dict(frame.dtypes)
        assert types["year"] == types["month"] == "int" and types["Timestamp"] == "timestamp"
        frame.createOrReplaceTempView("b01")
        rows = spark.sql(
            """SELECT unix_micros(date_trunc('HOUR', `Timestamp`)) AS hour, count(*) AS n,
                      sum(`WaterTemperature.C`) AS s, min(`WaterTemperature.C`) AS lo,
                      max(`WaterTemperature.C`) AS hi
               FROM b01 GROUP BY 1 ORDER BY 1"""
        ).collect()
    finally:
        spark.stop()
    assert len(rows) == len(want) > 9000
    for row, w in zip(rows, want, strict=True):
        assert (row["hour"], row["n"], row["lo"], row["hi"]) == (
            w["hour"],
            w["n"],
            w["lo"],
            w["hi"],
        )
        assert math.isclose(row["s"], w["s"], rel_tol=1e-12)
