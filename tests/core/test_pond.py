"""Pond: transactions (one commit or none), lock, conflicts, recovery, time travel, maintenance."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import pyarrow as pa
import pytest
from core_testlib import run_python

from duckpond import Pond
from duckpond.errors import ConflictError, NotAPond, NotFound, PondLocked, ReadOnly


def snapshot(p: Pond):
    """(txn_seq, data version, every path with its bytes/version) — to prove 'unchanged'."""
    p = Pond.open(p.path)
    r = p.root()
    return p.txn_seq, p.data_version, [(n.path, n.file_type, n.stat().version) for n in r.walk()]


def test_init_then_open(tmp_path):
    p = Pond.init(tmp_path / "p")
    assert p.txn_seq == 1
    q = Pond.open(tmp_path / "p")
    assert q.pond_id == p.pond_id and q.root().list("/") == []
    assert [t.outcome for t in q.log()] == ["committed"]


def test_not_a_pond(tmp_path):
    with pytest.raises(NotAPond, match=str(tmp_path)):
        Pond.open(tmp_path)
    (tmp_path / "x").write_text("x")
    with pytest.raises(FileExistsError):
        Pond.init(tmp_path)


def test_one_commit_per_transaction(pond):
    v0 = pond.data_version
    with pond.transaction(["bulk"]) as tx:
        r = tx.root()
        r.mkdir("/many")
        r.write_file("/many/big.bin", io.BytesIO(os.urandom(3 * 1024 * 1024)))
        for i in range(1000):
            r.write_file(f"/many/f{i:04d}.txt", f"file {i}".encode())
    assert pond.data_version == v0 + 1
    assert pond.txn_seq == 2
    q = Pond.open(pond.path)
    assert len(q.root().list("/many")) == 1001
    assert q.root().resolve("/many/f0999.txt").read_bytes() == b"file 999"
    history = q._persistence.table.history(1)[0]
    assert history["txn_seq"] == "2" and '"bulk"' in history["args"]


def test_exception_commits_nothing(pond):
    before = snapshot(pond)
    large_before = set(os.listdir(pond.path / "data" / "_large_files"))
    with pytest.raises(RuntimeError, match="boom"), pond.transaction(["fail"]) as tx:
        tx.root().write_file("/big", os.urandom(100_000))
        tx.root().mkdir("/d")
        raise RuntimeError("boom")
    assert snapshot(pond) == before
    assert set(os.listdir(pond.path / "data" / "_large_files")) == large_before
    assert pond.log()[-1].outcome == "failed" and pond.log()[-1].error == "boom"
    # the pond is usable afterwards and reuses the sequence number
    with pond.transaction(["ok"]) as tx:
        tx.root().mkdir("/d")
    assert pond.txn_seq == 2


def test_reading_outside_a_transaction_is_read_only(pond):
    with pytest.raises(ReadOnly):
        pond.root().mkdir("/x")


def test_transaction_without_changes_commits_nothing(pond):
    v = pond.data_version
    with pond.transaction(["noop"]):
        pass
    assert pond.data_version == v and pond.log()[-1].outcome == "completed"


HOLD_LOCK = """
import sys, time
from duckpond import Pond
p = Pond.open(sys.argv[1])
with p.transaction(["hold"]) as tx:
    tx.root().mkdir("/held")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_second_writer_fails_at_once_with_pond_locked(pond):
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(pond.path), "3"], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout.readline().strip() == "locked"
        start = time.monotonic()
        with pytest.raises(PondLocked, match="write lock"), pond.transaction(["second"]):
            pass
        assert time.monotonic() - start < 1.0
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert Pond.open(pond.path).root().exists("/held")


FOREIGN_COMMIT = """
import sys
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from duckpond.tlogfs.delta import versions_to_arrow
from duckpond.tinyfs.model import NodeVersion, new_node_id, now_us
v = NodeVersion(part_id="foreign", node_id=new_node_id(), file_type="file:data", version=1,
                txn_seq=99, timestamp=now_us(), content=b"x", sha256=None, size=1)
write_deltalake(DeltaTable(sys.argv[1]), versions_to_arrow([v]), mode="append")
"""


def test_commit_by_anyone_else_since_begin_is_a_conflict(pond):
    before_txn = pond.txn_seq
    with pytest.raises(ConflictError, match="another writer"), pond.transaction(["mine"]) as tx:
        tx.root().mkdir("/mine")
        done = run_python(FOREIGN_COMMIT, str(pond.path / "data"))
        assert done.returncode == 0, done.stderr
    q = Pond.open(pond.path)
    assert not q.root().exists("/mine")
    assert q.txn_seq == before_txn
    assert pond.log()[-1].outcome == "failed"


