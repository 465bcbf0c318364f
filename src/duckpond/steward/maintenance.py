"""Keeping a pond small and fast for years: compaction, vacuum, and superseded chunks.

Every commit runs the automatic part (:func:`after_commit`), so a pond written by a collector from
cron never needs a person; ``pond maintain`` (:meth:`Pond.maintain`) does all of it at once.

- **Compaction.** A partition of the oplog holding more than :data:`AUTO_COMPACT_FILES` Delta data
  files has its smallest files (by rows) rewritten as one (:func:`compact_oplog`), tiered:
  the newest small files merge together, and a merged file joins them only once they hold
  twice its rows, so a compaction after a commit costs what the last commits wrote except once
  in a long while, not the partition's history, and each row is rewritten a few times (the log
  of the history); files of :data:`COMPACT_TARGET` bytes are left alone. Rows are only
  metadata and small inline content: series chunks are large files of their own. ``pond
  maintain`` rewrites every partition whole.
- **Summarized history.** A compaction also summarizes what the history no longer needs in full:
  the row of a series version a collapse holds whose own chunk file was deleted keeps only the
  first :data:`~duckpond.tinyfs.lineage.DIGEST_KEY_CHARS` hex digits of its sha256 (what lineage
  keys use; the digest no longer addresses a file), and rows are written sorted by node and
  version with delta-encoded integers. A year of hourly appends has ~9,000 such rows per series,
  and the full digest was three quarters of each row's bytes.
- **Vacuum.** Files a compaction replaced (listed in the table's :class:`ReplacedLog`) are
  deleted after a commit once they are older than the retention
  (:data:`RETENTION_HOURS`, one hour, or the pond's ``retention`` setting:
  :func:`retention_seconds`): a reader that loaded the table before the compaction (readers
  take no lock) can still read them. Both tables carry the same retention as their Delta
  properties (:func:`retention_configuration`), so their checkpoints keep the tombstones and
  log entries of that long only.
- **Superseded chunks.** A collapse (:mod:`duckpond.tinyfs.collapse`) supersedes series chunks;
  the committing process lists their large files in ``_large_files/.superseded`` and they are
  deleted when older than the retention. Time travel to before the collapse reads their rows from
  the collapse. ``pond maintain`` also finds superseded chunks the list missed (a crash).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

from duckpond import diagnostics
from duckpond.errors import translate_errors
from duckpond.layout import TMP_PREFIX, PondLayout
from duckpond.times import now_us, parse_resolution

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

__all__ = [
    "AUTO_COMPACT_FILES",
    "COMPACT_TARGET",
    "MERGE_FILES",
    "RETENTION_HOURS",
    "RETENTION_SETTING",
    "DeletionLog",
    "ReplacedLog",
    "SupersededLog",
    "compact_control",
    "compact_oplog",
    "retention_configuration",
    "retention_seconds",
    "summarize",
    "vacuum",
]

#: A partition with more Delta data files than this is compacted after a commit.
AUTO_COMPACT_FILES: Final = 16
#: Compaction bin-packs small files into files of up to this many bytes (1 MiB).
COMPACT_TARGET: Final = 1 << 20
#: An automatic compaction merges at most this many files, chosen by :func:`_tier` (what it
#: rewrites follows the last commits, not the history).
MERGE_FILES: Final = 16
#: Files replaced by a compaction, and superseded chunks, are deleted after this long: what a
#: reader that loaded the pond before needs stays readable for an hour.
RETENTION_HOURS: Final = 1
#: The pond setting (control table) that replaces :data:`RETENTION_HOURS`: a duration
#: ``<n>s|m|h|d`` (``pond maintain --set-retention``,
#: :meth:`~duckpond.steward.pond.Pond.set_retention`).
RETENTION_SETTING: Final = "retention"

_log = diagnostics.get_logger("steward")
_HOUR_US: Final = 3_600_000_000


def retention_seconds(settings: Mapping[str, str]) -> int:
    """The pond's retention in seconds: its :data:`RETENTION_SETTING`, else
    :data:`RETENTION_HOURS` (also when the setting is unreadable: it is only ever written
    checked, so that is a damaged control table, and the longer default is the safe side)."""
    value = settings.get(RETENTION_SETTING)
    if value:
        with contextlib.suppress(ValueError):
            return parse_resolution(value)
    return RETENTION_HOURS * 3600


def retention_configuration(seconds: int) -> dict[str, str]:
    """The Delta table properties that carry a retention of ``seconds``: how long a checkpoint
    keeps the tombstones of removed files (and vacuum spares the files) and how long log entries
    stay (`Delta protocol, table properties
    <https://docs.delta.io/latest/table-properties.html>`_; delta-rs parses the interval)."""
    interval = f"interval {int(seconds)} seconds"
    return {
        "delta.deletedFileRetentionDuration": interval,
        "delta.logRetentionDuration": interval,
    }


#: Parquet encodings of the oplog's columns in the files :func:`compact_oplog` writes (sorted by
#: node and version, each integer differs little from the row before); the others are
#: dictionary-coded, as delta-rs writes them.
_OPLOG_ENCODINGS: Final = dict.fromkeys(
    ("version", "txn_seq", "timestamp", "size", "min_event_time", "max_event_time"),
    "DELTA_BINARY_PACKED",
)
#: The same for the control table (:func:`compact_control`, records in time order): a txn_id
#: repeats in the next record (plain: zstd finds the repeat), a duration is a float.
_CONTROL_ENCODINGS: Final = {
    **dict.fromkeys(("txn_seq", "timestamp", "data_version"), "DELTA_BINARY_PACKED"),
    "txn_id": "PLAIN",
    "duration_ms": "BYTE_STREAM_SPLIT",
}


def compact_oplog(
    table: DeltaTable,
    layout: PondLayout,
    part_ids: Iterable[str] | None,
    *,
    what: str,
    whole: bool = False,
) -> int:
    """Rewrite the oplog's small files of ``part_ids`` (every partition if ``None``) as one file
    per partition, history summarized (:func:`summarize`), in one Delta commit; returns the
    number of files removed.

    A partition's smallest files under :data:`COMPACT_TARGET` bytes (:func:`_tier`) are
    rewritten when there are two or more; with ``whole`` (``pond maintain``) every file of the
    partition, whatever its size, when it has more than one file or a row to summarize. The new
    file holds the same rows (same columns, :data:`~duckpond.tlogfs.delta.OPLOG_SCHEMA` less
    ``part_id``) sorted by node and version. The caller holds the write lock.

    Raises:
        HostError: the disk is full. ConflictError: someone else committed meanwhile.
    """
    import pyarrow as pa

    from duckpond.tlogfs.delta import OPLOG_SCHEMA

    schema = pa.schema([f for f in OPLOG_SCHEMA if f.name != "part_id"])
    files = _small_files(table, whole=whole)
    wanted = sorted(p for p in files if p is not None) if part_ids is None else part_ids
    groups: list[tuple[dict[str, str | None], list[_File], pa.Table]] = []
    for part in wanted:
        chosen = files.get(part, []) if whole else _tier(files.get(part, []))
        if len(chosen) < (1 if whole else 2):
            continue
        rows, summarized = summarize(_read(table, chosen, schema), layout)
        if len(chosen) > 1 or summarized:
            groups.append(({"part_id": part}, chosen, rows))
    return _replace(table, groups, _OPLOG_ENCODINGS, what=what)


def compact_control(table: DeltaTable, *, what: str, whole: bool = False) -> int:
    """Rewrite the control table's smallest files under :data:`COMPACT_TARGET` bytes
    (:func:`_tier`; every file if ``whole``) as one, its records in time order
    with delta-encoded integers, in one Delta commit; returns the number of files removed. The
    caller holds the write lock.

    Raises:
        HostError: the disk is full. ConflictError: someone else committed meanwhile.
    """
    import pyarrow.compute as pc

    from duckpond.steward.control import CONTROL_SCHEMA

    chosen = _small_files(table, whole=whole).get(None, [])
    if not whole:
        chosen = _tier(chosen)
    if len(chosen) < 2:
        return 0
    rows = _read(table, chosen, CONTROL_SCHEMA).sort_by([("timestamp", "ascending")])
    # settings in a file of their own: a reader of the settings skips the files of transaction
    # records by their null count of ``key`` (ControlTable.read)
    key = rows.column("key")
    parts = [t for t in (rows.filter(pc.is_valid(key)), rows.filter(pc.is_null(key))) if len(t)]
    groups: list[tuple[dict[str, str | None], list[_File], pa.Table]] = [
        ({}, chosen if i == 0 else [], part) for i, part in enumerate(parts)
    ]
    return _replace(table, groups, _CONTROL_ENCODINGS, what=what)


#: A Delta data file: (path relative to the table, bytes, rows).
_File = tuple[str, int, int]


def _small_files(table: DeltaTable, *, whole: bool) -> dict[str | None, list[_File]]:
    """The table's live files under :data:`COMPACT_TARGET` bytes (all of them if ``whole``), by
    ``part_id`` (``None``: the table is not partitioned)."""
    import pyarrow as pa

    with translate_errors(str(table.table_uri), what="compaction"):
        actions = pa.table(table.get_add_actions(flatten=True))
    paths = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    rows = actions.column("num_records").to_pylist()
    if "partition.part_id" in actions.column_names:
        parts = actions.column("partition.part_id").to_pylist()
    else:
        parts = [None] * len(paths)
    files: dict[str | None, list[_File]] = {}
    for rel, size, n, part in zip(paths, sizes, rows, parts, strict=True):
        if whole or size < COMPACT_TARGET:
            files.setdefault(part, []).append((rel, size, n or 0))
    return files


def _tier(files: list[_File]) -> list[_File]:
    """What an automatic compaction merges of ``files``: of the :data:`MERGE_FILES` files of
    fewest rows, the longest run from the smallest whose last file holds at most half the rows
    of the files before it together. New small files merge together; a merged file joins them
    only once they hold twice its rows, so merged files grow geometrically, each row is
    rewritten a few times (log of the history), and a merge after a commit is about as large
    as the last commits' rows except once in a long while. Rows, not bytes: a small file is
    mostly its footer."""
    ordered = sorted(files, key=lambda f: (f[2], f[1], f[0]))[:MERGE_FILES]
    take, rows = 1, 0
    for i, (_, _, n) in enumerate(ordered):
        if i and 2 * n <= rows:
            take = i + 1
        rows += n
    return ordered[:take]


def _read(table: DeltaTable, files: list[_File], schema: pa.Schema) -> pa.Table:
    """The rows of ``files`` (relative to the table), read as ``schema``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = str(table.table_uri).removeprefix("file://")
    with translate_errors(base, what="compaction"):
        return pa.concat_tables(
            [pq.read_table(os.path.join(base, rel), schema=schema) for rel, *_ in files]  # noqa: PTH118
        )


