"""Arrow helpers for series data: find the time column and normalize it to µs UTC.

Inside the pond there is one time type, :data:`TIME_TYPE` = ``timestamp[us, tz=UTC]``
(docs/design.md, "Naming and times"). Everything that enters a series goes through
:func:`normalize_series`, which converts the time column from whatever the source had:

* ``timestamp`` of any unit. Zoned values are instants and are only converted to µs. Naive values
  are UTC, unless ``tz`` names a zone: an IANA name (``"America/New_York"``, ``"Etc/GMT+6"``) or a
  fixed offset (``"-06:00"``), in which case they are local times in that zone (see "Daylight
  saving time" below). Nanoseconds are floored to whole µs.
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

Daylight saving time. In a zone with DST some local times do not exist (the hour skipped when
clocks go forward) and some occur twice (the hour repeated when they go back). Such times are never
shifted or merged silently: by default they are :class:`~duckpond.errors.InvalidData` naming the
first such row and the fix. ``ambiguous`` chooses the repeated hour's reading: ``"earliest"`` (the
first occurrence, daylight time), ``"latest"`` (the second, standard time) or ``"infer"``: rows are
taken to be logged in time order, so within each run of consecutive repeated-hour rows the row where
the local time goes back (or repeats) starts the second occurrence; a run that never goes back, or
goes back twice, cannot be inferred and is an error. ``nonexistent="shift"`` reads a skipped local
time with the UTC offset in force just before the change (``02:30`` on a spring-forward night in
``America/Chicago`` is read as ``02:30-06:00`` = ``03:30`` CDT), which is what a clock that had not
yet moved forward meant. A logger that never follows DST writes standard time all year: give a
fixed-offset zone for it instead (``-06:00`` or ``Etc/GMT+6``), which has neither case.

Missing (null, NaN, empty) or unparseable times are :class:`~duckpond.errors.InvalidData`, naming
the column, the first bad row (1-based data row, i.e. not counting a CSV header) and its value.

All conversions are vectorized with :mod:`pyarrow.compute`; the common cases (all strings with an
offset, or all without) cost one cast, about 0.25 s for 10 M rows. Locating a bad row for the error
message bisects the column (about two more passes), so only the error path pays for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple, NoReturn

import pyarrow as pa
import pyarrow.compute as pc

from duckpond.errors import InvalidData

__all__ = [
    "AMBIGUOUS_CHOICES",
    "NONEXISTENT_CHOICES",
    "TIME_COLUMN_CANDIDATES",
    "TIME_TYPE",
    "Ambiguous",
    "Nonexistent",
    "check_zone",
    "detect_time_column",
    "normalize_series",
    "time_bounds",
]

TIME_TYPE = pa.timestamp("us", tz="UTC")
"""The one time type inside the pond: microseconds since the epoch, UTC."""

TIME_COLUMN_CANDIDATES = ("Timestamp", "timestamp", "time", "ts", "datetime")
"""Names tried, in order, when no time column is requested (exact match first, then any case)."""

Ambiguous = Literal["error", "earliest", "latest", "infer"]
"""How a local time that occurs twice (DST ends) is read; see the module docstring."""
Nonexistent = Literal["error", "shift"]
"""How a local time that does not exist (DST begins) is read; see the module docstring."""
AMBIGUOUS_CHOICES: tuple[Ambiguous, ...] = ("error", "earliest", "latest", "infer")
NONEXISTENT_CHOICES: tuple[Nonexistent, ...] = ("error", "shift")

_NAIVE_US = pa.timestamp("us")
# A string whose time part ends in Z or a numeric offset (the date's own '-' come before the T).
_OFFSET_RE = r"[T ]\d[^+\-Z]*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_SUB_MICRO_RE = r"(\.\d{6})\d+"
_MAX_VALUE_CHARS = 60


class _Zone(NamedTuple):
    """How naive times are read: the zone (None: UTC) and the DST choices."""

    tz: str | None
    ambiguous: Ambiguous = "error"
    nonexistent: Nonexistent = "error"


class _DstError(pa.ArrowInvalid):  # type: ignore[misc]
    """A local time that does not exist or occurs twice, at ``row`` of the part converted."""

    def __init__(self, kind: str, row: int, zone: _Zone, offset_before_us: int | None = None):
        super().__init__(kind)
        self.kind = kind  # "nonexistent" | "ambiguous" | "uninferable"
        self.row = row
        self.zone = zone
        self.offset_before_us = offset_before_us


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
    ambiguous: Ambiguous = "error",
    nonexistent: Nonexistent = "error",
    path: str | None = None,
) -> tuple[pa.Table, str]:
    """Cast a table's time column to :data:`TIME_TYPE` (µs since the epoch, UTC).

    The accepted input types and how naive times, ``tz`` and integer epochs are read are described
    in the module docstring. Other columns, the column order and the row order are unchanged.

    Args:
        table: the rows; must have at least one.
        time_column: the time column's name, or ``None`` to detect it (:func:`detect_time_column`).
        tz: zone of naive times (naive timestamps, dates and strings without an offset): an IANA
            name or a fixed offset ``±HH:MM``; ``None`` means UTC. Ignored for zoned timestamps,
            offsets in strings and epoch numbers.
        ambiguous: how a local time that occurs twice in ``tz`` is read (module docstring).
        nonexistent: how a local time that does not exist in ``tz`` is read (module docstring).
        path: the path named in errors.

    Returns:
        ``(table, name)``: the table with its time column of type ``timestamp[us, tz=UTC]`` and the
        name of that column.

    Raises:
        InvalidData: no rows, no (or a missing requested) time column, an unknown ``tz``, a time
            column of another type, a missing / unparseable / out-of-range time, or a local time
            that does not exist or occurs twice in ``tz`` while ``ambiguous``/``nonexistent`` are
            ``"error"`` (each message names the column, the 1-based data row and the value).
    """
    name = detect_time_column(table.schema, time_column, path=path)
    if table.num_rows == 0:
        raise InvalidData("no rows", path)
    if tz is not None:
        check_zone(tz, path)
    if ambiguous not in AMBIGUOUS_CHOICES:
        raise InvalidData(f"ambiguous must be one of {', '.join(AMBIGUOUS_CHOICES)}", path)
    if nonexistent not in NONEXISTENT_CHOICES:
        raise InvalidData(f"nonexistent must be one of {', '.join(NONEXISTENT_CHOICES)}", path)
    index = table.schema.get_field_index(name)
    column = table.column(index)
    converted = _to_time(column, name, _Zone(tz, ambiguous, nonexistent), path)
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


# --- conversion -----------------------------------------------------------------------------------


def _to_time(column: pa.ChunkedArray, name: str, zone: _Zone, path: str | None) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
        column = column.cast(pa.string())
        kind = column.type

    if column.null_count:
        _raise_bad(column, _first_true(pc.is_null(column)), name, path)
    if pa.types.is_floating(kind):
        nan = pc.is_nan(column)
        if pc.any(nan).as_py():
            _raise_bad(column, _first_true(nan), name, path)
    elif pa.types.is_string(kind):
        try:
            return _parse_strings_fast(column, zone)
        except _DstError as exc:
            _raise_dst(column, exc, name, path)
        except pa.ArrowInvalid:
            pass
        numbers = _numeric_text(column)
        if numbers is not None:
            return _to_time(numbers, name, zone, path)
    convert = _converter(column, zone)
    if convert is None:
        raise InvalidData(
            f"time column {name!r} has type {kind}; expected a timestamp, date, integer epoch "
            "or ISO-8601 string",
            path,
        )
    try:
        return convert(column)
    except _DstError as exc:
        _raise_dst(column, exc, name, path)
    except (pa.ArrowInvalid, OverflowError):
        pass
    # A value that does not parse: find the first one, reading DST problems leniently (they are
    # only reported once every value parses).
    lenient = _converter(column, zone._replace(ambiguous="earliest", nonexistent="shift"))
    assert lenient is not None
    _raise_bad(column, _first_failure(column, lenient), name, path)


def _converter(
    column: pa.ChunkedArray, zone: _Zone
) -> Callable[[pa.ChunkedArray], pa.ChunkedArray] | None:
    """The row-wise conversion of a time column of this type to TIME_TYPE (None: unsupported)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            return _to_us

        def naive(part: pa.ChunkedArray) -> pa.ChunkedArray:
            return _to_us(_localize(part, zone))

        return naive
    if pa.types.is_date(kind):

        def midnight(part: pa.ChunkedArray) -> pa.ChunkedArray:
            return _to_us(_localize(part.cast(_NAIVE_US), zone))

        return midnight
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _epoch_converter(column)
    if pa.types.is_string(kind):

        def text(part: pa.ChunkedArray) -> pa.ChunkedArray:
            return _parse_strings(part, zone)

        return text
    return None


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


