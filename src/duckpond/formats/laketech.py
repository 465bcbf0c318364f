"""LakeTech long-format exports -> one wide series table.

Long format, one reading per row, header ``Timestamp,Series Name,Location,Parameter,Value,
Offset`` (other columns ignored): ``Timestamp`` is local wall time (``YYYY-MM-DD HH:MM:SS``),
``Offset`` its offset from UTC (``-05:00``, ``-0500``, ``-5``, ``-4.5`` hours, ``Z``/``0``),
so the instant is ``Timestamp - Offset`` even in the repeated hour when DST ends. An empty
or ``NaN`` ``Value`` is no reading. Each reading goes to the column
``<Location>.<Parameter>.<unit>`` (each part cleaned by
:func:`duckpond.formats.names.sanitize_name`: blanks, ``.`` and ``/`` become ``_``), where
the unit is ``units[Parameter]`` if configured, else the text in the last parentheses at the
end of ``Series Name`` (``"JFK WindSpeed (m/s)"`` -> ``m_s``); a parameter with neither is an
error. Output: ``Timestamp: timestamp[us, tz=UTC]`` (ascending, unique), then the value
columns, ``float64``, sorted by name; a column is null where it had no reading. The same
column twice at one instant with equal values is kept once; with different values it is an
error naming both rows. The pivot is done here with pyarrow (``pivot_wider``), not by a
derived node, so the stored series is already wide: downstream joins and reducers read it
directly. To keep the raw exports too, point a second inbox node with ``format: data`` at the
same pattern.

``scripts/make_laketech_sample.py`` wrote ``data/laketech_sample/`` from the bundled real data
(see its PROVENANCE.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import pyarrow as pa

from duckpond.errors import InvalidData

__all__ = ["LAKETECH_COLUMNS", "read_laketech"]

LAKETECH_COLUMNS: Final = ("Timestamp", "Series Name", "Location", "Parameter", "Value", "Offset")
"""The columns a LakeTech export must have."""

_UNIT_IN_NAME = re.compile(r"\(([^()]*)\)\s*$")
_OFFSET_HM = re.compile(r"^([+-])(\d{1,2})(?::?(\d{2}))?$")
_OFFSET_HOURS = re.compile(r"^([+-]?)(\d{1,2}(?:\.\d+)?)$")


def _parse_offset(text: str) -> str | None:
    """``±HH:MM`` for a LakeTech offset, or None if it is not one."""
    s = text.strip().upper()
    if s in {"Z", "UTC", "GMT"}:
        return "+00:00"
    minutes: int
    m = _OFFSET_HM.match(s)
    if m:
        hours, mins = int(m.group(2)), int(m.group(3) or 0)
        if mins >= 60:
            return None
        minutes = hours * 60 + mins
        sign = m.group(1)
    else:
        m = _OFFSET_HOURS.match(s)
        if not m:
            return None
        total = float(m.group(2)) * 60
        if total != int(total):
            return None
        minutes = int(total)
        sign = m.group(1) or "+"
    if minutes > 14 * 60:
        return None
    return f"{'-' if sign == '-' and minutes else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def _row_of(column: pa.ChunkedArray | pa.Array, value: Any) -> int:
    import pyarrow.compute as pc

    return int(pc.index(column, value).as_py()) + 1


def _sanitized(text: str, what: str, row: int, path: str | None) -> str:
    from duckpond.formats.names import sanitize_name

    try:
        return sanitize_name(text)
    except InvalidData:
        raise InvalidData(f"data row {row}: empty {what}", path) from None


def read_laketech(
    source: bytes, *, units: Mapping[str, str] | None = None, path: str | None = None
) -> pa.Table:
    """Pivot a LakeTech long-format export (CSV bytes) into a wide series table.

    See the module docstring for the format and the column naming.

    Args:
        source: the CSV file's bytes (UTF-8, header row).
        units: Parameter -> unit, overriding the unit in ``Series Name``.
        path: the file named in errors.

    Returns:
        ``Timestamp: timestamp[us, tz=UTC]`` (ascending, unique) then one ``float64`` column per
        ``<Location>.<Parameter>.<unit>``, sorted by name.

    Raises:
        InvalidData: not CSV / not UTF-8, a missing column, no readings, or a bad time, offset,
            value or unit (naming the 1-based data row), or two different readings of one column
            at one instant.
    """
    table = _read(source, path)
    time = _times(table, path)
    values, present = _values(table, path)
    key, names = _keys(table, units, path)
    return _pivot(table.num_rows, time, key, values, present, names, path)


def _col(table: pa.Table, name: str) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    return pc.utf8_trim_whitespace(table.column(name))


def _read(source: bytes, path: str | None) -> pa.Table:
    """The export's rows, the LakeTech columns as text; refused if it is not an export."""
    import pyarrow.csv as pcsv

    try:
        table = pcsv.read_csv(
            pa.BufferReader(source),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in LAKETECH_COLUMNS},
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidData(f"not a readable CSV file: {text}", path) from exc
    missing = [c for c in LAKETECH_COLUMNS if c not in table.column_names]
    if missing:
        raise InvalidData(
            f"not a LakeTech export: no column {', '.join(repr(c) for c in missing)} "
            f"(expected {', '.join(LAKETECH_COLUMNS)})",
            path,
        )
    if table.num_rows == 0:
        raise InvalidData("no readings (a header without rows)", path)
    return table


