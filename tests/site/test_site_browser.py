"""The rendered site in a real headless Chromium, served over http and opened from disk."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from site_testlib import (
    READY,
    SPANS,
    US,
    VALUE_LINES_JS,
    Reduced,
    Server,
    SiteFixture,
    expected_view,
    page_config,
    screenshots,
    view_blocks,
    watch,
)

from duckpond.site import ChartSpec, PageSpec, Resolution, SeriesRef, SiteSpec, render_site
from duckpond.site.render import format_value

pytestmark = pytest.mark.browser

TILE_HOST = "https://tiles.duckpond.test/"
# a 1x1 PNG, served as every map tile when a test plays "online"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc000000301010018dd8db40000000049454e44ae426082"
)


def open_page(browser, url: str, *, tiles: str = "png", **context):
    """A new context and page at ``url``; nothing may leave the machine but map tiles, which are
    answered with a PNG (``tiles="png"``, as online) or refused (``"abort"``, as offline)."""
    context.setdefault("viewport", {"width": 1200, "height": 900})
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    w = watch(page)
    outside: list[str] = []

    def guard(route):
        u = route.request.url
        if u.startswith(TILE_HOST):
            if tiles == "png":
                route.fulfill(status=200, content_type="image/png", body=PNG)
            else:
                route.abort()
        elif u.startswith(("http://127.0.0.1:", "file://", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(u)
            route.abort()

    page.route("**/*", guard)
    page.goto(url)
    return ctx, page, w, outside


SETTLED = "window.duckpond.state.map !== 'loading'"


def plot_box(page, chart: int = 0) -> dict:
    """The chart's plot area, once the page's layout is final (the station map, loaded after the
    first chart, moves the charts down when it appears)."""
    page.wait_for_function(SETTLED)
    box = page.locator(".chart .u-over").nth(chart).bounding_box()
    assert box
    return box


def hover(page, x: float, y: float, *, chart: int = 0) -> None:
    """Move the mouse to (x, y) px inside the chart's plot area as a mouse does, in several events
    (uPlot takes the cursor from the moves after the pointer entered the chart)."""
    box = plot_box(page, chart)
    page.mouse.move(box["x"] + x - 3, box["y"] + y - 3)
    page.mouse.move(box["x"] + x, box["y"] + y, steps=3)
    # uPlot applies cursor moves in an animation frame: let two frames pass
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


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


def decimals_of(page, column: str) -> int:
    for chart in page.evaluate("window.duckpond.config.charts"):
        for s in chart["series"]:
            if s["column"] == column:
                return int(s["decimals"])
    raise AssertionError(column)


def visible(red: Reduced, start: int, end: int) -> pa.Table:
    """The reduced rows whose bucket overlaps [start, end]."""
    ts = red.table.column("Timestamp").cast("int64")
    mask = pc.and_(pc.greater(pc.add(ts, red.seconds * US), start), pc.less(ts, end))
    return red.table.filter(mask)


def test_index_page(browser, built_site: SiteFixture, site_server: Server) -> None:
    ctx, page, w, outside = open_page(browser, site_server.url + "/index.html")
    try:
        page.wait_for_function(READY)
        cards = page.locator("article.card")
        assert cards.count() == 2
        assert page.title() == "Test network <&> monitoring"
        # each series has its own latest value and time (JFK's pressure is not B01's time)
        jfk = page.locator("article.card[data-slug='jfk'] tbody tr")
        assert jfk.count() == 5
        red = built_site.data["jfk"]["1h"].table
        for i, (col, label) in enumerate(
            [
                ("JFK.AirTemperature.C", "Air"),
                ("JFK.DewPoint.C", "Dew point"),
                ("JFK.WindSpeed.m_s", "Speed"),
                ("JFK.WindGust.m_s", "Gust"),
                ("JFK.BarometricPressure.hPa", "Barometric pressure"),
            ]
        ):
            valid = red.filter(pc.is_valid(red.column(f"{col}.avg")))
            t = valid.column("Timestamp")[-1].as_py()
            row = jfk.nth(i)
            assert row.locator("th").inner_text().startswith(label)
            assert row.locator("time").get_attribute("datetime") == t.strftime("%Y-%m-%dT%H:%M:%SZ")
            number = row.locator(".number").inner_text()
            assert float(number) == pytest.approx(valid.column(f"{col}.avg")[-1].as_py(), abs=0.051)
        # the readings ended years ago: both cards warn, by the viewer's clock
        assert page.locator(".stale-warning:visible").count() == 2
        assert (
            "No new data for more than 2 days" in page.locator(".stale-warning").first.inner_text()
        )
        assert page.locator("footer .built").get_attribute("datetime") == "2023-11-14T22:13:20Z"
        assert page.locator("nav.site-nav a[href='about.html']").inner_text() == "About the network"
        page.locator("article.card[data-slug='b01'] h2 a").click()
        page.wait_for_function(READY)
        assert page.url.startswith(site_server.url + "/b01.html")
        w.assert_clean()
        assert outside == []
    finally:
        ctx.close()


@pytest.mark.parametrize("slug", ["b01", "jfk"])
def test_page_ranges_resolutions_blocks_and_values(
    browser, built_site: SiteFixture, site_server: Server, slug: str
) -> None:
    spec = next(p for p in built_site.spec.pages if p.slug == slug)
    data = built_site.data[slug]
    cfg = page_config(built_site.out / f"{slug}.html")
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
            res, start, end, urls = expected_view(cfg, key)
            state = page.evaluate("window.duckpond.state")
            assert state["resolution"] == res, key
            assert (state["startUs"], state["endUs"]) == (start, end), key
            requested = [p.lstrip("/") for p in site_server.paths_since(log_start) if "/data/" in p]
            if state["inline"]:
                # the first view's rows are in the page: no data request at all (for 1 year, and
                # for any view inside it at the same resolution)
                inline = expected_view(cfg, "1y")
                assert (
                    (res, inline[0]) == (inline[0], res) and inline[1] <= start and end <= inline[2]
                )
                assert state["loadedUrls"] == [] and requested == [], key
            else:
                assert set(state["loadedUrls"]) == urls, key
                # the server saw exactly the blocks not fetched before, each once, no .js twins
                assert all(p.endswith(".parquet") for p in requested), requested
                assert len(requested) == len(set(requested)), requested
                assert set(requested) == urls - fetched, key
                fetched |= urls
                # a view needs at most 3 data requests and 300 KB of data
                assert len(urls) <= 3, (key, urls)
                size = sum(
                    f["bytes"] for r in cfg["resolutions"] for f in r["files"] if f["url"] in urls
                )
                assert size == state["bytes"] <= 300 * 1024, key
            assert state["points"] > 0
            assert page.locator(".chart canvas").count() == len(spec.charts)
            for ci in range(len(spec.charts)):
                assert drawn_pixels(page, ci) > 1000, (key, ci)
            # valueAt for a bucket in the middle of the view equals the reduced value
            red = data[res]
            ts = visible(red, start, end).column("Timestamp").cast("int64")
            t = ts[len(ts) // 2].as_py()
            row = row_at(red, t)
            for ci, chart in enumerate(spec.charts):
                for si, s in enumerate(chart.series):
                    got = page.evaluate(f"window.duckpond.valueAt({ci}, {si}, {t} + 1)")
                    want = {st: row[f"{s.column}.{st}"] for st in ("avg", "min", "max", "count")}
                    assert got == {"time": t, **want}, (key, s.column)
        assert page.evaluate("window.duckpond.state.fetchedUrls.length") == len(fetched)
        w.assert_clean()
        assert outside == []
    finally:
        ctx.close()


def test_hover_readout_names_the_statistic_and_bucket(
    browser, built_site: SiteFixture, site_server: Server
) -> None:
    ctx, page, w, _ = open_page(browser, f"{site_server.url}/b01.html#range=3m")
    try:
        page.wait_for_function(READY)
        state = page.evaluate("window.duckpond.state")
        assert state["range"] == "3m" and state["resolution"] == "4h"
        box = plot_box(page)
        hover(page, box["width"] * 0.4, box["height"] / 2)
        text = page.locator(".chart .readout").inner_text()
        m = re.match(
            r"(\d{4}-\d\d-\d\d) (\d\d:\d\d)–(\d\d:\d\d) UTC, 4 h bucket\n"
            r"Water temperature: mean (\S+) °C, min (\S+), max (\S+) °C \((\d+) readings\)$",
            text,
        )
        assert m, text
        t = datetime.strptime(f"{m.group(1)} {m.group(2)}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        row = row_at(built_site.data["b01"]["4h"], int(t.timestamp()) * US)
        d = decimals_of(page, "B01.WaterTemperature.C")
        assert d == 3  # the buoy reports thousandths of a degree
        assert m.group(4) == format_value(row["B01.WaterTemperature.C.avg"], d)
        assert m.group(5) == format_value(row["B01.WaterTemperature.C.min"], d)
        assert m.group(6) == format_value(row["B01.WaterTemperature.C.max"], d)
        assert int(m.group(7)) == row["B01.WaterTemperature.C.count"] == 8
        assert page.evaluate("window.duckpond.plots[0].axes.map(a => a.label)") == [
            "Time (UTC)",
            "°C",
        ]
        # daily buckets say so
        page.click("button[data-range='all']")
        page.wait_for_function(
            "window.duckpond.state.range === 'all' && document.body.dataset.ready === '1'"
        )
        hover(page, box["width"] * 0.5, box["height"] / 2)
        text = page.locator(".chart .readout").inner_text()
        assert re.match(r"\d{4}-\d\d-\d\d \(UTC day\), 1 day bucket\n", text), text
        w.assert_clean()
    finally:
        ctx.close()


def test_hover_in_a_gap_says_no_data(browser, built_site: SiteFixture, site_server: Server) -> None:
    ctx, page, w, _ = open_page(browser, f"{site_server.url}/b01.html")
    try:
        page.wait_for_function(READY)
        # the buoy's 12 h hole of 2016-07-08, drawn hourly
        t0 = int(datetime(2016, 7, 7, tzinfo=UTC).timestamp()) * US
        page.evaluate(f"window.duckpond.setView({t0}, {t0 + 3 * 86400 * US})")
        page.wait_for_function("document.body.dataset.ready === '1'")
        assert page.evaluate("window.duckpond.state.resolution") == "1h"
        avg = page.evaluate("window.duckpond.plots[0].data[3]")
        assert len(avg) > 60 and avg.count(None) == 1  # a null breaks the line
        hours = built_site.data["b01"]["1h"].table.column("Timestamp").cast("int64").to_pylist()
        gap = max((b - a, a) for a, b in itertools.pairwise(hours) if t0 <= a < t0 + 3 * 86400 * US)
        assert gap[0] >= 6 * 3600 * US
        middle = gap[1] + gap[0] // 2
        x = page.evaluate(f"window.duckpond.plots[0].valToPos({middle / US}, 'x')")
        box = plot_box(page)
        hover(page, x, box["height"] / 2)
        text = page.locator(".chart .readout").inner_text()
        assert re.fullmatch(r"2016-07-08 \d\d:\d\d UTC: no data", text), text
        assert page.evaluate(f"window.duckpond.valueAt(0, 0, {middle})") is None
        w.assert_clean()
    finally:
        ctx.close()


def test_station_time_and_viewer_time_are_said(
    browser, built_site: SiteFixture, site_server: Server
) -> None:
    ctx, page, w, _ = open_page(
        browser, f"{site_server.url}/jfk.html#range=1m", timezone_id="Europe/Paris"
    )
    try:
        page.wait_for_function(READY)
        assert page.locator("button[data-tz='station']").inner_text() == (
            "Station time (America/New_York)"
        )
        assert page.locator("button[data-tz='viewer']").inner_text() == "Your time (Europe/Paris)"
        for tz, label, zone in (
            ("station", "Time (station: America/New_York)", r"E[SD]T"),
            ("viewer", "Time (yours: Europe/Paris)", r"UTC\+[12]"),
            ("utc", "Time (UTC)", "UTC"),
        ):
            page.click(f"button[data-tz='{tz}']")
            page.wait_for_function(f"window.duckpond.state.tz === '{tz}'")
            labels = page.evaluate("window.duckpond.plots[0].axes.map(a => a.label)")
            assert labels == [label, "°C"]
            page.mouse.move(0, 0)
            hover(page, 30, 20)
            head = page.locator(".chart .readout").first.inner_text().splitlines()[0]
            assert re.match(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d–\d\d:\d\d {zone}, 2 h bucket$", head), (
                head
            )
            assert f"tz={tz}" in page.url
        w.assert_clean()
    finally:
        ctx.close()


def test_zoom_and_share_link_restore_the_view(
    browser, built_site: SiteFixture, site_server: Server
) -> None:
    ctx, page, w, _ = open_page(browser, f"{site_server.url}/b01.html#range=1m")
    try:
        page.wait_for_function(READY)
        page.click("button[data-tz='station']")
        box = plot_box(page)
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
        link = page.url
        assert re.search(r"#from=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ&to=.*Z&tz=station$", link), link
        w.assert_clean()
    finally:
        ctx.close()
    # a reader opening the link sees the same view
    ctx, page, w, _ = open_page(browser, link)
    try:
        page.wait_for_function(READY)
        again = page.evaluate("window.duckpond.state")
        # the link keeps whole seconds
        assert again["range"] == "custom" and again["tz"] == "station"
        assert again["startUs"] == state["startUs"] // US * US
        assert again["endUs"] == state["endUs"] // US * US
        assert again["resolution"] == state["resolution"]
        assert page.locator("button[data-tz='station']").get_attribute("aria-pressed") == "true"
        # a range link too
        page.evaluate("location.hash = '#range=3m&tz=utc'")
        page.wait_for_function(
            "window.duckpond.state.range === '3m' && document.body.dataset.ready === '1'"
        )
        assert page.evaluate("window.duckpond.state.tz") == "utc"
        w.assert_clean()
    finally:
        ctx.close()


def test_table_of_values_equals_the_pond(
    browser, built_site: SiteFixture, site_server: Server
) -> None:
    ctx, page, w, _ = open_page(browser, f"{site_server.url}/jfk.html#range=3m")
    try:
        page.wait_for_function(READY)
        state = page.evaluate("window.duckpond.state")
        red = built_site.data["jfk"][state["resolution"]]
        rows = visible(red, state["startUs"], state["endUs"])
        con = duckdb.connect()
        con.register("v", rows)
        spec = next(p for p in built_site.spec.pages if p.slug == "jfk")
        # keyboard: the summary of the first chart's table is reachable and opens with Enter
        summary = page.locator(".chart").first.locator("details summary")
        summary.focus()
        page.keyboard.press("Enter")
        assert page.locator(".chart").first.locator("details").get_attribute("open") is not None
        for ci, chart in enumerate(spec.charts):
            table = page.locator(".chart").nth(ci).locator("details table")
            assert table.locator("thead th").all_text_contents() == [
                "Series",
                "Minimum",
                "Mean",
                "Maximum",
                "Latest",
                "Latest at",
            ]
            for si, s in enumerate(chart.series):
                c = s.column
                lo, mean, hi, n = con.execute(
                    f'SELECT min("{c}.min"), sum("{c}.avg" * "{c}.count") / sum("{c}.count"), '
                    f'max("{c}.max"), sum("{c}.count") FROM v WHERE "{c}.count" > 0'
                ).fetchall()[0]
                latest = con.execute(
                    f'SELECT "{c}.avg" FROM v WHERE "{c}.avg" IS NOT NULL '
                    'ORDER BY "Timestamp" DESC LIMIT 1'
                ).fetchall()[0][0]
                d = decimals_of(page, c)
                cells = table.locator("tbody tr").nth(si).locator("td").all_text_contents()
                unit = f" {chart.unit}"
                assert cells[:4] == [format_value(v, d) + unit for v in (lo, mean, hi, latest)], c
                assert n > 100
        w.assert_clean()
    finally:
        ctx.close()


def test_downloads_equal_the_pond_rows(
    browser, built_site: SiteFixture, site_server: Server, tmp_path: Path
) -> None:
    ctx, page, w, _ = open_page(
        browser, f"{site_server.url}/jfk.html#range=1m", accept_downloads=True
    )
    try:
        page.wait_for_function(READY)
        state = page.evaluate("window.duckpond.state")
        red = built_site.data["jfk"][state["resolution"]]
        want = visible(red, state["startUs"], state["endUs"])
        columns = [
            f"{c}.{s}"
            for c in ("JFK.WindSpeed.m_s", "JFK.WindGust.m_s")
            for s in ("avg", "min", "max", "count")
        ]
        want = want.select(["Timestamp", *columns])
        want = want.filter(
            pc.or_(
                pc.is_valid(want.column("JFK.WindSpeed.m_s.avg")),
                pc.is_valid(want.column("JFK.WindGust.m_s.avg")),
            )
        )
        wind = page.locator(".chart").nth(1)
        with page.expect_download() as info:
            wind.locator("button[data-download='csv']").click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        assert path.name.startswith("jfk-Wind-2h-") and path.suffix == ".csv"
        got = list(csv.reader(io.StringIO(path.read_text())))
        assert got[0] == ["Timestamp", *columns]
        assert len(got) - 1 == want.num_rows > 300
        for line, row in zip(got[1:], want.to_pylist(), strict=True):
            assert line[0] == row["Timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ")
            for name, text in zip(columns, line[1:], strict=True):
                v = row[name]
                if v is None:
                    assert text == ""
                elif name.endswith(".count"):
                    assert int(text) == v
                else:
                    assert float(text) == v  # every digit: the shortest text of the same double
        # count, sum, min and max of the file equal the pond's rows
        con = duckdb.connect()
        got_sum = con.execute(
            f'SELECT count(*), sum("JFK.WindSpeed.m_s.count"), min("JFK.WindGust.m_s.min"), '
            f"max(\"JFK.WindGust.m_s.max\") FROM read_csv('{path}')"
        ).fetchall()[0]
        con.register("w", want)
        assert (
            got_sum
            == con.execute(
                'SELECT count(*), sum("JFK.WindSpeed.m_s.count"), min("JFK.WindGust.m_s.min"), '
                'max("JFK.WindGust.m_s.max") FROM w'
            ).fetchall()[0]
        )
        # Parquet: the same rows, typed
        with page.expect_download() as info:
            wind.locator("button[data-download='parquet']").click()
        ppath = tmp_path / info.value.suggested_filename
        info.value.save_as(ppath)
        table = pq.read_table(ppath)
        assert table.schema.field("Timestamp").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("JFK.WindSpeed.m_s.count").type == pa.int64()
        assert table.equals(want.cast(table.schema))
        assert "saved as Parquet" in wind.locator(".download-note").inner_text()
        w.assert_clean()
    finally:
        ctx.close()


@pytest.mark.parametrize("slug", ["b01", "jfk"])
def test_opened_from_disk(browser, built_site: SiteFixture, slug: str) -> None:
    url = (built_site.out / f"{slug}.html").as_uri()
    cfg = page_config(built_site.out / f"{slug}.html")
    ctx, page, w, outside = open_page(browser, url)
    try:
        page.wait_for_function(READY)
        state = page.evaluate("window.duckpond.state")
        assert state["error"] is None and state["inline"]
        assert state["points"] > 0
        res, _, _, _ = expected_view(cfg, "1y")
        assert state["resolution"] == res
        for key in ("1m", "all"):
            page.click(f"button[data-range='{key}']")
            page.wait_for_function(
                f"window.duckpond.state.range === '{key}' && document.body.dataset.ready === '1'"
            )
            res, _, _, urls = expected_view(cfg, key)
            state = page.evaluate("window.duckpond.state")
            assert state["resolution"] == res
            assert set(state["loadedUrls"]) == (set() if state["inline"] else urls)
            for ci in range(page.locator(".chart").count()):
                assert drawn_pixels(page, ci) > 1000
        w.assert_clean()
        assert outside == []
    finally:
        ctx.close()


def test_dark_mode_is_legible(browser, built_site: SiteFixture, site_server: Server) -> None:
    ctx, page, w, _ = open_page(browser, f"{site_server.url}/jfk.html", color_scheme="dark")
    try:
        page.wait_for_function(READY)
        result = page.evaluate(
            """() => {
            function rgb(text) {
                const c = document.createElement('canvas').getContext('2d');
                c.fillStyle = text; c.fillRect(0, 0, 1, 1);
                return Array.from(c.getImageData(0, 0, 1, 1).data.slice(0, 3));
            }
            function lum(c) {
                const [r, g, b] = c.map(v => {
                    v /= 255;
                    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
                });
                return 0.2126 * r + 0.7152 * g + 0.0722 * b;
            }
            function ratio(a, b) {
                const x = lum(rgb(a)), y = lum(rgb(b));
                return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
            }
            const card = getComputedStyle(document.querySelector('.chart')).backgroundColor;
            const page = getComputedStyle(document.body).backgroundColor;
            const out = {};
            window.duckpond.plots.forEach((u, i) => u.axes.forEach((a, j) => {
                const s = typeof a.stroke === 'function' ? a.stroke(u, j) : a.stroke;
                out[`axis ${i}.${j}`] = ratio(s, card);
            }));
            for (const sel of ['.chart h2', '.chart .unit', '.readout', '.status', '.legend-item',
                               '.station dt', 'details.values summary', '.chart-tools button',
                               'button[data-range]', '.site-title', '.site-footer']) {
                const el = document.querySelector(sel);
                let bg = 'rgba(0, 0, 0, 0)', node = el;
                while (node && /rgba\\(0, 0, 0, 0\\)|transparent/.test(bg)) {
                    bg = getComputedStyle(node).backgroundColor; node = node.parentElement;
                }
                if (/rgba\\(0, 0, 0, 0\\)|transparent/.test(bg)) bg = page;
                out[sel] = ratio(getComputedStyle(el).color, bg);
            }
            return {dark: matchMedia('(prefers-color-scheme: dark)').matches, page, out};
        }"""
        )
        assert result["dark"] and result["page"] == "rgb(20, 23, 26)"
        low = {k: round(v, 2) for k, v in result["out"].items() if v < 4.5}
        assert low == {}, low
        assert len(result["out"]) == 3 * 2 + 11  # 3 charts of 2 axes, 11 kinds of text
        w.assert_clean()
    finally:
        ctx.close()


@pytest.mark.parametrize("slug", ["index", "b01", "jfk", "about"])
def test_phone_320px_layout(
    browser, built_site: SiteFixture, site_server: Server, slug: str
) -> None:
    ctx, page, w, _ = open_page(
        browser, f"{site_server.url}/{slug}.html", viewport={"width": 320, "height": 640}
    )
    try:
        page.wait_for_function(READY)
        if slug in ("b01", "jfk"):
            page.wait_for_function(SETTLED)  # with the station map drawn
            page.locator("details.values").first.evaluate("d => d.open = true")
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        assert page.evaluate("document.body.scrollWidth") <= 320
        # every control is on screen horizontally and big enough to tap
        for b in page.locator("button, a:not(.skip)").all():
            if not b.is_visible():
                continue
            box = b.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 320 + 0.5, b.inner_text()
        if slug == "jfk":
            for key in ("1w", "all"):
                page.click(f"button[data-range='{key}']")
                page.wait_for_function(
                    f"window.duckpond.state.range === '{key}'"
                    " && document.body.dataset.ready === '1'"
                )
                assert page.evaluate("document.documentElement.scrollWidth") <= 320
            width = page.evaluate("window.duckpond.plots[0].width")
            assert 200 <= width <= 300
        w.assert_clean()
    finally:
        ctx.close()


def test_phone_320px_index_keeps_each_number_with_its_unit(
    browser, built_site: SiteFixture, site_server: Server
) -> None:
    """At 320 px (and 360) an index card's value never breaks between number and unit
    ("1020.9" / "hPa"), and the page does not scroll sideways for it."""
    for width in (320, 360):
        ctx, page, w, _ = open_page(
            browser, f"{site_server.url}/index.html", viewport={"width": width, "height": 640}
        )
        try:
            page.wait_for_function(READY)
            rows = page.evaluate(VALUE_LINES_JS)
            assert len(rows) == 6 and {r[2] for r in rows} == {"°C", "m/s", "hPa"}
            split = [r[:3] for r in rows if not r[3]]
            assert split == [], (width, split)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            w.assert_clean()
        finally:
            ctx.close()


def test_station_map_when_online_and_text_when_offline(
    browser, built_site: SiteFixture, site_server: Server
) -> None:
    # online: the vendored Leaflet draws the tiles (answered here with a PNG)
    ctx, page, w, outside = open_page(browser, f"{site_server.url}/b01.html", tiles="png")
    try:
        page.wait_for_function(READY)
        page.wait_for_function("window.duckpond.state.map === 'shown'")
        assert page.locator(".station .map").is_visible()
        assert page.locator(".station .leaflet-tile-loaded").count() >= 1
        assert "43.1813° N, 70.4266° W" in page.locator(".station").inner_text()
        assert "leaflet" in " ".join(site_server.paths_since(0))
        w.assert_clean()
        assert outside == []
    finally:
        ctx.close()
    # tiles unreachable: the map is hidden, the position stays as text, nothing fails
    ctx, page, w, outside = open_page(browser, f"{site_server.url}/b01.html", tiles="abort")
    try:
        page.wait_for_function(READY)
        page.wait_for_function("window.duckpond.state.map === 'offline'")
        assert not page.locator(".station .map").is_visible()
        assert "43.1813° N, 70.4266° W" in page.locator(".station").inner_text()
        assert page.evaluate("window.duckpond.state.error") is None
        # the only failures are the tiles' (Chromium logs each failed load)
        assert w.failed and all(TILE_HOST in f for f in w.failed), w.failed
        assert all(e.startswith("Failed to load resource") for e in w.console_errors)
        assert len(w.console_errors) == len(w.failed)
    finally:
        ctx.close()
    # a viewer without a network, from disk: no map is even tried
    ctx = browser.new_context()
    try:
        ctx.set_offline(True)
        page = ctx.new_page()
        w = watch(page)
        page.goto((built_site.out / "b01.html").as_uri())
        page.wait_for_function(READY)
        assert page.evaluate("window.duckpond.state.map") == "offline"
        assert page.evaluate("window.duckpond.state.points") > 0
        w.assert_clean()
    finally:
        ctx.close()


def test_content_page_and_feed(browser, built_site: SiteFixture, site_server: Server) -> None:
    ctx, page, w, _ = open_page(browser, f"{site_server.url}/about.html")
    try:
        page.wait_for_load_state("load")
        assert page.title() == "About the network · Test network <&> monitoring"
        assert page.locator("article.content h1").inner_text() == "About"
        assert (
            page.locator(".site-header .site-title").inner_text() == "Test network <&> monitoring"
        )
        assert page.locator("footer .built").count() == 1
        w.assert_clean()
    finally:
        ctx.close()


@pytest.mark.slow
def test_screenshots_of_every_page(browser, built_site: SiteFixture, site_server: Server) -> None:
    """Desktop and phone screenshots, light and dark, of each page (test-artifacts/site/)."""
    saved = []
    for name in ("index", "b01", "jfk", "about"):
        saved += screenshots(browser, f"{site_server.url}/{name}.html", f"test-site-{name}")
    assert len(saved) == 16
    for path in saved:
        assert path.stat().st_size > 5000, path


def test_resolution_choices_cover_several_resolutions(built_site: SiteFixture) -> None:
    """The real data make the buttons exercise more than one resolution (guards the test)."""
    cfg = page_config(built_site.out / "b01.html")
    chosen = {expected_view(cfg, k)[0] for k in SPANS}
    assert chosen == {"1h", "2h", "4h", "24h"}
    assert view_blocks(cfg, cfg["dataStartUs"], cfg["dataEndUs"])[0] == "24h"


def test_page_without_data_says_so(browser, tmp_path: Path) -> None:
    chart = ChartSpec("T", "°C", (SeriesRef("t", "a.T.C"),))
    page_spec = PageSpec("empty", "Nothing yet", (chart,), (Resolution("1h", 3600, ()),))
    render_site(SiteSpec("s", (page_spec,)), tmp_path)
    ctx, page, w, _ = open_page(browser, (tmp_path / "empty.html").as_uri())
    try:
        page.wait_for_function(READY)
        assert page.locator(".status").inner_text() == "No data yet."
        assert page.locator("button[data-download='csv']").is_disabled()
        w.assert_clean()
    finally:
        ctx.close()


def _hourly_page(slug: str, end_us: int, hours: int = 48) -> PageSpec:
    ts = [end_us - (hours - i) * 3600 * US for i in range(hours)]
    values = [10.0 + i / 10 for i in range(hours)]
    table = pa.table(
        {
            "Timestamp": pa.array(ts, pa.timestamp("us", "UTC")),
            "S.T.C.avg": values,
            "S.T.C.min": values,
            "S.T.C.max": values,
            "S.T.C.count": pa.array([4] * hours, pa.int64()),
        }
    )
    chart = ChartSpec("Temperature", "°C", (SeriesRef("Temperature", "S.T.C"),))
    return PageSpec(slug, slug.title(), (chart,), (Resolution("1h", 3600, table=table),))


def test_freshness_warning_follows_the_configured_age(browser, tmp_path: Path) -> None:
    """A card warns when its newest reading is older than ``stale_after`` (6 h here), by the build
    time in the page and by the viewer's clock; a fresh card shows no warning."""
    now = 1_750_000_000 * US  # 2025-06-15T15:06:40Z
    spec = SiteSpec(
        "Freshness",
        (_hourly_page("fresh", now - 3600 * US), _hourly_page("silent", now - 86400 * US)),
        stale_after_s=6 * 3600,
        build_time_us=now,
    )
    render_site(spec, tmp_path)
    html = (tmp_path / "index.html").read_text()
    # at build time: the silent page is stale, the fresh one is not
    assert html.count('class="fresh is-stale"') == 1
    assert 'class="fresh"' in html
    for clock, stale in ((now + 3600 * US, ["silent"]), (now + 8 * 3600 * US, ["fresh", "silent"])):
        ctx = browser.new_context()
        try:
            page = ctx.new_page()
            w = watch(page)
            page.clock.set_fixed_time(datetime.fromtimestamp(clock / US, tz=UTC))
            page.goto((tmp_path / "index.html").as_uri())
            page.wait_for_function(READY)
            shown = [
                slug
                for slug in ("fresh", "silent")
                if page.locator(f"article.card[data-slug='{slug}'] .stale-warning").is_visible()
            ]
            assert shown == stale, (clock, shown)
            warning = page.locator(".stale-warning:visible").first.inner_text()
            assert warning == "No new data for more than 6 h"
            fresh = page.locator("article.card[data-slug='fresh'] .fresh time")
            assert fresh.get_attribute("datetime") == _iso(now - 3600 * US)  # its newest bucket end
            assert page.locator("footer time.built").get_attribute("datetime") == _iso(now)
            w.assert_clean()
        finally:
            ctx.close()
    # the build time is on every page
    for name in ("index", "fresh", "silent"):
        assert (
            f'<time class="built" datetime="{_iso(now)}">'
            in (tmp_path / f"{name}.html").read_text()
        ), name


