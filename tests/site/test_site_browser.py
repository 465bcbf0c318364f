"""The rendered site in a real headless Chromium, served over http and opened from disk."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest
from site_testlib import RESOLUTIONS, Reduced, Server, SiteFixture, watch

from duckpond.site import ChartSpec, PageSpec, Resolution, SeriesRef, SiteSpec, render_site
from duckpond.site.render import format_value

pytestmark = pytest.mark.browser

MIN_POINTS = 300  # the rule, restated here rather than imported: the test checks the frontend
SPANS = {"1w": 7 * 86400, "1m": 30 * 86400, "3m": 91 * 86400, "1y": 365 * 86400, "all": None}
US = 1_000_000
READY = "document.body.dataset.ready === '1' || document.body.dataset.ready === 'error'"


def expected_view(data: dict[str, Reduced], slug: str, key: str) -> tuple[str, int, int, set[str]]:
    """Resolution, visible range and part URLs the page must use for range ``key``."""
    finest = min(data.values(), key=lambda r: r.seconds)
    ts = finest.table.column("Timestamp")
    end = ts[-1].value + finest.seconds * US
    start = ts[0].value
    if SPANS[key] is not None:
        start = max(start, end - SPANS[key] * US)
    chosen = finest
    for red in sorted(data.values(), key=lambda r: -r.seconds):
        if end - start >= MIN_POINTS * red.seconds * US:
            chosen = red
            break
    urls = set()
    for part in chosen.parts:
        if part.start_us < end and part.end_us + chosen.seconds * US > start:
            tail = "/".join(Path(part.path).parts[-3:])
            urls.add(f"data/{slug}/res={chosen.name}/{tail}")
    return chosen.name, start, end, urls


def open_page(browser, url: str, **context):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, **context)
    page = ctx.new_page()
    w = watch(page)
    # nothing may leave the machine: no CDN, no fonts, no analytics
    outside: list[str] = []

    def guard(route):
        u = route.request.url
        if u.startswith(("http://127.0.0.1:", "file://", "data:")):
            route.continue_()
        else:
            outside.append(u)
            route.abort()

    page.route("**/*", guard)
    page.goto(url)
    return ctx, page, w, outside


def drawn_pixels(page, index: int) -> int:
    return page.evaluate(
        """i => {
            const c = document.querySelectorAll('.chart')[i].querySelector('canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let k = 3; k < d.length; k += 4) if (d[k] > 0) n++;
            return n;
        }""",
        index,
    )


def row_at(red: Reduced, time_us: int) -> dict:
    mask = pc.equal(red.table.column("Timestamp").cast("int64"), time_us)
    rows = red.table.filter(mask).to_pylist()
    assert len(rows) == 1
    return rows[0]


def test_index_page(browser, built_site: SiteFixture, site_server: Server) -> None:
    ctx, page, w, outside = open_page(browser, site_server.url + "/index.html")
    try:
        page.wait_for_load_state("load")
        cards = page.locator("a.card")
        assert cards.count() == 2
        assert page.title() == "Test network <&> monitoring"
        cards.nth(0).click()
        page.wait_for_function(READY)
        assert page.url.startswith(site_server.url + "/b01.html")
        w.assert_clean()
        assert outside == []
    finally:
        ctx.close()


@pytest.mark.parametrize("slug", ["b01", "jfk"])
def test_page_ranges_resolutions_partitions_and_values(
    browser, built_site: SiteFixture, site_server: Server, slug: str
) -> None:
    spec = next(p for p in built_site.spec.pages if p.slug == slug)
    data = built_site.data[slug]
    log_start = len(site_server.log)
    ctx, page, w, outside = open_page(browser, f"{site_server.url}/{slug}.html")
    try:
        page.wait_for_function(READY)
        fetched: set[str] = set()
        # the default view, then every button (1 week first so that caching is exercised too)
        for key in ["default", "1w", "1m", "3m", "1y", "all", "1w"]:
            if key == "default":
                key = page.evaluate("window.duckpond.state.range")
                assert key == "1y"
            else:
                n = len(site_server.log)
                page.click(f"button[data-range='{key}']")
                page.wait_for_function(
                    f"window.duckpond.state.range === '{key}'"
                    " && document.body.dataset.ready === '1'"
                )
                log_start = n
            res, start, end, urls = expected_view(data, slug, key)
            state = page.evaluate("window.duckpond.state")
            assert state["resolution"] == res, key
            assert (state["startUs"], state["endUs"]) == (start, end), key
            assert set(state["loadedUrls"]) == urls, key
            # the server saw exactly the parts not fetched before, each once, and no .js twins
            requested = [p.lstrip("/") for p in site_server.paths_since(log_start) if "/data/" in p]
            assert all(p.endswith(".parquet") for p in requested), requested
            assert len(requested) == len(set(requested)), requested
            assert set(requested) == urls - fetched, key
            fetched |= urls
            # every chart drawn with data
            assert state["points"] > 0
            assert page.locator(".chart canvas").count() == len(spec.charts)
            for ci in range(len(spec.charts)):
                assert drawn_pixels(page, ci) > 1000, (key, ci)
            # valueAt for a bucket in the middle of the view equals the Parquet value
            red = data[res]
            ts = red.table.column("Timestamp").cast("int64")
            inside = pc.filter(ts, pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)))
            t = inside[len(inside) // 2].as_py()
            row = row_at(red, t)
            for ci, chart in enumerate(spec.charts):
                for si, s in enumerate(chart.series):
                    got = page.evaluate(f"window.duckpond.valueAt({ci}, {si}, {t} + 1)")
                    want = {st: row[f"{s.column}.{st}"] for st in ("avg", "min", "max")}
                    assert got == {"time": t, **want}, (key, s.column)
        w.assert_clean()
        assert outside == []
    finally:
        ctx.close()


def test_hover_readout_shows_the_value_of_the_bucket(
    browser, built_site: SiteFixture, site_server: Server
) -> None:
    ctx, page, w, _ = open_page(browser, f"{site_server.url}/b01.html#3m")
    try:
        page.wait_for_function(READY)
        state = page.evaluate("window.duckpond.state")
        assert state["range"] == "3m"
        box = page.locator(".chart .u-over").bounding_box()
        assert box
        page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2)
        text = page.locator(".chart .readout").inner_text()
        m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC · Water temperature: (\S+) °C", text)
        assert m, text
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        row = row_at(built_site.data["b01"][state["resolution"]], int(t.timestamp()) * US)
        assert m.group(2) == format_value(row["B01.WaterTemperature.C.avg"])
        assert f"min {format_value(row['B01.WaterTemperature.C.min'])}" in text
        assert page.evaluate("window.duckpond.plots[0].axes.map(a => a.label)") == [
            "Time (UTC)",
            "°C",
        ]
        w.assert_clean()
    finally:
        ctx.close()


def test_local_time_toggle_and_drag_zoom(
    browser, built_site: SiteFixture, site_server: Server
) -> None:
    ctx, page, w, _ = open_page(
        browser, f"{site_server.url}/b01.html#1m", timezone_id="America/New_York"
    )
    try:
        page.wait_for_function(READY)
        page.click("button[data-tz='local']")
        page.wait_for_function("window.duckpond.state.tz === 'local'")
        labels = page.evaluate("window.duckpond.plots[0].axes.map(a => a.label)")
        assert labels == ["Time (local, America/New_York)", "°C"]
        box = page.locator(".chart .u-over").bounding_box()
        assert box
        page.mouse.move(box["x"] + 10, box["y"] + 20)
        # New York time of the hovered bucket (EST or EDT)
        assert re.search(r"UTC-0[45]:00 · ", page.locator(".chart .readout").inner_text())
        page.screenshot(path="/tmp/duckpond-site-b01-local.png")
        # drag-select a few days: a custom range at a finer resolution
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.5, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
        page.mouse.up()
        page.wait_for_function(
            "window.duckpond.state.range === 'custom' && document.body.dataset.ready === '1'"
        )
        state = page.evaluate("window.duckpond.state")
        assert state["resolution"] == "1h"  # ~3 days: no resolution has 300 buckets
        assert state["points"] > 0
        # the 12 h hole of 2016-07-08 breaks the line (a null, not a straight segment)
        t0 = int(datetime(2016, 7, 7, tzinfo=UTC).timestamp()) * US
        page.evaluate(f"window.duckpond.setView({t0}, {t0 + 3 * 86400 * US})")
        page.wait_for_function("document.body.dataset.ready === '1'")
        avg = page.evaluate("window.duckpond.plots[0].data[3]")
        assert len(avg) > 60 and avg.count(None) == 1
        w.assert_clean()
    finally:
        ctx.close()


@pytest.mark.parametrize("slug", ["b01", "jfk"])
def test_opened_from_disk(browser, built_site: SiteFixture, slug: str) -> None:
    url = (built_site.out / f"{slug}.html").as_uri()
    ctx, page, w, outside = open_page(browser, url)
    try:
        page.wait_for_function(READY)
        state = page.evaluate("window.duckpond.state")
        assert state["error"] is None
        assert state["points"] > 0
        res, _, _, urls = expected_view(built_site.data[slug], slug, "1y")
        assert state["resolution"] == res and set(state["loadedUrls"]) == urls
        page.click("button[data-range='1m']")
        page.wait_for_function(
            "window.duckpond.state.range === '1m' && document.body.dataset.ready === '1'"
        )
        res, _, _, urls = expected_view(built_site.data[slug], slug, "1m")
        state = page.evaluate("window.duckpond.state")
        assert state["resolution"] == res and set(state["loadedUrls"]) == urls
        for ci in range(page.locator(".chart").count()):
            assert drawn_pixels(page, ci) > 1000
        if slug == "b01":
            page.screenshot(path="/tmp/duckpond-site-b01-file.png", full_page=True)
        w.assert_clean()
        assert outside == []
    finally:
        ctx.close()


def test_resolution_choices_cover_several_resolutions(built_site: SiteFixture) -> None:
    """The real data make the buttons exercise more than one resolution (guards the test)."""
    chosen = {expected_view(built_site.data["b01"], "b01", k)[0] for k in SPANS}
    assert chosen == {"1h", "2h", "4h", "24h"}
    assert set(RESOLUTIONS) >= chosen


def test_page_without_data_says_so(browser, tmp_path: Path) -> None:
    chart = ChartSpec("T", "°C", (SeriesRef("t", "a.T.C"),))
    page_spec = PageSpec("empty", "Nothing yet", (chart,), (Resolution("1h", 3600, ()),))
    render_site(SiteSpec("s", (page_spec,)), tmp_path)
    ctx, page, w, _ = open_page(browser, (tmp_path / "empty.html").as_uri())
    try:
        page.wait_for_function(READY)
        assert page.locator(".status").inner_text() == "No data yet."
        w.assert_clean()
    finally:
        ctx.close()
