"""A move never changes content (issue 12, defect 5).

Any sequence of moves and renames of series (and of a directory holding one) among a few
directories, with appends between, keeps each series' content, version list and history what a
simple model says, stores each version exactly once, and (Delta) reads the same after the pond is
reopened and at every earlier transaction (``at_txn``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duckpond import Pond
from duckpond.testing.conformance import DeltaHarness, MemoryHarness
from duckpond.tinyfs.model import decode_directory, encode_directory

DIRS = ("a", "b", "c")  # fixed directories at the root; "d" is a directory that moves among them
FILES = 2  # series s0 (created in /a) and s1 (created in /a/d)


@dataclass
class Series:
    where: str  # "a", "b", "c" or "d"
    name: str
    values: list[int] = field(default_factory=list)
    txns: list[int] = field(default_factory=list)  # txn_seq of each version, in order


@dataclass
class Model:
    d_parent: str = "a"
    files: list[Series] = field(default_factory=list)
    clock: int = 0  # next timestamp (s): every row of every chunk gets its own

    def dir_path(self, key: str) -> str:
        return f"/{self.d_parent}/d" if key == "d" else f"/{key}"

    def path(self, i: int) -> str:
        s = self.files[i]
        return f"{self.dir_path(s.where)}/{s.name}"

    def chunk(self, values: list[int]) -> pa.Table:
        times = list(range(self.clock, self.clock + len(values)))
        self.clock += len(values)
        return pa.table(
            {
                "Timestamp": pa.array(times, pa.timestamp("s", "UTC")),
                "v": pa.array(values, pa.int64()),
            }
        )

    def expected(self) -> dict[str, tuple[int, int, int, int, int]]:
        """path -> (count, sum, min, max, number of versions)."""
        return {
            self.path(i): (len(s.values), sum(s.values), min(s.values), max(s.values), len(s.txns))
            for i, s in enumerate(self.files)
        }


values = st.lists(st.integers(-1000, 1000), min_size=1, max_size=4)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("mv"), st.integers(0, FILES - 1), st.sampled_from((*DIRS, "d"))),
        st.tuples(st.just("rename"), st.integers(0, FILES - 1)),
        st.tuples(st.just("mvdir"), st.sampled_from(DIRS)),
        st.tuples(st.just("append"), st.integers(0, FILES - 1), values),
        st.tuples(st.just("commit")),
    ),
    max_size=12,  # fewer than 16 versions per series: no auto-collapse in these runs
)


def observed(root: Any, model: Model) -> dict[str, tuple[int, int, int, int, int]]:
    out = {}
    for i in range(len(model.files)):
        np = root.resolve(model.path(i))
        v = np.read_table().column("v")
        out[np.path] = (
            len(v),
            pc.sum(v).as_py(),
            pc.min(v).as_py(),
            pc.max(v).as_py(),
            len(np.versions()),
        )
    return out


def check(harness: Any, model: Model) -> None:
    root = harness.root()
    assert observed(root, model) == model.expected()
    dirs = [np.node.node_id for np in root.walk() if np.is_dir] + [root.here.node.node_id]
    store = harness.fs.persistence
    for i, s in enumerate(model.files):
        np = root.resolve(model.path(i))
        history = np.versions()
        assert [v.version for v in history] == list(range(1, len(s.txns) + 1))
        assert [v.txn_seq for v in history] == s.txns
        # each version stored once, whatever the moves (the bug copied them into each new parent)
        stored = [v.version for p in dirs for v in store.partition(p).get(np.node.node_id, [])]
        assert sorted(stored) == list(range(1, len(s.txns) + 1))


def run(harness: Any, steps: list[tuple[Any, ...]]) -> dict[int, dict[str, Any]]:
    """Apply ``steps``, checking against the model at each commit; returns the expected state
    (path -> aggregates) after each committed transaction, by txn_seq."""
    model = Model()
    r = harness.root()
    for d in DIRS:
        r.mkdir(f"/{d}")
    r.mkdir("/a/d")
    for i, where in enumerate(("a", "d")):
        model.files.append(Series(where, f"s{i}"))
        first = [i + 1, -(i + 1)]
        r.append_series(model.path(i), model.chunk(first))
        model.files[i].values += first
        model.files[i].txns.append(harness.fs.persistence.txn_seq)
    states: dict[int, dict[str, Any]] = {}

    def commit() -> None:
        seq = harness.fs.persistence.txn_seq
        harness.commit()
        states[seq] = model.expected()
        check(harness, model)

    commit()
    dirty = False
    for step in steps:
        r = harness.root()
        kind = step[0]
        if kind == "commit":
            if dirty:
                commit()
                dirty = False
            continue
        if kind == "append":
            _, i, vals = step
            r.append_series(model.path(i), model.chunk(vals))
            model.files[i].values += vals
            model.files[i].txns.append(harness.fs.persistence.txn_seq)
        elif kind == "mv":
            _, i, dest = step
            s = model.files[i]
            if dest == s.where:
                continue
            r.rename(model.path(i), model.dir_path(dest))  # into the directory, same name
            s.where = dest
        elif kind == "rename":
            _, i = step
            s = model.files[i]
            new = s.name.replace("s", "t") if s.name.startswith("s") else s.name.replace("t", "s")
            r.rename(model.path(i), f"{model.dir_path(s.where)}/{new}")
            s.name = new
        else:  # mvdir
            _, dest = step
            if dest == model.d_parent:
                continue
            r.rename(model.dir_path("d"), f"/{dest}/d")
            model.d_parent = dest
        dirty = True
        assert observed(harness.root(), model) == model.expected()  # read your writes
    if dirty:
        commit()
    return states


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=ops)
def test_moves_keep_content_and_history_in_memory(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, MemoryHarness(Path(tmp)) as harness:
        run(harness, steps)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=ops)
def test_moves_keep_content_history_and_time_travel_in_a_pond(
    steps: list[tuple[Any, ...]],
) -> None:
    """Through DeltaPersistence: every commit reopens the pond; then each committed transaction
    is read back with ``at_txn``."""
    with tempfile.TemporaryDirectory() as tmp:
        with DeltaHarness(Path(tmp)) as harness:
            states = run(harness, steps)
            path = harness.path
        for seq, want in states.items():
            old = Pond.open(path, at_txn=seq).root()
            got = {}
            for p in want:
                v = old.resolve(p).read_table().column("v")
                n = len(old.resolve(p).versions())
                got[p] = (len(v), pc.sum(v).as_py(), pc.min(v).as_py(), pc.max(v).as_py(), n)
            assert got == want, seq


def test_the_reported_sequence_away_and_back(tmp_path: Path) -> None:
    """``mv /a/s /b/`` then ``mv /b/s /a/``: no row doubled, versions v1, v2 once each, the
    moves' transactions write only directory snapshots."""
    pond = Pond.init(tmp_path / "pond")
    with pond.transaction(["mkdir"]) as tx:
        tx.root().mkdir("/a")
        tx.root().mkdir("/b")
    model = Model()
    for vals in ([3, 1, 4], [1, 5]):
        with pond.transaction(["append"]) as tx:
            tx.root().append_series("/a/s.series", model.chunk(vals))
    for src, dst in (("/a/s.series", "/b/"), ("/b/s.series", "/a/")):
        with pond.transaction(["mv"]) as tx:
            tx.root().rename(src, dst)
            moved_in = tx.seq
        rows = [r for r in pond.oplog().to_pylist() if r["txn_seq"] == moved_in]
        assert sorted(r["file_type"] for r in rows) == ["dir:physical", "dir:physical"]
    pond = Pond.open(tmp_path / "pond")
    s = pond.root().resolve("/a/s.series")
    v = s.read_table().column("v")
    assert (len(v), pc.sum(v).as_py(), pc.min(v).as_py(), pc.max(v).as_py()) == (5, 14, 1, 5)
    assert [(x.version, x.txn_seq) for x in s.versions()] == [(1, 3), (2, 4)]
    node_rows = [r for r in pond.oplog().to_pylist() if r["node_id"] == s.node.node_id]
    assert sorted(r["version"] for r in node_rows) == [1, 2]


