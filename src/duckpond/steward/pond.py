"""Pond: open or create a pond, run transactions, recover, maintain (docs/design.md).

A pond is a host directory laid out as :class:`duckpond.layout.PondLayout` says: the data table
(the oplog), its large files, the control table (transaction records and settings) and the write
lock.

One transaction = at most one commit to the data table. Within :meth:`Pond.transaction` all
changes are buffered; on success the large files are already written, then the rows go in one
``write_deltalake(mode="append")`` with ``max_commit_retries=0`` on the table loaded when the
transaction began (so a commit by anyone else in between fails it with ConflictError); on any
exception nothing is committed. After the commit, with the lock released, the after-commit hooks
run (:mod:`duckpond.steward.hooks`).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pyarrow as pa

from duckpond import diagnostics, faults
from duckpond.errors import (
    AlreadyExists,
    NotAPond,
    NotFound,
    PondError,
    ReadOnly,
    UsageError,
    first_line,
    translate_errors,
)
from duckpond.layout import LOCK_FILE, TMP_PREFIX, PondLayout
from duckpond.steward.control import ControlRecord, ControlTable, RecordType, TxnRecord
from duckpond.steward.hooks import CommitHookWarning, PondWarning, builtin_factories, prune_cache
from duckpond.steward.lock import WriteLock
from duckpond.steward.maintenance import (
    AUTO_COMPACT_FILES,
    RETENTION_SETTING,
    ReplacedLog,
    SupersededLog,
    retention_configuration,
    retention_seconds,
)
from duckpond.steward.maintenance import compact_control as _compact_control
from duckpond.steward.maintenance import compact_oplog as _compact_oplog
from duckpond.steward.maintenance import vacuum as _vacuum
from duckpond.times import now_us
from duckpond.tinyfs.dynamic import FactoryResolver
from duckpond.tinyfs.fs import FS, WD, NodePath
from duckpond.tinyfs.model import DIR_PHYSICAL, ROOT_ID, NodeVersion, encode_directory
from duckpond.tinyfs.paths import check_utf8
from duckpond.tlogfs.delta import APP_ID, OPLOG_SCHEMA, DeltaPersistence
from duckpond.tlogfs.opening import retry_log_race

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from duckpond.tlogfs.log import Snapshot

__all__ = ["FORMAT_VERSION", "MaintenanceReport", "Pond", "RecoveryReport", "Transaction"]

FORMAT_VERSION: Final = "2"
#: Time travel reads the current table (rows by txn_seq), so neither old Delta log entries nor
#: the files of old table versions are needed beyond what a concurrent reader may still use: the
#: log and the tombstones of compacted files are kept for the retention (one hour), then cleaned
#: at a checkpoint / vacuumed. A checkpoint every 10 commits keeps the JSON replayed at open short.
DATA_CONFIGURATION: Final = {
    "delta.deletedFileRetentionDuration": "interval 1 hour",
    "delta.logRetentionDuration": "interval 1 hour",
    "delta.enableExpiredLogCleanup": "true",
    "delta.checkpointInterval": "10",
}
_log = diagnostics.get_logger("steward")


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What :meth:`Pond.recover` found: transactions marked committed or rolled back."""

    committed: tuple[int, ...]
    rolled_back: tuple[int, ...]
    orphan_files_removed: int


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What :meth:`Pond.maintain` did (sizes in bytes).

    Attributes:
        collapses: collapse versions written (series whose small versions were merged).
        files_before, files_after: live data files of the oplog before and after.
        files_vacuumed: files deleted by vacuum (both tables).
        superseded_removed: large files of superseded series chunks deleted.
        orphans_removed: large files no row refers to deleted.
        bytes_freed: bytes the pond shrank by.
        checkpoint_version: the data table's version at its checkpoint.
    """

    collapses: int
    files_before: int
    files_after: int
    files_vacuumed: int
    superseded_removed: int
    orphans_removed: int
    bytes_freed: int
    checkpoint_version: int


class Transaction:
    """An open transaction: change the pond through :attr:`root` (a writable WD).

    Attributes:
        seq: the txn_seq this transaction will commit as.
        txn_id: its UUID7.
        args: what it records as its command line.
    """

    def __init__(self, pond: Pond, seq: int, txn_id: str, args: tuple[str, ...]) -> None:
        self.pond = pond
        self.seq = seq
        self.txn_id = txn_id
        self.args = args

    @property
    def fs(self) -> FS:
        return self.pond.fs

    def root(self) -> WD:
        """The root directory, writable for the life of the transaction."""
        return self.pond.fs.root()

    @property
    def staged_count(self) -> int:
        """Node versions staged so far (directory snapshots are added at commit)."""
        return len(self.pond._persistence.staged)


class Pond:
    """A pond on the host filesystem. Create with :meth:`init`, open with :meth:`open`.

    Reading needs no transaction (``pond.root()`` is a read-only WD); changing needs one::

        with pond.transaction(["copy", "a.csv"]) as tx:
            tx.root().write_file("/a.csv", b"...")
    """

    def __init__(
        self,
        path: Path,
        data: DeltaTable | Snapshot,
        control: ControlTable,
        *,
        at_txn: int | None = None,
        factories: FactoryResolver | None = None,
    ) -> None:
        self.path = path
        self.layout = PondLayout(path)
        self.at_txn = at_txn
        self.control = control
        self._persistence = DeltaPersistence(
            self.layout, data, read_only=at_txn is not None, as_of=at_txn
        )
        self.fs = FS(
            self._persistence,
            factories=factories if factories is not None else builtin_factories,
            read_only=True,
            tmp_dir=str(self.layout.large_files),
        )
        self._lock = WriteLock(self.layout.lock)
        self._in_txn = False
        self._settings: dict[str, str] | None = None
        #: (data table version, txn_seq at that version): deltalake reads the txn_seq lazily from
        #: the log files listed at load, which a writer's log cleanup may delete meanwhile.
        self._seq_at: tuple[int, int] | None = None

    # -- create / open --------------------------------------------------------------------

    @classmethod
    def init(
        cls, path: str | os.PathLike[str], *, factories: FactoryResolver | None = None
    ) -> Pond:
        """Create a new pond at ``path`` (the directory may exist if it is empty).

        The pond is built in a temporary sibling directory and renamed into place, so a crash
        leaves either no pond (``init`` works again) or a whole one. The first transaction
        (txn_seq 1) writes the empty root directory.

        Raises:
            AlreadyExists: ``path`` already holds a pond or other files.
            NotFound: the parent directory does not exist. InvalidPath: it is not UTF-8.
        """
        root = Path(path)
        check_utf8(str(root))  # deltalake takes UTF-8 paths only
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            held = "a pond" if PondLayout(root).is_pond() else "files"
            raise AlreadyExists(f"the directory already holds {held}", str(root))
        if not root.parent.is_dir():
            raise NotFound("no such directory", str(root.parent))
        _remove_stale_builds(root)
        build = root.parent / f"{TMP_PREFIX}{root.name}.init-{os.getpid()}"
        try:
            _build_pond(build)
            faults.point("init-before-rename")
            with translate_errors(str(root), what="creating the pond"):
                build.rename(root)  # atomic; replaces an empty directory
        except BaseException:
            _rmtree(build)
            raise
        return cls.open(root, factories=factories)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        at_txn: int | None = None,
        factories: FactoryResolver | None = None,
    ) -> Pond:
        """Open the pond at ``path``, at its latest state or as of transaction ``at_txn``.

        A pond opened ``at_txn`` is read-only: the state right after that transaction committed,
        read from the current table (the rows of that transaction and earlier ones), so it works
        whatever maintenance ran since. Dynamic nodes are read with ``factories`` (default: the
        built-in factories).

        Raises:
            NotAPond: no pond there. NotFound: ``at_txn`` was never committed.
        """
        layout = PondLayout.of(path)
        if not layout.is_pond():
            raise NotAPond(
                "not a pond (no data and control tables; run 'pond init')", str(layout.root)
            )
        data, seq = _load(layout)
        control = ControlTable.open(layout.control)
        pond = cls(layout.root, data, control, at_txn=at_txn, factories=factories)
        persistence = pond._persistence
        version = persistence.version()
        _log.debug("opened pond path=%s data_version=%d", layout.root, version)
        pond._seq_at = (version, seq)
        if at_txn is not None and not _committed(control, lambda: persistence.table, seq, at_txn):
            raise NotFound(f"transaction {at_txn} was never committed", None)
        return pond

    # -- reading --------------------------------------------------------------------------

    def root(self) -> WD:
        """The root directory (read-only outside a transaction)."""
        return self.fs.root()

    @property
    def txn_seq(self) -> int:
        """The last committed transaction's sequence number (as of ``at_txn`` if set)."""
        if self.at_txn is not None:
            return self.at_txn
        persistence = self._persistence
        version = persistence.version()
        if self._seq_at is None or self._seq_at[0] != version:
            with translate_errors(str(self.path), what="reading the pond"):
                self._seq_at = (version, int(persistence.transaction_version(APP_ID) or 0))
        return self._seq_at[1]

    @property
    def data_version(self) -> int:
        """The Delta version of the data table this pond reads."""
        return self._persistence.version()

    @property
    def settings(self) -> dict[str, str]:
        if self._settings is None:
            self._settings = self.control.settings()
        return self._settings

    def set_setting(self, key: str, value: str) -> None:
        """Record a pond setting in the control table (``""`` clears it).

        Takes the write lock unless this pond is inside a transaction (which holds it).

        Raises:
            PondLocked: another writer is active. ReadOnly: the pond was opened ``at_txn``.
        """
        if self.at_txn is not None:
            raise ReadOnly("a pond opened as of an older transaction is read-only", str(self.path))
        record = ControlRecord.setting(key, value)
        if self._in_txn:
            self.control.append([record])
        else:
            with self._lock:
                self.control.append([record])
        self._settings = None

    @property
    def retention_seconds(self) -> int:
        """How long (seconds) files a reader that loaded the pond earlier may still need are
        kept: replaced Delta files, their tombstones and log entries, superseded chunks. One
        hour unless :meth:`set_retention` changed it."""
        return retention_seconds(self.settings)

    def set_retention(self, seconds: int) -> None:
        """Change the pond's retention (:attr:`retention_seconds`) for automatic maintenance
        and ``pond maintain``: records the setting and sets both Delta tables' retention
        properties (:func:`~duckpond.steward.maintenance.retention_configuration`), under the
        write lock. A reader that runs longer than the retention may fail once maintenance
        deleted what it was reading; a writer waits for the lock, never fails that way.

        Raises:
            UsageError: ``seconds`` < 1. PondLocked: another writer is active.
            ReadOnly: the pond was opened ``at_txn``. PondError: called inside a transaction.
        """
        from duckpond.times import format_resolution

        if seconds < 1:
            raise UsageError(f"a retention must be 1 second or more, not {seconds} s")
        if self.at_txn is not None:
            raise ReadOnly("a pond opened as of an older transaction is read-only", str(self.path))
        if self._in_txn:
            raise PondError("the retention is set outside a transaction", str(self.path))
        configuration = retention_configuration(seconds)
        with self._lock, translate_errors(str(self.path), what="setting the retention"):
            self._persistence.refresh()
            for table in (self._persistence.table, self.control.table):
                table.alter.set_table_properties(configuration)
            self._persistence.refresh()
            record = ControlRecord.setting(RETENTION_SETTING, format_resolution(seconds))
            self.control.append([record])
        self._settings = None

    @property
    def pond_id(self) -> str:
        return self.settings["pond_id"]

    def log(self) -> list[TxnRecord]:
        """Every transaction recorded in the control table, oldest first."""
        return self.control.transactions()

    def oplog(self) -> pa.Table:
        """Every row of the oplog (:data:`~duckpond.tlogfs.delta.OPLOG_SCHEMA`), all versions."""
        return self._persistence.all_versions()

    def history(self, path: str) -> list[NodeVersion]:
        """The stored versions of the node at ``path``, oldest first."""
        return self.root().resolve(path).versions()

    def sql(self, query: str, path: str | None = None) -> pa.Table:
        """Run read-only SQL with DataFusion (:mod:`duckpond.sql`).

        ``path``'s table or series is the table ``source``; a query that names ``oplog`` also gets
        the oplog (:data:`~duckpond.tlogfs.delta.OPLOG_SCHEMA` without ``content``).

        Raises:
            QueryError: DataFusion rejected or failed the query, or it would write.
            NotFound, InvalidData: ``path`` is missing or not a table/series.
        """
        from duckpond import sql

        ctx = sql.session()
        if path is not None:
            sql.register_node(ctx, "source", self.root().resolve(path))
        if "oplog" in query.lower():
            sql.register_table(ctx, "oplog", self.oplog().drop_columns(["content"]))
        return sql.execute(ctx, query, path)

    # -- transactions ---------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(
        self, args: Sequence[str] = (), *, dry_run: bool = False
    ) -> Iterator[Transaction]:
        """Open a transaction; commits once on success, nothing on an exception.

        With ``dry_run`` the block runs against a writable tree as a real transaction's would
        (the same checks, the same errors) and then everything is discarded: nothing is
        committed or recorded, and large files it wrote are deleted (``pond apply/rm -n``).

        Transactions that a crash left pending are settled first (as :meth:`recover` does). After
        a commit, with the lock released, the after-commit hooks run (auto push, auto mirror
        sync); their failures are :class:`~duckpond.steward.hooks.CommitHookWarning` s.

        Args:
            args: the command line to record (e.g. ``["copy", "a.csv", "/inbox"]``).

        Raises:
            ReadOnly: the pond was opened ``at_txn``.
            PondLocked: another writer holds the lock.
            ConflictError: another writer committed after this transaction began.
        """
        from duckpond.tinyfs.model import new_node_id

        if self.at_txn is not None:
            raise ReadOnly("a pond opened as of an older transaction is read-only", str(self.path))
        if self._in_txn:
            raise PondError("transactions do not nest", str(self.path))
        self._lock.acquire()
        self._in_txn = True
        data_version = None
        try:
            started = time.perf_counter()
            persistence = self._persistence
            persistence.refresh()
            if dry_run:
                tx = Transaction(self, self.txn_seq + 1, new_node_id(), tuple(map(str, args)))
                persistence.begin(tx.seq)
                self.fs.read_only = False
                try:
                    yield tx
                finally:
                    self.fs.discard()
                    persistence.rollback()
                return
            self._settle_pending()
            tx = Transaction(self, self.txn_seq + 1, new_node_id(), tuple(str(a) for a in args))
            self.control.append([ControlRecord(RecordType.BEGIN, tx.seq, tx.txn_id, tx.args)])
            persistence.begin(tx.seq)
            self.fs.read_only = False
            try:
                yield tx
                self.fs.auto_collapse()
                superseded = self.fs.take_superseded()
                self.fs.flush()
                faults.point("before-data-commit")
                metadata = {
                    "txn_seq": str(tx.seq),
                    "txn_id": tx.txn_id,
                    "args": json.dumps(list(tx.args)),
                }
                touched = {v.part_id for v in persistence.staged}
                data_version = persistence.commit(metadata)
                faults.point("after-data-commit")
            except BaseException as exc:
                self.fs.discard()
                persistence.rollback()
                with contextlib.suppress(PondError):  # the original error matters more
                    self._record_end(tx, RecordType.FAILED, None, started, first_line(exc))
                raise
            self._settings = None
            outcome = RecordType.COMMITTED if data_version is not None else RecordType.COMPLETED
            try:
                self._record_end(tx, outcome, data_version, started, None)
            except PondError as exc:
                # The data commit stands: from the user's side the transaction happened. The
                # begin without an end is settled (as committed) at the next write.
                warnings.warn(
                    PondWarning(
                        f"transaction {tx.seq} committed, but its record could not be written "
                        f"({exc}); it is settled at the next write or by 'pond recover'"
                    ),
                    stacklevel=3,
                )
            faults.point("after-control-record")
            if data_version is not None:
                self._after_commit_maintenance(touched, superseded)
            _log.info(
                "transaction %s %s seq=%d data_version=%s %.1f ms",
                outcome,
                " ".join(tx.args),
                tx.seq,
                data_version,
                (time.perf_counter() - started) * 1e3,
            )
        finally:
            self.fs.read_only = True
            self._in_txn = False
            self._lock.release()
        if data_version is not None:
            from duckpond.steward.hooks import run_after_commit

            for line in run_after_commit(self):
                warnings.warn(CommitHookWarning(line), stacklevel=3)

    def _after_commit_maintenance(self, part_ids: set[str], superseded: list[str]) -> None:
        """The automatic maintenance of :mod:`duckpond.steward.maintenance`, after a commit.

        The transaction is already committed: a failure of the host (disk full) is a warning, and
        the work waits for the next commit or ``pond maintain``.
        """
        persistence = self._persistence
        try:
            hours = self.retention_seconds / 3600
            log = SupersededLog(self.layout)
            log.add(superseded)
            log.sweep(hours)  # first: the compaction summarizes what it deleted
            crowded = [
                p for p in sorted(part_ids) if persistence.file_count(p) > AUTO_COMPACT_FILES
            ]
            if crowded:
                _compact_oplog(persistence.table, self.layout, crowded, what="auto-compact")
            # what compactions of either table replaced, once past the retention (vacuum by
            # tombstones would miss them: a checkpoint drops a tombstone at that same age)
            ReplacedLog(self.layout.data).sweep(hours)
            ReplacedLog(self.layout.control).sweep(hours)
        except PondError as exc:
            warnings.warn(PondWarning(f"automatic maintenance postponed: {exc}"), stacklevel=4)
        persistence.refresh()

    def _record_end(
        self,
        tx: Transaction,
        outcome: RecordType,
        data_version: int | None,
        started: float,
        error: str | None,
    ) -> None:
        self.control.append(
            [
                ControlRecord(
                    outcome,
                    tx.seq,
                    tx.txn_id,
                    tx.args,
                    data_version=data_version,
                    duration_ms=(time.perf_counter() - started) * 1e3,
                    error=error,
                )
            ]
        )

    # -- recovery -------------------------------------------------------------------------

    def pending(self) -> list[TxnRecord]:
        """Transactions begun with no recorded end (a crash); :meth:`recover` resolves them."""
        return [t for t in self.log() if t.outcome == "pending"]

    def recover(self) -> RecoveryReport:
        """Resolve pending transactions and remove large files no committed row refers to.

        A pending transaction whose txn_id is in the data table's commit metadata committed: it
        is marked ``recovered`` with its data version. Otherwise nothing of it was committed: it
        is marked rolled back. No committed data is ever removed.

        Raises:
            PondLocked: a writer is active (its transaction is not a crash).
        """
        with self._lock:
            self._persistence.refresh()
            committed, rolled_back = self._settle(self.pending())
            removed = self._remove_orphans()
        return RecoveryReport(tuple(committed), tuple(rolled_back), removed)

    def _settle_pending(self) -> None:
        """At the start of a write: settle what a crash (or a failed record) left pending.

        Only the tail of the control log is read: every earlier pending transaction was settled
        by an earlier write, so a pending one has a txn_seq of at least the last committed one.
        """
        recent = self.control.transactions(since=max(self.txn_seq, 1))
        pending = [t for t in recent if t.outcome == "pending"]
        if pending:
            self._settle(pending)

    def _settle(self, pending: list[TxnRecord]) -> tuple[list[int], list[int]]:
        commits = _commits_by_txn_id(self._persistence.table, {t.txn_id for t in pending})
        committed: list[int] = []
        rolled_back: list[int] = []
        for t in pending:
            version = commits.get(t.txn_id)
            cause = (
                "committed before the crash"
                if version is not None
                else "not committed; rolled back"
            )
            self.control.append(
                [
                    ControlRecord(
                        RecordType.RECOVERED,
                        t.txn_seq,
                        t.txn_id,
                        t.args,
                        data_version=version,
                        error=cause,
                    )
                ]
            )
            (committed if version is not None else rolled_back).append(t.txn_seq)
        return committed, rolled_back

    def _remove_orphans(self) -> int:
        persistence = self._persistence
        referenced = persistence.referenced_hashes()
        removed = 0
        if not self.layout.large_files.is_dir():
            return 0
        for entry in self.layout.large_files.iterdir():
            name = entry.name
            sha = PondLayout.large_sha256(name)
            if name.startswith(TMP_PREFIX) or (sha is not None and sha not in referenced):
                entry.unlink()
                removed += 1
        return removed

    # -- maintenance ----------------------------------------------------------------------

    def maintain(
        self,
        *,
        collapse: bool = True,
        compact: bool = True,
        vacuum: bool = True,
        retention_hours: float | None = None,
    ) -> MaintenanceReport:
        """Collapse series, compact and vacuum both tables, delete superseded and orphan large
        files, write checkpoints (:mod:`duckpond.steward.maintenance`).

        Content and history are unchanged: time travel works for every committed transaction
        whatever maintenance ran (it reads the current table by txn_seq). ``retention_hours`` is
        how long files a reader that loaded the pond earlier may still need are kept (default
        :attr:`retention_seconds`, one hour unless set; 0 deletes them at once).

        Raises:
            PondLocked: a writer is active. ReadOnly: the pond was opened ``at_txn``.
        """
        if self.at_txn is not None:
            raise ReadOnly("a pond opened as of an older transaction is read-only", str(self.path))
        size_before = _dir_size(self.path)
        collapses = self._collapse_everything() if collapse else 0
        with self._lock:
            persistence = self._persistence
            persistence.refresh()
            table = persistence.table
            before = len(table.file_uris())
            vacuumed: list[str] = []
            # superseded chunks first: the compaction summarizes the history of those deleted
            hours = self.retention_seconds / 3600 if retention_hours is None else retention_hours
            superseded = SupersededLog(self.layout).sweep(hours)
            superseded += self._remove_superseded(hours)
            if compact:
                _compact_oplog(table, self.layout, None, what="maintain", whole=True)
                _compact_control(self.control.table, what="maintain", whole=True)
            faults.point("maintain-after-compact")
            if vacuum:
                # None: each table's retention property (the pond's retention)
                whole = None if retention_hours is None else int(retention_hours)
                vacuumed += _vacuum(table, whole, full=True)
                # the control folder also holds the write lock (this process holds it)
                vacuumed += _vacuum(self.control.table, whole, full=True, keep={LOCK_FILE})
                for table_dir in (self.layout.data, self.layout.control):
                    ReplacedLog(table_dir).sweep(hours)  # what vacuum left of the lists
            faults.point("maintain-after-vacuum")
            with translate_errors(str(self.path), what="maintenance"):
                table.create_checkpoint()
                table.cleanup_metadata()  # log entries older than the log retention
                self.control.table.update_incremental()
                self.control.table.create_checkpoint()
                self.control.table.cleanup_metadata()
            faults.point("maintain-after-checkpoint")
            persistence.refresh()
            orphans = self._remove_orphans()
            prune_cache(self)  # derived data no current node uses
            return MaintenanceReport(
                collapses=collapses,
                files_before=before,
                files_after=len(table.file_uris()),
                files_vacuumed=len(vacuumed),
                superseded_removed=superseded,
                orphans_removed=orphans,
                bytes_freed=max(0, size_before - _dir_size(self.path)),
                checkpoint_version=table.version(),
            )

    def _collapse_everything(self) -> int:
        """One transaction merging every stored series' runs of small versions."""
        from duckpond.tinyfs import collapse

        done = 0
        with self.transaction(["maintain", "collapse"]) as tx:
            for node in _stored_series(tx.root()):
                for run in collapse.plan_all(node.versions()):
                    self.fs.collapse(node, run)
                    done += 1
        return done

    def _remove_superseded(self, retention_hours: float) -> int:
        """Delete the large files of series chunks superseded longer ago than the retention
        (also those the superseded log missed, after a crash)."""
        from duckpond.tinyfs import collapse
        from duckpond.tlogfs.delta import arrow_to_versions

        cutoff = now_us() - int(retention_hours * 3_600_000_000)
        rows = self._persistence.all_versions()
        by_node: dict[str, list[NodeVersion]] = {}
        for v in arrow_to_versions(rows):
            if v.file_type == "file:series":
                by_node.setdefault(v.node_id, []).append(v)
        removed = 0
        for versions in by_node.values():
            holders = collapse.superseded_by(versions)
            for v in versions:
                holder = holders.get(v.version)
                if holder is None or holder.timestamp > cutoff or v.content is not None:
                    continue
                if v.sha256 is not None:
                    path = self.layout.large_file(v.sha256)
                    if path.exists():
                        path.unlink()
                        removed += 1
        return removed

    def verify(self) -> list[str]:
        """Re-hash every stored file version (inline and large files), ignoring stamps.

        Returns:
            One line per problem; empty when every version's bytes match its sha256.
        """
        return self._persistence.verify_all()

    def disk_usage(self) -> int:
        """Bytes the pond occupies on the host."""
        return _dir_size(self.path)


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(dirpath, f)).st_size  # noqa: PTH116, PTH118
    return total


