"""Regenerate ``data/laketech_sample/``: LakeTech-format exports made from the bundled real data.

    .venv/bin/python scripts/make_laketech_sample.py [--data-dir data] [--out data/laketech_sample]

A LakeTech export is a *long* CSV, one reading per row, in local time with its UTC offset::

    Timestamp,Series Name,Location,Parameter,Value,Offset
    2016-11-06 01:00:00,B01 WaterTemperature (C),B01,WaterTemperature,11.27,-04:00
    2016-11-06 01:00:00,B01 WaterTemperature (C),B01,WaterTemperature,11.25,-05:00

- ``Timestamp``: local wall time ``YYYY-MM-DD HH:MM:SS`` in America/New_York.
- ``Offset``: that local time's offset from UTC, ``±HH:MM`` (``-05:00`` EST, ``-04:00`` EDT), so
  that UTC = Timestamp - Offset, also in the repeated hour when daylight saving time ends.
- ``Series Name``: ``<Location> <Parameter> (<unit>)``; ``Location``, ``Parameter``: the site and
  the parameter; ``Value``: the reading, copied as text from the source CSV (no rounding).
- Rows are sorted by time, then by parameter in source column order. A source cell that is empty
  or ``NaN`` is no reading (no row).

The files, one per local calendar month and location (the months are chosen to cross the daylight
saving time changes, where the offset matters):

=====================  ==============================================  =========================
file                   source (``data/``)                             parameters (unit)
=====================  ==============================================  =========================
B01_2016-10.csv        neracoos_b01_water_temperature_30min            WaterTemperature (C)
B01_2016-11.csv        (DST ends 2016-11-06)                           WaterTemperature (C)
JFK_2013-03.csv        jfk_weather_2013_hourly (DST starts 2013-03-10) AirTemperature (C),
JFK_2013-11.csv        (DST ends 2013-11-03)                           RelativeHumidity (pct),
                                                                       WindSpeed (m/s)
=====================  ==============================================  =========================

The output is byte-for-byte deterministic (``\\n`` line ends, UTF-8); the test suite regenerates
it into a temporary folder and compares.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ZONE = "America/New_York"
HEADER = ["Timestamp", "Series Name", "Location", "Parameter", "Value", "Offset"]

#: (output file, source CSV under data/, location, local month "YYYY-MM",
#:  [(source column, parameter, unit)])
SAMPLE = [
    (
        "B01_2016-10.csv",
        "neracoos_b01_water_temperature_30min/neracoos_b01_water_temperature_30min.csv",
        "B01",
        "2016-10",
        [("WaterTemperature.C", "WaterTemperature", "C")],
    ),
    (
        "B01_2016-11.csv",
        "neracoos_b01_water_temperature_30min/neracoos_b01_water_temperature_30min.csv",
        "B01",
        "2016-11",
        [("WaterTemperature.C", "WaterTemperature", "C")],
    ),
    (
        "JFK_2013-03.csv",
        "jfk_weather_2013_hourly/jfk_weather_2013_hourly.csv",
        "JFK",
        "2013-03",
        [
            ("AirTemperature.C", "AirTemperature", "C"),
            ("RelativeHumidity.pct", "RelativeHumidity", "pct"),
            ("WindSpeed.m_s", "WindSpeed", "m/s"),
        ],
    ),
    (
        "JFK_2013-11.csv",
        "jfk_weather_2013_hourly/jfk_weather_2013_hourly.csv",
        "JFK",
        "2013-11",
        [
            ("AirTemperature.C", "AirTemperature", "C"),
            ("RelativeHumidity.pct", "RelativeHumidity", "pct"),
            ("WindSpeed.m_s", "WindSpeed", "m/s"),
        ],
    ),
]


def _offset(local: datetime) -> str:
    delta = local.utcoffset()
    assert delta is not None
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def laketech_text(
    source_csv: Path, location: str, month: str, columns: list[tuple[str, str, str]]
) -> str:
    """One LakeTech export (the CSV text) of ``columns`` of ``source_csv`` for a local month.

    Args:
        source_csv: a wide CSV with a ``Timestamp`` column of ISO-8601 UTC times (``...Z``).
        location: the ``Location`` value.
        month: the local (America/New_York) calendar month to keep, ``YYYY-MM``.
        columns: (source column, parameter, unit) per parameter, in output order.
    """
    zone = ZoneInfo(ZONE)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    with open(source_csv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            utc = datetime.fromisoformat(row["Timestamp"].replace("Z", "+00:00")).astimezone(UTC)
            local = utc.astimezone(zone)
            if local.strftime("%Y-%m") != month:
                continue
            stamp = local.strftime("%Y-%m-%d %H:%M:%S")
            offset = _offset(local)
            for column, parameter, unit in columns:
                value = row[column].strip()
                if not value or value.lower() == "nan":
                    continue
                series = f"{location} {parameter} ({unit})"
                writer.writerow([stamp, series, location, parameter, value, offset])
    return out.getvalue()


def make_sample(data_dir: Path, out_dir: Path) -> list[Path]:
    """Write every file of :data:`SAMPLE` into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, source, location, month, columns in SAMPLE:
        text = laketech_text(data_dir / source, location, month, columns)
        path = out_dir / name
        path.write_bytes(text.encode("utf-8"))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=root / "data")
    ap.add_argument("--out", type=Path, default=root / "data" / "laketech_sample")
    args = ap.parse_args(argv)
    for path in make_sample(args.data_dir, args.out):
        lines = path.read_bytes().count(b"\n") - 1
        print(f"{path}: {lines} readings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
