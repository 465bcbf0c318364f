"""Where the header row is, what the columns are called, and the zone a file states.

Detection reads only the first lines of a file (the text before the first MiB). Shapes:

``in-situ``
    In-Situ software (Aqua TROLL / Rugged TROLL loggers through VuSitu, HydroVu exports): a
    preamble of ``"Key:","Value"`` lines (``"Location Name:"``, ``"Time Zone:"``, ...), a blank
    line, then the header row whose first field is ``Date Time``, followed by columns such as
    ``"Temperature (°C) (812345)"``; often CRLF line ends. Detected by a row whose first field is
    ``Date Time`` and another field is ``<parameter> (<unit>)``. The time column is
    ``Date Time``; the zone is the preamble's ``Time Zone`` (:func:`parse_zone`).
``exo``
    YSI EXO sondes through KorEXO (``KorEXO MEASUREMENT DATA FILE EXPORT``): a UTF-8 (or UTF-16)
    byte order mark, a preamble (``FILE CREATED:``, ``MEAN VALUE:``, ``SENSOR SERIAL NUMBER:``
    rows), then a header whose first fields are ``Date (MM/DD/YYYY)`` and ``Time (HH:mm:ss)``.
    Detected by that pair. The date and time columns are joined, their ``strptime`` format taken
    from the header's pattern (``MM/DD/YYYY`` -> ``%m/%d/%Y``, ``DD/MM/YYYY`` -> ``%d/%m/%Y``,
    ``HH:mm:ss`` -> ``%H:%M:%S``); a ``Time (Fract. Sec)`` column adds its fraction of a second.
    KorEXO states no zone: the times are UTC unless ``tz`` is given.
``plain``
    Anything else: the header is the first non-blank line after ``skip_rows``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import Final

from duckpond.errors import InvalidData

__all__ = [
    "DELIMITERS",
    "EXO_FRACTION_COLUMN",
    "Layout",
    "detect",
    "parse_zone",
    "split_line",
]

DELIMITERS: Final = (",", ";", "\t", "|")
"""Delimiters tried when none is given, in order of preference on a tie."""

EXO_FRACTION_COLUMN: Final = "Time (Fract. Sec)"
"""The KorEXO column holding the fraction of a second of each row's time."""

