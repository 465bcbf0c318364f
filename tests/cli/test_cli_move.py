"""``pond mv`` never changes content (issue 12, defect 5), through ``python -m duckpond``.

The reported sequence ``pond mv /a/s.series /b/ && pond mv /b/s.series /a/`` doubled every row
and showed ``v1, v1``. Every ``pond mv`` runs in its own process; the other commands run
in-process (``run_cli``: the same ``main``, faster on a loaded machine). Expected aggregates are
computed from the CSV files with the csv module, not by the pond.
"""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path

import cli_testlib
import pyarrow.parquet as pq
import pytest
from cli_testlib import DATA, RunCli, pond_subprocess

run_cli = cli_testlib.run_cli
pond_dir = cli_testlib.pond_dir

MARCH = DATA / "laketech_sample" / "JFK_2013-03.csv"  # long format: one row per parameter
NOVEMBER = DATA / "laketech_sample" / "JFK_2013-11.csv"
B01 = DATA / "laketech_sample" / "B01_2016-10.csv"

AGG = (
    'SELECT count(*) AS n, count("Value") AS k, sum("Value") AS s, min("Value") AS lo, '
    'max("Value") AS hi FROM source'
)


def expected(*files: Path) -> tuple[int, int, float, float, float]:
    """(rows, non-empty values, sum, min, max) of the Value column of the CSV files."""
    rows, values = 0, []
    for f in files:
        with f.open(newline="") as fh:
            for row in csv.DictReader(fh):
                rows += 1
                if row["Value"].strip():
                    values.append(float(row["Value"]))
    return rows, len(values), math.fsum(values), min(values), max(values)


@pytest.fixture
def pond(pond_dir: Path, run_cli: RunCli):
    """Run a pond command, check its exit status, return its stdout (``mv``: a real process)."""

    def run(*argv: str | os.PathLike[str], code: int = 0) -> str:
        if argv[0] == "mv":
            r = pond_subprocess(*argv, env={"POND": str(pond_dir)})
            assert (r.returncode, r.stderr) == (code, b""), (argv, r.stderr.decode())
            return r.stdout.decode()
        res = run_cli(*argv)
        assert res.code == code, (argv, res.err)
        return res.text

    return run


def aggregates(run, path: str, *at: str) -> tuple[int, int, float, float, float]:
    out = run("cat", *at, path, "--sql", AGG, "--format", "csv").splitlines()
    assert out[0] == '"n","k","s","lo","hi"'
    n, k, s, lo, hi = out[1].split(",")
    return int(n), int(k), float(s), float(lo), float(hi)


def same(got: tuple[int, int, float, float, float], want: tuple[int, int, float, float, float]):
    return got[:2] == want[:2] and all(
        math.isclose(g, w, rel_tol=1e-12) for g, w in zip(got[2:], want[2:], strict=True)
    )


def versions(run, path: str, *at: str) -> str:
    [line] = [x for x in run("describe", *at, path).splitlines() if x.startswith("  versions")]
    return line.split(None, 1)[1]


def txn_block(show: str, seq: int) -> list[str]:
    """The lines of ``pond show`` for transaction ``seq`` (time stamps left out)."""
    out, inside = [], False
    for line in show.splitlines():
        if line.startswith("txn "):
            inside = line.startswith(f"txn {seq} ")
            line = re.sub(r"\S+Z", "", line) if inside else line
        if inside:
            out.append(line)
    return out


def test_away_and_back_keeps_rows_versions_and_history(pond) -> None:
    pond("mkdir", "/a", "/b")  # txn 2
    pond("copy", f"host+csv+series://{MARCH}", "/a/s.series")  # txn 3
    want = expected(MARCH)
    before = pond("show")
    assert same(aggregates(pond, "/a/s.series"), want)
    pond("mv", "/a/s.series", "/b/")  # txn 4
    assert same(aggregates(pond, "/b/s.series"), want)
    pond("mv", "/b/s.series", "/a/")  # txn 5
    assert same(aggregates(pond, "/a/s.series"), want)  # was every row twice
    assert versions(pond, "/a/s.series") == "1 (txn 3)"
    after = pond("show")
    assert txn_block(after, 3) == txn_block(before, 3)  # the copy's transaction is unchanged
    for seq in (4, 5):  # a move writes the two directories' snapshots and nothing else
        lines = txn_block(after, seq)[1:]
        assert sorted(x.split()[0] for x in lines) == ["dir:physical", "dir:physical"], lines
    # time travel: before, between and after the moves
    assert same(aggregates(pond, "/a/s.series", "--at-txn", "3"), want)
    assert same(aggregates(pond, "/b/s.series", "--at-txn", "4"), want)
    assert versions(pond, "/b/s.series", "--at-txn", "4") == "1 (txn 3)"
    pond("cat", "--at-txn", "4", "/a/s.series", code=3)  # not there then
    pond("maintain", "--verify")
    assert same(aggregates(pond, "/a/s.series"), want)
    assert versions(pond, "/a/s.series") == "1 (txn 3)"


def test_append_after_a_move_then_move_back(pond, tmp_path: Path) -> None:
    pond("mkdir", "/a", "/b")  # txn 2
    pond("copy", f"host+csv+series://{MARCH}", "/a/s.series")  # txn 3
    pond("mv", "/a/s.series", "/b/")  # txn 4
    pond("copy", f"host+csv+series://{NOVEMBER}", "/b/s.series")  # txn 5: appends v2
    pond("mv", "/b/s.series", "/a/")  # txn 6
    both = expected(MARCH, NOVEMBER)
    assert same(aggregates(pond, "/a/s.series"), both)
    assert versions(pond, "/a/s.series") == "2 (txns 3..5)"
    assert same(aggregates(pond, "/b/s.series", "--at-txn", "4"), expected(MARCH))
    assert same(aggregates(pond, "/b/s.series", "--at-txn", "5"), both)
    show = pond("show")
    assert [x.split()[:2] for x in txn_block(show, 5)[1:]] == [["file:series", "v2"]]
    # the mirror finds the versions in the series' home partition
    mirror = tmp_path / "mirror"
    pond("mirror", "sync", mirror)
    assert pq.read_table(mirror / "a" / "s.series").num_rows == both[0]


def test_a_moved_directory_keeps_its_children(pond) -> None:
    pond("mkdir", "-p", "/site/raw", "/archive")  # txn 2
    pond("copy", f"host+csv+series://{B01}", "/site/raw/b01.series")  # txn 3
    pond("mv", "/site", "/archive/")  # txn 4: the directory moves, its child with it
    pond("copy", f"host+csv+series://{MARCH}", "/archive/site/raw/b01.series")  # txn 5
    pond("mv", "/archive/site/raw", "/raw")  # txn 6
    pond("mv", "/raw/b01.series", "/archive/b01.series")  # txn 7: the file out of it
    pond("mv", "/archive/b01.series", "/raw/")  # txn 8: and back to its home directory
    both = expected(B01, MARCH)
    assert same(aggregates(pond, "/raw/b01.series"), both)
    assert versions(pond, "/raw/b01.series") == "2 (txns 3..5)"
    assert same(aggregates(pond, "/archive/b01.series", "--at-txn", "7"), both)
    assert same(aggregates(pond, "/site/raw/b01.series", "--at-txn", "3"), expected(B01))
    assert same(aggregates(pond, "/archive/site/raw/b01.series", "--at-txn", "5"), both)
    assert same(aggregates(pond, "/raw/b01.series", "--at-txn", "6"), both)
    pond("maintain", "--verify")
    assert same(aggregates(pond, "/raw/b01.series"), both)
