"""The host mirror: the pond's tree as plain files, incremental, hand edits never overwritten."""

from __future__ import annotations

import hashlib
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from remote_testlib import B01_CSV

from duckpond import Pond
from duckpond.errors import UsageError
from duckpond.mirror import STATE_FILE, auto_sync_dir, set_auto_sync, sync
from duckpond.remote import after_commit
from duckpond.steward.hooks import CommitHookWarning


def _append(pond, rows: int = 10) -> None:
    from duckpond.formats import read_csv_series

    table, tc = read_csv_series(B01_CSV)
    with pond.transaction(["append"]) as tx:
        tx.root().append_series("/raw/b01.series", table.slice(0, rows), time_column=tc)


def _tree(root) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if name != STATE_FILE:
                out.add(rel)
    return out


def test_sync_writes_the_tree(example, tmp_path):
    mirror = tmp_path / "mirror"
    report = sync(example, mirror)
    assert _tree(mirror) == {
        "docs",
        "docs/readme.txt",
        "latest",
        "raw",
        "raw/b01.series",
        "raw/blob.bin",
        "tables",
        "tables/summary.table",
    }
    assert sorted(report.written) == sorted(_tree(mirror))
    assert report.conflicts == [] and report.deleted == []
    root = example.root()
    assert (mirror / "docs/readme.txt").read_bytes() == root.resolve(
        "/docs/readme.txt"
    ).read_bytes()
    assert (mirror / "raw/blob.bin").read_bytes() == root.resolve("/raw/blob.bin").read_bytes()
    series = pq.read_table(mirror / "raw/b01.series")
    assert series.equals(root.resolve("/raw/b01.series").read_table())  # union of 3 versions
    assert pq.read_table(mirror / "tables/summary.table").equals(
        root.resolve("/tables/summary.table").read_table()
    )
    assert os.readlink(mirror / "latest") == "raw/b01.series"
    assert pq.read_table(mirror / "latest").num_rows == series.num_rows
    assert report.bytes_written == sum(
        (mirror / p).stat().st_size
        for p in report.written
        if (mirror / p).is_file() and not (mirror / p).is_symlink()
    )

    again = sync(example, mirror)
    assert again.written == [] and again.deleted == [] and again.conflicts == []
    assert again.unchanged == len(report.written)
    assert again.summary() == f"{mirror}: 0 written, 0 deleted, 8 unchanged"


def test_incremental_sync_rewrites_only_what_changed(example, tmp_path):
    mirror = tmp_path / "mirror"
    sync(example, mirror)
    stamps = {p: (mirror / p).lstat().st_mtime_ns for p in _tree(mirror)}
    time.sleep(0.01)

    _append(example, 10)
    report = sync(example, mirror)
    assert report.written == ["raw/b01.series"]
    assert pq.read_table(mirror / "raw/b01.series").num_rows == (
        example.root().resolve("/raw/b01.series").read_table().num_rows
    )
    for p, stamp in stamps.items():
        if p not in {"raw/b01.series", "raw"}:
            assert (mirror / p).lstat().st_mtime_ns == stamp, p

    with example.transaction(["rm"]) as tx:
        tx.root().remove("/docs", recursive=True)
        tx.root().rename("/raw/blob.bin", "/tables/blob.bin")
        tx.root().write_file("/raw/new.txt", b"new")
    report = sync(example, mirror)
    assert sorted(report.deleted) == ["docs", "docs/readme.txt", "raw/blob.bin"]
    assert sorted(report.written) == ["raw/new.txt", "tables/blob.bin"]
    assert not (mirror / "docs").exists()
    assert (mirror / "raw/new.txt").read_bytes() == b"new"


def test_hand_edits_are_reported_never_overwritten(example, tmp_path):
    mirror = tmp_path / "mirror"
    sync(example, mirror)
    edited = mirror / "docs" / "readme.txt"
    edited.write_bytes(b"my notes\n")
    report = sync(example, mirror)
    assert [c.path for c in report.conflicts] == ["docs/readme.txt"]
    assert "by hand" in report.conflicts[0].reason
    assert edited.read_bytes() == b"my notes\n"

    # the pond changes that file too: still not overwritten, still reported
    with example.transaction(["write"]) as tx:
        tx.root().write_file("/docs/readme.txt", b"version 2\n")
        tx.root().write_file("/docs/other.txt", b"other\n")
    report = sync(example, mirror)
    assert [c.path for c in report.conflicts] == ["docs/readme.txt"]
    assert report.written == ["docs/other.txt"]
    assert edited.read_bytes() == b"my notes\n"

    # same size, same mtime trick does not matter: a touched but unchanged file is fine
    blob = mirror / "raw" / "blob.bin"
    os.utime(blob, ns=(1, 1))
    assert sync(example, mirror).conflicts == [c for c in report.conflicts]

    # the pond removes a hand-edited file: it stays, reported
    with example.transaction(["rm"]) as tx:
        tx.root().remove("/docs/readme.txt")
    report = sync(example, mirror)
    assert [c.path for c in report.conflicts] == ["docs/readme.txt"]
    assert edited.exists()

    # deleting the hand-made file resolves it
    edited.unlink()
    assert sync(example, mirror).conflicts == []


def test_hand_deleted_file_is_written_again(example, tmp_path):
    mirror = tmp_path / "mirror"
    sync(example, mirror)
    (mirror / "raw" / "blob.bin").unlink()
    report = sync(example, mirror)
    assert report.written == ["raw/blob.bin"] and report.conflicts == []
    blob = example.root().resolve("/raw/blob.bin")
    assert hashlib.sha256((mirror / "raw/blob.bin").read_bytes()).hexdigest() == (
        blob.latest().sha256
    )


