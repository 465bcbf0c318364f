"""Arrow helpers for series data: find the time column, normalize it, read CSV series.

Inside the pond there is one time type, :data:`TIME_TYPE` = ``timestamp[us, tz=UTC]``
(DESIGN.md, "One time unit inside the pond"). Everything that enters a series goes through
:func:`normalize_series`, which converts the time column from whatever the source had:

* ``timestamp`` of any unit. Zoned values are instants and are only converted to µs. Naive values
  are UTC, unless ``tz`` names an IANA zone (e.g. ``"America/New_York"``), in which case they are
  local times in that zone: a DST-ambiguous local time (the repeated hour in autumn) takes the
  earliest instant, a nonexistent one (the skipped hour in spring) is shifted forward to the first
  instant after the gap (02:30 -> 03:00 local). Nanoseconds are floored to whole µs.
* ``date32`` / ``date64``: midnight, treated like a naive timestamp (UTC, or ``tz`` if given).
* integers: epoch time, UTC, with the unit chosen once per column from the largest magnitude ``m``:
  seconds if ``m < 1e11`` (before the year 5138 in seconds), else milliseconds if ``m < 1e14``, else
  microseconds if ``m < 1e17``, else nanoseconds (floored to µs). Floating point columns follow the
  same rule and are rounded to the nearest µs. ``tz`` does not apply (epochs are UTC by definition).
* strings of decimal digits (as in a CSV of epochs): numbers, as above.
* other strings: ISO-8601, ``YYYY-MM-DD[(T| )hh[:mm[:ss[.f...]]]][Z|±hh[[:]mm]]``. Strings with
  an offset or ``Z`` are instants; strings without are naive (UTC, or local in ``tz``). Both kinds
  may be mixed in one column. Leading/trailing blanks are ignored; digits past µs are truncated. The
  compact forms (``20240101``, ``20240101T1000``) and week or ordinal dates are not accepted.

Missing (null, NaN, empty) or unparseable times are :class:`~duckpond.errors.InvalidData`, naming
the column, the first bad row (1-based data row, i.e. not counting a CSV header) and its value.

All conversions are vectorized with :mod:`pyarrow.compute`; the common cases (all strings with an
offset, or all without) cost one cast, about 0.25 s for 10 M rows. Locating a bad row for the error
message bisects the column (about two more passes), so only the error path pays for it.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from typing import BinaryIO, NoReturn

import pyarrow as pa
import pyarrow.compute as pc

from duckpond.errors import InvalidData, NotFound, translate_errors

__all__ = [
    "TIME_COLUMN_CANDIDATES",
    "TIME_TYPE",
    "detect_time_column",
    "normalize_series",
    "read_csv_series",
    "time_bounds",
]

TIME_TYPE = pa.timestamp("us", tz="UTC")
"""The one time type inside the pond: microseconds since the epoch, UTC."""

TIME_COLUMN_CANDIDATES = ("Timestamp", "timestamp", "time", "ts", "datetime")
"""Names tried, in order, when no time column is requested (exact match first, then any case)."""

_NAIVE_US = pa.timestamp("us")
# A string whose time part ends in Z or a numeric offset (the date's own '-' come before the T).
_OFFSET_RE = r"[T ]\d[^+\-Z]*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_SUB_MICRO_RE = r"(\.\d{6})\d+"
_PEEK_BYTES = 1 << 16
_MAX_HEADER_BYTES = 1 << 20
# Locating a ragged row needs a Python pass over the text; past this size we name its text only.
_MAX_LOCATE_BYTES = 64 << 20
_MAX_VALUE_CHARS = 60


def detect_time_column(
    schema: pa.Schema, requested: str | None = None, *, path: str | None = None
) -> str:
    """Choose the time column of a schema.

    Args:
        schema: the schema (only the column names are used).
        requested: a column the caller asked for; it must exist (exact, case-sensitive name).
        path: the path named in errors.

    Returns:
        ``requested`` if given; else the first of :data:`TIME_COLUMN_CANDIDATES` present with that
        exact spelling; else the first column whose name matches a candidate ignoring case
        (candidates tried in order).

    Raises:
        InvalidData: the requested column is missing, or no candidate is present.
    """
    names: list[str] = [str(name) for name in schema.names]
    if requested is not None:
        if requested in names:
            return requested
        raise InvalidData(
            f"time column {requested!r} not found (columns: {_list_names(names)})", path
        )
    for candidate in TIME_COLUMN_CANDIDATES:
        if candidate in names:
            return candidate
    lowered = [name.lower() for name in names]
    for candidate in TIME_COLUMN_CANDIDATES:
        if candidate.lower() in lowered:
            return names[lowered.index(candidate.lower())]
    raise InvalidData(
        f"no time column (looked for {', '.join(TIME_COLUMN_CANDIDATES)}; "
        f"columns: {_list_names(names)})",
        path,
    )


def normalize_series(
    table: pa.Table,
    time_column: str | None = None,
    *,
    tz: str | None = None,
    path: str | None = None,
) -> tuple[pa.Table, str]:
    """Cast a table's time column to :data:`TIME_TYPE` (µs since the epoch, UTC).

    The accepted input types and how naive times, ``tz`` and integer epochs are read are described
    in the module docstring. Other columns, the column order and the row order are unchanged.

    Args:
        table: the rows; must have at least one.
        time_column: the time column's name, or ``None`` to detect it (:func:`detect_time_column`).
        tz: IANA zone of naive times (naive timestamps, dates and strings without an offset);
            ``None`` means UTC. Ignored for zoned timestamps, offsets in strings and epoch numbers.
        path: the path named in errors.

    Returns:
        ``(table, name)``: the table with its time column of type ``timestamp[us, tz=UTC]`` and the
        name of that column.

    Raises:
        InvalidData: no rows, no (or a missing requested) time column, an unknown ``tz``, a time
            column of another type, or a missing / unparseable / out-of-range time (the message
            names the column, the 1-based data row and the value).
    """
    name = detect_time_column(table.schema, time_column, path=path)
    if table.num_rows == 0:
        raise InvalidData("no rows", path)
    if tz is not None:
        _check_zone(tz, path)
    index = table.schema.get_field_index(name)
    column = table.column(index)
    converted = _to_time(column, name, tz, path)
    return table.set_column(index, pa.field(name, TIME_TYPE), converted), name


def time_bounds(table: pa.Table, time_column: str) -> tuple[int, int]:
    """Return the earliest and latest time of a table.

    Args:
        table: rows with a timestamp column (normally already :func:`normalize_series`-d; other
            units are converted, naive timestamps are taken as UTC). Nulls are ignored.
        time_column: the column's name.

    Returns:
        ``(min, max)`` as integer microseconds since 1970-01-01T00:00:00Z.

    Raises:
        InvalidData: the column is missing or not a timestamp, or there is no non-null time.
    """
    name = detect_time_column(table.schema, time_column)
    column = table.column(name)
    if not pa.types.is_timestamp(column.type):
        raise InvalidData(f"time column {name!r} has type {column.type}, not a timestamp")
    if column.type.unit == "ns":
        values = _floor_ns_to_us(column.cast(pa.int64()))
    else:
        values = column.cast(pa.timestamp("us", tz=column.type.tz)).cast(pa.int64())
    bounds = pc.min_max(values)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is None or high is None:
        raise InvalidData("no rows")
    return int(low), int(high)


def read_csv_series(
    source: str | os.PathLike[str] | bytes | BinaryIO,
    *,
    time_column: str | None = None,
    tz: str | None = None,
    path: str | None = None,
) -> tuple[pa.Table, str]:
    """Read a CSV file with a header row into a series table.

    The time column (``time_column`` or the detected one) is read as text and converted by
    :func:`normalize_series`, so offsets and naive local times are handled there rather than by
    pyarrow's type guesses. The other columns keep pyarrow's inferred types and pyarrow's null
    spellings (an empty numeric cell, ``NA``, ``NaN``, ``null``, ... are nulls; empty text cells
    stay empty strings). Column names are kept as written (``"AirTemperature.C"``). Compressed files
    (``.gz``, ``.bz2``, ...) are read when ``source`` is a path with that extension.

    Args:
        source: a host path, the file's bytes, or a binary file object (read to its end).
        time_column: the time column's name, or ``None`` to detect it.
        tz: IANA zone of naive times; ``None`` means UTC (see :func:`normalize_series`).
        path: the path named in errors; defaults to ``source`` when that is a path.

    Returns:
        ``(table, name)`` as from :func:`normalize_series`: time column ``timestamp[us, tz=UTC]``.

    Raises:
        NotFound: ``source`` is a path that does not exist.
        InvalidData: an empty file, a header without rows, binary or non-UTF-8 content, a row with
            the wrong number of fields, or any error of :func:`normalize_series`. The message is one
            line naming ``path`` and, where it can be found, the 1-based data row.
    """
    import pyarrow.csv as pcsv

    if isinstance(source, str | os.PathLike):
        file_name = os.fspath(source)
        path = file_name if path is None else path
        try:
            with translate_errors(path, what="reading CSV"), pa.input_stream(file_name) as stream:
                head = _read_head(stream)
        except NotFound as exc:
            raise NotFound("no such file", path) from exc

        def reopen() -> object:
            return file_name  # pyarrow opens (and decompresses) the path itself

    else:
        data = source if isinstance(source, bytes | bytearray | memoryview) else source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        if path is None and not isinstance(source, bytes | bytearray | memoryview):
            name_attr = getattr(source, "name", None)
            path = name_attr if isinstance(name_attr, str) else None
        buffer = pa.py_buffer(bytes(data))
        head = buffer.slice(0, min(len(buffer), _MAX_HEADER_BYTES)).to_pybytes()

        def reopen() -> object:
            return pa.BufferReader(buffer)

    names = _header_names(head, path)
    name = detect_time_column(pa.schema([(n, pa.null()) for n in names]), time_column, path=path)

    ragged: list[tuple[int, int, str]] = []

    def on_invalid_row(row: pcsv.InvalidRow) -> str:
        if not ragged:
            ragged.append((row.expected_columns, row.actual_columns, row.text or ""))
        return "error"

    def read(column_types: dict[str, pa.DataType]) -> pa.Table:
        return pcsv.read_csv(
            reopen(),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid_row),
            convert_options=pcsv.ConvertOptions(column_types=column_types),
        )

    try:
        table = read({name: pa.string()})
    except pa.ArrowInvalid as exc:
        if ragged:
            raise _ragged_error(ragged[0], reopen, path) from exc
        if "UTF8" in str(exc):
            # The time column is not UTF-8: read it as bytes to find the row.
            try:
                table = read({name: pa.binary()})
            except pa.ArrowInvalid:
                raise InvalidData(f"not valid UTF-8 text ({_first_line(exc)})", path) from exc
        else:
            raise InvalidData(f"bad CSV: {_first_line(exc)}", path) from exc
    for field in table.schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            column = table.column(field.name)
            row = _first_failure(column, lambda part: part.cast(pa.string()))
            raise InvalidData(
                f"not valid UTF-8 text in column {field.name!r} at data row {row + 1}", path
            )
    return normalize_series(table, name, tz=tz, path=path)


# --- conversion -----------------------------------------------------------------------------------


def _to_time(
    column: pa.ChunkedArray, name: str, tz: str | None, path: str | None
) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
        column = column.cast(pa.string())
        kind = column.type

    if column.null_count:
        _raise_bad(column, _first_true(pc.is_null(column)), name, path)

    convert: Callable[[pa.ChunkedArray], pa.ChunkedArray]
    if pa.types.is_timestamp(kind):
        if kind.tz is None:

            def convert(part: pa.ChunkedArray) -> pa.ChunkedArray:
                return _to_us(_localize(part, tz))

        else:
            convert = _to_us
    elif pa.types.is_date(kind):

        def convert(part: pa.ChunkedArray) -> pa.ChunkedArray:
            return _to_us(_localize(part.cast(_NAIVE_US), tz))

    elif pa.types.is_integer(kind):
        convert = _epoch_converter(column)
    elif pa.types.is_floating(kind):
        nan = pc.is_nan(column)
        if pc.any(nan).as_py():
            _raise_bad(column, _first_true(nan), name, path)
        convert = _epoch_converter(column)
    elif pa.types.is_string(kind):
        try:
            return _parse_strings_fast(column, tz)
        except pa.ArrowInvalid:
            pass
        numbers = _numeric_text(column)
        if numbers is not None:
            return _to_time(numbers, name, tz, path)

        def convert(part: pa.ChunkedArray) -> pa.ChunkedArray:
            return _parse_strings(part, tz)

    else:
        raise InvalidData(
            f"time column {name!r} has type {kind}; expected a timestamp, date, integer epoch "
            "or ISO-8601 string",
            path,
        )
    try:
        return convert(column)
    except (pa.ArrowInvalid, OverflowError):
        _raise_bad(column, _first_failure(column, convert), name, path)


def _to_us(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Zoned timestamp of any unit -> TIME_TYPE; ns are floored to whole µs."""
    if column.type.unit == "ns":
        try:
            return column.cast(TIME_TYPE)
        except pa.ArrowInvalid:  # sub-µs digits: floor them
            return _floor_ns_to_us(column.cast(pa.int64())).cast(TIME_TYPE)
    return column.cast(TIME_TYPE)


