"""Each vendor shape end to end: host drop folder -> inbox (csv-series options) -> temporal-reduce
-> website, the downsampled values checked against DuckDB over the source rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from duckpond import Pond
from duckpond.factories import registry, resolver
from duckpond.pipeline import apply_file

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
EXPORTS = DATA / "vendor_exports"
B01 = DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv"
JFK = DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"

PIPELINE = """\
---
kind: mknod
factory: inbox
path: /sources/insitu
config: {{pattern: "{drop}/insitu/*.csv", folder: /vendor/insitu, format: csv-series,
          ambiguous: infer}}
---
kind: mknod
factory: inbox
path: /sources/exo
config: {{pattern: "{drop}/exo/*.csv", folder: /vendor/exo, format: csv-series,
          tz: America/New_York}}
---
kind: mknod
factory: inbox
path: /sources/logger
config:
  pattern: "{drop}/logger/*.csv"
  folder: /vendor/logger
  format: csv-series
  time_column: Date/Time
  time_format: "%d.%m.%Y %H:%M:%S"
  decimal: ","
  null_values: [-9999, NAN, ERR]
---
kind: mknod
factory: temporal-reduce
path: /reduced/insitu
config:
  input: /vendor/insitu/insitu_b01_2016-11.series
  resolutions: [1h, 24h]
  aggregations: [avg, min, max, count]
---
kind: mknod
factory: temporal-reduce
path: /reduced/exo
config:
  input: /vendor/exo/exo_b01_2017-03.series
  resolutions: [1h, 24h]
  aggregations: [avg, min, max, count]
---
kind: mknod
factory: temporal-reduce
path: /reduced/logger
config:
  input: /vendor/logger/logger_jfk_2013-07.series
  resolutions: [1h, 24h]
  aggregations: [avg, min, max, count]
---
kind: mknod
factory: sitegen
path: /site
config:
  title: Vendor exports
  pages:
    - {{pattern: /reduced/insitu, slug: insitu, title: In-Situ B01, columns: "*"}}
    - {{pattern: /reduced/exo, slug: exo, title: EXO B01, columns: "*"}}
    - {{pattern: /reduced/logger, slug: logger, title: Logger JFK, columns: "*"}}
"""


@pytest.fixture(scope="module")
def pond(tmp_path_factory):
    root = tmp_path_factory.mktemp("vendors")
    drop = root / "drop"
    for shape in ("insitu", "exo", "logger"):
        (drop / shape).mkdir(parents=True)
        for f in EXPORTS.glob(f"{shape}_*.csv"):
            shutil.copy(f, drop / shape / f.name)
    pipeline = root / "vendors.yaml"
    pipeline.write_text(PIPELINE.format(drop=drop))
    pond = Pond.init(root / "pond", factories=resolver)
    apply_file(pond, pipeline)
    reports = {
        s: registry.run(pond, f"/sources/{s}", "ingest") for s in ("insitu", "exo", "logger")
    }
    site = root / "site"
    registry.run(pond, "/site", "build", [str(site)])
    return pond, reports, site


def oracle(csv: Path, column: str, start: str, end: str, width: str) -> list[tuple]:
    """DuckDB over the source rows: (bucket start µs, avg, min, max, count) per UTC bucket."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.execute(
        f"""
        SELECT epoch_us(time_bucket(INTERVAL '{width}', "Timestamp"::TIMESTAMPTZ)) AS t,
               avg("{column}"), min("{column}"), max("{column}"), count("{column}")
        FROM read_csv('{csv}', header = true, types = {{'Timestamp': 'VARCHAR'}},
                      nullstr = ['', 'NaN'])
        WHERE "Timestamp"::TIMESTAMPTZ >= TIMESTAMPTZ '{start}'
          AND "Timestamp"::TIMESTAMPTZ < TIMESTAMPTZ '{end}'
        GROUP BY t HAVING count("{column}") > 0 ORDER BY t
        """
    ).fetchall()


@pytest.mark.parametrize(
    ("node", "column", "csv", "source_column", "start", "end"),
    [
        (
            "insitu",
            "Temperature.C",
            B01,
            "WaterTemperature.C",
            "2016-10-30 04:00:00+00",
            "2016-11-13 05:00:00+00",
        ),
        (
            "exo",
            "Temp.C",
            B01,
            "WaterTemperature.C",
            "2017-03-05 05:00:00+00",
            "2017-03-19 04:00:00+00",
        ),
        (
            "logger",
            "Pressure_hPa",
            JFK,
            "BarometricPressure.hPa",
            "2013-07-01 00:00:00+00",
            "2013-08-01 00:00:00+00",
        ),
        (
            "logger",
            "WindGust_ms",
            JFK,
            "WindGust.m_s",
            "2013-07-01 00:00:00+00",
            "2013-08-01 00:00:00+00",
        ),
    ],
    ids=["in-situ", "exo", "logger-pressure", "logger-gust"],
)
@pytest.mark.parametrize("res", ["1h", "24h"])
def test_reduced_values_equal_duckdb_over_the_source(
    pond, node: str, column: str, csv: Path, source_column: str, start: str, end: str, res: str
) -> None:
    p, *_ = pond
    got = p.root().resolve(f"/reduced/{node}/res={res}.series").read_table().sort_by("Timestamp")
    got = got.filter(pa.compute.is_valid(got.column(f"{column}.avg")))
    width = {"1h": "1 hour", "24h": "1 day"}[res]
    want = oracle(csv, source_column, start, end, width)
    assert got.num_rows == len(want) > 0
    times, avgs, mins, maxs, counts = (list(c) for c in zip(*want, strict=True))
    assert got.column("Timestamp").cast(pa.int64()).to_pylist() == times
    assert got.column(f"{column}.count").to_pylist() == counts
    assert got.column(f"{column}.min").to_pylist() == mins
    assert got.column(f"{column}.max").to_pylist() == maxs
    for a, b in zip(got.column(f"{column}.avg").to_pylist(), avgs, strict=True):
        assert a == pytest.approx(b, rel=1e-12)
    # the sum of readings over the buckets, by count x avg, is the source's
    total = sum(n * m for n, m in zip(counts, avgs, strict=True))
    got_total = sum(
        n * m
        for n, m in zip(
            got.column(f"{column}.count").to_pylist(),
            got.column(f"{column}.avg").to_pylist(),
            strict=True,
        )
    )
    assert got_total == pytest.approx(total, rel=1e-12)


def test_ingest_reports_and_attributes(pond) -> None:
    p, reports, _ = pond
    assert [(Path(f.source).name, f.action, f.rows) for f in reports["insitu"].files] == [
        ("insitu_b01_2016-11.csv", "created", 674),
        ("insitu_jfk_2013-03.csv", "created", 335),
    ]
    version = p.root().resolve("/vendor/exo/exo_b01_2017-03.series").versions()[-1]
    source = version.extended_attributes["source"]
    assert source["shape"] == "exo"
    assert source["columns"]["Temp.C"] == "Temp °C"
    assert source["time_zone"] == "America/New_York" and source["time_zone_from"] == "option"
    assert source["file"].endswith("exo/exo_b01_2017-03.csv")
    assert version.time_column == "Timestamp"


def test_site_pages_for_each_shape(pond) -> None:
    *_, site = pond
    for page in ("index", "insitu", "exo", "logger"):
        assert (site / f"{page}.html").is_file(), page
    html = (site / "exo.html").read_text()
    assert "EXO B01" in html
