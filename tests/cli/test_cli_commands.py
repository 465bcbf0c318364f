"""Each ``pond`` command in-process through ``main(argv)``: what it prints and what it changes."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import cli_testlib
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_testlib import B01_CSV, JFK_CSV, RunCli, snapshot

from duckpond.cli.commands import COMMANDS
from duckpond.cli.parser import build_parser, command_of
from duckpond.steward.pond import Pond

run_cli = cli_testlib.run_cli
pond_dir = cli_testlib.pond_dir


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


CSV_A = "Timestamp,Temp.C\n2024-01-01T00:00:00Z,1.5\n2024-01-01T01:00:00Z,2.5\n"
CSV_B = "Timestamp,Temp.C\n2024-01-02T00:00:00Z,3.5\n"


def test_help_and_version(run_cli: RunCli) -> None:
    r = run_cli("--help")
    assert r.code == 0
    for name in ("init", "copy", "list", "cat", "describe", "maintain", "exit status"):
        assert name in r.text
    r = run_cli("--version")
    assert r.code == 0 and r.text.startswith("pond (duckpond) ")
    for command in ("copy", "cat", "list", "log"):
        r = run_cli(command, "--help")
        assert r.code == 0 and "--pond" in r.text


@pytest.mark.parametrize("module", COMMANDS)
def test_a_command_line_builds_only_its_command_and_parses_the_same(module: str) -> None:
    """The parser built for one command line has that command only, and its help, options and
    defaults are the whole tree's (so nothing but start-up time differs)."""
    name = module.replace("_", "-")
    argv = ["--pond", "/p", "-v", name, "--help"]
    assert command_of(argv) == module
    one, whole = build_parser(argv), build_parser()
    (sub_one,) = [a for a in one._actions if isinstance(a, argparse._SubParsersAction)]
    (sub_all,) = [a for a in whole._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub_one.choices) == [name]
    assert len(sub_all.choices) == len(COMMANDS)
    assert sub_one.choices[name].format_help() == sub_all.choices[name].format_help()
    defaults = [(a.dest, a.default) for a in sub_one.choices[name]._actions]
    assert defaults == [(a.dest, a.default) for a in sub_all.choices[name]._actions]


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["cat", "/x"], "cat"),
        (["--pond=/p", "--color", "never", "-vv", "rm-rows", "/s"], "rm_rows"),
        (["-q", "list-factories"], "list_factories"),
        (["--help"], None),  # the whole tree's help
        (["--po", "/p", "cat"], None),  # an abbreviation: argparse decides
        (["rm_rows", "/s"], None),  # not a command's name (argparse says so)
        (["lst"], None),  # a typo: the whole tree, for "did you mean"
        ([], None),
    ],
)
def test_the_command_of_a_line(argv: list[str], module: str | None) -> None:
    assert command_of(argv) == module


def test_a_mistyped_option_of_a_command_still_gets_did_you_mean(run_cli: RunCli) -> None:
    r = run_cli("cat", "/x", "--formt", "csv")
    assert r.code == 2
    assert "did you mean '--format'" in r.err


def test_init_mkdir_list(pond_dir: Path, run_cli: RunCli) -> None:
    assert run_cli("mkdir", "/a").code == 0
    assert run_cli("mkdir", "-p", "/a/b/c", "/d").code == 0
    assert run_cli("mkdir", "-p", "/a/b").code == 0  # exists: fine with -p
    assert run_cli("list").text.splitlines() == ["/a", "/a/b", "/a/b/c", "/d"]
    assert run_cli("list", "/").text.splitlines() == ["/a", "/d"]
    assert run_cli("list", "/a/").text.splitlines() == ["/a/b"]
    assert run_cli("list", "/a").text.splitlines() == ["/a"]
    assert run_cli("list", "/a/**").text.splitlines() == ["/a", "/a/b", "/a/b/c"]
    assert run_cli("list", "/zz*").text == ""  # a glob matching nothing is not an error
    long = run_cli("list", "-l", "/a").text.split()
    assert long[0] == "dir:physical" and long[-1] == "/a" and long[3].endswith("Z")