def _commits_by_txn_id(table: DeltaTable, wanted: set[str]) -> dict[str, int]:
    """Delta versions of the commits of the ``wanted`` txn ids (newest commits searched first)."""
    out: dict[str, int] = {}
    limit = 16
    while True:
        history = table.history(limit=limit)
        for h in history:
            txn_id = h.get("txn_id")
            if txn_id is not None and str(txn_id) in wanted:
                out[str(txn_id)] = int(h["version"])
        if len(out) == len(wanted) or len(history) < limit:
            return out
        limit *= 8


def _stored_series(root: WD) -> Iterator[NodePath]:
    """Every stored series below ``root``, through physical directories only (dynamic
    directories are not computed)."""
    from duckpond.tinyfs.model import FileType

    stack = [root.here]
    while stack:
        here = stack.pop()
        for name, entry in sorted(root.fs.entries(here.node).items()):
            child = WD._node_of(here.node, entry)
            node = NodePath(root.fs, (*here.parts, name), child)
            if entry.file_type == FileType.DIR_PHYSICAL:
                stack.append(node)
            elif entry.file_type == FileType.SERIES:
                yield node


def _load(layout: PondLayout) -> tuple[DeltaTable | Snapshot, int]:
    """The data table's latest snapshot and the txn_seq of that version, read together: from the
    log directly (:mod:`duckpond.tlogfs.log`), or, for a log that reader does not read, loaded
    with deltalake (which reads the txn_seq from the log files listed at load, so that is read
    at once: :mod:`duckpond.tlogfs.opening`).

    Raises:
        NotAPond, InvalidData: deltalake cannot load the table either.
    """
    from duckpond.tlogfs.log import Unsupported, read_snapshot

    try:
        snapshot = read_snapshot(layout.data)
    except Unsupported as exc:
        _log.debug("data table read with deltalake: %s", exc)
    else:
        return snapshot, int(snapshot.transaction_version(APP_ID) or 0)

    def load() -> tuple[DeltaTable, int]:
        from deltalake import DeltaTable

        data = DeltaTable(str(layout.data))
        return data, int(data.transaction_version(APP_ID) or 0)

    return retry_log_race(load, layout.root, what="opening the pond")


