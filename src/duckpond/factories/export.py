"""``pond export``: series as Hive-partitioned Parquet plus a manifest, for the website.

Layout under ``out_dir``::

    <name>/res=<R>/year=YYYY/month=M/part.parquet     a res=<R>.series (e.g. temporal-reduce)
    <name>/year=YYYY/month=M/part.parquet             any other series or table with a time column
    manifest.json

``<name>`` is derived from the pond path: for ``/reduced/all/res=1h.series`` it is the parent's
path ``reduced/all`` and the resolution is ``1h``; for ``/derived/JFK.series`` it is
``derived/JFK`` (suffix ``.series``/``.table`` dropped) with no resolution. The temporal partition
levels are any prefix of ``year, month, day, hour`` (UTC), or none. Partition values are written
as plain integers (``month=7``, not ``07``), as Spark and Hive write them, so every Hive-aware
reader infers an integer column: DuckDB ``BIGINT`` (a zero-padded ``07`` would be ``VARCHAR``
there), polars ``Int64``, pyarrow ``int32`` (its inference of every Hive integer), Spark ``int``.

Each ``part.parquet`` is SNAPPY-compressed, sorted by time, and holds ``Timestamp``
(``timestamp[us, tz=UTC]``; the series' time column renamed if it had another name) then the
series' other columns; the partition values are only in the path. ``start``/``end`` keep rows with
``start <= Timestamp < end`` (ISO-8601, naive = UTC, or µs).

Re-exporting is incremental: each partition is encoded in memory and written (to a temporary
sibling, then renamed) only when its bytes differ from the file already there, so an unchanged
partition keeps its bytes and its mtime and a sync to a web host sends only what changed. A
partition of the series that the new export no longer has (other bounds, other levels, rows
gone) is deleted, with the directories it leaves empty. ``rebuild=True`` writes every partition
again. :attr:`ExportManifest.changes` says which files were written, left as they were and
removed.

``manifest.json`` (version 1)::

    {"format": "duckpond-export", "version": 1, "temporal": ["year", "month"],
     "start_us": null, "end_us": null,
     "series": [{"name": "reduced/all", "path": "/reduced/all/res=1h.series",
                 "resolution": "1h", "seconds": 3600, "time_column": "Timestamp",
                 "columns": ["B01.WaterTemperature.C.avg", ...], "rows": 18320,
                 "start_us": ..., "end_us": ...,
                 "files": [{"file": "reduced/all/res=1h/year=2013/month=1/part.parquet",
                            "start_us": ..., "end_us": ..., "rows": 744, "bytes": 31337}]}]}

Times are µs since the epoch, UTC; ``start_us``/``end_us`` of a file are its first and last
``Timestamp`` (bucket starts); ``file`` is relative to ``out_dir``. Series exported earlier into
the same folder and not exported now stay listed (if their files still exist), so several exports
can fill one folder. :meth:`ExportManifest.site_resolutions` turns an entry into the website
renderer's ``Resolution``/``PartFile`` records.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from duckpond.errors import InvalidData, NotFound, UsageError
from duckpond.site.files import remove_files, write_if_changed
from duckpond.times import Window, parse_resolution, parse_time
from duckpond.timeseries import TIME_TYPE

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.fs import WD, NodePath

__all__ = [
    "MANIFEST",
    "ExportChanges",
    "ExportManifest",
    "ExportedFile",
    "ExportedSeries",
    "export",
    "read_timestamped",
]

MANIFEST: Final = "manifest.json"
TEMPORAL_LEVELS: Final = ("year", "month", "day", "hour")
_RES_RE: Final = re.compile(r"^res=([^/]+?)(?:\.series|\.table)?$")


@dataclass(frozen=True)
class ExportedFile:
    """One written ``part.parquet``: path relative to the export folder, time span, rows, bytes."""

    file: str
    start_us: int
    end_us: int
    rows: int
    bytes: int


@dataclass(frozen=True)
class ExportChanges:
    """What one export did to the files: paths relative to the export folder, sorted."""

    written: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __add__(self, other: ExportChanges) -> ExportChanges:
        return ExportChanges(
            tuple(sorted((*self.written, *other.written))),
            tuple(sorted((*self.unchanged, *other.unchanged))),
            tuple(sorted((*self.removed, *other.removed))),
        )


@dataclass(frozen=True)
class ExportedSeries:
    """One exported series: name, pond path, resolution (``None`` unless ``res=``), parts."""

    name: str
    path: str
    resolution: str | None
    seconds: int | None
    time_column: str
    columns: tuple[str, ...]
    files: tuple[ExportedFile, ...]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def start_us(self) -> int | None:
        return min((f.start_us for f in self.files), default=None)

    @property
    def end_us(self) -> int | None:
        return max((f.end_us for f in self.files), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "resolution": self.resolution,
            "seconds": self.seconds,
            "time_column": self.time_column,
            "columns": list(self.columns),
            "rows": self.rows,
            "start_us": self.start_us,
            "end_us": self.end_us,
            "files": [f.__dict__ for f in self.files],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExportedSeries:
        return cls(
            name=d["name"],
            path=d["path"],
            resolution=d.get("resolution"),
            seconds=d.get("seconds"),
            time_column=d.get("time_column", "Timestamp"),
            columns=tuple(d.get("columns", ())),
            files=tuple(ExportedFile(**f) for f in d.get("files", ())),
        )


@dataclass(frozen=True)
class ExportManifest:
    """What is in an export folder (the content of its ``manifest.json``)."""

    out_dir: Path
    temporal: tuple[str, ...]
    start_us: int | None
    end_us: int | None
    series: tuple[ExportedSeries, ...]
    #: what the export that returned this manifest wrote, left alone and removed (not stored)
    changes: ExportChanges = field(default=ExportChanges(), compare=False)

    def names(self) -> list[str]:
        """Distinct series names, sorted."""
        return sorted({s.name for s in self.series})

    def resolutions(self, name: str) -> list[ExportedSeries]:
        """The ``res=`` entries of series ``name``, finest first."""
        found = [s for s in self.series if s.name == name and s.seconds is not None]
        return sorted(found, key=lambda s: s.seconds or 0)

    def site_resolutions(self, name: str) -> tuple[Any, ...]:
        """``duckpond.site.render.Resolution`` records (finest first) for series ``name``.

        Each has the resolution's name and seconds and one ``PartFile(path, start_us, end_us,
        rows)`` per exported part, with absolute host paths.
        """
        from duckpond.site.render import PartFile, Resolution

        return tuple(
            Resolution(
                name=s.resolution or "",
                seconds=s.seconds or 0,
                files=tuple(
                    PartFile(self.out_dir / f.file, f.start_us, f.end_us, f.rows) for f in s.files
                ),
            )
            for s in self.resolutions(name)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "duckpond-export",
            "version": 1,
            "temporal": list(self.temporal),
            "start_us": self.start_us,
            "end_us": self.end_us,
            "series": [s.to_json() for s in self.series],
        }

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str]) -> ExportManifest:
        """Read ``out_dir/manifest.json``.

        Raises:
            NotFound: no manifest. InvalidData: not a DuckPond export manifest.
        """
        folder = Path(out_dir)
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound("no export manifest", str(path)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidData(f"not a JSON manifest ({exc})", str(path)) from None
        if not isinstance(data, dict) or data.get("format") != "duckpond-export":
            raise InvalidData("not a DuckPond export manifest", str(path))
        return cls(
            out_dir=folder,
            temporal=tuple(data.get("temporal", ())),
            start_us=data.get("start_us"),
            end_us=data.get("end_us"),
            series=tuple(ExportedSeries.from_json(s) for s in data.get("series", ())),
        )


def series_name(path: str) -> tuple[str, str | None]:
    """``/reduced/all/res=1h.series`` -> ``("reduced/all", "1h")``; else (path, no suffix; None)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise UsageError("the root is not a series", path)
    m = _RES_RE.match(parts[-1])
    if m is not None:
        try:
            parse_resolution(m.group(1))
        except ValueError:
            m = None
    if m is not None:
        return "/".join(parts[:-1]) or "root", m.group(1)
    last = re.sub(r"\.(series|table|parquet)$", "", parts[-1])
    return "/".join([*parts[:-1], last]), None


