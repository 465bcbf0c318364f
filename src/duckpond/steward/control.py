"""The control table: the steward's own Delta table of transaction records and pond settings.

``$POND/control`` holds one row per event, :data:`CONTROL_SCHEMA`:

=============  ==================================================================================
record_type    ``setting`` | ``begin`` | ``committed`` | ``completed`` | ``failed`` | ``recovered``
txn_seq        the transaction's sequence number (null for settings)
txn_id         UUID7 of the transaction (the key that ties its records together)
timestamp      when the record was written, timestamp[us, UTC]
args           JSON list of the command's arguments
data_version   Delta version of the data commit (``committed``/``recovered``)
duration_ms    wall time of the transaction
error          one-line cause (``failed``), or what recovery concluded (``recovered``)
key, value     a pond setting (``setting``)
=============  ==================================================================================

``committed`` ends a transaction that wrote data; ``completed`` one that changed nothing;
``failed`` one that raised. A ``begin`` with none of those is pending: :meth:`Pond.recover`
resolves it by looking for its txn_seq in the data table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from duckpond.errors import translate_errors
from duckpond.tinyfs.model import now_us
from duckpond.tlogfs.opening import open_table, update_table

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = ["CONTROL_SCHEMA", "ControlRecord", "ControlTable", "RecordType", "TxnRecord"]

CONTROL_SCHEMA: Final = pa.schema(
    [
        pa.field("record_type", pa.string(), nullable=False),
        pa.field("txn_seq", pa.int64()),
        pa.field("txn_id", pa.string()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("args", pa.string()),
        pa.field("data_version", pa.int64()),
        pa.field("duration_ms", pa.float64()),
        pa.field("error", pa.string()),
        pa.field("key", pa.string()),
        pa.field("value", pa.string()),
    ]
)


class RecordType(StrEnum):
    """What a control record is (its ``record_type`` column)."""

    SETTING = "setting"
    BEGIN = "begin"
    COMMITTED = "committed"
    COMPLETED = "completed"
    FAILED = "failed"
    RECOVERED = "recovered"


ENDINGS: Final = frozenset(
    {RecordType.COMMITTED, RecordType.COMPLETED, RecordType.FAILED, RecordType.RECOVERED}
)


@dataclass(frozen=True, slots=True)
class ControlRecord:
    """One row of the control table (:data:`CONTROL_SCHEMA`); ``timestamp`` defaults to now."""

    record_type: RecordType
    txn_seq: int | None = None
    txn_id: str | None = None
    args: tuple[str, ...] | None = None
    data_version: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    key: str | None = None
    value: str | None = None
    timestamp: int | None = None

    @classmethod
    def setting(cls, key: str, value: str) -> ControlRecord:
        return cls(RecordType.SETTING, key=key, value=value)


#: The control table needs no time travel: its log is cleaned up at checkpoints, so listing
#: ``_delta_log`` (which every append does) stays short however many transactions ran. Log
#: entries and replaced files are kept for an hour, so a process that began reading the table
#: (a reader, a writer that lost the lock) always finds what the checkpoint it read points to.
CONTROL_CONFIGURATION: Final = {
    "delta.logRetentionDuration": "interval 1 hour",
    "delta.deletedFileRetentionDuration": "interval 1 hour",
    "delta.enableExpiredLogCleanup": "true",
    "delta.checkpointInterval": "10",
}

#: The control table is compacted when it holds more data files than this: an append to a Delta
#: table costs time in proportion to its live files, and each transaction appends twice.
COMPACT_FILES: Final = 32


@dataclass(frozen=True, slots=True)
class TxnRecord:
    """One transaction as the control table tells it (all its records folded together).

    Attributes:
        txn_seq: sequence number; txn_id: UUID7; started: µs since the epoch, UTC.
        args: the command line (or caller-given description) of the transaction.
        outcome: ``committed``, ``completed`` (nothing to write), ``failed``, ``recovered``
            (committed, found by recovery), ``rolled-back`` (not committed, found by recovery)
            or ``pending`` (begun, no end recorded: run recover).
        data_version: Delta version of its data commit, if any.
        duration_ms: wall time; error: the one-line cause of a failure.
    """

    txn_seq: int
    txn_id: str
    started: int
    args: tuple[str, ...]
    outcome: str
    data_version: int | None = None
    duration_ms: float | None = None
    error: str | None = None


class ControlTable:
    """Append-only access to ``$POND/control``."""

    def __init__(self, path: Path, table: DeltaTable | None) -> None:
        self.path = path
        self._table = table
        self._files: int | None = None

    @property
    def table(self) -> DeltaTable:
        """The Delta table, loaded on first use: most reading commands never touch the control
        table, and loading it costs a process ~20 ms."""
        if self._table is None:
            self._table = open_table(self.path, what="opening the control table")
        return self._table

    @classmethod
    def create(cls, path: Path, settings: dict[str, str]) -> ControlTable:
        from deltalake import DeltaTable

        with translate_errors(str(path), what="creating the control table"):
            table = DeltaTable.create(
                str(path), CONTROL_SCHEMA, mode="error", configuration=CONTROL_CONFIGURATION
            )
        control = cls(path, table)
        control.append(ControlRecord.setting(k, v) for k, v in settings.items())
        return control

    @classmethod
    def open(cls, path: Path) -> ControlTable:
        """The control table at ``path``, loaded on first use (retrying while a writer's log
        cleanup races the loading: :mod:`duckpond.tlogfs.opening`).

        Raises (on first use):
            NotAPond: no table at ``path``. InvalidData: it cannot be loaded.
        """
        return cls(path, None)

    def refresh(self) -> None:
        """Load the commits made since (retrying a concurrent log cleanup, like :meth:`open`)."""
        update_table(self.table, self.path, what="reading the control table")

    def append(self, records: Iterable[ControlRecord]) -> None:
        """Append records (one Delta commit)."""
        from deltalake import write_deltalake

        now = now_us()
        cols: dict[str, list[Any]] = {name: [] for name in CONTROL_SCHEMA.names}
        for r in records:
            cols["record_type"].append(str(r.record_type))
            cols["txn_seq"].append(r.txn_seq)
            cols["txn_id"].append(r.txn_id)
            cols["timestamp"].append(r.timestamp if r.timestamp is not None else now)
            cols["args"].append(json.dumps(list(r.args)) if r.args is not None else None)
            cols["data_version"].append(r.data_version)
            cols["duration_ms"].append(r.duration_ms)
            cols["error"].append(r.error)
            cols["key"].append(r.key)
            cols["value"].append(r.value)
        table = pa.Table.from_pydict(cols, schema=CONTROL_SCHEMA)
        self.refresh()
        with translate_errors(str(self.path), what="writing the control table"):
            write_deltalake(self.table, table, mode="append")
            if self._files is None:
                self._files = len(self.table.file_uris())
            else:
                self._files += 1
            if self._files > COMPACT_FILES:
                from duckpond.steward.maintenance import compact_control

                # the files it replaces are deleted after the retention, by the sweep of
                # maintenance.ReplacedLog after a pond's commit
                compact_control(self.table, what="auto-compact")
                self._files = len(self.table.file_uris())

    def read(
        self,
        *,
        since: int | None = None,
        columns: list[str] | None = None,
        settings: bool = False,
    ) -> pa.Table:
        """Records in commit order; with ``since``, only (at least) the transaction records of
        txn_seq >= ``since`` (files are chosen by their txn_seq statistics, so this reads the
        tail of the log, not all of it); with ``columns``, only those (and ``timestamp``); with
        ``settings``, only (at least) the setting records (files chosen by the null count of
        ``key``: compaction keeps settings in files of their own, so this reads a few rows
        however long the history)."""
        import pyarrow.parquet as pq

        self.refresh()
        with translate_errors(str(self.path), what="reading the control table"):
            order = self.files_for(since=since, settings=settings)
            schema = CONTROL_SCHEMA
            if columns is not None:
                wanted = {*columns, "timestamp"}
                schema = pa.schema([f for f in CONTROL_SCHEMA if f.name in wanted])
            tables = [
                pq.ParquetFile(str(self.path / rel))
                .read(columns=schema.names, use_threads=False)
                .cast(schema)
                for rel in order
            ]
        if not tables:
            return schema.empty_table()
        return pa.concat_tables(tables).sort_by([("timestamp", "ascending")])

    def files_for(self, *, since: int | None = None, settings: bool = False) -> list[str]:
        """The table's files (relative paths, oldest first) that may hold records of txn_seq >=
        ``since`` / setting records, by their Delta statistics (kept when a statistic is
        missing)."""
        actions = pa.table(self.table.get_add_actions(flatten=True))
        paths = actions.column("path").to_pylist()
        times = actions.column("modification_time").to_pylist()
        keep = [True] * len(paths)
        if since is not None and "max.txn_seq" in actions.column_names:
            highs = actions.column("max.txn_seq").to_pylist()
            keep = [hi is not None and hi >= since for hi in highs]
        if settings and "null_count.key" in actions.column_names:
            nulls = actions.column("null_count.key").to_pylist()
            rows = actions.column("num_records").to_pylist()
            keep = [
                k and (n is None or r is None or n < r)
                for k, n, r in zip(keep, nulls, rows, strict=True)
            ]
        chosen = sorted((t, rel) for t, rel, k in zip(times, paths, keep, strict=True) if k)
        return [rel for _, rel in chosen]

    def settings(self) -> dict[str, str]:
        """The pond's settings (the last value of each key). Read after every commit: only the
        three columns it needs, and only the setting records are turned into Python values."""
        import pyarrow.compute as pc

        t = self.read(columns=["record_type", "key", "value"], settings=True)
        t = t.filter(pc.equal(t.column("record_type"), "setting"))
        out: dict[str, str] = {}
        for rt, k, v in zip(
            t.column("record_type").to_pylist(),
            t.column("key").to_pylist(),
            t.column("value").to_pylist(),
            strict=True,
        ):
            if rt == "setting" and k is not None:
                out[k] = v
        return out

    def transactions(self, *, since: int | None = None) -> list[TxnRecord]:
        """Every transaction (with ``since``: those of txn_seq >= ``since``), oldest first."""
        table = self.read(since=since)
        if since is not None:  # the files chosen hold older records too: not made Python objects
            import pyarrow.compute as pc

            table = table.filter(pc.greater_equal(table.column("txn_seq"), since))
        rows = table.to_pylist()
        by_id: dict[str, dict[str, Any]] = {}
        for row in rows:
            txn_id = row["txn_id"]
            if txn_id is None:
                continue
            entry = by_id.setdefault(txn_id, {"records": []})
            entry["records"].append(row)
        out = []
        for txn_id, entry in by_id.items():
            records: Sequence[dict[str, Any]] = entry["records"]
            if since is not None and all(r["txn_seq"] < since for r in records):
                continue
            begin = next((r for r in records if r["record_type"] == "begin"), records[0])
            end = next((r for r in reversed(records) if r["record_type"] in ENDINGS), None)
            outcome = "pending" if end is None else end["record_type"]
            if outcome == "recovered" and end is not None and end["data_version"] is None:
                outcome = "rolled-back"
            started = begin["timestamp"]
            out.append(
                TxnRecord(
                    txn_seq=int(begin["txn_seq"]),
                    txn_id=txn_id,
                    started=_us(started),
                    args=tuple(json.loads(begin["args"])) if begin["args"] else (),
                    outcome=outcome,
                    data_version=end["data_version"] if end else None,
                    duration_ms=end["duration_ms"] if end else None,
                    error=end["error"] if end else None,
                )
            )
        out.sort(key=lambda r: r.started)
        return out


def _us(value: Any) -> int:
    import datetime as dt

    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1_000_000)
    return int(value)
