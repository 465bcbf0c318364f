"""The data table's snapshot read from its Delta log without deltalake (duckpond.tlogfs.log).

What deltalake loads is the reference: every figure the snapshot gives (version, txn_seq, the
live files and their partitions) must equal it at every stage of a pond's life (commits,
checkpoints, log cleanup, auto-compaction, vacuum, maintain), and whatever the reader does not
read must fall back to deltalake, not be read wrong.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pyarrow as pa
import pytest
from core_testlib import run_python

from duckpond import Pond
from duckpond.tlogfs import log
from duckpond.tlogfs.delta import APP_ID


def _deltalake_view(table_path: Path) -> tuple[int, int | None, list[tuple[str, str]]]:
    from deltalake import DeltaTable

    table = DeltaTable(str(table_path))
    actions = pa.table(table.get_add_actions(flatten=True))
    files = sorted(
        zip(
            actions.column("path").to_pylist(),
            actions.column("partition.part_id").to_pylist(),
            strict=True,
        )
    )
    return table.version(), table.transaction_version(APP_ID), files


def _snapshot_view(table_path: Path) -> tuple[int, int | None, list[tuple[str, str]]]:
    snap = log.read_snapshot(table_path)
    files = sorted((path, str(values["part_id"])) for path, values in snap.files)
    return snap.version, snap.transaction_version(APP_ID), files


def _age_logs(path: Path) -> None:
    """Make every log entry two hours old (past the one-hour log retention)."""
    old = os.stat(path).st_mtime - 7200
    for entry in (path / "data" / "_delta_log").iterdir():
        os.utime(entry, (old, old))


def test_the_snapshot_equals_deltalake_through_a_ponds_life(tmp_path: Path) -> None:
    """Commits past several checkpoints, expired-log cleanup, auto-compaction (a partition past
    16 files), vacuum and a full maintain: at each stage the snapshot is what deltalake loads."""
    path = tmp_path / "pond"
    pond = Pond.init(path)
    data = path / "data"
    stages = []
    with pond.transaction(["mkdir"]) as tx:
        tx.root().mkdir("/d")
    for n in range(24):  # checkpoints every 10 commits; the /d partition is compacted at 17
        if n % 7 == 0:
            _age_logs(path)  # the next checkpoint deletes the entries before it
        with pond.transaction([f"write {n}"]) as tx:
            tx.root().write_file(f"/d/f{n % 5}.txt", f"{n}".encode())
        mine, theirs = _snapshot_view(data), _deltalake_view(data)
        assert mine == theirs, n
        stages.append(len(mine[2]))
    names = os.listdir(data / "_delta_log")
    assert any(name.endswith(".checkpoint.parquet") for name in names)
    assert f"{0:020}.json" not in names  # the reader started from a checkpoint
    assert any(b < a for a, b in itertools.pairwise(stages))  # a compaction happened
    pond.maintain(retention_hours=0)
    assert _snapshot_view(data) == _deltalake_view(data)
    assert _snapshot_view(data)[1] == Pond.open(path).txn_seq


def test_a_new_reader_does_not_import_deltalake_and_reads_what_was_written(pond) -> None:
    with pond.transaction(["write"]) as tx:
        tx.root().write_file("/a.txt", b"one")
    with pond.transaction(["write"]) as tx:
        tx.root().write_file("/a.txt", b"two")
    code = (
        "import sys; from duckpond import Pond\n"
        "p = Pond.open(sys.argv[1]); r = p.root()\n"
        "print(r.resolve('/a.txt').read_bytes().decode(), p.txn_seq, p.data_version,\n"
        "      'deltalake' in sys.modules)\n"
    )
    done = run_python(code, str(pond.path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["two", "3", str(pond.data_version), "False"]


def test_a_reader_that_writes_loads_the_table_and_sees_what_others_committed(pond) -> None:
    """A pond read from a snapshot, then written after another writer committed: the write
    starts from the latest table (no lost update, no stale partition)."""
    with pond.transaction(["write"]) as tx:
        tx.root().write_file("/a.txt", b"one")
    reader = Pond.open(pond.path)
    assert reader.root().resolve("/a.txt").read_bytes() == b"one"  # partition cached
    with Pond.open(pond.path).transaction(["other"]) as tx:
        tx.root().write_file("/a.txt", b"two")
        tx.root().write_file("/b.txt", b"b")
    with reader.transaction(["mine"]) as tx:
        assert tx.root().resolve("/a.txt").read_bytes() == b"two"
        tx.root().write_file("/c.txt", b"c")
    again = Pond.open(pond.path)
    assert sorted(n.name for n in again.root().list("/")) == ["a.txt", "b.txt", "c.txt"]
    assert [v.version for v in again.history("/a.txt")] == [1, 2]
    assert again.txn_seq == 4


def test_time_travel_from_a_snapshot_finds_transactions(pond) -> None:
    with pond.transaction(["write"]) as tx:
        tx.root().write_file("/a.txt", b"one")
    with pond.transaction(["write"]) as tx:
        tx.root().write_file("/a.txt", b"two")
    assert Pond.open(pond.path, at_txn=2).root().resolve("/a.txt").read_bytes() == b"one"
    with pytest.raises(Exception, match="never committed"):
        Pond.open(pond.path, at_txn=9)


def _write_commit(table: Path, version: int, actions: list[dict]) -> None:
    text = "\n".join(json.dumps(a) for a in actions) + "\n"
    (table / "_delta_log" / f"{version:020d}.json").write_text(text)


@pytest.mark.parametrize(
    ("name", "actions", "cause"),
    [
        ("reader features", [{"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                              "readerFeatures": ["deletionVectors"], "writerFeatures": []}}],
         "reader version 3"),
        ("column mapping", [{"metaData": {"configuration": {"delta.columnMapping.mode": "name"},
                             "partitionColumns": []}}], "column mapping"),
        ("deletion vector", [{"add": {"path": "x.parquet", "partitionValues": {},
                              "deletionVector": {"storageType": "i"}}}], "deletion vector"),
        ("absolute path", [{"add": {"path": "file:///tmp/x.parquet", "partitionValues": {}}}],
         "absolute"),
        ("not JSON", None, "not JSON"),
    ],
)  # fmt: skip
def test_what_the_reader_does_not_read_is_refused_not_misread(
    pond, name: str, actions: list[dict] | None, cause: str
) -> None:
    data = pond.path / "data"
    version = log.read_snapshot(data).version + 1
    if actions is None:
        (data / "_delta_log" / f"{version:020d}.json").write_text("{not json\n")
    else:
        _write_commit(data, version, actions)
    with pytest.raises(log.Unsupported, match=cause):
        log.read_snapshot(data)


def test_a_log_with_a_gap_or_another_checkpoint_kind_is_refused(pond) -> None:
    data = pond.path / "data"
    with pond.transaction(["write"]) as tx:
        tx.root().write_file("/a.txt", b"one")
    (data / "_delta_log" / f"{0:020d}.json").rename(data / "first.json")
    with pytest.raises(log.Unsupported, match="gap"):
        log.read_snapshot(data)
    (data / "first.json").rename(data / "_delta_log" / f"{0:020d}.json")
    other = data / "_delta_log" / f"{1:020d}.checkpoint.0000000001.0000000002.parquet"
    other.write_bytes(b"")
    with pytest.raises(log.Unsupported, match="checkpoint of a kind"):
        log.read_snapshot(data)
    other.unlink()
    assert _snapshot_view(data) == _deltalake_view(data)


def test_a_refused_log_is_loaded_with_deltalake(pond, monkeypatch) -> None:
    """The fallback: the pond opens and reads the same through deltalake."""
    with pond.transaction(["write"]) as tx:
        tx.root().write_file("/a.txt", b"one")

    def refuse(path: object) -> log.Snapshot:
        raise log.Unsupported("refused for the test")

    monkeypatch.setattr(log, "read_snapshot", refuse)
    again = Pond.open(pond.path)
    assert again._persistence._snapshot is None  # loaded by deltalake
    assert again.root().resolve("/a.txt").read_bytes() == b"one"
    assert again.txn_seq == 2


def test_a_log_file_deleted_after_listing_is_read_again(pond, monkeypatch) -> None:
    """A writer's log cleanup deletes an entry the reader listed: the reader lists again."""
    data = pond.path / "data"
    with pond.transaction(["write"]) as tx:
        tx.root().write_file("/a.txt", b"one")
    expected = _deltalake_view(data)
    real = os.listdir
    latest = expected[0]
    # listed before the cleanup: a checkpoint the cleanup then deleted (with the newest entry)
    stale = [*real(data / "_delta_log"), f"{latest - 1:020d}.checkpoint.parquet"]
    calls = []

    def listdir(path: str) -> list[str]:
        calls.append(path)
        return stale if len(calls) == 1 else real(path)

    monkeypatch.setattr(log.os, "listdir", listdir)
    assert _snapshot_view(data) == expected
    assert len(calls) == 2


