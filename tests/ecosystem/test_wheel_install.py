"""A user install: the wheel, built and installed with its dependencies into a new virtualenv
(what ``pipx install`` does), runs the quick start from a folder holding only ``scripts/``,
``examples/`` and ``data/`` (no source tree): site assets, test-server readings, the ``pond``
command, its completion and the fsspec entry point all come from the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "POND", "VIRTUAL_ENV"}}
    env.update(kwargs.pop("env", {}))
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, **kwargs)
    assert done.returncode == 0, (argv, done.stdout[-3000:], done.stderr[-3000:])
    return done


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.slow
def test_the_wheel_runs_the_quick_start_outside_the_repository(tmp_path):
    pytest.importorskip("hatchling")  # the build backend (dev extra)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    _run([*pip, "-w", str(wheels), str(REPO)])
    (wheel,) = wheels.glob("duckpond_lake-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python, pond = venv / "bin" / "python", venv / "bin" / "pond"
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)])
    size = _size(venv)
    print(f"installed size of a fresh install (venv with pip): {size / 2**20:.0f} MiB")

    checkout = tmp_path / "checkout"  # what a user has: the examples and some data, no src/
    for part in ("scripts", "examples", "data"):
        shutil.copytree(REPO / part, checkout / part)
    assert not (checkout / "src").exists()
    env = {"DUCKPOND_PY": str(python), "DUCKPOND_POND": str(pond)}
    done = _run(["bash", str(checkout / "scripts" / "quickstart.sh")], cwd=checkout, env=env)
    assert "B01 water" in done.stdout and "JFK air" in done.stdout
    site = checkout / "demo" / "site"
    assert (site / "index.html").is_file()
    assert any(site.rglob("uPlot*.js"))  # the vendored site assets came from the wheel

    where = _run(
        [
            str(python),
            "-c",
            "import duckpond, fsspec; print(duckpond.__file__); "
            "fs = fsspec.filesystem('pond', pond_dir='demo/pond'); print(fs.ls('/', detail=False))",
        ],
        cwd=checkout,
    )
    first, listing = where.stdout.splitlines()
    assert Path(first).is_relative_to(venv)  # the wheel's code, not the repository's
    assert "/reduced" in listing  # the fsspec entry point is registered by the install
    completion = _run([str(pond), "completion", "bash"])
    assert "_python_argcomplete" in completion.stdout
