"""Conformance suites every tinyfs backend must pass, as mix-in classes (like fsspec's
``tests/abstract``): write the fixture, inherit the tests.

- :class:`FSConformance`: tinyfs through :class:`~duckpond.tinyfs.fs.FS` (paths, files, versions,
  symlinks, globs, tables, series, dynamic nodes), given a fixture ``fsx`` that yields a
  :class:`Harness`.
- :class:`PersistenceConformance`: the :class:`~duckpond.tinyfs.persistence.Persistence` protocol
  itself (transactions, read-your-writes, blobs, integrity), given a fixture ``store`` that
  yields a :class:`StoreHarness`.

Two harnesses of each ship here, for the memory and the Delta backends::

    class TestMemoryFS(FSConformance):
        @pytest.fixture
        def fsx(self, tmp_path):
            with MemoryHarness(tmp_path) as h:
                yield h

This module imports pytest: it is for test suites, never imported by the product.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pytest

from duckpond.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    IntegrityError,
    InvalidData,
    InvalidPath,
    IsADirectory,
    NotADirectory,
    NotFound,
    SymlinkLoop,
)
from duckpond.times import Window
from duckpond.tinyfs import FS, MemoryPersistence
from duckpond.tinyfs.lineage import Lineage
from duckpond.tinyfs.model import FILE_DATA, FILE_SERIES, FILE_TABLE, SYMLINK

__all__ = [
    "DeltaHarness",
    "DeltaStore",
    "FSConformance",
    "Harness",
    "MemoryHarness",
    "MemoryStore",
    "PersistenceConformance",
    "StoreHarness",
]


class Harness(Protocol):
    """A filesystem under test: a writable root, a commit that really persists, a corrupter."""

    fs: FS

    def root(self) -> Any: ...

    def commit(self) -> None:
        """Commit the open transaction and begin the next; later reads see only what persisted."""
        ...

    def corrupt(self, sha256: str) -> None:
        """Flip a byte of the stored large file with this sha256."""
        ...

    def close(self) -> None: ...


class MemoryHarness:
    """tinyfs over :class:`MemoryPersistence`, with its real transactions."""

    def __init__(self, tmp_path: Path) -> None:
        self.persistence = MemoryPersistence()
        self.fs = FS(self.persistence, tmp_dir=str(tmp_path))
        self.persistence.begin(1)

    def __enter__(self) -> MemoryHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def root(self) -> Any:
        return self.fs.root()

    def commit(self) -> None:
        self.fs.flush()
        self.persistence.commit({})
        self.persistence.begin(self.persistence.committed_seq + 1)

    def corrupt(self, sha256: str) -> None:
        self.persistence.corrupt_blob_for_test(sha256)

    def close(self) -> None:
        self.persistence.rollback()


class DeltaHarness:
    """tinyfs in a real pond: each commit is a transaction, and the pond is opened anew after."""

    def __init__(self, tmp_path: Path) -> None:
        from duckpond import Pond

        self.path = tmp_path / "pond"
        Pond.init(self.path)
        self._stack = contextlib.ExitStack()
        self._begin()

    def __enter__(self) -> DeltaHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _begin(self) -> None:
        from duckpond import Pond

        self.pond = Pond.open(self.path)
        self.tx = self._stack.enter_context(self.pond.transaction(["test"]))
        self.fs = self.pond.fs

    def root(self) -> Any:
        return self.tx.root()

    def commit(self) -> None:
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self._begin()

    def corrupt(self, sha256: str) -> None:
        p = self.pond.layout.large_file(sha256)
        data = bytearray(p.read_bytes())
        data[10] ^= 0xFF
        p.write_bytes(bytes(data))
        self.commit()  # a new process would not have verified it yet

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()


def series(times: list[int], **cols: list[Any]) -> pa.Table:
    return pa.table(
        {
            "Timestamp": pa.array(times, pa.timestamp("s", "UTC")),
            **{k: pa.array(v) for k, v in cols.items()},
        }
    )


class _Squares:
    """A dynamic table: n rows of (i, i*i); counts how often it is built."""

    file_type = "file:table"
    time_column = None

    def __init__(self, n: int) -> None:
        self.n = n

    def read_table(self, window=None):
        assert window is None
        return pa.table({"i": list(range(self.n)), "sq": [i * i for i in range(self.n)]})

    def read_bytes(self):
        raise AssertionError("not a data file")

    def lineage(self):
        return Lineage("squares", frozenset(), False)


class _Text:
    file_type = "file:data"

    def __init__(self, text: str) -> None:
        self.text = text

    def read_bytes(self) -> bytes:
        return self.text.encode()

    def lineage(self):
        return Lineage.opaque()


class _Numbers:
    """A dynamic directory: one text file per number, and a table of squares."""

    def __init__(self, n: int) -> None:
        self.n = n

    def lineage(self):
        return Lineage.opaque()

    def entries(self):
        for i in range(self.n):
            yield f"n{i}.txt", _Text(str(i))
        yield "squares", _Squares(self.n)


class FSConformance:
    """tinyfs behaviour every backend must show; needs a fixture ``fsx`` (a :class:`Harness`)."""

    def test_mkdir_and_list(self, fsx):
        r = fsx.root()
        r.mkdir("/a")
        r.mkdir("/a/b/c", parents=True)
        r.mkdir("/empty")
        fsx.commit()
        r = fsx.root()
        assert [n.name for n in r.list("/")] == ["a", "empty"]
        assert [n.path for n in r.list("/a")] == ["/a/b"]
        assert r.list("/empty") == []
        assert r.resolve("/a/b/c").is_dir

    def test_mkdir_errors(self, fsx):
        r = fsx.root()
        r.mkdir("/a")
        with pytest.raises(AlreadyExists, match="/a"):
            r.mkdir("/a")
        with pytest.raises(NotFound, match="/x"):
            r.mkdir("/x/y")
        r.write_file("/f", b"data")
        with pytest.raises(NotADirectory, match="/f"):
            r.mkdir("/f/g")
        assert r.mkdir("/a", exist_ok=True).path == "/a"

    @pytest.mark.parametrize("bad", ["/a/..", "/a/.", "/a\x00b"])
    def test_invalid_names(self, fsx, bad):
        r = fsx.root()
        r.mkdir("/a")
        with pytest.raises((InvalidPath, AlreadyExists, IsADirectory)):
            r.write_file(bad, b"x")

    def test_long_name_rejected(self, fsx):
        with pytest.raises(InvalidPath, match="255"):
            fsx.root().write_file("/" + "n" * 256, b"x")

    def test_relative_paths_and_dotdot(self, fsx):
        r = fsx.root()
        r.mkdir("/a/b", parents=True)
        r.write_file("/a/f.txt", b"F")
        b = r.open_dir("/a/b")
        assert b.resolve("../f.txt").read_bytes() == b"F"
        assert b.resolve("../../../../a/f.txt").path == "/a/f.txt"  # never above the root
        assert b.resolve("./..").path == "/a"
        assert r.resolve("/..").path == "/"

    def test_small_and_large_files_roundtrip(self, fsx):
        r = fsx.root()
        small = b"hello"
        large = bytes(range(256)) * 1024  # 256 KiB >= 64 KiB: a large file
        r.write_file("/small", small)
        r.write_file("/large", io.BytesIO(large))
        fsx.commit()
        r = fsx.root()
        assert r.resolve("/small").read_bytes() == small
        assert r.resolve("/large").read_bytes() == large
        with r.resolve("/large").open() as f:
            f.seek(1000)
            assert f.read(10) == large[1000:1010]
        assert r.stat("/large").size == len(large)
        assert r.resolve("/large").latest().is_large
        assert not r.resolve("/small").latest().is_large

    def test_versions(self, fsx):
        r = fsx.root()
        r.write_file("/f", b"one")
        fsx.commit()
        r = fsx.root()
        r.write_file("/f", b"two")
        r.write_file("/f", b"three")  # a second write in the same transaction: another version
        fsx.commit()
        f = fsx.root().resolve("/f")
        assert [v.version for v in f.versions()] == [1, 2, 3]
        assert f.read_bytes() == b"three"
        assert f.read_bytes(1) == b"one"
        assert f.read_bytes(-2) == b"two"
        with pytest.raises(NotFound, match="version 9"):
            f.read_bytes(9)

    def test_create_file_exists(self, fsx):
        r = fsx.root()
        r.create_file("/f", b"1")
        with pytest.raises(AlreadyExists):
            r.create_file("/f", b"2")

    def test_directory_is_not_a_file(self, fsx):
        r = fsx.root()
        r.mkdir("/d")
        with pytest.raises(IsADirectory):
            r.resolve("/d").read_bytes()
        with pytest.raises(IsADirectory):
            r.write_file("/d", b"x")
        with pytest.raises(NotADirectory):
            r.write_file("/x", b"x") and r.list("/x")

    def test_symlinks(self, fsx):
        r = fsx.root()
        r.mkdir("/data/b01", parents=True)
        r.write_file("/data/b01/t.txt", b"T")
        r.symlink("/latest", "/data/b01")
        r.symlink("/data/rel", "b01/t.txt")
        r.symlink("/dangling", "/nowhere")
        fsx.commit()
        r = fsx.root()
        assert r.resolve("/latest/t.txt").read_bytes() == b"T"
        assert r.resolve("/data/rel").read_bytes() == b"T"
        assert r.resolve("/latest", follow=False).file_type == SYMLINK
        assert r.resolve("/latest", follow=False).readlink() == "/data/b01"
        assert r.resolve("/latest/..").path == "/data"  # physical: parent of the target
        with pytest.raises(NotFound, match="dangling"):
            r.resolve("/dangling")

    def test_symlink_loop(self, fsx):
        r = fsx.root()
        r.symlink("/a", "/b")
        r.symlink("/b", "/a")
        r.symlink("/self", "self")
        with pytest.raises(SymlinkLoop, match="/"):
            r.resolve("/a")
        with pytest.raises(SymlinkLoop):
            r.resolve("/self/x")
        assert not r.exists("/a")

    def test_remove(self, fsx):
        r = fsx.root()
        r.mkdir("/d/e", parents=True)
        r.write_file("/d/e/f", b"x")
        r.write_file("/g", b"y")
        fsx.commit()
        r = fsx.root()
        with pytest.raises(DirectoryNotEmpty, match="/d"):
            r.remove("/d")
        r.remove("/g")
        r.remove("/d", recursive=True)
        with pytest.raises(NotFound):
            r.remove("/nope")
        fsx.commit()
        assert fsx.root().list("/") == []

    def test_rename_and_move(self, fsx):
        r = fsx.root()
        r.mkdir("/a")
        r.mkdir("/b")
        r.write_file("/a/f", b"v1")
        fsx.commit()
        r = fsx.root()
        r.write_file("/a/f", b"v2")
        r.rename("/a/f", "/b")  # into a directory, keeping the name
        r.rename("/b/f", "/b/g")
        r.rename("/a", "/c")
        fsx.commit()
        r = fsx.root()
        g = r.resolve("/b/g")
        assert g.read_bytes() == b"v2"
        assert g.read_bytes(1) == b"v1"  # history moved with it
        assert r.exists("/c") and not r.exists("/a")
        with pytest.raises(InvalidPath, match="into itself"):
            r.rename("/c", "/c/inner")
        r.write_file("/x", b"x")
        with pytest.raises(AlreadyExists):
            r.rename("/x", "/b/g")

    def test_move_keeps_versions_where_they_are(self, fsx):
        """A move changes directory entries only: away and back, every version is stored once,
        later versions join the same history, and the node's children survive a directory move."""
        r = fsx.root()
        for d in ("/a", "/b", "/a/d"):
            r.mkdir(d)
        r.append_series("/a/s", series([1, 2], v=[1.0, 2.0]))
        r.write_file("/a/d/f", b"d1")
        fsx.commit()
        r = fsx.root()
        r.rename("/a/s", "/b")
        fsx.commit()
        r = fsx.root()
        r.append_series("/b/s", series([3], v=[4.0]))  # a new version after the move
        r.rename("/a/d", "/b/e")
        fsx.commit()
        r = fsx.root()
        r.rename("/b/s", "/a/t")
        r.write_file("/b/e/f", b"d2")
        fsx.commit()
        r = fsx.root()
        s = r.resolve("/a/t")
        assert [v.version for v in s.versions()] == [1, 2]
        assert s.read_table().column("v").to_pylist() == [1.0, 2.0, 4.0]
        f = r.resolve("/b/e/f")
        assert (f.read_bytes(1), f.read_bytes()) == (b"d1", b"d2")
        dirs = [node.node.node_id for node in r.walk() if node.is_dir] + [r.here.node.node_id]
        store = fsx.fs.persistence
        for node in (s.node.node_id, f.node.node_id):
            stored = [v.version for p in dirs for v in store.partition(p).get(node, [])]
            assert sorted(stored) == [1, 2]  # each version once, wherever the node went

    def test_walk_and_glob(self, fsx):
        r = fsx.root()
        for p in ["/s/b01/temp.series", "/s/b01/do.series", "/s/jfk/air.series", "/s/.hidden"]:
            r.mkdir(p.rsplit("/", 1)[0], parents=True, exist_ok=True)
            r.write_file(p, b"x")
        fsx.commit()
        r = fsx.root()
        walked = [n.path for n in r.walk()]
        assert walked == sorted(walked, key=lambda p: p.split("/"))
        assert "/s/.hidden" in walked
        got = [(m.path, m.captures) for m in r.glob("/s/*/*.series")]
        assert got == [
            ("/s/b01/do.series", ("b01", "do")),
            ("/s/b01/temp.series", ("b01", "temp")),
            ("/s/jfk/air.series", ("jfk", "air")),
        ]
        assert [m.path for m in r.glob("/**/air*")] == ["/s/jfk/air.series"]
        assert "/s/.hidden" not in [m.path for m in r.glob("/**")]
        assert "/s/.hidden" in [m.path for m in r.glob("/**", include_hidden=True)]

    def test_tables(self, fsx):
        import pyarrow.parquet as pq

        r = fsx.root()
        t = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
        sink = io.BytesIO()
        pq.write_table(t, sink)
        r.write_file("/t.parquet", sink.getvalue(), file_type=FILE_TABLE)
        with pytest.raises(InvalidData, match=r"/bad\.parquet"):
            r.write_file("/bad.parquet", b"this is not parquet", file_type=FILE_TABLE)
        with pytest.raises(InvalidData, match=r"PAR1|Parquet"):
            r.write_file("/bad2.parquet", b"PAR1" + b"\x00" * 20 + b"PAR1", file_type=FILE_TABLE)
        fsx.commit()
        r = fsx.root()
        assert r.resolve("/t.parquet").read_table().equals(t)
        assert r.resolve("/t.parquet").file_type == FILE_TABLE
        assert not r.exists("/bad.parquet")

    def test_series_union_and_bounds(self, fsx):
        r = fsx.root()
        r.append_series("/s.series", series([10, 20], v=[1.0, 2.0]))
        fsx.commit()
        r = fsx.root()
        r.append_series("/s.series", series([5, 30], v=[0.5, 3.0], w=[7, 8]))
        fsx.commit()
        s = fsx.root().resolve("/s.series")
        assert s.file_type == FILE_SERIES
        t = s.read_table()
        assert t.num_rows == 4
        assert t.schema.field("Timestamp").type == pa.timestamp("us", "UTC")
        assert t.column("w").to_pylist() == [None, None, 7, 8]
        st = s.stat()
        assert (st.min_event_time, st.max_event_time) == (5_000_000, 30_000_000)
        assert st.version == 2 and st.time_column == "Timestamp"
        # pruning: the first version [10, 20] s does not overlap [25, 40] s
        pruned = s.read_table(window=Window(25_000_000, 40_000_000))
        assert pruned.column("v").to_pylist() == [3.0]
        # windows are half-open: a row at the end is outside, one at the start inside
        assert s.read_table(window=Window(5_000_000, 30_000_000)).num_rows == 3
        assert s.read_table(window=Window(30_000_000, None)).column("v").to_pylist() == [3.0]
        schema, batches = s.iter_batches(batch_size=1)
        assert schema.names == ["Timestamp", "v", "w"]
        assert sum(b.num_rows for b in batches) == 4

    def test_series_bad_time(self, fsx):
        r = fsx.root()
        with pytest.raises(InvalidData, match="time column"):
            r.append_series("/s.series", pa.table({"x": [1.0]}))
        nulls = pa.table(
            {"Timestamp": pa.array([1, None], pa.timestamp("s", "UTC")), "v": [1.0, 2.0]}
        )
        with pytest.raises(InvalidData, match="Timestamp"):
            r.append_series("/s.series", nulls)
        assert not r.exists("/s.series")

    def test_data_type_mismatch(self, fsx):
        r = fsx.root()
        r.write_file("/f", b"x")
        with pytest.raises(InvalidData, match="file:data"):
            r.append_series("/f", series([1], v=[1.0]))
        assert r.resolve("/f").file_type == FILE_DATA

    def test_integrity_error_on_corrupt_large_file(self, fsx):
        r = fsx.root()
        data = b"z" * (200 * 1024)
        node = r.write_file("/big", data)
        sha = node.latest().sha256
        fsx.commit()
        fsx.corrupt(sha)
        with pytest.raises(IntegrityError, match="sha256"):
            fsx.root().resolve("/big").read_bytes()

    def test_stat_times_and_types(self, fsx):
        r = fsx.root()
        r.mkdir("/d")
        r.write_file("/d/f", b"abc")
        fsx.commit()
        st = fsx.root().stat("/d/f")
        assert st.file_type == FILE_DATA and st.size == 3 and st.version == 1
        assert st.created is not None and st.created <= st.modified
        assert fsx.root().stat("/d").file_type == "dir:physical"

    def test_new_file_version_leaves_directory_alone(self, fsx):
        r = fsx.root()
        r.mkdir("/d")
        r.write_file("/d/f", b"1")
        fsx.commit()
        before = fsx.root().stat("/d").version
        fsx.root().write_file("/d/f", b"2")
        fsx.commit()
        assert fsx.root().stat("/d").version == before
        assert fsx.root().resolve("/d/f").read_bytes() == b"2"
        fsx.root().write_file("/d/g", b"new name")
        fsx.commit()
        assert fsx.root().stat("/d").version == before + 1

    def test_dynamic_nodes(self, fsx):
        from duckpond.errors import ReadOnly
        from duckpond.tinyfs.model import DIR_DYNAMIC, child_id

        built = []

        def resolver(node, factory, config):
            assert factory == "numbers"
            built.append(node.path)
            return _Numbers(int(config))

        fsx.fs.factories = resolver
        r = fsx.root()
        r.mkdir("/d")
        node = r.create_dynamic("/d/nums", "numbers", b"3", directory=True)
        fsx.commit()
        fsx.fs.factories = resolver
        r = fsx.root()
        nums = r.resolve("/d/nums")
        assert nums.file_type == DIR_DYNAMIC and nums.is_dir
        assert [n.name for n in r.list("/d/nums")] == ["n0.txt", "n1.txt", "n2.txt", "squares"]
        assert r.resolve("/d/nums/n2.txt").read_bytes() == b"2"
        assert r.resolve("/d/nums/squares").read_table().column("sq").to_pylist() == [0, 1, 4]
        # deterministic child ids: a hash of the parent's id and the name, the same on every read
        first = r.resolve("/d/nums/squares").node.node_id
        assert (
            first
            == child_id(node.node.node_id, "squares")
            == r.resolve("/d/nums/squares").node.node_id
        )
        assert [m.path for m in r.glob("/d/nums/n*.txt")] == [
            "/d/nums/n0.txt",
            "/d/nums/n1.txt",
            "/d/nums/n2.txt",
        ]
        # computed once per process (cached by node id)
        assert built == ["/d/nums"]
        # read-only
        with pytest.raises(ReadOnly):
            r.write_file("/d/nums/new.txt", b"x")
        with pytest.raises(ReadOnly):
            r.write_file("/d/nums/n0.txt", b"x")
        # a new config is a new version of the node, and the cache follows it
        r.create_dynamic("/d/nums", "numbers", b"2", directory=True, overwrite=True)
        assert [n.name for n in r.list("/d/nums")] == ["n0.txt", "n1.txt", "squares"]
        with pytest.raises(AlreadyExists):
            r.create_dynamic("/d/nums", "numbers", b"5", directory=True)


