"""``pond list-factories``, ``mknod``, ``run``, ``apply`` and ``export`` through ``main(argv)``,
plus warnings (``pond: warning:``) and a few real processes."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import cli_testlib
import duckdb
import pytest
from cli_testlib import B01_CSV, REPO, RunCli, pond_subprocess, snapshot

from duckpond.cli.main import main

run_cli = cli_testlib.run_cli
pond_dir = cli_testlib.pond_dir

PIPELINE = REPO / "examples" / "pipeline.yaml"
REDUCE = "input: /b01.series\nresolutions: [1h, 1d]\n"
SITE = """\
title: Test site
pages:
  - pattern: /reduced/*
    slug: "$0"
    title: "Station $0"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def txn_seq(path: Path) -> int:
    from duckpond.steward.pond import Pond

    return Pond.open(path).txn_seq


def b01_hourly_duckdb() -> dict[int, tuple[float, float, float, int]]:
    """Hour start (µs) -> (avg, min, max, count) of the raw B01 CSV, computed by DuckDB."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        f"""
        SELECT epoch_us(date_trunc('hour', "Timestamp"::TIMESTAMPTZ)) AS hour,
               avg("WaterTemperature.C"), min("WaterTemperature.C"), max("WaterTemperature.C"),
               count(*)
        FROM read_csv('{B01_CSV}', header = true, types = {{'Timestamp': 'VARCHAR'}})
        GROUP BY hour
        """
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


@pytest.fixture
def b01_pond(pond_dir: Path, run_cli: RunCli) -> Path:
    r = run_cli("copy", f"host+csv+series://{B01_CSV}", "/b01.series")
    assert r.code == 0, r.err
    assert run_cli("mkdir", "/reduced").code == 0
    return pond_dir


@pytest.fixture(scope="module")
def pipeline_pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A pond with examples/pipeline.yaml applied and a sitegen node at /site (built once)."""
    path = tmp_path_factory.mktemp("pipeline") / "pond"
    site = write(path.parent / "site.yaml", SITE)
    data = f"DATA={REPO / 'data'}"
    for argv in (
        ["init"],
        ["apply", "-f", str(PIPELINE), "-e", data],
        ["mknod", "sitegen", "/site", "--config", str(site)],
    ):
        assert main(["--pond", str(path), *argv]) == 0, argv
    yield path


def test_help_of_the_new_commands(run_cli: RunCli) -> None:
    r = run_cli("--help")
    for name in (
        "list-factories",
        "mknod",
        "run",
        "apply",
        "export",
        "backup",
        "restore",
        "mirror",
    ):
        assert f"    {name}" in r.text
    for argv in (
        ["list-factories"],
        ["mknod"],
        ["run"],
        ["apply"],
        ["export"],
        ["restore"],
        ["backup"],
        ["backup", "push"],
        ["backup", "verify"],
        ["mirror"],
        ["mirror", "sync"],
    ):
        r = run_cli(*argv, "--help")
        assert r.code == 0 and "--pond" in r.text, argv
    assert "verify" in run_cli("backup", "--help").text  # its actions are built on use
    assert run_cli("backup").code == 2
    assert run_cli("mirror", "bogus").code == 2


def test_list_factories(run_cli: RunCli) -> None:
    r = run_cli("list-factories")  # needs no pond
    assert r.code == 0, r.err
    rows = {line.split()[0]: line.split()[1] for line in r.text.splitlines()}
    assert rows["temporal-reduce"] == "dir"
    assert rows["sql-derived"] == "file"
    assert {"timeseries-join", "sitegen"} <= set(rows)
    assert "downsampled" in r.text  # the description


def test_mknod_reduce_list_cat_describe(b01_pond: Path, run_cli: RunCli, tmp_path: Path) -> None:
    config = write(tmp_path / "reduce.yaml", REDUCE)
    r = run_cli("mknod", "temporal-reduce", "/reduced/x", "--config", config)
    assert (r.code, r.text, r.err) == (0, "", "")
    assert run_cli("list", "/reduced/**").text.splitlines() == [
        "/reduced",
        "/reduced/x",
        "/reduced/x/res=1d.series",
        "/reduced/x/res=1h.series",
    ]
    long = run_cli("list", "-l", "/reduced/x").text.split()
    assert long[0] == "dir:dynamic" and long[-1] == "/reduced/x"

    r = run_cli(
        "cat",
        "/reduced/x/res=1h.series",
        "--format",
        "json",
        "--sql",
        'SELECT "Timestamp", "WaterTemperature.C.avg" AS avg, "WaterTemperature.C.min" AS lo, '
        '"WaterTemperature.C.max" AS hi FROM source ORDER BY "Timestamp"',
    )
    assert r.code == 0, r.err
    rows = [json.loads(line) for line in r.text.splitlines()]
    expected = b01_hourly_duckdb()
    assert len(rows) == len(expected) > 9000
    for row in (rows[0], rows[len(rows) // 2], rows[-1]):
        hour = int(dt.datetime.fromisoformat(row["Timestamp"]).timestamp() * 1_000_000)
        avg, lo, hi, _ = expected[hour]
        assert math.isclose(row["avg"], avg, rel_tol=1e-12)
        assert (row["lo"], row["hi"]) == (lo, hi)

    r = run_cli("describe", "/reduced/x/res=1h.series", "/reduced/x")
    assert r.code == 0, r.err
    assert "file:series (dynamic)" in r.text
    assert f"rows        {len(expected)}" in r.text
    assert "WaterTemperature.C.avg" in r.text
    assert "factory     temporal-reduce" in r.text


def test_mknod_errors_leave_the_pond_unchanged(
    b01_pond: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    before = snapshot(b01_pond)
    log = run_cli("log").text
    bad = write(tmp_path / "bad.yaml", "input: /b01.series\nresolutions: [1h, 7x]\n")
    r = run_cli("mknod", "temporal-reduce", "/reduced/y", "--config", bad)
    assert r.code == 8
    assert len(r.err_lines) == 1 and "resolutions[1]" in r.err and "/reduced/y" in r.err
    r = run_cli("mknod", "temporal-reduce", "/reduced/y", "--config", write(bad, "inputt: /x\n"))
    assert r.code == 8 and "input" in r.err and len(r.err_lines) == 1
    r = run_cli("mknod", "no-such-factory", "/reduced/y", "--config", bad)
    assert r.code == 2 and "unknown factory" in r.err and len(r.err_lines) == 1
    r = run_cli("mknod", "temporal-reduce", "/reduced/y", "--config", tmp_path / "missing.yaml")
    assert r.code == 3 and "missing.yaml" in r.err and len(r.err_lines) == 1
    r = run_cli("mknod", "temporal-reduce", "/reduced/y")  # --config is required
    assert r.code == 2
    assert snapshot(b01_pond) == before
    assert run_cli("log").text == log  # validated before any transaction began
    # an existing node: exit 4 unless --overwrite (a new version of the node)
    good = write(tmp_path / "good.yaml", REDUCE)
    assert run_cli("mknod", "temporal-reduce", "/reduced/x", "-c", good).code == 0
    assert run_cli("mknod", "temporal-reduce", "/reduced/x", "-c", good).code == 4
    other = write(tmp_path / "other.yaml", "input: /b01.series\nresolutions: [2h]\n")
    assert run_cli("mknod", "temporal-reduce", "/reduced/x", "-c", other, "--overwrite").code == 0
    assert run_cli("list", "/reduced/x/").text.splitlines() == ["/reduced/x/res=2h.series"]


def test_empty_input_is_one_warning_line(b01_pond: Path, run_cli: RunCli, tmp_path: Path) -> None:
    config = write(tmp_path / "e.yaml", "input: /nothing/*.series\nresolutions: [1h]\n")
    assert run_cli("mknod", "temporal-reduce", "/reduced/e", "--config", config).code == 0
    r = run_cli("cat", "/reduced/e/res=1h.series", "--format", "csv")
    assert r.code == 0
    assert r.text.splitlines() == ['"Timestamp"']
    assert r.err_lines == [
        "pond: warning: /reduced/e: input (/nothing/*.series) matches nothing; the result is empty"
    ]


def test_apply_twice(tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    pond = tmp_path / "pond"
    monkeypatch.setenv("POND", str(pond))
    assert run_cli("init").code == 0
    r = run_cli("apply", "-f", PIPELINE, "-e", f"DATA={REPO / 'data'}")
    assert r.code == 0, r.err
    lines = r.text.splitlines()
    assert "created  mknod  /reduced/all  (temporal-reduce)" in lines
    assert any(line.startswith("created  copy   /raw/b01") for line in lines)
    assert lines[-1] == "committed transaction 2"
    seq = txn_seq(pond)
    assert seq == 2
    r = run_cli("apply", "-f", PIPELINE, "-e", f"DATA={REPO / 'data'}")
    assert (r.code, r.text, r.err) == (0, "nothing changed\n", "")
    assert txn_seq(pond) == seq
    # an undefined template variable is a usage error; -v without '=' too
    bad = write(tmp_path / "p.yaml", "kind: mkdir\npath: /{{ NOPE_NOT_SET }}\n")
    assert run_cli("apply", "-f", bad).code == 2
    assert run_cli("apply", "-f", PIPELINE, "-e", "DATA").code == 2
    assert run_cli("apply", "-f", tmp_path / "missing.yaml").code == 3


def test_export_writes_manifest(pipeline_pond: Path, run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "site-data"
    r = run_cli("--pond", pipeline_pond, "export", "-p", "/reduced/**/res=*.series", "--dir", out)
    assert r.code == 0, r.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "duckpond-export"
    series = {s["path"]: s for s in manifest["series"]}
    assert len(series) == 5 and "/reduced/all/res=1h.series" in series
    lines = r.text.splitlines()
    hourly = series["/reduced/all/res=1h.series"]
    assert f"reduced/all res=1h: {len(hourly['files'])} files, {hourly['rows']} rows" in r.text, (
        r.text
    )
    total = sum(s["rows"] for s in manifest["series"])
    assert lines[-1].startswith(f"{out / 'manifest.json'}: 5 series, ")
    assert f" {total} rows" in lines[-1]
    for s in manifest["series"]:
        for f in s["files"]:
            assert (out / f["file"]).is_file()


