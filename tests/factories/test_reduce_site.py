"""The site build over temporal-reduce (issue 15): blocks are read and written only where the
reduce's segments changed, and the site is byte for byte the one a full build writes.

A block-by-block build is compared with a build of the same pond from whole tables (the
renderer's other path, the one it had before), every file, at a fixed build time.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from duckpond import Pond
from duckpond.factories import reduce as reduce_mod
from duckpond.factories import resolver
from duckpond.factories.registry import mknod, run
from duckpond.site import render

TIME = pa.timestamp("us", tz="UTC")
MIN = 60_000_000
DAY = 86_400_000_000
T0 = 18_262 * DAY  # 2020-01-01
BUILT = T0 + 400 * DAY  # a fixed build time (pages show it)
SEG_S = reduce_mod.segment_seconds([900, 3600, 21600, 86400])
assert SEG_S is not None
SEG = SEG_S * 1_000_000
REDUCE = (
    "input: /raw/{d}.series\nresolutions: [15m, 1h, 6h, 1d]\naggregations: [avg, min, max, count]\n"
)
SITE = "title: Test\nstale_after: null\npages:\n  - pattern: /reduced/*\n    title: Device $0\n"


def day(d: int, device: int, *, step: int = 5 * MIN, shift: float = 0.0) -> pa.Table:
    """One day of a device: a temperature in C with 2 decimals, a pressure with 1, gaps."""
    n = DAY // step
    ts = [T0 + d * DAY + k * step for k in range(n)]
    temp = [round(10 + 5 * math.sin((d * n + k) / 300) + device + shift, 2) for k in range(n)]
    hpa = [None if k % 41 == 3 else round(1000 + (k % 97) / 10, 1) for k in range(n)]
    return pa.table(
        {
            "Timestamp": pa.array(ts, TIME),
            f"D{device}.Temperature.C": pa.array(temp),
            f"D{device}.Pressure.hPa": pa.array(hpa),
        }
    )


def append(pond: Pond, tables: dict[int, pa.Table]) -> None:
    with pond.transaction(["collect"]) as tx:
        for device, table in tables.items():
            tx.root().append_series(f"/raw/d{device}.series", table, time_column="Timestamp")


@pytest.fixture
def site_pond(tmp_path, monkeypatch):
    monkeypatch.setattr(render.time, "time_ns", lambda: BUILT * 1000)
    pond = Pond.init(tmp_path / "pond", factories=resolver)
    with pond.transaction(["mknod"]) as tx:
        r = tx.root()
        r.mkdir("/raw")
        r.mkdir("/reduced")
        for d in range(2):
            mknod(r, "temporal-reduce", f"/reduced/d{d}", REDUCE.format(d=f"d{d}"))
        mknod(r, "sitegen", "/site", SITE)
    for k in range(0, 60, 6):  # 60 days, 6 days per transaction
        append(pond, {d: pa.concat_tables([day(k + i, d) for i in range(6)]) for d in range(2)})
    return pond


def build(pond: Pond, out: Path, *, rebuild: bool = False):
    """A build as a new process makes it (the pond opened again: nothing in memory)."""
    fresh = Pond.open(pond.path, factories=resolver)
    return run(fresh, "/site", "build", [str(out), *(["--rebuild"] if rebuild else [])])


def table_build(pond: Pond, out: Path, monkeypatch) -> None:
    """The same site from whole tables (no block keys: the renderer's table path)."""
    with monkeypatch.context() as m:
        m.delattr(reduce_mod.ReduceDir, "blocks")
        build(pond, out, rebuild=True)


def files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and p.name != render.MANIFEST
    }


def assert_same_site(a: Path, b: Path) -> None:
    fa, fb = files(a), files(b)
    assert sorted(fa) == sorted(fb)
    differ = [name for name in fa if fa[name] != fb[name]]
    assert differ == [], differ[:5]


class Reads:
    """Counts the windows ReducedBlocks.read is asked for."""

    def __init__(self, monkeypatch) -> None:
        self.windows: list[tuple[str, int, int]] = []
        original = reduce_mod.ReducedBlocks.read

        def read(blocks, start, end):
            self.windows.append((blocks.resolution, start, end))
            return original(blocks, start, end)

        monkeypatch.setattr(reduce_mod.ReducedBlocks, "read", read)


def test_block_build_is_the_table_build(site_pond, tmp_path, monkeypatch):
    report = build(site_pond, tmp_path / "blocks")
    assert report.written
    table_build(site_pond, tmp_path / "tables", monkeypatch)
    assert_same_site(tmp_path / "blocks", tmp_path / "tables")


