"""Hostile input: every case exits with its documented status, prints exactly one line on stderr
(``pond: ...`` naming the path or the cause) and leaves the pond unchanged (same last txn_seq,
same paths, types and versions)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cli_testlib
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_testlib import RunCli, snapshot

from duckpond.steward.pond import Pond

CSV = "Timestamp,v\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,2\n"

run_cli = cli_testlib.run_cli
pond_dir = cli_testlib.pond_dir


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    code: int
    says: tuple[str, ...]  # substrings the one stderr line must hold ({host} = host folder)


CASES = [
    # globs and paths
    Case("unclosed-bracket", ("list", "[abc"), 2, ("[abc", "unclosed")),
    Case("glob-above-root", ("list", "/../*"), 2, ("/../*", "above the root")),
    Case("dotdot-cat", ("cat", "/../../etc/passwd"), 3, ("/etc", "no such file")),
    Case("dotdot-copy-out", ("copy", "/d/../../*", "host://{host}/out"), 2, ("above the root",)),
    Case("symlink-loop-cat", ("cat", "/loop1"), 3, ("/loop", "too many levels")),
    Case("symlink-loop-list", ("list", "/loop1/"), 3, ("/loop", "too many levels")),
    Case("symlink-loop-describe", ("describe", "/loop2"), 3, ("/loop", "too many levels")),
    Case("missing-path", ("cat", "/nope.txt"), 3, ("/nope.txt", "no such file")),
    Case("cat-directory", ("cat", "/d"), 3, ("/d", "is a directory")),
    Case("list-file-as-dir", ("list", "/f.txt/"), 3, ("/f.txt", "not a directory")),
    Case("missing-parent", ("mkdir", "/no/such"), 3, ("/no", "no such file")),
    Case("mkdir-existing", ("mkdir", "/d"), 4, ("/d", "already exists")),
    Case("rm-nonempty", ("rm", "/d"), 4, ("/d", "not empty", "rm -r")),
    Case("rm-root", ("rm", "-r", "/"), 2, ("/", "root")),
    Case("rm-glob-no-match", ("rm", "/zz*"), 3, ("/zz*", "no match")),
    Case("mv-missing", ("mv", "/ghost", "/g2"), 3, ("/ghost", "no such file")),
    Case("mv-dir-into-itself", ("mv", "/d", "/d/sub"), 2, ("/d/sub", "into itself")),
    # host sources
    Case("missing-host-file", ("copy", "{host}/absent.csv", "/x"), 3, ("absent.csv", "host")),
    Case("unknown-scheme", ("copy", "ftp://x/y", "/x"), 2, ("ftp://", "unknown source scheme")),
    Case(
        "bad-timestamps",
        ("copy", "host+csv+series://{host}/badtime.csv", "/x"),
        8,
        ("badtime.csv", "bad time", "row 2"),
    ),
    Case(
        "ragged-rows",
        ("copy", "host+csv+series://{host}/ragged.csv", "/x"),
        8,
        ("ragged.csv", "expected 2 fields, got 3"),
    ),
    Case(
        "empty-csv",
        ("copy", "host+csv+series://{host}/empty.csv", "/x"),
        8,
        ("empty.csv", "empty file"),
    ),
    Case(
        "header-only-csv",
        ("copy", "host+csv+series://{host}/header.csv", "/x"),
        8,
        ("header.csv", "no rows"),
    ),
    Case(
        "no-time-column",
        ("copy", "host+csv+series://{host}/notime.csv", "/x"),
        8,
        ("notime.csv", "no time column"),
    ),
    Case(
        "missing-time-column",
        ("copy", "--time-column", "when", "host+csv+series://{host}/good.csv", "/x"),
        8,
        ("good.csv", "'when' not found"),
    ),
    Case(
        "unknown-tz",
        ("copy", "--tz", "Mars/Olympus", "host+csv+series://{host}/good.csv", "/x"),
        8,
        ("good.csv", "unknown time zone"),
    ),
    Case(
        "binary-as-csv",
        ("copy", "host+csv+series://{host}/junk.bin", "/x"),
        8,
        ("junk.bin", "binary"),
    ),
    Case(
        "non-utf8-csv",
        ("copy", "host+csv+series://{host}/latin1.csv", "/x"),
        8,
        ("latin1.csv", "UTF-8"),
    ),
    Case(
        "junk-as-table",
        ("copy", "host+table://{host}/junk.bin", "/x"),
        8,
        ("junk.bin", "not a valid Parquet file"),
    ),
    Case(
        "empty-as-table",
        ("copy", "host+table://{host}/empty.csv", "/x"),
        8,
        ("empty.csv", "Parquet"),
    ),
    Case(
        "junk-as-series",
        ("copy", "host+series://{host}/junk.bin", "/x"),
        8,
        ("junk.bin", "Parquet"),
    ),
    Case(
        "table-without-time-as-series",
        ("copy", "host+series://{host}/t.parquet", "/x"),
        8,
        ("{host}/t.parquet", "no time column"),
    ),
    Case(
        "data-onto-series",
        ("copy", "{host}/good.csv", "/s.series"),
        8,
        ("/s.series", "not a file:data"),
    ),
    Case(
        "several-into-file",
        ("copy", "{host}/good.csv", "{host}/empty.csv", "/f.txt"),
        3,
        ("/f.txt", "not a directory"),
    ),
    Case("tz-on-data", ("copy", "--tz", "UTC", "{host}/good.csv", "/x"), 2, ("--tz",)),
    Case("at-txn-on-copy-in", ("copy", "--at-txn", "1", "{host}/good.csv", "/x"), 2, ("--at-txn",)),
    Case(
        "strip-prefix-mismatch",
        ("copy", "/d/*", "host://{host}/o", "--strip-prefix", "/q"),
        2,
        ("/d/e.txt", "--strip-prefix /q"),
    ),
    Case("copy-out-no-match", ("copy", "/zz*", "host://{host}/o"), 3, ("/zz*", "no match")),
    # queries and formats
    Case("unknown-format", ("cat", "/s.series", "--format", "xml"), 2, ("--format", "xml")),
    Case(
        "sql-syntax",
        ("cat", "/s.series", "--sql", "SELEC * FROM source"),
        8,
        ("/s.series", "SELEC"),
    ),
    Case(
        "sql-unknown-column",
        ("cat", "/s.series", "--sql", "SELECT nope FROM source"),
        8,
        ("/s.series", "nope"),
    ),
    Case("sql-on-data-file", ("cat", "/f.txt", "--sql", "SELECT 1"), 8, ("/f.txt", "file:data")),
    # SQL may only read: no file written, no table created, no setting changed
    Case(
        "sql-copy-to-host",
        ("cat", "/s.series", "--sql", "COPY (SELECT * FROM source) TO '{host}/written.csv'"),
        8,
        ("/s.series", "read-only", "COPY"),
    ),
    Case(
        "sql-copy-into-pond-log",
        ("cat", "/s.series", "--at-txn", "6", "--sql", "COPY (SELECT 1) TO '{pond}/data/x.json'"),
        8,
        ("/s.series", "read-only"),
    ),
    Case(
        "sql-create-table",
        ("cat", "/s.series", "--sql", "CREATE TABLE t AS SELECT * FROM source"),
        8,
        ("/s.series", "read-only", "DDL"),
    ),
    Case(
        "sql-create-external",
        ("cat", "/s.series", "--sql", "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc'"),
        8,
        ("read-only",),
    ),
    Case(
        "sql-set",
        ("cat", "/s.series", "--sql", "SET datafusion.execution.batch_size = 1"),
        8,
        ("read-only", "statement"),
    ),
    Case(
        "sql-insert",
        ("cat", "/s.series", "--sql", "INSERT INTO source SELECT * FROM source"),
        8,
        ("DML",),
    ),
    Case("format-on-data-file", ("cat", "/f.txt", "--format", "csv"), 2, ("/f.txt", "csv://")),
    Case("csv-scheme-on-series", ("cat", "csv:///s.series"), 8, ("/s.series", "data file")),
    Case("csv-scheme-on-binary", ("cat", "csv:///junk"), 8, ("/junk", "binary")),
    # the pond itself and the command line
    Case("at-txn-never", ("list", "--at-txn", "99"), 3, ("transaction 99",)),
    Case("at-txn-zero", ("list", "--at-txn", "0"), 2, ("--at-txn", "1 or more")),
    Case("unknown-command", ("lst",), 2, ("unknown command", "lst", "did you mean 'list'")),
    Case("missing-argument", ("mv", "/d"), 2, ("dst",)),
    Case("init-existing", ("init",), 4, ("already holds a pond",)),
]


@pytest.fixture
def setup(pond_dir: Path, tmp_path: Path, run_cli: RunCli) -> Path:
    """The pond of every case: /d (with /d/e.txt), /f.txt, /s.series, /junk, /loop1 <-> /loop2."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "good.csv").write_text(CSV)
    (host / "badtime.csv").write_text("Timestamp,v\n2024-01-01T00:00:00Z,1\n2024-13-45T99:00,2\n")
    (host / "ragged.csv").write_text("Timestamp,v\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00Z,2,3\n")
    (host / "empty.csv").write_bytes(b"")
    (host / "header.csv").write_text("Timestamp,v\n")
    (host / "notime.csv").write_text("a,b\n1,2\n")
    (host / "latin1.csv").write_bytes(
        "Timestamp,v\n2024-01-01T00:00:00Z,caf\xe9\n".encode("latin-1")
    )
    (host / "junk.bin").write_bytes(b"PAR1\x00\xff\x13binary junk\x00" * 50)
    pq.write_table(pa.table({"a": [1, 2]}), host / "t.parquet")
    for argv in (
        ("mkdir", "/d"),
        ("copy", host / "good.csv", "/d/e.txt"),
        ("copy", host / "good.csv", "/f.txt"),
        ("copy", host / "junk.bin", "/junk"),
        ("copy", f"host+csv+series://{host / 'good.csv'}", "/s.series"),
    ):
        assert run_cli(*argv).code == 0
    with Pond.open(pond_dir).transaction(["test setup: symlinks"]) as tx:
        tx.root().symlink("/loop1", "/loop2")
        tx.root().symlink("/loop2", "/loop1")
    return host


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile(case: Case, setup: Path, pond_dir: Path, run_cli: RunCli) -> None:
    before = snapshot(pond_dir)
    argv = [a.replace("{host}", str(setup)).replace("{pond}", str(pond_dir)) for a in case.argv]
    host_files = sorted(p.name for p in setup.iterdir())
    r = run_cli(*argv)
    assert sorted(p.name for p in setup.iterdir()) == host_files  # nothing written on the host
    assert r.code == case.code, (r.code, r.err)
    assert len(r.err_lines) == 1, r.err
    line = r.err_lines[0]
    assert line.startswith("pond: ")
    for text in case.says:
        assert text.replace("{host}", str(setup)) in line, line
    assert "Traceback" not in r.err
    assert r.out == b""
    assert snapshot(pond_dir) == before


