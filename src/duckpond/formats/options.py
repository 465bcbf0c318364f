"""How a CSV file becomes a series: :class:`CsvOptions`, one type for ``pond copy`` and ``inbox``.

The same fields are the ``pond copy`` flags (``--skip-rows``, ``--delimiter``, ``--decimal``,
``--time-column``, ``--date-column``, ``--time-format``, ``--null-value`` (repeated), ``--tz``,
``--ambiguous``, ``--nonexistent``, ``--shape``, ``--names``) and the keys of an ``inbox`` node's
config with ``format: csv-series`` (same names, ``_`` for ``-``). Every field has a default that
reads a plain CSV file with a header row as earlier versions did, except that local times that do
not exist or occur twice are now refused instead of shifted (see :mod:`duckpond.timeseries`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from duckpond.timeseries import Ambiguous, Nonexistent

__all__ = ["CSV_OPTION_FIELDS", "CsvOptions", "Names", "Shape"]

Shape = Literal["auto", "plain", "in-situ", "exo"]
"""The layout of a file: ``auto`` detects In-Situ and EXO exports (:mod:`duckpond.formats.shapes`)
and reads anything else as ``plain`` (a header row, then data)."""

Names = Literal["auto", "as-written", "parameter.unit"]
"""Column naming: ``parameter.unit`` maps vendor headers (:mod:`duckpond.formats.names`);
``as-written`` keeps the header's text; ``auto`` maps for In-Situ and EXO exports only."""


class CsvOptions(BaseModel):
    """How to read a CSV file into a series. Frozen; unknown keys are refused.

    Attributes:
        shape: ``auto`` (default), ``plain``, ``in-situ`` or ``exo``; a vendor shape sets the
            header row, the time column(s), their format and, for In-Situ, the time zone stated
            in the file; any option given explicitly wins over what the shape implies.
        skip_rows: physical lines before the header row (preamble); ``None``: detected (the
            vendor header, else the first non-blank line).
        delimiter: one character; ``None``: the one of ``,`` ``;`` tab ``|`` that splits the
            header row into the most fields (``,`` on a tie).
        decimal: the decimal separator of numbers, ``.`` or ``,`` (``12,5`` with ``;`` columns).
        time_column: the time column (default: detected). With ``date_column``: the column of
            times of day.
        date_column: a column of dates to join with ``time_column`` (``"<date> <time>"``) into
            one time column named ``Timestamp``.
        time_format: a ``strptime`` format of the time text (of ``"<date> <time>"`` when the time
            has two columns), e.g. ``"%d.%m.%Y %H:%M"``; ``%z`` reads an offset. ``None``:
            ISO-8601 or epoch numbers (:func:`duckpond.timeseries.normalize_series`).
        null_values: more spellings of a missing value, exact text (``-9999``, ``ERR``, ``NAN``),
            added to pyarrow's (empty, ``NA``, ``NaN``, ``null``, ``#N/A``, ...).
        tz: the zone of times without an offset: an IANA name or ``±HH:MM``. ``None``: the zone
            the file states (In-Situ ``"Time Zone:"``), else UTC.
        ambiguous: a local time that occurs twice: ``error`` (default), ``earliest``, ``latest``,
            ``infer``.
        nonexistent: a local time that does not exist: ``error`` (default) or ``shift``.
        names: ``auto`` (default), ``as-written`` or ``parameter.unit``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: Shape = "auto"
    skip_rows: int | None = Field(default=None, ge=0)
    delimiter: str | None = None
    decimal: Literal[".", ","] = "."
    time_column: str | None = None
    date_column: str | None = None
    time_format: str | None = None
    null_values: tuple[str, ...] = ()
    tz: str | None = None
    ambiguous: Ambiguous = "error"
    nonexistent: Nonexistent = "error"
    names: Names = "auto"

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value in {"\\t", "tab", "TAB"}:
            value = "\t"
        if len(value) != 1 or value in {'"', "\n", "\r"}:
            raise ValueError(f"must be one character other than a quote or newline, not {value!r}")
        return value

    @field_validator("null_values", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        if isinstance(value, str | int | float):
            value = [value]
        if isinstance(value, list | tuple):
            return tuple(_text(v) for v in value)
        return value

    @field_validator("time_format")
    @classmethod
    def _strptime(cls, value: str | None) -> str | None:
        if value is not None and "%" not in value:
            raise ValueError(f"{value!r} is not a strptime format (such as '%d.%m.%Y %H:%M')")
        return value

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from duckpond.errors import InvalidData
        from duckpond.timeseries import check_zone

        try:
            return check_zone(value)
        except InvalidData as exc:
            raise ValueError(exc.message) from None

    @field_validator("time_column", "date_column")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @classmethod
    def of(cls, values: Mapping[str, Any], path: str | None = None) -> CsvOptions:
        """Validate ``values`` (option name -> value; ``None`` values are left out).

        Raises:
            InvalidData: one line naming ``path``, the option and the cause.
        """
        from pydantic import ValidationError

        from duckpond.errors import InvalidData

        given = {k: v for k, v in values.items() if v is not None}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            raise InvalidData(f"{where}: {message}" if where else message, path) from None

    @model_validator(mode="after")
    def _consistent(self) -> CsvOptions:
        if self.date_column is not None and self.time_column is None:
            raise ValueError("date_column needs time_column (the column of times of day)")
        if self.date_column is not None and self.date_column == self.time_column:
            raise ValueError("date_column and time_column must be two columns")
        if self.delimiter is not None and self.delimiter == self.decimal:
            raise ValueError(f"the delimiter and the decimal separator are both {self.decimal!r}")
        return self


CSV_OPTION_FIELDS: tuple[str, ...] = tuple(CsvOptions.model_fields)
"""The option names, in order (the ``inbox`` config keys; ``pond copy`` flags with ``-``)."""


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value