CRASH = """
import os, sys
from duckpond import Pond, faults
faults.install(lambda name: os._exit(137) if name == sys.argv[2] else None)
p = Pond.open(sys.argv[1])
with p.transaction(["crashy"]) as tx:
    tx.root().mkdir("/crashed")
    tx.root().write_file("/crashed/big", b"q" * 100_000)
"""


@pytest.mark.parametrize(
    ("point", "committed"), [("after-data-commit", True), ("before-data-commit", False)]
)
def test_recover_after_crash(pond, point, committed):
    with pond.transaction(["first"]) as tx:
        tx.root().write_file("/keep", b"kept")
    done = run_python(CRASH, str(pond.path), point)
    assert done.returncode == 137
    p = Pond.open(pond.path)
    assert [t.args for t in p.pending()] == [("crashy",)]
    report = p.recover()
    assert p.pending() == []
    assert p.root().resolve("/keep").read_bytes() == b"kept"
    assert p.root().exists("/crashed") is committed
    if committed:
        assert report.committed == (3,) and p.log()[-1].outcome == "recovered"
        assert p.root().resolve("/crashed/big").read_bytes() == b"q" * 100_000
        assert p.txn_seq == 3
    else:
        assert report.rolled_back == (3,) and p.log()[-1].outcome == "rolled-back"
        assert report.orphan_files_removed == 1  # the large file written before the crash
        assert p.txn_seq == 2
    # and the pond goes on
    with p.transaction(["after"]) as tx:
        tx.root().mkdir("/after")
    assert Pond.open(pond.path).root().exists("/after")


def test_time_travel(pond):
    with pond.transaction(["v1"]) as tx:
        tx.root().write_file("/f", b"one")
    with pond.transaction(["v2"]) as tx:
        tx.root().write_file("/f", b"two")
        tx.root().mkdir("/new")
    old = Pond.open(pond.path, at_txn=2)
    assert old.root().resolve("/f").read_bytes() == b"one"
    assert not old.root().exists("/new")
    assert old.txn_seq == 2
    with pytest.raises(ReadOnly):
        old.transaction(["x"]).__enter__()
    with pytest.raises(NotFound, match="42"):
        Pond.open(pond.path, at_txn=42)


def test_sql_over_series_and_oplog(pond):
    t1 = pa.table(
        {"Timestamp": pa.array([0, 1800, 3600], pa.timestamp("s", "UTC")), "v": [1.0, 3.0, 5.0]}
    )
    t2 = pa.table({"Timestamp": pa.array([5400], pa.timestamp("s", "UTC")), "v": [7.0], "w": [1]})
    with pond.transaction(["s"]) as tx:
        tx.root().append_series("/s.series", t1)
    with pond.transaction(["s"]) as tx:
        tx.root().append_series("/s.series", t2)
    out = pond.sql(
        "SELECT date_bin(INTERVAL '1 hour', \"Timestamp\", TIMESTAMP '1970-01-01T00:00:00Z') AS h,"
        " avg(v) AS a, count(w) AS nw FROM source GROUP BY h ORDER BY h",
        "/s.series",
    )
    assert out.column("a").to_pylist() == [2.0, 6.0]
    assert out.column("nw").to_pylist() == [0, 1]
    assert out.schema.field("h").type.unit == "us"
    hist = pond.sql(
        "SELECT version, file_type FROM oplog WHERE file_type = 'file:series' ORDER BY version"
    )
    assert hist.column("version").to_pylist() == [1, 2]


def test_sql_errors(pond):
    from duckpond.errors import QueryError

    with pond.transaction(["s"]) as tx:
        tx.root().append_series(
            "/s.series",
            pa.table({"Timestamp": pa.array([0], pa.timestamp("s", "UTC")), "v": [1.0]}),
        )
    with pytest.raises(QueryError, match="nope"):
        pond.sql("SELECT nope FROM source", "/s.series")
    with pytest.raises(QueryError):
        pond.sql("SELEKT 1", "/s.series")


def test_maintain_keeps_content(pond):
    for i in range(30):
        with pond.transaction([f"t{i}"]) as tx:
            tx.root().write_file(f"/f{i % 5}", f"v{i}".encode())
    before = snapshot(pond)
    contents = {n.path: n.read_bytes() for n in Pond.open(pond.path).root().walk()}
    (pond.path / "data" / "_large_files" / "sha256=deadbeef").write_bytes(b"orphan")
    report = pond.maintain(retention_hours=0)
    assert report.files_after < report.files_before
    assert report.orphans_removed == 1
    q = Pond.open(pond.path)
    assert {n.path: n.read_bytes() for n in q.root().walk()} == contents
    assert q.txn_seq == before[0]
    assert [v.version for v in q.history("/f0")] == [1, 2, 3, 4, 5, 6]
    with pond.transaction(["after"]) as tx:
        tx.root().write_file("/f0", b"later")
    assert Pond.open(pond.path).root().resolve("/f0").read_bytes() == b"later"


