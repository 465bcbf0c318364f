"""pond export: Hive-partitioned Parquet + manifest.json, read back and checked."""

from __future__ import annotations

import json
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factory_testlib import TIME, us

from duckpond.errors import NotFound, UsageError
from duckpond.factories.base import EmptyInputWarning
from duckpond.factories.export import ExportManifest, export, series_name
from duckpond.factories.registry import mknod


@pytest.fixture(scope="module")
def exported_pond(real_pond):
    with real_pond.transaction(["mknod"]) as tx:
        tx.root().mkdir("/ex")
        mknod(
            tx.root(),
            "temporal-reduce",
            "/ex/b01",
            "input: /raw/b01.series\nresolutions: [1h, 24h]\n",
        )
    return real_pond


def test_layout_manifest_and_parts(exported_pond, tmp_path):
    out = tmp_path / "site-data"
    m = export(exported_pond, ["/ex/b01/res=*.series"], out)
    assert [(s.name, s.resolution, s.seconds) for s in m.series] == [
        ("ex/b01", "1h", 3600),
        ("ex/b01", "24h", 86400),
    ]
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == m.to_json()
    assert on_disk["format"] == "duckpond-export" and on_disk["temporal"] == ["year", "month"]
    assert ExportManifest.load(out) == m
    # 2016-02 .. 2017-03: 14 months
    h1, d1 = m.series
    assert [f.file for f in h1.files][:2] == [
        "ex/b01/res=1h/year=2016/month=2/part.parquet",
        "ex/b01/res=1h/year=2016/month=3/part.parquet",
    ]
    assert len(h1.files) == 14 == len(d1.files)
    whole = exported_pond.root().resolve("/ex/b01/res=1h.series").read_table()
    assert h1.rows == whole.num_rows
    parts = []
    for f in h1.files:
        path = out / f.file
        assert f.bytes == path.stat().st_size
        meta = pq.ParquetFile(path).metadata
        assert meta.row_group(0).column(0).compression == "SNAPPY"
        t = pq.read_table(path)
        assert t.schema.field("Timestamp").type == TIME
        assert t.column_names[0] == "Timestamp"
        ts = t.column("Timestamp").cast(pa.int64()).to_pylist()
        assert (ts[0], ts[-1], len(ts)) == (f.start_us, f.end_us, f.rows)
        parts.append(t)
    assert pa.concat_tables(parts).equals(whole)
    # the website renderer's records
    res = m.site_resolutions("ex/b01")
    assert [(r.name, r.seconds, len(r.files)) for r in res] == [
        ("1h", 3600, 14),
        ("24h", 86400, 14),
    ]
    assert res[0].files[0].path == out / h1.files[0].file
    assert res[0].files[0].rows == h1.files[0].rows


def test_start_end_and_temporal_levels_and_clean_reexport(exported_pond, tmp_path):
    out = tmp_path / "d"
    m = export(
        exported_pond,
        ["/ex/b01/res=1h.series"],
        out,
        temporal=["year", "month", "day"],
        start="2016-07-08",
        end="2016-07-10T00:00:00Z",
    )
    files = m.series[0].files
    assert [f.file.split("res=1h/")[1] for f in files] == [
        "year=2016/month=7/day=8/part.parquet",
        "year=2016/month=7/day=9/part.parquet",
    ]
    assert files[0].start_us == us("2016-07-08T00:00:00+00:00")
    assert files[0].rows == 13  # the 12 h hole leaves 13 of 24 hourly buckets
    assert files[-1].end_us == us("2016-07-09T23:00:00+00:00")
    # re-export with other bounds: the old partitions are gone
    export(
        exported_pond,
        ["/ex/b01/res=1h.series"],
        out,
        temporal=["year", "month", "day"],
        start="2016-07-09",
        end="2016-07-10",
    )
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert left == ["ex/b01/res=1h/year=2016/month=7/day=9/part.parquet"]
    # no temporal partitioning: one part per series
    m = export(exported_pond, ["/ex/b01/res=24h.series"], tmp_path / "flat", temporal=[])
    assert [f.file for f in m.series[0].files] == ["ex/b01/res=24h/part.parquet"]


def test_plain_series_and_merged_manifest(exported_pond, tmp_path):
    out = tmp_path / "e"
    export(exported_pond, ["/ex/b01/res=24h.series"], out)
    m = export(exported_pond, ["/raw/jfk.series"], out, temporal=["year"])
    # another temporal layout: the earlier entries are not kept
    assert [s.name for s in m.series] == ["raw/jfk"]
    m = export(exported_pond, ["/ex/b01/res=1h.series"], out, temporal=["year"])
    assert [(s.name, s.resolution) for s in m.series] == [("ex/b01", "1h"), ("raw/jfk", None)]
    assert m.series[1].files[0].file == "raw/jfk/year=2013/part.parquet"
    assert m.resolutions("raw/jfk") == []


def test_bad_arguments(exported_pond, tmp_path):
    with pytest.raises(UsageError, match="prefix of year,month,day,hour"):
        export(exported_pond, ["/raw/*"], tmp_path, temporal=["month"])
    with pytest.raises(UsageError, match="start must be before end"):
        export(exported_pond, ["/raw/*"], tmp_path, start="2017-01-01", end="2016-01-01")
    with pytest.raises(UsageError, match="ISO-8601"):
        export(exported_pond, ["/raw/*"], tmp_path, start="soon")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyInputWarning)
        with pytest.raises(NotFound, match="no table or series matches /nothing"):
            export(exported_pond, ["/nothing"], tmp_path)
    with pytest.warns(EmptyInputWarning, match=r"export: pattern \(/nope\*\) matches nothing"):
        export(exported_pond, ["/nope*", "/raw/b01.series"], tmp_path / "w")


def test_series_names():
    assert series_name("/reduced/all/res=1h.series") == ("reduced/all", "1h")
    assert series_name("/derived/JFK.series") == ("derived/JFK", None)
    assert series_name("/x/res=fast.series") == ("x/res=fast", None)
    assert series_name("/res=2h.series") == ("root", "2h")
