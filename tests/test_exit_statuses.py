"""The exit statuses are written once (duckpond.errors); --help and README.md agree with it."""

from __future__ import annotations

import inspect
from pathlib import Path

import duckpond.errors as errors
from duckpond.cli.main import main
from duckpond.errors import EXIT_STATUSES, ExitCode, PondError

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_rows() -> dict[int, tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    start = text.index("| status | meaning | examples |")
    rows = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        status, meaning, examples = (c.strip() for c in line.strip("|").split("|"))
        rows[int(status)] = (meaning, examples)
    return rows


def test_readme_table_is_the_exit_statuses():
    assert _readme_rows() == {int(c): v for c, v in EXIT_STATUSES.items()}


def test_help_lists_every_exit_status(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for code, (meaning, _) in EXIT_STATUSES.items():
        assert f"  {int(code):<3} {meaning}" in out


def test_every_error_class_has_a_documented_status():
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, PondError)
    ]
    assert len(classes) >= 17
    for cls in classes:
        assert cls.exit_code in EXIT_STATUSES, cls
    # only the root (a PondError raised on purpose without a family) means a bug
    assert [c for c in classes if c.exit_code == ExitCode.INTERNAL] == [PondError]