def test_hand_made_file_where_the_pond_adds_one_is_left_alone(example, tmp_path):
    mirror = tmp_path / "mirror"
    sync(example, mirror)
    (mirror / "docs" / "mine.txt").write_text("mine")
    assert sync(example, mirror).conflicts == []  # not the pond's: ignored
    with example.transaction(["write"]) as tx:
        tx.root().write_file("/docs/mine.txt", b"pond's")
    report = sync(example, mirror)
    assert [c.path for c in report.conflicts] == ["docs/mine.txt"]
    assert (mirror / "docs" / "mine.txt").read_text() == "mine"


def test_rebuild_wipes_and_writes_everything(example, tmp_path):
    mirror = tmp_path / "mirror"
    first = sync(example, mirror)
    (mirror / "docs" / "readme.txt").write_bytes(b"edited")
    (mirror / "junk.txt").write_text("junk")
    report = sync(example, mirror, rebuild=True)
    assert report.rebuilt and report.conflicts == []
    assert sorted(report.written) == sorted(first.written)
    assert not (mirror / "junk.txt").exists()
    assert (mirror / "docs" / "readme.txt").read_bytes() == (
        example.root().resolve("/docs/readme.txt").read_bytes()
    )
    assert sync(example, mirror).written == []


def test_refuses_a_folder_that_is_not_a_mirror(example, tmp_path):
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    for rebuild in (False, True):
        with pytest.raises(UsageError, match="not a DuckPond mirror"):
            sync(example, folder, rebuild=rebuild)
    assert (folder / "precious.txt").read_text() == "keep me"


def test_refuses_the_mirror_of_another_pond_unless_rebuilt(example, tmp_path):
    mirror = tmp_path / "mirror"
    sync(example, mirror)
    other = Pond.init(tmp_path / "other")
    with other.transaction(["w"]) as tx:
        tx.root().write_file("/only.txt", b"x")
    with pytest.raises(UsageError, match="another pond"):
        sync(other, mirror)
    report = sync(other, mirror, rebuild=True)
    assert report.written == ["only.txt"] and _tree(mirror) == {"only.txt"}


def test_auto_sync_after_commit(example, tmp_path):
    mirror = tmp_path / "mirror"
    assert auto_sync_dir(example) is None
    set_auto_sync(example, mirror)
    assert auto_sync_dir(example) == mirror.resolve()
    assert not mirror.exists()
    _append(example)  # the commit itself syncs (a library user gets the hooks too)
    assert (mirror / "raw" / "b01.series").is_file()
    done = after_commit(example)
    assert done.errors == [] and done.mirror is not None and done.mirror.written == []
    (mirror / "docs" / "readme.txt").write_text("edited")
    with (
        pytest.warns(CommitHookWarning, match="docs/readme.txt: changed by hand"),
        example.transaction(["w"]) as tx,
    ):
        tx.root().write_file("/docs/readme.txt", b"v2")
    done = after_commit(example)
    assert done.errors == ["mirror: docs/readme.txt: changed by hand (not overwritten)"]
    set_auto_sync(example, None)
    assert after_commit(example).mirror is None


def test_many_small_files_then_one_change(tmp_path):
    pond = Pond.init(tmp_path / "pond")
    with pond.transaction(["many"]) as tx:
        r = tx.root()
        for d in range(10):
            r.mkdir(f"/d{d}")
            for i in range(50):
                r.write_file(f"/d{d}/f{i}.txt", f"{d}/{i}\n".encode())
    mirror = tmp_path / "mirror"
    assert len(sync(pond, mirror).written) == 510
    with pond.transaction(["one"]) as tx:
        tx.root().write_file("/d3/f7.txt", b"changed\n")
    report = sync(pond, mirror)
    assert report.written == ["d3/f7.txt"] and report.unchanged == 509
    assert (mirror / "d3" / "f7.txt").read_bytes() == b"changed\n"


def test_series_with_merged_schemas(tmp_path):
    pond = Pond.init(tmp_path / "pond")
    ts = pa.array([0, 1_000_000], pa.timestamp("us", "UTC"))
    with pond.transaction(["a"]) as tx:
        tx.root().append_series("/s.series", pa.table({"Timestamp": ts, "a": [1.0, 2.0]}))
    with pond.transaction(["b"]) as tx:
        tx.root().append_series("/s.series", pa.table({"Timestamp": ts, "b": [3.0, 4.0]}))
    sync(pond, tmp_path / "m")
    got = pq.read_table(tmp_path / "m" / "s.series")
    assert got.equals(pond.root().resolve("/s.series").read_table())
    assert set(got.column_names) == {"Timestamp", "a", "b"}


def test_unchanged_pond_is_not_walked_again(example, tmp_path, monkeypatch):
    import duckpond.mirror as mirror_mod

    mirror = tmp_path / "mirror"
    first = sync(example, mirror)

    def no_walk(pond):
        raise AssertionError("the pond was walked")

    monkeypatch.setattr(mirror_mod, "_desired", no_walk)
    report = sync(Pond.open(example.path), mirror)
    assert report.unchanged == len(first.written) and report.written == []
    # a hand edit takes the full path (and is reported)
    monkeypatch.undo()
    (mirror / "docs" / "readme.txt").write_text("edited")
    assert [c.path for c in sync(example, mirror).conflicts] == ["docs/readme.txt"]
