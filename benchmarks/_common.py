"""Shared helpers for the benchmarks: timing medians, peak RSS of a child process, reporting.

Whole-process timings run the ``pond`` of this interpreter's environment, or
``$DUCKPOND_BENCH_POND`` when set: the ``pond`` of a user install (``pip install .`` into a new
virtualenv, no dev extras). The difference matters: when pandas is installed (the dev extras),
pyarrow imports it at the first Python-to-Arrow conversion (DataFusion's import makes one), which
adds about 0.25 s to every ``pond`` process; a user install has no pandas.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

POND = os.environ.get("DUCKPOND_BENCH_POND") or str(Path(sys.executable).parent / "pond")
"""The ``pond`` command whole-process timings run (module docstring)."""


def median_time(
    fn: Callable[[], Any], repeat: int = 3, setup: Callable[[], Any] | None = None
) -> float:
    """Median wall time (s) of ``fn()`` over ``repeat`` runs; ``setup`` runs untimed before each."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def child_peak_rss_mb(code: str, *args: str) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter; return (its peak RSS in MiB, its stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children: run the measured one first
    return max(after, before) / 1024, proc.stdout


def report(
    name: str, value: float, unit: str, target: str, ok: bool, **extra: Any
) -> dict[str, Any]:
    row = {
        "benchmark": name,
        "value": round(value, 4),
        "unit": unit,
        "target": target,
        "ok": ok,
        **extra,
    }
    mark = "ok  " if ok else "MISS"
    extras = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"[{mark}] {name}: {value:.4g} {unit} (target {target}) {extras}", flush=True)
    return row


def dump(rows: list[dict[str, Any]], path: str | None) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(rows, f, indent=2)