def _localize(naive: pa.ChunkedArray, zone: _Zone) -> pa.ChunkedArray:
    """Naive timestamps -> zoned ones, read as local times in ``zone`` (UTC when its tz is None).

    Raises:
        _DstError: a local time that does not exist or occurs twice, when ``zone`` says "error"
            (or "infer" cannot tell); ``row`` is its index in ``naive``.
    """
    tz = zone.tz
    if tz is None or tz == "UTC":
        return naive.cast(pa.timestamp(naive.type.unit, tz="UTC"))
    try:  # one pass for the common case: no local time is skipped or repeated
        return pc.assume_timezone(naive, tz, ambiguous="raise", nonexistent="raise")
    except pa.ArrowInvalid:
        pass
    earliest = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="earliest")
    latest = pc.assume_timezone(naive, tz, ambiguous="latest", nonexistent="latest")
    unit = naive.type.unit
    earliest_int = earliest.cast(pa.int64())
    latest_int = latest.cast(pa.int64())
    # A skipped time reads as the last instant before the gap (earliest) or the change itself
    # (latest): one unit apart. A repeated one reads as its two instants: the shift apart.
    apart = pc.subtract(latest_int, earliest_int)
    skipped = pc.equal(apart, 1)
    repeated = pc.greater(apart, 1)
    result = earliest_int
    problems: list[_DstError] = []
    if pc.any(skipped).as_py():
        # the offset before the change (wall - instant), for the few skipped rows only
        before = earliest.filter(skipped)
        wall = pc.local_timestamp(before).cast(pa.timestamp(unit)).cast(pa.int64())
        offset = pc.subtract(wall, before.cast(pa.int64()))
        if zone.nonexistent == "error":
            first = _first_true(skipped)
            problems.append(
                _DstError("nonexistent", first, zone, _offset_us(offset[0].as_py(), unit))
            )
        else:
            shifted = pc.subtract(naive.cast(pa.int64()).filter(skipped), offset)
            result = pc.replace_with_mask(
                result.combine_chunks(), skipped.combine_chunks(), shifted.combine_chunks()
            )
    if pc.any(repeated).as_py():
        choice = zone.ambiguous
        if choice == "error":
            problems.append(_DstError("ambiguous", _first_true(repeated), zone))
        elif choice == "latest":
            result = pc.if_else(repeated, latest_int, result)
        elif choice == "infer":
            second = _second_occurrences(naive.cast(pa.int64()), repeated, zone)
            if isinstance(second, _DstError):
                problems.append(second)
            else:
                result = pc.if_else(second, latest_int, result)
    if problems:
        raise min(problems, key=lambda p: p.row)
    return result.cast(pa.timestamp(unit, tz="UTC"))


