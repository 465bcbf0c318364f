"""Maintenance after crashes and collapses (found by the crash campaign).

- ``maintain --verify``: a collapse supersedes small series chunks and their large files are
  deleted once the retention passed; verify used to report each as missing (exit 8) on every
  pond maintained so, for ever. What a series reads must still be there: a missing live chunk is
  reported.
- A commit killed after writing its Parquet files, before its log entry, leaves files no one
  reads; ``maintain`` deletes them (both tables) once older than the retention, and never the
  write lock beside the control table's files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
from reliability_testlib import check_whole, delta_orphans, run_main

from duckpond import Pond

US = 1_000_000


def _pond_with_chunks(path: Path, chunks: int = 6, rows: int = 4_000) -> Pond:
    pond = Pond.init(path)
    for i in range(chunks):  # each chunk is a large file (> 64 KiB of Parquet)
        start = i * rows
        table = pa.table(
            {
                "Timestamp": pa.array(
                    [(start + n) * 60 * US for n in range(rows)], pa.timestamp("us", tz="UTC")
                ),
                "v": pa.array([float((start + n) * 7 % 1013) for n in range(rows)]),
                "note": pa.array([f"reading {start + n:08d}" for n in range(rows)]),
            }
        )
        with pond.transaction([f"append {i}"]) as tx:
            tx.root().append_series("/s.series", table, time_column="Timestamp")
    return pond


def test_verify_after_superseded_chunks_were_deleted(tmp_path: Path) -> None:
    path = tmp_path / "pond"
    pond = _pond_with_chunks(path)
    node = pond.root().resolve("/s.series")
    chunks = [v.sha256 for v in node.versions() if v.content is None]
    assert len(chunks) == 6  # six large files
    report = Pond.open(path).maintain(retention_hours=0)
    assert report.collapses >= 1 and report.superseded_removed == 6
    gone = [sha for sha in chunks if sha and not pond.layout.large_file(sha).exists()]
    assert len(gone) == 6
    assert Pond.open(path).verify() == []
    code, out, err = run_main("--pond", path, "maintain", "--verify")
    assert (code, err) == (0, ""), out
    assert out.endswith("verified:      every file version matches its sha256\n")
    t = Pond.open(path).root().resolve("/s.series").read_table()
    assert t.num_rows == 24_000 and t.column("v").to_pylist()[:2] == [0.0, 7.0]
    # the rows of a transaction before the collapse are read from the collapse
    assert Pond.open(path, at_txn=3).root().resolve("/s.series").read_table().num_rows == 8_000


def test_verify_still_reports_a_missing_live_chunk(tmp_path: Path) -> None:
    path = tmp_path / "pond"
    pond = _pond_with_chunks(path, chunks=2)
    live = pond.root().resolve("/s.series").versions()[-1]
    assert live.sha256 is not None and live.content is None
    pond.layout.large_file(live.sha256).unlink()
    assert Pond.open(path).verify() == [f"sha256={live.sha256}: missing"]
    code, _, err = run_main("--pond", path, "maintain", "--verify", "--no-collapse")
    assert code == 8 and err.count("\n") == 1


def test_maintain_deletes_what_killed_commits_left_but_not_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "pond"
    pond = _pond_with_chunks(path, chunks=2, rows=10)
    # what a commit killed between writing its files and its log entry leaves, in each table
    planted = []
    for table in ("data", "control"):
        live = next(
            Path(d, f)
            for d, _, files in os.walk(path / table)
            for f in files
            if f.endswith(".parquet") and "_delta_log" not in d
        )
        orphan = live.with_name("part-00000-killed-commit-c000.zstd.parquet")
        shutil.copyfile(live, orphan)
        old = orphan.stat().st_mtime - 3 * 3600
        os.utime(orphan, (old, old))
        planted.append(orphan)
    assert delta_orphans(path / "data") == [str(planted[0])]
    assert delta_orphans(path / "control") == [str(planted[1])]
    lock = pond.layout.lock
    assert lock.exists()
    os.utime(lock, (lock.stat().st_mtime - 7200,) * 2)
    code, out, err = run_main("--pond", path, "maintain", "--retention-hours", "1")
    assert (code, err) == (0, ""), out
    assert not planted[0].exists() and not planted[1].exists()
    assert lock.exists()
    check_whole(path)
    assert Pond.open(path).root().resolve("/s.series").read_table().num_rows == 20
