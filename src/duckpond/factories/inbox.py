"""``inbox``: copy new or changed host files into the pond, once each (the PoC's Inbox).

Config (YAML)::

    pattern: /data/inbox/**/*.csv     # host glob: * ? [...] within a name, ** across folders
    folder: /inbox                    # pond folder (relative: to the node's folder)
    format: csv-series                # data (default) | csv-series | laketech
    units: {WaterTemperature: C}      # laketech only: Parameter -> unit (see below)
    # csv-series only, the fields of duckpond.formats.options.CsvOptions (as pond copy's flags):
    shape: auto                       # auto | plain | in-situ | exo
    skip_rows: 3                      # lines before the header row (default: detected)
    delimiter: ";"                    # default: detected from the header row
    decimal: ","                      # . (default) | ,
    time_column: Timestamp            # default: detected (with date_column: the time of day)
    date_column: Datum                # a date column joined with time_column
    time_format: "%d.%m.%Y %H:%M"     # strptime; default ISO-8601 or epoch numbers
    null_values: [-9999, ERR, NAN]    # more spellings of a missing value
    tz: America/New_York              # zone of times without an offset (default: the file's, UTC)
    ambiguous: infer                  # error (default) | earliest | latest | infer
    nonexistent: error                # error (default) | shift
    names: auto                       # auto | as-written | parameter.unit

``pattern`` may contain ``${env:NAME}`` references and a leading ``~``, expanded when ``ingest``
runs; a relative pattern is relative to the current directory of the process that runs it.
Hidden host files (``.name``) are not matched, as with the shell.

``pond run <node> plan``
    Reads only: prints what ``ingest`` would do now (an :class:`IngestPlan`): each matching file,
    the pond path and type it becomes, and the files skipped and why.

``pond run <node> ingest``
    One transaction (all or nothing): :func:`plan_ingest`, then :func:`apply_ingest`. Each
    matching host file is hashed (sha256 of its bytes) and compared with the node's record of what
    it ingested; a file whose path and hash were ingested before is skipped (even if its pond copy
    was removed since), so running again with nothing new writes nothing (no commit). The
    pattern's fixed leading folder must exist (:class:`~duckpond.errors.NotFound` otherwise: a
    typo should not look like an empty inbox). A new or changed file is stored at
    ``<folder>/<path relative to the pattern's fixed leading folders>``
    (``/data/inbox/2024/a.csv`` with the pattern above -> ``/inbox/2024/a.csv``):

    - ``data``: the bytes as they are, a new version of a ``file:data`` (same name).
    - ``csv-series``: :func:`duckpond.formats.csv_series.parse_csv_series` with the config's CSV
      options (plain CSV, In-Situ and EXO exports, loggers' ``;`` and decimal commas) into
      ``<stem>.series``; the version's ``extended_attributes["source"]`` keeps the shape, the
      headers as written of renamed columns, the zone and the host file.
    - ``laketech``: a LakeTech long-format export pivoted to a wide series ``<stem>.series``
      (:func:`duckpond.formats.laketech.read_laketech`).

    ``<stem>`` is the file name without its extension (and without ``.gz``, ``.bz2``, ``.zst``,
    ``.lz4``, which are decompressed for the CSV formats). When a series file changes, the new
    content is compared with the stored series: if the old rows are exactly the new file's rows up
    to the stored series' last time (the export grew), only the later rows are appended as a new
    version; if the data is the same, nothing is written; otherwise (an edited export) the series
    is replaced by a new node holding the new content (the old versions stay in the history for
    time travel). Files that disappear from the host are left in the pond.

    Any bad file (not UTF-8, ragged rows, a bad time, number, offset or unit, a local time that
    does not exist or occurs twice, columns that cannot join the stored series) raises
    :class:`~duckpond.errors.InvalidData` naming the host file and the data row, and nothing of
    the run is committed.

    The record is the hidden table ``<folder>/.ingested.table`` (:data:`RECORD_SCHEMA`, one row
    per pond file, latest ingestion), rewritten only when it changes. Reading the node gives that
    table. Returns an :class:`IngestReport`.

LakeTech exports: see :mod:`duckpond.formats.laketech`. ``scripts/make_laketech_sample.py`` wrote
``data/laketech_sample/`` from the bundled real data (see its PROVENANCE.md).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import pyarrow as pa
from pydantic import AfterValidator, ConfigDict, model_validator

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
from duckpond.formats.options import CSV_OPTION_FIELDS, CsvOptions
from duckpond.times import Window
from duckpond.timeseries import TIME_TYPE
from duckpond.tinyfs.model import FILE_DATA, FILE_SERIES, FILE_TABLE

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import WD, NodePath

__all__ = [
    "FACTORY",
    "RECORD_NAME",
    "RECORD_SCHEMA",
    "FileReport",
    "InboxConfig",
    "InboxNode",
    "IngestPlan",
    "IngestReport",
    "PlannedFile",
    "apply_ingest",
    "ingest",
    "plan_ingest",
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

_COMPRESSION: Final = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}
_MAGIC = re.compile(r"[*?\[]")


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------

HostGlob = Annotated[str, AfterValidator(non_blank), AfterValidator(check_env_refs)]


class InboxConfig(CsvOptions):
    """Config of ``inbox`` (see the module docstring): the CSV options of
    :class:`~duckpond.formats.options.CsvOptions` (for ``format: csv-series`` only) and these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: HostGlob
    folder: PondPath
    format: Literal["data", "csv-series", "laketech"] = "data"
    units: dict[str, str] | None = None

    @model_validator(mode="after")
    def _options_fit_format(self) -> InboxConfig:
        if self.format != "csv-series":
            for name in CSV_OPTION_FIELDS:
                if name in self.model_fields_set:
                    raise ValueError(f"{name} applies to format csv-series only")
        if self.format != "laketech" and self.units is not None:
            raise ValueError("units applies to format laketech only")
        for param, unit in (self.units or {}).items():
            if not unit.strip():
                raise ValueError(f"units.{param} must not be empty")
        return self

    def csv_options(self) -> CsvOptions:
        """The CSV options alone."""
        return CsvOptions(**{name: getattr(self, name) for name in CSV_OPTION_FIELDS})


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
# Plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFile:
    """One matching host file in an :class:`IngestPlan`.

    Attributes:
        source: the host path.
        name: the pond path relative to the inbox folder.
        path: the pond path.
        becomes: the pond file type it is written as (``file:data`` or ``file:series``).
        sha256: of the host file's bytes when planned, hex. size: bytes.
        skip: why it is not ingested (``None``: it is), e.g. ``"ingested in txn 4, unchanged"``.
    """

    source: str
    name: str
    path: str
    becomes: str
    sha256: str
    size: int
    skip: str | None = None


