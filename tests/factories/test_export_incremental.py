"""Incremental ``pond export`` (issue 15): only partitions whose bytes change are written.

Each round compares the incremental folder with a cold export of the same pond state into an
empty folder (byte for byte), and checks which files kept their mtime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from factory_testlib import B01_CSV, us

from duckpond import Pond
from duckpond.cli.main import main
from duckpond.factories import resolver
from duckpond.factories.export import export
from duckpond.factories.registry import mknod
from duckpond.formats import read_csv_series

OLD = 1_000_000_000  # an mtime (s) no write of this test can produce
OLD_NS = OLD * 10**9


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Relative path -> (bytes, mtime ns) of every file below ``folder``."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def age(folder: Path) -> None:
    """Set every file's mtime to OLD, so that a rewrite is seen whatever the clock resolution."""
    for p in folder.rglob("*"):
        if p.is_file():
            os.utime(p, (OLD, OLD))


def b01() -> pa.Table:
    table, tc = read_csv_series(B01_CSV)
    assert tc == "Timestamp"
    return table


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    """B01 up to 2017-01-01 in /raw/b01.series, reduced at 1h and 1d in /red."""
    p = Pond.init(tmp_path / "pond", factories=resolver)
    table = b01()
    ts = table.column("Timestamp")
    with p.transaction(["load"]) as tx:
        r = tx.root()
        r.mkdir("/raw")
        r.append_series(
            "/raw/b01.series",
            table.filter(pc.less(ts, pa.scalar(us("2017-01-01T00:00:00+00:00"), ts.type))),
            time_column="Timestamp",
        )
        mknod(r, "temporal-reduce", "/red", "input: /raw/b01.series\nresolutions: [1h, 1d]\n")
    return p


def append(p: Pond, start: str, end: str) -> int:
    """Append the real B01 rows with start <= time < end as a new version; return the count."""
    table = b01()
    ts = table.column("Timestamp")
    lo = pa.scalar(us(start), ts.type)
    hi = pa.scalar(us(end), ts.type)
    rows = table.filter(pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi)))
    with p.transaction(["append"]) as tx:
        tx.root().append_series("/raw/b01.series", rows, time_column="Timestamp")
    return rows.num_rows


def cold(p: Pond, folder: Path, **kw) -> dict[str, bytes]:
    export(p, ["/red"], folder, **kw)
    return {k: v[0] for k, v in snapshot(folder).items()}


