"""CSV files -> series tables: plain CSV, In-Situ and YSI EXO exports, European loggers.

pyarrow's CSV reader (``pyarrow.csv.read_csv``) does the parsing: the preamble is skipped with its
``skip_rows``, the delimiter, the decimal separator and the null spellings are its options, and it
infers the type of every column but the time column(s), which are read as text and converted by
:func:`duckpond.timeseries.normalize_series` (offsets honoured, naive times local to the zone, DST
refused or resolved as :class:`~duckpond.formats.options.CsvOptions` says). What this module adds:

* the layout: the header row, the shape and the zone the file states (:mod:`.shapes`);
* a time made of a date and a time column, a ``strptime`` time format (``pyarrow.compute.strptime``)
  and KorEXO's fraction-of-a-second column;
* column names mapped to ``<parameter>.<unit>`` for vendor shapes (:mod:`.names`), the headers as
  written kept in :attr:`ParsedSeries.attributes`;
* refusals, each one line naming the file (and the data row where there is one): duplicate or
  empty column names, non-UTF-8 text, ragged rows, bad or missing times, DST gaps and repeats.
  An empty-named *last* column that is empty in every row (a trailing delimiter) is dropped.
* integers beyond int64 (``99999999999999999999``), which pyarrow would read as float64 and round,
  are kept as text, exactly as written.

Data rows are counted from 1 after the header row, not counting blank lines (which are skipped).
UTF-8 (a byte order mark is allowed) and UTF-16 with a byte order mark (KorEXO) are read; other
encodings are refused. Compressed files (``.gz``, ``.bz2``, ``.zst``, ``.lz4``) are read when the
source is a path with that extension.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

import pyarrow as pa
import pyarrow.compute as pc

from duckpond.errors import InvalidData, NotFound, first_line, translate_errors
from duckpond.formats import shapes
from duckpond.formats.names import map_names
from duckpond.formats.options import CsvOptions
from duckpond.timeseries import TIME_TYPE, detect_time_column, normalize_series

__all__ = ["COMBINED_TIME_NAME", "ParsedSeries", "parse_csv_series", "read_csv_series"]

COMBINED_TIME_NAME: Final = "Timestamp"
"""The name of a time column made of a date and a time column, and of a vendor's time column
when names are mapped."""

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO

_PEEK_BYTES: Final = 1 << 16
_MAX_HEAD_BYTES: Final = 1 << 20
# Locating a ragged row needs a Python pass over the text; past this size we name its text only.
_MAX_LOCATE_BYTES: Final = 64 << 20
_MAX_VALUE_CHARS: Final = 60
_INT64_LIMIT: Final = 2.0**63
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class ParsedSeries:
    """A CSV file read as a series.

    Attributes:
        table: the rows; the time column is ``timestamp[us, tz=UTC]``, other columns keep
            pyarrow's inferred types (text cells that are empty stay ``""``).
        time_column: the time column's name in ``table``.
        shape: ``plain``, ``in-situ`` or ``exo``.
        columns: pond column -> header as written, for every column whose name differs from its
            header (a joined time column lists its sources joined by ``" + "``).
        zone: the zone naive times were read in (``None``: UTC).
        zone_from: ``"option"``, ``"file"`` or ``None`` (UTC by default).
        preamble: the file's ``Key: value`` preamble lines (vendor shapes).
    """

    table: pa.Table
    time_column: str
    shape: str = "plain"
    columns: dict[str, str] = field(default_factory=dict)
    zone: str | None = None
    zone_from: str | None = None
    preamble: dict[str, str] = field(default_factory=dict)

    @property
    def attributes(self) -> dict[str, Any]:
        """What to keep with the stored version (``extended_attributes["source"]``): the shape,
        the renamed headers and the zone, so each column stays traceable to its header."""
        source: dict[str, Any] = {"shape": self.shape}
        if self.columns:
            source["columns"] = dict(self.columns)
        if self.zone is not None:
            source["time_zone"] = self.zone
            source["time_zone_from"] = self.zone_from
        return {"source": source}


def read_csv_series(
    source: Source,
    *,
    time_column: str | None = None,
    tz: str | None = None,
    options: CsvOptions | None = None,
    path: str | None = None,
) -> tuple[pa.Table, str]:
    """Read a CSV file into a series table: :func:`parse_csv_series`, returning its table and
    time column. ``time_column`` and ``tz`` override the same fields of ``options``."""
    opts = options or CsvOptions()
    if time_column is not None or tz is not None:
        where = path
        if where is None and isinstance(source, str | os.PathLike):
            where = os.fspath(source)
        updates = {"time_column": time_column, "tz": tz}
        opts = CsvOptions.of({**opts.model_dump(exclude_unset=True), **updates}, where)
    parsed = parse_csv_series(source, opts, path=path)
    return parsed.table, parsed.time_column


def parse_csv_series(
    source: Source, options: CsvOptions | None = None, *, path: str | None = None
) -> ParsedSeries:
    """Read a CSV file (plain, In-Situ, EXO or a logger's) into a series table.

    Args:
        source: a host path, the file's bytes, or a binary file object (read to its end, e.g.
            ``sys.stdin.buffer``).
        options: how to read it (:class:`~duckpond.formats.options.CsvOptions`; default: a plain
            or detected vendor CSV, times UTC unless the file states a zone).
        path: the path named in errors; defaults to ``source`` when that is a path.

    Returns:
        A :class:`ParsedSeries`; its time column is ``timestamp[us, tz=UTC]``.

    Raises:
        NotFound: ``source`` is a path that does not exist.
        InvalidData: the file cannot become a series (see the module docstring); one line naming
            ``path`` and, where there is one, the 1-based data row.
    """
    opts = options or CsvOptions()
    src = _open(source, path)
    layout = shapes.detect(
        src.lines(),
        shape=opts.shape,
        skip_rows=opts.skip_rows,
        delimiter=opts.delimiter,
        path=src.path,
    )
    src.check_header(layout.header_line)
    drop_trailing = _check_names(list(layout.names), src.path)
    times = _TimeColumns.of(opts, layout, src.path)
    table = _read_table(src, layout, opts, times, drop_trailing)
    zone, zone_from = _zone(opts, layout, src.path)
    table, name, renamed = _to_series(table, times, layout, opts, zone, src.path)
    mapping = _names_for(table.column_names, name, layout.shape, opts, src.path)
    if mapping:
        table = table.rename_columns([mapping.get(c, c) for c in table.column_names])
        for old, new in mapping.items():
            renamed[new] = renamed.pop(old, old)
        name = mapping.get(name, name)
    _check_names(table.column_names, src.path)
    return ParsedSeries(
        table=table,
        time_column=name,
        shape=layout.shape,
        columns=renamed,
        zone=zone,
        zone_from=zone_from,
        preamble=dict(layout.preamble),
    )


@dataclass(frozen=True)
class _TimeColumns:
    """Which columns hold the time: one, or a date and a time of day; and their format."""

    time: str
    date: str | None
    format: str | None

    @classmethod
    def of(cls, opts: CsvOptions, layout: shapes.Layout, path: str | None) -> _TimeColumns:
        """Options win over what the layout implies; names must be columns of the header."""
        names = list(layout.names)
        implied = opts.time_column is None
        date = opts.date_column or (layout.date_column if implied else None)
        time = opts.time_column or layout.time_column
        fmt = opts.time_format or (layout.time_format if implied else None)
        if date is not None:
            for n in (date, time):
                if n not in names:
                    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
                    raise InvalidData(f"no column {n!r} (columns: {shown})", path)
        time = detect_time_column(pa.schema([(c, pa.null()) for c in names]), time, path=path)
        return cls(time, date, fmt)

    @property
    def text(self) -> list[str]:
        """The columns read as text (pyarrow must not guess their types)."""
        return [c for c in (self.date, self.time) if c is not None]


def _read_table(
    src: _Source,
    layout: shapes.Layout,
    opts: CsvOptions,
    times: _TimeColumns,
    drop_trailing: bool,
) -> pa.Table:
    """pyarrow's CSV reader over the file, after the preamble; the checks of the module docstring
    that need the parsed columns."""
    import pyarrow.csv as pcsv

    ragged: list[tuple[int, int, str]] = []

    def on_invalid_row(row: pcsv.InvalidRow) -> str:
        if not ragged:
            ragged.append((row.expected_columns, row.actual_columns, row.text or ""))
        return "error"

    def read(types: dict[str, pa.DataType], include: list[str] | None = None) -> pa.Table:
        return pcsv.read_csv(
            src.reopen(),
            read_options=pcsv.ReadOptions(skip_rows=layout.header_line),
            parse_options=pcsv.ParseOptions(
                delimiter=layout.delimiter, invalid_row_handler=on_invalid_row
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=types,
                null_values=[*pcsv.ConvertOptions().null_values, *opts.null_values],
                decimal_point=opts.decimal,
                include_columns=include,
            ),
        )

    try:
        table = read(dict.fromkeys(times.text, pa.string()))
    except pa.ArrowInvalid as exc:
        if ragged:
            raise _ragged_error(ragged[0], src, layout) from exc
        if "UTF8" not in str(exc):
            raise InvalidData(f"bad CSV: {first_line(exc, limit=200)}", src.path) from exc
        # the time text is not UTF-8: read it as bytes to find the row
        try:
            table = read(dict.fromkeys(times.text, pa.binary()))
        except pa.ArrowInvalid:
            raise InvalidData(f"not valid UTF-8 text ({first_line(exc)})", src.path) from exc
    _check_closed_quotes(table, src)
    _check_utf8(table, src.path)
    if drop_trailing:
        table = _drop_empty_trailing(table, src.path)
    table = _keep_big_integers(table, read, src.path)
    if table.num_rows == 0:
        raise InvalidData("no rows", src.path)
    return table


def _to_series(
    table: pa.Table,
    times: _TimeColumns,
    layout: shapes.Layout,
    opts: CsvOptions,
    zone: str | None,
    where: str | None,
) -> tuple[pa.Table, str, dict[str, str]]:
    """The time column made and normalized: (table, its name, renamed columns -> sources)."""
    renamed: dict[str, str] = {}
    if times.date is not None:
        table, name = _join_date_time(table, times.date, times.time, where)
        renamed[name] = f"{times.date} + {times.time}"
    else:
        name = times.time
    fraction = None
    if layout.shape == "exo" and shapes.EXO_FRACTION_COLUMN in table.column_names:
        fraction = table.column(shapes.EXO_FRACTION_COLUMN)
        table = table.drop_columns([shapes.EXO_FRACTION_COLUMN])
        if name in renamed:
            renamed[name] += f" + {shapes.EXO_FRACTION_COLUMN}"
    if times.format is not None:
        table = _strptime(table, name, times.format, where)
    try:
        table, name = normalize_series(
            table, name, tz=zone, ambiguous=opts.ambiguous, nonexistent=opts.nonexistent, path=where
        )
    except InvalidData as exc:
        if times.format is None and "a bad time" in exc.message:
            raise InvalidData(
                f"{exc.message} (a time not in ISO-8601 needs --time-format, e.g. "
                "'%m/%d/%Y %H:%M:%S')",
                where,
            ) from exc
        raise
    if fraction is not None:
        table = _add_fraction(table, name, fraction, where)
    return table, name, renamed


# --- the source ----------------------------------------------------------------------------------


class _Source:
    """The file to read: its first bytes, and a way to hand the whole of it to pyarrow."""

    def __init__(self, head: bytes, reopen: Callable[[], Any], path: str | None) -> None:
        self.head = head
        self.reopen = reopen
        self.path = path

    def lines(self) -> list[str]:
        if b"\x00" in self.head[:_PEEK_BYTES]:
            raise InvalidData("binary data, not CSV text", self.path)
        text = self.head.decode("utf-8", errors="replace")
        lines = text.split("\n")
        if len(self.head) >= _MAX_HEAD_BYTES and len(lines) > 1:
            lines = lines[:-1]  # cut mid-line
        return [line.rstrip("\r") for line in lines]

    def check_header(self, index: int) -> None:
        raw = self.head.split(b"\n")[index]
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidData("not valid UTF-8 text in the header", self.path) from exc


def _open(source: Source, path: str | None) -> _Source:
    if isinstance(source, str | os.PathLike):
        file_name = os.fspath(source)
        path = file_name if path is None else path
        try:
            with translate_errors(path, what="reading CSV"), pa.input_stream(file_name) as stream:
                head = _read_head(stream)
        except NotFound as exc:
            raise NotFound("no such file", path) from exc
        if not head.startswith(_UTF16_BOMS):
            return _Source(head, lambda: file_name, path)  # pyarrow opens (and decompresses) it
        with translate_errors(path, what="reading CSV"), pa.input_stream(file_name) as stream:
            data = bytes(stream.read())
    else:
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
        else:
            read = source.read()
            data = read.encode("utf-8") if isinstance(read, str) else bytes(read)
            if path is None:
                name_attr = getattr(source, "name", None)
                path = name_attr if isinstance(name_attr, str) else None
    if data.startswith(_UTF16_BOMS):
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidData(
                "not valid UTF-16 text (after a UTF-16 byte order mark)", path
            ) from exc
    buffer = pa.py_buffer(data)
    head = buffer.slice(0, min(len(buffer), _MAX_HEAD_BYTES)).to_pybytes()
    return _Source(head, lambda: pa.BufferReader(buffer), path)


def _read_head(stream: pa.NativeFile) -> bytes:
    """The file's first bytes: up to 1 MiB, enough for a preamble and the header row."""
    head = b""
    while len(head) < _MAX_HEAD_BYTES:
        chunk = stream.read(_PEEK_BYTES)
        if not chunk:
            break
        head += chunk
    return head