def _times(table: pa.Table, path: str | None) -> pa.ChunkedArray:
    """Timestamp - Offset, as TIME_TYPE (offsets: few distinct values, each parsed once)."""
    import pyarrow.compute as pc

    from duckpond.timeseries import normalize_series

    offsets = _col(table, "Offset")
    distinct = pc.unique(offsets).to_pylist()
    normal = []
    for text in distinct:
        parsed = _parse_offset(text or "")
        if parsed is None:
            row = _row_of(offsets, text)
            raise InvalidData(
                f"data row {row}: bad Offset {text!r} (expected ±HH:MM, ±HHMM or hours)", path
            )
        normal.append(parsed)
    offset_text = pa.array(normal, pa.string()).take(pc.index_in(offsets, pa.array(distinct)))
    stamps = pc.binary_join_element_wise(_col(table, "Timestamp"), offset_text, "")
    times, _ = normalize_series(pa.table({"Timestamp": stamps}), "Timestamp", path=path)
    return times.column(0)


def _values(table: pa.Table, path: str | None) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """(values as float64, mask of readings): an empty or NaN Value is no reading."""
    import pyarrow.compute as pc

    raw = _col(table, "Value")
    present = pc.and_(pc.not_equal(raw, ""), pc.not_equal(pc.utf8_lower(raw), "nan"))
    try:
        values = pc.cast(pc.if_else(present, raw, None), pa.float64())
    except pa.ArrowInvalid:
        for i, (text, ok) in enumerate(zip(raw.to_pylist(), present.to_pylist(), strict=True)):
            if ok:
                try:
                    float(text)
                except ValueError:
                    raise InvalidData(f"data row {i + 1}: bad Value {text!r}", path) from None
        raise
    return values, pc.and_(present, pc.invert(pc.is_nan(values)))


def _keys(
    table: pa.Table, units: Mapping[str, str] | None, path: str | None
) -> tuple[pa.Array, list[str]]:
    """The column name of each row, and the names: one per (Location, Parameter, Series Name)."""
    import pyarrow.compute as pc

    location, parameter = _col(table, "Location"), _col(table, "Parameter")
    combo = pc.binary_join_element_wise(location, parameter, _col(table, "Series Name"), "\x1f")
    combos = pc.unique(combo)
    names: list[str] = []
    for text in combos.to_pylist():
        loc, param, sname = text.split("\x1f")
        row = _row_of(combo, text)
        unit = (units or {}).get(param)
        if unit is None:
            m = _UNIT_IN_NAME.search(sname)
            if m is None or not m.group(1).strip():
                raise InvalidData(
                    f"data row {row}: no unit for Parameter {param!r}: Series Name {sname!r} "
                    "does not end in '(<unit>)'; give it in the config's units",
                    path,
                )
            unit = m.group(1)
        parts = ((loc, "Location"), (param, "Parameter"), (unit, "unit"))
        names.append(".".join(_sanitized(part, what, row, path) for part, what in parts))
    return pa.array(names, pa.string()).take(pc.index_in(combo, combos)), names


def _pivot(
    rows: int,
    time: pa.ChunkedArray,
    key: pa.Array,
    values: pa.ChunkedArray,
    present: pa.ChunkedArray,
    names: list[str],
    path: str | None,
) -> pa.Table:
    """Long readings -> one row per instant, one column per name; clashing readings refused."""
    import pyarrow.compute as pc

    long = pa.table(
        {"t": time, "k": key, "v": values, "row": pa.array(range(1, rows + 1), pa.int64())}
    ).filter(present)
    if long.num_rows == 0:
        raise InvalidData("no readings (every Value is empty)", path)
    grouped = long.group_by(["t", "k"]).aggregate(
        [("v", "min"), ("v", "max"), ("row", "min"), ("row", "max")]
    )
    clash = grouped.filter(pc.not_equal(grouped["v_min"], grouped["v_max"]))
    if clash.num_rows:
        first = clash.sort_by("row_min").slice(0, 1).to_pylist()[0]
        when = first["t"].isoformat().replace("+00:00", "Z")
        raise InvalidData(
            f"data rows {first['row_min']} and {first['row_max']}: two different readings of "
            f"{first['k']} at {when}",
            path,
        )
    keys = sorted(set(names) & set(grouped["k"].to_pylist()))
    wide = grouped.group_by("t").aggregate(
        [(("k", "v_min"), "pivot_wider", pc.PivotWiderOptions(key_names=keys))]
    )
    struct = wide.column(1).combine_chunks()
    columns: dict[str, Any] = {"Timestamp": wide.column(0)}
    for i, name in enumerate(keys):
        columns[name] = struct.field(i).cast(pa.float64())
    return pa.table(columns).sort_by("Timestamp")