def test_export_pattern_matching_nothing_warns(
    pipeline_pond: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    r = run_cli(
        "--pond",
        pipeline_pond,
        "export",
        "-p",
        "/reduced/all/res=24h.series",
        "-p",
        "/nowhere/*",
        "--dir",
        out,
        "--temporal",
        "year",
    )
    assert r.code == 0, r.err
    assert r.err_lines == [
        "pond: warning: export: pattern (/nowhere/*) matches nothing; the result is empty"
    ]
    assert (out / "manifest.json").is_file()
    assert all(p.name.startswith("year=") for p in (out / "reduced/all/res=24h").iterdir())
    # nothing at all matches: not found
    r = run_cli("--pond", pipeline_pond, "export", "-p", "/nowhere/*", "--dir", out)
    assert r.code == 3
    r = run_cli(
        "--pond", pipeline_pond, "export", "-p", "/reduced/**", "--dir", out, "--temporal", "month"
    )
    assert r.code == 2


def test_run_sitegen_build(pipeline_pond: Path, run_cli: RunCli, tmp_path: Path) -> None:
    seq = txn_seq(pipeline_pond)
    www = tmp_path / "www"
    r = run_cli("--pond", pipeline_pond, "run", "/site", "build", www)
    assert r.code == 0, r.err
    assert (www / "index.html").is_file()
    files = [p for p in www.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert r.text.startswith(f"{www}: wrote {len(files)} files (")
    assert txn_seq(pipeline_pond) == seq  # build only reads
    r = run_cli("--pond", pipeline_pond, "run", "/site", "deploy")
    assert r.code == 2 and "commands: build" in r.err
    r = run_cli("--pond", pipeline_pond, "run", "/raw", "build", www)
    assert r.code == 2 and "not a dynamic node" in r.err
    r = run_cli("--pond", pipeline_pond, "run", "/missing", "build", www)
    assert r.code == 3


def test_real_processes_exit_zero(tmp_path: Path) -> None:
    env = {"POND": str(tmp_path / "pond")}
    config = write(tmp_path / "reduce.yaml", REDUCE)

    def ok(*argv: str | os.PathLike[str]) -> bytes:
        r = pond_subprocess(*argv, env=env)
        assert r.returncode == 0, (argv, r.returncode, r.stderr.decode())
        assert r.stderr == b""
        return r.stdout

    ok("init")
    ok("copy", f"host+csv+series://{B01_CSV}", "/b01.series")
    assert b"temporal-reduce" in ok("list-factories")
    ok("mknod", "temporal-reduce", "/r", "--config", config)
    out = ok(
        "cat", "/r/res=1d.series", "--format", "csv", "--sql", "SELECT count(*) AS n FROM source"
    )
    assert int(out.decode().splitlines()[1]) > 300
    ok("export", "-p", "/r/*", "--dir", tmp_path / "export")
    assert (tmp_path / "export" / "manifest.json").is_file()
