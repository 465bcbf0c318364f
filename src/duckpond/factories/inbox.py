"""``inbox``: copy new or changed host files into the pond, once each (the PoC's Inbox).

Config (YAML)::

    pattern: /data/inbox/**/*.csv     # host glob: * ? [...] within a name, ** across folders
    folder: /inbox                    # pond folder (relative: to the node's folder)
    format: laketech                  # data (default) | csv-series | laketech
    time_column: Timestamp            # csv-series only; default: detected
    tz: America/New_York              # csv-series only: zone of times without an offset (UTC)
    units: {WaterTemperature: C}      # laketech only: Parameter -> unit (see below)

``pattern`` may contain ``${env:NAME}`` references and a leading ``~``, expanded when ``ingest``
runs; a relative pattern is relative to the current directory of the process that runs it.
Hidden host files (``.name``) are not matched, as with the shell.

``pond run <node> ingest``
    One transaction (all or nothing). Each matching host file is hashed (sha256 of its bytes) and
    compared with the node's record of what it ingested; a file whose path and hash were ingested
    before is skipped (even if its pond copy was removed since), so running again with nothing
    new writes nothing (no commit). The pattern's fixed leading folder must exist
    (:class:`~duckpond.errors.NotFound` otherwise: a typo should not look like an empty inbox).
    A new or changed file is stored at
    ``<folder>/<path relative to the pattern's fixed leading folders>``
    (``/data/inbox/2024/a.csv`` with the pattern above -> ``/inbox/2024/a.csv``):

    - ``data``: the bytes as they are, a new version of a ``file:data`` (same name).
    - ``csv-series``: :func:`duckpond.timeseries.read_csv_series` (header row, a time column,
      offsets honoured, naive times in ``tz`` or UTC) into ``<stem>.series``.
    - ``laketech``: a LakeTech long-format export pivoted to a wide series ``<stem>.series``
      (:func:`read_laketech`).

    ``<stem>`` is the file name without its extension (and without ``.gz``, ``.bz2``, ``.zst``,
    ``.lz4``, which are decompressed for the CSV formats). When a series file changes, the new
    content is compared with the stored series: if the old rows are exactly the new file's rows up
    to the stored series' last time (the export grew), only the later rows are appended as a new
    version; if the data is the same, nothing is written; otherwise (an edited export) the series
    is replaced by a new node holding the new content (the old versions stay in the history for
    time travel). Files that disappear from the host are left in the pond.

    Any bad file (not UTF-8, ragged rows, a bad time, number, offset or unit) raises
    :class:`~duckpond.errors.InvalidData` naming the host file and the data row, and nothing of
    the run is committed.

    The record is the hidden table ``<folder>/.ingested.table`` (:data:`RECORD_SCHEMA`, one row
    per pond file, latest ingestion), rewritten only when it changes. Reading the node gives that
    table. Returns an :class:`IngestReport`.

LakeTech exports
    Long format, one reading per row, header ``Timestamp,Series Name,Location,Parameter,Value,
    Offset`` (other columns ignored): ``Timestamp`` is local wall time (``YYYY-MM-DD HH:MM:SS``),
    ``Offset`` its offset from UTC (``-05:00``, ``-0500``, ``-5``, ``-4.5`` hours, ``Z``/``0``),
    so the instant is ``Timestamp - Offset`` even in the repeated hour when DST ends. An empty
    or ``NaN`` ``Value`` is no reading. Each reading goes to the column
    ``<Location>.<Parameter>.<unit>`` (each part cleaned by
    :func:`duckpond.hydrovu.client.sanitize_name`: blanks, ``.`` and ``/`` become ``_``), where
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

import glob
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import pyarrow as pa
from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

from duckpond.errors import InvalidData, InvalidPath, NotFound, UsageError
from duckpond.factories.base import FactoryNode, non_blank
from duckpond.factories.hydrovu import (
    PondPath,
    check_env_refs,
    expand_env,
    lookup,
    resolve_folder,
)
from duckpond.factories.registry import Command, Factory, RunContext
from duckpond.times import Window
from duckpond.timeseries import TIME_TYPE
from duckpond.tinyfs.model import FILE_DATA, FILE_SERIES, FILE_TABLE

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import WD, NodePath

__all__ = [
    "FACTORY",
    "LAKETECH_COLUMNS",
    "RECORD_NAME",
    "RECORD_SCHEMA",
    "FileReport",
    "InboxConfig",
    "InboxNode",
    "IngestReport",
    "ingest",
    "read_laketech",
]

RECORD_NAME: Final = ".ingested.table"
"""The record of ingested files, in the inbox's pond folder."""