def _offset_us(value: int, unit: str) -> int:
    """An offset in the column's unit, in µs."""
    if unit == "ns":
        return value // 1000
    return value * {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]


def _second_occurrences(
    naive_int: pa.ChunkedArray, repeated: pa.ChunkedArray, zone: _Zone
) -> pa.Array | _DstError:
    """For ``ambiguous="infer"``: a mask of the repeated-hour rows that are second occurrences.

    Rows are in logging order. Each run of consecutive repeated-hour rows must go back (or repeat
    a time) exactly once; the rows from there on are the second occurrence.
    """
    rows = pc.indices_nonzero(repeated).to_pylist()  # few: at most the rows of one hour a year
    values = naive_int.take(pa.array(rows, pa.int64())).to_pylist()
    spans: list[tuple[int, int]] = []  # [first, last] row of each second occurrence
    start = 0
    while start < len(rows):
        end = start + 1
        while end < len(rows) and rows[end] == rows[end - 1] + 1:
            end += 1
        drops = [k for k in range(start + 1, end) if values[k] <= values[k - 1]]
        if len(drops) != 1:
            return _DstError("uninferable", rows[drops[1] if len(drops) > 1 else start], zone)
        spans.append((rows[drops[0]], rows[end - 1]))
        start = end
    pieces: list[pa.Array] = []
    done = 0
    for first, last in spans:  # the mask as runs of False and True, without a Python list per row
        pieces += [_constant(False, first - done), _constant(True, last + 1 - first)]
        done = last + 1
    pieces.append(_constant(False, len(naive_int) - done))
    return pa.concat_arrays(pieces)


