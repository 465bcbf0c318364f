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


def hourly(pond, hours: int, *, start: int = 0, devices: int = 2) -> None:
    """A collector: one transaction an hour (hours ``start`` .. ``start + hours - 1``) appending
    3 rows to each device's series ``/d<i>.series`` (``v`` = hour * 10 + device + row)."""
    import pyarrow as pa

    for h in range(start, start + hours):
        with pond.transaction(["collect", str(h)]) as tx:
            for d in range(devices):
                times = [(h * 3600 + k * 1200) * 1_000_000 for k in range(3)]
                table = pa.table(
                    {
                        "Timestamp": pa.array(times, pa.timestamp("us", "UTC")),
                        "v": pa.array([float(h * 10 + d + k) for k in range(3)]),
                    }
                )
                tx.root().append_series(f"/d{d}.series", table, time_column="Timestamp")