def test_a_moved_series_collapses_in_its_home_partition(tmp_path: Path) -> None:
    """16 appends in one transaction after a move: the auto-collapse reads and writes the
    series' home partition; moved back, the content is whole and stored once."""
    pond = Pond.init(tmp_path / "pond")
    model = Model()
    with pond.transaction(["setup"]) as tx:
        tx.root().mkdir("/a")
        tx.root().mkdir("/b")
        tx.root().append_series("/a/s.series", model.chunk([7]))
    with pond.transaction(["mv"]) as tx:
        tx.root().rename("/a/s.series", "/b/t.series")
    with pond.transaction(["append"]) as tx:
        for i in range(16):
            tx.root().append_series("/b/t.series", model.chunk([i, -i]))
    with pond.transaction(["mv"]) as tx:
        tx.root().rename("/b/t.series", "/a/s.series")
    pond = Pond.open(tmp_path / "pond")
    s = pond.root().resolve("/a/s.series")
    v = s.read_table().column("v")
    assert (len(v), pc.sum(v).as_py(), pc.min(v).as_py(), pc.max(v).as_py()) == (33, 7, -15, 15)
    history = s.versions()
    assert [x.version for x in history] == list(range(1, 19))  # 17 appends and one collapse
    assert history[-1].extended_attributes.get("collapses")
    assert len(s.live_versions()) < 17
    node_rows = [r for r in pond.oplog().to_pylist() if r["node_id"] == s.node.node_id]
    assert sorted(r["version"] for r in node_rows) == list(range(1, 19))
    assert pond.verify() == []