def export(
    source: Pond | WD,
    patterns: Sequence[str],
    out_dir: str | os.PathLike[str],
    temporal: Sequence[str] = ("year", "month"),
    start: Any = None,
    end: Any = None,
    *,
    rebuild: bool = False,
) -> ExportManifest:
    """Write the series matching ``patterns`` under ``out_dir`` (see the module docstring).

    Args:
        source: a pond (read at its current state) or a WD.
        patterns: globs; a matched directory exports every table/series below it.
        out_dir: host folder (created if missing).
        temporal: partition levels, a prefix of ``("year", "month", "day", "hour")``.
        start, end: keep rows with ``start <= Timestamp < end`` (ISO-8601 / datetime / µs).
        rebuild: write every partition, even those whose bytes are already there.

    Returns:
        The manifest as written to ``out_dir/manifest.json``, with :attr:`~ExportManifest.changes`
        telling which partition files were written, left unchanged and removed.

    Raises:
        UsageError: bad ``temporal`` or ``start >= end``. NotFound: no pattern matched a table or
        series. InvalidData: a series without a usable time column, or with a ``Timestamp``
        column besides its time column. A pattern that matches nothing (while others match) is
        reported with an :class:`~duckpond.factories.base.EmptyInputWarning`.
    """
    from duckpond.factories.base import warn_empty

    levels = tuple(temporal)
    if levels != TEMPORAL_LEVELS[: len(levels)]:
        raise UsageError(
            f"temporal partitions must be a prefix of {','.join(TEMPORAL_LEVELS)} (got "
            f"{','.join(levels) or 'none'})"
        )
    try:
        lo = parse_time(start) if start is not None else None
        hi = parse_time(end) if end is not None else None
    except ValueError as exc:
        raise UsageError(f"export: {exc}") from None
    if lo is not None and hi is not None and lo >= hi:
        raise UsageError("export: start must be before end")
    from duckpond.tinyfs.fs import WD as _WD

    root = source if isinstance(source, _WD) else source.root()
    found: dict[str, NodePath] = {}
    for pattern in patterns:
        n = 0
        for np in root.glob(pattern):
            for leaf in _tables_under(root, np):
                found.setdefault(leaf.path, leaf)
                n += 1
        if n == 0:
            warn_empty("export", "pattern", pattern)
    if not found:
        raise NotFound(f"export: no table or series matches {' '.join(patterns)}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    exported: list[ExportedSeries] = []
    names: dict[tuple[str, str | None], str] = {}
    for path in sorted(found):
        name, res = series_name(path)
        if (name, res) in names:
            raise InvalidData(f"export: {path} and {names[(name, res)]} both export as {name!r}")
        names[(name, res)] = path
    changes = ExportChanges()
    for (name, res), path in sorted(names.items(), key=lambda kv: kv[1]):
        series, done = _export_one(found[path], name, res, folder, levels, lo, hi, rebuild)
        exported.append(series)
        changes += done
    manifest = _merge(folder, levels, lo, hi, exported)
    write_if_changed(
        folder / MANIFEST,
        (json.dumps(manifest.to_json(), indent=1) + "\n").encode("utf-8"),
        rebuild=rebuild,
    )
    return replace(manifest, changes=changes)


def _tables_under(root: WD, np: NodePath) -> list[NodePath]:
    if np.is_symlink:
        np = root.resolve(np.path)
    if np.is_dir:
        from duckpond.tinyfs.fs import WD as _WD

        out = []
        for child in _WD(root.fs, np).walk("."):
            if not child.is_dir and not child.is_symlink and _is_table(child):
                out.append(child)
        return out
    return [np] if _is_table(np) else []


def _is_table(np: NodePath) -> bool:
    return np.file_type in {"file:table", "file:series"}


def read_timestamped(np: NodePath, who: str) -> pa.Table:
    """A table or series with its time column as ``Timestamp`` (``timestamp[us, tz=UTC]``) first.

    The series' time column (or the detected one of a table) is renamed ``Timestamp``; rows keep
    their stored order.

    Raises:
        InvalidData: no usable time column, or a ``Timestamp`` column besides the time column
            (named with ``who``, the calling command, and the node's path).
    """
    from duckpond.timeseries import detect_time_column

    table = np.read_table()
    tc = np.time_column() if np.file_type == "file:series" else None
    if tc is None or tc not in table.column_names:
        try:
            tc = detect_time_column(table.schema)
        except InvalidData as exc:
            raise InvalidData(f"{who}: {exc.message}", np.path) from None
    if tc != "Timestamp":
        if "Timestamp" in table.column_names:
            raise InvalidData(
                f"{who}: has a 'Timestamp' column besides its time column {tc!r}", np.path
            )
        table = table.rename_columns(["Timestamp" if c == tc else c for c in table.column_names])
    ts = table.column("Timestamp")
    if ts.type != TIME_TYPE:
        from duckpond.timeseries import normalize_series

        table = normalize_series(table, "Timestamp", path=np.path)[0] if table.num_rows else table
    return table.select(["Timestamp", *[c for c in table.column_names if c != "Timestamp"]])


def _export_one(
    np: NodePath,
    name: str,
    res: str | None,
    folder: Path,
    levels: tuple[str, ...],
    lo: int | None,
    hi: int | None,
    rebuild: bool,
) -> tuple[ExportedSeries, ExportChanges]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = read_timestamped(np, "export")
    if lo is not None or hi is not None:
        from duckpond.tinyfs.tables import filter_window

        table = filter_window(table, "Timestamp", Window(lo, hi))
    table = table.sort_by("Timestamp").replace_schema_metadata(None)
    base = folder.joinpath(*name.split("/"))
    if res is not None:
        base = base / f"res={res}"
    files: list[ExportedFile] = []
    written: list[str] = []
    unchanged: list[str] = []
    if table.num_rows:
        key = _partition_key(table.column("Timestamp"), levels)
        ends = pc.run_end_encode(key).run_ends.to_pylist()
        begin = 0
        for stop in ends:
            part = table.slice(begin, stop - begin)
            begin = stop
            first = part.column("Timestamp")[0].value
            last = part.column("Timestamp")[part.num_rows - 1].value
            target = base.joinpath(*_partition_dirs(first, levels)) / "part.parquet"
            sink = pa.BufferOutputStream()
            pq.write_table(part, sink, compression="snappy")
            data = sink.getvalue().to_pybytes()
            rel = target.relative_to(folder).as_posix()
            (written if write_if_changed(target, data, rebuild=rebuild) else unchanged).append(rel)
            files.append(ExportedFile(rel, int(first), int(last), part.num_rows, len(data)))
    keep = {folder / f.file for f in files}
    stale = [p for p in _partition_files(base) if p not in keep]
    remove_files(folder, stale)
    changes = ExportChanges(
        tuple(written), tuple(unchanged), tuple(p.relative_to(folder).as_posix() for p in stale)
    )
    return ExportedSeries(
        name=name,
        path=np.path,
        resolution=res,
        seconds=parse_resolution(res) if res is not None else None,
        time_column="Timestamp",
        columns=tuple(c for c in table.column_names if c != "Timestamp"),
        files=tuple(files),
    ), changes


def _partition_key(ts: pa.ChunkedArray, levels: tuple[str, ...]) -> pa.Array:
    """One int64 per row naming its partition (e.g. year * 100 + month); rows are sorted."""
    import pyarrow.compute as pc

    if not levels:
        return pa.array([0] * len(ts), pa.int64())
    funcs = {"year": pc.year, "month": pc.month, "day": pc.day, "hour": pc.hour}
    out: Any = None
    for level in levels:
        part = funcs[level](ts).cast(pa.int64())
        out = part if out is None else pc.add(pc.multiply(out, 100), part)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _partition_dirs(first_us: int, levels: tuple[str, ...]) -> list[str]:
    from datetime import UTC, datetime, timedelta

    t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=first_us)
    # plain integers (month=7): readers infer an integer column (module docstring)
    fmt = {"year": t.year, "month": t.month, "day": t.day, "hour": t.hour}
    return [f"{level}={fmt[level]}" for level in levels]


