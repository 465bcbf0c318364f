"""The pond's retention (``Pond.set_retention``, ``pond maintain --set-retention``): how long
what a reader that opened the pond earlier may still need is kept, by the tables' checkpoints
and logs as much as by vacuum and the superseded-chunk sweep."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from core_testlib import hourly
from deltalake import DeltaTable

from duckpond import Pond
from duckpond.errors import PondError, ReadOnly, UsageError


def _newest_checkpoint_removes(table_dir: Path) -> list[int]:
    """The deletion times (ms) of the tombstones the newest checkpoint of a table holds."""
    log = table_dir / "_delta_log"
    newest = max(p for p in os.listdir(log) if p.endswith(".checkpoint.parquet"))
    removes = pq.read_table(log / newest, columns=["remove"]).column("remove").to_pylist()
    return [r["deletionTimestamp"] for r in removes if r is not None]


def test_set_retention_records_it_and_sets_both_tables_properties(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond")
    assert pond.retention_seconds == 3600
    hourly(pond, 3)
    pond.set_retention(90)
    assert pond.retention_seconds == 90
    reopened = Pond.open(pond.path)
    assert reopened.retention_seconds == 90
    for name in ("data", "control"):
        config = DeltaTable(str(pond.path / name)).metadata().configuration
        assert config["delta.deletedFileRetentionDuration"] == "interval 90 seconds", name
        assert config["delta.logRetentionDuration"] == "interval 90 seconds", name
    # the property commit is read by the pond's own log reader: nothing else changed
    got = reopened.root().resolve("/d1.series").read_table()
    assert got.num_rows == 9 and pa.compute.sum(got.column("v")).as_py() == sum(
        h * 10 + 1 + k for h in range(3) for k in range(3)
    )
    assert reopened.txn_seq == pond.txn_seq == 4
    hourly(reopened, 2, start=3)
    assert Pond.open(pond.path, at_txn=4).root().resolve("/d0.series").read_table().num_rows == 9


def test_a_bad_retention_changes_nothing(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond")
    pond.set_retention(120)
    with pytest.raises(UsageError):
        pond.set_retention(0)
    hourly(pond, 2)
    with pytest.raises(ReadOnly):
        Pond.open(pond.path, at_txn=2).set_retention(5)
    with pytest.raises(PondError), pond.transaction(["inside"]):
        pond.set_retention(5)
    assert Pond.open(pond.path).retention_seconds == 120
    config = DeltaTable(str(pond.path / "data")).metadata().configuration
    assert config["delta.deletedFileRetentionDuration"] == "interval 120 seconds"


@pytest.mark.slow
def test_a_short_retention_keeps_checkpoints_and_the_log_short(tmp_path: Path) -> None:
    """What the retention keeps, the checkpoint every 10 commits writes again and the log keeps:
    with one second, once a second has passed the tombstones of the compactions before are gone
    from the newest checkpoints and the first log entries are deleted; with the default hour
    both stay. (This is what makes a collector's commit cost flat in time, not in commits.)"""
    short = Pond.init(tmp_path / "short")
    short.set_retention(1)
    default = Pond.init(tmp_path / "default")
    for pond in (short, default):
        hourly(pond, 60)  # auto-compactions: tombstones in the data table
    assert _newest_checkpoint_removes(short.path / "data")
    time.sleep(1.1)
    before_ms = time.time() * 1000 - 1000
    for pond in (short, default):
        hourly(pond, 25, start=60)
    old = [t for t in _newest_checkpoint_removes(short.path / "data") if t < before_ms]
    assert old == []
    assert [t for t in _newest_checkpoint_removes(default.path / "data") if t < before_ms]
    assert not (short.path / "data" / "_delta_log" / f"{0:020d}.json").exists()
    assert (default.path / "data" / "_delta_log" / f"{0:020d}.json").exists()
    assert not (short.path / "control" / "_delta_log" / f"{0:020d}.json").exists()
    # both read the same, now and at every transaction
    for seq in (2, 30, 61, short.txn_seq):
        a = Pond.open(short.path, at_txn=seq).root().resolve("/d0.series").read_table()
        b = Pond.open(default.path, at_txn=seq).root().resolve("/d0.series").read_table()
        assert a.sort_by("Timestamp").equals(b.sort_by("Timestamp")), seq
    assert Pond.open(short.path).verify() == []


def _dead_files(table_dir: Path) -> set[str]:
    """Data files on disk that the table's current snapshot does not use."""
    live = {
        os.path.relpath(u.removeprefix("file://"), table_dir)
        for u in DeltaTable(str(table_dir)).file_uris()
    }
    on_disk = {
        os.path.relpath(os.path.join(folder, name), table_dir)
        for folder, dirs, names in os.walk(table_dir)
        for name in names
        if name.endswith(".parquet")
        and not os.path.relpath(folder, table_dir).startswith(("_delta_log", "_large_files"))
    }
    return on_disk - live


@pytest.mark.slow
def test_automatic_maintenance_deletes_what_compactions_replaced(tmp_path: Path) -> None:
    """A collector never running ``pond maintain``: the files the automatic compactions of both
    tables replaced are deleted once older than the retention. (Vacuum by tombstones missed them
    all: a checkpoint drops a tombstone at the age vacuum would delete its file.)"""
    from duckpond.steward.maintenance import ReplacedLog
    from duckpond.times import now_us

    pond = Pond.init(tmp_path / "pond")
    pond.set_retention(1)
    hourly(pond, 80)  # compactions of the data and the control table
    replaced = {t: len(ReplacedLog(pond.path / t).entries()) for t in ("data", "control")}
    assert replaced["data"] >= 16 and replaced["control"] >= 16, replaced
    time.sleep(1.1)
    hourly(pond, 2, start=80)
    recent = now_us() - 1_100_000
    for name in ("data", "control"):
        dead = _dead_files(pond.path / name)
        listed = dict(ReplacedLog(pond.path / name).entries())
        assert dead <= set(listed), (name, sorted(dead - set(listed))[:3])
        assert all(listed[f] > recent for f in dead), name
    # nothing a reader needs went with them
    got = Pond.open(pond.path).root().resolve("/d1.series").read_table()
    assert got.num_rows == 82 * 3
    assert pa.compute.sum(got.column("v")).as_py() == sum(
        h * 10 + 1 + k for h in range(82) for k in range(3)
    )
    assert Pond.open(pond.path, at_txn=40).root().resolve("/d0.series").read_table().num_rows == 117
    assert Pond.open(pond.path).verify() == []


def test_a_replaced_list_names_only_files_of_its_table(tmp_path: Path) -> None:
    from duckpond.steward.maintenance import ReplacedLog

    table = tmp_path / "t"
    (table / "_delta_log").mkdir(parents=True)
    keep = table / "_delta_log" / "00000000000000000000.json"
    keep.write_text("{}")
    outside = tmp_path / "outside.parquet"
    outside.write_text("x")
    doomed = table / "part-1.parquet"
    doomed.write_text("x")
    log = ReplacedLog(table)
    log.add(["../outside.parquet", str(outside), "_delta_log/00000000000000000000.json"], 1)
    log.add(["part-1.parquet"], 1)
    assert log.sweep(0) == 1
    assert outside.exists() and keep.exists() and not doomed.exists()
    assert log.entries() == []
