"""Keeping a pond small and fast for years: compaction, vacuum, and superseded chunks.

Every commit runs the automatic part (:func:`after_commit`), so a pond written by a collector from
cron never needs a person; ``pond maintain`` (:meth:`Pond.maintain`) does all of it at once.

- **Compaction.** A partition of the oplog holding more than :data:`AUTO_COMPACT_FILES` Delta data
  files is bin-packed into files of up to :data:`COMPACT_TARGET` bytes; files that size are left
  alone, so a compaction rewrites at most about that many bytes however long the history (no
  quadratic rewriting). Rows are only metadata and small inline content: series chunks are large
  files of their own.
- **Vacuum.** Files a compaction replaced are deleted once they are older than the retention
  (:data:`RETENTION_HOURS`, one hour): a reader that loaded the table before the compaction (readers
  take no lock) can still read them.
- **Superseded chunks.** A collapse (:mod:`duckpond.tinyfs.collapse`) supersedes series chunks;
  the committing process lists their large files in ``_large_files/.superseded`` and they are
  deleted when older than the retention. Time travel to before the collapse reads their rows from
  the collapse. ``pond maintain`` also finds superseded chunks the list missed (a crash).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Final

from duckpond import diagnostics
from duckpond.errors import translate_errors
from duckpond.layout import TMP_PREFIX, PondLayout
from duckpond.times import now_us

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = [
    "AUTO_COMPACT_FILES",
    "COMPACT_TARGET",
    "RETENTION_HOURS",
    "SupersededLog",
    "compact",
    "vacuum",
]

#: A partition with more Delta data files than this is compacted after a commit.
AUTO_COMPACT_FILES: Final = 16
#: Compaction bin-packs small files into files of up to this many bytes (1 MiB).
COMPACT_TARGET: Final = 1 << 20
#: Files replaced by a compaction, and superseded chunks, are deleted after this long: what a
#: reader that loaded the pond before needs stays readable for an hour.
RETENTION_HOURS: Final = 1

_log = diagnostics.get_logger("steward")
_HOUR_US: Final = 3_600_000_000


def compact(table: DeltaTable, part_ids: Iterable[str] | None, *, what: str) -> int:
    """Bin-pack the small files of ``part_ids`` (all partitions if ``None``); returns the number
    of files removed.

    Raises:
        HostError: the disk is full. ConflictError: someone else committed meanwhile.
    """
    from deltalake import CommitProperties

    props = CommitProperties(custom_metadata={"duckpond_maintenance": what}, max_commit_retries=0)
    removed = 0
    with translate_errors(str(table.table_uri), what="compaction"):
        if part_ids is None:
            metrics = table.optimize.compact(target_size=COMPACT_TARGET, commit_properties=props)
            return int(metrics.get("numFilesRemoved", 0))
        for part_id in part_ids:
            metrics = table.optimize.compact(
                partition_filters=[("part_id", "=", part_id)],
                target_size=COMPACT_TARGET,
                commit_properties=props,
            )
            removed += int(metrics.get("numFilesRemoved", 0))
    return removed


def vacuum(
    table: DeltaTable, retention_hours: int, *, full: bool = False, keep: Collection[str] = ()
) -> list[str]:
    """Delete files the table no longer uses, removed more than ``retention_hours`` ago.

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


class SupersededLog:
    """``_large_files/.superseded``: large files of superseded series chunks, to delete later.

    One line per file: ``<sha256> <µs when superseded>``. Only writers (under the write lock)
    change it; it is derived data (``pond maintain`` finds what it misses).
    """

    NAME: Final = ".superseded"

    def __init__(self, layout: PondLayout) -> None:
        self.layout = layout
        self.path = layout.large_files / self.NAME

    def add(self, shas: Iterable[str], when_us: int | None = None) -> None:
        """Record large files superseded by a commit that just happened."""
        when = now_us() if when_us is None else when_us
        lines = "".join(f"{sha} {when}\n" for sha in shas)
        if not lines:
            return
        with (
            translate_errors(str(self.path), what="recording superseded chunks"),
            open(self.path, "a", encoding="ascii") as f,
        ):
            f.write(lines)

    def entries(self) -> list[tuple[str, int]]:
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            sha, _, when = line.partition(" ")
            if sha and when.isdigit():
                out.append((sha, int(when)))
        return out

    def sweep(self, retention_hours: float) -> int:
        """Delete the listed files superseded more than ``retention_hours`` ago; returns how
        many files were deleted."""
        entries = self.entries()
        if not entries:
            return 0
        cutoff = now_us() - int(retention_hours * _HOUR_US)
        keep = [(sha, when) for sha, when in entries if when > cutoff]
        removed = 0
        for sha, when in entries:
            if when <= cutoff:
                with contextlib.suppress(FileNotFoundError):
                    self.layout.large_file(sha).unlink()
                    removed += 1
        self._rewrite(keep)
        if removed:
            _log.info("deleted superseded chunks files=%d", removed)
        return removed

    def _rewrite(self, entries: list[tuple[str, int]]) -> None:
        if not entries:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        tmp = self.path.with_name(f"{TMP_PREFIX}{self.NAME}.{os.getpid()}")
        with translate_errors(str(self.path), what="recording superseded chunks"):
            tmp.write_text("".join(f"{s} {w}\n" for s, w in entries), encoding="ascii")
            tmp.replace(self.path)

    def __repr__(self) -> str:
        return f"SupersededLog({json.dumps(str(self.path))})"