def _replace(
    table: DeltaTable,
    groups: list[tuple[dict[str, str | None], list[_File], pa.Table]],
    encodings: Mapping[str, str],
    *,
    what: str,
) -> int:
    """Commit, as one Delta transaction, each group's rows written as one new file in place of
    the group's files (``(partition values, files, rows)``; a group may name no files, when
    the rows of one set of files are split into several); returns the files removed.

    The commit is a compaction's (``dataChange`` false; no txn_seq recorded). The new files are
    zstd Parquet, each column in its Parquet encoding of ``encodings`` or else dictionary-coded
    (Apache Parquet encodings: any Parquet reader reads them). A new file no commit names is
    deleted.
    """
    import time
    import uuid

    import pyarrow.parquet as pq
    from deltalake import CommitProperties
    from deltalake.transaction import AddAction, RemoveAction

    if not groups:
        return 0
    base = str(table.table_uri).removeprefix("file://")
    now_ms = int(time.time() * 1000)
    removes: list[RemoveAction] = []
    adds: list[AddAction] = []
    written: list[str] = []
    try:
        for values, chosen, rows in groups:
            folder = os.path.dirname(chosen[0][0]) if chosen else ""  # noqa: PTH120
            rel = f"{folder}/" if folder else ""
            rel += f"part-00000-{uuid.uuid4()}-c000.zstd.parquet"
            path = os.path.join(base, rel)  # noqa: PTH118
            written.append(path)
            with translate_errors(path, what="compaction"):
                pq.write_table(
                    rows,
                    path,
                    compression="zstd",
                    use_dictionary=[n for n in rows.column_names if n not in encodings],
                    column_encoding={n: e for n, e in encodings.items() if n in rows.column_names},
                )
                size = os.stat(path).st_size  # noqa: PTH116
            removes += [RemoveAction(r, False, now_ms, n, values) for r, n, _ in chosen]
            adds.append(AddAction(rel, size, values, now_ms, False, _stats(rows)))
        props = CommitProperties(
            custom_metadata={"duckpond_maintenance": what}, max_commit_retries=0
        )
        with translate_errors(base, what="compaction"):
            table.create_write_transaction(
                [*removes, *adds],
                mode="append",
                schema=table.schema(),
                partition_by=list(groups[0][0]),
                commit_properties=props,
            )
            written.clear()
            table.update_incremental()  # the commit does not move the table's own snapshot
        # after the commit: a file listed before it could be deleted while still live
        ReplacedLog(base).add(r.path for r in removes)
    finally:
        for path in written:  # not committed: nobody names them
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # noqa: PTH108
    _log.info("compacted table=%s files=%d into=%d", base, len(removes), len(adds))
    return len(removes)