# --------------------------------------------------------------------------------------------
# The Persistence protocol itself
# --------------------------------------------------------------------------------------------


class StoreHarness(Protocol):
    """A Persistence under test and a way to read what it made durable afresh."""

    store: Any

    def reopen(self) -> Any:
        """A new Persistence object over the same storage (what another process would see)."""
        ...

    def corrupt(self, sha256: str) -> None: ...


class MemoryStore:
    """:class:`MemoryPersistence` (its storage is the object, so reopening gives it back)."""

    def __init__(self) -> None:
        self.store = MemoryPersistence()

    def reopen(self) -> Any:
        return self.store

    def corrupt(self, sha256: str) -> None:
        self.store.corrupt_blob_for_test(sha256)


class DeltaStore:
    """:class:`~duckpond.tlogfs.delta.DeltaPersistence` over the data table of a new pond."""

    def __init__(self, tmp_path: Path) -> None:
        from duckpond import Pond

        self.layout = Pond.init(tmp_path / "pond").layout
        self.store = self.reopen()

    def reopen(self) -> Any:
        from deltalake import DeltaTable

        from duckpond.tlogfs.delta import DeltaPersistence

        return DeltaPersistence(self.layout, DeltaTable(str(self.layout.data)))

    def corrupt(self, sha256: str) -> None:
        p = self.layout.large_file(sha256)
        data = bytearray(p.read_bytes())
        data[0] ^= 0xFF
        p.write_bytes(bytes(data))