def _committed(
    control: ControlTable, data: Callable[[], DeltaTable], last: int, txn_seq: int
) -> bool:
    """Whether transaction ``txn_seq`` committed data (``last``: the latest txn_seq; the control
    log says so, or, for a transaction whose record was never written, the data table's commit
    metadata does)."""
    if txn_seq > last:
        return False
    for t in control.transactions(since=txn_seq):
        if t.txn_seq == txn_seq and t.data_version is not None:
            return True
    history = retry_log_race(data().history, control.path.parent, what="time travel")
    return any(h.get("txn_seq") is not None and int(h["txn_seq"]) == txn_seq for h in history)


def _build_pond(root: Path) -> None:
    """Create a whole pond at ``root`` (a new directory): both tables, settings, txn 1."""
    from deltalake import DeltaTable

    from duckpond.tinyfs.model import new_node_id

    layout = PondLayout(root)
    layout.large_files.mkdir(parents=True)
    with translate_errors(str(root), what="creating the pond"):
        data = DeltaTable.create(
            str(layout.data),
            OPLOG_SCHEMA,
            partition_by=["part_id"],
            name="duckpond-oplog",
            mode="error",
            configuration=DATA_CONFIGURATION,
        )
    control = ControlTable.create(
        layout.control,
        {"pond_id": new_node_id(), "format_version": FORMAT_VERSION, "created_us": str(now_us())},
    )
    pond = Pond(root, data, control)
    with pond.transaction(["init"]) as tx:
        tx.pond._persistence.stage(
            NodeVersion(
                part_id=ROOT_ID,
                node_id=ROOT_ID,
                file_type=DIR_PHYSICAL,
                version=1,
                txn_seq=tx.seq,
                timestamp=now_us(),
                content=encode_directory({}),
            )
        )


def _remove_stale_builds(root: Path) -> None:
    """Remove what crashed ``pond init`` runs of this path left (their process is gone)."""
    prefix = f"{TMP_PREFIX}{root.name}.init-"
    with contextlib.suppress(OSError):
        for entry in root.parent.iterdir():
            if not entry.name.startswith(prefix):
                continue
            pid = entry.name[len(prefix) :]
            if pid.isdigit() and not _alive(int(pid)):
                _rmtree(entry)


def _alive(pid: int) -> bool:
    from duckpond.steward.lock import process_alive  # os.kill(pid, 0) kills it on Windows

    return process_alive(pid)


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