# --- checks ------------------------------------------------------------------------------------


def _check_names(names: list[str], path: str | None) -> bool:
    """Refuse empty or repeated column names; True if the last name is empty (maybe a trailing
    delimiter: dropped if its column is empty)."""
    trailing = bool(names) and not names[-1].strip() and len(names) > 1
    for i, name in enumerate(names[:-1] if trailing else names):
        if not name.strip():
            raise InvalidData(f"column {i + 1} of the header has no name", path)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InvalidData(
                f"column name {name!r} is repeated (columns {seen[name] + 1} and {i + 1})", path
            )
        seen[name] = i
    return trailing


def _drop_empty_trailing(table: pa.Table, path: str | None) -> pa.Table:
    last = table.column(table.num_columns - 1)
    empty = last.null_count == len(last) or (
        pa.types.is_string(last.type)
        and pc.all(pc.equal(pc.utf8_trim_whitespace(last), "")).as_py()
    )
    if not empty:
        raise InvalidData(f"column {table.num_columns} of the header has no name", path)
    return table.remove_column(table.num_columns - 1)


def _check_closed_quotes(table: pa.Table, src: _Source) -> None:
    """A quoted field that is never closed runs to the end of the file: pyarrow (like Python's
    csv) then reads the rest of the file, rows included, as one text cell. Such a cell is in
    the last row and holds a line break; only then is the file read again to count its quotes
    (an odd count: a quote without its pair)."""
    if table.num_rows == 0:
        return
    last = table.slice(table.num_rows - 1)
    if not any(
        pa.types.is_string(col.type) and "\n" in (col[0].as_py() or "") for col in last.columns
    ):
        return
    quotes = 0
    with translate_errors(src.path, what="reading CSV"), pa.input_stream(src.reopen()) as stream:
        while chunk := stream.read(1 << 20):
            quotes += chunk.count(b'"')
    if quotes % 2:
        raise InvalidData(
            f"a quoted field is never closed: row {table.num_rows} holds the rest of the file",
            src.path,
        )


