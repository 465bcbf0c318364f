"""Exported Hive partitions read back as integers in DuckDB, polars and pyarrow (partition values
are written ``month=7``, not ``07``), with the rows ``pond cat --sql`` counts per month."""

from __future__ import annotations

import duckdb
import ecosystem_testlib
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
from ecosystem_testlib import sql_json

run_cli = ecosystem_testlib.run_cli
pond_dir = ecosystem_testlib.pond_dir
real_pond = ecosystem_testlib.real_pond


def test_partition_columns_are_integers_everywhere(real_pond, run_cli, tmp_path):
    out = tmp_path / "export"
    done = run_cli("export", "-p", "/buoy/b01.series", "--dir", out, "--temporal", "year,month,day")
    assert done.code == 0, done.err
    folder = out / "buoy" / "b01"
    assert (folder / "year=2016" / "month=7" / "day=8" / "part.parquet").is_file()
    want = {
        (r["y"], r["m"]): (r["n"], r["s"])
        for r in sql_json(
            run_cli,
            "/buoy/b01.series",
            "SELECT CAST(date_part('year', \"Timestamp\") AS BIGINT) AS y, "
            "CAST(date_part('month', \"Timestamp\") AS BIGINT) AS m, count(*) AS n, "
            'sum("WaterTemperature.C") AS s FROM source GROUP BY y, m',
        )
    }
    assert len(want) == 14 and sum(n for n, _ in want.values()) == 19225

    rel = duckdb.sql(
        f"SELECT * FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"
    )
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    assert types["year"] == types["month"] == types["day"] == "BIGINT"
    got = duckdb.sql(
        'SELECT year, month, count(*), sum("WaterTemperature.C") FROM rel GROUP BY ALL'
    ).fetchall()
    assert {(y, m): n for y, m, n, _ in got} == {k: n for k, (n, _) in want.items()}

    frame = pl.read_parquet(folder, hive_partitioning=True)
    assert frame.schema["year"] == frame.schema["month"] == frame.schema["day"] == pl.Int64
    per_month = frame.group_by("year", "month").len()
    assert {(r[0], r[1]): r[2] for r in per_month.iter_rows()} == {
        k: n for k, (n, _) in want.items()
    }

    table = ds.dataset(folder, partitioning="hive").to_table()
    for name in ("year", "month", "day"):
        assert pa.types.is_integer(table.schema.field(name).type)
    assert table.schema.field("month").type == pa.int32()  # pyarrow infers int32 for Hive
    months = table.group_by(["year", "month"]).aggregate([("WaterTemperature.C", "count")])
    assert {
        (y, m): n
        for y, m, n in zip(
            months["year"].to_pylist(),
            months["month"].to_pylist(),
            months["WaterTemperature.C_count"].to_pylist(),
            strict=True,
        )
    } == {k: n for k, (n, _) in want.items()}
    # the time column reads back as UTC microseconds
    assert table.schema.field("Timestamp").type == pa.timestamp("us", tz="UTC")
