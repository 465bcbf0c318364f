"""Website benchmark: requests and bytes per view, and the first chart on a phone network.

Two sites, each rendered here and served by a local ThreadingHTTPServer on 127.0.0.1:

- **10-year**: a synthetic 10-year, 1-minute water-temperature-like series (~5.3 M readings)
  reduced with DuckDB at 1h 6h 1d 1w (epoch-aligned buckets labelled by start; avg, min, max,
  count), rendered with ``duckpond.site.render_site``;
- **example**: the example pipeline (examples/pipeline.yaml over the bundled data/, a pond in a
  temporary folder) and examples/site.yaml, built by ``pond run /site build`` (the HydroVu
  locations table the site's stations read is written as collecting would write it).

For every page it reports, in headless Chromium (/usr/bin/chromium):

1. **Views**: for the first view, each range button and zooms spread over the data, the data
   requests the view needs (blocks) and their bytes. Targets: <= 3 requests, <= 300 KB.
2. **First chart on Fast 3G**: DevTools network throttling (``Network.emulateNetworkConditions``:
   562.5 ms latency, 1.44 Mbit/s down, 675 kbit/s up, Chrome's "Fast 3G"), a new browser context
   per run (cold cache), ``performance.now()`` when the page drew its first chart; median of
   ``--runs``. Target <= 1.5 s. Measured twice: with the server gzip-compressing HTML, JavaScript,
   CSS, JSON, XML and Markdown (``Content-Encoding: gzip``, as static hosts such as GitHub Pages,
   Netlify or nginx with ``gzip on`` do) and Parquet sent as is (it is SNAPPY-compressed); and with
   nothing compressed (Python's http.server).
   Baseline, same run and throttling: the page's HTML alone arriving (``responseEnd`` of the
   navigation, JavaScript off), the floor the network sets; the ratio says what the page adds.

Run: ``.venv/bin/python benchmarks/bench_site.py [--runs N] [--keep DIR] [--only 10y|example]``.
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report

from duckpond.site import ChartSpec, PageSpec, Resolution, SeriesRef, SiteSpec, render_site

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAST_3G = {
    "offline": False,
    "latency": 562.5,
    "downloadThroughput": 1.6 * 1000 * 1000 / 8 * 0.9,  # 180,000 B/s = 1.44 Mbit/s
    "uploadThroughput": 750 * 1000 / 8 * 0.9,
}
RESOLUTIONS = {"1h": 3600, "6h": 6 * 3600, "1d": 86400, "1w": 7 * 86400}
COLUMN = "Synthetic.WaterTemperature.C"
TARGET_REQUESTS = 3
TARGET_BYTES = 300 * 1024
TARGET_SECONDS = 1.5
TEXT = {".html", ".js", ".css", ".json", ".xml", ".md", ".svg", ".txt"}
US = 1_000_000


def build_10y(root: Path) -> tuple[Path, int, float]:
    """Generate, reduce and render the 10-year series; return the site, raw rows, seconds."""
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'").fetchall()
    con.execute("SELECT setseed(0.42)").fetchall()
    # 2015-01-01 .. 2024-12-31, one reading a minute: a seasonal and daily cycle plus noise,
    # rounded to thousandths as an instrument reports them
    con.execute(
        """CREATE TABLE raw AS
           SELECT 1420070400000000 + i * 60000000 AS t,
                  round(12 + 8 * sin(2 * pi() * i / 525960.0) + 0.8 * sin(2 * pi() * i / 1440.0)
                     + (random() - 0.5), 3) AS v
           FROM range(0, 10 * 525960) r(i)"""
    ).fetchall()
    rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    resolutions = []
    for name, seconds in RESOLUTIONS.items():
        width = seconds * US
        rel = con.sql(
            f"""SELECT (t // {width}) * {width} AS b, avg(v) AS "{COLUMN}.avg",
                       min(v) AS "{COLUMN}.min", max(v) AS "{COLUMN}.max",
                       count(v) AS "{COLUMN}.count"
                FROM raw GROUP BY b ORDER BY b"""
        )
        table = (getattr(rel, "to_arrow_table", None) or rel.arrow)()
        ts = table.column("b").cast(pa.timestamp("us", tz="UTC"))
        table = table.drop_columns(["b"]).add_column(0, "Timestamp", ts)
        resolutions.append(Resolution(name, seconds, table=table))
    con.close()
    spec = SiteSpec(
        "Benchmark",
        (
            PageSpec(
                "synthetic",
                "Synthetic 10-year, 1-minute series",
                (ChartSpec("Water temperature", "°C", (SeriesRef("Synthetic", COLUMN),)),),
                tuple(resolutions),
            ),
        ),
    )
    render_site(spec, root / "site-10y")
    return root / "site-10y", rows, time.perf_counter() - t0


def build_example(root: Path) -> tuple[Path, float]:
    """The example pipeline and site in a new pond; return the site and seconds taken."""
    t0 = time.perf_counter()
    pond = root / "example-pond"
    env = dict(os.environ, POND=str(pond))
    env.pop("DUCKPOND_LOG", None)

    def pond_cmd(*argv: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "duckpond", *argv], env=env, check=True, capture_output=True
        )

    pond_cmd("init")
    pond_cmd("apply", "-f", str(REPO / "examples" / "pipeline.yaml"))
    # the stations' positions, as `pond run /sources/hydrovu collect` writes them
    from duckpond import Pond

    p = Pond.open(pond)
    with p.transaction(["bench: locations"]) as tx:
        r = tx.root()
        r.mkdir("/hydrovu")
        r.write_file(
            "/hydrovu/locations.table",
            pa.table(
                {
                    "id": pa.array([1001, 1002], pa.int64()),
                    "name": ["B01", "JFK"],
                    "description": ["NERACOOS buoy B01", "ASOS station KJFK"],
                    "latitude": [43.181, 40.6398],
                    "longitude": [-70.427, -73.7789],
                }
            ),
            file_type="file:table",
        )
    pond_cmd("apply", "-f", str(REPO / "examples" / "site.yaml"))
    pond_cmd("run", "/site", "build", str(root / "site-example"))
    return root / "site-example", time.perf_counter() - t0


@dataclass
class Hit:
    path: str
    wire: int  # bytes sent (compressed or not)
    size: int  # bytes of the file


class Handler(SimpleHTTPRequestHandler):
    """Static files; text types gzip-compressed when ``server.gzip`` and the client accepts it."""

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        path = self.path.split("?")[0].split("#")[0]
        local = Path(self.directory) / path.lstrip("/")
        if not local.is_file():
            self.send_error(404)
            return
        data = local.read_bytes()
        size = len(data)
        encoding = None
        if (
            self.server.gzip
            and local.suffix in TEXT
            and "gzip" in self.headers.get("Accept-Encoding", "")
        ):
            data = self.server.cache.get(local) or gzip.compress(data, 6)
            self.server.cache[local] = data
            encoding = "gzip"
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(local)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.server.log.append(Hit(path, len(data), size))


class Server:
    def __init__(self, directory: Path, *, gzip_text: bool) -> None:
        def handler(*a, **kw):
            return Handler(*a, directory=str(directory), **kw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.gzip = gzip_text
        self.httpd.cache = {}
        self.httpd.log = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def log(self) -> list[Hit]:
        return self.httpd.log

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def views(browser, server: Server, page: str) -> list[tuple[str, str, int, int, bool]]:
    """(view, resolution, blocks, bytes, from the page) for the first view, each range button
    and zooms of 1, 10, 100 and 1000 days (when the data are that long) spread over the data."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    out = []
    try:
        p = ctx.new_page()
        p.goto(f"{server.url}/{page}")
        p.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)

        def record(name: str) -> None:
            s = p.evaluate("window.duckpond.state")
            out.append((name, s["resolution"], len(s["loadedUrls"]), s["bytes"], s["inline"]))

        record("first view")
        for key in ("1w", "1m", "3m", "1y", "all"):
            p.click(f"button[data-range='{key}']")
            p.wait_for_function(
                f"window.duckpond.state.range === '{key}' && document.body.dataset.ready === '1'"
            )
            record(key)
        cfg = p.evaluate("window.duckpond.config")
        lo, hi = cfg["dataStartUs"], cfg["dataEndUs"]
        for days in (1, 10, 100, 1000):
            span = days * 86400 * US
            if span >= hi - lo:
                continue
            for k in range(5):  # five places across the data
                start = lo + (hi - lo - span) * k // 4
                p.evaluate(f"window.duckpond.setView({start}, {start + span})")
                p.wait_for_function("document.body.dataset.ready === '1'")
                record(f"zoom {days} d #{k + 1}")
    finally:
        ctx.close()
    return out


