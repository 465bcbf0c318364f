"""Vendor exports (In-Situ, YSI EXO KorEXO, a European logger) read back to the real source rows."""

from __future__ import annotations

import runpy
from datetime import datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest

from duckpond.errors import InvalidData
from duckpond.formats import CsvOptions, parse_csv_series
from duckpond.timeseries import TIME_TYPE

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
EXPORTS = DATA / "vendor_exports"
B01 = DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv"
JFK = DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"
LOGGER = CsvOptions(
    time_column="Date/Time",
    time_format="%d.%m.%Y %H:%M:%S",
    decimal=",",
    null_values=("-9999", "NAN", "ERR"),
)


def source(path: Path, start: str, end: str, columns: dict[str, str]) -> pa.Table:
    """Oracle: the bundled CSV's rows with start <= t < end; Timestamp µs UTC, renamed columns."""
    table = pcsv.read_csv(
        path, convert_options=pcsv.ConvertOptions(column_types={"Timestamp": TIME_TYPE})
    )
    t = table.column("Timestamp")
    lo = pa.scalar(datetime.fromisoformat(start), TIME_TYPE)
    hi = pa.scalar(datetime.fromisoformat(end), TIME_TYPE)
    table = table.filter(pc.and_(pc.greater_equal(t, lo), pc.less(t, hi)))
    out = {"Timestamp": table.column("Timestamp")}
    for old, new in columns.items():
        out[new] = pc.if_else(
            pc.is_nan(table.column(old)), None, table.column(old).cast(pa.float64())
        )
    return pa.table(out)


def values(table: pa.Table, columns: list[str]) -> pa.Table:
    return pa.table(
        {
            c: table.column(c).cast(pa.float64()) if c != "Timestamp" else table.column(c)
            for c in columns
        }
    )


def test_exports_regenerate_identically(tmp_path: Path) -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "make_vendor_exports.py"))
    written = script["make_exports"](DATA, tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in EXPORTS.glob("*.csv"))
    for path in written:
        assert path.read_bytes() == (EXPORTS / path.name).read_bytes(), path.name
    assert "make_vendor_exports.py" in (EXPORTS / "PROVENANCE.md").read_text()


