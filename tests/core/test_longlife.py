"""A pond that lives for years: version collapse keeps every row once, time travel survives
maintenance, readers survive compaction (issue: costs that follow the work, not the history)."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from core_testlib import B01_CSV, JFK_CSV, hourly, run_python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duckpond import Pond
from duckpond.errors import NotFound
from duckpond.formats import read_csv_series
from duckpond.tinyfs import FS, MemoryPersistence, collapse


def stats(table: pa.Table) -> dict[str, tuple]:
    """count, sum, min, max of every numeric column (and the time column's count/min/max)."""
    out: dict[str, tuple[Any, ...]] = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            ints = col.cast(pa.int64())
            out[name] = (len(col), pc.min(ints).as_py(), pc.max(ints).as_py())
        elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            # math.fsum: the correctly rounded sum, whatever the order of the rows (a collapse
            # reorders them; a float sum in another order may differ in the last digit)
            values = [v for v in col.to_pylist() if v is not None]
            out[name] = (
                len(values),
                math.fsum(values) if pa.types.is_floating(col.type) else sum(values),
                pc.min(col).as_py(),
                pc.max(col).as_py(),
            )
    return out


def sorted_rows(table: pa.Table) -> list[tuple]:
    names = sorted(table.column_names)
    rows = table.select(names).to_pylist()
    key = [tuple((v is None, v if v is not None else 0) for v in r.values()) for r in rows]
    return sorted(key)


def slices(table: pa.Table, rng: random.Random, n: int) -> list[pa.Table]:
    """``n`` slices of ``table``: in order, some overlapping (late duplicates), some reversed."""
    cuts = sorted(rng.sample(range(1, table.num_rows), n - 1))
    bounds = zip([0, *cuts], [*cuts, table.num_rows], strict=True)
    parts = [table.slice(a, b - a) for a, b in bounds]
    rng.shuffle(parts[-n // 3 :])  # late, out-of-order deliveries at the end
    return parts


# --------------------------------------------------------------------------------------------
# real data through real transactions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("csv", [B01_CSV, JFK_CSV], ids=["b01", "jfk"])
def test_collapse_keeps_every_row_once_and_time_travel_reads_what_it_read(tmp_path, csv):
    table, tc = read_csv_series(csv)
    rng = random.Random(7)
    parts = slices(table, rng, 48)
    parts.insert(20, parts[5].slice(0, 10))  # overlapping: ten rows delivered twice
    pond = Pond.init(tmp_path / "pond")
    seen: dict[int, tuple[dict, list]] = {}
    appended: list[pa.Table] = []
    for part in parts:
        with pond.transaction(["append"]) as tx:
            tx.root().append_series("/s.series", part, time_column=tc)
        appended.append(part)
        got = pond.root().resolve("/s.series").read_table()
        seen[pond.txn_seq] = (stats(got), sorted_rows(got))
    node = pond.root().resolve("/s.series")
    want = pa.concat_tables(appended)
    assert stats(node.read_table()) == stats(want)
    assert sorted_rows(node.read_table()) == sorted_rows(want)
    history = node.versions()
    collapses = [v for v in history if v.extended_attributes.get("collapses")]
    assert len(collapses) >= 3  # 49 appends: three of 16 at level 0, one cascade is not yet due
    assert len(node.live_versions()) < 49 - 40
    assert len(node.appended_versions()) == 49

    report = pond.maintain(retention_hours=0)  # merge the rest; superseded chunk files deleted
    assert report.collapses >= 1 and report.superseded_removed > 0
    node = Pond.open(pond.path).root().resolve("/s.series")
    assert len(node.live_versions()) == 1
    assert stats(node.read_table()) == stats(want)
    assert sorted_rows(node.read_table()) == sorted_rows(want)
    # every earlier transaction reads exactly what it read then, from the collapses
    for seq, (st_then, rows_then) in seen.items():
        old = Pond.open(pond.path, at_txn=seq).root().resolve("/s.series").read_table()
        assert stats(old) == st_then, seq
        assert sorted_rows(old) == rows_then, seq
    # and appending after a collapse works
    with pond.transaction(["late"]) as tx:
        tx.root().append_series("/s.series", table.slice(0, 5), time_column=tc)
    again = Pond.open(pond.path).root().resolve("/s.series").read_table()
    assert stats(again) == stats(pa.concat_tables([want, table.slice(0, 5)]))


def test_sql_reads_a_collapsed_series_once(tmp_path):
    table, tc = read_csv_series(B01_CSV)
    pond = Pond.init(tmp_path / "pond")
    for part in slices(table, random.Random(3), 40):
        with pond.transaction(["append"]) as tx:
            tx.root().append_series("/s.series", part, time_column=tc)
    got = pond.sql(
        'SELECT count(*) AS n, sum("WaterTemperature.C") AS s, min("WaterTemperature.C") AS lo,'
        ' max("WaterTemperature.C") AS hi FROM source',
        "/s.series",
    ).to_pylist()[0]
    col = table.column("WaterTemperature.C")
    assert got["n"] == table.num_rows
    assert got["s"] == pytest.approx(pc.sum(col).as_py(), rel=1e-12)
    assert (got["lo"], got["hi"]) == (pc.min(col).as_py(), pc.max(col).as_py())


# --------------------------------------------------------------------------------------------
# generated series: overlapping, out of order, schema evolving
# --------------------------------------------------------------------------------------------


@st.composite
def version_tables(draw):
    """A list of series chunks: overlapping, out-of-order times; columns come and go; ``v``
    arrives as int64 in some versions and float64 in others."""
    n = draw(st.integers(2, 24))
    out = []
    for i in range(n):
        rows = draw(st.integers(1, 6))
        start = draw(st.integers(0, 200))
        times = [start + draw(st.integers(0, 5)) for _ in range(rows)]
        cols = {"Timestamp": pa.array([t * 1_000_000 for t in times], pa.timestamp("us", "UTC"))}
        if draw(st.booleans()):
            cols["v"] = pa.array([draw(st.integers(-50, 50)) for _ in range(rows)], pa.int64())
        else:
            values = [draw(st.one_of(st.none(), st.floats(-1e6, 1e6))) for _ in range(rows)]
            cols["v"] = pa.array(values, pa.float64())
        if i % 3 == 1:
            cols["extra"] = pa.array([f"x{i}"] * rows)
        out.append(pa.table(cols))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=version_tables(), fanin=st.integers(2, 5))
def test_any_collapse_keeps_the_multiset_of_rows(chunks, fanin):
    fs = FS(MemoryPersistence())
    for chunk in chunks:
        fs.root().append_series("/s.series", chunk, time_column="Timestamp")
        fs.flush()
        fs.persistence.commit({})
    node = fs.root().resolve("/s.series")
    before = node.read_table()
    fs.persistence.begin(fs.persistence.committed_seq + 1)
    fs.appended[node.node.node_id] = node
    fs.auto_collapse(fanin)  # cascades as far as the policy goes
    for run in collapse.plan_all(node.versions()):  # then merge everything, as maintain does
        fs.collapse(node, run)
    fs.persistence.commit({})
    after = fs.root().resolve("/s.series")
    assert len(after.live_versions()) <= len(chunks)
    assert after.read_table().schema == before.schema
    assert stats(after.read_table()) == stats(before)
    assert sorted_rows(after.read_table()) == sorted_rows(before)
    # every appended version reads back exactly from the collapses (its own schema, its rows)
    for v, chunk in zip(after.appended_versions(), chunks, strict=True):
        fs.persistence.drop_blob_for_test(v.sha256)  # as a sweep of superseded chunks does
        if v.version in collapse.superseded_by(after.versions()):
            back = fs.version_chunk(v).read()
            assert back.equals(chunk.replace_schema_metadata(None)), v.version


# --------------------------------------------------------------------------------------------
# time travel and maintenance through the command
# --------------------------------------------------------------------------------------------


def pond_subprocess(*argv, env, timeout=300):
    """``python -m duckpond ARGV`` in a child process."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "duckpond", *map(str, argv)],
        env={**os.environ, **env},
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def test_time_travel_after_maintenance_with_no_retention(tmp_path):
    env = {"POND": str(tmp_path / "pond")}
    assert pond_subprocess("init", env=env).returncode == 0
    table, _ = read_csv_series(JFK_CSV)
    before: dict[int, bytes] = {}
    for i, part in enumerate(slices(table, random.Random(1), 20)):
        import pyarrow.parquet as pq

        path = tmp_path / f"p{i}.parquet"
        pq.write_table(part, path)
        assert (
            pond_subprocess("copy", f"host+series://{path}", "/jfk.series", env=env).returncode == 0
        )
    # tables of 64 KiB or more: large files, which a prune could remove
    pq.write_table(table.slice(0, 4000), tmp_path / "t1.parquet", compression="none")
    pq.write_table(table.slice(4000, 4000), tmp_path / "t2.parquet", compression="none")
    for t in ("t1", "t2"):
        r = pond_subprocess("copy", f"host+table://{tmp_path / t}.parquet", "/t.table", env=env)
        assert r.returncode == 0
    last = Pond.open(env["POND"]).txn_seq
    for seq in range(2, last + 1):
        r = pond_subprocess(
            "cat",
            "/jfk.series",
            "--at-txn",
            str(seq),
            "--format",
            "csv",
            "--sql",
            'SELECT * FROM source ORDER BY "Timestamp"',
            env=env,
        )
        before[seq] = r.stdout if r.returncode == 0 else r.stderr
    r = pond_subprocess("maintain", "--retention-hours", "0", env=env)
    assert r.returncode == 0, r.stderr
    assert b"superseded:" in r.stdout
    for seq, out in before.items():
        r = pond_subprocess(
            "cat",
            "/jfk.series",
            "--at-txn",
            str(seq),
            "--format",
            "csv",
            "--sql",
            'SELECT * FROM source ORDER BY "Timestamp"',
            env=env,
        )
        assert (r.stdout if r.returncode == 0 else r.stderr) == out, seq
    # bytes that are really gone: one line naming the path and the transaction, exit 3
    pond = Pond.open(env["POND"])
    first_table = pond.root().resolve("/t.table").versions()[0]
    pond.layout.large_file(first_table.sha256).unlink(missing_ok=True)
    if first_table.content is None:
        r = pond_subprocess("cat", "/t.table", "--at-txn", str(first_table.txn_seq), env=env)
        assert r.returncode == 3
        assert r.stderr.decode().count("\n") == 1
        assert (
            "/t.table" in r.stderr.decode()
            and f"transaction {first_table.txn_seq}" in r.stderr.decode()
        )


def test_at_txn_of_a_version_whose_bytes_are_gone_is_not_found(tmp_path):
    pond = Pond.init(tmp_path / "pond")
    with pond.transaction(["v1"]) as tx:
        tx.root().write_file("/big.bin", b"A" * 100_000)
    with pond.transaction(["v2"]) as tx:
        tx.root().write_file("/big.bin", b"B" * 100_000)
    first = pond.root().resolve("/big.bin").versions()[0]
    pond.layout.large_file(first.sha256).unlink()
    old = Pond.open(pond.path, at_txn=first.txn_seq)
    with pytest.raises(NotFound, match=f"transaction {first.txn_seq}") as info:
        old.root().resolve("/big.bin").read_bytes()
    assert info.value.path == "/big.bin"


# --------------------------------------------------------------------------------------------
# readers while a writer compacts, collapses and vacuums
# --------------------------------------------------------------------------------------------

WRITER = """
import sys
import pyarrow as pa
from duckpond import Pond
p = Pond.open(sys.argv[1])
for i in range(int(sys.argv[2])):
    t = pa.table({"Timestamp": pa.array([(1000 + i) * 1_000_000], pa.timestamp("us", "UTC")),
                  "v": [float(i)]})
    with p.transaction(["append"]) as tx:
        tx.root().append_series("/d/s.series", t)
"""


def test_a_reader_that_opened_before_compaction_and_collapse_still_reads(tmp_path):
    pond = Pond.init(tmp_path / "pond")
    with pond.transaction(["setup"]) as tx:
        tx.root().mkdir("/d")
        for i in range(10):
            t = pa.table(
                {"Timestamp": pa.array([i * 1_000_000], pa.timestamp("us", "UTC")), "v": [1.0]}
            )
            tx.root().append_series("/d/s.series", t)
    reader = Pond.open(pond.path)
    node = reader.root().resolve("/d/s.series")  # the partition is loaded now
    done = run_python(WRITER, str(pond.path), "40")  # compactions, collapses, vacuum
    assert done.returncode == 0, done.stderr
    assert node.read_table().num_rows == 10  # the snapshot it opened, still readable
    assert Pond.open(pond.path).root().resolve("/d/s.series").read_table().num_rows == 50
    assert Pond.open(pond.path).verify() == []


# --------------------------------------------------------------------------------------------
# many versions: no input size crashes the process
# --------------------------------------------------------------------------------------------

MANY = """
import sys
import pyarrow as pa
from duckpond import Pond
p = Pond.open(sys.argv[1])
n = int(sys.argv[2])
with p.transaction(["many"]) as tx:
    r = tx.root()
    for i in range(n):
        t = pa.table({"Timestamp": pa.array([i * 1_000_000], pa.timestamp("us", "UTC")),
                      "v": [float(i)]})
        r.append_series("/s.series", t)
"""


@pytest.mark.slow
def test_sql_over_twenty_thousand_versions(tmp_path):
    n = 20_000
    Pond.init(tmp_path / "pond")
    done = run_python(MANY, str(tmp_path / "pond"), str(n), timeout=900)
    assert done.returncode == 0, done.stderr
    live = Pond.open(tmp_path / "pond").root().resolve("/s.series").live_versions()
    assert len(live) < 16 * 4  # the transaction collapsed them (16 per level at most)
    r = pond_subprocess(
        "cat",
        "/s.series",
        "--format",
        "csv",
        "--sql",
        "SELECT count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi FROM source",
        env={"POND": str(tmp_path / "pond")},
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    got = [float(x) for x in r.stdout.decode().splitlines()[1].split(",")]
    assert got == [n, sum(range(n)), 0, n - 1]


@pytest.mark.slow
def test_sql_over_twenty_thousand_chunks_is_one_scan(tmp_path):
    """20,000 uncollapsed chunk files registered as one table: no union per chunk, no crash."""
    import pyarrow.parquet as pq

    from duckpond import sql
    from duckpond.tinyfs.tables import Chunk

    n = 20_000
    chunks = []
    for i in range(n):
        t = pa.table({"Timestamp": pa.array([i], pa.timestamp("us", "UTC")), "v": [float(i)]})
        if i % 7 == 0:
            t = t.append_column("w", pa.array([1], pa.int64()))  # schemas differ too
        path = tmp_path / f"c{i}.parquet"
        pq.write_table(t, path)
        chunks.append(Chunk(t.schema, path=str(path)))
    schema = pa.schema(
        [("Timestamp", pa.timestamp("us", "UTC")), ("v", pa.float64()), ("w", pa.int64())]
    )
    ctx = sql.session()
    sql.register_chunks(ctx, "source", chunks, schema)
    got = sql.execute(ctx, "SELECT count(*) AS n, sum(v) AS s, sum(w) AS w FROM source")
    assert got.to_pylist() == [{"n": n, "s": float(sum(range(n))), "w": (n + 6) // 7}]


def _count_decoded(monkeypatch) -> list[int]:
    """Count the NodeVersion objects the Delta backend builds from oplog rows."""
    from duckpond.tlogfs import delta

    decoded = [0]

    class Counting(delta.NodeVersion):
        def __init__(self, *args, **kwargs):
            decoded[0] += 1
            super().__init__(*args, **kwargs)

    class CountingLazy(delta._LazyVersion):  # sha256 read when asked (a read as of now)
        def __init__(self, *args, **kwargs):
            decoded[0] += 1
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(delta, "NodeVersion", Counting)
    monkeypatch.setattr(delta, "_LazyVersion", CountingLazy)
    return decoded


def test_reading_a_long_series_builds_its_live_versions_not_its_history(tmp_path, monkeypatch):
    """A new process reading a series of 400 hourly versions (collapsed as they go) builds the
    live versions and the last one, not every version ever appended."""
    pond = Pond.init(tmp_path / "pond")
    with pond.transaction(["mkdir"]) as tx:
        tx.root().mkdir("/devices")
    for h in range(400):
        t = [(h * 4 + k) * 900_000_000 for k in range(4)]
        table = pa.table(
            {"Timestamp": pa.array(t, pa.timestamp("us", tz="UTC")), "v": [float(h)] * 4}
        )
        with pond.transaction(["collect"]) as tx:
            tx.root().append_series("/devices/d0.series", table)
    decoded = _count_decoded(monkeypatch)
    reader = Pond.open(tmp_path / "pond")
    node = reader.root().resolve("/devices/d0.series")
    live = reader.fs.live(node.node)
    t = node.read_table()
    built = decoded[0]
    # live versions, the last version, the root and /devices directories, a few more
    assert built <= len(live) + 10, (built, len(live))
    history = reader.fs.history(node.node)  # every version, built on purpose
    assert len(history) > 400 > 10 * len(live)
    assert decoded[0] > built + 300  # the counter sees every version built
    assert t.num_rows == 1600
    assert pc.sum(t.column("v")).as_py() == sum(float(h) * 4 for h in range(400))
    assert pc.min(t.column("v")).as_py() == 0.0 and pc.max(t.column("v")).as_py() == 399.0


def test_the_lineage_of_a_long_series_builds_no_version(tmp_path, monkeypatch):
    """A new process computes a series' lineage (what every read of a derived series does) from
    version numbers and attributes, building no version, and gets the leaves the whole history
    gives: collapses expanded, a correction's superseded leaves gone, empty versions left out."""
    from duckpond.ops.corrections import remove_rows
    from duckpond.times import Window
    from duckpond.tinyfs.lineage import Leaf, Lineage

    pond = Pond.init(tmp_path / "pond")
    hour = 3_600_000_000
    for h in range(300):
        t = [h * hour + k * 900_000_000 for k in range(4)]
        table = pa.table(
            {"Timestamp": pa.array(t, pa.timestamp("us", tz="UTC")), "v": [float(h)] * 4}
        )
        with pond.transaction(["collect"]) as tx:
            tx.root().append_series("/s.series", table)
        if h == 150:  # a correction in the middle of the history
            with pond.transaction(["rm-rows"]) as tx:
                remove_rows(tx.root(), "/s.series", Window(40 * hour, 60 * hour))
    decoded = _count_decoded(monkeypatch)
    reader = Pond.open(tmp_path / "pond")
    node = reader.root().resolve("/s.series")
    before = decoded[0]
    lineage = node.lineage()
    assert decoded[0] == before  # no version built
    history = reader.fs.history(node.node)  # every version, built on purpose (a plain list)
    want = collapse.leaves(history)
    assert any(collapse.is_correction(v) for v in history)
    assert any(collapse.children(v) for v in history)
    assert lineage == Lineage.stored(node.node.node_id, str(node.file_type), want)
    assert node.leaf_records() == [Leaf.of(v) for v in want]
    assert node.appended_versions() == want
    # the leaves hold the content: 300 hours of 4 rows, less the 20 hours cut
    rows = sum(int(v.extended_attributes["rows"]) for v in want)
    assert rows == node.read_table().num_rows == 4 * 300 - 4 * 20
    assert len(want) < 300  # the correction's leaf stands for the leaves it superseded


def test_a_new_process_takes_the_live_set_the_last_collapse_recorded(tmp_path):
    """Each collapse records the live versions right after it: a new process folds only the
    versions after the newest one (parsing a few attribute texts, not every collapse's), and
    gets exactly the live versions the whole history folds to, with late data, a correction
    and appends after the last collapse."""
    from duckpond.ops.corrections import remove_rows
    from duckpond.times import Window

    pond = Pond.init(tmp_path / "pond")
    hour = 3_600_000_000

    def hours(h: int, n: int = 4) -> pa.Table:
        t = [h * hour + k * 900_000_000 for k in range(n)]
        return pa.table({"Timestamp": pa.array(t, pa.timestamp("us", tz="UTC")), "v": [h] * n})

    for h in range(300):
        with pond.transaction(["collect"]) as tx:
            tx.root().append_series("/s.series", hours(h))
        if h == 120:
            with pond.transaction(["late"]) as tx:  # late rows, inside collapsed hours
                tx.root().append_series("/s.series", hours(7, 2))
        if h == 200:
            with pond.transaction(["rm-rows"]) as tx:
                remove_rows(tx.root(), "/s.series", Window(40 * hour, 60 * hour))
    for h in range(300, 305):  # the last two after the newest collapse
        with pond.transaction(["collect"]) as tx:
            tx.root().append_series("/s.series", hours(h))
    reader = Pond.open(tmp_path / "pond")
    node = reader.root().resolve("/s.series")
    history = reader.fs.persistence.partition(node.node.part_id)[node.node.node_id]
    live = reader.fs.live(node.node)
    parsed = len(history._columns._parsed)  # attribute texts parsed by the read
    everything = reader.fs.history(node.node)  # built on purpose: the whole fold
    assert [v.version for v in live] == [v.version for v in collapse.live(everything)]
    recorded = [i for i, v in enumerate(everything) if collapse.LIVE in v.extended_attributes]
    assert recorded and len(everything) - recorded[-1] > 2  # appended after the newest one
    assert sum(1 for v in everything if collapse.children(v)) > 15
    assert parsed <= collapse.LIVE_SEARCH  # not one per collapse
    t = node.read_table()
    assert t.num_rows == 4 * 305 + 2 - 4 * 20
    v = t.column("v")
    assert pc.sum(v).as_py() == sum(4 * h for h in range(305)) + 2 * 7 - sum(
        4 * h for h in range(40, 60)
    )
    # as of a transaction before the correction (txn 150: init, the hours 0-120, the late rows,
    # the hours 121-147): the live set recorded by then, the same rows as the whole fold
    old = Pond.open(tmp_path / "pond", at_txn=150)
    old_node = old.root().resolve("/s.series")
    old_live = old.fs.live(old_node.node)
    assert [v.version for v in old_live] == [
        v.version for v in collapse.live(old.fs.history(old_node.node))
    ]
    assert old_node.read_table().num_rows == 4 * 148 + 2


def test_a_commit_decodes_what_it_changes_not_the_history(tmp_path, monkeypatch):
    """A collector's commit after hundreds of hourly ones decodes (Arrow row -> NodeVersion)
    only about what it appends, in a pond opened once and kept (as the collector keeps it): the
    transaction's working copy of a partition shares what was decoded before."""

    pond = Pond.init(tmp_path / "pond")
    with pond.transaction(["mkdir"]) as tx:
        tx.root().mkdir("/devices")
    pond_now = [pond]

    def hour(h: int, d: int) -> pa.Table:
        t = [(h * 4 + k) * 900_000_000 for k in range(4)]
        return pa.table(
            {"Timestamp": pa.array(t, pa.timestamp("us", tz="UTC")), "v": [float(d + h)] * 4}
        )

    def collect(h: int) -> None:
        with pond_now[0].transaction(["collect"]) as tx:
            for d in range(3):
                tx.root().append_series(f"/devices/d{d}.series", hour(h, d))

    for h in range(300):
        collect(h)
    pond = pond_now[0] = Pond.open(tmp_path / "pond")  # the history on disk, not in memory
    decoded = _count_decoded(monkeypatch)
    per_commit = []
    for h in range(300, 340):
        before = decoded[0]
        collect(h)
        per_commit.append(decoded[0] - before)
    # the history is ~300 versions per series; a commit may reload after a compaction now and
    # then, but the median commit decodes nothing it already had
    assert sorted(per_commit)[len(per_commit) // 2] <= 10, per_commit
    for d in range(3):
        t = pond.root().resolve(f"/devices/d{d}.series").read_table()
        assert t.num_rows == 340 * 4
        assert pc.sum(t.column("v")).as_py() == sum(float(d + h) * 4 for h in range(340))


def test_a_new_process_reads_one_footer_for_chunks_that_share_a_schema(tmp_path, monkeypatch):
    """Each series version records its chunk's schema id, so a reader of a long series reads
    one Parquet footer for all its live chunks of that schema, and one more per other schema."""
    from duckpond import parquet

    pond = Pond.init(tmp_path / "pond")
    for h in range(60):
        t = [(h * 4 + k) * 900_000_000 for k in range(4)]
        cols: dict[str, Any] = {
            "Timestamp": pa.array(t, pa.timestamp("us", tz="UTC")),
            "v": [float(h)] * 4,
        }
        if h >= 50:
            cols["w"] = [1.0] * 4  # a second schema
        with pond.transaction(["collect"]) as tx:
            tx.root().append_series("/s.series", pa.table(cols))
    reads = [0]
    real = parquet.read_schema

    def counting(*args, **kwargs):
        reads[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(parquet, "read_schema", counting)
    reader = Pond.open(tmp_path / "pond")
    node = reader.root().resolve("/s.series")
    live = reader.fs.live(node.node)
    schema = node.schema()
    chunks = node.chunks()
    assert len(live) == len(chunks) >= 6
    assert schema.names == ["Timestamp", "v", "w"]
    assert reads[0] == 2, (reads[0], len(live))
    t = node.read_table()
    assert t.num_rows == 240
    assert pc.sum(t.column("v")).as_py() == sum(float(h) * 4 for h in range(60))
    assert pc.count(t.column("w")).as_py() == 40


# --------------------------------------------------------------------------------------------
# summarized history: what a collapsed version keeps once its chunk is gone
# --------------------------------------------------------------------------------------------


def _oplog_rows(pond) -> list[dict]:
    rows = pond.oplog().to_pylist()
    return sorted(rows, key=lambda r: (r["node_id"], r["version"]))


def _every_read(pond) -> dict[int, list]:
    """What each committed transaction reads of each series (``--at-txn``)."""
    out = {}
    for seq in range(1, pond.txn_seq + 1):
        then = Pond.open(pond.path, at_txn=seq).root()
        out[seq] = [
            (stats(t), sorted_rows(t))
            for t in (then.resolve(f"/d{d}.series").read_table() for d in range(2) if seq > 1)
        ]
    return out


@pytest.mark.slow
def test_maintain_summarizes_the_history_of_chunks_that_are_gone(tmp_path):
    """``pond maintain`` keeps 16 hex digits of the sha256 of each collapsed version whose chunk
    it deleted, and nothing else changes: every transaction reads what it read, the leaves
    (cache keys) are the same, the log is the same, and the oplog's bytes shrink."""
    pond = Pond.init(tmp_path / "pond")
    hourly(pond, 40)
    before = _oplog_rows(pond)
    assert all(len(r["sha256"]) == 64 for r in before if r["sha256"] is not None)
    reads = _every_read(pond)
    leaves = {d: pond.root().resolve(f"/d{d}.series").leaf_records() for d in range(2)}
    log = [(t.txn_seq, t.args, t.outcome) for t in pond.log()]
    oplog_bytes = sum(p.stat().st_size for p in (pond.path / "data").glob("part_id=*/*.parquet"))

    pond.maintain(collapse=False)  # the chunks are younger than the retention: all kept
    assert [r["sha256"] for r in _oplog_rows(Pond.open(pond.path))] == [r["sha256"] for r in before]
    pond.maintain(collapse=False, retention_hours=0)

    after = _oplog_rows(Pond.open(pond.path))
    assert len(after) == len(before)
    large = pond.path / "data" / "_large_files"
    held = {
        (v.node_id, n)
        for d in range(2)
        for v in pond.root().resolve(f"/d{d}.series").versions()
        for n in (c.version for c in collapse.children(v))
    }
    summarized = 0
    for old, new in zip(before, after, strict=True):
        assert {k: v for k, v in old.items() if k != "sha256"} == {
            k: v for k, v in new.items() if k != "sha256"
        }
        if new["sha256"] == old["sha256"]:
            continue
        # only a version a collapse holds, whose chunk is gone, keeps a prefix of its digest
        assert (old["node_id"], old["version"]) in held
        assert not (large / f"sha256={old['sha256']}").exists()
        assert new["sha256"] == old["sha256"][:16]
        summarized += 1
    assert summarized == 2 * 32  # two series: 2 x 16 appended versions in two level-1 collapses
    reopened = Pond.open(pond.path)
    assert _every_read(reopened) == reads
    for d in range(2):
        assert reopened.root().resolve(f"/d{d}.series").leaf_records() == leaves[d]
    assert [(t.txn_seq, t.args, t.outcome) for t in reopened.log()] == log
    assert reopened.verify() == []
    now = sum(p.stat().st_size for p in (pond.path / "data").glob("part_id=*/*.parquet"))
    assert now < 0.7 * oplog_bytes, (now, oplog_bytes)
    # the collector goes on: appends, collapses and reads as before
    hourly(reopened, 20, start=40)
    got = reopened.root().resolve("/d0.series").read_table()
    assert stats(got)["v"][0] == 60 * 3 and len(set(got.column("Timestamp").to_pylist())) == 180


@pytest.mark.slow
def test_automatic_compaction_summarizes_what_the_sweep_deleted(tmp_path):
    """A collector never running ``pond maintain``: the compaction after a commit summarizes the
    versions whose chunks the automatic sweep deleted (the pond's retention set to a second
    here, as an hour of real time would), and every transaction still reads what it read."""
    pond = Pond.init(tmp_path / "pond")
    pond.set_retention(1)
    hourly(pond, 40)
    time.sleep(1.1)  # the chunks the first collapses superseded are older than the retention
    # compactions are size-tiered: the rows of the first hours are rewritten (and summarized)
    # when their merged files merge again, ~16 x 16 commits on
    hourly(pond, 250, start=40)
    rows = _oplog_rows(Pond.open(pond.path))
    short = [r for r in rows if r["sha256"] is not None and len(r["sha256"]) == 16]
    assert len(short) >= 2 * 16, len(short)
    assert all(r["file_type"] == "file:series" for r in short)
    for seq in [*range(2, pond.txn_seq + 1, 23), pond.txn_seq]:  # txn s appended hour s - 2
        then = Pond.open(pond.path, at_txn=seq).root()
        for d in range(2):
            v = then.resolve(f"/d{d}.series").read_table().column("v")
            want = [float(h * 10 + d + k) for h in range(seq - 1) for k in range(3)]
            got = (len(v), pc.sum(v).as_py(), pc.min(v).as_py(), pc.max(v).as_py())
            assert got == (len(want), sum(want), min(want), max(want)), (seq, d)
    assert Pond.open(pond.path).verify() == []


def test_a_missing_chunk_no_collapse_holds_keeps_its_whole_digest(tmp_path):
    """Only a version a collapse holds is summarized: a live version's lost chunk keeps its full
    sha256, so ``verify`` still names the file that is missing."""
    pond = Pond.init(tmp_path / "pond")
    hourly(pond, 20)
    live = pond.root().resolve("/d0.series").live_versions()[-1]
    lost = pond.path / "data" / "_large_files" / f"sha256={live.sha256}"
    lost.unlink()
    pond.maintain(collapse=False, retention_hours=0)
    rows = [r for r in _oplog_rows(Pond.open(pond.path)) if r["node_id"] == live.node_id]
    assert [r["sha256"] for r in rows if r["version"] == live.version] == [live.sha256]
    assert sum(len(r["sha256"]) == 16 for r in rows) == 16
    assert any(lost.name in p for p in Pond.open(pond.path).verify())


def test_maintain_with_nothing_to_summarize_changes_no_row(tmp_path):
    """A partition of plain files (no series row at all) and one of series with no collapse:
    nothing to summarize, the files are compacted and every row is as it was."""
    pond = Pond.init(tmp_path / "pond")
    for i in range(3):
        with pond.transaction(["write", str(i)]) as tx:
            tx.root().write_file(f"/f{i}.txt", b"hello %d" % i)
    with pond.transaction(["mkdir"]) as tx:
        tx.root().mkdir("/devices")
    for h in range(3):
        with pond.transaction(["collect", str(h)]) as tx:
            table = pa.table({"Timestamp": pa.array([h * 3600_000_000], pa.timestamp("us", "UTC"))})
            tx.root().append_series("/devices/d.series", table, time_column="Timestamp")
    before = _oplog_rows(pond)
    report = pond.maintain(collapse=False, retention_hours=0)
    assert report.files_after < report.files_before
    assert _oplog_rows(Pond.open(pond.path)) == before
    assert Pond.open(pond.path).verify() == []


@pytest.mark.slow
def test_automatic_compaction_rewrites_the_last_commits_not_the_history(tmp_path):
    """Size-tiered: each automatic compaction merges at most the 16 smallest files, so the rows
    all compactions rewrite over a collector's 300 commits stay a few times the rows the commits
    wrote (each row rewritten ~log16(commits) times), where merging every small file would
    rewrite the partition's whole history each time (~9x here, growing with the history)."""
    import json
    import os

    pond = Pond.init(tmp_path / "pond")
    hourly(pond, 300)
    log = pond.path / "data" / "_delta_log"
    rows_of: dict[str, int] = {}
    written = rewritten = compactions = 0
    for name in sorted(os.listdir(log)):
        if not name.endswith(".json"):
            continue
        actions = [json.loads(line) for line in (log / name).read_text().splitlines() if line]
        info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
        for add in (a["add"] for a in actions if "add" in a):
            rows_of[add["path"]] = json.loads(add["stats"])["numRecords"]
            if info.get("duckpond_maintenance") != "auto-compact":
                written += rows_of[add["path"]]
        removes = [a["remove"]["path"] for a in actions if "remove" in a]
        if info.get("duckpond_maintenance") == "auto-compact":
            compactions += 1
            assert len(removes) <= 16, name
            rewritten += sum(rows_of[path] for path in removes)
    assert compactions >= 300 // 16, compactions
    assert rewritten < 3 * written, (rewritten, written)
    got = Pond.open(pond.path).root().resolve("/d1.series").read_table()
    want = [float(h * 10 + 1 + k) for h in range(300) for k in range(3)]
    v = got.column("v")
    assert (len(v), pc.sum(v).as_py(), pc.min(v).as_py(), pc.max(v).as_py()) == (
        len(want),
        sum(want),
        min(want),
        max(want),
    )
    assert len(pond._persistence.table.file_uris()) <= 2 * 17


@pytest.mark.slow
def test_a_commit_reads_the_control_tables_tail_not_its_history(tmp_path):
    """What every commit reads of the control table (the settings, the transactions since the
    last one) is a few records however long the history: compaction keeps settings in files of
    their own, and a read chooses files by their statistics. Both agree with reading it all."""
    pond = Pond.init(tmp_path / "pond")
    hourly(pond, 150)
    pond.set_setting("probe", "1")
    hourly(pond, 60, start=150)
    control = Pond.open(pond.path).control
    rows_of = {
        a["path"]: a["num_records"]
        for a in pa.table(control.table.get_add_actions(flatten=True)).to_pylist()
    }
    assert sum(rows_of.values()) > 400  # the history: 2 records a transaction
    assert sum(rows_of[f] for f in control.files_for(settings=True)) <= 40
    everything = control.read(columns=["record_type", "key", "value"])
    want = {r["key"]: r["value"] for r in everything.to_pylist() if r["record_type"] == "setting"}
    assert control.settings() == want
    assert want["probe"] == "1" and want["pond_id"] == pond.pond_id
    since = pond.txn_seq - 5
    tail = control.transactions(since=since)
    assert tail == [t for t in control.transactions() if t.txn_seq >= since]
    assert [t.txn_seq for t in tail] == list(range(since, pond.txn_seq + 1))


def test_a_read_reads_the_sha256_of_the_oplog_files_it_uses(tmp_path):
    """``sha256`` is most of an oplog's bytes and a read needs it for a few versions: a
    partition read as of now reads it only from the Delta data files holding the rows asked
    for, and gives every version the sha256 the whole oplog records (a read as of a
    transaction reads it with the rest)."""
    pond = Pond.init(tmp_path / "pond")
    hourly(pond, 40, devices=2)
    pond.maintain()  # compacts the partition's files: one file holds the old hours
    hourly(pond, 3, start=40, devices=2)  # three more small files
    node = Pond.open(tmp_path / "pond").root().resolve("/d0.series").node
    reader = Pond.open(tmp_path / "pond")
    partition = reader.fs.persistence.partition(node.part_id)
    lazy = partition._columns.lazy
    assert lazy is not None and len(lazy.files) >= 4 and not lazy._chunks
    history = partition[node.node_id]
    assert len(history) > 40 and not lazy._chunks  # which versions: no sha256 read
    newest = history[-1]
    assert newest.sha256 is not None
    assert len(lazy._chunks) == 1  # the newest version's file alone
    # every version of every node: the sha256 the oplog records (all of it, read eagerly)
    everything = reader.fs.persistence.all_versions()
    recorded = {
        (n, v): sha
        for n, v, sha in zip(
            everything.column("node_id").to_pylist(),
            everything.column("version").to_pylist(),
            everything.column("sha256").to_pylist(),
            strict=True,
        )
    }
    got = {}
    for name in ("/d0.series", "/d1.series"):
        n = reader.root().resolve(name).node
        for v in reader.fs.history(n):
            got[(v.node_id, v.version)] = v.sha256
    assert got and all(recorded[k] == sha for k, sha in got.items())
    assert sum(1 for sha in got.values() if sha) > 40
    # as of a transaction: read with the other columns, the same values
    old = Pond.open(tmp_path / "pond", at_txn=reader.txn_seq - 1)
    n = old.root().resolve("/d0.series").node
    assert old.fs.persistence.partition(n.part_id)._columns.lazy is None
    for v in old.fs.history(n):
        assert recorded[(v.node_id, v.version)] == v.sha256


def test_a_version_reads_its_sha256_when_asked(tmp_path):
    """The live versions a read builds (spread over the partition's data files) read no
    sha256 until one is asked for, and then only that version's file; such a version is a
    NodeVersion like any other: equal to one of the same fields, copied with its sha256."""
    from dataclasses import fields

    from duckpond.tinyfs.model import NodeVersion

    pond = Pond.init(tmp_path / "pond")
    hourly(pond, 40, devices=2)
    pond.maintain()  # one file holds the old hours (and the collapses of them)
    hourly(pond, 3, start=40, devices=2)  # three more small files
    reader = Pond.open(tmp_path / "pond")
    node = reader.root().resolve("/d0.series").node
    lazy = reader.fs.persistence.partition(node.part_id)._columns.lazy
    assert lazy is not None and len(lazy.files) >= 4
    live = reader.fs.live(node)
    assert len(live) >= 4 and not lazy._chunks  # built, no sha256 read
    first, last = live[0], live[-1]
    assert last.sha256 is not None and len(lazy._chunks) == 1
    assert first.sha256 is not None and len(lazy._chunks) == 2
    recorded = {
        (n, v): sha
        for n, v, sha in zip(
            *(reader.fs.persistence.all_versions().column(c).to_pylist() for c in
              ("node_id", "version", "sha256")),
            strict=True,
        )
    }  # fmt: skip
    assert all(v.sha256 == recorded[(v.node_id, v.version)] for v in live)
    assert len({v.sha256 for v in live}) == len(live)
    # the same fields: equal either way round; another sha256: not equal
    fresh = Pond.open(tmp_path / "pond")
    again = fresh.fs.live(fresh.root().resolve("/d0.series").node)[-1]
    plain = NodeVersion(**{f.name: getattr(again, f.name) for f in fields(NodeVersion)})
    assert type(again) is not NodeVersion and type(plain) is NodeVersion
    assert again == plain and plain == again and again == last
    assert again != plain.with_(sha256="0" * 64) and plain.with_(sha256="0" * 64) != again
    assert again.with_(size=1).sha256 == plain.sha256
    assert again != first
