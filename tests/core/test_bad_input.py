"""Bad input raises a specific PondError naming the path, and leaves the pond unchanged."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from duckpond import Pond
from duckpond.errors import (
    AlreadyExists,
    IntegrityError,
    InvalidData,
    InvalidPath,
    IsADirectory,
    NotADirectory,
    NotAPond,
    NotFound,
    PondError,
)
from duckpond.tinyfs.model import FILE_SERIES, FILE_TABLE


def ts(*secs):
    return pa.array(secs, pa.timestamp("s", "UTC"))


CASES = [
    ("trailing slashes onto a directory", lambda r: r.write_file("/a//", b"x"), IsADirectory, "/a"),
    ("name with NUL", lambda r: r.write_file("/a/x\x00y", b"x"), InvalidPath, "/a"),
    ("dotdot through a missing directory", lambda r: r.mkdir("/a/b/../c"), NotFound, "/a/b"),
    ("dotdot as the new name", lambda r: r.mkdir("/a/.."), AlreadyExists, "/a/.."),
    ("missing parent", lambda r: r.write_file("/nope/f", b"x"), NotFound, "/nope"),
    ("file as a directory", lambda r: r.write_file("/a/f.txt/g", b"x"), NotADirectory, "/a/f.txt"),
    ("list a file", lambda r: r.list("/a/f.txt"), NotADirectory, "/a/f.txt"),
    ("directory as a file", lambda r: r.resolve("/a").read_bytes(), IsADirectory, "/a"),
    (
        "junk as a table",
        lambda r: r.write_file("/a/t", b"\x00junk" * 100, file_type=FILE_TABLE),
        InvalidData,
        "/a/t",
    ),
    (
        "truncated parquet",
        lambda r: r.write_file("/a/t", b"PAR1xxxxPAR1", file_type=FILE_TABLE),
        InvalidData,
        "/a/t",
    ),
    (
        "series without time column",
        lambda r: r.append_series("/a/s", pa.table({"v": [1.0]})),
        InvalidData,
        "/a/s",
    ),
    (
        "series with null times",
        lambda r: r.append_series(
            "/a/s",
            pa.table({"Timestamp": pa.array([1, None], pa.timestamp("s", "UTC")), "v": [1.0, 2.0]}),
        ),
        InvalidData,
        "/a/s",
    ),
    (
        "series with unparseable times",
        lambda r: r.append_series(
            "/a/s", pa.table({"Timestamp": ["2020-01-01T00:00:00Z", "yesterday"], "v": [1.0, 2.0]})
        ),
        InvalidData,
        "/a/s",
    ),
    (
        "appending a series to a data file",
        lambda r: r.append_series("/a/f.txt", pa.table({"Timestamp": ts(1), "v": [1.0]})),
        InvalidData,
        "/a/f.txt",
    ),
    (
        "writing a table over a series",
        lambda r: r.write_file("/a/s0", b"x", file_type=FILE_TABLE),
        InvalidData,
        "/a/s0",
    ),
    ("remove the root", lambda r: r.remove("/"), InvalidPath, "/"),
]


@pytest.fixture
def base(pond):
    with pond.transaction(["base"]) as tx:
        r = tx.root()
        r.mkdir("/a")
        r.write_file("/a/f.txt", b"hello")
        r.write_file(
            "/a/s0", pa.table({"Timestamp": ts(1, 2), "v": [1.0, 2.0]}), file_type=FILE_SERIES
        )
    return pond


def state(path):
    p = Pond.open(path)
    return p.txn_seq, [(n.path, n.stat().version, n.stat().size) for n in p.root().walk()]


@pytest.mark.parametrize(("label", "action", "error", "where"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_leaves_pond_unchanged(base, label, action, error, where):
    before = state(base.path)
    with pytest.raises(error) as info, base.transaction([label]) as tx:
        action(tx.root())
    assert isinstance(info.value, PondError)
    assert where in str(info.value), str(info.value)
    assert "\n" not in str(info.value)
    assert state(base.path) == before


def test_corrupted_large_file(base):
    with base.transaction(["big"]) as tx:
        tx.root().write_file("/a/big", b"B" * 100_000)
    sha = hashlib.sha256(b"B" * 100_000).hexdigest()
    blob = base.path / "data" / "_large_files" / f"sha256={sha}"
    blob.write_bytes(b"C" * 100_000)
    before = state(base.path)
    with pytest.raises(IntegrityError, match="sha256"):
        Pond.open(base.path).root().resolve("/a/big").read_bytes()
    assert state(base.path) == before


def test_not_a_pond_names_the_path(tmp_path):
    with pytest.raises(NotAPond) as info:
        Pond.open(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)