def test_a_snapshot_without_the_part_id_column_still_decodes() -> None:
    """Directory snapshots written before entries could record a home partition."""
    old = pa.schema(
        [("name", pa.string()), ("child_node_id", pa.string()), ("file_type", pa.string())]
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, old) as w:
        w.write_table(
            pa.table(
                {"name": ["f"], "child_node_id": ["n1"], "file_type": ["file:data"]}, schema=old
            )
        )
    [entry] = decode_directory(sink.getvalue().to_pybytes()).values()
    assert (entry.name, entry.node_id, entry.file_type, entry.part_id) == (
        "f",
        "n1",
        "file:data",
        None,
    )
    again = decode_directory(encode_directory({"f": entry}))
    assert again == {"f": entry}


def test_a_moved_series_outlives_its_home_directory(tmp_path: Path) -> None:
    """The directory a series was created in is removed after the move: the series' versions
    (still in that directory's partition) stay readable, through maintenance and appends."""
    pond = Pond.init(tmp_path / "pond")
    model = Model()
    with pond.transaction(["setup"]) as tx:
        tx.root().mkdir("/a")
        tx.root().mkdir("/b")
        tx.root().append_series("/a/s.series", model.chunk([2, 9]))
    with pond.transaction(["mv"]) as tx:
        tx.root().rename("/a/s.series", "/b/")
        tx.root().remove("/a", recursive=True)
    with pond.transaction(["append"]) as tx:
        tx.root().append_series("/b/s.series", model.chunk([-4]))
    pond = Pond.open(tmp_path / "pond")
    pond.maintain(retention_hours=0)
    pond = Pond.open(tmp_path / "pond")
    s = pond.root().resolve("/b/s.series")
    v = s.read_table().column("v")
    assert (len(v), pc.sum(v).as_py(), pc.min(v).as_py(), pc.max(v).as_py()) == (3, 7, -4, 9)
    assert [x.version for x in s.appended_versions()] == [1, 2]  # maintain added a collapse
    collapse = s.versions()[-1]
    assert collapse.extended_attributes.get("collapses") and collapse.part_id == s.node.part_id
    assert len(s.live_versions()) == 1  # read through the collapse, in the home partition
