"""Regenerate ``data/vendor_exports/``: instrument-software exports made from the bundled real data.

    .venv/bin/python scripts/make_vendor_exports.py [--data-dir data] [--out data/vendor_exports]

Each file is laid out as one vendor's software writes its CSV export; the readings in it are the
real measurements of ``data/`` (times converted to the local zone the file uses, values copied as
text, no rounding). ``data/vendor_exports/PROVENANCE.md`` describes each file. The output is
byte-for-byte deterministic; the test suite regenerates it into a temporary folder and compares.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

B01 = "neracoos_b01_water_temperature_30min/neracoos_b01_water_temperature_30min.csv"
JFK = "jfk_weather_2013_hourly/jfk_weather_2013_hourly.csv"
NEW_YORK = ZoneInfo("America/New_York")
EST = timezone(timedelta(hours=-5))


Row = tuple[datetime, dict[str, str]]


def read_rows(path: Path) -> list[Row]:
    """The rows of a bundled CSV: (time as an aware UTC datetime, the row's cells)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [(datetime.fromisoformat(r["Timestamp"].replace("Z", "+00:00")), r) for r in rows]


def between(rows: list[Row], start: str, end: str) -> list[Row]:
    """Rows with ``start <= UTC time < end`` (ISO-8601 with an offset)."""
    lo, hi = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return [r for r in rows if lo <= r[0] < hi]


def missing(text: str) -> bool:
    return text.strip() in {"", "NaN", "nan"}


def to_text(rows: Sequence[Sequence[str]], *, quote_all: bool, delimiter: str = ",") -> str:
    out = io.StringIO()
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    writer = csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


# --- In-Situ (HydroVu / VuSitu) -------------------------------------------------------------


def in_situ(
    rows: list[Row],
    location: str,
    description: str,
    latitude: str,
    longitude: str,
    zone_label: str,
    local: Callable[[datetime], datetime],
    columns: Sequence[tuple[str, str]],
) -> str:
    """A HydroVu location export: a ``"Key:","Value"`` preamble, a blank line, the header
    ``"Date Time","<Parameter> (<unit>) (<serial>)",...``, every field quoted, CRLF."""
    preamble = [
        ["Location Name:", location],
        ["Location Description:", description],
        ["Latitude:", latitude],
        ["Longitude:", longitude],
        ["Time Zone:", zone_label],
        ["Exported By:", "scripts/make_vendor_exports.py (DuckPond fixture)"],
    ]
    header = ["Date Time", *(title for _, title in columns)]
    body = []
    for utc, row in rows:
        when = local(utc).strftime("%Y-%m-%d %H:%M:%S")
        body.append([when, *("" if missing(row[c]) else row[c] for c, _ in columns)])
    return to_text(preamble, quote_all=True) + "\r\n" + to_text([header, *body], quote_all=True)


# --- YSI EXO (KorEXO) ----------------------------------------------------------------------


def exo(rows: list[Row], site: str, serial: str, column: str) -> str:
    """A KorEXO measurement export: UTF-8 byte order mark, ``sep=,``, the KorEXO preamble with
    mean, standard deviation and serial rows, then ``Date (MM/DD/YYYY),Time (HH:mm:ss),Time
    (Fract. Sec),Site Name,Temp °C``; local time (America/New_York), CRLF."""
    values = [float(r[column]) for _, r in rows if not missing(r[column])]
    lead = ["", "", ""]
    preamble = [
        ["KorEXO MEASUREMENT DATA FILE EXPORT"],
        [],
        ["FILE CREATED:", "03/20/2017 09:00:00 AM"],
        [],
        [*lead, "MEAN VALUE:", f"{statistics.fmean(values):.3f}"],
        [*lead, "STANDARD DEVIATION:", f"{statistics.pstdev(values):.3f}"],
        [],
        [*lead, "SENSOR SERIAL NUMBER:", serial],
    ]
    header = ["Date (MM/DD/YYYY)", "Time (HH:mm:ss)", "Time (Fract. Sec)", "Site Name", "Temp °C"]
    body = []
    for utc, row in rows:
        when = utc.astimezone(NEW_YORK)
        value = "" if missing(row[column]) else row[column]
        body.append([when.strftime("%m/%d/%Y"), when.strftime("%H:%M:%S"), "0.0", site, value])
    return "\ufeffsep=,\r\n" + to_text([*preamble, header, *body], quote_all=False)


# --- a generic logger ----------------------------------------------------------------------

LOGGER_COLUMNS = [
    # (source column, logger column, how a missing value is written)
    ("AirTemperature.C", "AirTemp_C", "-9999"),
    ("RelativeHumidity.pct", "RH_pct", "-9999"),
    ("WindDirection.deg", "WindDir_deg", "NAN"),
    ("WindSpeed.m_s", "WindSpeed_ms", "-9999"),
    ("WindGust.m_s", "WindGust_ms", "-9999"),
    ("BarometricPressure.hPa", "Pressure_hPa", "ERR"),
]


def logger(rows: list[Row]) -> str:
    """A European data logger's CSV: ``;`` between fields, decimal commas, ``dd.mm.yyyy
    HH:MM:SS`` times in UTC, missing values written ``-9999``, ``NAN`` or ``ERR``."""
    header = ["Date/Time", *(name for _, name, _ in LOGGER_COLUMNS)]
    body = []
    for utc, row in rows:
        when = utc.strftime("%d.%m.%Y %H:%M:%S")
        cells = [when]
        for source, _, absent in LOGGER_COLUMNS:
            text = row[source]
            cells.append(absent if missing(text) else text.replace(".", ","))
        body.append(cells)
    return to_text([header, *body], quote_all=False, delimiter=";")


# --- all files -----------------------------------------------------------------------------


def make_exports(data_dir: Path, out_dir: Path) -> list[Path]:
    b01 = read_rows(data_dir / B01)
    jfk = read_rows(data_dir / JFK)
    files = {
        "insitu_b01_2016-11.csv": in_situ(
            between(b01, "2016-10-30T04:00:00+00:00", "2016-11-13T05:00:00+00:00"),
            "B01",
            "NERACOOS buoy B01, Western Maine Shelf",
            "43.181",
            "-70.427",
            "America/New_York",
            lambda t: t.astimezone(NEW_YORK),
            [("WaterTemperature.C", "Temperature (°C) (812345)")],
        ),
        "insitu_jfk_2013-03.csv": in_situ(
            between(jfk, "2013-03-03T05:00:00+00:00", "2013-03-17T05:00:00+00:00"),
            "JFK",
            "ASOS station KJFK, John F. Kennedy International Airport",
            "40.6398",
            "-73.7789",
            "UTC-05:00",
            lambda t: t.astimezone(EST),
            [
                ("AirTemperature.C", "Temperature (°C) (812346)"),
                ("BarometricPressure.hPa", "Barometric Pressure (mbar) (812346)"),
            ],
        ),
        "exo_b01_2017-03.csv": exo(
            between(b01, "2017-03-05T05:00:00+00:00", "2017-03-19T04:00:00+00:00"),
            "B01",
            "17C101234",
            "WaterTemperature.C",
        ),
        "logger_jfk_2013-07.csv": logger(
            between(jfk, "2013-07-01T00:00:00+00:00", "2013-08-01T00:00:00+00:00")
        ),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out_dir / name
        path.write_bytes(text.encode("utf-8"))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=root / "data")
    ap.add_argument("--out", type=Path, default=root / "data" / "vendor_exports")
    args = ap.parse_args(argv)
    for path in make_exports(args.data_dir, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