def test_hidden_names(pond_dir: Path, run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("mkdir", "/d", "/.hidden")
    assert run_cli("list", "/").text.splitlines() == ["/d"]
    assert run_cli("list", "-a", "/").text.splitlines() == ["/.hidden", "/d"]


def test_copy_data_file_round_trip_and_versions(
    pond_dir: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    small = write_csv(tmp_path / "notes.txt", "hello\n")
    assert run_cli("copy", small, "/notes.txt").code == 0
    # a large file (>= 64 KiB) is streamed into _large_files; byte for byte on the way out
    assert run_cli("copy", f"host://{JFK_CSV}", "/jfk.csv").code == 0
    assert run_cli("cat", "/jfk.csv").out == JFK_CSV.read_bytes()
    assert run_cli("cat", "/notes.txt").out == b"hello\n"
    small.write_text("hello again\n")
    assert run_cli("copy", small, "/notes.txt").code == 0  # new version
    assert run_cli("cat", "/notes.txt").out == b"hello again\n"
    seq = Pond.open(pond_dir).txn_seq
    assert run_cli("cat", "--at-txn", str(seq - 1), "/notes.txt").out == b"hello\n"
    desc = run_cli("describe", "/notes.txt").text
    assert "file:data" in desc and "versions    2" in desc and "sha256" in desc


def test_copy_several_sources_and_folders(pond_dir: Path, run_cli: RunCli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    other = write_csv(tmp_path / "c.txt", "c")
    run_cli("mkdir", "/in")
    assert run_cli("copy", src, other, "/in").code == 0
    assert run_cli("list", "/in/**").text.splitlines() == [
        "/in",
        "/in/c.txt",
        "/in/src",
        "/in/src/a.txt",
        "/in/src/sub",
        "/in/src/sub/b.txt",
    ]
    # a folder onto a new name becomes that directory
    assert run_cli("copy", src, "/copy").code == 0
    assert run_cli("list", "/copy/**/*.txt").text.splitlines() == ["/copy/a.txt", "/copy/sub/b.txt"]
    assert run_cli("cat", "/copy/sub/b.txt").out == b"b"
    # one transaction per copy
    log = run_cli("log").text.splitlines()
    assert len(log) == 4 and "copy" in log[-1]


def test_csv_series_append_sql_and_time_travel(
    pond_dir: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    a = write_csv(tmp_path / "a.csv", CSV_A)
    b = write_csv(tmp_path / "b.csv", CSV_B)
    assert run_cli("copy", f"host+csv+series://{a}", "/t.series").code == 0
    assert run_cli("copy", f"host+csv+series://{b}", "/t.series").code == 0  # appended
    r = run_cli(
        "cat",
        "/t.series",
        "--sql",
        'SELECT count(*) AS n, sum("Temp.C") AS s FROM source',
        "--format",
        "csv",
    )
    assert r.code == 0, r.err
    assert r.text.splitlines()[1] == "3,7.5"
    first = Pond.open(pond_dir).txn_seq - 1
    r = run_cli("cat", "/t.series", "--at-txn", str(first), "--format", "json")
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert rows == [
        {"Timestamp": "2024-01-01T00:00:00Z", "Temp.C": 1.5},
        {"Timestamp": "2024-01-01T01:00:00Z", "Temp.C": 2.5},
    ]
    # parquet is the default when stdout is not a terminal
    table = pq.read_table(io.BytesIO(run_cli("cat", "/t.series").out))
    assert table.num_rows == 3
    assert table.schema.field("Timestamp").type == pa.timestamp("us", tz="UTC")
    desc = run_cli("describe", "/t.series").text
    assert "time column Timestamp" in desc
    assert "2024-01-01T00:00:00Z .. 2024-01-02T00:00:00Z" in desc
    assert "rows        3 (v1: 2, v2: 1)" in desc


def test_csv_tz_and_time_column(pond_dir: Path, run_cli: RunCli, tmp_path: Path) -> None:
    local = write_csv(tmp_path / "l.csv", "when,v\n2024-07-01 12:00,1\n")
    r = run_cli(
        "copy",
        "--time-column",
        "when",
        "--tz",
        "America/New_York",
        f"host+csv+series://{local}",
        "/l.series",
    )
    assert r.code == 0, r.err
    r = run_cli("cat", "/l.series", "--format", "json")
    assert json.loads(r.text)["when"] == "2024-07-01T16:00:00Z"  # EDT is UTC-4


def test_table_and_parquet_series(pond_dir: Path, run_cli: RunCli, tmp_path: Path) -> None:
    t = pa.table({"site": ["a", "b"], "depth": [1.0, 2.0]})
    pq.write_table(t, tmp_path / "t.parquet")
    s = pa.table({"ts": pa.array([0, 1_000_000], pa.timestamp("us")), "v": [1, 2]})
    pq.write_table(s, tmp_path / "s.parquet")
    assert run_cli("copy", f"host+table://{tmp_path / 't.parquet'}", "/t.table").code == 0
    assert run_cli("copy", f"host+series://{tmp_path / 's.parquet'}", "/s.series").code == 0
    r = run_cli("cat", "/t.table", "--format", "csv")
    assert r.text.splitlines() == ['"site","depth"', '"a",1', '"b",2']
    r = run_cli("cat", "/s.series", "--sql", "SELECT max(v) AS m FROM source", "--format", "json")
    assert json.loads(r.text) == {"m": 2}
    listing = run_cli("list", "-l").text
    assert "file:table" in listing and "file:series" in listing


def test_csv_scheme_casts_a_data_file(pond_dir: Path, run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("copy", write_csv(tmp_path / "raw.csv", CSV_A), "/raw.csv")
    r = run_cli(
        "cat",
        "csv:///raw.csv",
        "--sql",
        'SELECT avg("Temp.C") AS a FROM source',
        "--format",
        "json",
    )
    assert r.code == 0, r.err
    assert json.loads(r.text) == {"a": 2.0}
    assert run_cli("cat", "csv:///raw.csv", "--format", "csv").text.startswith('"Timestamp"')


def test_copy_out(pond_dir: Path, run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("mkdir", "-p", "/site/raw")
    run_cli("copy", f"host+csv+series://{B01_CSV}", "/site/raw/b01.series")
    run_cli("copy", f"host+csv+series://{write_csv(tmp_path / 'x.csv', CSV_A)}", "/site/x.series")
    run_cli("copy", f"host+csv+series://{write_csv(tmp_path / 'y.csv', CSV_B)}", "/site/x.series")
    run_cli("copy", JFK_CSV, "/site/raw/jfk.csv")
    out = tmp_path / "out"
    r = run_cli("copy", "/site/**/*.series", f"host://{out}", "--strip-prefix", "/site")
    assert r.code == 0, r.err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "raw/b01.series",
        "x.series",
    ]
    assert pq.read_table(out / "raw" / "b01.series").num_rows == 19225
    assert pq.read_table(out / "x.series").num_rows == 3  # the union of both versions
    # a directory match copies its files, at their full pond paths without --strip-prefix
    out2 = tmp_path / "out2"
    assert run_cli("copy", "/site/raw", f"host://{out2}").code == 0
    assert (out2 / "site" / "raw" / "jfk.csv").read_bytes() == JFK_CSV.read_bytes()


def test_rm_mv(pond_dir: Path, run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("mkdir", "-p", "/a/b", "/c")
    run_cli("copy", write_csv(tmp_path / "f.txt", "x"), "/a/b/f.txt")
    assert run_cli("mv", "/a/b/f.txt", "/c").code == 0
    assert run_cli("list", "/c/").text.splitlines() == ["/c/f.txt"]
    assert run_cli("mv", "/c/f.txt", "/c/g.txt").code == 0
    assert run_cli("cat", "/c/g.txt").out == b"x"
    assert run_cli("rm", "-r", "/a").code == 0
    assert run_cli("rm", "/c/*.txt").code == 0
    assert run_cli("list").text.splitlines() == ["/c"]
    # history is kept: the file is still readable as of an earlier transaction
    seq = Pond.open(pond_dir).txn_seq
    assert run_cli("cat", "--at-txn", str(seq - 1), "/c/g.txt").out == b"x"


def test_log_show_status_recover_maintain(pond_dir: Path, run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("mkdir", "/d")
    run_cli("copy", write_csv(tmp_path / "f.txt", "x"), "/d/f.txt")
    log = run_cli("log").text.splitlines()
    assert [line.split()[0] for line in log] == ["1", "2", "3"]
    assert "committed" in log[2] and log[2].endswith(f"copy {tmp_path / 'f.txt'} /d/f.txt")
    assert len(run_cli("log", "--at-txn", "2").text.splitlines()) == 2
    show = run_cli("show").text
    assert "txn 3" in show and "file:data" in show and "/d/f.txt" in show
    assert "/d/f.txt" not in run_cli("show", "--txn", "2").text
    status = run_cli("status").text
    assert f"pond:         {pond_dir}" in status
    assert "last txn:     3" in status and "pending:      0" in status
    assert run_cli("recover").text == "nothing to recover\n"
    r = run_cli("maintain")
    assert r.code == 0 and "checkpoint" in r.text
    assert snapshot(pond_dir)[0] == 3
    assert run_cli("cat", "/d/f.txt").out == b"x"


def test_pond_option_before_or_after_command(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POND", raising=False)
    p = tmp_path / "p"
    assert run_cli("init", p).code == 0
    assert run_cli("--pond", p, "mkdir", "/x").code == 0
    assert run_cli("list", "--pond", p).text == "/x\n"
    assert run_cli("log", f"--pond={p}").text.splitlines()[-1].endswith("mkdir /x")


def test_internal_error_is_one_line(
    pond_dir: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from duckpond.cli.commands import status

    def boom(args: object) -> int:
        raise KeyError("surprise")

    monkeypatch.setattr(status, "run", boom)
    r = run_cli("status")
    assert r.code == 70
    assert r.err_lines == [
        "pond: internal error: KeyError: 'surprise' (set DUCKPOND_LOG=debug for a traceback)"
    ]
    monkeypatch.setenv("DUCKPOND_LOG", "debug")
    r = run_cli("status")
    assert r.code == 70 and "Traceback" in r.err and r.err_lines[-1].startswith("pond: internal")


def test_debug_log_shows_traceback_for_user_errors(
    pond_dir: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUCKPOND_LOG", "debug")
    r = run_cli("cat", "/missing")
    assert r.code == 3 and "Traceback" in r.err
    assert r.err_lines[-1] == "pond: /missing: no such file or directory"


def test_table_format_shows_head_tail_and_count(pond_dir: Path, run_cli: RunCli) -> None:
    run_cli("copy", f"host+csv+series://{JFK_CSV}", "/jfk.series")
    r = run_cli("cat", "/jfk.series", "--format", "table")
    assert r.code == 0, r.err
    assert "8706 rows × 10 columns" in r.text
    assert "timestamp[us, tz=UTC]" in r.text
    assert "2013-01-01T06:00:00Z" in r.text and "2013-12-30T23:00:00Z" in r.text
    assert "2013-06-01" not in r.text  # the middle is elided


def test_big_copy_is_quiet_when_not_a_terminal(
    pond_dir: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (9 * 4096))  # 9 MiB: a progress bar on a terminal
    r = run_cli("copy", big, "/big.bin")
    assert (r.code, r.out, r.err) == (0, b"", "")
    assert run_cli("cat", "/big.bin").out == big.read_bytes()


def test_log_shows_no_sequence_number_for_transactions_that_wrote_nothing(tmp_path, capsys) -> None:
    from duckpond.cli.main import main

    p = str(tmp_path / "p")
    assert main(["--pond", p, "init"]) == 0
    assert main(["--pond", p, "mkdir", "/a"]) == 0
    assert main(["--pond", p, "mkdir", "/a"]) == 4  # failed: exists
    assert main(["--pond", p, "mkdir", "-p", "/a"]) == 0  # nothing to write: completed
    assert main(["--pond", p, "mkdir", "/b"]) == 0
    capsys.readouterr()
    assert main(["--pond", p, "log"]) == 0
    seqs = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert seqs == ["1", "2", "-", "-", "3"]


def test_parquet_output_regroups_batches_by_rows_and_bytes() -> None:
    """``pond cat --format parquet`` writes row groups of ``rows`` rows whatever the batches'
    sizes, fewer where wide rows reach the byte bound, and nothing for no rows."""
    from duckpond.cli.commands.cat import row_groups

    schema = pa.schema([("i", pa.int64())])
    sizes = [3, 0, 5, 1, 9, 2]
    batches = []
    start = 0
    for n in sizes:
        batches.append(pa.record_batch([pa.array(range(start, start + n), pa.int64())], schema))
        start += n
    groups = list(row_groups(schema, batches, rows=4, max_bytes=1 << 30))
    assert [g.num_rows for g in groups] == [4, 4, 4, 4, 4]
    assert pa.concat_tables(groups).column("i").to_pylist() == list(range(20))
    # each 8-byte row: a 24-byte bound writes what it holds once it reaches 3 rows
    groups = list(row_groups(schema, batches, rows=1000, max_bytes=24))
    assert pa.concat_tables(groups).column("i").to_pylist() == list(range(20))
    assert all(g.nbytes <= 24 + 9 * 8 for g in groups) and len(groups) >= 4
    assert list(row_groups(schema, [], rows=4)) == []
    assert list(row_groups(schema, [batches[1]], rows=4)) == []


def test_maintain_set_retention(pond_dir: Path, run_cli: RunCli) -> None:
    r = run_cli("maintain", "--set-retention", "90s")
    assert (r.code, r.text) == (0, "retention:     90s (was 1h)\n")
    status = json.loads(run_cli("status", "--format", "json").text)
    assert status["retention_s"] == 90
    assert "retention:    90s" in run_cli("status").text
    for bad in (["0s"], ["5x"], ["1h", "--dry-run"], ["1h", "--retention-hours", "2"]):
        r = run_cli("maintain", "--set-retention", *bad)
        assert r.code == 2 and r.err.count("\n") == 1 and "--set-retention" in r.err, (bad, r.err)
    assert json.loads(run_cli("status", "--format", "json").text)["retention_s"] == 90
    r = run_cli("maintain", "--dry-run")
    assert r.code == 0 and "unused for more than 90s" in r.text
    r = run_cli("maintain")
    assert r.code == 0 and "checkpoint" in r.text