def test_nothing_new_reads_and_writes_no_block(site_pond, tmp_path, monkeypatch):
    out = tmp_path / "site"
    build(site_pond, out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    reads = Reads(monkeypatch)
    report = build(site_pond, out)
    assert len(reads.windows) <= 2  # the pages' inline views only: no block is read
    assert [p for p in report.written if p.parts[0] == "data"] == []
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == before
    assert "data blocks: wrote 0" in report.summary()


def test_one_more_day_reads_and_writes_only_its_blocks(site_pond, tmp_path, monkeypatch):
    out = tmp_path / "site"
    build(site_pond, out)
    append(site_pond, {d: day(60, d) for d in range(2)})
    reads = Reads(monkeypatch)
    report = build(site_pond, out)
    new_segment = (T0 + 60 * DAY) // SEG
    lo, hi = new_segment * SEG, (new_segment + 1) * SEG
    assert 0 < len(reads.windows) <= 2 * 4 * 3 + 2  # a few blocks per res and device, inline
    assert all(start < hi and end > lo for _, start, end in reads.windows), reads.windows
    data = [p for p in report.written if p.suffix == ".parquet"]
    assert data and len(data) <= 2 * 4 * 3  # blocks of the new segment, per device and res
    for p in data:
        rec = _record(out, p.as_posix())
        assert rec["start_us"] < hi and rec["end_us"] > lo - DAY, p
    # the incremental site is the full one
    table_build(site_pond, tmp_path / "full", monkeypatch)
    assert_same_site(out, tmp_path / "full")


def test_late_data_rewrites_only_the_blocks_of_its_segment(site_pond, tmp_path, monkeypatch):
    out = tmp_path / "site"
    build(site_pond, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.parquet")}
    late = day(20, 0, step=7 * MIN, shift=30.0)  # day 20 again, other times and values
    append(site_pond, {0: late})
    report = build(site_pond, out)
    seg = (T0 + 20 * DAY) // SEG
    lo, hi = seg * SEG, (seg + 1) * SEG
    changed = {p for p in before if (out / p).read_bytes() != before[p]}
    assert changed
    for p in changed:
        assert p.parts[1] == "d0"
        rec = _record(out, p.as_posix())
        assert rec["start_us"] < hi and rec["end_us"] >= lo - DAY, p
    assert {p for p in report.written if p.suffix == ".parquet"} == changed
    table_build(site_pond, tmp_path / "full", monkeypatch)
    assert_same_site(out, tmp_path / "full")


def test_a_correction_and_its_revert_reach_the_site_at_the_next_build(
    site_pond, tmp_path, monkeypatch
):
    """rm-rows of two days of d1 (issue 14): the next build rewrites d1's blocks over those days
    only and equals a full build; reverting to before the correction gives the first site back,
    byte for byte."""
    from duckpond.ops.corrections import remove_rows, revert
    from duckpond.times import Window

    out = tmp_path / "site"
    build(site_pond, out)
    first = files(out)
    txn = site_pond.txn_seq
    start, end = T0 + 30 * DAY, T0 + 32 * DAY
    with site_pond.transaction(["rm-rows"]) as tx:
        assert remove_rows(tx.root(), "/raw/d1.series", Window(start, end)) == 2 * DAY // (5 * MIN)
    report = build(site_pond, out)
    written = {p for p in report.written if p.suffix == ".parquet"}
    assert written, "the correction changed some blocks"
    for p in written:
        assert p.parts[1] == "d1", p
        rec = _record(out, p.as_posix())
        assert rec["start_us"] < end and rec["end_us"] >= start - DAY, p
    table_build(site_pond, tmp_path / "full", monkeypatch)
    assert_same_site(out, tmp_path / "full")
    assert files(out) != first
    with site_pond.transaction(["revert"]) as tx:
        revert(tx.root(), "/raw/d1.series", txn)
    build(site_pond, out)
    assert files(out) == first


def test_a_deleted_or_altered_block_file_is_written_again(site_pond, tmp_path, monkeypatch):
    out = tmp_path / "site"
    build(site_pond, out)
    blocks = sorted(out.glob("data/d1/res=15m/*.parquet"))
    gone, altered = blocks[2], blocks[3]
    gone.unlink()
    altered.write_bytes(altered.read_bytes()[:-10])
    report = build(site_pond, out)
    written = {out / p for p in report.written}
    assert gone in written and altered in written
    assert len([p for p in report.written if p.parts[0] == "data"]) == 2
    table_build(site_pond, tmp_path / "full", monkeypatch)
    assert_same_site(out, tmp_path / "full")


def test_a_chart_change_rewrites_every_block(site_pond, tmp_path, monkeypatch):
    out = tmp_path / "site"
    build(site_pond, out)
    with site_pond.transaction(["mknod"]) as tx:
        mknod(
            tx.root(),
            "sitegen",
            "/site",
            SITE + '    columns: "*.Temperature.C"\n',
            overwrite=True,
        )
    report = build(site_pond, out)
    assert len([p for p in report.written if p.suffix == ".parquet"]) == len(
        list(out.rglob("*.parquet"))
    )
    table_build(site_pond, tmp_path / "full", monkeypatch)
    assert_same_site(out, tmp_path / "full")


def test_pond_run_build_in_new_processes(site_pond, tmp_path):
    out = tmp_path / "site"
    env = {**os.environ, "POND": str(site_pond.path)}
    cmd = [sys.executable, "-m", "duckpond", "run", "/site", "build", str(out)]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "data blocks: wrote 0," in second.stdout
    shutil.rmtree(site_pond.layout.cache)  # the cache gone: the same site, nothing rewritten
    third = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr
    assert "data blocks: wrote 0," in third.stdout


def _record(out: Path, url: str) -> dict:
    import json

    return json.loads((out / render.MANIFEST).read_text())["blocks"][url]


def test_page_decimals_combine_the_last_blocks_and_follow_late_data(
    site_pond, tmp_path, monkeypatch
):
    """The decimals a page shows come from every finest block's statistics; after one more day
    a build combines what the last build recorded with the last block's (it parses no other
    block's summary), and late data in an early block that needs more decimals changes the
    page as a full build does."""
    out = tmp_path / "site"
    build(site_pond, out)
    parsed: list[str] = []
    original = render._summary

    def counted(rec):
        parsed.append(rec["key"])
        return original(rec)

    monkeypatch.setattr(render, "_summary", counted)
    append(site_pond, {d: day(60, d) for d in range(2)})
    build(site_pond, out)
    assert 0 < len(parsed) <= 2 * 2  # per page: the last block (and the one before a new one)
    table_build(site_pond, tmp_path / "full", monkeypatch)
    assert_same_site(out, tmp_path / "full")
    page, other = (out / "d0.html").read_bytes(), (out / "d1.html").read_bytes()
    # late data in an early block: temperatures with four decimals
    late = day(5, 0, step=7 * MIN)
    temp = [round(v + 0.0004, 4) for v in late.column("D0.Temperature.C").to_pylist()]
    late = late.set_column(1, "D0.Temperature.C", pa.array(temp))
    append(site_pond, {0: late})
    parsed.clear()
    build(site_pond, out)
    assert len(parsed) > 10  # every block of d0's page combined again
    shutil.rmtree(tmp_path / "full")
    table_build(site_pond, tmp_path / "full", monkeypatch)
    assert_same_site(out, tmp_path / "full")
    assert (out / "d0.html").read_bytes() != page  # the decimals changed
    assert (out / "d1.html").read_bytes() == other


def test_a_manifest_with_bad_page_records_still_builds_the_site(site_pond, tmp_path, monkeypatch):
    import json

    out = tmp_path / "site"
    build(site_pond, out)
    manifest = json.loads((out / render.MANIFEST).read_text())
    assert set(manifest["pages"]) == {"d0", "d1"}
    manifest["pages"]["d0"] = {"format": "decimals-1", "all": ["x", {"a": 1}], "prefix": 7}
    manifest["pages"]["d1"]["prefix"][1] = {"D1.Temperature.C": {"readings": "many"}}
    (out / render.MANIFEST).write_text(json.dumps(manifest))
    append(site_pond, {d: day(60, d) for d in range(2)})
    build(site_pond, out)
    table_build(site_pond, tmp_path / "full", monkeypatch)
    assert_same_site(out, tmp_path / "full")


def test_a_parameter_with_zero_decimals_is_shown_with_zero(site_pond, tmp_path, monkeypatch):
    """A configured ``decimals: 0`` (falsy, not missing) reaches the page as a full build's."""
    with site_pond.transaction(["mknod"]) as tx:
        mknod(
            tx.root(),
            "sitegen",
            "/site",
            SITE.replace("pages:", "parameters:\n  Pressure: {decimals: 0}\npages:"),
            overwrite=True,
        )
    out = tmp_path / "site"
    build(site_pond, out)
    append(site_pond, {d: day(60, d) for d in range(2)})
    build(site_pond, out)
    table_build(site_pond, tmp_path / "full", monkeypatch)
    assert_same_site(out, tmp_path / "full")
