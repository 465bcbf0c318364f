"""Run every benchmark (benchmarks/bench_*.py), each in its own process, and summarize.

    .venv/bin/python benchmarks/run.py [--quick] [--only core,site,...]

Each benchmark prints one line per figure: ``[ok  ]`` or ``[MISS]``, the value, its target and
the baseline it was measured against in the same run. The machines are shared and noisy: the
benchmarks report medians of repeated runs and ratios rather than absolute times.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--only", help="comma-separated names, e.g. core,site")
    a = ap.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if a.only:
        wanted = {f"bench_{n.strip()}.py" for n in a.only.split(",")}
        scripts = [s for s in scripts if s.name in wanted]
    failed = []
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        args = [sys.executable, str(script)] + (["--quick"] if a.quick else [])
        t0 = time.perf_counter()
        proc = subprocess.run(args, check=False)
        print(f"   ({time.perf_counter() - t0:.1f} s, exit {proc.returncode})", flush=True)
        if proc.returncode != 0:
            failed.append(script.stem)
    print("== summary:", "all ran" if not failed else f"non-zero exit: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
