"""A series loaded straight from a CSV with ``<parameter>.<unit>`` columns, as a new user does it:
``pond copy host+csv+series://lake.csv``, a temporal-reduce and a sitegen node from ``pond
apply``, ``pond run /site build`` (all real processes), then the site in Chromium.

The CSV holds conductivity (~410 µS/cm) and pH (~7.6, a column with no unit) side by side, a
specific conductance in the same unit, a temperature relabelled by the site's ``parameters``
map, a pressure with tenths of a hPa, a battery voltage without a unit, and a three-day hole.
Every number the page shows is compared with the pond's own reduced rows (read back from the
pond, not recomputed by the test): the hover read-out, the CSV download, the table of values.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from site_testlib import READY, US, screenshots, serve
from test_site_browser import hover, open_page, plot_box

from duckpond import Pond
from duckpond.factories import resolver
from duckpond.site.render import format_value

pytestmark = pytest.mark.browser

START = datetime(2024, 6, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
N = 20 * 96  # 20 days of 15-minute readings
HOLE = (8 * 96, 11 * 96)  # no reading from day 8 to day 11: a three-day hole

#: CSV column -> value at step i
COLUMNS = {
    "Conductivity.uS_cm": lambda i: round(410 + 5 * math.sin(i / 40), 1),
    "pH": lambda i: round(7.6 + 0.1 * math.sin(i / 50), 2),
    "SpCond.uS_cm": lambda i: round(402 + 4 * math.sin(i / 40), 1),
    "Temperature.C": lambda i: round(18 + 2 * math.sin(i / 96), 1),
    "Pressure.hPa": lambda i: round(1025.7 + 3 * math.sin(i / 300), 1),
    "Battery": lambda i: round(12.6 - i / 5000, 3),
}
#: the charts sitegen must make, in order: (title, unit on the y axis, series labels)
CHARTS = [
    ("Conductivity, Specific conductance", "µS/cm", ["Conductivity", "Specific conductance"]),
    ("pH", "", ["pH"]),
    ("Water temperature", "°C", ["Water temperature"]),
    ("Pressure", "hPa", ["Pressure"]),
    ("Battery", "", ["Battery"]),
]

SETUP = """\
kind: mkdir
path: /reduced
---
kind: mknod
factory: temporal-reduce
path: /reduced/lake
config:
  input: /raw/lake.series
  resolutions: [15m, 1h, 6h]
  aggregations: [avg, min, max, count]