def _constant(value: bool, length: int) -> pa.Array:
    return pa.nulls(length, pa.bool_()).fill_null(value)


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


def _parse_strings_fast(column: pa.ChunkedArray, zone: _Zone) -> pa.ChunkedArray:
    """One cast when every string has an offset, or none has; raises ArrowInvalid otherwise."""
    try:
        return column.cast(TIME_TYPE)
    except pa.ArrowInvalid:
        pass
    return _to_us(_localize(column.cast(_NAIVE_US), zone))


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


def _parse_strings(column: pa.ChunkedArray, zone: _Zone) -> pa.ChunkedArray:
    """ISO-8601 strings, with or without offsets, mixed, padded, with sub-µs digits."""
    text = pc.utf8_trim_whitespace(column)
    try:
        return _parse_mixed(text, zone)
    except _DstError:
        raise
    except pa.ArrowInvalid:
        return _parse_mixed(pc.replace_substring_regex(text, _SUB_MICRO_RE, r"\1"), zone)


def _parse_mixed(text: pa.ChunkedArray, zone: _Zone) -> pa.ChunkedArray:
    has_offset = pc.match_substring_regex(text, _OFFSET_RE)
    zoned_text = pc.if_else(has_offset, text, pa.scalar("1970-01-01T00:00:00Z"))
    naive_text = pc.if_else(has_offset, pa.scalar("1970-01-01T00:00:00"), text)
    zoned = zoned_text.cast(TIME_TYPE)
    local = _to_us(_localize(naive_text.cast(_NAIVE_US), zone))
    return pc.if_else(has_offset, zoned, local)


def check_zone(tz: str, path: str | None = None) -> str:
    """Check that ``tz`` is a zone pyarrow knows: an IANA name or a fixed offset ``±HH:MM``.

    Returns:
        ``tz`` unchanged.

    Raises:
        InvalidData: an unknown zone (naming ``path``).
    """
    try:
        pc.assume_timezone(pa.array([0], _NAIVE_US), tz)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidData(
            f"unknown time zone {tz!r} (use an IANA name such as 'Europe/Oslo' or an offset "
            "such as '-06:00')",
            path,
        ) from exc
    return tz


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


def _raise_dst(column: pa.ChunkedArray, exc: _DstError, name: str, path: str | None) -> NoReturn:
    """One line naming the column, the row, the value and the fix."""
    shown = _shown(column, exc.row)
    where = f"time column {name!r} has {shown} at data row {exc.row + 1}"
    tz = exc.zone.tz
    if exc.kind == "nonexistent":
        fixed = ""
        if exc.offset_before_us is not None:
            fixed = f", or a fixed offset such as --tz {_offset_text(exc.offset_before_us)}"
        message = (
            f"{where}, a local time that does not exist in {tz} (clocks went forward): give "
            f"--nonexistent shift to read it with the offset before the change{fixed}"
        )
    elif exc.kind == "ambiguous":
        message = (
            f"{where}, a local time that occurs twice in {tz} (clocks went back): give "
            "--ambiguous earliest, latest or infer (infer: rows were logged in time order)"
        )
    else:
        message = (
            f"{where}, a local time that occurs twice in {tz}, and the rows do not show which "
            "occurrence it is (the repeated hour is not logged twice in order): give --ambiguous "
            "earliest or latest"
        )
    raise InvalidData(message, path) from exc


def _offset_text(offset_us: int) -> str:
    sign = "-" if offset_us < 0 else "+"
    minutes = abs(offset_us) // 60_000_000
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _shown(column: pa.ChunkedArray, row: int) -> str:
    try:
        value = column[row].as_py()
    except (OverflowError, ValueError):
        return "a time out of range"
    if hasattr(value, "isoformat"):
        value = value.isoformat(sep=" ")
    shown = repr(value)
    if len(shown) > _MAX_VALUE_CHARS:
        shown = shown[: _MAX_VALUE_CHARS - 3] + "..."
    return shown


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _list_names(names: list[str]) -> str:
    shown = ", ".join(names[:20])
    if len(names) > 20:
        shown += f", ... ({len(names)} in all)"
    return shown or "none"