def _check_utf8(table: pa.Table, path: str | None) -> None:
    for f in table.schema:
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
            column = table.column(f.name)
            row = _first_failure(column, lambda part: part.cast(pa.string()))
            raise InvalidData(
                f"not valid UTF-8 text in column {f.name!r} at data row {row + 1}", path
            )


def _keep_big_integers(
    table: pa.Table,
    read: Callable[[dict[str, pa.DataType], list[str] | None], pa.Table],
    path: str | None,
) -> pa.Table:
    """Float columns whose text is all integers, some beyond int64: the text, not rounded floats."""
    suspects = []
    for f in table.schema:
        if not pa.types.is_floating(f.type):
            continue
        column = table.column(f.name)
        finite = column.filter(pc.is_finite(column))
        if len(finite) == 0:
            continue
        bounds = pc.min_max(pc.abs(finite))
        if (
            bounds["max"].as_py() >= _INT64_LIMIT
            and pc.all(pc.equal(pc.floor(finite), finite)).as_py()
        ):
            suspects.append(f.name)
    if not suspects:
        return table
    text = read(dict.fromkeys(suspects, pa.string()), suspects)
    for name in suspects:
        column = pc.utf8_trim_whitespace(text.column(name))
        blank = pc.or_(pc.is_null(column), pc.equal(column, ""))
        present = column.filter(pc.invert(blank))
        if pc.all(pc.match_substring_regex(present, r"^[+-]?\d+$")).as_py():
            index = table.schema.get_field_index(name)
            kept = pc.if_else(blank, pa.scalar(None, pa.string()), column)
            table = table.set_column(index, pa.field(name, pa.string()), kept)
    return table


