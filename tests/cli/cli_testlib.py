"""Fixtures and helpers of the ``pond`` command tests.

There is deliberately no conftest.py here: test folders import ``conftest`` by name, and a second
one would shadow theirs. Each test module binds the fixtures it uses
(``run_cli = cli_testlib.run_cli``).

``run_cli(*argv)`` calls :func:`duckpond.cli.main.main` in this process and returns the exit status
with the captured stdout (bytes) and stderr (text); ``pond_dir`` is a new pond with ``$POND``
pointing at it. ``snapshot(path)`` is what "the pond is unchanged" means in the hostile-input
tests: the last txn_seq and every path with its node type and version. ``pond_subprocess`` runs
``python -m duckpond`` in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from duckpond.cli.main import main

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
JFK_CSV = DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"
B01_CSV = DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv"


@dataclass
class Result:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


RunCli = Callable[..., Result]


def snapshot(path: Path) -> tuple[int, list[tuple[str, str, int]]]:
    """(last txn_seq, [(path, node type, version)]) of the pond at ``path``."""
    from duckpond.steward.pond import Pond

    p = Pond.open(path)
    rows = []
    for np in p.root().walk():
        versions = np.versions()
        rows.append((np.path, np.node.file_type, versions[-1].version if versions else 0))
    return p.txn_seq, rows


def pond_subprocess(
    *argv: str | os.PathLike[str], env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[bytes]:
    """``python -m duckpond ARGV`` in a child process (environment: this one's plus ``env``)."""
    full_env = dict(os.environ)
    full_env.pop("DUCKPOND_LOG", None)
    full_env.update(env or {})
    return subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "duckpond", *(os.fspath(a) for a in argv)],
        env=full_env,
        capture_output=True,
        timeout=120,
        check=False,
        **kwargs,
    )


@pytest.fixture
def run_cli(capfdbinary: pytest.CaptureFixture[bytes]) -> RunCli:
    def run(*argv: str | os.PathLike[str]) -> Result:
        capfdbinary.readouterr()
        code = main([os.fspath(a) for a in argv])
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = capfdbinary.readouterr()
        return Result(code, out, err.decode("utf-8"))

    return run


@pytest.fixture
def pond_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> Path:
    """A new, empty pond made by ``pond init``; ``$POND`` points at it."""
    path = tmp_path / "pond"
    monkeypatch.setenv("POND", str(path))
    monkeypatch.delenv("DUCKPOND_LOG", raising=False)
    result = run_cli("init")
    assert result.code == 0, result.err
    return path