---
kind: mknod
factory: sitegen
path: /site
config:
  title: Lake monitoring
  timezone: America/Chicago
  parameters:
    Temperature: Water temperature
  pages:
    - pattern: /reduced/*
      title: Lake station
"""


def pond_cli(pond: Path, *argv: str | os.PathLike[str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DUCKPOND_LOG"}
    args = [os.fspath(a) for a in argv]
    r = subprocess.run(
        [sys.executable, "-m", "duckpond", "--pond", os.fspath(pond), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert r.returncode == 0, (argv, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("csvsite")
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(["Timestamp", *COLUMNS])
    for i in range(N):
        if HOLE[0] <= i < HOLE[1]:
            continue
        t = (START + i * STEP).strftime("%Y-%m-%dT%H:%M:%SZ")
        w.writerow([t, *(f(i) for f in COLUMNS.values())])
    (root / "lake.csv").write_text(text.getvalue())
    (root / "setup.yaml").write_text(SETUP)
    pond = root / "pond"
    pond_cli(pond, "init")
    pond_cli(pond, "mkdir", "/raw")
    pond_cli(pond, "copy", f"host+csv+series://{root / 'lake.csv'}", "/raw/lake.series")
    pond_cli(pond, "apply", "-f", root / "setup.yaml")
    out = root / "www"
    pond_cli(pond, "run", "/site", "build", out)
    p = Pond.open(pond, factories=resolver)
    rows = {
        res: p.root().resolve(f"/reduced/lake/res={res}.series").read_table()
        for res in ("15m", "1h", "6h")
    }
    return out, rows


def in_view(table: pa.Table, seconds: int, start: int, end: int) -> pa.Table:
    """The pond's reduced rows whose bucket overlaps [start, end], sorted by time."""
    ts = table.column("Timestamp").cast(pa.timestamp("us", "UTC")).cast("int64")
    mask = pc.and_(pc.greater(pc.add(ts, seconds * US), start), pc.less(ts, end))
    out = table.filter(mask).sort_by("Timestamp")
    return out.set_column(0, "Timestamp", out.column("Timestamp").cast(pa.timestamp("us", "UTC")))


@pytest.mark.slow
def test_csv_columns_get_a_chart_per_unit(browser, lake, tmp_path: Path) -> None:
    out, rows = lake
    with serve(out) as server:
        ctx, page, w, outside = open_page(
            browser, f"{server.url}/lake.html#range=all", accept_downloads=True
        )
        try:
            page.wait_for_function(READY)
            cfg = page.evaluate("window.duckpond.config")
            got = [
                (c["title"], c["unit"], [s["label"] for s in c["series"]]) for c in cfg["charts"]
            ]
            assert got == CHARTS
            state = page.evaluate("window.duckpond.state")
            assert state["resolution"] == "1h" and state["error"] is None
            hourly = in_view(rows["1h"], 3600, state["startUs"], state["endUs"])
            for ci, chart in enumerate(cfg["charts"]):
                # the y axis says its unit (or, without one, what it shows), and its range is
                # that of its own values: conductivity ~410 never squashes pH ~7.6
                labels = page.evaluate(f"window.duckpond.plots[{ci}].axes.map(a => a.label)")
                assert labels == ["Time (UTC)", chart["unit"] or chart["title"]]
                lo, hi = page.evaluate(
                    f"(u => [u.scales.y.min, u.scales.y.max])(window.duckpond.plots[{ci}])"
                )
                cols = [s["column"] for s in chart["series"]]
                mins = [v for c in cols for v in hourly.column(f"{c}.min").to_pylist() if v]
                maxs = [v for c in cols for v in hourly.column(f"{c}.max").to_pylist() if v]
                assert lo <= min(mins) and max(maxs) <= hi
                assert hi - lo < 3 * (max(maxs) - min(mins)) + 0.01, (chart["title"], lo, hi)
                # tick labels all have the digits of the step, and no thousands separator
                ticks = page.evaluate(f"window.duckpond.plots[{ci}].axes[1]._values")
                assert ticks and all("," not in t for t in ticks), ticks
                assert len({len(t.partition(".")[2]) for t in ticks}) == 1, ticks
            digits = {s["column"]: s["decimals"] for c in cfg["charts"] for s in c["series"]}
            assert digits == {
                "Conductivity.uS_cm": 1,
                "pH": 2,
                "SpCond.uS_cm": 1,
                "Temperature.C": 1,
                "Pressure.hPa": 1,  # tenths of a hPa, not whole hPa
                "Battery": 3,
            }

            # the read-out of a bucket is the pond's row
            box = plot_box(page)
            hover(page, box["width"] * 0.2, box["height"] / 2)
            text = page.locator(".chart .readout").first.inner_text()
            m = re.match(
                r"(\d{4}-\d\d-\d\d) (\d\d:\d\d)–(?:\S+ )?\d\d:\d\d UTC, 1 h bucket\n", text
            )
            assert m, text
            t = datetime.strptime(f"{m.group(1)} {m.group(2)}", "%Y-%m-%d %H:%M")
            t_us = int(t.replace(tzinfo=UTC).timestamp()) * US
            row = in_view(rows["1h"], 3600, t_us, t_us + 1).to_pylist()[0]
            for label, col in (
                ("Conductivity", "Conductivity.uS_cm"),
                ("Specific conductance", "SpCond.uS_cm"),
            ):
                avg, lo_, hi_ = (format_value(row[f"{col}.{s}"], 1) for s in ("avg", "min", "max"))
                n = row[f"{col}.count"]
                line = f"{label}: mean {avg} µS/cm, min {lo_}, max {hi_} µS/cm ({n} readings)"
                assert line in text.splitlines(), text

            # in the hole: "no data", not the value days away
            middle = int((START + (HOLE[0] + HOLE[1]) // 2 * STEP).timestamp()) * US
            x = page.evaluate(f"window.duckpond.plots[1].valToPos({middle / US}, 'x')")
            page.locator(".chart").nth(1).scroll_into_view_if_needed()
            hover(page, x, box["height"] / 2, chart=1)
            text = page.locator(".chart .readout").nth(1).inner_text()
            assert re.fullmatch(r"2024-06-\d\d \d\d:\d\d UTC: no data", text), text

            # the CSV of the conductivity chart holds the pond's rows of the range
            with page.expect_download() as info:
                page.locator(".chart").first.locator("button[data-download='csv']").click()
            path = tmp_path / info.value.suggested_filename
            info.value.save_as(path)
            lines = list(csv.reader(io.StringIO(path.read_text())))
            names = [
                f"{c}.{s}"
                for c in ("Conductivity.uS_cm", "SpCond.uS_cm")
                for s in ("avg", "min", "max", "count")
            ]
            assert lines[0] == ["Timestamp", *names]
            want = hourly.select(["Timestamp", *names]).to_pylist()
            assert len(lines) - 1 == len(want) > 300
            for cells, r in zip(lines[1:], want, strict=True):
                assert cells[0] == r["Timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ")
                assert [float(v) for v in cells[1:]] == [float(r[n]) for n in names]

            # the table of values of every chart is the pond's rows summed up
            con = duckdb.connect()
            con.register("v", hourly)
            for ci, chart in enumerate(cfg["charts"]):
                table = page.locator(".chart").nth(ci).locator("details table")
                unit = f" {chart['unit']}" if chart["unit"] else ""
                for si, s in enumerate(chart["series"]):
                    c, d = s["column"], s["decimals"]
                    lo, mean, hi = con.execute(
                        f'SELECT min("{c}.min"), sum("{c}.avg" * "{c}.count") / sum("{c}.count"), '
                        f'max("{c}.max") FROM v WHERE "{c}.count" > 0'
                    ).fetchall()[0]
                    latest = con.execute(
                        f'SELECT "{c}.avg" FROM v WHERE "{c}.avg" IS NOT NULL '
                        'ORDER BY "Timestamp" DESC LIMIT 1'
                    ).fetchall()[0][0]
                    cells = table.locator("tbody tr").nth(si).locator("td").all_text_contents()
                    assert cells[:4] == [format_value(v, d) + unit for v in (lo, mean, hi, latest)]
            # the build time is on the chart page too
            assert page.locator("footer time.built").count() == 1
            w.assert_clean()
            assert outside == []
        finally:
            ctx.close()
        # a 320 px phone: no sideways scroll, with every table of values open
        ctx, page, w, _ = open_page(
            browser, f"{server.url}/lake.html#range=all", viewport={"width": 320, "height": 640}
        )
        try:
            page.wait_for_function(READY)
            page.locator("details.values").evaluate_all("ds => ds.forEach(d => d.open = true)")
            assert page.evaluate("document.documentElement.scrollWidth") <= 320
            for ci in range(len(CHARTS)):
                assert page.evaluate(f"window.duckpond.plots[{ci}].width") <= 300
            w.assert_clean()
        finally:
            ctx.close()
        screenshots(browser, f"{server.url}/lake.html#range=all", "test-csv-lake")
