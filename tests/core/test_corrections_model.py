"""Corrections against a model (issue 14): any sequence of appends, rm-rows, replaces, reverts
and collapses keeps the series equal to a plain list of rows, at every transaction
(``as_of``), and its leaves (the lineage) are exactly what the content is made of."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duckpond.ops.corrections import as_of, diff, remove_rows, replace_series, revert
from duckpond.times import Window
from duckpond.tinyfs import FS, MemoryPersistence, collapse, tables

H = 3_600_000_000
TIME = pa.timestamp("us", tz="UTC")

rows_st = st.lists(st.tuples(st.integers(0, 40), st.integers(-5, 5)), min_size=1, max_size=12)
op_st = st.one_of(
    st.tuples(st.just("append"), rows_st),
    st.tuples(st.just("rm"), st.integers(0, 40), st.integers(1, 20)),
    st.tuples(st.just("replace"), rows_st),
    st.tuples(st.just("revert"), st.integers(0, 1000)),
    st.tuples(st.just("collapse"), st.integers(2, 4)),
)


def table(rows: list[tuple[int, int]]) -> pa.Table:
    return pa.table(
        {
            "Timestamp": pa.array([t * H for t, _ in rows], TIME),
            "v": pa.array([float(v) for _, v in rows], pa.float64()),
        }
    )


def content(t: pa.Table) -> Counter:
    ts = t.column("Timestamp").cast(pa.int64()).to_pylist()
    return Counter(
        zip((x // H for x in ts), (int(v) for v in t.column("v").to_pylist()), strict=True)
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=rows_st, ops=st.lists(op_st, min_size=1, max_size=10))
def test_any_corrections_match_a_model_at_every_transaction(first, ops):
    fs = FS(MemoryPersistence())
    p = fs.persistence
    fs.root().append_series("/s.series", table(first), time_column="Timestamp")
    fs.flush()
    p.commit({})
    model: dict[int, Counter] = {p.committed_seq: Counter(first)}
    for op in ops:
        seq = p.committed_seq + 1
        p.begin(seq)
        root = fs.root()
        now = model[seq - 1]
        if op[0] == "append":
            root.append_series("/s.series", table(op[1]))
            new = now + Counter(op[1])
        elif op[0] == "rm":
            start, width = op[1], op[2]
            removed = remove_rows(root, "/s.series", Window(start * H, (start + width) * H))
            new = Counter({k: n for k, n in now.items() if not start <= k[0] < start + width})
            assert removed == sum(now.values()) - sum(new.values())
        elif op[0] == "replace":
            replace_series(root, "/s.series", table(op[1]))
            new = Counter(op[1])
        elif op[0] == "revert":
            target = sorted(model)[op[1] % len(model)]
            if not model[target]:
                continue  # a series of no rows cannot be reverted to
            revert(root, "/s.series", target)
            new = model[target]
        else:
            node = root.resolve("/s.series")
            fs.appended[node.node.node_id] = node
            fs.auto_collapse(op[1])
            for run in collapse.plan_all(node.versions()):
                fs.collapse(node, run)
            new = now
        fs.flush()
        p.commit({})
        model[p.committed_seq] = new
        node = fs.root().resolve("/s.series")
        assert content(node.read_table()) == new
        # the live versions kept up to date incrementally are those of the whole history
        assert node.live_versions() == collapse.live(node.versions())
        # the leaves are what the content is made of
        leaves = node.appended_versions()
        if leaves:
            schema = tables.merged_schema([fs.version_schema(v) for v in leaves])
            made = tables.read_chunks([fs.version_chunk(v) for v in leaves], schema)
            assert content(made) == new
        else:
            assert not new
    for seq, want in model.items():  # time travel reads what each transaction left
        assert content(as_of(fs, seq).root().resolve("/s.series").read_table()) == want
    a, b = sorted(model)[0], sorted(model)[-1]
    d = diff(fs, "/s.series", a, b)
    plus = model[b] - model[a]
    minus = model[a] - model[b]
    assert (d.added, d.removed) == (sum(plus.values()), sum(minus.values()))
