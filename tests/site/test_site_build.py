"""``pond run <sitegen> build DIR`` from a pond, in real processes: incremental builds (issue 15),
``--rebuild``, station sections from a locations table, Markdown content pages, bad configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from site_testlib import DATA

from duckpond import Pond
from duckpond.errors import InvalidData
from duckpond.factories import registry as reg
from duckpond.factories import resolver
from duckpond.formats import read_csv_series
from duckpond.site.content import parse_content

B01_CSV = DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv"
US = 1_000_000
OLD = 1_000_000_000  # an mtime (s) no write of this test can produce
OLD_NS = OLD * 10**9

SITE = {
    "title": "Buoy site",
    "timezone": "America/New_York",
    "content": "/content/*.md",
    "pages": [
        {
            "pattern": "/reduced/*",
            "slug": "$0",
            "title": "Buoy $0",
            "station": {"name": "$0", "table": "/meta/locations.table"},
        }
    ],
}
ABOUT = """---
title: About the buoys
order: 2
---
# About

<script>alert('x')</script> and [a link](javascript:alert(1)) and [a good one](https://neracoos.org).
"""


def us(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text).timestamp()) * US


def b01_rows(start: str | None, end: str) -> pa.Table:
    table, _ = read_csv_series(B01_CSV)
    ts = table.column("Timestamp")
    mask = pc.less(ts, pa.scalar(us(end), ts.type))
    if start is not None:
        mask = pc.and_(mask, pc.greater_equal(ts, pa.scalar(us(start), ts.type)))
    return table.filter(mask).rename_columns(["Timestamp", "B01.WaterTemperature.C"])


def pond_cli(*argv: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("DUCKPOND_LOG", None)
    return subprocess.run(
        [sys.executable, "-m", "duckpond", *(os.fspath(a) for a in argv)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def age(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            os.utime(p, (OLD, OLD))


@pytest.fixture
def pond(tmp_path: Path) -> Path:
    path = tmp_path / "pond"
    p = Pond.init(path, factories=resolver)
    with p.transaction(["load"]) as tx:
        r = tx.root()
        for d in ("/raw", "/reduced", "/meta", "/content"):
            r.mkdir(d)
        r.append_series("/raw/b01.series", b01_rows(None, "2017-01-01"), time_column="Timestamp")
        reg.mknod(
            r,
            "temporal-reduce",
            "/reduced/B01",
            "input: /raw/b01.series\nresolutions: [1h, 1d]\naggregations: [avg, min, max, count]\n",
        )
        locations = pa.table(
            {
                "id": pa.array([1001], pa.int64()),
                "name": ["B01"],
                "description": ["NERACOOS buoy B01"],
                "latitude": [43.181],
                "longitude": [-70.427],
            }
        )
        r.write_file("/meta/locations.table", locations, file_type="file:table")
        r.write_file("/content/about.md", ABOUT.encode())
        reg.mknod(r, "sitegen", "/site", yaml.safe_dump(SITE))
    return path


def data_files(snap: dict[str, tuple[bytes, int]]) -> dict[str, tuple[bytes, int]]:
    return {k: v for k, v in snap.items() if k.startswith("data/")}


@pytest.mark.slow
def test_incremental_build_in_new_processes(pond: Path, tmp_path: Path) -> None:
    out = tmp_path / "www"
    r = pond_cli("--pond", pond, "run", "/site", "build", out)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.startswith(f"{out}: wrote ") and "pages: B01" in r.stdout
    first = snapshot(out)
    blocks = sorted(k for k in first if k.startswith("data/") and k.endswith(".parquet"))
    assert len(blocks) == 3 + 1  # 1h: 151-day blocks over Feb-Dec 2016; 1d: one block
    age(out)
    before = snapshot(out)

    # nothing new: no data block, no feed written; only the pages (they show the build time)
    r = pond_cli("--pond", pond, "run", "/site", "build", out)
    assert r.returncode == 0, r.stderr
    assert "data blocks: wrote 0, unchanged 4" in r.stdout, r.stdout
    again = snapshot(out)
    assert data_files(again) == data_files(before)
    assert again["feed.xml"] == before["feed.xml"]
    changed = sorted(k for k in again if again[k][1] != OLD_NS)
    # pages show the build time to the minute: rewritten only if the minute changed
    assert set(changed) <= {"B01.html", "about.html", "index.html"}

    # one more day: only the blocks holding it are written, every other file keeps its mtime
    p = Pond.open(pond, factories=resolver)
    with p.transaction(["append"]) as tx:
        tx.root().append_series(
            "/raw/b01.series", b01_rows("2017-01-01", "2017-01-02"), time_column="Timestamp"
        )
    age(out)
    before = snapshot(out)
    r = pond_cli("--pond", pond, "run", "/site", "build", out)
    assert r.returncode == 0, r.stderr
    after = snapshot(out)
    written = sorted(k for k in after if k.startswith("data/") and after[k][1] != OLD_NS)
    # the new day's blocks: 151-day blocks at 1h, 2048-day blocks at 1d (block_seconds)
    day = us("2017-01-01T00:00:00+00:00")
    names = [
        pa.scalar(day // (d * US) * d * US, pa.timestamp("us", "UTC"))
        .as_py()
        .strftime(f"data/B01/res={res}/%Y%m%dT%H%MZ.parquet")
        for res, d in (("1d", 2048 * 86400), ("1h", 151 * 86400))
    ]
    assert written == [n + suffix for n in names for suffix in ("", ".js")], written
    assert "data blocks: wrote 2, unchanged 2" in r.stdout, r.stdout
    for k in blocks:
        if k + ".js" not in written and k not in written:
            assert after[k] == before[k], k
    assert after["feed.xml"][1] != OLD_NS  # a new data update
    # the same bytes as a cold build of the same pond
    cold = tmp_path / "cold"
    assert pond_cli("--pond", pond, "run", "/site", "build", cold).returncode == 0
    cold_snap = snapshot(cold)
    assert {k: v[0] for k, v in data_files(after).items()} == {
        k: v[0] for k, v in data_files(cold_snap).items()
    }
    assert after["feed.xml"][0] == cold_snap["feed.xml"][0]

    # --rebuild writes everything
    age(out)
    r = pond_cli("--pond", pond, "run", "/site", "build", "--", out, "--rebuild")
    assert r.returncode == 0, r.stderr
    assert all(v[1] != OLD_NS for v in snapshot(out).values())
    assert "unchanged 0," in r.stdout


def test_removed_page_leaves_no_files(pond: Path, tmp_path: Path) -> None:
    out = tmp_path / "www"
    assert pond_cli("--pond", pond, "run", "/site", "build", out).returncode == 0
    assert (out / "data" / "B01").is_dir() and (out / "about.html").is_file()
    (out / "notes.txt").write_text("the host's own file")
    config = dict(SITE, pages=[{"pattern": "/reduced/*", "slug": "buoy-$0"}])
    config.pop("content")
    p = Pond.open(pond, factories=resolver)
    with p.transaction(["site"]) as tx:
        reg.mknod(tx.root(), "sitegen", "/site", yaml.safe_dump(config), overwrite=True)
    r = pond_cli("--pond", pond, "run", "/site", "build", out)
    assert r.returncode == 0, r.stderr
    assert not (out / "data" / "B01").exists() and not (out / "B01.html").exists()
    assert not (out / "about.html").exists()
    assert (out / "buoy-B01.html").is_file() and (out / "notes.txt").is_file()


def test_station_and_content_pages(pond: Path, tmp_path: Path) -> None:
    out = tmp_path / "www"
    assert pond_cli("--pond", pond, "run", "/site", "build", out).returncode == 0
    page = (out / "B01.html").read_text()
    assert "Station B01" in page and "NERACOOS buoy B01" in page
    assert "43.1810° N, 70.4270° W" in page
    assert '"stationZone":"America/New_York"' in page
    about = (out / "about.html").read_text()
    assert "<title>About the buoys · Buoy site</title>" in about
    assert "<script>alert" not in about
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in about
    assert 'href="javascript' not in about
    assert '<a href="https://neracoos.org">a good one</a>' in about
    assert '<a href="about.html">About the buoys</a>' in (out / "index.html").read_text()


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            {
                "pages": [
                    {
                        "pattern": "/reduced/*",
                        "station": {"name": "B02", "table": "/meta/locations.table"},
                    }
                ]
            },
            8,
            "no station named 'B02' in /meta/locations.table",
        ),
        (
            {
                "pages": [
                    {
                        "pattern": "/reduced/*",
                        "station": {"name": "B01", "table": "/meta/none.table"},
                    }
                ]
            },
            3,
            "station table /meta/none.table does not exist",
        ),
        (
            {
                "pages": [
                    {
                        "pattern": "/reduced/*",
                        "charts": [
                            {
                                "title": "Mixed",
                                "columns": ["B01.WaterTemperature.C", "Other.Flow.m3_s"],
                            }
                        ],
                    }
                ]
            },
            8,
            "names columns not in the data",
        ),
        ({"content": "/meta/*"}, 8, "content page is not UTF-8"),
    ],
)
def test_bad_site_builds_exit_with_one_line(
    pond: Path, tmp_path: Path, change: dict, code: int, message: str
) -> None:
    p = Pond.open(pond, factories=resolver)
    with p.transaction(["site"]) as tx:
        reg.mknod(
            tx.root(), "sitegen", "/site", yaml.safe_dump(dict(SITE, **change)), overwrite=True
        )
    out = tmp_path / "www"
    r = pond_cli("--pond", pond, "run", "/site", "build", out)
    assert r.returncode == code, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pond: ") and message in lines[0], lines
    assert not (out / "index.html").exists()


def test_a_chart_mixing_units_is_refused(tmp_path: Path) -> None:
    p = Pond.init(tmp_path / "pond", factories=resolver)
    table = pa.table(
        {
            "Timestamp": pa.array([0, 3600 * US], pa.timestamp("us", "UTC")),
            "S.T.C": [1.0, 2.0],
            "S.H.pct": [50.0, 51.0],
        }
    )
    with p.transaction(["load"]) as tx:
        r = tx.root()
        r.append_series("/s.series", table, time_column="Timestamp")
        r.mkdir("/red")
        reg.mknod(r, "temporal-reduce", "/red/S", "input: /s.series\nresolutions: [1h]\n")
    from duckpond.factories.sitegen import SitegenConfig, build_site

    config = SitegenConfig.model_validate(
        {
            "title": "x",
            "pages": [
                {
                    "pattern": "/red/*",
                    "charts": [{"title": "Both", "columns": ["S.T.C", "S.H.pct"]}],
                }
            ],
        }
    )
    with pytest.raises(InvalidData, match="mixes units %, °C"):
        build_site(p.root(), config, tmp_path / "out")


def test_content_front_matter() -> None:
    page = parse_content(b"---\ntitle: T\nslug: the-slug\norder: 3\n---\n# Heading\ntext\n", "x.md")
    assert (page.title, page.slug, page.order) == ("T", "the-slug", 3)
    assert "<h1>Heading</h1>" in page.html
    page = parse_content("# From the heading\n\nbody", "notes.md")
    assert (page.title, page.slug, page.order) == ("From the heading", "notes", 0)
    page = parse_content("\ufeffno heading", "My Notes.markdown")
    assert (page.title, page.slug) == ("My Notes", "My-Notes")
    cases: list[tuple[str | bytes, str]] = [
        ("---\n[unclosed\n---\nx", "not YAML"),
        ("---\n- a list\n---\nx", "mapping"),
        ("---\ntitel: typo\n---\nx", "unknown key"),
        ("---\norder: first\n---\nx", "whole number"),
        ("---\nslug: ../up\n---\nx", "not file-safe"),
        (b"\xff\xfe bad", "not UTF-8"),
    ]
    for text, match in cases:
        with pytest.raises(InvalidData, match=match) as info:
            parse_content(text, "bad.md", "/content/bad.md")
        assert info.value.path == "/content/bad.md"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"stale_after": "soon"}, "stale_after"),
        ({"map_tiles": "file:///etc/passwd"}, r"map_tiles must be an http\(s\) URL"),
        ({"parameters": {"X": {"decimals": 99}}}, "decimals"),
        ({"pages": [{"pattern": "/r/*", "station": {"name": "S", "latitude": 91}}]}, "latitude"),
        ({"temporal": ["year"]}, "temporal"),  # partitioning is by view size now
    ],
)
def test_bad_site_configs_are_refused_at_mknod(tmp_path: Path, change: dict, message: str) -> None:
    p = Pond.init(tmp_path / "pond", factories=resolver)
    with p.transaction(["x"]) as tx, pytest.raises(InvalidData, match=message):
        reg.mknod(tx.root(), "sitegen", "/s", yaml.safe_dump(dict(SITE, **change)))