def _floor_ns_to_us(values: pa.ChunkedArray) -> pa.ChunkedArray:
    quotient = pc.divide(values, 1000)  # truncates toward zero
    below = pc.less(values, pc.multiply(quotient, 1000))  # negative with a remainder
    return pc.if_else(below, pc.subtract(quotient, 1), quotient)


def _localize(naive: pa.ChunkedArray, tz: str | None) -> pa.ChunkedArray:
    """Naive timestamps -> zoned ones, reading them as local time in tz (UTC when None)."""
    if tz is None or tz == "UTC":
        return naive.cast(pa.timestamp(naive.type.unit, tz="UTC"))
    return pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="latest")


def _epoch_converter(column: pa.ChunkedArray) -> Callable[[pa.ChunkedArray], pa.ChunkedArray]:
    """Pick the epoch unit from the column's largest magnitude; return part -> TIME_TYPE."""
    bounds = pc.min_max(column)
    magnitude = max(abs(bounds["min"].as_py()), abs(bounds["max"].as_py()))
    floating = pa.types.is_floating(column.type)
    if magnitude < 1e11:
        factor = 1_000_000  # seconds
    elif magnitude < 1e14:
        factor = 1_000  # milliseconds
    elif magnitude < 1e17:
        factor = 1  # microseconds
    else:
        factor = 0  # nanoseconds

    def convert(part: pa.ChunkedArray) -> pa.ChunkedArray:
        if floating:
            scaled = pc.multiply(part, float(factor) if factor else 1e-3)
            values = pc.round(scaled).cast(pa.int64())
        else:
            values = part.cast(pa.int64())
            if factor == 0:
                values = _floor_ns_to_us(values)
            elif factor != 1:
                values = pc.multiply_checked(values, factor)
        return values.cast(TIME_TYPE)

    return convert


