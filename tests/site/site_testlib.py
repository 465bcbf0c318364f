"""Helpers for the website tests: reduced real data, a rendered site, a local server, Chromium.

The fixtures using them are in conftest.py; test modules import from here (a unique module name,
unlike ``conftest``, which several test folders have).

The data are the bundled real readings (data/*.csv), reduced here with DuckDB the way the pond's
temporal-reduce factory does it (epoch-aligned buckets labelled by their start; avg/min/max/count)
and written as Hive month partitions, like ``pond export --temporal year,month``.

Screenshots go to ``test-artifacts/site/`` at the top of the repository (git-ignored; CI keeps
them as artifacts): :func:`screenshots` takes one per page at desktop and phone size.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from duckpond.site import (
    ChartSpec,
    ContentPage,
    PageSpec,
    PartFile,
    Resolution,
    SeriesRef,
    SiteSpec,
    Station,
    render_site,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESOLUTIONS = {"1h": 3600, "2h": 7200, "4h": 14400, "12h": 43200, "24h": 86400}
US = 1_000_000
# the rule, restated here rather than imported: the tests check the frontend against it
MIN_POINTS = 300
SPANS = {"1w": 7 * 86400, "1m": 30 * 86400, "3m": 91 * 86400, "1y": 365 * 86400, "all": None}
ARTIFACTS = REPO / "test-artifacts" / "site"
#: map tiles of the test sites: a host that does not exist; tests route it (or let it fail)
TILES = "https://tiles.duckpond.test/{z}/{x}/{y}.png"
BUILD_TIME_US = 1_700_000_000 * US  # 2023-11-14T22:13:20Z
READY = "document.body.dataset.ready === '1' || document.body.dataset.ready === 'error'"


@dataclass
class Reduced:
    """One resolution of one page: its parts and the whole reduced table (to check values)."""

    name: str
    seconds: int
    table: pa.Table
    parts: list[PartFile]


def reduce_csv(csv: Path, prefix: str, out: Path) -> dict[str, Reduced]:
    """Reduce every value column of ``csv`` at each of RESOLUTIONS into Hive month parts."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'").fetchall()
        rel = con.read_csv(str(csv), timestamp_format="%Y-%m-%dT%H:%M:%SZ")
        names = [c for c in rel.columns if c != "Timestamp"]
        con.register("raw", rel)
        result: dict[str, Reduced] = {}
        for res, seconds in RESOLUTIONS.items():
            width = seconds * 1_000_000
            aggs = ", ".join(
                f'{fn}("{c}")::{typ} AS "{prefix}.{c}.{stat}"'
                for c in names
                for fn, typ, stat in (
                    ("avg", "DOUBLE", "avg"),
                    ("min", "DOUBLE", "min"),
                    ("max", "DOUBLE", "max"),
                    ("count", "BIGINT", "count"),
                )
            )
            rel = con.sql(
                f"""SELECT (epoch_us("Timestamp") // {width}) * {width} AS b, {aggs}
                    FROM raw GROUP BY b ORDER BY b"""
            )
            # duckdb >= 1.4 names it to_arrow_table; older releases arrow
            fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
            table = fetch()
            ts = table.column("b").cast(pa.timestamp("us", tz="UTC"))
            table = table.drop_columns(["b"])
            table = table.add_column(0, pa.field("Timestamp", ts.type, nullable=False), ts)
            parts: list[PartFile] = []
            years = pa.compute.year(ts)
            months = pa.compute.month(ts)
            keys = sorted(
                {(y, m) for y, m in zip(years.to_pylist(), months.to_pylist(), strict=True)}
            )
            for y, m in keys:
                mask = pa.compute.and_(pa.compute.equal(years, y), pa.compute.equal(months, m))
                chunk = table.filter(mask)
                path = out / f"res={res}" / f"year={y}" / f"month={m:02d}" / "part.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(chunk, path)  # pyarrow defaults, as an export would write
                tcol = chunk.column("Timestamp")
                parts.append(PartFile(path, tcol[0].value, tcol[-1].value, chunk.num_rows))
            result[res] = Reduced(res, seconds, table, parts)
        return result
    finally:
        con.close()


def resolutions_of(reduced: dict[str, Reduced]) -> tuple[Resolution, ...]:
    return tuple(Resolution(r.name, r.seconds, tuple(r.parts)) for r in reduced.values())


@dataclass
class SiteFixture:
    out: Path
    spec: SiteSpec
    data: dict[str, dict[str, Reduced]]  # page slug -> resolution name -> reduced data


def build_site(root: Path) -> SiteFixture:
    """Reduce the bundled CSVs under ``root`` and render the test site into ``root/out``."""
    b01 = reduce_csv(
        DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv",
        "B01",
        root / "export" / "b01",
    )
    jfk = reduce_csv(
        DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv",
        "JFK",
        root / "export" / "jfk",
    )
    spec = SiteSpec(
        title="Test network <&> monitoring",
        timezone="America/New_York",
        build_time_us=BUILD_TIME_US,
        map_tiles=TILES,
        content=(
            ContentPage(
                "about", "About the network", "<h1>About</h1><p>Two stations.</p>", order=1
            ),
        ),
        pages=(
            PageSpec(
                slug="b01",
                title="Buoy B01",
                description="Gulf of Maine, near-surface water temperature",
                charts=(
                    ChartSpec(
                        "Water temperature",
                        "°C",
                        (SeriesRef("Water temperature", "B01.WaterTemperature.C"),),
                    ),
                ),
                resolutions=resolutions_of(b01),
                station=Station("B01", 43.1813, -70.4266, "NERACOOS buoy B01, western Maine shelf"),
            ),
            PageSpec(
                slug="jfk",
                title="JFK airport weather",
                charts=(
                    ChartSpec(
                        "Temperature",
                        "°C",
                        (
                            SeriesRef("Air", "JFK.AirTemperature.C"),
                            SeriesRef("Dew point", "JFK.DewPoint.C"),
                        ),
                    ),
                    ChartSpec(
                        "Wind",
                        "m/s",
                        (
                            SeriesRef("Speed", "JFK.WindSpeed.m_s"),
                            SeriesRef("Gust", "JFK.WindGust.m_s"),
                        ),
                    ),
                    ChartSpec(
                        "Pressure",
                        "hPa",
                        (SeriesRef("Barometric pressure", "JFK.BarometricPressure.hPa"),),
                    ),
                ),
                resolutions=resolutions_of(jfk),
                station=Station("KJFK", 40.6398, -73.7789, "JFK airport ASOS", "America/New_York"),
            ),
        ),
    )
    out = root / "out"
    render_site(spec, out)
    return SiteFixture(out, spec, {"b01": b01, "jfk": jfk})


