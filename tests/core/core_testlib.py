"""Helpers for tests/core (a uniquely named module: several conftest.py files exist)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
JFK_CSV = DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"
B01_CSV = DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv"


def run_python(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run Python code in a fresh interpreter (a real second process); returns CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
