"""Tests of duckpond.timeseries: time column detection, normalization to µs UTC, DST."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duckpond.errors import InvalidData
from duckpond.timeseries import (
    TIME_COLUMN_CANDIDATES,
    TIME_TYPE,
    detect_time_column,
    normalize_series,
    time_bounds,
)

DATA = Path(__file__).resolve().parents[1] / "data"
REAL_FILES = [
    (DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv", 8706),
    (
        DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv",
        19225,
    ),
]
UTC = dt.UTC


def us(text: str) -> int:
    """µs since the epoch of an ISO-8601 string with an offset."""
    moment = dt.datetime.fromisoformat(text)
    return (moment - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)


def times_us(table: pa.Table, column: str) -> list[int]:
    assert table.schema.field(column).type == TIME_TYPE
    return table.column(column).cast(pa.int64()).to_pylist()


def normalized(values: object, **kwargs: object) -> list[int]:
    table, name = normalize_series(pa.table({"Timestamp": values}), **kwargs)  # type: ignore[arg-type]
    return times_us(table, name)


# --- detect_time_column ---


def schema(*names: str) -> pa.Schema:
    return pa.schema([(name, pa.int64()) for name in names])


def test_detect_prefers_candidates_in_order() -> None:
    assert detect_time_column(schema("value", "ts", "time")) == "time"
    assert detect_time_column(schema("datetime", "Timestamp")) == "Timestamp"
    assert TIME_COLUMN_CANDIDATES[0] == "Timestamp"


def test_detect_falls_back_to_any_case() -> None:
    assert detect_time_column(schema("value", "DateTime")) == "DateTime"
    assert detect_time_column(schema("TS", "TIME")) == "TIME"


def test_detect_requested_wins() -> None:
    assert detect_time_column(schema("Timestamp", "when"), "when") == "when"


def test_detect_requested_missing_names_it() -> None:
    with pytest.raises(InvalidData, match="'when' not found") as info:
        detect_time_column(schema("Timestamp"), "when", path="/a/b.series")
    assert info.value.path == "/a/b.series"
    assert str(info.value).startswith("/a/b.series: ")


def test_detect_no_time_column() -> None:
    with pytest.raises(InvalidData, match=r"no time column \(looked for Timestamp, timestamp"):
        detect_time_column(schema("a", "b"))


# --- normalize_series ---


def test_offsets_are_instants() -> None:
    assert normalized(["2024-01-01T00:00:00+02:00"]) == [us("2023-12-31T22:00:00+00:00")]
    assert normalized(["2024-01-01T00:00:00-0530", "2024-01-01T00:00:00.25Z"]) == [
        us("2024-01-01T05:30:00+00:00"),
        us("2024-01-01T00:00:00.250000+00:00"),
    ]


def test_offset_strings_ignore_tz() -> None:
    assert normalized(["2024-01-01T00:00:00Z"], tz="Asia/Tokyo") == [us("2024-01-01T00:00:00Z")]


def test_naive_strings_are_utc_by_default() -> None:
    assert normalized(["2024-01-01T10:00:00", "2024-01-02", "2024-01-01 10:30"]) == [
        us("2024-01-01T10:00:00+00:00"),
        us("2024-01-02T00:00:00+00:00"),
        us("2024-01-01T10:30:00+00:00"),
    ]


def test_naive_strings_in_a_zone_across_dst() -> None:
    local = [
        "2024-03-10T01:30:00",  # EST
        "2024-03-10T02:30:00",  # does not exist
        "2024-03-10T03:30:00",  # EDT
        "2024-11-03T01:30:00",  # occurs twice
        "2024-11-03T02:30:00",  # EST
    ]
    with pytest.raises(InvalidData, match="'2024-03-10T02:30:00' at data row 2, a local time that"):
        normalized(local, tz="America/New_York")
    with pytest.raises(InvalidData, match="'2024-11-03T01:30:00' at data row 4, a local time th"):
        normalized(local, tz="America/New_York", nonexistent="shift")
    assert normalized(local, tz="America/New_York", nonexistent="shift", ambiguous="earliest") == [
        us("2024-03-10T06:30:00+00:00"),
        us("2024-03-10T07:30:00+00:00"),  # 02:30 with the offset before the change, -05:00
        us("2024-03-10T07:30:00+00:00"),
        us("2024-11-03T05:30:00+00:00"),  # the first 01:30, EDT
        us("2024-11-03T07:30:00+00:00"),
    ]


def test_mixed_strings_blanks_and_sub_microseconds() -> None:
    values = [" 2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00 ", "2024-01-01T00:00:00.1234567Z"]
    assert normalized(values, tz="Europe/Oslo") == [
        us("2023-12-31T23:00:00+00:00"),
        us("2023-12-31T23:00:00+00:00"),
        us("2024-01-01T00:00:00.123456+00:00"),
    ]


def test_large_string_and_dictionary_columns() -> None:
    text = ["2024-01-01T00:00:00Z"]
    expected = [us("2024-01-01T00:00:00+00:00")]
    assert normalized(pa.array(text, pa.large_string())) == expected
    assert normalized(pa.array(text).dictionary_encode()) == expected


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        (1_700_000_000, 1_000_000),  # seconds
        (1_700_000_000_000, 1_000),  # milliseconds
        (1_700_000_000_000_000, 1),  # microseconds
    ],
)
def test_int_epochs_by_magnitude(value: int, unit: int) -> None:
    assert normalized([value, 0]) == [value * unit, 0]


def test_int_epoch_seconds_small_values_and_int32() -> None:
    assert normalized(pa.array([0, 60, -3600], pa.int32())) == [0, 60_000_000, -3_600_000_000]


def test_int_epoch_nanoseconds_floor_to_microseconds() -> None:
    assert normalized([1_700_000_000_000_001_999, -1_500 - 10**17]) == [
        1_700_000_000_000_001,
        -2 - 10**14,
    ]


def test_float_epoch_seconds_round_to_microseconds() -> None:
    assert normalized([1_700_000_000.25, 0.0000004]) == [1_700_000_000_250_000, 0]


def test_timestamps_of_any_unit_and_zone() -> None:
    assert normalized(pa.array([5], pa.timestamp("s", tz="Europe/Oslo"))) == [5_000_000]
    assert normalized(pa.array([5], pa.timestamp("ms"))) == [5_000]
    assert normalized(pa.array([-1_500], pa.timestamp("ns", tz="UTC"))) == [-2]
    naive = pa.array([dt.datetime(2024, 7, 1, 12)], pa.timestamp("ns"))
    assert normalized(naive, tz="Europe/Oslo") == [us("2024-07-01T10:00:00+00:00")]


def test_dates_are_midnight() -> None:
    dates = pa.array([dt.date(2024, 1, 2)], pa.date32())
    assert normalized(dates) == [us("2024-01-02T00:00:00+00:00")]
    assert normalized(dates.cast(pa.date64()), tz="Europe/Oslo") == [
        us("2024-01-01T23:00:00+00:00")
    ]


def test_other_columns_untouched() -> None:
    table = pa.table({"v.C": [1.5, None], "time": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"]})
    out, name = normalize_series(table)
    assert name == "time"
    assert out.schema.names == ["v.C", "time"]
    assert out.column("v.C").equals(table.column("v.C"))
    assert out.schema.field("time").type == TIME_TYPE


def test_bad_timestamp_names_column_row_and_value() -> None:
    values = ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00", "2024-13-01T00:00:00Z", "nope"]
    with pytest.raises(InvalidData) as info:
        normalize_series(pa.table({"when": values}), "when", path="/s/x.series")
    message = str(info.value)
    assert message.startswith("/s/x.series: ")
    assert "'when'" in message
    assert "data row 3" in message
    assert "'2024-13-01T00:00:00Z'" in message
    assert "\n" not in message


def test_bad_row_located_across_chunks() -> None:
    good = pa.array(["2024-01-01T00:00:00Z"] * 1000)
    column = pa.chunked_array([good, good, pa.array(["2024-01-01T00:00:00Z", "x"]), good])
    with pytest.raises(InvalidData, match="'x' at data row 2002"):
        normalize_series(pa.table({"ts": column}))


@pytest.mark.parametrize(
    "values",
    [
        ["2024-01-01T00:00:00Z", None],
        ["2024-01-01T00:00:00Z", ""],
        pa.array([1, None], pa.int64()),
        [1.0, float("nan")],
        pa.array([1, None], pa.timestamp("us")),
    ],
)
def test_null_time(values: object) -> None:
    with pytest.raises(InvalidData, match="'ts' has a missing time at data row 2"):
        normalize_series(pa.table({"ts": values}))


def test_out_of_range_time() -> None:
    with pytest.raises(InvalidData, match="data row 2"):
        normalize_series(pa.table({"ts": pa.array([1, 10**17], pa.timestamp("s", tz="UTC"))}))


def test_unsupported_type_and_unknown_zone() -> None:
    with pytest.raises(InvalidData, match="has type bool"):
        normalize_series(pa.table({"ts": [True]}))
    with pytest.raises(InvalidData, match="unknown time zone 'Mars/Olympus'"):
        normalize_series(pa.table({"ts": ["2024-01-01T00:00:00"]}), tz="Mars/Olympus")


def test_empty_table() -> None:
    with pytest.raises(InvalidData, match="no rows"):
        normalize_series(pa.table({"ts": pa.array([], pa.string())}))


def test_requested_time_column_missing() -> None:
    with pytest.raises(InvalidData, match="'when' not found"):
        normalize_series(pa.table({"Timestamp": [1]}), "when")


OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60)
MOMENTS = st.integers(
    min_value=us("1900-01-01T00:00:00+00:00"), max_value=us("2199-12-31T00:00:00+00:00")
)


def iso(moment_us: int, offset_min: int | None, style: int) -> str:
    """Format µs since the epoch as ISO-8601 local time at the offset (None: naive UTC)."""
    zone = UTC if offset_min is None else dt.timezone(dt.timedelta(minutes=offset_min))
    local = dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=moment_us)
    local = local.astimezone(zone)
    text = local.strftime("%Y-%m-%d") + ("T" if style % 2 else " ") + local.strftime("%H:%M:%S")
    if local.microsecond or style % 3 == 0:
        text += f".{local.microsecond:06d}"
    if offset_min is None:
        return text
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    if offset_min == 0 and style % 5 == 0:
        return text + "Z"
    if minutes == 0 and style % 7 == 0:
        return text + f"{sign}{hours:02d}"
    return text + (
        f"{sign}{hours:02d}{minutes:02d}" if style % 4 == 0 else f"{sign}{hours:02d}:{minutes:02d}"
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(MOMENTS, st.one_of(st.none(), OFFSETS), st.integers(0, 419)),
        min_size=1,
        max_size=20,
    )
)
def test_iso_strings_round_trip(rows: list[tuple[int, int | None, int]]) -> None:
    texts = [iso(moment, offset, style) for moment, offset, style in rows]
    assert normalized(texts) == [moment for moment, _, _ in rows]


# --- time_bounds ---


def test_time_bounds_in_microseconds() -> None:
    table, name = normalize_series(pa.table({"ts": [30, 10, 20]}))
    assert time_bounds(table, name) == (10_000_000, 30_000_000)
    other = pa.table({"t": pa.array([-1_500, 2_000], pa.timestamp("ns"))})
    assert time_bounds(other, "t") == (-2, 2)


def test_time_bounds_errors() -> None:
    with pytest.raises(InvalidData, match="not a timestamp"):
        time_bounds(pa.table({"t": [1]}), "t")
    with pytest.raises(InvalidData, match="no rows"):
        time_bounds(pa.table({"t": pa.array([], TIME_TYPE)}), "t")