@dataclass(frozen=True)
class IngestPlan:
    """What an ``ingest`` run will do, computed without writing (:func:`plan_ingest`).

    Attributes:
        node: the inbox node's path. folder: the pond folder. pattern: the expanded host glob.
        format: the config's format. files: one entry per matching host file, sorted by host
        path. record: the node's record before the run (name -> :data:`RECORD_SCHEMA` row).
    """

    node: str
    folder: str
    pattern: str
    format: str
    files: tuple[PlannedFile, ...]
    record: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def to_ingest(self) -> list[PlannedFile]:
        """The files the run writes."""
        return [f for f in self.files if f.skip is None]

    @property
    def record_path(self) -> str:
        """The pond path of the record table."""
        return f"{self.folder.rstrip('/')}/{RECORD_NAME}"

    def __str__(self) -> str:
        lines = [
            f"{f.source}: {'ingest' if f.skip is None else 'skip'} -> {f.path} ({f.becomes})"
            + (f": {f.skip}" if f.skip else "")
            for f in self.files
        ]
        lines.append(
            f"{len(self.to_ingest)} to ingest, {len(self.files) - len(self.to_ingest)} skipped "
            f"({len(self.files)} match {self.pattern})"
        )
        return "\n".join(lines)


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


def _sha256_file(path: str) -> tuple[str, int]:
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        return digest, f.tell()


def _read_record(root: WD, path: str) -> dict[str, dict[str, Any]]:
    node = lookup(root, path)
    if node is None:
        return {}
    return {row["name"]: row for row in node.read_table().to_pylist()}


def _matches(pattern: str, base: str, fmt: str, folder: str, node: str) -> dict[str, str]:
    """Pond name (relative to the folder) -> host path, for every matching host file."""
    from duckpond.tinyfs import paths

    planned: dict[str, str] = {}
    # glob.glob, not Path.glob: the pattern may be absolute and use ** anywhere.
    for host in sorted(glob.glob(pattern, recursive=True)):  # noqa: PTH207
        if not Path(host).is_file():
            continue
        rel = Path(os.path.relpath(host, base)).parts
        if not rel or rel[0] == "..":
            raise InvalidData(f"matched {host}, outside {base}", node)
        name = "/".join((*rel[:-1], _target_name(rel[-1], fmt)))
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
    return planned