# --- time ----------------------------------------------------------------------------------------


def _zone(
    opts: CsvOptions, layout: shapes.Layout, path: str | None
) -> tuple[str | None, str | None]:
    if opts.tz is not None:
        return opts.tz, "option"
    if layout.zone is not None:
        return shapes.parse_zone(layout.zone, path), "file"
    return None, None


def _join_date_time(
    table: pa.Table, date_column: str, time_column: str, path: str | None
) -> tuple[pa.Table, str]:
    name = COMBINED_TIME_NAME
    if name in table.column_names and name not in (date_column, time_column):
        raise InvalidData(
            f"a column {name!r} exists already: it cannot hold the joined {date_column!r} and "
            f"{time_column!r}",
            path,
        )
    joined = pc.binary_join_element_wise(
        pc.utf8_trim_whitespace(table.column(date_column)),
        pc.utf8_trim_whitespace(table.column(time_column)),
        " ",
    )
    index = table.schema.get_field_index(date_column)
    table = table.drop_columns([date_column, time_column])
    return table.add_column(
        min(index, table.num_columns), pa.field(name, pa.string()), joined
    ), name


def _strptime(table: pa.Table, name: str, fmt: str, path: str | None) -> pa.Table:
    column = pc.utf8_trim_whitespace(table.column(name))
    parsed = pc.strptime(column, format=fmt, unit="us", error_is_null=True)
    failed = pc.and_(pc.is_null(parsed), pc.invert(pc.is_null(column)))
    if pc.any(failed).as_py():
        row = int(pc.index(failed, True).as_py())
        shown = repr(column[row].as_py())
        if len(shown) > _MAX_VALUE_CHARS:
            shown = shown[: _MAX_VALUE_CHARS - 3] + "..."
        raise InvalidData(
            f"time column {name!r} has {shown} at data row {row + 1}, which does not match the "
            f"time format {fmt!r}",
            path,
        )
    index = table.schema.get_field_index(name)
    return table.set_column(index, pa.field(name, parsed.type), parsed)


