"""The tests are type-checked too, with relaxed settings (tests/mypy.ini): what a test or helper
annotates must be right; unannotated test bodies are not checked. mypy runs once per test
folder, each folder its own import root (module docstring of tests/mypy.ini)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FOLDERS = sorted(p for p in TESTS.iterdir() if p.is_dir() and any(p.glob("*.py")))


@pytest.mark.slow
def test_every_test_folder_type_checks(tmp_path: Path) -> None:
    failures = []
    for folder in [TESTS, *FOLDERS]:
        files = [str(p) for p in folder.glob("*.py")] if folder == TESTS else [str(folder)]
        roots = [REPO / "src", TESTS / "cli", TESTS / "remote", folder]
        env = {**os.environ, "MYPYPATH": os.pathsep.join(map(str, roots))}
        config = ["--config-file", str(TESTS / "mypy.ini"), "--cache-dir", str(tmp_path / "c")]
        done = subprocess.run(
            [sys.executable, "-m", "mypy", *config, *files],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=600,
        )
        if done.returncode != 0:
            failures.append(done.stdout)
    assert failures == [], "\n".join(failures)
