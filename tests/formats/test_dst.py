"""Local times across daylight saving changes: never shifted or merged silently.

Real readings (buoy B01 water temperature, every 30 min) are written with their times as local
wall-clock times around the 2024 US changes (America/Chicago: 10 March, 3 November) and the 2024
EU changes (Europe/Berlin: 31 March, 27 October), as loggers write them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from duckpond.errors import InvalidData
from duckpond.formats import CsvOptions, parse_csv_series

B01 = (
    Path(__file__).resolve().parents[2]
    / "data"
    / "neracoos_b01_water_temperature_30min"
    / "neracoos_b01_water_temperature_30min.csv"
)
HALF_HOUR = timedelta(minutes=30)
CHICAGO, BERLIN = ZoneInfo("America/Chicago"), ZoneInfo("Europe/Berlin")


def readings(n: int) -> list[float]:
    return pcsv.read_csv(B01).column("WaterTemperature.C").to_pylist()[:n]


def logged(start_utc: str, n: int, wall: object) -> tuple[bytes, list[int]]:
    """A CSV of n readings every 30 min from start_utc, times written by ``wall(utc)``; and the
    true instants (µs)."""
    start = datetime.fromisoformat(start_utc)
    lines = ["Timestamp,WaterTemperature.C"]
    truth = []
    for k, value in enumerate(readings(n)):
        t = start + k * HALF_HOUR
        when = wall(t)  # type: ignore[operator]
        text = when if isinstance(when, str) else f"{when:%Y-%m-%d %H:%M:%S}"
        lines.append(f"{text},{value}")
        truth.append(int(t.timestamp() * 1_000_000))
    return ("\n".join(lines) + "\n").encode(), truth


def local_in(zone: ZoneInfo):
    return lambda t: t.astimezone(zone)


def times(data: bytes, **options: object) -> list[int]:
    parsed = parse_csv_series(data, CsvOptions(**options), path="/host/logger.csv")  # type: ignore[arg-type]
    return parsed.table.column("Timestamp").cast(pa.int64()).to_pylist()


# --- the repeated hour (clocks go back) ---


@pytest.mark.parametrize(
    ("zone", "tz", "start", "first_repeat"),
    [
        (CHICAGO, "America/Chicago", "2024-11-03T05:00:00+00:00", "2024-11-03 01:00:00"),
        (BERLIN, "Europe/Berlin", "2024-10-26T23:00:00+00:00", "2024-10-27 02:00:00"),
    ],
    ids=["us-2024-11-03", "eu-2024-10-27"],
)
def test_repeated_hour(zone: ZoneInfo, tz: str, start: str, first_repeat: str) -> None:
    data, truth = logged(start, 12, local_in(zone))
    with pytest.raises(InvalidData) as info:
        times(data, tz=tz)
    message = str(info.value)
    assert message.startswith("/host/logger.csv: ")
    assert f"'{first_repeat}' at data row 3, a local time that occurs twice in {tz}" in message
    assert "--ambiguous earliest, latest or infer" in message
    assert "\n" not in message
    assert times(data, tz=tz, ambiguous="infer") == truth
    earliest = times(data, tz=tz, ambiguous="earliest")
    latest = times(data, tz=tz, ambiguous="latest")
    hour = 3_600_000_000
    # rows 3-6 are the repeated hour: 01:00 01:30 | 01:00 01:30 (Chicago; Berlin: 02:00 02:30)
    assert earliest[2:6] == [truth[2], truth[3], truth[2], truth[3]]
    assert latest[2:6] == [truth[4], truth[5], truth[4], truth[5]]
    assert earliest[:2] + earliest[6:] == truth[:2] + truth[6:] == latest[:2] + latest[6:]
    assert truth[4] - truth[2] == hour


def test_infer_needs_the_hour_logged_twice_in_order() -> None:
    data, _ = logged("2024-11-03T05:00:00+00:00", 12, local_in(CHICAGO))
    lines = data.decode().splitlines()  # lines[k] is data row k: 3-4 first pass, 5-6 second
    once = "\n".join(lines[:5] + lines[7:]) + "\n"  # the second pass of the hour is missing
    with pytest.raises(
        InvalidData, match=r"'2024-11-03 01:00:00' at data row 3.*do not show which"
    ):
        times(once.encode(), tz="America/Chicago", ambiguous="infer")
    unordered = "\n".join([*lines[:3], lines[4], lines[3], lines[6], lines[5], *lines[7:]]) + "\n"
    with pytest.raises(
        InvalidData, match=r"'2024-11-03 01:00:00' at data row 6.*do not show which"
    ):
        times(unordered.encode(), tz="America/Chicago", ambiguous="infer")


# --- the skipped hour (clocks go forward) ---


@pytest.mark.parametrize(
    ("tz", "standard", "start", "gap_row", "gap_time"),
    [
        ("America/Chicago", -6, "2024-03-10T07:00:00+00:00", 3, "2024-03-10 02:00:00"),
        ("Europe/Berlin", 1, "2024-03-31T00:00:00+00:00", 3, "2024-03-31 02:00:00"),
    ],
    ids=["us-2024-03-10", "eu-2024-03-31"],
)
def test_skipped_hour_of_a_logger_on_standard_time(
    tz: str, standard: int, start: str, gap_row: int, gap_time: str
) -> None:
    """A logger that never changes its clock writes standard time all year, so some of its times
    fall in the hour that does not exist in the civil zone."""
    offset = timedelta(hours=standard)
    data, truth = logged(start, 8, lambda t: (t + offset).replace(tzinfo=None))
    with pytest.raises(InvalidData) as info:
        times(data, tz=tz)
    message = str(info.value)
    assert (
        f"'{gap_time}' at data row {gap_row}, a local time that does not exist in {tz}" in message
    )
    fixed = f"{'+' if standard >= 0 else '-'}{abs(standard):02d}:00"
    assert "--nonexistent shift" in message and f"--tz {fixed}" in message
    # the right reading: the logger's fixed offset, as the message suggests
    assert times(data, tz=fixed) == truth
    etc = f"Etc/GMT{'-' if standard >= 0 else '+'}{abs(standard)}"  # POSIX signs are inverted
    assert times(data, tz=etc) == truth
    # shift reads the gap rows with the offset before the change (right for them), and the rows
    # after the gap as daylight time (an hour off for this logger): the user chose it
    shifted = times(data, tz=tz, nonexistent="shift")
    hour = 3_600_000_000
    assert shifted[: gap_row + 1] == truth[: gap_row + 1]
    assert [s - t for s, t in zip(shifted[gap_row + 1 :], truth[gap_row + 1 :], strict=True)] == [
        -hour
    ] * (8 - gap_row - 1)


def test_a_logger_that_follows_dst_has_no_gap_rows() -> None:
    for zone, tz, start in [
        (CHICAGO, "America/Chicago", "2024-03-10T06:00:00+00:00"),
        (BERLIN, "Europe/Berlin", "2024-03-31T00:00:00+00:00"),
    ]:
        data, truth = logged(start, 8, local_in(zone))
        assert times(data, tz=tz) == truth


def test_fixed_offsets_always_work_across_the_changes() -> None:
    for start in ("2024-03-10T06:00:00+00:00", "2024-11-03T04:00:00+00:00"):
        data, truth = logged(start, 12, lambda t: (t - timedelta(hours=6)).replace(tzinfo=None))
        assert times(data, tz="-06:00") == truth
        assert times(data, tz="Etc/GMT+6") == truth


def test_offsets_in_the_text_are_instants_whatever_the_zone() -> None:
    data, truth = logged(
        "2024-11-03T04:00:00+00:00", 12, lambda t: t.astimezone(CHICAGO).isoformat()
    )
    assert b"2024-11-03T01:00:00-05:00" in data and b"2024-11-03T01:00:00-06:00" in data
    assert times(data, tz="America/Chicago") == truth


def test_in_situ_preamble_zone_and_option() -> None:
    """A file's stated zone is used; --tz overrides it; a label that is no zone is refused."""
    body, truth = logged("2024-11-03T05:00:00+00:00", 12, local_in(CHICAGO))
    rows = body.decode().splitlines()[1:]
    quoted = "\r\n".join('"' + r.replace(",", '","') + '"' for r in rows)

    def export(zone: str) -> bytes:
        return (
            f'"Location Name:","Lake"\r\n"Time Zone:","{zone}"\r\n\r\n'
            f'"Date Time","Temperature (°C) (1)"\r\n{quoted}\r\n'
        ).encode()

    assert times(export("America/Chicago"), ambiguous="infer") == truth
    with pytest.raises(InvalidData, match="occurs twice in America/Chicago"):
        times(export("America/Chicago"))
    label = "(UTC-06:00) Central Time (US & Canada)"
    with pytest.raises(
        InvalidData, match=r"states the time zone .*Central Time.*give the zone with"
    ):
        times(export(label))
    assert times(export(label), tz="America/Chicago", ambiguous="infer") == truth
    as_utc = times(export("UTC"))  # the file says UTC: its wall times are taken as UTC
    assert as_utc[0] == truth[0] - 5 * 3_600_000_000  # 00:00 CDT read as 00:00Z
