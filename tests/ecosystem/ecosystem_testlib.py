"""Fixtures of the ecosystem tests: a pond holding the bundled real data, the ``pond`` CLI.

``real_pond`` is a pond (``$POND`` set) with ``/weather/jfk.series`` (JFK hourly weather, 2013)
and ``/buoy/b01.series`` (buoy B01 water temperature every 30 minutes, 2016-2017), copied in by
``pond copy``. ``sql_json(path, query)`` runs ``pond cat PATH --sql QUERY --format json`` and
returns its rows: the oracle the other readers are checked against.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))

import cli_testlib
from cli_testlib import B01_CSV, JFK_CSV, Result, RunCli, pond_subprocess, snapshot

__all__ = [
    "B01_CSV",
    "JFK_CSV",
    "Result",
    "RunCli",
    "pond_dir",
    "pond_subprocess",
    "real_pond",
    "run_cli",
    "snapshot",
    "sql_json",
]

run_cli = cli_testlib.run_cli
pond_dir = cli_testlib.pond_dir


@pytest.fixture
def real_pond(pond_dir: Path, run_cli: RunCli) -> Path:
    for args in (
        ("mkdir", "-p", "/weather", "/buoy"),
        ("copy", f"host+csv+series://{JFK_CSV}", "/weather/jfk.series"),
        ("copy", f"host+csv+series://{B01_CSV}", "/buoy/b01.series"),
    ):
        result = run_cli(*args)
        assert result.code == 0, result.err
    return pond_dir


def sql_json(run: RunCli, path: str, query: str, *extra: str) -> list[dict[str, Any]]:
    """The rows of ``pond cat PATH --sql QUERY --format json`` (exit status checked)."""
    result = run("cat", path, "--sql", query, "--format", "json", *extra)
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.text.splitlines()]