def _version(store: Any, node_id: str, version: int, content: bytes | None = b"x") -> Any:
    from duckpond.tinyfs.model import NodeVersion, now_us

    part = "00000000-0000-7000-8000-0000000000aa"
    blob = store.put_blob(content) if content is not None else None
    return NodeVersion(
        part_id=part,
        node_id=node_id,
        file_type=FILE_DATA,
        version=version,
        txn_seq=store.txn_seq,
        timestamp=now_us(),
        content=blob.content if blob else None,
        sha256=blob.sha256 if blob else None,
        size=blob.size if blob else None,
    )


PART = "00000000-0000-7000-8000-0000000000aa"
NODE = "00000000-0000-7000-8000-0000000000bb"


class PersistenceConformance:
    """The Persistence protocol every backend must keep; needs a fixture ``store`` (a
    :class:`StoreHarness`)."""

    def _next_seq(self, store: Any) -> int:
        return int(getattr(store, "committed_seq", 0) or store.txn_seq) + 1

    def test_staged_versions_are_read_at_once_and_durable_at_commit(self, store):
        s = store.store
        s.begin(self._next_seq(s) + 1)
        s.stage(_version(s, NODE, 1, b"one"))
        assert [v.version for v in s.partition(PART)[NODE]] == [1]  # read your writes
        assert NODE not in store.reopen().partition(PART) or store.reopen() is s
        assert s.commit({"txn_seq": str(s.txn_seq)}) is not None
        again = store.reopen()
        [v] = again.partition(PART)[NODE]
        with again.open_blob(v) as f:
            assert f.read() == b"one"

    def test_versions_come_back_in_order(self, store):
        s = store.store
        for n in (1, 2, 3):
            s.begin(self._next_seq(s) + n)
            s.stage(_version(s, NODE, n, f"v{n}".encode()))
            s.commit({})
        fresh = store.reopen()
        versions = fresh.partition(PART)[NODE]
        assert [v.version for v in versions] == [1, 2, 3]
        assert [fresh.open_blob(v).read() for v in versions] == [b"v1", b"v2", b"v3"]

    def test_rollback_drops_staged_versions_and_their_large_files(self, store):
        s = store.store
        s.begin(self._next_seq(s) + 1)
        big = _version(s, NODE, 1, b"L" * 100_000)
        assert big.content is None and big.sha256 is not None  # a large file
        s.stage(big)
        s.rollback()
        assert NODE not in s.partition(PART)
        assert NODE not in store.reopen().partition(PART)
        with pytest.raises(IntegrityError):
            s.open_blob(big)

    def test_a_commit_with_nothing_staged_writes_nothing(self, store):
        s = store.store
        s.begin(self._next_seq(s) + 1)
        assert s.commit({}) is None

    @pytest.mark.parametrize("size", [0, 1, 65535, 65536, 300_000])
    def test_blobs_inline_below_64_kib_and_large_above(self, store, size):
        s = store.store
        s.begin(self._next_seq(s) + 1)
        data = bytes(i % 251 for i in range(size))
        blob = s.put_blob(data)
        assert blob.size == size
        assert (blob.content is None) is (size >= 64 * 1024)
        s.stage(_version(s, NODE, 1, data))
        s.commit({})
        fresh = store.reopen()
        [v] = fresh.partition(PART)[NODE]
        with fresh.open_blob(v) as f:
            assert f.read() == data
        streamed = s.put_blob(io.BytesIO(data))
        assert (streamed.sha256, streamed.size) == (blob.sha256, blob.size)

    def test_a_corrupt_large_file_is_an_integrity_error(self, store):
        s = store.store
        s.begin(self._next_seq(s) + 1)
        v = _version(s, NODE, 1, b"B" * 70_000)
        s.stage(v)
        s.commit({})
        store.corrupt(v.sha256)
        fresh = store.reopen()
        [stored] = fresh.partition(PART)[NODE]
        with pytest.raises(IntegrityError):
            fresh.open_blob(stored)
