"""The one time vocabulary of DuckPond: the time type, half-open windows, resolutions, formats.

Inside the pond every time is :data:`TIME_TYPE`, ``timestamp[us, tz=UTC]``; a time given as an
integer is µs since 1970-01-01T00:00:00Z. Every time range is a :class:`Window`, half-open
``[start, end)``: a row at time ``t`` is inside when ``start <= t < end``.

Times written by people (configs, ``--start``/``--end``) are ISO-8601 strings
(``2016-07-08T01:30:00Z``; an offset is honoured; a time without one, or a bare date, is UTC) or
integers of µs since the epoch. Resolutions (bucket widths) are ``<n>s|m|h|d``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "EPOCH",
    "Window",
    "format_resolution",
    "format_time",
    "now_us",
    "parse_resolution",
    "parse_time",
    "time_type",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

_RESOLUTION_RE: Final = re.compile(r"^([1-9][0-9]{0,9})(s|m|h|d)$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def time_type() -> pa.DataType:
    """``pa.timestamp("us", tz="UTC")``: the type of every time inside the pond.

    A function rather than a constant so that importing this module does not import pyarrow
    (the ``pond`` command starts without it); ``duckpond.timeseries.TIME_TYPE`` is the constant.
    """
    import pyarrow as pa

    return pa.timestamp("us", tz="UTC")


class Window(NamedTuple):
    """A half-open interval of event times ``[start, end)``, µs since the epoch, UTC.

    ``None`` on a side means unbounded on that side.
    """

    start: int | None = None
    end: int | None = None

    @property
    def unbounded(self) -> bool:
        return self.start is None and self.end is None

    def contains(self, t: int) -> bool:
        """Whether ``start <= t < end``."""
        return (self.start is None or t >= self.start) and (self.end is None or t < self.end)

    def overlaps(self, lo: int | None, hi: int | None) -> bool:
        """Whether a closed span of times ``[lo, hi]`` (``None``: unknown) may hold rows inside."""
        if lo is None or hi is None:
            return True
        if self.start is not None and hi < self.start:
            return False
        return not (self.end is not None and lo >= self.end)


def now_us() -> int:
    """The current wall-clock time as integer µs since the epoch, UTC."""
    import time

    return time.time_ns() // 1000


def parse_resolution(text: str) -> int:
    """``"90m"`` -> 5400: a bucket width ``<n>s|m|h|d`` in whole seconds.

    Raises:
        ValueError: not of that form (pydantic turns it into a field error).
    """
    m = _RESOLUTION_RE.match(str(text).strip())
    if m is None:
        raise ValueError(f"resolution {text!r} is not <n>s, <n>m, <n>h or <n>d (e.g. 1h, 30m)")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def format_resolution(seconds: int) -> str:
    """Inverse of :func:`parse_resolution` in the largest unit that divides (3600 -> ``"1h"``)."""
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def parse_time(value: Any) -> int:
    """A time as integer µs since the epoch, UTC.

    Args:
        value: an ``int`` (µs since the epoch), a ``datetime`` (naive = UTC), a ``date``
            (midnight UTC) or an ISO-8601 string (``Z`` or an offset honoured; none = UTC).

    Raises:
        ValueError: anything else, or a string that is not ISO-8601.
    """
    if isinstance(value, bool):
        raise ValueError("a time must be an ISO-8601 string or µs since the epoch")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not an ISO-8601 time (e.g. 2016-07-08T01:30:00Z)"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - EPOCH
        return int((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)
    if isinstance(value, date):
        return parse_time(datetime(value.year, value.month, value.day, tzinfo=UTC))
    raise ValueError("a time must be an ISO-8601 string or µs since the epoch")


def format_time(us: int | None, *, precise: bool = False) -> str:
    """µs since the epoch as ISO-8601 UTC with ``Z`` (``2016-07-08T01:30:00Z``); ``-`` for None.

    Whole seconds unless ``precise`` (then µs are shown when there are any).
    """
    if us is None:
        return "-"
    moment = EPOCH + timedelta(microseconds=int(us))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if precise and moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"
