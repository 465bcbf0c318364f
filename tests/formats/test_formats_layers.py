"""Where formats sits: parsers import only errors and timeseries; timeseries never imports them;
the CLI's flags cost nothing at start-up; the product never imports duckpond.testing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "duckpond"


def duckpond_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("duckpond"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("duckpond")}
    return out


def test_formats_import_only_errors_and_timeseries() -> None:
    allowed = {"duckpond.errors", "duckpond.timeseries"}
    for module in sorted((SRC / "formats").glob("*.py")):
        for name in duckpond_imports(module):
            assert name in allowed or name.startswith("duckpond.formats"), (module.name, name)


def test_timeseries_imports_no_parser() -> None:
    assert duckpond_imports(SRC / "timeseries.py") == {"duckpond.errors"}


def test_the_product_does_not_import_the_testing_kit() -> None:
    for module in SRC.rglob("*.py"):
        if "testing" in module.relative_to(SRC).parts:
            continue
        assert not any(n.startswith("duckpond.testing") for n in duckpond_imports(module)), module


def test_the_flags_import_nothing_heavy() -> None:
    code = (
        "import sys, duckpond.formats.flags, duckpond.formats; "
        "heavy = sorted(m for m in ('pyarrow', 'pydantic', 'duckpond.timeseries') "
        "if m in sys.modules); print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
