"""render_site without a browser: files, published blocks, the inline first view, page config,
index, feed, incremental writes, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from site_testlib import BUILD_TIME_US, US, SiteFixture, expected_view, page_config

import duckpond.site
from duckpond.errors import InvalidData, NotFound, UsageError
from duckpond.site import (
    COARSEST_BLOCK_BUCKETS,
    MIN_POINTS,
    ChartSpec,
    PageSpec,
    PartFile,
    Resolution,
    SeriesRef,
    SiteSpec,
    block_seconds,
    choose_resolution,
    data_decimals,
    format_value,
    overlapping_parts,
    render_site,
)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts: list[str] = []
        self.inline: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"] or "")
        if tag == "script" and a.get("id"):
            self._in = a["id"] or ""
            self.inline[self._in] = ""
        if tag in ("a", "link") and a.get("href"):
            self.links.append(a["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.inline[self._in] += data


def parse(path: Path) -> _Collect:
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def blocks_of(out: Path, cfg: dict, res: str) -> pa.Table:
    r = next(x for x in cfg["resolutions"] if x["name"] == res)
    return pa.concat_tables([pq.read_table(out / f["url"]) for f in r["files"]])


def test_layout_and_assets(built_site: SiteFixture) -> None:
    out = built_site.out
    for name in ("index.html", "b01.html", "jfk.html", "about.html", "feed.xml"):
        assert (out / name).is_file(), name
    vendor = out / "assets" / "vendor"
    for name in (
        "uPlot.iife.min.js",
        "hyparquet.iife.min.js",
        "hyparquet-writer.iife.min.js",
        "leaflet.js",
        "leaflet.css",
        "VENDORED.md",
        "leaflet.LICENSE",
    ):
        assert (vendor / name).is_file(), name
    manifest = json.loads((out / ".duckpond-site.json").read_text())["files"]
    assert "index.html" in manifest and "feed.xml" in manifest
    assert sum(1 for f in manifest if f.startswith("data/b01/res=1h/")) > 2
    for html in out.glob("*.html"):
        p = parse(html)
        # the pages carry their scripts: nothing to fetch before the first chart
        assert p.scripts == [], html.name
        for ref in p.links:
            if ref.startswith(("data:", "#", "https://www.openstreetmap.org/")):
                continue  # the station's link to OpenStreetMap is a link, not a resource
            assert not re.match(r"^[a-z]+://", ref), f"{html.name} refers outside the site: {ref}"
            assert (out / ref.split("?")[0].split("#")[0]).is_file(), f"{html.name}: {ref}"
    # the vendored files loaded on demand are named in the page config, with a content hash
    cfg = page_config(out / "b01.html")
    for url in cfg["vendor"].values():
        path, digest = url.split("?v=")
        assert hashlib.sha256((out / path).read_bytes()).hexdigest()[:10] == digest


def test_blocks_hold_the_reduced_rows(built_site: SiteFixture) -> None:
    cfg = page_config(built_site.out / "jfk.html")
    names = [r["name"] for r in cfg["resolutions"]]
    assert names == ["1h", "2h", "4h", "12h", "24h"]  # finest first
    spec = next(p for p in built_site.spec.pages if p.slug == "jfk")
    wanted = [
        f"{s.column}.{st}"
        for c in spec.charts
        for s in c.series
        for st in ("avg", "min", "max", "count")
    ]
    widths = block_seconds([r["seconds"] for r in cfg["resolutions"]])
    for res in cfg["resolutions"]:
        red = built_site.data["jfk"][res["name"]]
        block = res["blockSeconds"] * US
        assert res["blockSeconds"] == widths[res["seconds"]]
        assert block % (res["seconds"] * US) == 0
        for f in res["files"]:
            path = built_site.out / f["url"]
            assert f["bytes"] == path.stat().st_size
            meta = pq.ParquetFile(path).metadata
            assert meta.row_group(0).column(0).compression == "SNAPPY"
            table = pq.read_table(path)
            assert table.column_names == ["Timestamp", *wanted]
            assert table.schema.field("Timestamp").type == pa.timestamp("us", tz="UTC")
            ts = table.column("Timestamp").cast("int64").to_pylist()
            # one epoch-aligned block, named by its start
            first = ts[0] // block * block
            assert all(first <= t < first + block for t in ts)
            name = Path(f["url"]).name
            assert name == pa.scalar(first, pa.timestamp("us", tz="UTC")).as_py().strftime(
                "%Y%m%dT%H%MZ.parquet"
            )
            assert (f["start_us"], f["end_us"], f["rows"]) == (ts[0], ts[-1], len(ts))
            # the file:// twin holds the same bytes
            js = (built_site.out / (f["url"] + ".js")).read_text()
            m = re.fullmatch(r'duckpondPart\("([^"]+)","([A-Za-z0-9+/=]*)"\);\n', js)
            assert m and m.group(1) == f["url"]
            assert base64.b64decode(m.group(2)) == path.read_bytes()
        # all blocks together are the reduced rows (every row of JFK has a value)
        got = blocks_of(built_site.out, cfg, res["name"])
        assert got.num_rows == red.table.num_rows
        assert got.equals(red.table.select(got.column_names).cast(got.schema))


def test_inline_first_view(built_site: SiteFixture) -> None:
    for slug in ("b01", "jfk"):
        html = built_site.out / f"{slug}.html"
        cfg = page_config(html)
        text = html.read_text()
        m = re.search(
            r'<script type="application/octet-stream" id="duckpond-inline" data-res="([^"]+)" '
            r'data-start="(\d+)" data-end="(\d+)">([A-Za-z0-9+/=]+)</script>',
            text,
        )
        assert m, slug
        res, start, end, _ = expected_view(cfg, "1y")
        assert (m.group(1), int(m.group(2)), int(m.group(3))) == (res, start, end)
        table = pq.read_table(pa.BufferReader(base64.b64decode(m.group(4))))
        red = built_site.data[slug][res]
        ts = red.table.column("Timestamp").cast("int64")
        mask = pc.and_(pc.greater(pc.add(ts, red.seconds * US), start), pc.less(ts, end))
        want = red.table.filter(mask).select(table.column_names)
        want = want.filter(pc.is_valid(want.column(table.column_names[1])))
        assert table.num_rows == want.num_rows > 300
        assert table.equals(want.cast(table.schema))


def test_config_bounds_and_charts(built_site: SiteFixture) -> None:
    cfg = page_config(built_site.out / "b01.html")
    hourly = built_site.data["b01"]["1h"].table.column("Timestamp")
    assert cfg["dataStartUs"] == hourly[0].value
    assert cfg["dataEndUs"] == hourly[-1].value + 3600 * US
    assert [r["key"] for r in cfg["ranges"]] == ["1w", "1m", "3m", "1y", "all"]
    assert cfg["minPoints"] == MIN_POINTS
    assert cfg["stationZone"] == "America/New_York"  # the site's zone: the page names none
    assert cfg["charts"] == [
        {
            "title": "Water temperature",
            "unit": "°C",
            "showUnit": True,
            "series": [
                {"label": "Water temperature", "column": "B01.WaterTemperature.C", "decimals": 3}
            ],
        }
    ]
    assert cfg["map"] == {
        "lat": 43.1813,
        "lon": -70.4266,
        "tiles": "https://tiles.duckpond.test/{z}/{x}/{y}.png",
        "attribution": "© OpenStreetMap contributors",
    }
    jfk = page_config(built_site.out / "jfk.html")
    digits = {s["column"]: s["decimals"] for c in jfk["charts"] for s in c["series"]}
    # as the CSV has them: tenths of a degree and of a hPa, hundredths of a m/s
    assert digits == {
        "JFK.AirTemperature.C": 1,
        "JFK.DewPoint.C": 1,
        "JFK.WindSpeed.m_s": 2,
        "JFK.WindGust.m_s": 2,
        "JFK.BarometricPressure.hPa": 1,
    }


def test_index_cards(built_site: SiteFixture) -> None:
    html = (built_site.out / "index.html").read_text(encoding="utf-8")
    assert "Test network &lt;&amp;&gt; monitoring" in html  # autoescaped
    assert "<&>" not in html
    assert 'href="b01.html"' in html and 'href="jfk.html"' in html
    b01 = built_site.data["b01"]["1h"].table
    value = b01.column("B01.WaterTemperature.C.avg")[-1].as_py()
    assert f'<span class="number">{format_value(value, 3)}</span>' in html
    assert (
        '<time datetime="2017-03-22T00:00:00Z">'
        "<span>2017-03-22</span> <span>00:00 UTC</span></time>" in html
    )
    assert "2016-02-15 – 2017-03-22" in html  # span covered
    # built in 2023, data to 2017: stale at build time already
    assert html.count('class="fresh is-stale"') == 2
    assert '<time class="built" datetime="2023-11-14T22:13:20Z">' in html


def test_feed_is_atom(built_site: SiteFixture) -> None:
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ET.parse(built_site.out / "feed.xml").getroot()
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    assert root.findtext("a:title", namespaces=ns) == "Test network <&> monitoring: data updates"
    entries = root.findall("a:entry", ns)
    assert [e.findtext("a:updated", namespaces=ns) for e in entries] == [
        "2017-03-22T01:00:00Z",
        "2013-12-31T00:00:00Z",
    ]
    link = entries[0].find("a:link", ns)
    assert link is not None and link.get("href") == "b01.html"
    summary = entries[0].findtext("a:summary", namespaces=ns) or ""
    assert "Water temperature: 4.316 °C (2017-03-22 00:00 UTC)" in summary
    ids = [e.findtext("a:id", namespaces=ns) or "" for e in entries]
    assert all(i.startswith("urn:uuid:") for i in ids) and len(set(ids)) == 2
    assert root.findtext("a:updated", namespaces=ns) == "2017-03-22T01:00:00Z"


def test_choose_resolution_rule() -> None:
    res = tuple(Resolution(n, s, ()) for n, s in (("1d", 86400), ("1h", 3600), ("6h", 21600)))
    hour = 3600 * US
    assert choose_resolution(res, 0, 10 * hour).name == "1h"  # none has enough: finest
    assert choose_resolution(res, 0, MIN_POINTS * hour).name == "1h"
    assert choose_resolution(res, 0, MIN_POINTS * 6 * hour - 1).name == "1h"
    assert choose_resolution(res, 0, MIN_POINTS * 6 * hour).name == "6h"
    assert choose_resolution(res, 0, MIN_POINTS * 24 * hour).name == "1d"


def test_overlapping_parts_rule() -> None:
    hour = 3600 * US
    parts = [PartFile(Path(f"p{i}"), i * 10 * hour, i * 10 * hour + 9 * hour, 10) for i in range(3)]
    # the last bucket of a part ends one resolution after its start
    assert overlapping_parts(parts, 3600, 10 * hour, 20 * hour) == [parts[1]]
    assert overlapping_parts(parts, 3600, 10 * hour - 1, 20 * hour + 1) == parts
    assert overlapping_parts(parts, 3600, 0, 100 * hour) == parts


def test_block_lengths() -> None:
    assert block_seconds([3600, 21600, 86400, 604800]) == {
        3600: 38 * 86400,  # (300 * 6 h + 1 h) / 2 = 900.5 h: 38 whole days
        21600: 151 * 86400,  # (300 d + 6 h) / 2
        86400: 1051 * 86400,  # (300 w + 1 d) / 2
        604800: COARSEST_BLOCK_BUCKETS * 604800,
    }
    # 2048 5-minute buckets are 7.1 days: rounded up to whole days, blocks start at midnight
    assert block_seconds([60, 300]) == {60: 45060, 300: 8 * 86400}


LADDER = st.lists(
    st.sampled_from([60, 300, 900, 3600, 7200, 21600, 43200, 86400, 604800]),
    min_size=1,
    max_size=5,
    unique=True,
).map(sorted)


def blocks_touched(widths: dict[int, int], w: int, lo: int, hi: int) -> int:
    """Blocks of resolution ``w`` holding a bucket that overlaps [lo, hi) (starts in (lo-w, hi))."""
    block = widths[w] * US
    first = max(lo - w * US + 1, 0) // (w * US) * (w * US)
    last = (hi - 1) // (w * US) * (w * US)
    return last // block - first // block + 1


@settings(max_examples=400, deadline=None)
@given(ladder=LADDER, start=st.integers(0, 2_000_000_000), pick=st.data())
def test_any_view_needs_at_most_three_blocks(ladder, start, pick) -> None:
    """The widest view each resolution draws (just under MIN_POINTS buckets of the next
    coarser one; for the coarsest, data of two blocks), anywhere, loads at most 3 blocks."""
    widths = block_seconds(ladder)
    res = tuple(Resolution(str(s), s, ()) for s in ladder)
    i = pick.draw(st.integers(0, len(ladder) - 1))
    w = ladder[i]
    if i + 1 < len(ladder):
        span = MIN_POINTS * ladder[i + 1] * US - pick.draw(st.integers(1, w * US))
    else:
        span = 2 * widths[w] * US - w * US  # "All" of data two coarsest blocks long
    lo = start * US
    hi = lo + span
    assert choose_resolution(res, lo, hi).seconds == w or i == 0
    assert blocks_touched(widths, choose_resolution(res, lo, hi).seconds, lo, hi) <= 3


def test_data_decimals_and_format_value() -> None:
    assert data_decimals(pa.array([1025.7, 1013.2, 1000.0])) == 1
    assert data_decimals(pa.array([5.0, 0.6, -3.3])) == 1
    assert data_decimals(pa.array([4.316, 12.0])) == 3
    assert data_decimals(pa.array([7, 8, 410], pa.int64())) == 0
    assert data_decimals(pa.array([12.345678912, 3.14159265358])) == 2  # not readings
    assert data_decimals(pa.array([0.000123456789])) == 6
    assert data_decimals(pa.array([None, float("nan")], pa.float64())) == 2
    assert data_decimals(pa.array([20.1 + 1e-12])) == 1  # float noise is not a digit
    assert format_value(None) == "–"
    assert format_value(float("nan"), 2) == "–"
    assert format_value(5.0, 1) == "5.0" and format_value(0.6, 1) == "0.6"
    assert format_value(1025.66, 1) == "1025.7"
    assert format_value(-0.04, 1) == "0.0"
    assert format_value(4.316) == "4.32"
    assert format_value(1013.25) == "1013"


def _part(path: Path, table: pa.Table) -> PartFile:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return PartFile(path, 0, 0, table.num_rows)


def _one_page(
    part: PartFile | None = None, slug: str = "p", table: pa.Table | None = None
) -> SiteSpec:
    chart = ChartSpec("T", "°C", (SeriesRef("t", "a.T.C"), SeriesRef("u", "a.U.C")))
    res = Resolution("1h", 3600, (part,) if part else (), table)
    return SiteSpec("s", (PageSpec(slug, "P", (chart,), (res,)),), build_time_us=BUILD_TIME_US)


def test_naive_timestamps_missing_columns_and_unsorted_rows(tmp_path: Path) -> None:
    table = pa.table(
        {
            "Timestamp": pa.array([7200 * 10**9, 0, 3600 * 10**9], pa.timestamp("ns")),
            "a.T.C.avg": pa.array([3.0, 1.0, 2.0]),
            "a.T.C.min": pa.array([3, 1, 2], pa.int32()),
            "a.T.C.max": pa.array([3.5, 1.5, None]),
            "other.avg": pa.array([9.0, 9.0, 9.0]),
        }
    )
    part = _part(tmp_path / "in" / "res=1h" / "year=1970" / "month=01" / "part.parquet", table)
    report = render_site(_one_page(part), tmp_path / "out")
    block = Path("data/p/res=1h/19700101T0000Z.parquet")
    assert block in report.files and block in report.written
    assert report.bytes == sum((report.out_dir / f).stat().st_size for f in report.files)
    got = pq.read_table(report.out_dir / block)
    assert got.column("Timestamp").to_pylist()[0].isoformat() == "1970-01-01T00:00:00+00:00"
    assert got.column("a.T.C.avg").to_pylist() == [1.0, 2.0, 3.0]
    assert got.column("a.T.C.min").type == pa.float64()
    assert got.column("a.T.C.max").to_pylist() == [1.5, None, 3.5]
    assert got.column("a.T.C.count").null_count == 3  # absent: nulls
    assert got.column("a.U.C.avg").null_count == 3
    assert "other.avg" not in got.column_names  # not charted: not published


def test_incremental_render_writes_only_changed_blocks(tmp_path: Path) -> None:
    hour = 3600 * US
    n = 24 * 200  # 200 days of hours: several blocks of the finest resolution

    def table(rows: int, bump_last: bool = False) -> pa.Table:
        values = [float(i % 97) for i in range(rows)]
        if bump_last:
            values[-1] += 0.5
        return pa.table(
            {
                "Timestamp": pa.array(
                    [i * hour for i in range(rows)], pa.timestamp("us", tz="UTC")
                ),
                "a.T.C.avg": values,
                "a.T.C.min": values,
                "a.T.C.max": values,
                "a.T.C.count": [1] * rows,
            }
        )

    def spec(t: pa.Table) -> SiteSpec:
        chart = ChartSpec("T", "°C", (SeriesRef("t", "a.T.C"),))
        return SiteSpec(
            "s",
            (PageSpec("p", "P", (chart,), (Resolution("1h", 3600, (), t),)),),
            build_time_us=BUILD_TIME_US,
        )

    out = tmp_path / "out"
    first = render_site(spec(table(n)), out)
    blocks = sorted(p for p in first.files if p.suffix == ".parquet")
    assert len(blocks) == 3 and set(blocks) <= set(first.written)
    old = 1_000_000_000
    for p in out.rglob("*"):
        if p.is_file():
            os.utime(p, (old, old))
    # the same data again: nothing is written
    again = render_site(spec(table(n)), out)
    assert again.written == () and set(again.unchanged) == set(again.files)
    # one more hour in the last block, and the last one changed: only that block and the pages
    third = render_site(spec(table(n + 1, bump_last=True)), out)
    data = [p for p in third.written if p.parts[0] == "data"]
    assert data == [blocks[-1], blocks[-1].with_name(blocks[-1].name + ".js")]
    assert set(third.written) - set(data) == {Path("index.html"), Path("p.html"), Path("feed.xml")}
    for p in blocks[:-1]:
        assert (out / p).stat().st_mtime == old
    assert "data blocks: wrote 1, unchanged 2" in third.summary()
    # rebuild: everything
    fourth = render_site(spec(table(n + 1, bump_last=True)), out, rebuild=True)
    assert set(fourth.written) == set(fourth.files)


def test_build_removes_stale_files(tmp_path: Path) -> None:
    t = pa.table({"Timestamp": pa.array([0], pa.timestamp("us", tz="UTC")), "a.T.C.avg": [1.0]})
    one = _part(tmp_path / "in" / "res=1h" / "year=1970" / "month=01" / "part.parquet", t)
    out = tmp_path / "out"
    render_site(_one_page(one, "first"), out)
    (out / "mine.txt").write_text("not the renderer's")
    report = render_site(_one_page(one, "second"), out)
    assert not (out / "first.html").exists()
    assert not (out / "data" / "first").exists()
    assert Path("first.html") in report.removed
    assert (out / "second.html").is_file()
    assert (out / "mine.txt").is_file()  # files it did not write are left alone


def test_errors(tmp_path: Path) -> None:
    t = pa.table({"Timestamp": pa.array([0], pa.timestamp("us", tz="UTC")), "a.T.C.avg": [1.0]})
    good = _part(tmp_path / "a.parquet", t)
    spec = _one_page(good)
    with pytest.raises(UsageError, match="slug"):
        render_site(SiteSpec("s", (spec.pages[0], spec.pages[0])), tmp_path / "o1")
    with pytest.raises(UsageError, match="slug"):
        render_site(_one_page(good, "../x"), tmp_path / "o2")
    with pytest.raises(UsageError, match="slug"):
        render_site(_one_page(good, "feed"), tmp_path / "o2")
    with pytest.raises(NotFound):
        render_site(_one_page(PartFile(tmp_path / "missing.parquet", 0, 0, 0)), tmp_path / "o3")
    bad = _part(tmp_path / "b.parquet", pa.table({"time": [1]}))
    with pytest.raises(InvalidData, match="Timestamp"):
        render_site(_one_page(bad), tmp_path / "o4")
    junk = tmp_path / "c.parquet"
    junk.write_bytes(b"not parquet")
    with pytest.raises(InvalidData):
        render_site(_one_page(PartFile(junk, 0, 0, 0)), tmp_path / "o5")
    text = _one_page(table=t.append_column("a.U.C.avg", pa.array(["x"])))
    with pytest.raises(InvalidData, match="not numeric"):
        render_site(text, tmp_path / "o6")
    with pytest.raises(UsageError, match="time zone"):
        render_site(SiteSpec("s", spec.pages, timezone="Mars/Olympus"), tmp_path / "o7")
    assert not (tmp_path / "o7").exists()


def test_vendored_files_match_vendored_md() -> None:
    vendor = Path(duckpond.site.__file__).parent / "assets" / "vendor"
    doc = (vendor / "VENDORED.md").read_text()
    listed = dict(
        (name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", doc, re.M)
    )
    on_disk = {p.name for p in vendor.iterdir() if p.name != "VENDORED.md"}
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    # every vendored script comes with its licence
    for script in vendor.glob("*.js"):
        stem = script.name.removesuffix(".iife.min.js").removesuffix(".js")
        assert (vendor / f"{stem}.LICENSE").is_file(), script.name


@pytest.mark.parametrize("ci", ["true", ""])
def test_browser_fixture_fails_in_ci_when_chromium_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str
) -> None:
    import site_testlib

    monkeypatch.setattr(site_testlib, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(site_testlib.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", ci)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome):
        site_testlib.chromium_or_skip()


def test_page_without_data(tmp_path: Path) -> None:
    chart = ChartSpec("T", "°C", (SeriesRef("t", "a.T.C"),))
    page = PageSpec("empty", "Nothing yet", (chart,), (Resolution("1h", 3600, ()),))
    render_site(SiteSpec("s", (page,)), tmp_path)
    assert "no data" in (tmp_path / "index.html").read_text()
    cfg = page_config(tmp_path / "empty.html")
    assert (cfg["dataStartUs"], cfg["dataEndUs"]) == (0, 0)
    assert cfg["resolutions"] == [
        {
            "name": "1h",
            "seconds": 3600,
            "blockSeconds": 86 * 86400,  # 2048 h, in whole days
            "base": "data/empty/res=1h/",
            "files": [],
        }
    ]
    assert 'id="duckpond-inline"' not in (tmp_path / "empty.html").read_text()
    twice = PageSpec("x", "X", (chart,), (Resolution("1h", 3600, ()), Resolution("1h", 60, ())))
    with pytest.raises(UsageError, match="same name"):
        render_site(SiteSpec("s", (twice,)), tmp_path)
