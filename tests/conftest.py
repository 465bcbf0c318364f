"""Shared fixtures: a fresh pond per test under tmp_path (STYLE.md 6), the bundled real data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
JFK_CSV = DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"
B01_CSV = DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv"


@pytest.fixture
def pond(tmp_path):
    from duckpond import Pond

    return Pond.init(tmp_path / "pond")


def run_python(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run Python code in a fresh interpreter (a real second process); returns CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