def summarize(rows: pa.Table, layout: PondLayout) -> tuple[pa.Table, int]:
    """``rows`` (oplog rows) sorted by node and version, each series version a collapse among
    them holds whose chunk file is gone keeping only the first
    :data:`~duckpond.tinyfs.lineage.DIGEST_KEY_CHARS` hex digits of its sha256; and how many rows
    were summarized.

    Only a version whose file is gone is summarized (its rows are read from the collapse, and
    its digest addresses nothing); a missing chunk no collapse holds keeps its full digest, so
    ``pond maintain --verify`` still names it.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from duckpond.tinyfs.collapse import COLLAPSES
    from duckpond.tinyfs.lineage import DIGEST_KEY_CHARS
    from duckpond.tinyfs.model import FILE_SERIES

    rows = rows.sort_by([("node_id", "ascending"), ("version", "ascending")])
    sha = rows.column("sha256")
    # rows with a whole digest, of a series chunk (not inline): what may be summarized
    whole = pc.and_(
        pc.and_(
            pc.greater(pc.utf8_length(sha), DIGEST_KEY_CHARS),
            pc.equal(rows.column("file_type"), str(FILE_SERIES)),
        ),
        pc.is_null(rows.column("content")),
    )
    candidates = pc.indices_nonzero(pc.fill_null(whole, False))
    if not len(candidates):
        return rows, 0
    picked = rows.select(["node_id", "version", "sha256"]).take(candidates).to_pylist()
    # whose chunk file is gone (a few stats: the live versions and the recently superseded)
    gone = {
        i: row
        for i, row in zip(candidates.to_pylist(), picked, strict=True)
        if not layout.large_file(row["sha256"]).exists()
    }
    if not gone:
        return rows, 0
    # held by a collapse: only collapses newer than a gone version of their node can hold it
    oldest: dict[str, int] = {}
    for row in gone.values():
        oldest[row["node_id"]] = min(row["version"], oldest.get(row["node_id"], row["version"]))
    held: dict[str, set[int]] = {}
    attrs = rows.column("extended_attributes")
    collapses = pc.fill_null(pc.match_substring(attrs, f'"{COLLAPSES}"'), False)
    holders = rows.filter(collapses).select(["node_id", "version", "extended_attributes"])
    for row in holders.to_pylist():
        node = row["node_id"]
        if node in oldest and row["version"] > oldest[node]:
            children = json.loads(row["extended_attributes"]).get(COLLAPSES) or ()
            held.setdefault(node, set()).update(int(item[0]) for item in children)
    mask = [False] * rows.num_rows
    for i, row in gone.items():
        mask[i] = row["version"] in held.get(row["node_id"], ())
    summarized = sum(mask)
    if summarized:
        short = pc.utf8_slice_codeunits(sha, 0, DIGEST_KEY_CHARS)
        digests = pc.if_else(pa.array(mask, pa.bool_()), short, sha)
        at = rows.schema.get_field_index("sha256")
        rows = rows.set_column(at, rows.schema.field(at), digests)
    return rows, summarized


def _stats(rows: pa.Table) -> str:
    """Delta file statistics of ``rows``: the record count, null counts, and the bounds of the
    integer columns (what the Delta protocol's ``stats`` records; the others are optional)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    low: dict[str, int] = {}
    high: dict[str, int] = {}
    for name in rows.column_names:
        column = rows.column(name)
        if pa.types.is_integer(column.type) and column.null_count < len(column):
            bounds = pc.min_max(column).as_py()
            low[name], high[name] = bounds["min"], bounds["max"]
    nulls = {name: rows.column(name).null_count for name in rows.column_names}
    return json.dumps(
        {"numRecords": rows.num_rows, "minValues": low, "maxValues": high, "nullCount": nulls}
    )


def vacuum(
    table: DeltaTable,
    retention_hours: int | None,
    *,
    full: bool = False,
    keep: Collection[str] = (),
) -> list[str]:
    """Delete files the table no longer uses, removed more than ``retention_hours`` ago (``None``:
    the table's ``delta.deletedFileRetentionDuration``, which :func:`retention_configuration`
    sets to the pond's retention).

    ``full`` also finds files no remove action names (a crashed writer's leftovers), by listing
    the table's folder. ``keep``: names (relative to the table's folder) that are not the table's
    and must stay (the control table's folder holds the write lock): the files are listed, then
    all others deleted here.
    """
    from deltalake import CommitProperties

    props = CommitProperties(custom_metadata={"duckpond_maintenance": "vacuum"})
    with translate_errors(str(table.table_uri), what="vacuum"):
        files = table.vacuum(
            retention_hours=retention_hours,
            dry_run=bool(keep),
            enforce_retention_duration=False,
            commit_properties=props,
            full=full,
        )
        if not keep:
            return list(files)
        base = table.table_uri.removeprefix("file://")
        deleted = [f for f in files if f not in keep]
        for rel in deleted:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(base, rel))  # noqa: PTH108, PTH118
        return deleted