def test_large_series_hash_matches_stored_bytes(pond):
    import hashlib

    n = 300_000
    table = pa.table(
        {
            "Timestamp": pa.array(range(n), pa.timestamp("s", "UTC")),
            "v": pa.array([float(i % 977) for i in range(n)]),
        }
    )
    with pond.transaction(["big series"]) as tx:
        np = tx.root().append_series("/big.series", table)
    v = Pond.open(pond.path).root().resolve("/big.series").latest()
    assert v.is_large and v.sha256 == np.latest().sha256
    blob = pond.path / "data" / "_large_files" / f"sha256={v.sha256}"
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == v.sha256
    assert blob.stat().st_size == v.size


def test_verification_stamp_skips_rehash_until_the_blob_changes(pond):
    import os

    from duckpond.tlogfs import delta

    with pond.transaction(["big"]) as tx:
        tx.root().write_file("/big", b"B" * 100_000)
    blob = next((pond.path / "data" / "_large_files").glob("sha256=*"))
    stamp = os.getxattr(blob, delta.VERIFIED_XATTR).decode()
    assert stamp.startswith(blob.name.removeprefix("sha256=") + ":100000:")
    # another process trusts the stamp and reads without hashing
    code = (
        "import sys; from duckpond import Pond; "
        "print(len(Pond.open(sys.argv[1]).root().resolve('/big').read_bytes()))"
    )
    r = run_python(code, str(pond.path), env={"DUCKPOND_LOG": "debug"})
    assert r.returncode == 0 and r.stdout.strip() == "100000"
    assert "verified large file" not in r.stderr
    # rewriting the blob changes its mtime: the stamp no longer applies and the hash is checked
    blob.write_bytes(b"C" * 100_000)
    r = run_python(code, str(pond.path))
    assert r.returncode != 0 and "IntegrityError" in r.stderr


def test_a_crash_after_the_data_commit_is_settled_by_the_next_write(pond):
    done = run_python(CRASH, str(pond.path), "after-data-commit")
    assert done.returncode == 137
    p = Pond.open(pond.path)
    assert [t.outcome for t in p.log()][-1] == "pending"
    with p.transaction(["next"]) as tx:
        tx.root().mkdir("/next")
    outcomes = {t.args: t.outcome for t in Pond.open(pond.path).log()}
    assert outcomes[("crashy",)] == "recovered"
    assert outcomes[("next",)] == "committed"
    assert Pond.open(pond.path).pending() == []


def test_a_failed_record_after_the_data_commit_is_a_warning_not_a_failure(pond, monkeypatch):
    """Disk full while writing the control record: the commit stands, the command succeeds."""
    from duckpond.errors import HostError
    from duckpond.steward.control import ControlTable
    from duckpond.steward.hooks import PondWarning

    real = ControlTable.append

    def full_disk(self, rows):
        rows = list(rows)
        if rows[0].record_type == "committed":
            raise HostError("No space left on device", str(self.path))
        return real(self, rows)

    monkeypatch.setattr(ControlTable, "append", full_disk)
    warned = pytest.warns(PondWarning, match="committed, but its record could not be written")
    with warned, pond.transaction(["append"]) as tx:
        tx.root().append_series("/s.series", pa.table({"Timestamp": [1, 2], "v": [1.0, 2.0]}))
    monkeypatch.setattr(ControlTable, "append", real)
    p = Pond.open(pond.path)
    assert p.root().resolve("/s.series").read_table().num_rows == 2
    assert p.log()[-1].outcome == "pending"
    with p.transaction(["next"]) as tx:  # settles it; nothing is written twice
        tx.root().mkdir("/d")
    q = Pond.open(pond.path)
    assert q.root().resolve("/s.series").read_table().num_rows == 2
    assert [t.outcome for t in q.log()][-2:] == ["recovered", "committed"]


INIT_CRASH = """
import os, sys
from duckpond import Pond, faults
faults.install(lambda name: os._exit(137) if name == sys.argv[2] else None)
Pond.init(sys.argv[1])
"""


@pytest.mark.parametrize("empty_dir_first", [False, True])
def test_a_crash_in_init_leaves_no_pond_and_init_works_again(tmp_path, empty_dir_first):
    from duckpond.errors import NotAPond

    path = tmp_path / "p"
    if empty_dir_first:
        path.mkdir()
    done = run_python(INIT_CRASH, str(path), "init-before-rename")
    assert done.returncode == 137, done.stderr
    with pytest.raises(NotAPond):
        Pond.open(path)
    assert not path.exists() or list(path.iterdir()) == []
    pond = Pond.init(path)
    assert pond.pond_id and pond.txn_seq == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # the crashed build is gone


