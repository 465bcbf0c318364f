"""A Delta table's latest snapshot read from its log with pyarrow and json, without deltalake.

Every reading ``pond`` process needs three things from the data table's log: its version, the
txn_seq the last commit recorded (``txn`` action of app :data:`~duckpond.tlogfs.delta.APP_ID`)
and the Parquet files of each partition (``add`` actions). Loading them through deltalake costs
a new process ~30 ms (importing it, then its log replay); reading the newest checkpoint (a small
Parquet file) and the few JSON commits after it costs ~3 ms. Writers, maintenance and time
travel still load the table with deltalake (:attr:`DeltaPersistence.table
<duckpond.tlogfs.delta.DeltaPersistence.table>`).

It follows the Delta transaction protocol (``PROTOCOL.md`` of github.com/delta-io/delta:
"Action Reconciliation", "Checkpoints") for what DuckPond's writer, delta-rs, produces: reader
version 1 tables with classic single-file checkpoints. Anything else (a reader feature, a
multi-part or V2 checkpoint, a sidecar, a deletion vector, an absolute path, a gap in the log, a
file that does not parse) raises :class:`Unsupported`, and the caller loads the table with
deltalake instead, so this reader can only be faster than deltalake, never disagree with it.

A concurrent writer's log cleanup may delete a listed file before it is read: the log is listed
and read again (:data:`ATTEMPTS` times), as :mod:`duckpond.tlogfs.opening` does for deltalake.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["ATTEMPTS", "Snapshot", "Unsupported", "read_snapshot"]

#: How many times the log is listed and read when files vanish under the read.
ATTEMPTS: Final = 8

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint\.parquet$")
#: Multi-part (``N.checkpoint.0000000001.0000000003.parquet``) and V2 (``N.checkpoint.<uuid>
#: .json|parquet``) checkpoints: not read here.
_OTHER_CHECKPOINT = re.compile(r"^\d{20}\.checkpoint\..+\.(parquet|json)$")
#: The checkpoint columns this reader understands (a checkpoint without ``add`` is refused).
_CHECKPOINT_COLUMNS: Final = (
    "add.path",
    "add.partitionValues",
    "add.deletionVector.storageType",
    "txn",
    "protocol",
    "metaData.partitionColumns",
    "metaData.configuration",
    "sidecar.path",
)


class Unsupported(Exception):
    """The log holds something this reader does not read (load the table with deltalake)."""


@dataclass(frozen=True)
class Snapshot:
    """The latest version of a Delta table, as its log states it.

    Attributes:
        version: the Delta version (the last commit's number).
        files: ``(path, partition values)`` of every live data file; ``path`` is relative to the
            table's root, percent-decoded (the protocol's ``add.path`` is a URI).
        transactions: app id -> the version its last ``txn`` action recorded.
    """

    version: int
    files: tuple[tuple[str, dict[str, str | None]], ...]
    transactions: dict[str, int]

    def transaction_version(self, app_id: str) -> int | None:
        """The version app ``app_id`` recorded last (``DeltaTable.transaction_version``)."""
        return self.transactions.get(app_id)


def read_snapshot(table_path: str | os.PathLike[str]) -> Snapshot:
    """The latest snapshot of the Delta table at ``table_path``.

    Raises:
        Unsupported: the log holds something not read here, it is missing (not a table), has a
            gap, does not parse, or files kept vanishing while it was read: load the table with
            deltalake, which reads (or reports) all of these.
    """
    log_dir = os.path.join(os.fspath(table_path), "_delta_log")  # noqa: PTH118
    delay = 0.005
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _read(log_dir)
        except FileNotFoundError as exc:
            if not os.path.isdir(log_dir):  # noqa: PTH112
                raise Unsupported(f"no Delta log at {log_dir}") from exc
            if attempt == ATTEMPTS:
                raise Unsupported(f"log files kept vanishing: {exc}") from exc
        except OSError as exc:  # unreadable: deltalake reports it (translated)
            raise Unsupported(f"the log cannot be read: {exc}") from exc
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _read(log_dir: str) -> Snapshot:
    commits: set[int] = set()
    checkpoints: list[int] = []
    for name in os.listdir(log_dir):  # noqa: PTH208 (names only: no Path per log file)
        if m := _COMMIT.match(name):
            commits.add(int(m.group(1)))
        elif m := _CHECKPOINT.match(name):
            checkpoints.append(int(m.group(1)))
        elif _OTHER_CHECKPOINT.match(name):
            raise Unsupported(f"a checkpoint of a kind not read here: {name}")
    if not commits:
        raise Unsupported("no commits in the log")
    version = max(commits)
    start = max((c for c in checkpoints if c <= version), default=-1)
    if any(v not in commits for v in range(start + 1, version + 1)):
        raise Unsupported(f"the log has a gap after version {start}")
    state = _Replay()
    if start >= 0:
        state.checkpoint(os.path.join(log_dir, f"{start:020d}.checkpoint.parquet"))  # noqa: PTH118
    for v in range(start + 1, version + 1):
        state.commit(os.path.join(log_dir, f"{v:020d}.json"))  # noqa: PTH118
    return Snapshot(version, tuple(state.files.items()), state.transactions)


class _Replay:
    """Action reconciliation: the last add or remove of a path wins; the last txn of an app."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, str | None]] = {}
        self.transactions: dict[str, int] = {}

    def checkpoint(self, path: str) -> None:
        import pyarrow as pa

        from duckpond.parquet import ParquetFile

        try:
            pf = ParquetFile(path)
            leaves = [pf.schema.column(i).path for i in range(len(pf.schema))]
            columns = [c for c in _CHECKPOINT_COLUMNS if any(_under(p, c) for p in leaves)]
            if "add.path" not in columns:
                raise Unsupported(f"a checkpoint without add actions: {path}")
            rows = pf.read(columns=columns, use_threads=False).to_pylist()
        except pa.ArrowException as exc:
            raise Unsupported(f"unreadable checkpoint {path}: {exc}") from exc
        for row in rows:
            # a classic checkpoint holds only live files' adds (removes are tombstones)
            self._action(row, from_checkpoint=True)

    def commit(self, path: str) -> None:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                action = json.loads(line)
            except ValueError as exc:
                raise Unsupported(f"{path}: not JSON: {exc}") from exc
            if not isinstance(action, dict):
                raise Unsupported(f"{path}: an action that is not an object")
            self._action(action, from_checkpoint=False)

    def _action(self, action: dict[str, Any], *, from_checkpoint: bool) -> None:
        if action.get("sidecar") is not None:
            raise Unsupported("a checkpoint with sidecar files")
        if (protocol := action.get("protocol")) is not None:
            _check_protocol(protocol)
        if (meta := action.get("metaData")) is not None:
            _check_metadata(meta)
        if (txn := action.get("txn")) is not None:
            self.transactions[str(txn["appId"])] = int(txn["version"])
        if (add := action.get("add")) is not None:
            if add.get("deletionVector") is not None:
                raise Unsupported("a file with a deletion vector")
            values = add.get("partitionValues") or {}
            if isinstance(values, list):  # a map read from Parquet: (key, value) pairs
                values = dict(values)
            self.files[_relative(add["path"])] = values
        if not from_checkpoint and (remove := action.get("remove")) is not None:
            self.files.pop(_relative(remove["path"]), None)


def _under(leaf: str, column: str) -> bool:
    """Whether Parquet leaf path ``leaf`` is ``column`` or inside it."""
    return leaf == column or leaf.startswith(column + ".")


def _relative(path: str) -> str:
    """A protocol ``path`` (a relative URI) as a relative host path."""
    if ":" in path.split("/", 1)[0] or path.startswith("/"):
        raise Unsupported(f"an absolute file path: {path}")
    if "%" in path:
        from urllib.parse import unquote

        return unquote(path)
    return path


def _check_protocol(protocol: dict[str, Any]) -> None:
    reader = int(protocol.get("minReaderVersion") or 0)
    features = protocol.get("readerFeatures") or []
    if reader > 1 or features:
        raise Unsupported(f"reader version {reader}, features {features}")


def _check_metadata(meta: dict[str, Any]) -> None:
    configuration = meta.get("configuration") or {}
    if isinstance(configuration, list):
        configuration = dict(configuration)
    mapping = configuration.get("delta.columnMapping.mode", "none")
    if mapping != "none":
        raise Unsupported(f"column mapping {mapping}")