def _partition_files(base: Path) -> list[Path]:
    """The partition files an export may have written under ``base`` (and its leftovers)."""
    if not base.is_dir():
        return []
    found = [base / name for name in ("part.parquet", ".part.parquet.tmp")]
    for child in base.iterdir():
        if child.is_dir() and "=" in child.name and child.name.split("=", 1)[0] in TEMPORAL_LEVELS:
            found += child.rglob("part.parquet")
            found += child.rglob(".part.parquet.tmp")
    return sorted(p for p in found if p.is_file())


def _merge(
    folder: Path,
    levels: tuple[str, ...],
    lo: int | None,
    hi: int | None,
    exported: list[ExportedSeries],
) -> ExportManifest:
    keep: list[ExportedSeries] = []
    now = {(s.name, s.resolution) for s in exported}
    try:
        previous = ExportManifest.load(folder)
    except (NotFound, InvalidData):
        previous = None
    if previous is not None and previous.temporal == levels:
        for s in previous.series:
            if (s.name, s.resolution) in now:
                continue
            if all((folder / f.file).is_file() for f in s.files):
                keep.append(s)
    series = sorted([*keep, *exported], key=lambda s: (s.name, s.seconds or 0, s.path))
    return ExportManifest(folder, levels, lo, hi, tuple(series))