def first_chart(browser, server: Server, page: str, runs: int) -> tuple[float, float, int, int]:
    """Median first-chart time (s), median HTML-alone time (s), and the most bytes on the wire
    and requests of a run (counted when the chart was drawn; the station map's Leaflet files,
    loaded after the first chart, may be among them); throttled to Fast 3G, cold cache."""
    firsts, htmls, wires, counts = [], [], [], []
    for _ in range(runs):
        for scripts in (True, False):
            ctx = browser.new_context(
                viewport={"width": 412, "height": 915}, java_script_enabled=scripts
            )
            try:
                p = ctx.new_page()
                cdp = ctx.new_cdp_session(p)
                cdp.send("Network.enable")
                cdp.send("Network.emulateNetworkConditions", FAST_3G)
                n = len(server.log)
                p.goto(f"{server.url}/{page}")
                if scripts:
                    p.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)
                    firsts.append(p.evaluate("window.duckpond.state.firstDrawMs") / 1000)
                    hits = server.log[n:]
                    wires.append(sum(h.wire for h in hits))
                    counts.append(len(hits))
                else:
                    p.wait_for_load_state("load")
                    htmls.append(
                        p.evaluate("performance.getEntriesByType('navigation')[0].responseEnd")
                        / 1000
                    )
            finally:
                ctx.close()
    return statistics.median(firsts), statistics.median(htmls), max(wires), max(counts)