def page_config(html: Path) -> dict:
    """The page's JSON config, with the block rows expanded to dicts as app.js does."""
    import json
    import re

    text = html.read_text(encoding="utf-8")
    found = re.search(
        r'<script type="application/json" id="duckpond-config">(.*?)</script>', text, re.S
    )
    assert found, html
    cfg = json.loads(found.group(1))
    for res in cfg["resolutions"]:
        res["files"] = [
            {
                "url": res["base"] + row[0],
                "start_us": row[1],
                "end_us": row[2],
                "rows": row[3],
                "bytes": row[4],
            }
            for row in res["files"]
        ]
    return cfg


def expected_view(cfg: dict, key: str) -> tuple[str, int, int, set[str]]:
    """Resolution, visible range and block URLs of range button ``key``, by the documented rule
    (restated here, not imported: the tests check the frontend)."""
    end = cfg["dataEndUs"]
    start = cfg["dataStartUs"]
    span = SPANS[key]
    if span is not None:
        start = max(start, end - span * US)
    res, urls = view_blocks(cfg, start, end)
    return res, start, end, urls


def view_blocks(cfg: dict, start: int, end: int) -> tuple[str, set[str]]:
    """The resolution of ``[start, end]`` (coarsest with MIN_POINTS buckets, else the finest) and
    the URLs of its blocks whose ``[start_us, end_us + width)`` overlaps the range."""
    ordered = sorted(cfg["resolutions"], key=lambda r: r["seconds"])
    chosen = ordered[0]
    for res in reversed(ordered):
        if end - start >= MIN_POINTS * res["seconds"] * US:
            chosen = res
            break
    width = chosen["seconds"] * US
    urls = {
        f["url"] for f in chosen["files"] if f["start_us"] < end and f["end_us"] + width > start
    }
    return chosen["name"], urls


def screenshots(browser, url: str, name: str, *, wait: str = READY, **context) -> list[Path]:
    """Screenshots of ``url`` at desktop (1200 px) and phone (320 px) width, light and dark,
    saved as ``test-artifacts/site/<name>-<width>-<scheme>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for width, height in ((1200, 900), (320, 640)):
        for scheme in ("light", "dark"):
            ctx = browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=scheme, **context
            )
            try:
                page = ctx.new_page()
                page.route("https://tiles.duckpond.test/**", lambda route: route.abort())
                page.goto(url)
                page.wait_for_function(wait)
                path = ARTIFACTS / f"{name}-{width}-{scheme}.png"
                page.screenshot(path=str(path), full_page=True)
                saved.append(path)
            finally:
                ctx.close()
    return saved


class _Handler(SimpleHTTPRequestHandler):
    log: list[tuple[str, int]]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code.value if hasattr(code, "value") else code
        self.server.log.append((self.path, int(status)))  # type: ignore[attr-defined]


@dataclass
class Server:
    url: str
    log: list[tuple[str, int]]

    def paths_since(self, n: int) -> list[str]:
        return [p.split("?")[0] for p, _ in self.log[n:]]


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[Server]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread, logging each request."""

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(directory), **kwargs)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.log = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", httpd.log)  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def chromium_or_skip() -> str:
    """Path of Chromium; if missing, skip the test, or fail it when CI=true."""
    found = CHROMIUM if CHROMIUM.exists() else None
    if found is None and shutil.which("chromium"):
        found = Path(shutil.which("chromium") or "")
    if found is None:
        msg = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " and CI=true: browser tests must run")
        pytest.skip(msg)
    return str(found)


@dataclass
class PageWatch:
    """Everything that went wrong while a page was open."""

    console_errors: list[str]
    failed: list[str]

    def assert_clean(self) -> None:
        assert self.console_errors == [], self.console_errors
        assert self.failed == [], self.failed


def watch(page) -> PageWatch:
    w = PageWatch([], [])
    page.on(
        "console",
        lambda m: w.console_errors.append(m.text) if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: w.console_errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: w.failed.append(f"{r.url}: {r.failure}"))
    page.on(
        "response",
        lambda r: w.failed.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None,
    )
    return w


#: [series label, number, unit, whether the unit starts on the number's line] of each index row
VALUE_LINES_JS = """() => [...document.querySelectorAll('table.latest tbody tr')].map(tr => {
    const num = tr.querySelector('td.value .number'), unit = tr.querySelector('td.value .unit');
    if (!unit) return [tr.querySelector('th').innerText, num.innerText, '', true];
    const a = num.getBoundingClientRect(), b = unit.getClientRects()[0];
    return [tr.querySelector('th').innerText, num.innerText, unit.innerText,
            b.top < a.bottom && b.bottom > a.top && b.left >= a.right];
})"""
