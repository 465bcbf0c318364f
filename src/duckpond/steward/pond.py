"""Pond: open or create a pond, run transactions, recover, maintain (DESIGN.md, Transactions).

A pond is a host directory::

    $POND/data/                 Delta table: the oplog (tlogfs)
    $POND/data/_large_files/    content-addressed large file versions
    $POND/control/              Delta table: transaction records and settings
    $POND/control/write.lock    flock held by the one writer

One transaction = at most one commit to the data table. Within :meth:`Pond.transaction` all
changes are buffered; on success the large files are already written, then the rows go in one
``write_deltalake(mode="append")`` with ``max_commit_retries=0`` on the table loaded when the
transaction began (so a commit by anyone else in between fails it with ConflictError); on any
exception nothing is committed.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pyarrow as pa

from duckpond import diagnostics
from duckpond.errors import NotAPond, NotFound, PondError, ReadOnly, translate_errors
from duckpond.steward.control import ControlTable, TxnRecord
from duckpond.steward.lock import WriteLock
from duckpond.tinyfs.fs import FS, WD, FactoryResolver
from duckpond.tinyfs.model import DIR_PHYSICAL, ROOT_ID, NodeVersion, encode_directory, now_us
from duckpond.tlogfs.delta import APP_ID, LARGE_FILES, OPLOG_SCHEMA, DeltaPersistence

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = ["FORMAT_VERSION", "MaintenanceReport", "Pond", "RecoveryReport", "Transaction"]

FORMAT_VERSION: Final = "1"
#: Remove actions (tombstones of compacted files) expire at the next checkpoint: kept, they make
#: every checkpoint, and so every open, grow with the number of past compactions. Time travel
#: replays the log and does not need them; :meth:`Pond.maintain` vacuums by listing the files
#: (``full=True``), so it does not need them either. The log itself is kept (time travel).
#: A checkpoint every 10 commits keeps the JSON replayed at open short (delta-rs' default is 100).
DATA_CONFIGURATION: Final = {
    "delta.deletedFileRetentionDuration": "interval 0 seconds",
    "delta.checkpointInterval": "10",
}

#: After a commit, a partition holding more data files than this is compacted at once, so that
#: reading a directory stays O(1) files however many small transactions touched it.
AUTO_COMPACT_FILES: Final = 16
_log = diagnostics.get_logger("steward")


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What :meth:`Pond.recover` found: transactions marked committed or rolled back."""

    committed: tuple[int, ...]
    rolled_back: tuple[int, ...]
    orphan_files_removed: int


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What :meth:`Pond.maintain` did (sizes in bytes)."""

    files_before: int
    files_after: int
    files_vacuumed: int
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
        data: DeltaTable,
        control: ControlTable,
        *,
        at_txn: int | None = None,
        factories: FactoryResolver | None = None,
    ) -> None:
        self.path = path
        self.at_txn = at_txn
        self.control = control
        self._persistence = DeltaPersistence(path / "data", data, read_only=at_txn is not None)
        self.fs = FS(
            self._persistence,
            factories=factories,
            read_only=True,
            tmp_dir=str(path / "data" / LARGE_FILES),
        )
        self._lock = WriteLock(path / "control" / "write.lock")
        self._in_txn = False
        self._settings: dict[str, str] | None = None

    # -- create / open --------------------------------------------------------------------

    @classmethod
    def init(
        cls, path: str | os.PathLike[str], *, factories: FactoryResolver | None = None
    ) -> Pond:
        """Create a new pond at ``path`` (the directory may exist if it is empty).

        The first transaction (txn_seq 1) writes the empty root directory.

        Raises:
            AlreadyExists: ``path`` already holds a pond or other files.
        """
        from deltalake import DeltaTable

        from duckpond.errors import AlreadyExists
        from duckpond.tinyfs.model import new_node_id

        root = Path(path)
        if root.exists() and any(root.iterdir()):
            what = "a pond" if (root / "data" / "_delta_log").exists() else "files"
            raise AlreadyExists(f"the directory already holds {what}", str(root))
        (root / "data" / LARGE_FILES).mkdir(parents=True, exist_ok=True)
        with translate_errors(str(root), what="creating the pond"):
            data = DeltaTable.create(
                str(root / "data"),
                OPLOG_SCHEMA,
                partition_by=["part_id"],
                name="duckpond-oplog",
                mode="error",
                configuration=DATA_CONFIGURATION,
            )
        control = ControlTable.create(
            root / "control",
            {
                "pond_id": new_node_id(),
                "format_version": FORMAT_VERSION,
                "created_us": str(now_us()),
            },
        )
        pond = cls(root, data, control, factories=factories)
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
        return pond

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        at_txn: int | None = None,
        factories: FactoryResolver | None = None,
    ) -> Pond:
        """Open the pond at ``path``, at its latest state or as of transaction ``at_txn``.

        A pond opened ``at_txn`` is read-only: the state right after that transaction committed
        (found through the commit metadata of the data table, not file times).

        Raises:
            NotAPond: no pond there. NotFound: ``at_txn`` was never committed.
        """
        from deltalake import DeltaTable

        root = Path(path)
        if (
            not (root / "data" / "_delta_log").is_dir()
            or not (root / "control" / "_delta_log").is_dir()
        ):
            raise NotAPond("not a pond (no data and control tables; run 'pond init')", str(root))
        with translate_errors(str(root), what="opening the pond"):
            data = DeltaTable(str(root / "data"))
        control = ControlTable.open(root / "control")
        _log.debug("opened pond path=%s data_version=%d", root, data.version())
        if at_txn is not None:
            version = _version_of_txn(data, at_txn)
            with translate_errors(str(root), what="time travel"):
                data = DeltaTable(str(root / "data"), version=version)
        return cls(root, data, control, at_txn=at_txn, factories=factories)

    # -- reading --------------------------------------------------------------------------

    def root(self) -> WD:
        """The root directory (read-only outside a transaction)."""
        return self.fs.root()

    @property
    def txn_seq(self) -> int:
        """The last committed transaction's sequence number (as of ``at_txn`` if set)."""
        if self.at_txn is not None:
            return self.at_txn
        return int(self._persistence.table.transaction_version(APP_ID) or 0)

    @property
    def data_version(self) -> int:
        """The Delta version of the data table this pond reads."""
        return int(self._persistence.table.version())

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
        row = {"record_type": "setting", "key": key, "value": value}
        if self._in_txn:
            self.control.append([row])
        else:
            with self._lock:
                self.control.append([row])
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
    def transaction(self, args: Sequence[str] = ()) -> Iterator[Transaction]:
        """Open a transaction; commits once on success, nothing on an exception.

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
        started = time.perf_counter()
        persistence = self._persistence
        txn_id = new_node_id()
        args = tuple(str(a) for a in args)
        try:
            persistence.refresh()
            seq = self.txn_seq + 1
            self.control.append(
                [{"record_type": "begin", "txn_seq": seq, "txn_id": txn_id, "args": list(args)}]
            )
            persistence.begin(seq)
            self.fs.read_only = False
            tx = Transaction(self, seq, txn_id, args)
            try:
                yield tx
                self.fs.flush()
                _crash_point("before-data-commit")
                metadata = {
                    "txn_seq": str(seq),
                    "txn_id": txn_id,
                    "args": json.dumps(list(args)),
                }
                touched = {v.part_id for v in persistence.staged}
                data_version = persistence.commit(metadata)
                _crash_point("after-data-commit")
            except BaseException as exc:
                self.fs.discard()
                persistence.rollback()
                self._record_end(tx, "failed", None, started, _one_line(exc))
                raise
            outcome = "committed" if data_version is not None else "completed"
            self._record_end(tx, outcome, data_version, started, None)
            if data_version is not None:
                self._auto_compact(touched)
            _log.info(
                "transaction %s %s seq=%d data_version=%s %.1f ms",
                outcome,
                " ".join(args),
                seq,
                data_version,
                (time.perf_counter() - started) * 1e3,
            )
        finally:
            self.fs.read_only = True
            self._in_txn = False
            self._lock.release()

    def _auto_compact(self, part_ids: set[str]) -> None:
        """Compact partitions that hold more than :data:`AUTO_COMPACT_FILES` data files."""
        from deltalake import CommitProperties

        persistence = self._persistence
        crowded = [p for p in sorted(part_ids) if persistence.file_count(p) > AUTO_COMPACT_FILES]
        if not crowded:
            return
        props = CommitProperties(custom_metadata={"duckpond_maintenance": "auto-compact"})
        try:
            with translate_errors(str(self.path), what="auto-compaction"):
                for part_id in crowded:
                    persistence.table.optimize.compact(
                        partition_filters=[("part_id", "=", part_id)], commit_properties=props
                    )
        except PondError as exc:  # the transaction is committed; compaction can wait
            _log.warning("auto-compaction skipped: %s", exc)
        persistence.refresh()

    def _record_end(
        self,
        tx: Transaction,
        outcome: str,
        data_version: int | None,
        started: float,
        error: str | None,
    ) -> None:
        try:
            self.control.append(
                [
                    {
                        "record_type": outcome,
                        "txn_seq": tx.seq,
                        "txn_id": tx.txn_id,
                        "args": list(tx.args),
                        "data_version": data_version,
                        "duration_ms": (time.perf_counter() - started) * 1e3,
                        "error": error,
                    }
                ]
            )
        except PondError:
            if outcome != "failed":
                raise
            # the original error matters more; recovery will settle this transaction

    # -- recovery -------------------------------------------------------------------------

    def pending(self) -> list[TxnRecord]:
        """Transactions begun with no recorded end (a crash); :meth:`recover` resolves them."""
        return [t for t in self.log() if t.outcome == "pending"]

    def recover(self) -> RecoveryReport:
        """Resolve pending transactions and remove large files no committed row refers to.

        A pending transaction whose txn_seq (and txn_id) is in the data table's commit metadata
        committed: it is marked ``recovered`` with its data version. Otherwise nothing of it was
        committed: it is marked rolled back. No committed data is ever removed.

        Raises:
            PondLocked: a writer is active (its transaction is not a crash).
        """
        with self._lock:
            persistence = self._persistence
            persistence.refresh()
            commits = _commits_by_txn_id(persistence.table)
            committed: list[int] = []
            rolled_back: list[int] = []
            for t in self.pending():
                version = commits.get(t.txn_id)
                self.control.append(
                    [
                        {
                            "record_type": "recovered",
                            "txn_seq": t.txn_seq,
                            "txn_id": t.txn_id,
                            "args": list(t.args),
                            "data_version": version,
                            "error": "committed before the crash"
                            if version is not None
                            else "not committed; rolled back",
                        }
                    ]
                )
                (committed if version is not None else rolled_back).append(t.txn_seq)
            removed = self._remove_orphans()
        return RecoveryReport(tuple(committed), tuple(rolled_back), removed)

    def _remove_orphans(self) -> int:
        persistence = self._persistence
        referenced = persistence.referenced_hashes()
        removed = 0
        if not persistence.large_dir.is_dir():
            return 0
        for entry in persistence.large_dir.iterdir():
            name = entry.name
            if name.startswith(".tmp-") or (
                name.startswith("sha256=") and name[len("sha256=") :] not in referenced
            ):
                entry.unlink()
                removed += 1
        return removed

    # -- maintenance ----------------------------------------------------------------------

    def maintain(
        self, *, compact: bool = True, vacuum: bool = True, retention_hours: int = 168
    ) -> MaintenanceReport:
        """Compact small files, vacuum unreferenced ones, remove orphan large files, checkpoint.

        Content and history are unchanged; time travel keeps working for transactions newer than
        ``retention_hours`` (older ones may lose the files they read once vacuumed).

        Raises:
            PondLocked: a writer is active.
        """
        from deltalake import CommitProperties

        with self._lock:
            persistence = self._persistence
            persistence.refresh()
            table = persistence.table
            before = len(table.file_uris())
            size_before = _dir_size(self.path)
            props = CommitProperties(custom_metadata={"duckpond_maintenance": "1"})
            with translate_errors(str(self.path), what="maintenance"):
                if compact:
                    table.optimize.compact(commit_properties=props)
                vacuumed: list[str] = []
                if vacuum:
                    vacuumed = table.vacuum(
                        retention_hours=retention_hours,
                        dry_run=False,
                        enforce_retention_duration=False,
                        commit_properties=props,
                        full=True,
                    )
                table.create_checkpoint()
                self.control.table.update_incremental()
                self.control.table.create_checkpoint()
            persistence.refresh()
            orphans = self._remove_orphans()
            after = len(table.file_uris())
            return MaintenanceReport(
                files_before=before,
                files_after=after,
                files_vacuumed=len(vacuumed),
                orphans_removed=orphans,
                bytes_freed=max(0, size_before - _dir_size(self.path)),
                checkpoint_version=table.version(),
            )

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


def _commits_by_txn_id(table: DeltaTable) -> dict[str, int]:
    out: dict[str, int] = {}
    for h in table.history():
        txn_id = h.get("txn_id")
        if txn_id is not None:
            out[str(txn_id)] = int(h["version"])
    return out


def _version_of_txn(table: DeltaTable, txn_seq: int) -> int:
    for h in table.history():
        seq = h.get("txn_seq")
        if seq is not None and int(seq) == txn_seq:
            return int(h["version"])
    raise NotFound(f"transaction {txn_seq} was never committed", None)


def _crash_point(name: str) -> None:
    """Fault injection for recovery tests: ``DUCKPOND_CRASH_AT=<name>`` kills the process here."""
    if os.environ.get("DUCKPOND_CRASH_AT") == name:
        os._exit(137)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]