def test_open_reads_dynamic_nodes_with_the_builtin_factories(pond):
    from duckpond.factories.registry import mknod

    with pond.transaction(["setup"]) as tx:
        r = tx.root()
        times = pa.array([0, 3_600_000_000], pa.timestamp("us", "UTC"))
        r.append_series("/s.series", pa.table({"Timestamp": times, "v": [1.0, 3.0]}))
        mknod(r, "temporal-reduce", "/r", "input: /s.series\nresolutions: [1d]\n")
    t = Pond.open(pond.path).root().resolve("/r/res=1d.series").read_table()
    assert t.column("v.avg").to_pylist() == [2.0]


def test_oplog_rows_decode_to_the_versions_written_across_many_and_empty_chunks():
    """Rows -> NodeVersion objects, as ``maintain`` decodes the whole oplog (a chunk per file,
    some empty): every field back as written, content and attributes included, in row order,
    and a history built lazily gives the same versions."""
    from duckpond.tinyfs.model import NodeVersion
    from duckpond.tlogfs.delta import Partition, arrow_to_versions, versions_to_arrow

    written = [
        NodeVersion(
            f"p{i % 3}",
            f"n{i % 11}",
            "file:data",
            i,
            i,
            1_700_000_000_000_000 + i,
            content=(b"x%d" % i) if i % 3 else None,
            sha256=None if i % 3 else f"{i:064x}",
            size=i,
            min_event_time=i if i % 2 else None,
            max_event_time=i if i % 2 else None,
            extended_attributes={"rows": i % 2} if i % 4 else {},
            factory=None,
        )
        for i in range(1, 401)
    ]
    empty = versions_to_arrow([])
    pieces = [versions_to_arrow(written[i : i + 37]) for i in range(0, 400, 37)]
    table = pa.concat_tables([empty, *(p for q in pieces for p in (q, empty))])
    assert table.column("content").num_chunks > 20
    assert list(arrow_to_versions(table)) == written
    # as the oplog is read from Parquet: node ids and attribute texts dictionary-coded, each
    # file (chunk) with its own dictionary
    coded = pa.concat_tables(
        [
            q.set_column(1, "node_id", q.column("node_id").dictionary_encode()).set_column(
                11, "extended_attributes", q.column("extended_attributes").dictionary_encode()
            )
            for q in (empty, *(p for q in pieces for p in (q, empty)))
        ]
    )
    assert pa.types.is_dictionary(coded.schema.field("node_id").type)
    assert list(arrow_to_versions(coded)) == written
    for source in (table, coded):
        # 11 nodes: the first are found by a pass over the node ids, the rest by an index;
        # the first versions are decoded value by value, the rest from whole columns
        by_node = Partition("p", source.drop_columns(["part_id"]))
        for node in sorted({v.node_id for v in written}):
            want = [v.with_(part_id="p") for v in written if v.node_id == node]
            history = by_node[node]
            assert history[-1] == want[-1] and list(history) == want
            assert history.numbers() == [v.version for v in want]
            assert history.attributes() == [v.extended_attributes for v in want]
        with pytest.raises(KeyError):
            by_node["no such node"]
        assert sorted(by_node) == sorted({v.node_id for v in written})


def test_a_nodes_rows_in_any_order_read_oldest_first():
    """Delta compaction writes a node's rows in any order (often newest first): a history is in
    (version, txn_seq) order whatever the row order, with repeated version numbers too."""
    import random

    from duckpond.tinyfs.model import NodeVersion
    from duckpond.tlogfs.delta import Partition, versions_to_arrow

    def version(node: str, number: int, seq: int) -> NodeVersion:
        return NodeVersion("p", node, "file:data", number, seq, 1_700_000_000_000_000, b"x")

    distinct = [version("a", n, n + 1) for n in range(1, 301)]
    repeated = [version("b", n // 3, n) for n in range(60)]  # each number three times
    rows = distinct + repeated
    for order in ("reversed", "shuffled"):
        shown = rows[::-1] if order == "reversed" else random.Random(7).sample(rows, len(rows))
        by_node = Partition("p", versions_to_arrow(shown).drop_columns(["part_id"]))
        assert list(by_node["a"]) == distinct, order
        assert by_node["a"].numbers() == list(range(1, 301)), order
        assert list(by_node["b"]) == repeated, order
        assert [(v.version, v.txn_seq) for v in by_node["b"]] == sorted(
            (v.version, v.txn_seq) for v in repeated
        )