def plan_ingest(root: WD, node: NodePath, config: InboxConfig) -> IngestPlan:
    """What ``ingest`` would do now; reads the host folder and the pond, writes nothing.

    Raises:
        UsageError: an environment variable in ``pattern`` is unset.
        NotFound: the pattern's leading folder does not exist.
        InvalidData: two host files map to one pond name, or a host name is not a pond name.
    """
    pattern = expand_env(config.pattern, "pattern", node.path)
    if pattern.startswith("~"):
        pattern = str(Path(pattern).expanduser())
    base = _glob_base(pattern)
    folder = resolve_folder(node, config.folder)
    prefix = folder.rstrip("/")  # "" for the root
    record = _read_record(root, f"{prefix}/{RECORD_NAME}")
    if not Path(base).is_dir():
        raise NotFound(f"the inbox folder {base} of pattern {pattern!r} does not exist", node.path)
    becomes = FILE_DATA if config.format == "data" else FILE_SERIES
    files = []
    for name, host in _matches(pattern, base, config.format, folder, node.path).items():
        digest, size = _sha256_file(host)
        seen = record.get(name)
        skip = None
        if seen is not None and seen["sha256"] == digest:
            skip = f"ingested in txn {seen['txn_seq']}, unchanged since"
        files.append(PlannedFile(host, name, f"{prefix}/{name}", becomes, digest, size, skip))
    return IngestPlan(node.path, folder, pattern, config.format, tuple(files), record)


# --------------------------------------------------------------------------------------------
# Apply
# --------------------------------------------------------------------------------------------


def _decompressed(data: bytes, name: str) -> bytes:
    for suffix, codec in _COMPRESSION.items():
        if name.lower().endswith(suffix):
            try:
                with pa.input_stream(pa.py_buffer(data), compression=codec) as stream:
                    return bytes(stream.read())
            except (OSError, pa.ArrowException) as exc:
                raise InvalidData(f"cannot decompress ({codec}): {exc}", name) from exc
    return data


def _sorted_rows(table: pa.Table, time_column: str) -> pa.Table:
    keys = [time_column] + [c for c in table.column_names if c != time_column]
    return table.sort_by([(k, "ascending") for k in keys])


def _store_series(
    root: WD, path: str, table: pa.Table, tc: str, attributes: dict[str, Any]
) -> tuple[str, int]:
    """Create, extend or replace the series at ``path`` with ``table``; (action, rows written)."""
    import pyarrow.compute as pc

    existing = lookup(root, path)
    if existing is None:
        root.write_file(path, table, file_type=FILE_SERIES, time_column=tc, attributes=attributes)
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
                root.write_file(
                    path, tail, file_type=FILE_SERIES, time_column=tc, attributes=attributes
                )
                return "appended", tail.num_rows
    root.remove(path)
    root.write_file(path, table, file_type=FILE_SERIES, time_column=tc, attributes=attributes)
    return "replaced", table.num_rows


def _parse(content: bytes, host: str, config: InboxConfig) -> tuple[pa.Table, str, dict[str, Any]]:
    """(table, time column, version attributes) of a series file's content."""
    if config.format == "csv-series":
        from duckpond.formats.csv_series import parse_csv_series

        parsed = parse_csv_series(content, config.csv_options(), path=host)
        attributes = parsed.attributes
        attributes["source"]["file"] = host
        return parsed.table, parsed.time_column, attributes
    from duckpond.formats.laketech import read_laketech

    table = read_laketech(content, units=config.units, path=host)
    return table, "Timestamp", {"source": {"shape": "laketech", "file": host}}


def _store_parsed(
    root: WD, planned: PlannedFile, data: bytes, config: InboxConfig
) -> tuple[str, int]:
    host = planned.source
    table, tc, attributes = _parse(_decompressed(data, host), host, config)
    try:
        return _store_series(root, planned.path, table, tc, attributes)
    except InvalidData as exc:
        if exc.path == host:
            raise
        raise InvalidData(f"cannot be stored at {exc.path}: {exc.message}", host) from exc