_IN_SITU_TIME: Final = "Date Time"
_UNIT_HEADER: Final = re.compile(r"^.+ \([^()]*\)(?: \(\d+\))?$")
_EXO_DATE: Final = re.compile(r"^Date \(([^()]*)\)$")
_EXO_TIME: Final = re.compile(r"^Time \(([^()]*)\)$")
_PATTERN_TOKENS: Final = (
    ("YYYY", "%Y"),
    ("yyyy", "%Y"),
    ("YY", "%y"),
    ("yy", "%y"),
    ("MM", "%m"),
    ("DD", "%d"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("hh", "%I"),
    ("mm", "%M"),
    ("ss", "%S"),
)
_MAX_SCAN_LINES: Final = 200
_OFFSET: Final = re.compile(r"^\(?(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?\)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Layout:
    """What detection found out about a file.

    Attributes:
        shape: ``in-situ``, ``exo`` or ``plain``.
        header_line: 0-based physical line of the header row (= pyarrow's ``skip_rows``).
        delimiter: the field delimiter.
        names: the header row's fields as written (a leading byte order mark removed).
        time_column: the time column the shape implies, or ``None``.
        date_column: the date column the shape implies (EXO), or ``None``.
        time_format: the ``strptime`` format the shape implies, or ``None``.
        zone: the zone the file states, as written (In-Situ ``Time Zone:``), or ``None``.
        preamble: the ``Key: value`` pairs before the header (keys without the colon).
    """

    shape: str
    header_line: int
    delimiter: str
    names: tuple[str, ...]
    time_column: str | None = None
    date_column: str | None = None
    time_format: str | None = None
    zone: str | None = None
    preamble: dict[str, str] = field(default_factory=dict)


def split_line(line: str, delimiter: str) -> list[str]:
    """The fields of one CSV line (quotes honoured; a line with a field longer than Python's csv
    limit, 128 KiB, a data line and never a header, is split at each delimiter)."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


def _best_delimiter(line: str) -> str:
    best, most = ",", 1
    for d in DELIMITERS:
        n = len(split_line(line, d))
        if n > most:
            best, most = d, n
    return best


def _strptime_of(pattern: str) -> str | None:
    out = pattern
    for token, directive in _PATTERN_TOKENS:
        out = out.replace(token, directive)
    if re.search(r"[A-Za-z]", re.sub(r"%[A-Za-z]", "", out)):
        return None  # a letter that is not a directive: an unknown pattern
    return out


def detect(
    lines: list[str],
    *,
    shape: str = "auto",
    skip_rows: int | None = None,
    delimiter: str | None = None,
    path: str | None = None,
) -> Layout:
    """Find the header row and the shape of a file from its first lines.

    Args:
        lines: the file's first physical lines, decoded, without line ends.
        shape: ``auto``, ``plain``, ``in-situ`` or ``exo`` (a vendor shape is required: it is an
            error if its header is not found).
        skip_rows: lines before the header, if the caller knows them.
        delimiter: the delimiter, if the caller knows it.
        path: the file named in errors.

    Raises:
        InvalidData: an empty file, or a vendor shape whose header row is not there.
    """
    if skip_rows is None and shape in {"auto", "in-situ", "exo"}:
        found = _find_vendor_header(lines, shape, delimiter)
        if found is not None:
            return _vendor_layout(lines, *found)
        if shape != "auto":
            what = "'Date Time'" if shape == "in-situ" else "'Date (...)' and 'Time (...)'"
            raise InvalidData(
                f"not an {shape} export: no header row starting with {what} in the first "
                f"{_MAX_SCAN_LINES} lines",
                path,
            )
    start = skip_rows or 0
    index = start
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index >= len(lines):
        what = "empty file" if skip_rows is None else f"no header row after {start} skipped lines"
        raise InvalidData(what, path)
    line = lines[index]
    delim = delimiter or _best_delimiter(line)
    names = split_line(_without_bom(line), delim)
    if shape in {"in-situ", "exo"}:
        fields = _vendor_fields(names, shape)
        if fields is None:
            raise InvalidData(f"line {index + 1} is not the header row of an {shape} export", path)
        return _vendor_layout(lines, index, delim, names, *fields)
    return Layout("plain", index, delim, tuple(names))


def _without_bom(line: str) -> str:
    return line[1:] if line.startswith("\ufeff") else line


def _vendor_fields(names: list[str], shape: str) -> tuple[str, str | None, str | None] | None:
    """(shape, date column, time format) if ``names`` is the header of a vendor shape."""
    clean = [n.strip() for n in names]
    if (
        shape in {"auto", "in-situ"}
        and clean
        and clean[0] == _IN_SITU_TIME
        and (shape == "in-situ" or any(_UNIT_HEADER.match(n) for n in clean[1:]))
    ):
        return "in-situ", None, None
    if shape in {"auto", "exo"} and len(clean) >= 2:
        date, time = _EXO_DATE.match(clean[0]), _EXO_TIME.match(clean[1])
        if date and time:
            d, t = _strptime_of(date.group(1)), _strptime_of(time.group(1))
            return "exo", names[0], f"{d} {t}" if d and t else None
    return None


def _find_vendor_header(
    lines: list[str], shape: str, delimiter: str | None
) -> tuple[int, str, list[str], str, str | None, str | None] | None:
    for index, line in enumerate(lines[:_MAX_SCAN_LINES]):
        if not line.strip():
            continue
        for d in (delimiter,) if delimiter else DELIMITERS:
            names = split_line(_without_bom(line), d)
            if len(names) < 2:
                continue
            found = _vendor_fields(names, shape)
            if found is not None:
                return (index, d, names, *found)
    return None


def _vendor_layout(
    lines: list[str],
    index: int,
    delimiter: str,
    names: list[str],
    shape: str,
    date_column: str | None,
    time_format: str | None,
) -> Layout:
    preamble: dict[str, str] = {}
    for line in lines[:index]:
        fields = [f.strip() for f in split_line(_without_bom(line), delimiter)]
        fields = [f for f in fields if f]
        if len(fields) >= 2 and fields[0].endswith(":"):
            preamble.setdefault(fields[0][:-1].strip(), fields[1])
        elif len(fields) == 1 and ":" in fields[0]:
            key, _, value = fields[0].partition(":")
            if value.strip():
                preamble.setdefault(key.strip(), value.strip())
    zone = None
    for key, value in preamble.items():
        if key.lower() in {"time zone", "timezone", "time zone name"}:
            zone = value
            break
    if shape == "in-situ":
        return Layout(
            shape, index, delimiter, tuple(names), _IN_SITU_TIME, None, None, zone, preamble
        )
    time_column = names[1]
    return Layout(
        shape, index, delimiter, tuple(names), time_column, date_column, time_format, zone, preamble
    )


def parse_zone(text: str, path: str | None = None) -> str:
    """The zone a file states, as a zone pyarrow reads.

    Accepted: an IANA name (``America/Chicago``); ``UTC``, ``GMT``, ``Z``; a UTC offset with or
    without a prefix (``UTC-06:00``, ``GMT+5:30``, ``-0600``, ``(UTC-06:00)``), which becomes a
    fixed offset ``±HH:MM``. Anything else, such as a Windows zone label
    (``(UTC-06:00) Central Time (US & Canada)``, which follows DST although it shows one offset),
    is refused rather than guessed.

    Raises:
        InvalidData: a zone that is none of these; the message asks for ``--tz``.
    """
    from duckpond.timeseries import check_zone

    value = text.strip()
    if value.upper() in {"UTC", "GMT", "Z", "UTC+00:00", "GMT+00:00"}:
        return "UTC"
    m = _OFFSET.match(value)
    if m:
        sign, hours, minutes = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if hours <= 14 and minutes < 60:
            return f"{sign}{hours:02d}:{minutes:02d}"
    if "/" in value and " " not in value:
        try:
            return check_zone(value, path)
        except InvalidData:
            pass
    raise InvalidData(
        f"the file states the time zone {value!r}, which is not an IANA name (America/Chicago) "
        "or a UTC offset (-06:00): give the zone with --tz",
        path,
    )