def test_appended_day_rewrites_only_its_partitions(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = export(pond, ["/red"], out)
    parts = sorted(f.file for s in first.series for f in s.files)
    assert first.changes.written == tuple(parts) and not first.changes.unchanged
    assert len(parts) == 2 * 11  # 2016-02 .. 2016-12, at 1h and 1d
    age(out)
    before = snapshot(out)

    # nothing new: nothing written, every file keeps its bytes and mtime (the manifest too)
    again = export(pond, ["/red"], out)
    assert again.changes.written == () and again.changes.removed == ()
    assert again.changes.unchanged == tuple(parts)
    assert snapshot(out) == before

    # one more day, in a new month: only that month's 1h and 1d partitions are written
    assert append(pond, "2017-01-01T00:00:00+00:00", "2017-01-02T00:00:00+00:00") == 48
    m = export(pond, ["/red"], out)
    new = [
        "red/res=1d/year=2017/month=1/part.parquet",
        "red/res=1h/year=2017/month=1/part.parquet",
    ]
    assert list(m.changes.written) == new
    assert len(m.changes.unchanged) == len(parts) and m.changes.removed == ()
    after = snapshot(out)
    for rel in parts:
        assert after[rel] == before[rel], rel  # same bytes, same mtime
    assert after["manifest.json"][1] != OLD_NS  # the manifest lists the new parts
    assert {k: v[0] for k, v in after.items()} == cold(pond, tmp_path / "cold1")
    day = next(s for s in m.series if s.resolution == "1d").files[-1]
    assert (day.rows, day.start_us) == (1, us("2017-01-01T00:00:00+00:00"))


def test_late_rows_rewrite_only_the_month_they_fall_in(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(pond, ["/red"], out)
    # late readings inside July's existing buckets, then the export: July only
    table = b01()
    ts = table.column("Timestamp")
    before_rows = pond.root().resolve("/red/res=1h.series").read_table().num_rows
    age(out)
    before = snapshot(out)
    late = table.filter(
        pc.and_(
            pc.greater_equal(ts, pa.scalar(us("2016-07-01T06:00:00+00:00"), ts.type)),
            pc.less(ts, pa.scalar(us("2016-07-01T07:00:00+00:00"), ts.type)),
        )
    )
    assert late.num_rows == 2
    with pond.transaction(["late"]) as tx:
        # shifted by 30 s: new readings inside existing buckets (not duplicates of old ones)
        # (30 s later and 1 °C warmer, so that the hour's mean, min and max all change)
        shifted = late.set_column(
            0,
            "Timestamp",
            pc.add(late.column("Timestamp"), pa.scalar(30_000_000, pa.duration("us"))),
        ).set_column(1, "WaterTemperature.C", pc.add(late.column(1), 1.0))
        tx.root().append_series("/raw/b01.series", shifted, time_column="Timestamp")
    m = export(pond, ["/red"], out)
    assert list(m.changes.written) == [
        "red/res=1d/year=2016/month=7/part.parquet",
        "red/res=1h/year=2016/month=7/part.parquet",
    ]
    after = snapshot(out)
    for rel, (data, mtime) in before.items():
        if rel not in m.changes.written and rel != "manifest.json":
            assert after[rel] == (data, mtime), rel
    assert pond.root().resolve("/red/res=1h.series").read_table().num_rows == before_rows
    assert {k: v[0] for k, v in after.items()} == cold(pond, tmp_path / "cold")


def test_partitions_that_no_longer_exist_are_removed(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(pond, ["/red"], out)
    (out / "red/res=1h/year=2016/month=3/.part.parquet.tmp").write_bytes(b"torn")  # a crash's
    unrelated = out / "red" / "notes.txt"
    unrelated.write_text("not ours")
    m = export(pond, ["/red"], out, start="2016-06-01", end="2016-08-01")
    gone = [r for r in m.changes.removed if r.endswith("part.parquet")]
    assert len(gone) == 2 * 9  # 11 months before, 2 now, at 2 resolutions
    assert "red/res=1h/year=2016/month=3/.part.parquet.tmp" in m.changes.removed
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "manifest.json",
        "red/notes.txt",
        "red/res=1d/year=2016/month=6/part.parquet",
        "red/res=1d/year=2016/month=7/part.parquet",
        "red/res=1h/year=2016/month=6/part.parquet",
        "red/res=1h/year=2016/month=7/part.parquet",
    ]
    assert not (out / "red/res=1h/year=2016/month=3").exists()  # emptied directories go
    # other partition levels: every old part is replaced and removed
    m = export(pond, ["/red"], out, temporal=["year"], start="2016-06-01", end="2016-08-01")
    assert sorted(m.changes.written) == [
        "red/res=1d/year=2016/part.parquet",
        "red/res=1h/year=2016/part.parquet",
    ]
    assert len(m.changes.removed) == 4
    assert not list(out.rglob("month=*"))


def test_rebuild_writes_everything(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(pond, ["/red"], out)
    age(out)
    before = snapshot(out)
    m = export(pond, ["/red"], out, rebuild=True)
    assert len(m.changes.written) == 22 and m.changes.unchanged == ()
    after = snapshot(out)
    for rel, (data, _) in before.items():
        assert after[rel][0] == data and after[rel][1] != OLD_NS, rel


def test_cli_reports_written_unchanged_removed(pond: Pond, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    argv = ["--pond", str(tmp_path / "pond"), "export", "-p", "/red", "--dir", str(out)]
    assert main(argv) == 0
    first = capsys.readouterr().out.splitlines()
    assert first[-1].endswith("wrote 22, unchanged 0, removed 0"), first
    age(out)
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].endswith("wrote 0, unchanged 22, removed 0"), lines
    assert lines[0].startswith("red res=1h: 11 files, ") and lines[0].endswith(
        "(/red/res=1h.series)  wrote 0, unchanged 11, removed 0"
    ), lines
    append(pond, "2017-01-01T00:00:00+00:00", "2017-01-02T00:00:00+00:00")
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].endswith("wrote 2, unchanged 22, removed 0"), lines
    assert main([*argv, "--rebuild"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].endswith("wrote 24, unchanged 0, removed 0"), lines
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(len(s["files"]) for s in manifest["series"]) == 24