def test_percent_encoded_paths_are_decoded(tmp_path: Path) -> None:
    """The protocol's add.path is a URI: a partition value with a space is %20 in the log."""
    from deltalake import DeltaTable, write_deltalake

    path = tmp_path / "t"
    rows = pa.table({"part_id": ["a b", "c"], "x": [1, 2]})
    DeltaTable.create(str(path), rows.schema, partition_by=["part_id"])
    write_deltalake(str(path), rows, mode="append", partition_by=["part_id"])
    snap = log.read_snapshot(path)
    assert sorted(str(v["part_id"]) for _, v in snap.files) == ["a b", "c"]
    for rel, _ in snap.files:
        assert (path / rel).is_file(), rel


def test_removes_after_a_checkpoint_are_reconciled(tmp_path: Path) -> None:
    """Compaction, delete and overwrite remove files in JSON commits after a checkpoint (a pond's
    own compactions mostly land just before one): the snapshot drops exactly those files."""
    from deltalake import DeltaTable, write_deltalake

    path = tmp_path / "t"
    rows = pa.table({"part_id": ["a", "b"], "x": [1, 2]})
    DeltaTable.create(
        str(path),
        rows.schema,
        partition_by=["part_id"],
        configuration={"delta.checkpointInterval": "100"},
    )

    def same() -> None:
        assert _snapshot_view(path) == _deltalake_view(path)

    for _ in range(4):
        write_deltalake(str(path), rows, mode="append", partition_by=["part_id"])
    DeltaTable(str(path)).create_checkpoint()
    write_deltalake(str(path), rows, mode="append", partition_by=["part_id"])
    same()
    DeltaTable(str(path)).optimize.compact()
    same()
    DeltaTable(str(path)).delete("x = 1")
    same()
    assert len(log.read_snapshot(path).files) == 1
    write_deltalake(str(path), rows, mode="overwrite", partition_by=["part_id"])
    same()
    assert len(log.read_snapshot(path).files) == 2


def test_a_missing_or_unreadable_log_goes_to_deltalake_at_once(pond, monkeypatch) -> None:
    """Only a file vanishing from a log that is there is a race worth listing again."""
    import shutil

    slept: list[float] = []
    monkeypatch.setattr(log.time, "sleep", slept.append)
    data = pond.path / "data"
    real = os.listdir

    def unreadable(path: str) -> list[str]:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(log.os, "listdir", unreadable)
    with pytest.raises(log.Unsupported, match="cannot be read"):
        log.read_snapshot(data)
    monkeypatch.setattr(log.os, "listdir", real)
    shutil.rmtree(data / "_delta_log")
    with pytest.raises(log.Unsupported, match="no Delta log"):
        log.read_snapshot(data)
    assert slept == []
