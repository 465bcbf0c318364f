"""The mirror after a crash (issue 12 #11): a sync killed at any point is finished by the next.

``pond mirror sync`` runs in a child killed (``os._exit(137)``, what kill -9 does) at a fault
point (:mod:`duckpond.testing.crash`); then a sync in this process must complete the mirror: no
"changed by hand", the same tree as a mirror written from scratch, no temporary file left, and a
following sync with nothing to do. ``tests/reliability`` kills at every occurrence of every
point, and at random times; these are a few.
"""

from __future__ import annotations

import os

import pytest
from remote_testlib import B01_CSV, leftovers, mirror_points, mirror_sync_killed_at, mirror_tree

from duckpond import Pond
from duckpond.mirror import JOURNAL_FILE, STATE_FILE, plan_sync, sync


def _change(pond) -> None:
    """A commit touching every kind of mirror step: rewrite, append, delete, move, new dir."""
    from duckpond.formats import read_csv_series

    table, tc = read_csv_series(B01_CSV)
    with pond.transaction(["change"]) as tx:
        r = tx.root()
        r.append_series("/raw/b01.series", table.slice(0, 20), time_column=tc)
        r.write_file("/docs/readme.txt", b"version 2\n")
        r.remove("/tables", recursive=True)
        r.rename("/raw/blob.bin", "/docs/blob.bin")
        r.mkdir("/new")
        r.write_file("/new/a.txt", b"a\n")
        r.remove("/latest")
        r.symlink("/latest", "/docs/readme.txt")


def _assert_complete(pond, folder, tmp_path) -> None:
    report = sync(pond, folder)
    assert report.conflicts == [], report.conflicts
    fresh = tmp_path / f"fresh-{len(list(tmp_path.iterdir()))}"
    sync(pond, fresh)
    assert mirror_tree(folder) == mirror_tree(fresh)
    assert leftovers(folder) == []
    assert not (folder / JOURNAL_FILE).exists() and (folder / STATE_FILE).is_file()
    again = sync(pond, folder)
    assert (again.written, again.deleted, again.conflicts) == ([], [], [])
    assert again.unchanged == len(mirror_tree(fresh))


@pytest.mark.parametrize(
    ("point", "n"),
    [
        ("mirror-after-write", 1),
        ("mirror-tmp-written", 1),
        ("mirror-before-rename", 2),
        ("mirror-after-write", 5),
        ("mirror-before-state", 1),
    ],
)
def test_first_sync_killed_then_completed(example, tmp_path, point, n):
    folder = tmp_path / "mirror"
    assert mirror_sync_killed_at(example.path, folder, point, n) == 137
    _assert_complete(example, folder, tmp_path)


@pytest.mark.parametrize(
    ("point", "n"),
    [
        ("mirror-after-delete", 1),
        ("mirror-tmp-written", 1),
        ("mirror-before-rename", 1),
        ("mirror-before-rename", 3),
        ("mirror-after-write", 2),
        ("mirror-before-state", 1),
    ],
)
def test_incremental_sync_killed_then_completed(example, tmp_path, point, n):
    folder = tmp_path / "mirror"
    sync(example, folder)
    _change(example)
    assert {"mirror-after-delete", "mirror-before-rename"} <= set(
        mirror_points(example.path, folder)
    )
    assert mirror_sync_killed_at(example.path, folder, point, n) == 137
    _assert_complete(Pond.open(example.path), folder, tmp_path)