def apply_ingest(root: WD, plan: IngestPlan, config: InboxConfig) -> IngestReport:
    """Carry out ``plan`` in the current transaction of ``root``.

    A file whose bytes changed since it was planned is read as it is now (its new hash is
    recorded), and skipped if those bytes are the ones already ingested.

    Raises:
        InvalidData: a bad file (naming the host file), or a pond path taken by a file of
            another type.
    """
    from duckpond.times import now_us

    txn_seq = int(root.fs.persistence.txn_seq)
    record = {name: dict(row) for name, row in plan.record.items()}
    reports: list[FileReport] = []
    for planned in plan.files:
        if planned.skip is not None:
            reports.append(
                FileReport(planned.source, planned.path, "skipped", 0, planned.sha256, planned.size)
            )
            continue
        if config.format != "data":
            data = Path(planned.source).read_bytes()  # what is parsed is what is recorded
            digest, size = hashlib.sha256(data).hexdigest(), len(data)
            seen = record.get(planned.name)
            if seen is not None and seen["sha256"] == digest:  # changed back meanwhile
                reports.append(FileReport(planned.source, planned.path, "skipped", 0, digest, size))
                continue
            root.mkdir(planned.path.rsplit("/", 1)[0] or "/", parents=True, exist_ok=True)
            action, rows = _store_parsed(root, planned, data, config)
            written: int | None = rows
        else:
            action, written, digest, size = _write_data(root, planned)
        record[planned.name] = {
            "name": planned.name,
            "source": planned.source,
            "sha256": digest,
            "size": size,
            "format": config.format,
            "action": action,
            "rows": written,
            "txn_seq": txn_seq,
            "ingested_at": now_us(),
        }
        reports.append(FileReport(planned.source, planned.path, action, written or 0, digest, size))

    if any(r.action != "skipped" for r in reports):
        rows_out = [record[k] for k in sorted(record)]
        root.write_file(
            plan.record_path,
            pa.Table.from_pylist(rows_out, schema=RECORD_SCHEMA),
            file_type=FILE_TABLE,
        )
    return IngestReport(plan.node, plan.folder, plan.pattern, tuple(reports))


def _write_data(root: WD, planned: PlannedFile) -> tuple[str, None, str, int]:
    pond_path = planned.path
    parent = pond_path.rsplit("/", 1)[0] or "/"
    root.mkdir(parent, parents=True, exist_ok=True)
    existing = lookup(root, pond_path)
    if existing is not None and existing.file_type != FILE_DATA:
        raise InvalidData(
            f"is a {existing.file_type}; the inbox writes a data file here", pond_path
        )
    with open(planned.source, "rb") as f:
        node = root.write_file(pond_path, f, file_type=FILE_DATA)
    stored = node.latest()
    digest = stored.sha256 or planned.sha256
    size = stored.size if stored.size is not None else planned.size
    return ("created" if existing is None else "updated"), None, digest, size


def ingest(ctx: RunContext, args: list[str]) -> IngestReport:
    """``pond run <node> ingest``: :func:`plan_ingest` then :func:`apply_ingest`.

    Raises:
        UsageError: arguments were given, or an environment variable in ``pattern`` is unset.
        NotFound: the pattern's leading folder does not exist.
        InvalidData: a bad file (naming it), two host files mapping to one pond name, or a pond
            path taken by a file of another type.
    """
    if args:
        raise UsageError(f"ingest takes no arguments (got {' '.join(args)})", ctx.node.path)
    plan = plan_ingest(ctx.root, ctx.node, ctx.config)
    return apply_ingest(ctx.root, plan, ctx.config)


def plan(ctx: RunContext, args: list[str]) -> IngestPlan:
    """``pond run <node> plan``: :func:`plan_ingest`, read-only.

    Raises:
        UsageError: arguments were given; and as :func:`plan_ingest`.
    """
    if args:
        raise UsageError(f"plan takes no arguments (got {' '.join(args)})", ctx.node.path)
    return plan_ingest(ctx.root, ctx.node, ctx.config)


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
        node = lookup(self.nodepath.fs.root(), f"{prefix}/{RECORD_NAME}")
        if node is None:
            return RECORD_SCHEMA.empty_table()
        try:
            return node.read_table()
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
        ),
        "plan": Command(
            "plan",
            plan,
            help="show what ingest would do now: each file, what it becomes, what is skipped",
        ),
    },
)
