"""render_site without a browser: files, published Parquet, page config, index, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from site_testlib import SiteFixture

import duckpond.site
from duckpond.errors import InvalidData, NotFound, UsageError
from duckpond.site import (
    MIN_POINTS,
    ChartSpec,
    PageSpec,
    PartFile,
    Resolution,
    SeriesRef,
    SiteSpec,
    choose_resolution,
    overlapping_parts,
    render_site,
)
from duckpond.site.render import format_value


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.config: str | None = None
        self._in_config = False
        self.links: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("id") == "duckpond-config":
            self._in_config = True
            self.config = ""
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"] or "")
        if tag in ("a", "link") and a.get("href"):
            self.links.append(a["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_config = False

    def handle_data(self, data: str) -> None:
        if self._in_config:
            self.config = (self.config or "") + data


def parse(path: Path) -> _Collect:
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def page_config(site: SiteFixture, slug: str) -> dict:
    text = parse(site.out / f"{slug}.html").config
    assert text
    cfg = json.loads(text)
    for res in cfg["resolutions"]:  # expand the compact part rows as app.js does
        assert res["base"] == f"data/{slug}/res={res['name']}/"
        res["files"] = [
            dict(zip(("url", "start_us", "end_us", "rows", "bytes"), row, strict=True))
            | {"url": res["base"] + row[0], "js": res["base"] + row[0] + ".js"}
            for row in res["files"]
        ]
    return cfg


def test_layout_and_assets(built_site: SiteFixture) -> None:
    out = built_site.out
    for name in ("index.html", "b01.html", "jfk.html", "assets/app.js", "assets/style.css"):
        assert (out / name).is_file(), name
    vendor = out / "assets" / "vendor"
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "hyparquet.iife.min.js", "VENDORED.md"):
        assert (vendor / name).is_file(), name
    manifest = json.loads((out / ".duckpond-site.json").read_text())["files"]
    assert "index.html" in manifest
    assert "data/b01/res=1h/year=2016/month=02/part.parquet" in manifest
    # every local reference of every page exists (no CDN, nothing missing)
    for html in out.glob("*.html"):
        p = parse(html)
        for ref in p.links + p.scripts:
            if ref.startswith("data:"):
                continue
            assert not re.match(r"^[a-z]+://", ref), f"{html.name} refers outside the site: {ref}"
            assert (out / ref.split("?")[0]).is_file(), f"{html.name}: {ref}"


def test_published_parts_keep_hive_tail_and_values(built_site: SiteFixture) -> None:
    cfg = page_config(built_site, "jfk")
    names = [r["name"] for r in cfg["resolutions"]]
    assert names == ["1h", "2h", "4h", "12h", "24h"]  # finest first
    reduced = built_site.data["jfk"]
    bases = ("AirTemperature.C", "DewPoint.C", "WindSpeed.m_s", "WindGust.m_s")
    bases += ("BarometricPressure.hPa",)
    wanted = [f"JFK.{c}.{s}" for c in bases for s in ("avg", "min", "max")]
    for res in cfg["resolutions"]:
        red = reduced[res["name"]]
        assert len(res["files"]) == len(red.parts)
        for f, part in zip(res["files"], red.parts, strict=True):
            tail = "/".join(Path(part.path).parts[-3:])
            assert f["url"] == f"data/jfk/res={res['name']}/{tail}"
            assert f["js"] == f["url"] + ".js"
            path = built_site.out / f["url"]
            assert f["bytes"] == path.stat().st_size
            meta = pq.ParquetFile(path).metadata
            assert meta.row_group(0).column(0).compression == "SNAPPY"
            table = pq.read_table(path)
            assert table.schema.field("Timestamp").type == pa.timestamp("us", tz="UTC")
            assert sorted(table.column_names) == sorted(["Timestamp", *wanted])  # no .count
            assert (f["start_us"], f["end_us"], f["rows"]) == (
                part.start_us,
                part.end_us,
                part.rows,
            )
            source = pq.read_table(part.path, columns=table.column_names)
            assert table.equals(source.cast(table.schema))
            # the file:// twin holds the same bytes
            js = (built_site.out / f["js"]).read_text()
            m = re.fullmatch(r'duckpondPart\("([^"]+)","([A-Za-z0-9+/=]*)"\);\n', js)
            assert m and m.group(1) == f["url"]
            assert base64.b64decode(m.group(2)) == path.read_bytes()


def test_config_bounds_and_ranges(built_site: SiteFixture) -> None:
    cfg = page_config(built_site, "b01")
    hourly = built_site.data["b01"]["1h"].table.column("Timestamp")
    assert cfg["dataStartUs"] == hourly[0].value
    assert cfg["dataEndUs"] == hourly[-1].value + 3600 * 10**6
    assert [r["key"] for r in cfg["ranges"]] == ["1w", "1m", "3m", "1y", "all"]
    assert cfg["minPoints"] == MIN_POINTS
    assert cfg["charts"] == [
        {
            "title": "Water temperature",
            "unit": "°C",
            "series": [{"label": "Water temperature", "column": "B01.WaterTemperature.C"}],
        }
    ]


def test_index_cards(built_site: SiteFixture) -> None:
    html = (built_site.out / "index.html").read_text(encoding="utf-8")
    assert "Test network &lt;&amp;&gt; monitoring" in html  # autoescaped
    assert "<&>" not in html
    assert 'href="b01.html"' in html and 'href="jfk.html"' in html
    b01 = built_site.data["b01"]["1h"].table
    last = b01.slice(b01.num_rows - 1)
    value = last.column("B01.WaterTemperature.C.avg")[0].as_py()
    assert f'<span class="value">{format_value(value)}</span>' in html
    assert "2017-03-22 00:00 UTC" in html  # its time
    assert "2016-02-15 – 2017-03-22" in html  # span covered


def test_choose_resolution_rule() -> None:
    res = tuple(Resolution(n, s, ()) for n, s in (("1d", 86400), ("1h", 3600), ("6h", 21600)))
    hour = 3600 * 10**6
    assert choose_resolution(res, 0, 10 * hour).name == "1h"  # none has enough: finest
    assert choose_resolution(res, 0, MIN_POINTS * hour).name == "1h"
    assert choose_resolution(res, 0, MIN_POINTS * 6 * hour - 1).name == "1h"
    assert choose_resolution(res, 0, MIN_POINTS * 6 * hour).name == "6h"
    assert choose_resolution(res, 0, MIN_POINTS * 24 * hour).name == "1d"


def test_overlapping_parts_rule() -> None:
    hour = 3600 * 10**6
    parts = [PartFile(Path(f"p{i}"), i * 10 * hour, i * 10 * hour + 9 * hour, 10) for i in range(3)]
    # the last bucket of a part ends one resolution after its start
    assert overlapping_parts(parts, 3600, 10 * hour, 20 * hour) == [parts[1]]
    assert overlapping_parts(parts, 3600, 10 * hour - 1, 20 * hour + 1) == parts
    assert overlapping_parts(parts, 3600, 0, 100 * hour) == parts


def _part(path: Path, table: pa.Table) -> PartFile:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return PartFile(path, 0, 0, table.num_rows)


def _one_page(part: PartFile, slug: str = "p") -> SiteSpec:
    chart = ChartSpec("T", "°C", (SeriesRef("t", "a.T.C"), SeriesRef("u", "a.U.C")))
    return SiteSpec("s", (PageSpec(slug, "P", (chart,), (Resolution("1h", 3600, (part,)),)),))


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
    published = report.out_dir / "data/p/res=1h/year=1970/month=01/part.parquet"
    assert Path("data/p/res=1h/year=1970/month=01/part.parquet") in report.files
    assert report.bytes == sum((report.out_dir / f).stat().st_size for f in report.files)
    got = pq.read_table(published)
    assert got.column("Timestamp").to_pylist()[0].isoformat() == "1970-01-01T00:00:00+00:00"
    assert got.column("a.T.C.avg").to_pylist() == [1.0, 2.0, 3.0]
    assert got.column("a.T.C.min").type == pa.float64()
    assert got.column("a.T.C.max").to_pylist() == [1.5, None, 3.5]
    assert got.column("a.U.C.avg").null_count == 3  # absent from the part: nulls
    assert "other.avg" not in got.column_names  # not charted: not published


def test_rebuild_removes_stale_files(tmp_path: Path) -> None:
    t = pa.table({"Timestamp": pa.array([0], pa.timestamp("us", tz="UTC")), "a.T.C.avg": [1.0]})
    one = _part(tmp_path / "in" / "res=1h" / "year=1970" / "month=01" / "part.parquet", t)
    out = tmp_path / "out"
    render_site(_one_page(one, "first"), out)
    (out / "mine.txt").write_text("not the renderer's")
    render_site(_one_page(one, "second"), out)
    assert not (out / "first.html").exists()
    assert not (out / "data" / "first").exists()
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
    with pytest.raises(NotFound):
        render_site(_one_page(PartFile(tmp_path / "missing.parquet", 0, 0, 0)), tmp_path / "o3")
    bad = _part(tmp_path / "b.parquet", pa.table({"time": [1]}))
    with pytest.raises(InvalidData, match="Timestamp"):
        render_site(_one_page(bad), tmp_path / "o4")
    junk = tmp_path / "c.parquet"
    junk.write_bytes(b"not parquet")
    with pytest.raises(InvalidData):
        render_site(_one_page(PartFile(junk, 0, 0, 0)), tmp_path / "o5")


def test_format_value() -> None:
    assert format_value(None) == "–"
    assert format_value(float("nan")) == "–"
    assert format_value(4.316) == "4.32"
    assert format_value(1013.25) == "1013"
    assert format_value(123.45) == "123.5"
    assert format_value(0.001234) == "0.00123"
    assert format_value(0.0) == "0.00"


def test_part_names_are_url_safe(tmp_path: Path) -> None:
    t = pa.table({"Timestamp": pa.array([0], pa.timestamp("us", tz="UTC")), "a.T.C.avg": [1.0]})
    part = _part(tmp_path / "res=1h" / "site=Lake #1" / "part 100%?.parquet", t)
    report = render_site(_one_page(part), tmp_path / "out")
    assert Path("data/p/res=1h/site=Lake__1/part_100__.parquet") in report.files


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
        assert (vendor / f"{script.name.split('.')[0]}.LICENSE").is_file()


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
    cfg = json.loads(parse(tmp_path / "empty.html").config or "")
    assert (cfg["dataStartUs"], cfg["dataEndUs"]) == (0, 0)
    assert cfg["resolutions"] == [
        {"name": "1h", "seconds": 3600, "base": "data/empty/res=1h/", "files": []}
    ]
    twice = PageSpec("x", "X", (chart,), (Resolution("1h", 3600, ()), Resolution("1h", 60, ())))
    with pytest.raises(UsageError, match="same name"):
        render_site(SiteSpec("s", (twice,)), tmp_path)