def test_in_situ_repeated_hour_is_refused_then_inferred() -> None:
    path = EXPORTS / "insitu_b01_2016-11.csv"
    with pytest.raises(InvalidData) as info:
        parse_csv_series(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "'2016-11-06 01:00:00' at data row 339" in message
    assert "occurs twice in America/New_York" in message and "--ambiguous" in message
    parsed = parse_csv_series(path, CsvOptions(ambiguous="infer"))
    assert parsed.shape == "in-situ"
    assert parsed.zone == "America/New_York" and parsed.zone_from == "file"
    assert parsed.table.column_names == ["Timestamp", "Temperature.C"]
    assert parsed.columns == {
        "Timestamp": "Date Time",
        "Temperature.C": "Temperature (°C) (812345)",
    }
    assert parsed.preamble["Location Name"] == "B01"
    expected = source(
        B01,
        "2016-10-30T04:00:00+00:00",
        "2016-11-13T05:00:00+00:00",
        {"WaterTemperature.C": "Temperature.C"},
    )
    assert parsed.table.num_rows == expected.num_rows == 674
    assert parsed.table.equals(expected)


@pytest.mark.parametrize(("choice", "hours"), [("earliest", 0), ("latest", 1)])
def test_in_situ_repeated_hour_earliest_or_latest(
    choice: Literal["earliest", "latest"], hours: int
) -> None:
    """earliest/latest put both passes of the hour on one reading: rows merge in time (the user
    asked for it); every other row keeps its instant."""
    parsed = parse_csv_series(EXPORTS / "insitu_b01_2016-11.csv", CsvOptions(ambiguous=choice))
    times = parsed.table.column("Timestamp").cast(pa.int64()).to_pylist()
    hour = 3_600_000_000
    first = datetime.fromisoformat("2016-11-06T05:00:00+00:00").timestamp() * 1e6
    assert times[338:342] == [first + hours * hour + k * hour // 2 for k in (0, 1, 0, 1)]
    inferred = (
        parse_csv_series(EXPORTS / "insitu_b01_2016-11.csv", CsvOptions(ambiguous="infer"))
        .table.column("Timestamp")
        .cast(pa.int64())
        .to_pylist()
    )
    assert [t for i, t in enumerate(times) if not 338 <= i < 342] == [
        t for i, t in enumerate(inferred) if not 338 <= i < 342
    ]


def test_in_situ_fixed_offset_from_the_preamble() -> None:
    parsed = parse_csv_series(EXPORTS / "insitu_jfk_2013-03.csv")
    assert parsed.zone == "-05:00" and parsed.zone_from == "file"
    assert parsed.table.column_names == ["Timestamp", "Temperature.C", "Barometric_Pressure.mbar"]
    expected = source(
        JFK,
        "2013-03-03T05:00:00+00:00",
        "2013-03-17T05:00:00+00:00",
        {"AirTemperature.C": "Temperature.C", "BarometricPressure.hPa": "Barometric_Pressure.mbar"},
    )
    assert parsed.table.num_rows == expected.num_rows == 335
    assert values(parsed.table, expected.column_names).equals(expected)
    pressure = parsed.table.column("Barometric_Pressure.mbar")
    assert pressure.null_count == 42  # the source's NaN cells, written "" by the export


def test_exo_date_and_time_columns_in_the_given_zone() -> None:
    path = EXPORTS / "exo_b01_2017-03.csv"
    naive = parse_csv_series(path)  # KorEXO states no zone: UTC unless told
    parsed = parse_csv_series(path, CsvOptions(tz="America/New_York"))
    assert parsed.shape == "exo" and parsed.zone_from == "option"
    assert parsed.table.column_names == ["Timestamp", "Site_Name", "Temp.C"]
    assert parsed.columns["Timestamp"] == (
        "Date (MM/DD/YYYY) + Time (HH:mm:ss) + Time (Fract. Sec)"
    )
    assert parsed.columns["Temp.C"] == "Temp °C"
    expected = source(
        B01,
        "2017-03-05T05:00:00+00:00",
        "2017-03-19T04:00:00+00:00",
        {"WaterTemperature.C": "Temp.C"},
    )
    assert parsed.table.num_rows == expected.num_rows == 670
    assert parsed.table.select(["Timestamp", "Temp.C"]).equals(expected)
    assert set(parsed.table.column("Site_Name").to_pylist()) == {"B01"}
    # read as UTC the wall times are 5 h (EST) or 4 h (EDT) early
    shift = pc.subtract(
        parsed.table.column("Timestamp").cast(pa.int64()),
        naive.table.column("Timestamp").cast(pa.int64()),
    )
    assert set(shift.to_pylist()) == {5 * 3_600_000_000, 4 * 3_600_000_000}


def test_logger_semicolons_decimal_commas_and_missing_values() -> None:
    path = EXPORTS / "logger_jfk_2013-07.csv"
    parsed = parse_csv_series(path, LOGGER)
    assert parsed.shape == "plain" and parsed.columns == {}
    names = {
        "AirTemperature.C": "AirTemp_C",
        "RelativeHumidity.pct": "RH_pct",
        "WindDirection.deg": "WindDir_deg",
        "WindSpeed.m_s": "WindSpeed_ms",
        "WindGust.m_s": "WindGust_ms",
        "BarometricPressure.hPa": "Pressure_hPa",
    }
    expected = source(JFK, "2013-07-01T00:00:00+00:00", "2013-08-01T00:00:00+00:00", names)
    got = values(
        parsed.table.rename_columns(["Timestamp", *parsed.table.column_names[1:]]),
        expected.column_names,
    )
    assert got.num_rows == expected.num_rows == 744
    assert got.equals(expected)
    assert parsed.table.schema.field("Pressure_hPa").type == pa.float64()
    assert [
        parsed.table.column(c).null_count
        for c in ("WindGust_ms", "WindSpeed_ms", "Pressure_hPa", "WindDir_deg")
    ] == [706, 2, 84, 11]  # -9999 (708 in all), ERR, NAN


def test_logger_without_its_options_says_what_is_wrong() -> None:
    path = EXPORTS / "logger_jfk_2013-07.csv"
    with pytest.raises(InvalidData, match="no time column"):
        parse_csv_series(path)
    with pytest.raises(InvalidData, match=r"'01\.07\.2013 00:00:00' at data row 1.*--time-format"):
        parse_csv_series(path, CsvOptions(time_column="Date/Time"))
    # no null values given: "ERR" makes the pressure column text, "-9999" stays a number
    parsed = parse_csv_series(path, LOGGER.model_copy(update={"null_values": ()}))
    assert parsed.table.schema.field("Pressure_hPa").type == pa.string()
    assert parsed.table.schema.field("WindDir_deg").type == pa.float64()  # NAN is NaN
    assert pc.min(parsed.table.column("WindGust_ms")).as_py() == -9999


def test_shape_can_be_forced_and_must_then_be_there() -> None:
    with pytest.raises(InvalidData, match="not an exo export"):
        parse_csv_series(EXPORTS / "insitu_b01_2016-11.csv", CsvOptions(shape="exo"))
    plain = parse_csv_series(
        EXPORTS / "insitu_jfk_2013-03.csv",
        CsvOptions(shape="plain", skip_rows=7, time_column="Date Time", tz="-05:00"),
    )
    assert plain.shape == "plain"
    assert plain.table.column_names == [
        "Date Time",
        "Temperature (°C) (812346)",
        "Barometric Pressure (mbar) (812346)",
    ]
    as_written = parse_csv_series(
        EXPORTS / "insitu_jfk_2013-03.csv", CsvOptions(names="as-written")
    )
    assert as_written.table.column_names == plain.table.column_names
    assert as_written.table.column("Date Time").equals(plain.table.column("Date Time"))
