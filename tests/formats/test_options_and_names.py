"""CsvOptions (one type for copy and inbox), its flags, vendor header names, stated zones."""

from __future__ import annotations

import argparse
import typing

import pytest

from duckpond.errors import InvalidData
from duckpond.factories.inbox import InboxConfig
from duckpond.formats import CsvOptions, parse_csv_series
from duckpond.formats.flags import CSV_FLAGS, add_arguments, given_arguments, values_of_arguments
from duckpond.formats.names import exo_name, in_situ_name, map_names
from duckpond.formats.options import CSV_OPTION_FIELDS
from duckpond.formats.shapes import parse_zone


def test_flags_and_options_name_the_same_fields_and_choices() -> None:
    assert [name for name, _ in CSV_FLAGS] == list(CSV_OPTION_FIELDS)
    for name, spec in CSV_FLAGS:
        if "choices" in spec:
            annotation = CsvOptions.model_fields[name].annotation
            assert tuple(spec["choices"]) == typing.get_args(annotation), name
    # the inbox config is the same options plus its own fields
    assert set(CSV_OPTION_FIELDS) <= set(InboxConfig.model_fields)


def test_flags_parse_into_options() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--null-value", "-9999", "--null-value", "ERR", "--decimal", ",", "--skip-rows", "3"]
    )
    assert given_arguments(args) == ["--skip-rows", "--decimal", "--null-value"]
    options = CsvOptions.of(values_of_arguments(args))
    assert options == CsvOptions(skip_rows=3, decimal=",", null_values=("-9999", "ERR"))
    assert CsvOptions.of({}) == CsvOptions()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"delimiter": ";;"}, "delimiter: must be one character"),
        ({"delimiter": ",", "decimal": ","}, "the delimiter and the decimal separator are both"),
        ({"date_column": "D"}, "date_column needs time_column"),
        ({"date_column": "D", "time_column": "D"}, "must be two columns"),
        ({"time_format": "dd.mm.yyyy"}, "is not a strptime format"),
        ({"tz": "Mars/Olympus"}, "tz: unknown time zone 'Mars/Olympus'"),
        ({"skip_rows": -1}, "skip_rows: Input should be greater than or equal to 0"),
        ({"ambiguous": "guess"}, "ambiguous: Input should be 'error', 'earliest'"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_one_line_naming_the_option(values: dict, message: str) -> None:
    with pytest.raises(InvalidData) as info:
        CsvOptions.of(values, "/host/a.csv")
    assert str(info.value).startswith("/host/a.csv: ")
    assert message in str(info.value)


def test_options_from_yaml_values() -> None:
    options = CsvOptions.of({"null_values": [-9999, "ERR", -9999.5], "delimiter": "tab"})
    assert options.null_values == ("-9999", "ERR", "-9999.5")
    assert options.delimiter == "\t"
    assert CsvOptions.of({"null_values": "NAN"}).null_values == ("NAN",)
    assert CsvOptions.of({"tz": "-06:00"}).tz == "-06:00"
    with pytest.raises(Exception, match="frozen"):
        options.tz = "UTC"


@pytest.mark.parametrize(
    ("header", "name", "serial"),
    [
        ("Temperature (°C) (812345)", "Temperature.C", "812345"),
        ("Pressure (psi) (812345)", "Pressure.psi", "812345"),
        ("Specific Conductivity (µS/cm) (812345)", "Specific_Conductivity.uS_cm", "812345"),
        ("Dissolved Oxygen (concentration) (mg/L) (1)", "Dissolved_Oxygen_concentration.mg_L", "1"),
        (
            "Dissolved Oxygen (% saturation) (%Sat) (2)",
            "Dissolved_Oxygen_pct_saturation.pct_sat",
            "2",
        ),
        ("Depth (ft)", "Depth.ft", None),
        ("Baro (inHg) (7)", "Baro.inHg", "7"),
        ("Turbidity (NTU) (3)", "Turbidity.NTU", "3"),
        ("Odd (unit/x) (4)", "Odd.unit_x", "4"),
        ("Marked", "Marked", None),
    ],
)
def test_in_situ_headers(header: str, name: str, serial: str | None) -> None:
    assert in_situ_name(header) == (name, serial)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Temp °C", "Temp.C"),
        ("Cond µS/cm", "Cond.uS_cm"),
        ("nLF Cond µS/cm", "nLF_Cond.uS_cm"),
        ("ODO % sat", "ODO.pct_sat"),
        ("ODO % local", "ODO.pct_local"),
        ("ODO mg/L", "ODO.mg_L"),
        ("Pressure psi a", "Pressure.psi_a"),
        ("Sal psu", "Sal.PSU"),
        ("pH", "pH"),
        ("pH mV", "pH.mV"),
        ("Site Name", "Site_Name"),
        ("Wiper Position volt", "Wiper_Position.V"),
        ("Chlorophyll µg/L", "Chlorophyll.ug_L"),
        ("fDOM QSU", "fDOM.QSU"),
        ("Turbidity FNU", "Turbidity.FNU"),
    ],
)
def test_exo_headers(header: str, name: str) -> None:
    assert exo_name(header) == (name, None)


def test_two_sensors_of_one_parameter_take_their_serial_numbers() -> None:
    mapped = map_names(
        ["Temperature (°C) (812345)", "Temperature (°C) (812346)", "Depth (m) (1)"], "in-situ"
    )
    assert mapped == {
        "Temperature (°C) (812345)": "Temperature_812345.C",
        "Temperature (°C) (812346)": "Temperature_812346.C",
        "Depth (m) (1)": "Depth.m",
    }
    with pytest.raises(InvalidData, match=r"would all be named 'Temp\.C': give --names as-written"):
        map_names(["Temp °C", "Temp  °C"], "exo", path="/h.csv")


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("America/Chicago", "America/Chicago"),
        ("UTC", "UTC"),
        ("GMT", "UTC"),
        ("UTC-06:00", "-06:00"),
        ("GMT+5:30", "+05:30"),
        ("-0600", "-06:00"),
        ("(UTC-05:00)", "-05:00"),
        ("Etc/GMT+6", "Etc/GMT+6"),
    ],
)
def test_zones_a_file_may_state(text: str, zone: str) -> None:
    assert parse_zone(text) == zone


@pytest.mark.parametrize(
    "text",
    [
        "(UTC-06:00) Central Time (US & Canada)",
        "Central Standard Time",
        "CST",
        "Mars/Base",
        "UTC+25",
    ],
)
def test_zones_that_are_refused_rather_than_guessed(text: str) -> None:
    with pytest.raises(InvalidData, match="give the zone with --tz"):
        parse_zone(text, "/h.csv")


def test_utf16_korexo_and_a_date_format_from_the_header() -> None:
    text = (
        "KorEXO MEASUREMENT DATA FILE EXPORT\r\n\r\n"
        "Date (DD/MM/YYYY),Time (HH:mm:ss),Time (Fract. Sec),Site Name,Temp °C\r\n"
        "13/11/2019,08:40:30,0.0,SQR100,14.354\r\n"
        "13/11/2019,08:40:30,0.5,SQR100,14.352\r\n"
    )
    parsed = parse_csv_series(text.encode("utf-16"))
    assert parsed.shape == "exo"
    times = parsed.table.column("Timestamp").to_pylist()
    assert [t.isoformat() for t in times] == [
        "2019-11-13T08:40:30+00:00",
        "2019-11-13T08:40:30.500000+00:00",
    ]
    with pytest.raises(InvalidData, match="not a fraction of a second"):
        parse_csv_series(text.replace("0.5,", "1.5,").encode("utf-16"))
