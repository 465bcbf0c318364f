"""The campaign's hostile inputs (issue 12), through real ``pond`` processes: every one ends with
its documented exit status (never 70, nor a crash of the process: 134, 139), one line on stderr
naming the file or path and the cause, and the pond unchanged; the inputs that are valid are
stored as they should be. Covers the issue's items 1 (SQL that writes), 3 (template injection),
8 (repeated, empty and nested columns; integers beyond int64; inf), 13 (names), and malformed
files of every kind the campaign fed ``pond copy``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reliability_testlib import ok, ok_main, pond

from duckpond import Pond

pytestmark = pytest.mark.slow

GOOD = b"Timestamp,v\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,2\n"


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _ts(n: int) -> pa.Array:
    return pa.array([i * 3_600_000_000 for i in range(n)], pa.timestamp("us", tz="UTC"))


def _duplicate_columns() -> bytes:
    return _parquet(
        pa.Table.from_arrays(
            [_ts(2), pa.array([1, 2]), pa.array([3, 4])], names=["Timestamp", "v", "v"]
        )
    )


def _nested() -> bytes:
    s = pa.array([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    return _parquet(pa.table({"Timestamp": _ts(2), "s": s}))


def _truncated() -> bytes:
    whole = _parquet(pa.table({"Timestamp": _ts(100), "v": list(range(100))}))
    return whole[: len(whole) // 2]


def _bad_footer() -> bytes:
    whole = bytearray(_parquet(pa.table({"Timestamp": _ts(3), "v": [1, 2, 3]})))
    whole[-8:-4] = (2**31 - 1).to_bytes(4, "little")  # footer length beyond the file
    return bytes(whole)


@dataclass(frozen=True)
class Case:
    id: str
    content: bytes | Callable[[], bytes]
    scheme: str
    code: int
    says: tuple[str, ...] = ()


SERIES = "host+csv+series"
CASES = [
    # item 8: columns
    Case(
        "csv-repeated-column",
        b"timestamp,v,v\n2024-01-01T00:00:00Z,1,2\n",
        SERIES,
        8,
        ("repeated",),
    ),
    Case(
        "csv-empty-column-name", b"timestamp,,v\n2024-01-01T00:00:00Z,1,2\n", SERIES, 8, ("empty",)
    ),
    Case("parquet-repeated-column", _duplicate_columns, "host+series", 8, ("v",)),
    Case("parquet-repeated-column-table", _duplicate_columns, "host+table", 8, ("v",)),
    Case("parquet-nested-series", _nested, "host+series", 8, ("nested",)),
    Case("parquet-nested-table", _nested, "host+table", 8, ("nested",)),
    # malformed files
    Case("empty-file", b"", SERIES, 8, ("empty",)),
    Case("header-only", b"Timestamp,v\n", SERIES, 8, ("no rows",)),
    Case("binary-junk", bytes(range(256)) * 40, SERIES, 8, ()),
    Case("gzip-as-csv", lambda: gzip.compress(GOOD), SERIES, 8, ()),
    Case("nul-bytes", b"Timestamp,v\n2024-01-01T00:00:00Z,1\x00\x00\n", SERIES, 8, ()),
    Case(
        "non-utf8-cells",
        "Timestamp,v\n2024-01-01T00:00:00Z,café\n".encode("latin-1"),
        SERIES,
        8,
        ("UTF-8",),
    ),
    Case(
        "unbalanced-quote",
        b'Timestamp,v\n2024-01-01T00:00:00Z,"1\n2024-01-01T01:00Z,2\n',
        SERIES,
        8,
        (),
    ),
    Case("ragged-rows", b"Timestamp,v\n2024-01-01T00:00:00Z,1,9\n", SERIES, 8, ("fields",)),
    Case("bad-time", b"Timestamp,v\n2024-02-30T00:00:00Z,1\n", SERIES, 8, ("row",)),
    Case("all-null-times", b"Timestamp,v\n,1\n,2\n", SERIES, 8, ()),
    Case("year-99999", b"Timestamp,v\n99999-01-01T00:00:00Z,1\n", SERIES, 8, ()),
    Case("truncated-parquet", _truncated, "host+series", 8, ("Parquet",)),
    Case("bad-footer-parquet", _bad_footer, "host+table", 8, ("Parquet",)),
    Case("csv-as-table", GOOD, "host+table", 8, ("Parquet",)),
    Case(
        "parquet-no-time-column",
        lambda: _parquet(pa.table({"a": [1]})),
        "host+series",
        8,
        ("time column",),
    ),
]
#: Valid, if unusual, inputs: stored, and read back as they were written.
VALID = {
    "bom-crlf": b"\xef\xbb\xbfTimestamp,v\r\n2024-01-01T00:00:00Z,1\r\n2024-01-01T01:00:00Z,2\r\n",
    "int-beyond-int64": b"Timestamp,n\n2024-01-01T00:00:00Z,99999999999999999999\n"
    b"2024-01-01T01:00:00Z,1\n",
    "inf-and-nan": b"Timestamp,v\n2024-01-01T00:00:00Z,inf\n2024-01-01T01:00:00Z,-inf\n"
    b"2024-01-01T02:00:00Z,nan\n",
    "long-field": b"Timestamp,note\n2024-01-01T00:00:00Z," + b"x" * 200_000 + b"\n",
    "wide": b"Timestamp," + b",".join(b"c%d" % i for i in range(2000)) + b"\n"
    b"2024-01-01T00:00:00Z," + b",".join(b"%d" % i for i in range(2000)) + b"\n",
    "mixed-offsets": b"Timestamp,v\n2024-01-01T00:00:00+02:00,1\n2024-01-01T00:00:00Z,2\n",
}


@pytest.fixture(scope="module")
def hostile_pond(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "pond"
    ok_main("init", path)
    good = path.parent / "good.csv"
    good.write_bytes(GOOD)
    ok_main("--pond", path, "copy", f"host+csv+series://{good}", "/s.series")
    ok_main("--pond", path, "mkdir", "/d")
    return path


def _snapshot(path: Path) -> tuple[int, list[tuple[str, int]]]:
    p = Pond.open(path)
    return p.txn_seq, [(n.path, len(n.versions())) for n in p.root().walk()]


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pond: "), stderr
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_file(hostile_pond: Path, case: Case) -> None:
    host = hostile_pond.parent / f"{case.id}.in"
    host.write_bytes(case.content() if callable(case.content) else case.content)
    before = _snapshot(hostile_pond)
    r = pond(hostile_pond, "copy", f"{case.scheme}://{host}", f"/d/{case.id}")
    assert r.returncode == case.code, (r.returncode, r.stderr)
    line = _one_line(r.stderr)
    assert str(host) in line, line
    for text in case.says:
        assert text in line, line
    assert _snapshot(hostile_pond) == before


def test_valid_unusual_files_are_stored_as_written(hostile_pond: Path) -> None:
    ok_main("--pond", hostile_pond, "mkdir", "-p", "/v")
    for name, content in VALID.items():
        host = hostile_pond.parent / f"{name}.csv"
        host.write_bytes(content)
        ok(pond(hostile_pond, "copy", f"{SERIES}://{host}", f"/v/{name}.series"))
    p = Pond.open(hostile_pond)
    read = {n: p.root().resolve(f"/v/{n}.series").read_table() for n in VALID}
    assert read["bom-crlf"].column_names == ["Timestamp", "v"]
    assert read["bom-crlf"].column("v").to_pylist() == [1, 2]
    n = read["int-beyond-int64"].column("n")
    assert pa.types.is_string(n.type) and n.to_pylist() == ["99999999999999999999", "1"]
    v = read["inf-and-nan"].column("v").to_pylist()
    assert v == [float("inf"), float("-inf"), None]  # "nan" is one of pyarrow's null spellings
    assert len(read["long-field"].column("note")[0].as_py()) == 200_000
    assert read["wide"].num_columns == 2001 and read["wide"].column("c1999")[0].as_py() == 1999
    times = read["mixed-offsets"].column("Timestamp").cast(pa.int64()).to_pylist()
    assert times == [1704060000000000, 1704067200000000]
    # JSON has no infinities: JSON output writes them (and NaN) as null, as README.md says;
    # CSV output writes inf and -inf
    out = ok(pond(hostile_pond, "cat", "/v/inf-and-nan.series", "--format", "json"))
    assert [json.loads(line)["v"] for line in out.splitlines()] == [None, None, None]
    out = ok(pond(hostile_pond, "cat", "/v/inf-and-nan.series", "--format", "csv"))
    assert [line.rsplit(",", 1)[1] for line in out.splitlines()[1:]] == ["inf", "-inf", ""]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("COPY (SELECT * FROM source) TO '{dir}/written.csv'", "read-only"),
        ("CREATE TABLE t AS SELECT * FROM source", "read-only"),
        ("SET datafusion.execution.batch_size = 1", "read-only"),
        ("INSERT INTO source SELECT * FROM source", "DML"),
    ],
    ids=["copy-to", "create-table", "set", "insert"],
)
def test_sql_that_would_write_is_refused(hostile_pond: Path, query: str, says: str) -> None:
    before = _snapshot(hostile_pond)
    listing = sorted(os.listdir(hostile_pond.parent))
    sql = query.replace("{dir}", str(hostile_pond.parent))
    r = pond(hostile_pond, "cat", "/s.series", "--at-txn", "2", "--sql", sql)
    assert r.returncode == 8, r.stderr
    assert says in _one_line(r.stderr)
    assert sorted(os.listdir(hostile_pond.parent)) == listing
    assert _snapshot(hostile_pond) == before


def test_a_template_cannot_run_commands(hostile_pond: Path) -> None:
    marker = hostile_pond.parent / "ran"
    pipeline = hostile_pond.parent / "hostile.yaml"
    pipeline.write_text(
        "kind: mkdir\n"
        f"path: /{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}x\n"
    )
    before = _snapshot(hostile_pond)
    r = pond(hostile_pond, "apply", "-f", pipeline)
    assert r.returncode == 2, r.stderr
    _one_line(r.stderr)
    assert not marker.exists()
    assert _snapshot(hostile_pond) == before
