"""The plan memo of temporal-reduce: a new process takes the segment keys the last one
computed and adds the versions appended since, instead of walking every leaf of its inputs.

Every step of a collector's life (appends in order, late and overlapping versions, collapses,
a correction, a config change, a deleted or corrupt memo) is followed by a new process whose
keys are compared with the keys computed from every leaf: equal keys are what makes the cache
serve the right rows (the values themselves are checked against DuckDB and a cold computation
by ``test_reduce_cache.py``, whose reads go through the memo too).
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from test_reduce_cache import (
    CONFIG,
    DAY,
    T0,
    append,
    cold,
    fresh,
    read_all,
    readings,
    same,
)

from duckpond import Pond
from duckpond.factories.cache import Cache
from duckpond.factories.registry import mknod
from duckpond.ops.corrections import remove_rows
from duckpond.times import Window
from duckpond.tinyfs.fs import NodePath


def plan_of(pond: Pond, monkeypatch) -> tuple[str, int]:
    """A new process's plan of /r, checked against the plan computed from every leaf:
    (how it was made, leaves walked by the new process)."""
    walked = []
    original = NodePath.leaf_records

    def counting(self):
        out = original(self)
        walked.append(len(out))
        return out

    p = fresh(pond)
    node = p.fs.dynamic_object(p.root().resolve("/r"))
    with monkeypatch.context() as m:
        m.setattr(NodePath, "leaf_records", counting)
        matches, plan = node._current()
    how = "remembered" if node.stats.plans_remembered else "computed"
    assert node.stats.plans_remembered + node.stats.plans_computed == 1
    every = node._plan(matches, node._inputs()[1], remember=False)
    assert plan.keys == every.keys and plan.segment_us == every.segment_us
    assert plan.entries == every.entries and plan.persist == every.persist
    return how, sum(walked)


@pytest.fixture
def two_inputs(fpond):
    """/in/a.series and /in/b.series, and /r = temporal-reduce over /in/*.series."""
    with fpond.transaction(["mknod"]) as tx:
        tx.root().mkdir("/in")
        mknod(tx.root(), "temporal-reduce", "/r", CONFIG.format(input="/in/*.series"))
    return fpond


def test_the_plan_memo_gives_the_keys_every_leaf_gives(two_inputs, monkeypatch):
    pond = two_inputs
    raw = []

    def add(path: str, table: pa.Table) -> None:
        append(pond, path, table)
        raw.append((path, table))

    add("/in/a.series", readings(T0 + 40 * DAY, 144, seed=1))
    add("/in/b.series", readings(T0 + 40 * DAY, 100, seed=2))
    assert plan_of(pond, monkeypatch) == ("computed", 2)  # no memo yet: every leaf walked
    # a collector's days, each its own transaction: 18 of them (collapses on the way)
    for d in range(41, 59):
        add("/in/a.series", readings(T0 + d * DAY, 144, seed=d))
        how, walked = plan_of(pond, monkeypatch)
        assert (how, walked) == ("remembered", 0)  # the appended version, not the leaves
    series = fresh(pond).root().resolve("/in/a.series")
    assert len(series.live_versions()) < len(series.versions()) - 1  # collapsed on the way
    # late data: a day before everything (another segment), and a version overlapping others
    add("/in/a.series", readings(T0 + 3 * DAY, 144, seed=99))
    assert plan_of(pond, monkeypatch) == ("remembered", 0)
    add("/in/b.series", readings(T0 + 45 * DAY, 144, seed=7, shift=0.5))
    assert plan_of(pond, monkeypatch) == ("remembered", 0)
    # one append to each input before a new process reads
    add("/in/a.series", readings(T0 + 59 * DAY, 144, seed=59))
    add("/in/b.series", readings(T0 + 59 * DAY, 144, seed=60))
    assert plan_of(pond, monkeypatch) == ("remembered", 0)
    # pond maintain collapses every run: versions with no leaf of their own
    assert pond.maintain().collapses >= 1
    assert plan_of(pond, monkeypatch) == ("remembered", 0)
    same(read_all(fresh(pond)), cold(pond, monkeypatch))
    # a correction supersedes leaves: computed from every leaf again, then remembered
    with pond.transaction(["rm-rows"]) as tx:
        remove_rows(tx.root(), "/in/a.series", Window(T0 + 50 * DAY, T0 + 52 * DAY))
    how, walked = plan_of(pond, monkeypatch)
    assert how == "computed" and walked > 0
    add("/in/a.series", readings(T0 + 60 * DAY, 144, seed=61))
    assert plan_of(pond, monkeypatch) == ("remembered", 0)
    same(read_all(fresh(pond)), cold(pond, monkeypatch))
    # another config: another shape, computed
    with pond.transaction(["mknod"]) as tx:
        config = "input: /in/*.series\nresolutions: [1h, 1d]\n"
        mknod(tx.root(), "temporal-reduce", "/r", config, overwrite=True)
    assert plan_of(pond, monkeypatch)[0] == "computed"
    add("/in/b.series", readings(T0 + 61 * DAY, 144, seed=62))
    assert plan_of(pond, monkeypatch)[0] == "remembered"
    # the memo deleted, or corrupt: computed (never served), and written again
    (memo,) = pond.layout.cache.rglob("plan.dpc")
    memo.unlink()
    assert plan_of(pond, monkeypatch)[0] == "computed"
    add("/in/a.series", readings(T0 + 62 * DAY, 144, seed=63))
    data = bytearray(memo.read_bytes())
    data[-3] ^= 0xFF  # a byte of the texts: the body's checksum fails
    memo.write_bytes(bytes(data))
    assert plan_of(pond, monkeypatch)[0] == "computed"
    assert plan_of(pond, monkeypatch)[0] == "remembered"
    # a memo whose last version of an input is not the history's (another history than this
    # one: say, a cache folder copied from another copy of the pond): computed
    cache = Cache(pond.layout.cache)
    key = str(memo.relative_to(pond.layout.cache))[: -len(".dpc")]
    for grown in (False, True):
        entry = cache.get(key)
        assert entry is not None
        header = dict(entry.header)
        header["inputs"] = [[*rec[:3], rec[3] + 1] for rec in header["inputs"]]
        header = {k: v for k, v in header.items() if k not in ("body_sha1", "body_bytes")}
        assert cache.put(key, header, entry.table)
        if grown:  # the same, with a version appended since
            add("/in/b.series", readings(T0 + 63 * DAY, 144, seed=64))
        assert plan_of(pond, monkeypatch)[0] == "computed"


def test_an_input_added_or_a_pond_as_of_an_older_transaction(two_inputs, monkeypatch):
    """A pond opened as of an older transaction gets that transaction's keys (from the memo
    when it records that very history, else computed) and writes nothing; a new input changes
    the shape (computed). The memo is rewritten once an input is 16 versions past it."""
    from duckpond.factories import resolver

    pond = two_inputs
    append(pond, "/in/a.series", readings(T0, 144, seed=1))
    assert plan_of(pond, monkeypatch)[0] == "computed"
    (memo,) = pond.layout.cache.rglob("plan.dpc")
    written = memo.read_bytes()
    old_txn = fresh(pond).txn_seq

    def as_of() -> str:
        p = Pond.open(pond.path, at_txn=old_txn, factories=resolver)
        node = p.fs.dynamic_object(p.root().resolve("/r"))
        matches, plan = node._current()
        assert plan.keys == node._plan(matches, node._inputs()[1], remember=False).keys
        return "remembered" if node.stats.plans_remembered else "computed"

    for d in range(1, 15):
        append(pond, "/in/a.series", readings(T0 + d * DAY, 144, seed=d))
        assert plan_of(pond, monkeypatch)[0] == "remembered"
    assert memo.read_bytes() == written  # 14 versions past it: not yet
    assert as_of() == "remembered"  # the memo records that very history
    # the 16th version collapses the first 16: 16 past the memo
    append(pond, "/in/a.series", readings(T0 + 15 * DAY, 144, seed=15))
    assert plan_of(pond, monkeypatch)[0] == "remembered"
    assert memo.read_bytes() != written  # rewritten
    written = memo.read_bytes()
    assert as_of() == "computed"  # a shorter history than the memo's
    assert memo.read_bytes() == written
    append(pond, "/in/b.series", readings(T0 + DAY, 144, seed=3))
    assert plan_of(pond, monkeypatch)[0] == "computed"  # /in/b is new: another shape
    assert plan_of(pond, monkeypatch)[0] == "remembered"


def test_a_read_inside_a_transaction_that_rolls_back_leaves_no_memo_of_it(two_inputs, monkeypatch):
    """A transaction reads the reduce over a version it staged, then rolls back; the next
    commit gives other content the same version number and txn_seq. The memo records committed
    histories only, so the next process's keys are those of every leaf."""
    pond = two_inputs
    append(pond, "/in/a.series", readings(T0, 144, seed=1))
    plan_of(pond, monkeypatch)
    (memo,) = pond.layout.cache.rglob("plan.dpc")
    memo.unlink()  # the read inside the transaction would compute and remember
    with pytest.raises(RuntimeError), pond.transaction(["append"]) as tx:
        tx.root().append_series(
            "/in/a.series", readings(T0 + DAY, 144, seed=2), time_column="Timestamp"
        )
        tx.root().resolve("/r/res=1h.series").read_table()
        raise RuntimeError("rolled back")
    append(pond, "/in/a.series", readings(T0 + DAY, 144, seed=3))  # same number and txn_seq
    plan_of(pond, monkeypatch)
