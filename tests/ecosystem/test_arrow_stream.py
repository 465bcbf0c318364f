"""``NodePath`` implements the Arrow PyCapsule stream interface: polars, DuckDB, pandas and
pyarrow consume a table or series directly; values checked against ``pond cat --sql``."""

from __future__ import annotations

import math

import duckdb
import ecosystem_testlib
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from ecosystem_testlib import sql_json

from duckpond import Pond
from duckpond.errors import InvalidData

run_cli = ecosystem_testlib.run_cli
pond_dir = ecosystem_testlib.pond_dir
real_pond = ecosystem_testlib.real_pond

QUERY = (
    'SELECT count(*) AS n, sum("AirTemperature.C") AS s, min("AirTemperature.C") AS lo, '
    'max("AirTemperature.C") AS hi FROM source'
)


def test_every_library_reads_a_series_through_the_stream(real_pond, run_cli):
    pond = Pond.open(real_pond)
    with pond.transaction(["two more versions"]) as tx:  # a series of three versions
        jfk = tx.root().resolve("/weather/jfk.series").read_table()
        later = jfk.set_column(
            0,
            "Timestamp",
            pa.compute.add(jfk["Timestamp"], pa.scalar(365 * 86400 * 10**6, pa.duration("us"))),
        )
        tx.root().append_series("/weather/jfk.series", later.slice(0, 100))
        tx.root().append_series("/weather/jfk.series", later.slice(100, 50))
    (want,) = sql_json(run_cli, "/weather/jfk.series", QUERY)
    assert want["n"] == 8706 + 150
    series = Pond.open(real_pond).root().resolve("/weather/jfk.series")

    frame = pl.DataFrame(series)
    air = frame["AirTemperature.C"]
    assert frame.height == want["n"] and air.min() == want["lo"] and air.max() == want["hi"]
    assert math.isclose(air.sum(), want["s"], rel_tol=1e-12)
    assert frame.schema["Timestamp"] == pl.Datetime("us", "UTC")
    assert pl.from_arrow(series).struct.unnest().height == want["n"]

    ((n, s, lo, hi),) = duckdb.sql(
        'SELECT count(*), sum("AirTemperature.C"), min("AirTemperature.C"), '
        'max("AirTemperature.C") FROM series'
    ).fetchall()
    assert (n, lo, hi) == (want["n"], want["lo"], want["hi"])
    assert math.isclose(s, want["s"], rel_tol=1e-12)

    df = pd.DataFrame.from_arrow(series)
    assert len(df) == want["n"] and math.isclose(df["AirTemperature.C"].sum(), want["s"])
    assert pa.table(series).num_rows == want["n"]


def test_a_data_file_has_no_stream(real_pond):
    pond = Pond.open(real_pond)
    with pond.transaction(["note"]) as tx:
        tx.root().write_file("/note.txt", b"hello")
    note = Pond.open(real_pond).root().resolve("/note.txt")
    with pytest.raises(InvalidData, match="not a table or series"):
        note.__arrow_c_stream__()