def measure_site(browser, site: Path, pages: list[str], runs: int, label: str) -> bool:
    ok = True
    print(f"\n== {label}: {site}")
    plain = Server(site, gzip_text=False)
    zipped = Server(site, gzip_text=True)
    try:
        for page in pages:
            rows = views(browser, plain, page)
            worst_n = max(r[2] for r in rows)
            worst_b = max(r[3] for r in rows)
            name = f"{label} {page}"
            ok &= report(
                f"{name}: most data requests of a view",
                worst_n,
                "requests",
                f"<= {TARGET_REQUESTS}",
                worst_n <= TARGET_REQUESTS,
                views=len(rows),
            )["ok"]
            ok &= report(
                f"{name}: most data of a view",
                worst_b / 1024,
                "KB",
                "<= 300 KB",
                worst_b <= TARGET_BYTES,
                views=len(rows),
            )["ok"]
            for view, res, n, size, inline in rows[:6]:
                where = "rows in the page" if inline else f"{n} blocks, {size / 1024:.1f} KB"
                print(f"    {view:>10}: {res:>3} buckets, {where}")
            first, html, wire, count = first_chart(browser, zipped, page, runs)
            ok &= report(
                f"{name}: first chart, Fast 3G, HTML/JS/CSS gzip, Parquet as is",
                first * 1000,
                "ms",
                "<= 1500 ms",
                first <= TARGET_SECONDS,
                runs=runs,
                html_alone_ms=round(html * 1000),
                ratio=round(first / html, 2),
                wire_kb=round(wire / 1024, 1),
                requests=count,
            )["ok"]
            first, html, wire, count = first_chart(browser, plain, page, runs)
            print(
                f"       (served with nothing compressed: first chart {first * 1000:.0f} ms, "
                f"HTML alone {html * 1000:.0f} ms, ratio {first / html:.2f}, "
                f"{wire / 1024:.1f} KB on the wire; no target)"
            )
    finally:
        plain.close()
        zipped.close()
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one run per figure")
    ap.add_argument("--keep", type=Path, help="build in DIR and keep it")
    ap.add_argument("--only", choices=["10y", "example"])
    args = ap.parse_args()
    if args.quick:
        args.runs = 1
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-site-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        sites = []
        if args.only in (None, "10y"):
            site, rows, seconds = build_10y(root)
            print(
                f"10-year site: {rows:,} raw rows reduced at {', '.join(RESOLUTIONS)} and "
                f"rendered in {seconds:.1f} s"
            )
            sites.append((site, ["synthetic.html"], "10-year, 1-minute series"))
        if args.only in (None, "example"):
            site, seconds = build_example(root)
            print(f"example site: pond, pipeline and site built in {seconds:.1f} s")
            sites.append((site, ["B01.html", "JFK.html", "temperature.html"], "example site"))
        from playwright.sync_api import sync_playwright

        ok = True
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                for site, pages, label in sites:
                    ok &= measure_site(browser, site, pages, args.runs, label)
            finally:
                browser.close()
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