def _add_fraction(
    table: pa.Table, name: str, fraction: pa.ChunkedArray, path: str | None
) -> pa.Table:
    """KorEXO's ``Time (Fract. Sec)``: add each row's fraction of a second (0 <= f < 1)."""
    if not (pa.types.is_floating(fraction.type) or pa.types.is_integer(fraction.type)):
        raise InvalidData(f"column {shapes.EXO_FRACTION_COLUMN!r} is not numeric", path)
    values = pc.fill_null(fraction.cast(pa.float64()), 0.0)
    bad = pc.or_(pc.less(values, 0.0), pc.greater_equal(values, 1.0))
    if pc.any(bad).as_py():
        row = int(pc.index(bad, True).as_py())
        raise InvalidData(
            f"column {shapes.EXO_FRACTION_COLUMN!r} has {values[row].as_py()} at data row "
            f"{row + 1}, not a fraction of a second",
            path,
        )
    micros = pc.round(pc.multiply(values, 1e6)).cast(pa.int64())
    times = pc.add(table.column(name).cast(pa.int64()), micros).cast(TIME_TYPE)
    index = table.schema.get_field_index(name)
    return table.set_column(index, pa.field(name, TIME_TYPE), times)


def _names_for(
    columns: list[str], time_name: str, shape: str, opts: CsvOptions, path: str | None
) -> dict[str, str]:
    """Old -> new column names (only those that change)."""
    form = opts.names
    if form == "auto":
        form = "parameter.unit" if shape in {"in-situ", "exo"} else "as-written"
    if form == "as-written":
        return {}
    style = "exo" if shape == "exo" else "in-situ"
    others = [c for c in columns if c != time_name]
    mapping = map_names(others, style, path=path)
    if shape in {"in-situ", "exo"} and COMBINED_TIME_NAME not in mapping.values():
        mapping[time_name] = COMBINED_TIME_NAME  # "Date Time" -> "Timestamp"
    return {k: v for k, v in mapping.items() if k != v}


# --- ragged rows, UTF-8 --------------------------------------------------------------------------


def _first_failure(column: pa.ChunkedArray, convert: Callable[[pa.ChunkedArray], object]) -> int:
    """Index of the first row that makes ``convert`` raise, by bisection."""
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


def _ragged_error(info: tuple[int, int, str], src: _Source, layout: shapes.Layout) -> InvalidData:
    expected, actual, text = info
    row = _locate_ragged_row(src, expected, layout.header_line, layout.delimiter)
    where = f" at data row {row}" if row is not None else ""
    shown = text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."
    return InvalidData(f"expected {expected} fields, got {actual}{where}: {shown!r}", src.path)


def _locate_ragged_row(src: _Source, expected: int, header_line: int, delimiter: str) -> int | None:
    """pyarrow does not report the row of a ragged line; count it with Python's csv (error path,
    files up to 64 MiB only)."""
    try:
        with pa.input_stream(src.reopen()) as stream:  # decompresses .gz etc. like read_csv
            data = stream.read(_MAX_LOCATE_BYTES + 1)
        if len(data) > _MAX_LOCATE_BYTES:
            return None
        text = data.decode("utf-8", errors="replace")
        body = text.split("\n", header_line)[-1] if header_line else text
        reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
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