def test_chart_page_warns_when_its_series_are_stale(browser, tmp_path: Path) -> None:
    """Each chart page says when its own series were last updated and warns, like its index
    card, when that is older than ``stale_after`` (6 h here): in the built page and again by the
    viewer's clock. A fresh page shows no warning; the charts are drawn either way."""
    now = 1_750_000_000 * US
    spec = SiteSpec(
        "Freshness",
        (_hourly_page("fresh", now - 3600 * US), _hourly_page("silent", now - 86400 * US)),
        stale_after_s=6 * 3600,
        build_time_us=now,
    )
    render_site(spec, tmp_path)
    newest = {"fresh": now - 3600 * US, "silent": now - 86400 * US}
    for slug, stale in (("fresh", False), ("silent", True)):  # as built
        html = (tmp_path / f"{slug}.html").read_text()
        assert ('class="fresh is-stale"' in html) == stale, slug
    by_clock: tuple[tuple[int, list[str]], ...] = (
        (now + 3600 * US, ["silent"]),
        (now + 8 * 3600 * US, ["fresh", "silent"]),
    )
    for clock, stale_slugs in by_clock:
        for slug in ("fresh", "silent"):
            ctx = browser.new_context()
            try:
                page = ctx.new_page()
                w = watch(page)
                page.clock.set_fixed_time(datetime.fromtimestamp(clock / US, tz=UTC))
                page.goto((tmp_path / f"{slug}.html").as_uri())
                page.wait_for_function(READY)
                assert page.evaluate("window.duckpond.state.error") is None
                line = page.locator("main > p.fresh")
                assert line.locator("time").get_attribute("datetime") == _iso(newest[slug])
                warning = line.locator(".stale-warning")
                assert warning.is_visible() == (slug in stale_slugs), (clock, slug)
                if slug in stale_slugs:
                    assert warning.inner_text() == "No new data for more than 6 h"
                    assert "is-stale" in (line.get_attribute("class") or "")
                else:
                    assert "is-stale" not in (line.get_attribute("class") or "")
                w.assert_clean()
            finally:
                ctx.close()


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