RECORD_SCHEMA: Final = pa.schema(
    [
        ("name", pa.string()),  # pond path relative to the folder
        ("source", pa.string()),  # host path it came from
        ("sha256", pa.string()),  # of the host file's bytes, hex
        ("size", pa.int64()),  # bytes
        ("format", pa.string()),
        ("action", pa.string()),  # created | updated | appended | replaced | unchanged
        ("rows", pa.int64()),  # rows written (null for data)
        ("txn_seq", pa.int64()),  # the transaction that ingested it
        ("ingested_at", TIME_TYPE),
    ]
)
"""One row per pond file the inbox wrote, for its latest ingestion."""

LAKETECH_COLUMNS: Final = ("Timestamp", "Series Name", "Location", "Parameter", "Value", "Offset")
"""The columns a LakeTech export must have."""

_COMPRESSION: Final = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}
_MAGIC = re.compile(r"[*?\[]")
_UNIT_IN_NAME = re.compile(r"\(([^()]*)\)\s*$")
_OFFSET_HM = re.compile(r"^([+-])(\d{1,2})(?::?(\d{2}))?$")
_OFFSET_HOURS = re.compile(r"^([+-]?)(\d{1,2}(?:\.\d+)?)$")


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------


def _zone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {text!r} (an IANA name like America/New_York)"
        ) from None
    return text


HostGlob = Annotated[str, AfterValidator(non_blank), AfterValidator(check_env_refs)]
Zone = Annotated[str, AfterValidator(_zone)]


