"""The conventional CLI: ``--format json``, ``--color``/``NO_COLOR``, ``-q``, ``-v``,
``--dry-run``, "did you mean", shell completion (a real bash completes a real pond)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import ecosystem_testlib
import pytest
from ecosystem_testlib import B01_CSV, snapshot

from duckpond import Pond

run_cli = ecosystem_testlib.run_cli
pond_dir = ecosystem_testlib.pond_dir
real_pond = ecosystem_testlib.real_pond

ESC = b"\x1b["


def _json_lines(result) -> list[dict]:
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.text.splitlines()]


# -- --format json ---------------------------------------------------------------------------


def test_list_json_has_the_documented_fields(real_pond, run_cli):
    rows = _json_lines(run_cli("list", "--format", "json"))
    assert [r["path"] for r in rows] == run_cli("list").text.split()
    by_path = {r["path"]: r for r in rows}
    assert set(rows[0]) == {"path", "type", "dynamic", "size", "version", "modified", "target"}
    b01 = by_path["/buoy/b01.series"]
    assert b01["type"] == "file:series" and b01["version"] == 1 and not b01["dynamic"]
    assert b01["size"] == Pond.open(real_pond).root().stat("/buoy/b01.series").size
    assert b01["modified"].endswith("Z") and b01["target"] is None
    assert by_path["/buoy"]["size"] is None and by_path["/buoy"]["type"] == "dir:physical"


def test_describe_json_counts_rows_and_names_the_schema(real_pond, run_cli):
    (b01,) = _json_lines(run_cli("describe", "/buoy/b01.series", "--format", "json"))
    assert b01["rows"] == 19225 and b01["rows_by_version"] == [{"version": 1, "rows": 19225}]
    assert b01["time_column"] == "Timestamp"
    assert b01["min_event_time"] == "2016-02-15T00:00:00.000000Z"
    assert b01["schema"] == [
        {"name": "Timestamp", "type": "timestamp[us, tz=UTC]", "nullable": True},
        {"name": "WaterTemperature.C", "type": "double", "nullable": True},
    ]
    rows = _json_lines(run_cli("describe", "/*", "--format", "json"))
    assert [(r["path"], r["entries"]) for r in rows] == [("/buoy", 1), ("/weather", 1)]


def test_log_show_status_json_agree_with_the_pond(real_pond, run_cli):
    assert run_cli("rm", "/buoy/nothing-here").code == 3  # a failed transaction: no sequence
    log = _json_lines(run_cli("log", "--format", "json"))
    pond = Pond.open(real_pond)
    assert [r["txn_seq"] for r in log] == [1, 2, 3, 4, None]
    assert log[-1]["outcome"] == "failed" and "nothing-here" in log[-1]["error"]
    assert log[3]["args"] == ["copy", f"host+csv+series://{B01_CSV}", "/buoy/b01.series"]
    assert log[3]["data_version"] == pond.data_version

    (status,) = _json_lines(run_cli("status", "--format", "json"))
    assert status["last_txn"]["txn_seq"] == pond.txn_seq == 4
    assert status["id"] == pond.pond_id and status["pending"] == [] and status["size"] > 200_000
    (old,) = _json_lines(run_cli("status", "--format", "json", "--at-txn", "2"))
    assert old["as_of_txn"] == 2 and old["last_txn"]["txn_seq"] == 2

    shown = _json_lines(run_cli("show", "--format", "json", "--txn", "4"))
    series = [r for r in shown if r["type"] == "file:series"]
    assert [r["path"] for r in series] == ["/buoy/b01.series"]
    assert series[0]["max_event_time"] == "2017-03-22T00:00:00.000000Z"
    assert {r["txn_seq"] for r in shown} == {4}


def test_list_factories_json(run_cli):
    rows = _json_lines(run_cli("list-factories", "--format", "json"))
    assert {r["name"] for r in rows} >= {"sql-derived", "temporal-reduce", "sitegen"}
    assert all(set(r) == {"name", "kind", "description"} for r in rows)
    assert {r["kind"] for r in rows} == {"dir", "file"}


# -- color, quiet, verbose ---------------------------------------------------------------------


def test_color_follows_the_flag_then_no_color(real_pond, run_cli, monkeypatch):
    table = ("cat", "/buoy/b01.series", "--format", "table")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert ESC not in run_cli(*table).out  # not a terminal: auto means none
    colored = run_cli("--color", "always", *table)
    assert colored.code == 0 and ESC in colored.out
    monkeypatch.setenv("NO_COLOR", "1")
    assert ESC in run_cli(*table, "--color", "always").out  # the flag wins over the variable
    plain = run_cli(*table)
    assert plain.code == 0 and ESC not in plain.out and b"19225 rows" in plain.out
    assert run_cli(*table, "--color", "never").out == plain.out
    assert run_cli(*table, "--color", "sometimes").code == 2


def test_quiet_keeps_data_and_drops_summaries(pond_dir, run_cli, tmp_path):
    other = tmp_path / "other"
    assert run_cli("-q", "init", other).out == b""
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("kind: mkdir\npath: /raw\n")
    done = run_cli("apply", "-q", "-f", pipeline)
    assert done.code == 0 and done.out == b""
    assert run_cli("apply", "-q", "-f", pipeline).out == b""  # not even "nothing changed"
    assert run_cli("list", "-q").text == "/raw\n"
    maintained = run_cli("maintain", "--quiet")
    assert maintained.code == 0 and maintained.out == b""


def test_verbose_logs_and_is_not_recorded(pond_dir, run_cli):
    done = run_cli("-v", "mkdir", "/a", "--color", "never")
    assert done.code == 0
    assert " INFO duckpond.steward: transaction committed" in done.err
    assert Pond.open(pond_dir).log()[-1].args == ("mkdir", "/a")
    quiet = run_cli("mkdir", "/b")
    assert quiet.err == ""


# -- dry runs --------------------------------------------------------------------------------


def test_apply_dry_run_says_what_apply_does_and_changes_nothing(pond_dir, run_cli, tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        textwrap.dedent(
            f"""\
            kind: mkdir
            path: /raw
            ---
            kind: copy
            from: host+csv+series://{B01_CSV}
            to: /raw/b01.series
            """
        )
    )
    state, log = snapshot(pond_dir), Pond.open(pond_dir).log()
    large = pond_dir / "data" / "_large_files"
    before_files = sorted(os.listdir(large)) if large.exists() else []
    dry = run_cli("apply", "-n", "-f", pipeline)
    assert dry.code == 0, dry.err
    assert snapshot(pond_dir) == state and Pond.open(pond_dir).log() == log  # nothing recorded
    assert (sorted(os.listdir(large)) if large.exists() else []) == before_files
    real = run_cli("apply", "-f", pipeline)
    assert real.code == 0
    would = [line.removeprefix("would ") for line in dry.text.splitlines()]
    assert would == real.text.splitlines()[:-1]  # the same changes, less "committed ..."
    assert any("/raw/b01.series" in line for line in would)
    assert run_cli("apply", "--dry-run", "-f", pipeline).text == "nothing would change\n"


def test_rm_dry_run_lists_and_refuses_as_rm_does(real_pond, run_cli):
    state = snapshot(real_pond)
    dry = run_cli("rm", "-n", "-r", "/buoy", "/weather/*.series")
    assert dry.code == 0, dry.err
    assert dry.text == "would remove /buoy\nwould remove /weather/jfk.series\n"
    refused = run_cli("rm", "--dry-run", "/buoy")
    assert refused.code == 4 and "use 'pond rm -r'" in refused.err
    assert run_cli("rm", "-n", "/nope").code == 3
    assert snapshot(real_pond) == state
    assert all(r.args[0] != "rm" for r in Pond.open(real_pond).log())


def test_maintain_dry_run_predicts_maintain(real_pond, run_cli):
    pond = Pond.open(real_pond)
    b01 = pond.root().resolve("/buoy/b01.series").read_table()
    for i in range(5):  # five small versions: one run for maintain to collapse
        with pond.transaction([f"append {i}"]) as tx:
            tx.root().append_series("/buoy/small.series", b01.slice(i * 10, 10))
    orphan = real_pond / "data" / "_large_files" / ("sha256=" + "ab" * 32)
    orphan.write_bytes(b"left by a crash")
    state = snapshot(real_pond)
    dry = run_cli("maintain", "-n", "--retention-hours", "0")
    assert dry.code == 0, dry.err
    lines = dry.text.splitlines()
    assert "would collapse: 1 run(s) of series versions (5 versions)" in lines
    assert "orphans:        1 large file(s) would be removed (15 B)" in lines
    assert snapshot(real_pond) == state and orphan.exists()
    done = run_cli("maintain", "--retention-hours", "0")
    assert done.code == 0, done.err
    assert "collapsed:     1 run(s) of series versions" in done.text.splitlines()
    assert "orphans:       1 large file(s) removed" in done.text.splitlines()
    assert not orphan.exists()
    again = run_cli("maintain", "-n").text.splitlines()
    assert "would collapse: 0 run(s) of series versions (0 versions)" in again


# -- did you mean ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (("lsit",), "did you mean 'list'?"),
        (("describ", "/"), "did you mean 'describe'?"),
        (("list", "--fromat", "json"), "did you mean '--format'?"),
        (("cat", "/x", "--format", "jsn"), "did you mean 'json'?"),
        (("log", "--format", "jsonl"), "did you mean 'json'?"),
    ],
)
def test_mistyped_commands_and_options_get_a_suggestion(pond_dir, run_cli, argv, suggestion):
    result = run_cli(*argv)
    assert result.code == 2 and result.out == b""
    (line,) = result.err_lines
    assert line.startswith("pond: ") and suggestion in line


def test_nothing_close_gets_no_suggestion(pond_dir, run_cli):
    (line,) = run_cli("xyzzy").err_lines
    assert "unknown command 'xyzzy'" in line and "did you mean" not in line


# -- shell completion --------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_shell_code(run_cli, shell):
    result = run_cli("completion", shell)
    assert result.code == 0 and b"pond" in result.out and b"_ARGCOMPLETE" in result.out


@pytest.fixture
def pond_on_path(tmp_path: Path) -> Path:
    """A ``pond`` executable (this interpreter, this source tree) first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "pond"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m duckpond "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def _bash_complete(line: str, pond: Path, bin_dir: Path) -> list[str]:
    script = textwrap.dedent(
        """
        eval "$(pond completion bash)"
        read -r -a COMP_WORDS <<< "$LINE"
        case "$LINE" in *" ") COMP_WORDS+=("");; esac
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        COMP_LINE="$LINE"; COMP_POINT=${#COMP_LINE}
        _python_argcomplete pond
        printf '%s\\n' "${COMPREPLY[@]}"
        """
    )
    env = dict(os.environ, POND=str(pond), LINE=line)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        [shutil.which("bash") or "bash", "--norc", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [c.strip() for c in done.stdout.splitlines() if c.strip()]


def test_bash_completes_commands_options_and_pond_paths(real_pond, pond_on_path):
    assert _bash_complete("pond desc", real_pond, pond_on_path) == ["describe"]
    assert "--format" in _bash_complete("pond list --fo", real_pond, pond_on_path)
    assert _bash_complete("pond list /we", real_pond, pond_on_path) == ["/weather/"]
    assert _bash_complete("pond cat /buoy/", real_pond, pond_on_path) == ["/buoy/b01.series"]
    assert _bash_complete("pond completion f", real_pond, pond_on_path) == ["fish"]