CONTRAST_JS = """() => {
    function parse(text) {  // any CSS colour -> [r, g, b, alpha]
        const probe = document.createElement('span');
        probe.style.color = text; document.body.appendChild(probe);
        const v = getComputedStyle(probe).color.match(/[\\d.]+/g).map(Number);
        probe.remove();
        return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
    }
    function over(top, under) {  // top (with alpha) over an opaque colour
        const a = top[3];
        return [0, 1, 2].map(k => top[k] * a + under[k] * (1 - a)).concat([1]);
    }
    function background(el) {
        const layers = [];
        for (let n = el; n; n = n.parentElement) {
            const c = parse(getComputedStyle(n).backgroundColor);
            if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
        }
        let bg = [255, 255, 255, 1];
        if (!layers.length || layers[layers.length - 1][3] < 1) {
            bg = parse(getComputedStyle(document.documentElement).backgroundColor);
            if (bg[3] < 1) bg = matchMedia('(prefers-color-scheme: dark)').matches
                ? [0, 0, 0, 1] : [255, 255, 255, 1];
        }
        for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
        return bg;
    }
    function lum(c) {
        const [r, g, b] = c.slice(0, 3).map(v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    }
    function ratio(fg, bg) {
        const x = lum(over(fg, bg)), y = lum(bg);
        return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
    }
    const low = [];
    let checked = 0;
    for (const el of document.querySelectorAll('body *')) {
        if (!el.checkVisibility || !el.checkVisibility()) continue;
        const own = Array.from(el.childNodes).some(
            n => n.nodeType === 3 && n.textContent.trim() !== '');
        if (!own) continue;
        checked++;
        const r = ratio(parse(getComputedStyle(el).color), background(el));
        if (r < 4.5) low.push([el.tagName + '.' + el.className, el.textContent.trim().slice(0, 40),
                               Math.round(r * 100) / 100]);
    }
    // the charts' axis text, drawn on a canvas
    (window.duckpond ? window.duckpond.plots : []).forEach((u, i) => u.axes.forEach((a, j) => {
        const s = typeof a.stroke === 'function' ? a.stroke(u, j) : a.stroke;
        checked++;
        const r = ratio(parse(s), background(u.root));
        if (r < 4.5) low.push(['axis ' + i + '.' + j, '', Math.round(r * 100) / 100]);
    }));
    return {checked, low};
}"""


@pytest.mark.parametrize("scheme", ["dark", "light"])
@pytest.mark.parametrize("slug", ["index", "b01", "jfk", "about"])
def test_every_text_has_contrast(
    browser, built_site: SiteFixture, site_server: Server, slug: str, scheme: str
) -> None:
    """Every visible text of the page, and the charts' axes, against the background it is drawn
    on: at least 4.5:1 (WCAG AA), in dark and light mode."""
    ctx, page, w, _ = open_page(browser, f"{site_server.url}/{slug}.html", color_scheme=scheme)
    try:
        page.wait_for_function(READY)
        if slug in ("b01", "jfk"):
            page.wait_for_function(SETTLED)
            page.locator("details.values").first.evaluate("d => d.open = true")
            hover(page, 100, 50)
        result = page.evaluate(CONTRAST_JS)
        assert result["low"] == [], result["low"]
        assert result["checked"] > 8
        w.assert_clean()
    finally:
        ctx.close()