def test_enough_hostile_cases() -> None:
    assert len(CASES) >= 25


def test_missing_pond_and_not_a_pond(tmp_path: Path, run_cli: RunCli, monkeypatch) -> None:
    monkeypatch.delenv("POND", raising=False)
    r = run_cli("list")
    assert (r.code, r.err_lines) == (2, ["pond: no pond given: use --pond PATH or set POND"])
    r = run_cli("--pond", tmp_path / "absent", "list")
    assert r.code == 5 and len(r.err_lines) == 1 and "absent: not a pond" in r.err
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "file.txt").write_text("x")
    r = run_cli("--pond", tmp_path / "stuff", "mkdir", "/a")
    assert r.code == 5 and len(r.err_lines) == 1 and "stuff: not a pond" in r.err
    r = run_cli("init", tmp_path / "stuff")
    assert r.code == 4 and len(r.err_lines) == 1 and "already holds files" in r.err
    assert sorted(p.name for p in (tmp_path / "stuff").iterdir()) == ["file.txt"]


def test_failed_copy_commits_nothing_even_after_partial_work(
    setup: Path, pond_dir: Path, run_cli: RunCli
) -> None:
    """Three sources, the last one bad: the first two are not copied either."""
    run_cli("mkdir", "/in")
    before = snapshot(pond_dir)
    r = run_cli("copy", setup / "good.csv", setup / "t.parquet", setup / "absent", "/in")
    assert r.code == 3 and len(r.err_lines) == 1
    r = run_cli(
        "copy",
        f"host+csv+series://{setup / 'good.csv'}",
        f"host+csv+series://{setup / 'ragged.csv'}",
        "/in",
    )
    assert r.code == 8 and len(r.err_lines) == 1 and "ragged.csv" in r.err
    assert snapshot(pond_dir) == before
    assert run_cli("list", "/in/").out == b""
    log = run_cli("log").text.splitlines()
    assert "failed" in log[-1] and "ragged.csv" in log[-1]
