"""duckpond.formats.csv_series on plain CSV files (what timeseries.read_csv_series did)."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest

from duckpond.errors import InvalidData, NotFound
from duckpond.formats import CsvOptions, read_csv_series
from duckpond.timeseries import TIME_TYPE, time_bounds

DATA = Path(__file__).resolve().parents[2] / "data"
REAL_FILES = [
    (DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv", 8706),
    (
        DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv",
        19225,
    ),
]


def us(text: str) -> int:
    import datetime as dt

    moment = dt.datetime.fromisoformat(text)
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def times_us(table: pa.Table, column: str) -> list[int]:
    assert table.schema.field(column).type == TIME_TYPE
    return table.column(column).cast(pa.int64()).to_pylist()


# --- read_csv_series ---


@pytest.mark.parametrize(("file", "rows"), REAL_FILES, ids=lambda p: getattr(p, "stem", str(p)))
def test_real_data_matches_pyarrow(file: Path, rows: int) -> None:
    table, name = read_csv_series(file)
    reference = pcsv.read_csv(file)
    assert name == "Timestamp"
    assert table.num_rows == rows == reference.num_rows
    assert table.schema.names == reference.schema.names
    assert table.schema.field(name).type == TIME_TYPE
    expected_time = reference.column(name).cast(TIME_TYPE)
    assert reference.column(name).type.tz == "UTC"
    assert table.column(name).equals(expected_time)
    assert table.drop_columns([name]).equals(reference.drop_columns([name]))
    low, high = time_bounds(table, name)
    assert low == pc.min(expected_time).cast(pa.int64()).as_py()
    assert high == pc.max(expected_time).cast(pa.int64()).as_py()


def test_sources_path_str_bytes_and_file() -> None:
    file = REAL_FILES[1][0]
    from_path, _ = read_csv_series(str(file))
    from_bytes, _ = read_csv_series(file.read_bytes())
    with open(file, "rb") as handle:
        from_handle, _ = read_csv_series(handle)
    assert from_path.equals(from_bytes)
    assert from_path.equals(from_handle)


def test_csv_time_read_as_text_with_offsets_and_tz() -> None:
    data = (
        b"time,AirTemperature.C,Note\n"
        b"2024-01-01T00:00:00+02:00,1.5,a\n"
        b"2024-03-10T02:30:00,,\n"
        b"2024-03-10 03:30,NaN,c\n"
    )
    with pytest.raises(InvalidData, match="'2024-03-10T02:30:00' at data row 2, a local time"):
        read_csv_series(data, tz="America/New_York")
    table, name = read_csv_series(
        data, tz="America/New_York", options=CsvOptions(nonexistent="shift")
    )
    assert name == "time"
    assert times_us(table, name) == [
        us("2023-12-31T22:00:00+00:00"),
        us("2024-03-10T07:30:00+00:00"),  # 02:30 read at -05:00, the offset before the change
        us("2024-03-10T07:30:00+00:00"),
    ]
    assert table.schema.field("AirTemperature.C").type == pa.float64()
    assert table.column("AirTemperature.C").to_pylist() == [1.5, None, None]
    assert table.column("Note").to_pylist() == ["a", "", "c"]


def test_csv_int_epoch_seconds() -> None:
    table, name = read_csv_series(b"ts,v\n1700000000,1\n1700000060,2\n", time_column="ts")
    assert times_us(table, name) == [1_700_000_000_000_000, 1_700_000_060_000_000]


def test_csv_gzip_path(tmp_path: Path) -> None:
    import gzip

    file = tmp_path / "s.csv.gz"
    file.write_bytes(gzip.compress(b"Timestamp,v\n2024-01-01T00:00:00Z,1\n"))
    table, _ = read_csv_series(file)
    assert table.num_rows == 1


def test_csv_ragged_row(tmp_path: Path) -> None:
    file = tmp_path / "ragged.csv"
    file.write_bytes(b"Timestamp,a,b\n2024-01-01T00:00:00Z,1,2\n\n2024-01-01T01:00:00Z,3\n")
    with pytest.raises(InvalidData) as info:
        read_csv_series(file)
    message = str(info.value)
    assert message.startswith(f"{file}: ")
    assert "expected 3 fields, got 2 at data row 2" in message
    assert "\n" not in message


def test_csv_bad_timestamp_row(tmp_path: Path) -> None:
    data = b"Timestamp,v\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,2\n01/02/2024 10:00,3\n"
    with pytest.raises(InvalidData, match="'01/02/2024 10:00' at data row 3") as info:
        read_csv_series(data, path="/inbox/x.csv")
    assert info.value.path == "/inbox/x.csv"


def test_csv_null_time() -> None:
    with pytest.raises(InvalidData, match="missing time at data row 2"):
        read_csv_series(b"Timestamp,v\n2024-01-01T00:00:00Z,1\n,2\n")


def test_csv_empty_file(tmp_path: Path) -> None:
    file = tmp_path / "empty.csv"
    file.write_bytes(b"")
    with pytest.raises(InvalidData, match="empty file"):
        read_csv_series(file)
    with pytest.raises(InvalidData, match="empty file"):
        read_csv_series(b"\n\r\n")


def test_csv_header_only() -> None:
    with pytest.raises(InvalidData, match="no rows"):
        read_csv_series(b"Timestamp,v\n")


def test_csv_binary_junk() -> None:
    with pytest.raises(InvalidData, match="binary data") as info:
        read_csv_series(bytes(range(256)) * 8, path="/junk.csv")
    assert info.value.path == "/junk.csv"
    with pytest.raises(InvalidData, match="not valid UTF-8"):
        read_csv_series(bytes(range(128, 256)) * 8 + b"\n1,2\n")


def test_csv_non_utf8_cells() -> None:
    latin = "Timestamp,Site\n2024-01-01T00:00:00Z,Oslo\n2024-01-01T01:00:00Z,Tromsø\n"
    with pytest.raises(InvalidData, match="UTF-8 text in column 'Site' at data row 2"):
        read_csv_series(latin.encode("latin-1"))
    bad_time = b"Timestamp,v\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00\xff,2\n"
    with pytest.raises(InvalidData, match="UTF-8 text in column 'Timestamp' at data row 2"):
        read_csv_series(io.BytesIO(bad_time))


def test_csv_requested_time_column_missing() -> None:
    with pytest.raises(InvalidData, match="time column 'when' not found"):
        read_csv_series(b"Timestamp,v\n2024-01-01T00:00:00Z,1\n", time_column="when")


def test_csv_no_time_column() -> None:
    with pytest.raises(InvalidData, match="no time column"):
        read_csv_series(b"a,b\n1,2\n")


def test_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        read_csv_series(tmp_path / "nope.csv")