class InboxConfig(BaseModel):
    """Config of ``inbox`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    pattern: HostGlob
    folder: PondPath
    format: Literal["data", "csv-series", "laketech"] = "data"
    time_column: str | None = None
    tz: Zone | None = None
    units: dict[str, str] | None = None

    @model_validator(mode="after")
    def _options_fit_format(self) -> InboxConfig:
        if self.format != "csv-series":
            for name in ("time_column", "tz"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} applies to format csv-series only")
        if self.format != "laketech" and self.units is not None:
            raise ValueError("units applies to format laketech only")
        for param, unit in (self.units or {}).items():
            if not unit.strip():
                raise ValueError(f"units.{param} must not be empty")
        return self


# --------------------------------------------------------------------------------------------
# LakeTech
# --------------------------------------------------------------------------------------------


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
    from duckpond.hydrovu.client import sanitize_name

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
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    from duckpond.timeseries import normalize_series

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

    def col(name: str) -> pa.ChunkedArray:
        return pc.utf8_trim_whitespace(table.column(name))

    # Offsets: few distinct values; normalize each once.
    offsets = col("Offset")
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
    stamps = pc.binary_join_element_wise(col("Timestamp"), offset_text, "")
    times, _ = normalize_series(pa.table({"Timestamp": stamps}), "Timestamp", path=path)
    time = times.column(0)

    # Values: empty / NaN are no reading.
    raw = col("Value")
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
    present = pc.and_(present, pc.invert(pc.is_nan(values)))

    # Column names: one per distinct (Location, Parameter, Series Name).
    location, parameter, series_name = col("Location"), col("Parameter"), col("Series Name")
    combo = pc.binary_join_element_wise(location, parameter, series_name, "\x1f")
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
        names.append(
            ".".join(
                (
                    _sanitized(loc, "Location", row, path),
                    _sanitized(param, "Parameter", row, path),
                    _sanitized(unit, "unit", row, path),
                )
            )
        )
    key = pa.array(names, pa.string()).take(pc.index_in(combo, combos))

    long = pa.table(
        {
            "t": time,
            "k": key,
            "v": values,
            "row": pa.array(range(1, table.num_rows + 1), pa.int64()),
        }
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


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileReport:
    """What one ingest run did with one host file.

    Attributes:
        source: the host path. path: the pond path.
        action: ``created``, ``updated`` (a data file's new version), ``appended`` (rows later
            than the stored series), ``replaced`` (a new series node), ``unchanged`` (new bytes,
            same data) or ``skipped`` (already ingested with this hash).
        rows: rows written (0 for data files and skipped ones).
        sha256: of the host file's bytes. size: bytes.
    """

    source: str
    path: str
    action: str
    rows: int
    sha256: str
    size: int


@dataclass(frozen=True)
class IngestReport:
    """The result of ``pond run <node> ingest``: one :class:`FileReport` per matching file."""

    node: str
    folder: str
    pattern: str
    files: tuple[FileReport, ...]

    @property
    def ingested(self) -> list[FileReport]:
        """The files that were new or changed."""
        return [f for f in self.files if f.action != "skipped"]

    def __str__(self) -> str:
        lines = [
            f"{f.source}: {f.action} -> {f.path}" + (f" ({f.rows} rows)" if f.rows else "")
            for f in self.ingested
        ]
        skipped = len(self.files) - len(self.ingested)
        lines.append(
            f"{len(self.ingested)} files ingested, {skipped} already in the pond "
            f"({len(self.files)} match {self.pattern})"
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def _glob_base(pattern: str) -> str:
    """The leading folders of ``pattern`` that hold no wildcard."""
    parts = pattern.split("/")
    base: list[str] = []
    for part in parts[:-1]:
        if _MAGIC.search(part):
            break
        base.append(part)
    if base == [""]:
        return "/"
    return "/".join(base) if base else "."


def _target_name(name: str, fmt: str) -> str:
    if fmt == "data":
        return name
    stem = name
    for suffix in _COMPRESSION:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
    return f"{stem}.series"


def _decompressed(data: bytes, name: str) -> bytes:
    for suffix, codec in _COMPRESSION.items():
        if name.lower().endswith(suffix):
            try:
                with pa.input_stream(pa.py_buffer(data), compression=codec) as stream:
                    return bytes(stream.read())
            except (OSError, pa.ArrowException) as exc:
                raise InvalidData(f"cannot decompress ({codec}): {exc}", name) from exc
    return data


def _sha256_file(path: str) -> tuple[str, int]:
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        return digest, f.tell()


def _read_record(root: WD, path: str) -> dict[str, dict[str, Any]]:
    np = lookup(root, path)
    if np is None:
        return {}
    return {row["name"]: row for row in np.read_table().to_pylist()}


def _sorted_rows(table: pa.Table, time_column: str) -> pa.Table:
    keys = [time_column] + [c for c in table.column_names if c != time_column]
    return table.sort_by([(k, "ascending") for k in keys])


def _store_series(root: WD, path: str, table: pa.Table, tc: str) -> tuple[str, int]:
    """Create, extend or replace the series at ``path`` with ``table``; (action, rows written)."""
    import pyarrow.compute as pc

    existing = lookup(root, path)
    if existing is None:
        root.write_file(path, table, file_type=FILE_SERIES, time_column=tc)
        return "created", table.num_rows
    if existing.file_type != FILE_SERIES:
        raise InvalidData(f"is a {existing.file_type}; the inbox writes a series here", path)
    old = existing.read_table().replace_schema_metadata(None)
    new = table.replace_schema_metadata(None)
    if existing.time_column() == tc and set(old.column_names) == set(new.column_names):
        new = new.select(old.column_names)
        if old.schema == new.schema and old.num_rows:
            old_max = pc.max(old.column(tc))
            head = new.filter(pc.less_equal(new.column(tc), old_max))
            if _sorted_rows(head, tc).equals(_sorted_rows(old, tc)):
                tail = new.filter(pc.greater(new.column(tc), old_max))
                if tail.num_rows == 0:
                    return "unchanged", 0
                root.append_series(path, tail, time_column=tc)
                return "appended", tail.num_rows
    root.remove(path)
    root.write_file(path, table, file_type=FILE_SERIES, time_column=tc)
    return "replaced", table.num_rows


def ingest(ctx: RunContext, args: list[str]) -> IngestReport:
    """``pond run <node> ingest``: see the module docstring.

    Raises:
        UsageError: arguments were given, or an environment variable in ``pattern`` is unset.
        NotFound: the pattern's leading folder does not exist.
        InvalidData: a bad file (naming it), two host files mapping to one pond name, or a pond
            path taken by a file of another type.
    """
    from duckpond.tinyfs import paths

    config: InboxConfig = ctx.config
    node = ctx.node.path
    if args:
        raise UsageError(f"ingest takes no arguments (got {' '.join(args)})", node)
    pattern = expand_env(config.pattern, "pattern", node)
    if pattern.startswith("~"):
        pattern = str(Path(pattern).expanduser())
    base = _glob_base(pattern)
    folder = resolve_folder(ctx.node, config.folder)
    prefix = folder.rstrip("/")  # "" for the root
    root = ctx.root
    record_path = f"{prefix}/{RECORD_NAME}"
    record = _read_record(root, record_path)

    if not Path(base).is_dir():
        raise NotFound(f"the inbox folder {base} of pattern {pattern!r} does not exist", node)
    planned: dict[str, str] = {}
    # glob.glob, not Path.glob: the pattern may be absolute and use ** anywhere.
    for host in sorted(glob.glob(pattern, recursive=True)):  # noqa: PTH207
        if not Path(host).is_file():
            continue
        rel = Path(os.path.relpath(host, base)).parts
        if not rel or rel[0] == "..":
            raise InvalidData(f"matched {host}, outside {base}", node)
        name = "/".join((*rel[:-1], _target_name(rel[-1], config.format)))
        try:
            paths.split(name)
            for part in name.split("/"):
                paths.validate_name(part, name)
        except InvalidPath as exc:
            raise InvalidData(
                f"{host}: cannot be named {name!r} in the pond: {exc.message}", node
            ) from None
        if name in planned:
            raise InvalidData(
                f"{planned[name]} and {host} would both be stored as {folder}/{name}", node
            )
        planned[name] = host

    txn_seq = int(root.fs.persistence.txn_seq)
    from duckpond.tinyfs.model import now_us

    reports: list[FileReport] = []
    for name, host in planned.items():
        pond_path = f"{prefix}/{name}"
        digest, size = _sha256_file(host)
        seen = record.get(name)
        if seen is not None and seen["sha256"] == digest:
            reports.append(FileReport(host, pond_path, "skipped", 0, digest, size))
            continue
        parent = pond_path.rsplit("/", 1)[0] or "/"
        root.mkdir(parent, parents=True, exist_ok=True)
        rows: int | None
        if config.format == "data":
            existing = lookup(root, pond_path)
            if existing is not None and existing.file_type != FILE_DATA:
                raise InvalidData(
                    f"is a {existing.file_type}; the inbox writes a data file here", pond_path
                )
            with open(host, "rb") as f:
                np = root.write_file(pond_path, f, file_type=FILE_DATA)
            stored = np.latest()
            digest, size = stored.sha256 or digest, stored.size or size
            action, rows = ("created" if existing is None else "updated"), None
        else:
            data = Path(host).read_bytes()
            digest, size = hashlib.sha256(data).hexdigest(), len(data)
            if seen is not None and seen["sha256"] == digest:  # changed back meanwhile
                reports.append(FileReport(host, pond_path, "skipped", 0, digest, size))
                continue
            content = _decompressed(data, host)
            if config.format == "csv-series":
                from duckpond.timeseries import read_csv_series

                table, tc = read_csv_series(
                    content, time_column=config.time_column, tz=config.tz, path=host
                )
            else:
                table, tc = read_laketech(content, units=config.units, path=host), "Timestamp"
            action, rows = _store_series(root, pond_path, table, tc)
        record[name] = {
            "name": name,
            "source": host,
            "sha256": digest,
            "size": size,
            "format": config.format,
            "action": action,
            "rows": rows,
            "txn_seq": txn_seq,
            "ingested_at": now_us(),
        }
        reports.append(FileReport(host, pond_path, action, rows or 0, digest, size))

    if any(r.action != "skipped" for r in reports):
        rows_out = [record[k] for k in sorted(record)]
        root.write_file(
            record_path, pa.Table.from_pylist(rows_out, schema=RECORD_SCHEMA), file_type=FILE_TABLE
        )
    return IngestReport(node, folder, pattern, tuple(reports))


# --------------------------------------------------------------------------------------------
# The node
# --------------------------------------------------------------------------------------------


class InboxNode(FactoryNode):
    """The dynamic ``file:table`` of an ``inbox`` node: its record of ingested files."""

    config: InboxConfig
    file_type = FILE_TABLE
    time_column = None

    def __init__(self, nodepath: NodePath, config: Any, raw: bytes) -> None:
        super().__init__(nodepath, config, raw, "inbox")

    def read_table(self, window: Window | None = None) -> pa.Table:
        """:data:`RECORD_SCHEMA` rows, one per pond file (empty before the first ingest)."""
        self.refresh_config()
        folder = resolve_folder(self.nodepath, self.config.folder)
        prefix = folder.rstrip("/")  # "" for the root
        np = lookup(self.nodepath.fs.root(), f"{prefix}/{RECORD_NAME}")
        if np is None:
            return RECORD_SCHEMA.empty_table()
        try:
            return np.read_table()
        except NotFound:
            return RECORD_SCHEMA.empty_table()


FACTORY = Factory(
    name="inbox",
    kind="file",
    description="copies new or changed host files into the pond (pond run <node> ingest)",
    config_model=InboxConfig,
    build=InboxNode,
    commands={
        "ingest": Command(
            "ingest",
            ingest,
            help="copy new or changed files matching the host pattern into the pond, once",
            writes=True,
        )
    },
)