def _parse_strings_fast(column: pa.ChunkedArray, tz: str | None) -> pa.ChunkedArray:
    """One cast when every string has an offset, or none has; raises ArrowInvalid otherwise."""
    try:
        return column.cast(TIME_TYPE)
    except pa.ArrowInvalid:
        return _to_us(_localize(column.cast(_NAIVE_US), tz))


def _numeric_text(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Text that is all integers (or all decimal numbers) as int64 (float64), else None."""
    first = column[0].as_py().strip()
    if not first.lstrip("+-").replace(".", "", 1).isdigit():
        return None  # cheap exit for ISO text
    if pc.all(pc.match_substring_regex(column, r"^\s*[+-]?\d+\s*$")).as_py():
        target = pa.int64()
    elif pc.all(pc.match_substring_regex(column, r"^\s*[+-]?\d+(\.\d*)?\s*$")).as_py():
        target = pa.float64()
    else:
        return None
    try:
        return pc.utf8_trim_whitespace(column).cast(target)
    except pa.ArrowInvalid:  # an integer beyond int64
        return None


def _parse_strings(column: pa.ChunkedArray, tz: str | None) -> pa.ChunkedArray:
    """ISO-8601 strings, with or without offsets, mixed, padded, with sub-µs digits."""
    text = pc.utf8_trim_whitespace(column)
    try:
        return _parse_mixed(text, tz)
    except pa.ArrowInvalid:
        return _parse_mixed(pc.replace_substring_regex(text, _SUB_MICRO_RE, r"\1"), tz)


def _parse_mixed(text: pa.ChunkedArray, tz: str | None) -> pa.ChunkedArray:
    has_offset = pc.match_substring_regex(text, _OFFSET_RE)
    zoned_text = pc.if_else(has_offset, text, pa.scalar("1970-01-01T00:00:00Z"))
    naive_text = pc.if_else(has_offset, pa.scalar("1970-01-01T00:00:00"), text)
    zoned = zoned_text.cast(TIME_TYPE)
    local = _to_us(_localize(naive_text.cast(_NAIVE_US), tz))
    return pc.if_else(has_offset, zoned, local)


def _check_zone(tz: str, path: str | None) -> None:
    try:
        pc.assume_timezone(pa.array([0], _NAIVE_US), tz)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidData(
            f"unknown time zone {tz!r} (use an IANA name such as 'Europe/Oslo')", path
        ) from exc


# --- locating the bad row -------------------------------------------------------------------------


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.index(mask, True).as_py())


def _first_failure(column: pa.ChunkedArray, convert: Callable[[pa.ChunkedArray], object]) -> int:
    """Index of the first row that makes ``convert`` raise, by bisection (``convert`` is row-wise
    and raises on the whole column). About two passes over the column in all."""
    low, high = 0, len(column)
    while high - low > 1:
        middle = (low + high) // 2
        try:
            convert(column.slice(low, middle - low))
        except (pa.ArrowInvalid, OverflowError):
            high = middle
        else:
            low = middle
    return low


def _raise_bad(column: pa.ChunkedArray, row: int, name: str, path: str | None) -> NoReturn:
    try:
        value = column[row].as_py()
    except (OverflowError, ValueError):  # a timestamp outside Python's datetime range
        value = f"{column.cast(pa.int64())[row].as_py()} {column.type.unit} since the epoch"
    if value is None or (isinstance(value, float) and value != value) or value == "":
        what = "a missing time"
    else:
        shown = repr(value)
        if len(shown) > _MAX_VALUE_CHARS:
            shown = shown[: _MAX_VALUE_CHARS - 3] + "..."
        what = f"a bad time {shown}"
    raise InvalidData(f"time column {name!r} has {what} at data row {row + 1}", path)


# --- CSV details ----------------------------------------------------------------------------------


def _read_head(stream: pa.NativeFile) -> bytes:
    """The file's first bytes, enough to hold the header line."""
    head = b""
    while len(head) < _MAX_HEADER_BYTES:
        chunk = stream.read(_PEEK_BYTES)
        if not chunk:
            break
        head += chunk
        if b"\n" in head.lstrip(b"\r\n"):
            break
    return head


def _header_names(head: bytes, path: str | None) -> list[str]:
    """Column names from the header line (the first non-blank line), as pyarrow will read them."""
    if b"\x00" in head[:_PEEK_BYTES]:
        raise InvalidData("binary data, not CSV text", path)
    text = head.lstrip(b"\r\n")
    if not text:
        raise InvalidData("empty file", path)
    line = text.split(b"\n", 1)[0].rstrip(b"\r")
    if line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidData("not valid UTF-8 text in the header", path) from exc
    return next(csv.reader([decoded]))


def _ragged_error(
    info: tuple[int, int, str], reopen: Callable[[], object], path: str | None
) -> InvalidData:
    expected, actual, text = info
    row = _locate_ragged_row(reopen, expected)
    where = f" at data row {row}" if row is not None else ""
    shown = text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."
    return InvalidData(f"expected {expected} fields, got {actual}{where}: {shown!r}", path)


def _locate_ragged_row(reopen: Callable[[], object], expected: int) -> int | None:
    """pyarrow does not report the row of a ragged line; count it with Python's csv (error path,
    files up to 64 MiB only)."""
    try:
        with pa.input_stream(reopen()) as stream:  # decompresses .gz etc. like read_csv
            data = stream.read(_MAX_LOCATE_BYTES + 1)
        if len(data) > _MAX_LOCATE_BYTES:
            return None
        reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
        header_seen = False
        row = 0
        for fields in reader:
            if not fields:
                continue  # blank line: pyarrow skips it too
            if not header_seen:
                header_seen = True
                continue
            row += 1
            if len(fields) != expected:
                return row
    except (OSError, pa.ArrowException, csv.Error):
        return None
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _list_names(names: list[str]) -> str:
    shown = ", ".join(names[:20])
    if len(names) > 20:
        shown += f", ... ({len(names)} in all)"
    return shown or "none"
