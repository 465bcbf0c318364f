"""The package's import layers (pyproject.toml [tool.importlinter]) hold: imports point down."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_imports_point_down_the_layers():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(REPO / "pyproject.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 kept, 0 broken" in done.stdout


def test_the_readme_layer_table_lists_every_package_and_module():
    import re

    src = REPO / "src" / "duckpond"
    have = {
        f"duckpond.{p.stem}"
        for p in src.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.stem not in {"__init__", "__main__"})
    }
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| package | what it holds |") :].split("\n\n")[0]
    listed = set(re.findall(r"`(duckpond\.[a-z_]+)`", table))
    assert listed == have
    design = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    assert have <= set(re.findall(r"`(duckpond\.[a-z_]+)`", design))
