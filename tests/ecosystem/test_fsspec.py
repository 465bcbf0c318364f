"""The pond as an fsspec filesystem (``duckpond.fsspec``), read by pandas, pyarrow, DuckDB and
polars on the bundled real data; values checked against ``pond cat --sql``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import ecosystem_testlib
import fsspec
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from ecosystem_testlib import snapshot, sql_json

from duckpond import Pond
from duckpond.errors import InvalidData, ReadOnly, UsageError
from duckpond.fsspec import PondFileSystem, chunk_name

REPO = Path(__file__).resolve().parents[2]
run_cli = ecosystem_testlib.run_cli
pond_dir = ecosystem_testlib.pond_dir
real_pond = ecosystem_testlib.real_pond

B01_STATS = (
    'SELECT count(*) AS n, sum("WaterTemperature.C") AS s, min("WaterTemperature.C") AS lo, '
    'max("WaterTemperature.C") AS hi FROM source'
)


@pytest.fixture(autouse=True)
def _registered() -> None:
    # the entry point registers it once duckpond is installed (the wheel test checks that); the
    # shared development venv may hold an older install of the package
    fsspec.register_implementation("pond", PondFileSystem, clobber=True)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def test_the_entry_point_names_the_filesystem():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    target = project["project"]["entry-points"]["fsspec.specs"]["pond"]
    module, _, name = target.partition(":")
    import importlib

    assert getattr(importlib.import_module(module), name) is PondFileSystem


def test_pandas_reads_a_series_as_the_cli_does(real_pond, run_cli):
    df = pd.read_parquet("pond:///buoy/b01.series", storage_options={"pond_dir": str(real_pond)})
    (want,) = sql_json(run_cli, "/buoy/b01.series", B01_STATS)
    col = df["WaterTemperature.C"]
    assert len(df) == want["n"] == 19225
    assert _close(col.sum(), want["s"])
    assert col.min() == want["lo"] and col.max() == want["hi"]
    assert str(df["Timestamp"].dtype) == "datetime64[us, UTC]"


def test_pyarrow_dataset_and_polars_read_the_jfk_series(real_pond, run_cli):
    fs = fsspec.filesystem("pond", pond_dir=str(real_pond))
    table = ds.dataset("/weather/jfk.series", filesystem=fs, format="parquet").to_table()
    query = (
        'SELECT count(*) AS n, sum("AirTemperature.C") AS s, min("AirTemperature.C") AS lo, '
        'max("AirTemperature.C") AS hi, count("WindGust.m_s") AS gusts FROM source'
    )
    (want,) = sql_json(run_cli, "/weather/jfk.series", query)
    air = table.column("AirTemperature.C")
    assert table.num_rows == want["n"] == 8706
    assert _close(pa.compute.sum(air).as_py(), want["s"])
    assert pa.compute.min(air).as_py() == want["lo"]
    assert pa.compute.max(air).as_py() == want["hi"]
    assert table.column("WindGust.m_s").null_count == want["n"] - want["gusts"]
    assert table.schema.field("Timestamp").type == pa.timestamp("us", tz="UTC")

    lazy = pl.scan_pyarrow_dataset(ds.dataset("/weather/jfk.series", filesystem=fs))
    got = lazy.select(
        pl.len().alias("n"),
        pl.col("AirTemperature.C").sum().alias("s"),
        pl.col("AirTemperature.C").min().alias("lo"),
        pl.col("AirTemperature.C").max().alias("hi"),
    ).collect()
    assert got["n"][0] == want["n"] and _close(got["s"][0], want["s"])
    assert got["lo"][0] == want["lo"] and got["hi"][0] == want["hi"]
    (chunk,) = fs.ls("/weather/jfk.series", detail=False)
    with fs.open(chunk) as f:
        assert pl.read_parquet(f).height == want["n"]


def test_duckdb_hourly_aggregates_match_pond_cat(real_pond, run_cli):
    fs = fsspec.filesystem("pond", pond_dir=str(real_pond))
    con = duckdb.connect()
    con.register_filesystem(fs)
    got = con.sql(
        """SELECT epoch_us(date_trunc('hour', "Timestamp")) AS hour, count(*) AS n,
                  min("WaterTemperature.C") AS lo, max("WaterTemperature.C") AS hi,
                  sum("WaterTemperature.C") AS s
           FROM read_parquet('pond:///buoy/b01.series/*.parquet')
           GROUP BY hour ORDER BY hour"""
    ).fetchall()
    want = sql_json(
        run_cli,
        "/buoy/b01.series",
        """SELECT CAST(to_unixtime(date_bin(INTERVAL '1 hour', "Timestamp")) AS BIGINT)
                  * 1000000 AS hour, count(*) AS n, min("WaterTemperature.C") AS lo,
                  max("WaterTemperature.C") AS hi, sum("WaterTemperature.C") AS s
           FROM source GROUP BY hour ORDER BY hour""",
    )
    assert len(got) == len(want) > 9000
    for (hour, n, lo, hi, s), w in zip(got, want, strict=True):
        assert (hour, n, lo, hi) == (w["hour"], w["n"], w["lo"], w["hi"])
        assert _close(s, w["s"])


def test_a_series_is_a_directory_of_its_live_chunks_after_collapse(real_pond, run_cli):
    pond = Pond.open(real_pond)
    b01 = pond.root().resolve("/buoy/b01.series").read_table()
    # 20 small versions (one transaction each, as a collector appends): 16 collapse into one
    step = 100
    for i in range(20):
        with pond.transaction([f"append {i}"]) as tx:
            tx.root().append_series("/buoy/small.series", b01.slice(i * step, step))
    small = Pond.open(real_pond).root().resolve("/buoy/small.series")
    live = small.live_versions()
    assert len(small.versions()) > len(live) == 5  # one collapse of 16 + 4 appended
    fs = fsspec.filesystem("pond", pond_dir=str(real_pond))
    names = fs.ls("/buoy/small.series", detail=False)
    assert names == [f"/buoy/small.series/{chunk_name(v.version)}" for v in live]
    assert fs.info("/buoy/small.series")["type"] == "directory"
    df = pd.read_parquet("pond:///buoy/small.series", storage_options={"pond_dir": str(real_pond)})
    (want,) = sql_json(run_cli, "/buoy/small.series", B01_STATS)
    assert len(df) == want["n"] == 20 * step
    assert _close(df["WaterTemperature.C"].sum(), want["s"])

    # time travel: the pond as of the transaction that appended the 10th version
    seq = pond.log()[-11].txn_seq
    old = fsspec.filesystem("pond", pond_dir=str(real_pond), at_txn=seq)
    at = ds.dataset("/buoy/small.series", filesystem=old, format="parquet").to_table()
    (want_then,) = sql_json(run_cli, "/buoy/small.series", B01_STATS, "--at-txn", str(seq))
    assert at.num_rows == want_then["n"] == 10 * step
    assert _close(pa.compute.sum(at.column("WaterTemperature.C")).as_py(), want_then["s"])
    with pytest.raises(ReadOnly):
        old.pipe("/notes.txt", b"x")


def test_versions_with_other_columns_read_with_a_unifying_option(real_pond, run_cli):
    pond = Pond.open(real_pond)
    extra = pa.table(
        {
            "Timestamp": pa.array([1_600_000_000_000_000], pa.timestamp("us", tz="UTC")),
            "WaterTemperature.C": [12.5],
            "Salinity.psu": [31.2],
        }
    )
    with pond.transaction(["append salinity"]) as tx:
        tx.root().append_series("/buoy/b01.series", extra)
    fs = fsspec.filesystem("pond", pond_dir=str(real_pond))
    assert len(fs.ls("/buoy/b01.series")) == 2
    con = duckdb.connect()
    con.register_filesystem(fs)
    ((n, salty, s),) = con.sql(
        """SELECT count(*), count("Salinity.psu"), sum("WaterTemperature.C")
           FROM read_parquet('pond:///buoy/b01.series/*.parquet', union_by_name=true)"""
    ).fetchall()
    (want,) = sql_json(run_cli, "/buoy/b01.series", B01_STATS)
    assert n == want["n"] == 19226 and salty == 1 and _close(s, want["s"])
    schema = Pond.open(real_pond).root().resolve("/buoy/b01.series").schema()
    table = ds.dataset("/buoy/b01.series", filesystem=fs, schema=schema).to_table()
    assert table.num_rows == 19226 and table.column("Salinity.psu").null_count == 19225


def test_data_files_tables_and_symlinks_read_as_files(real_pond, run_cli):
    pond = Pond.open(real_pond)
    jfk = pond.root().resolve("/weather/jfk.series").read_table()
    with pond.transaction(["setup"]) as tx:
        root = tx.root()
        root.mkdir("/notes")
        root.write_file("/notes/readme.txt", "ünïcode notes\n".encode())
        root.write_file("/weather/jfk.table", jfk.slice(0, 48), file_type="file:table")
        root.symlink("/latest", "/weather/jfk.table")
    fs = fsspec.filesystem("pond", pond_dir=str(real_pond))
    assert fs.cat("/notes/readme.txt") == "ünïcode notes\n".encode()
    assert fs.cat_file("/notes/readme.txt", start=3, end=7) == "ünïcode notes\n".encode()[3:7]
    info = fs.info("/weather/jfk.table")
    assert info["type"] == "file" and info["pond_type"] == "file:table"
    assert info["size"] == len(fs.cat("/weather/jfk.table"))
    assert pd.read_parquet(
        "pond:///latest", storage_options={"pond_dir": str(real_pond)}
    ).shape == (48, 10)
    assert sorted(fs.ls("/", detail=False)) == ["/buoy", "/latest", "/notes", "/weather"]
    assert fs.find("/weather") == [
        "/weather/jfk.series/v000001.parquet",
        "/weather/jfk.table",
    ]
    assert fs.glob("/*/*.series") == ["/buoy/b01.series", "/weather/jfk.series"]
    assert fs.modified("/notes/readme.txt").tzinfo is not None
    with pytest.raises(FileNotFoundError):
        fs.info("/weather/nope.series")
    with pytest.raises(FileNotFoundError):
        fs.open("/weather/jfk.series/v000099.parquet")
    with pytest.raises(IsADirectoryError):
        fs.open("/weather/jfk.series")
    assert not fs.exists("/notes/readme.txt/x")


def test_a_dynamic_series_is_a_directory_of_its_computed_content(real_pond, run_cli, tmp_path):
    config = tmp_path / "f.yaml"
    config.write_text(
        "patterns: {raw: /weather/jfk.series}\n"
        'query: SELECT "Timestamp", "AirTemperature.C" * 1.8 + 32 AS "AirTemperature.F" FROM raw\n'
    )
    assert run_cli("mkdir", "/derived").code == 0
    result = run_cli("mknod", "sql-derived", "/derived/jfk_f.series", "--config", config)
    assert result.code == 0, result.err
    fs = fsspec.filesystem("pond", pond_dir=str(real_pond))
    assert fs.ls("/derived/jfk_f.series", detail=False) == [
        "/derived/jfk_f.series/computed.parquet"
    ]
    df = pd.read_parquet(
        "pond:///derived/jfk_f.series", storage_options={"pond_dir": str(real_pond)}
    )
    (want,) = sql_json(
        run_cli,
        "/derived/jfk_f.series",
        'SELECT count(*) AS n, sum("AirTemperature.F") AS s, max("AirTemperature.F") AS hi '
        "FROM source",
    )
    assert len(df) == want["n"] == 8706
    assert _close(df["AirTemperature.F"].sum(), want["s"])
    assert df["AirTemperature.F"].max() == want["hi"]
    con = duckdb.connect()
    con.register_filesystem(fs)  # DuckDB also asks for modified() of a computed file
    ((n,),) = con.sql(
        "SELECT count(*) FROM read_parquet('pond:///derived/jfk_f.series/*.parquet')"
    ).fetchall()
    assert n == want["n"]
    assert fs.modified("/derived/jfk_f.series/computed.parquet").tzinfo is not None
    size = fs.info("/derived/jfk_f.series/computed.parquet")["size"]
    assert size == len(fs.cat("/derived/jfk_f.series/computed.parquet")) > 0


def test_each_write_is_one_transaction(real_pond, run_cli):
    fs = fsspec.filesystem("pond", pond_dir=str(real_pond))
    before = Pond.open(real_pond).txn_seq
    fs.pipe("/inbox/notes/a.txt", b"first")  # parents are created in the same transaction
    pond = Pond.open(real_pond)
    assert pond.txn_seq == before + 1
    assert pond.log()[-1].args == ("fsspec", "write", "/inbox/notes/a.txt")
    assert fs.cat("/inbox/notes/a.txt") == b"first"  # the same object sees its own write

    df = pd.read_parquet("pond:///buoy/b01.series", storage_options={"pond_dir": str(real_pond)})
    df.head(100).to_parquet(
        "pond:///tables/b01_head.table", storage_options={"pond_dir": str(real_pond)}
    )
    pond = Pond.open(real_pond)
    assert pond.txn_seq == before + 2
    head = pond.root().resolve("/tables/b01_head.table")
    assert head.file_type == "file:table" and head.read_table().num_rows == 100

    fs.pipe("/inbox/notes/a.txt", b"first")  # the same bytes: no new version, no commit
    assert Pond.open(real_pond).txn_seq == before + 2
    assert len(Pond.open(real_pond).root().resolve("/inbox/notes/a.txt").versions()) == 1

    with fs.transaction:
        fs.pipe("/inbox/b.txt", b"b")
        with fs.open("/inbox/notes/a.txt", "wb") as f:
            f.write(b"second")
        assert not fs.exists("/inbox/b.txt")  # nothing is committed before the block ends
    pond = Pond.open(real_pond)
    assert pond.txn_seq == before + 3
    assert pond.root().resolve("/inbox/notes/a.txt").read_bytes() == b"second"
    assert pond.root().resolve("/inbox/b.txt").read_bytes() == b"b"

    state = snapshot(real_pond)
    with pytest.raises(RuntimeError), fs.transaction:
        fs.pipe("/inbox/c.txt", b"c")
        raise RuntimeError("changed my mind")
    assert snapshot(real_pond) == state


@pytest.mark.parametrize(
    ("path", "data", "error", "words"),
    [
        ("/buoy/b01.series", b"PAR1", UsageError, "series is not written"),
        ("/new.series", b"x", UsageError, "series is not written"),
        ("/bad.table", b"not parquet at all", InvalidData, "not a valid Parquet file"),
        ("/buoy", b"x", IsADirectoryError, "is a directory"),
        ("/weather/jfk.series/v000001.parquet", b"x", NotADirectoryError, "not a directory"),
    ],
)
def test_refused_writes_leave_the_pond_unchanged(real_pond, path, data, error, words):
    fs = fsspec.filesystem("pond", pond_dir=str(real_pond))
    state = snapshot(real_pond)
    with pytest.raises(error) as caught:
        fs.pipe(path, data)
    assert words in str(caught.value)
    assert snapshot(real_pond) == state


def test_a_table_written_over_keeps_its_history(real_pond):
    fs = fsspec.filesystem("pond", pond_dir=str(real_pond))
    for n in (10, 20):
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table({"x": list(range(n))}), sink)
        fs.pipe("/t.table", sink.getvalue().to_pybytes())
    node = Pond.open(real_pond).root().resolve("/t.table")
    assert [v.version for v in node.versions()] == [1, 2]
    assert node.read_table().num_rows == 20
    assert fs.info("/t.table")["version"] == 2
    fs.mkdir("/a/b/c")
    fs.makedirs("/a/b/c", exist_ok=True)
    with pytest.raises(FileExistsError):
        fs.makedirs("/a/b/c")
    assert fs.info("/a/b/c")["type"] == "directory"


def test_no_pond_given_is_a_usage_error(monkeypatch, tmp_path):
    monkeypatch.delenv("POND", raising=False)
    with pytest.raises(UsageError, match="no pond given"):
        PondFileSystem()
    from duckpond.errors import NotAPond

    with pytest.raises(NotAPond):
        PondFileSystem(pond_dir=str(tmp_path)).ls("/")


def test_info_is_json_and_names_the_pond_type(real_pond):
    fs = fsspec.filesystem("pond", pond_dir=str(real_pond))
    info = fs.info("/buoy/b01.series/v000001.parquet")
    assert json.loads(json.dumps(info)) == info
    assert info["pond_type"] == "file:series" and info["version"] == 1 and info["size"] > 100_000