class DeletionLog:
    """A list of files to delete once they are older than the retention, kept in one small file:
    one line per file, ``<name> <µs when it stopped being used>``.

    Only writers (under the write lock) change it; it is derived data (``pond maintain`` finds
    what it misses by listing). Subclasses say where the list lives and what a name addresses.
    """

    #: What the files are, for log lines and errors.
    WHAT: ClassVar[str] = "files"

    def __init__(self, path: Path) -> None:
        self.path = path

    def file(self, name: str) -> Path:
        """The host file ``name`` addresses."""
        raise NotImplementedError

    def add(self, names: Iterable[str], when_us: int | None = None) -> None:
        """Record files that stopped being used by a commit that just happened."""
        when = now_us() if when_us is None else when_us
        lines = "".join(f"{name} {when}\n" for name in names)
        if not lines:
            return
        with (
            translate_errors(str(self.path), what=f"recording {self.WHAT}"),
            open(self.path, "a", encoding="utf-8") as f,
        ):
            f.write(lines)

    def entries(self) -> list[tuple[str, int]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            name, _, when = line.rpartition(" ")
            if name and when.isdigit():
                out.append((name, int(when)))
        return out

    def sweep(self, retention_hours: float) -> int:
        """Delete the listed files unused for more than ``retention_hours``; returns how many
        files were deleted."""
        entries = self.entries()
        if not entries:
            return 0
        cutoff = now_us() - int(retention_hours * _HOUR_US)
        keep = [(name, when) for name, when in entries if when > cutoff]
        removed = 0
        for name, when in entries:
            if when > cutoff:
                continue
            try:
                target = self.file(name)
            except ValueError:  # not a name this list holds: dropped
                continue
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
                removed += 1
        self._rewrite(keep)
        if removed:
            _log.info("deleted %s files=%d", self.WHAT, removed)
        return removed

    def _rewrite(self, entries: list[tuple[str, int]]) -> None:
        if not entries:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        tmp = self.path.with_name(f"{TMP_PREFIX}{self.path.name}.{os.getpid()}")
        with translate_errors(str(self.path), what=f"recording {self.WHAT}"):
            tmp.write_text("".join(f"{n} {w}\n" for n, w in entries), encoding="utf-8")
            tmp.replace(self.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({json.dumps(str(self.path))})"


class SupersededLog(DeletionLog):
    """``_large_files/.superseded``: large files of superseded series chunks, by sha256."""

    NAME: Final = ".superseded"
    WHAT = "superseded chunks"

    def __init__(self, layout: PondLayout) -> None:
        super().__init__(layout.large_files / self.NAME)
        self.layout = layout

    def file(self, name: str) -> Path:
        return self.layout.large_file(name)


class ReplacedLog(DeletionLog):
    """``<table>/.replaced``: the Delta data files a compaction removed, by path relative to the
    table (``data/`` or ``control/``).

    Deleting them is what vacuum does, but vacuum finds them by the tombstones of the table's
    snapshot, and a checkpoint drops a tombstone once it is older than the retention: exactly
    when vacuum would delete its file. Unless a vacuum runs between the two, the file is never
    found again (but by ``pond maintain``'s full vacuum, which lists the folder). The compaction
    knows what it removed, so it lists it here and the sweep after each commit deletes it.
    """

    NAME: Final = ".replaced"
    WHAT = "compacted data files"

    def __init__(self, table_dir: str | os.PathLike[str]) -> None:
        super().__init__(Path(table_dir) / self.NAME)

    def file(self, name: str) -> Path:
        parts = Path(name).parts
        if (
            not parts
            or Path(name).is_absolute()
            or ".." in parts
            or parts[0].startswith(("_", "."))
        ):
            raise ValueError(f"not a data file of the table: {name!r}")
        return self.path.parent / name
