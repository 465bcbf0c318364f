"""Readers and writers at once (issue 12, item 9): readers never fail because a writer is
active, a writer that loses the lock exits 6, and no committed change is lost.

The race the campaign found: at a checkpoint deltalake deletes the log entries and checkpoints
before it whose files are older than the log retention. After an idle hour that is all of them,
so a process that listed the log (or read ``_last_checkpoint``) just before finds them gone
(:mod:`duckpond.tlogfs.opening`). The stress test keeps every log file two hours old (as in a
pond written hourly by cron), so every checkpoint races the openers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from reliability_testlib import env, ok, pond

from duckpond import Pond, faults
from duckpond.errors import InvalidData, PondLocked
from duckpond.tlogfs import opening

WORKERS = Path(__file__).with_name("workers.py")
SEED = "Timestamp,v\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,2\n"


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    path = tmp_path / "pond"
    ok(pond(path, "init"))
    (tmp_path / "seed.csv").write_text(SEED)
    ok(pond(path, "copy", f"host+csv+series://{tmp_path / 'seed.csv'}", "/seed.series"))
    return path


def _start(role: str, path: Path, seconds: float, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), role, str(path), str(seconds), str(out), *extra],
        env=env(),
    )


@pytest.mark.slow
def test_readers_and_lock_losers_while_writers_write_and_clean_the_log(
    seeded: Path, tmp_path: Path
) -> None:
    seconds = 25.0
    work = tmp_path / "work"
    work.mkdir()
    procs = {"ager": _start("ager", seeded, seconds, work / "ager.json")}
    for n in range(2):
        procs[f"r{n}"] = _start("reader", seeded, seconds, work / f"r{n}.json")
    for n in range(3):
        procs[f"w{n}"] = _start("writer", seeded, seconds, work / f"w{n}.json", f"w{n}")
    for proc in procs.values():
        assert proc.wait(timeout=seconds + 240) == 0
    reports = {name: json.loads((work / f"{name}.json").read_text()) for name in procs}
    read_codes: Counter[str] = Counter()
    write_codes: Counter[str] = Counter()
    for name, report in reports.items():
        if name.startswith("r"):
            read_codes.update(report["codes"])
        elif name.startswith("w"):
            write_codes.update(report["codes"])
    print(f"\nreads {dict(read_codes)}  writes {dict(write_codes)}  aged {reports['ager']}")
    errors = [e for r in reports.values() for e in r.get("errors", [])]
    assert errors == [], "\n".join(map(str, errors))
    assert set(read_codes) == {"0"} and read_codes["0"] > 100
    assert set(write_codes) == {"0", "6"} and write_codes["6"] > 0 and write_codes["0"] > 20
    # no lost update: exactly the changes that exited 0 are in the pond
    p = Pond.open(seeded)
    for n in range(3):
        done = reports[f"w{n}"]["done"]
        dirs = {f"d{i}" for kind, i in done if kind == "mkdir"}
        rows = sorted(i for kind, i in done if kind == "row")
        listed = {x.name for x in p.root().list(f"/w{n}")} if dirs else set()
        assert listed == dirs
        if rows:
            t = p.root().resolve(f"/w{n}.series").read_table()
            assert sorted(t.column("v").to_pylist()) == rows
    assert [t.outcome for t in p.log() if t.outcome not in ("committed", "completed")] == []
    assert ok(pond(seeded, "maintain", "--verify")).endswith("matches its sha256\n")


def _table_mid_cleanup(path: Path) -> Path:
    """A Delta table as an opener sees it in the middle of a log cleanup: ``_last_checkpoint``
    names the checkpoint the cleanup just deleted, and the listing does not (yet) show the new
    one (a directory listing is not atomic). Returns where the checkpoint was moved."""
    from deltalake import DeltaTable, write_deltalake

    rows = pa.table({"a": [1]})
    DeltaTable.create(str(path), rows.schema, configuration={"delta.checkpointInterval": "5"})
    table = DeltaTable(str(path))
    for _ in range(7):
        write_deltalake(table, rows, mode="append")
    (checkpoint,) = (path / "_delta_log").glob("*.checkpoint.parquet")
    aside = path.parent / checkpoint.name
    checkpoint.rename(aside)
    return aside


@pytest.mark.parametrize(
    "message",
    [
        "Kernel error: File not found: /p/control/_delta_log/00000000000000000008.json",
        "Kernel error: Arrow error: External: Object at location /p/data/_delta_log/"
        "00000000000000000009.checkpoint.parquet not found: No such file or directory (os error 2)",
        "Kernel error: Invalid Checkpoint: Had a _last_checkpoint hint but didn't find any "
        "checkpoints",
    ],
)
def test_the_races_the_campaign_saw_are_recognised(message: str) -> None:
    from deltalake.exceptions import CommitFailedError, DeltaError

    assert opening.log_vanished(DeltaError(message))
    assert not opening.log_vanished(CommitFailedError(message))
    assert not opening.log_vanished(DeltaError("Kernel error: Parquet error: corrupt footer"))
    assert not opening.log_vanished(FileNotFoundError(message))


def test_an_opener_that_raced_the_cleanup_retries(tmp_path: Path) -> None:
    """deltalake fails on the log mid-cleanup; the retry (the cleanup done) loads the table."""
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError

    path = tmp_path / "t"
    aside = _table_mid_cleanup(path)
    with pytest.raises(DeltaError) as raised:
        DeltaTable(str(path))
    assert opening.log_vanished(raised.value), raised.value

    attempts = []

    def open_while_the_cleanup_ends() -> DeltaTable:
        attempts.append(1)
        if len(attempts) == 3:
            aside.rename(path / "_delta_log" / aside.name)  # the new checkpoint is listed
        return DeltaTable(str(path))

    table = opening.retry_log_race(open_while_the_cleanup_ends, path, what="opening")
    assert len(attempts) == 3 and table.version() == 7
    assert len(table.file_uris()) == 7


def test_a_log_that_stays_broken_is_invalid_data_after_bounded_retries(tmp_path: Path) -> None:
    import time

    path = tmp_path / "t"
    _table_mid_cleanup(path)
    started = time.monotonic()
    with pytest.raises(InvalidData, match=r"opening: .*checkpoint"):
        opening.open_table(path, what="opening")
    assert time.monotonic() - started < 5


def test_a_loaded_table_updates_across_a_cleaned_log(tmp_path: Path) -> None:
    """update_incremental from a version whose successors were cleaned up starts from the new
    checkpoint (why refreshes need no more than the list-then-read retry)."""
    from deltalake import DeltaTable, write_deltalake

    path = tmp_path / "t"
    rows = pa.table({"a": [1]})
    DeltaTable.create(str(path), rows.schema, configuration={"delta.checkpointInterval": "5"})
    writer = DeltaTable(str(path))
    write_deltalake(writer, rows, mode="append")
    reader = DeltaTable(str(path))
    assert reader.version() == 1
    for _ in range(12):
        write_deltalake(writer, rows, mode="append")
    newest = max(int(p.name[:20]) for p in (path / "_delta_log").glob("*.checkpoint.parquet"))
    for entry in (path / "_delta_log").iterdir():
        if entry.name[:20].isdigit() and int(entry.name[:20]) < newest:
            entry.unlink()
    opening.update_table(reader, path, what="reading")
    assert reader.version() == 13 and len(reader.file_uris()) == 13


def test_maintain_without_retention_keeps_the_write_lock(tmp_path: Path) -> None:
    """A full vacuum of the control table used to delete ``control/write.lock`` while maintain
    held it: a second writer then locked a new file and ran beside maintain (which removes
    'orphan' large files: that writer's, not yet committed)."""
    path = tmp_path / "pond"
    p = Pond.init(path)
    with p.transaction(["mkdir"]) as tx:
        tx.root().mkdir("/a")
    lock = p.layout.lock
    old = os.stat(lock).st_mtime - 7200
    os.utime(lock, (old, old))  # the pond was idle
    locked_out = []

    def second_writer(name: str) -> None:
        if name == "maintain-after-vacuum":
            with pytest.raises(PondLocked), Pond.open(path).transaction(["intruder"]) as tx:
                tx.root().mkdir("/intruder")
            locked_out.append(name)

    faults.install(second_writer)
    try:
        Pond.open(path).maintain(retention_hours=0)
    finally:
        faults.install(None)
    assert locked_out == ["maintain-after-vacuum"]
    assert lock.exists()
    assert not Pond.open(path).root().exists("/intruder")


def _age_logs(path: Path) -> None:
    old = os.stat(path).st_mtime - 7200
    for table in ("data", "control"):
        for entry in (path / table / "_delta_log").iterdir():
            os.utime(entry, (old, old))


def test_a_reader_loaded_before_a_cleanup_still_knows_its_txn_seq(tmp_path: Path) -> None:
    """deltalake reads a loaded table's app transaction (our txn_seq) lazily, from the log files
    it listed at load; after a writer's checkpoint cleaned those up, asking used to fail with an
    untranslated DeltaError (exit 70 from ``pond status`` and ``--at-txn``)."""
    path = tmp_path / "pond"
    writer = Pond.init(path)
    reader = Pond.open(path)
    for n in range(12):  # a checkpoint every 10 commits; each log file is two hours old
        _age_logs(path)
        with writer.transaction([f"mkdir {n}"]) as tx:
            tx.root().mkdir(f"/d{n}")
    assert not (path / "data" / "_delta_log" / f"{0:020}.json").exists()  # cleaned up
    assert reader.txn_seq == 1
    assert reader.root().exists("/d0") is False
    assert Pond.open(path).txn_seq == 13
    assert Pond.open(path, at_txn=2).root().exists("/d0")