@pytest.mark.parametrize(
    ("first", "rebuild_at"),
    [
        (("mirror-after-write", 1), ("mirror-after-wipe", 1)),
        (("mirror-before-rename", 2), ("mirror-after-write", 1)),
        (("mirror-before-state", 1), ("mirror-before-rename", 1)),
    ],
)
def test_rebuild_works_after_a_killed_sync_and_a_killed_rebuild(
    example, tmp_path, first, rebuild_at
):
    folder = tmp_path / "mirror"
    assert mirror_sync_killed_at(example.path, folder, *first) == 137
    # a rebuild (of another pond's tree, even) killed too, then finished by a plain sync
    other = Pond.init(tmp_path / "other")
    with other.transaction(["w"]) as tx:
        tx.root().write_file("/only.txt", b"x")
    assert mirror_sync_killed_at(other.path, folder, *rebuild_at, rebuild=True) == 137
    journal = (folder / JOURNAL_FILE).read_text()
    # a rebuild killed before its wipe was journaled is done again by the next sync
    assert plan_sync(other, folder).rebuild == ('"wiped"' not in journal)
    _assert_complete(other, folder, tmp_path)
    report = sync(example, folder, rebuild=True)
    assert report.rebuilt and report.conflicts == []
    _assert_complete(example, folder, tmp_path)


def test_file_holding_the_ponds_version_is_the_same_not_changed_by_hand(example, tmp_path):
    """Bytes equal to the pond's current version are "same", recorded or not."""
    folder = tmp_path / "mirror"
    sync(example, folder)
    with example.transaction(["w"]) as tx:
        tx.root().write_file("/docs/readme.txt", b"new text\n")
        tx.root().write_file("/docs/added.txt", b"added\n")
    # someone (a sync killed before its journal existed, a user) put the new bytes in place
    (folder / "docs" / "readme.txt").write_bytes(b"new text\n")
    (folder / "docs" / "added.txt").write_bytes(b"added\n")
    report = sync(example, folder)
    assert report.conflicts == [] and report.written == []
    assert (folder / "docs" / "readme.txt").read_bytes() == b"new text\n"
    assert sync(example, folder).unchanged == len(mirror_tree(folder))


def test_rebuild_works_with_an_unreadable_state(example, tmp_path):
    folder = tmp_path / "mirror"
    sync(example, folder)
    (folder / STATE_FILE).write_text("{torn")
    with pytest.raises(Exception, match="--rebuild"):
        sync(example, folder)
    report = sync(example, folder, rebuild=True)
    assert report.rebuilt and report.conflicts == []
    _assert_complete(example, folder, tmp_path)


def test_dry_run_changes_nothing(example, tmp_path):
    folder = tmp_path / "mirror"
    sync(example, folder)
    _change(example)
    (folder / "docs" / "mine.txt").write_text("mine")
    before = {p: p.lstat().st_mtime_ns for p in folder.rglob("*")}
    plan = plan_sync(example, folder)
    assert {a.path for a in plan.actions if a.op == "write"} >= {"raw/b01.series", "new/a.txt"}
    assert {a.path for a in plan.actions if a.op == "delete"} >= {"tables", "raw/blob.bin"}
    lines = plan.lines()
    assert lines[0].startswith(f"{folder}: would write ")
    assert "  write  new/a.txt  2 B" in lines and "  delete tables" in lines
    assert {p: p.lstat().st_mtime_ns for p in folder.rglob("*")} == before
    # the sync then does what the plan said
    report = sync(example, folder)
    assert sorted(report.written) == sorted(a.path for a in plan.actions if a.op == "write")
    assert sorted(report.deleted) == sorted(a.path for a in plan.actions if a.op == "delete")


def test_no_temporary_file_is_left_by_a_failing_write(example, tmp_path, monkeypatch):
    import duckpond.mirror as mirror_mod

    folder = tmp_path / "mirror"

    def broken(f):
        raise OSError(28, "No space left on device")

    real = mirror_mod._write_tmp
    monkeypatch.setattr(mirror_mod, "_write_tmp", lambda folder_, fill: real(folder_, broken))
    from duckpond.errors import HostError

    with pytest.raises(HostError, match="No space left on device") as info:
        sync(example, folder)
    assert info.value.exit_code == 74
    assert leftovers(folder) == []
    monkeypatch.undo()
    _assert_complete(example, folder, tmp_path)
    assert not [n for n in os.listdir(folder) if n.startswith(".tmp-")]
