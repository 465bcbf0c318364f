"""Website benchmark: bytes fetched and time to the first drawn chart, in headless Chromium.

A synthetic 10-year, 1-minute water-temperature-like series (~5.3 M readings) is reduced with
DuckDB at 1h 6h 1d 1w (epoch-aligned buckets labelled by start; avg/min/max/count), written as
Hive month partitions like ``pond export --temporal year,month``, rendered with
``duckpond.site.render_site`` and served by a local ThreadingHTTPServer on 127.0.0.1.

For the "1 year" and "all" views it opens the page in a fresh browser context (cold cache) and
reports the medians over a few runs of:

- data bytes: the Parquet parts the view fetched;
- total bytes: everything the page fetched (HTML, CSS, JavaScript, data; uncompressed, as
  Python's http.server sends it): target <= 300 KB;
- time to first drawn chart: ``performance.now()`` when the page set ``data-ready``
  (target <= 1.5 s).

Run: ``.venv/bin/python benchmarks/bench_site.py [--runs N] [--keep DIR]``. Needs /usr/bin/chromium
(``apt-get install -y chromium``). Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from duckpond.site import (
    ChartSpec,
    PageSpec,
    PartFile,
    Resolution,
    SeriesRef,
    SiteSpec,
    render_site,
)

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
RESOLUTIONS = {"1h": 3600, "6h": 6 * 3600, "1d": 86400, "1w": 7 * 86400}
COLUMN = "Synthetic.WaterTemperature.C"
TARGET_BYTES = 300 * 1024
TARGET_SECONDS = 1.5


def build_data(root: Path) -> tuple[tuple[Resolution, ...], int, float]:
    """Generate and reduce the series; return the resolutions, raw row count and seconds taken."""
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'").fetchall()
    con.execute("SELECT setseed(0.42)").fetchall()
    # 2015-01-01 .. 2024-12-31, one reading a minute: a seasonal and daily cycle plus noise
    con.execute(
        """CREATE TABLE raw AS
           SELECT 1420070400000000 + i * 60000000 AS t,
                  12 + 8 * sin(2 * pi() * i / 525960.0) + 0.8 * sin(2 * pi() * i / 1440.0)
                     + (random() - 0.5) AS v
           FROM range(0, 10 * 525960) r(i)"""
    ).fetchall()
    rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    resolutions = []
    for name, seconds in RESOLUTIONS.items():
        width = seconds * 1_000_000
        rel = con.sql(
            f"""SELECT (t // {width}) * {width} AS b, avg(v) AS "{COLUMN}.avg",
                       min(v) AS "{COLUMN}.min", max(v) AS "{COLUMN}.max",
                       count(v) AS "{COLUMN}.count"
                FROM raw GROUP BY b ORDER BY b"""
        )
        table = (getattr(rel, "to_arrow_table", None) or rel.arrow)()
        ts = table.column("b").cast(pa.timestamp("us", tz="UTC"))
        table = table.drop_columns(["b"]).add_column(0, "Timestamp", ts)
        years, months = pc.year(ts), pc.month(ts)
        parts = []
        for y, m in sorted(set(zip(years.to_pylist(), months.to_pylist(), strict=True))):
            chunk = table.filter(pc.and_(pc.equal(years, y), pc.equal(months, m)))
            path = root / "export" / f"res={name}" / f"year={y}" / f"month={m:02d}" / "part.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(chunk, path)
            tcol = chunk.column("Timestamp")
            parts.append(PartFile(path, tcol[0].value, tcol[-1].value, chunk.num_rows))
        resolutions.append(Resolution(name, seconds, tuple(parts)))
    con.close()
    return tuple(resolutions), rows, time.perf_counter() - t0


class Handler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def log_request(self, code="-", size="-"):
        status = int(code.value if hasattr(code, "value") else code)
        path = self.path.split("?")[0]
        local = Path(self.directory) / path.lstrip("/")
        size = local.stat().st_size if status == 200 and local.is_file() else 0
        self.server.log.append((path, status, size))


def measure(browser, url: str, key: str) -> tuple[int, int, float, str, int]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    server = url_servers[url]
    n = len(server.log)
    page.goto(f"{url}/synthetic.html#{key}")
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=30_000)
    state = page.evaluate("window.duckpond.state")
    ctx.close()
    if errors:
        raise RuntimeError(f"console errors: {errors}")
    log = server.log[n:]
    data = sum(s for p, _, s in log if p.endswith(".parquet"))
    total = sum(s for _, _, s in log)
    return data, total, state["firstDrawMs"] / 1000, state["resolution"], len(state["loadedUrls"])


url_servers: dict[str, ThreadingHTTPServer] = {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="build in DIR and keep it")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-site-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        resolutions, rows, t_data = build_data(root)
        spec = SiteSpec(
            "Benchmark",
            (
                PageSpec(
                    "synthetic",
                    "Synthetic 10-year, 1-minute series",
                    (ChartSpec("Water temperature", "°C", (SeriesRef("Synthetic", COLUMN),)),),
                    resolutions,
                ),
            ),
        )
        t0 = time.perf_counter()
        report = render_site(spec, root / "site")
        t_render = time.perf_counter() - t0
        parts = sum(len(r.files) for r in resolutions)
        print(f"data: {rows:,} raw rows reduced at {', '.join(RESOLUTIONS)} in {t_data:.2f} s")
        print(
            f"render_site: {parts} parts, {len(report.files)} files, "
            f"{report.bytes / 1e6:.1f} MB in {t_render:.2f} s"
        )

        def handler(*a, **kw):
            return Handler(*a, directory=str(root / "site"), **kw)

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.log = []
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        url_servers[url] = httpd
        ok = True
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    measure(browser, url, "1y")  # warm-up: the OS file cache, not the browser
                    for key in ("1y", "all"):
                        runs = [measure(browser, url, key) for _ in range(args.runs)]
                        data = statistics.median(r[0] for r in runs)
                        total = statistics.median(r[1] for r in runs)
                        first = statistics.median(r[2] for r in runs)
                        res, files = runs[0][3], runs[0][4]
                        # the target holds for everything the view fetched, page and code included
                        good = total <= TARGET_BYTES and first <= TARGET_SECONDS
                        ok &= good
                        print(
                            f"view {key:>3}: resolution {res}, {files} parts, "
                            f"data {data / 1024:.1f} KB, total {total / 1024:.1f} KB, "
                            f"first chart {first * 1000:.0f} ms "
                            f"(median of {args.runs}; targets: total <= 300 KB, <= 1500 ms)"
                            f"{'' if good else '  MISSED'}"
                        )
                finally:
                    browser.close()
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
