"""Memory follows the work: peak RSS of reading one day and of appending one hour, for a series of
1 year and of 10 years of 15-minute data.

    .venv/bin/python benchmarks/bench_memory.py [--years 1,10] [--quick]

The series (7 columns) is built one month per transaction, so it is many versions, collapsed as a
collector's would be. Then, each in a fresh process measured with ``/usr/bin/time``:

- ``pond cat S --sql 'SELECT count(*), sum, min, max ... WHERE <one day>'``;
- a process that opens the pond and appends one hour (4 rows) to the series in one transaction;
- as the baseline, the same process that only imports duckpond and prints the version (the floor
  every ``pond`` process pays: Python, pyarrow, DataFusion).

Goal: the 10-year figures within 1.2x of the 1-year figures (RSS follows the day read and the
hour appended, not the history). Values in MiB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import POND, report

STEP_US = 900_000_000  # 15 minutes
START_US = 1_262_304_000_000_000  # 2010-01-01T00:00:00Z
MONTH_ROWS = 2_920  # 30.4 days of 15-minute rows
COLUMNS = ["Temperature.C", "Conductivity.uScm", "pH.pH", "DO.mgL", "Depth.m", "Turbidity.NTU"]

APPEND = """
import sys
import pyarrow as pa
from duckpond import Pond
start = int(sys.argv[2])
cols = {"Timestamp": pa.array([start + k * 900_000_000 for k in range(4)],
                              pa.timestamp("us", "UTC"))}
for c in sys.argv[3:]:
    cols[c] = pa.array([1.0, 2.0, 3.0, 4.0])
with Pond.open(sys.argv[1]).transaction(["append one hour"]) as tx:
    tx.root().append_series("/s.series", pa.table(cols), time_column="Timestamp")
"""
FLOOR = "import duckpond, pyarrow, datafusion; print(duckpond.__name__)"


def month(m: int):
    import pyarrow as pa

    first = START_US + m * MONTH_ROWS * STEP_US
    times = [first + k * STEP_US for k in range(MONTH_ROWS)]
    cols = {"Timestamp": pa.array(times, pa.timestamp("us", "UTC"))}
    for j, c in enumerate(COLUMNS):
        cols[c] = pa.array([float((m * MONTH_ROWS + k) % 1000) / 10 + j for k in range(MONTH_ROWS)])
    return pa.table(cols)


def peak_rss(cmd: list[str], env: dict[str, str]) -> float:
    """Peak RSS (MiB) of one whole process, by ``/usr/bin/time -f %M``."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} exited {proc.returncode}: {proc.stderr.decode()[-800:]}")
    return int(proc.stderr.decode().strip().splitlines()[-1]) / 1024


def measure(pond_dir: Path, months: int) -> dict[str, float]:
    from duckpond import Pond

    pond = Pond.init(pond_dir)
    for m in range(months):
        with pond.transaction(["append month", str(m)]) as tx:
            tx.root().append_series("/s.series", month(m), time_column="Timestamp")
    live = len(pond.root().resolve("/s.series").live_versions())
    env = {**os.environ, "POND": str(pond_dir)}
    day0 = START_US + (months // 2) * MONTH_ROWS * STEP_US  # a day in the middle of the history
    day1 = day0 + 86_400_000_000
    sql = (
        'SELECT count(*) AS n, sum("Temperature.C") AS s, min("DO.mgL") AS lo,'
        ' max("DO.mgL") AS hi FROM source WHERE "Timestamp" >= to_timestamp_micros('
        f'{day0}) AND "Timestamp" < to_timestamp_micros({day1})'
    )
    read = peak_rss([POND, "cat", "/s.series", "--format", "csv", "--sql", sql], env)
    end = START_US + months * MONTH_ROWS * STEP_US
    append = peak_rss([sys.executable, "-c", APPEND, str(pond_dir), str(end), *COLUMNS], env)
    floor = peak_rss([sys.executable, "-c", FLOOR], env)
    return {"read": read, "append": append, "floor": floor, "live": live, "rows": months * 2920}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", default="1,10", help="history lengths to compare, in years")
    ap.add_argument("--quick", action="store_true", help="1 and 3 years")
    a = ap.parse_args()
    if not Path("/usr/bin/time").exists():
        print("bench_memory: /usr/bin/time is missing (apt-get install time)", file=sys.stderr)
        return 1
    years = [1, 3] if a.quick else [int(y) for y in a.years.split(",")]
    got = {}
    with tempfile.TemporaryDirectory() as tmp:
        for y in years:
            got[y] = measure(Path(tmp) / f"pond{y}", 12 * y)
            g = got[y]
            print(
                f"{y} y: {g['rows']} rows in {g['live']} live chunks; read one day "
                f"{g['read']:.0f} MiB, append one hour {g['append']:.0f} MiB, "
                f"floor {g['floor']:.0f} MiB",
                flush=True,
            )
    small, big = got[years[0]], got[years[-1]]
    for what in ("read", "append"):
        ratio = big[what] / small[what]
        report(
            f"peak RSS, {what} at {years[-1]} y vs {years[0]} y",
            ratio,
            "x",
            "<= 1.2",
            ratio <= 1.2,
            **{f"{years[0]}y_mib": round(small[what]), f"{years[-1]}y_mib": round(big[what])},
            floor_mib=round(big["floor"]),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
