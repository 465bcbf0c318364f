"""Whole-process benchmarks of the pond command (issue: The pond command).

    .venv/bin/python benchmarks/bench_cli.py [--rows 10000000] [--quick]

- `pond --help` <= 150 ms and `pond list /` <= 350 ms, Python start included (median of runs).
- `pond cat --sql` hourly min/avg/max over an N-row series vs DuckDB over the same data as a
  Parquet file, each a whole Python process, same machine, same run: ratio <= 1.2.
- `pond list '/**'` over 10,000 files <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import POND, dump, report
from bench_core import make_series

HOURLY = (
    "SELECT date_bin(INTERVAL '1 hour', \"Timestamp\", TIMESTAMP '1970-01-01T00:00:00Z') AS h,"
    ' min("sensor0.Value.unit") AS lo, avg("sensor0.Value.unit") AS mean,'
    ' max("sensor0.Value.unit") AS hi FROM source GROUP BY h ORDER BY h'
)
DUCKDB = """
import sys, duckdb
con = duckdb.connect()
con.sql("SET TimeZone = 'UTC'")
q = ("SELECT time_bucket(INTERVAL 1 HOUR, \\"Timestamp\\") AS h,"
     " min(\\"sensor0.Value.unit\\") AS lo,"
     " avg(\\"sensor0.Value.unit\\") AS mean, max(\\"sensor0.Value.unit\\") AS hi"
     f" FROM read_parquet('{sys.argv[1]}') GROUP BY h ORDER BY h")
con.sql(f"COPY ({q}) TO '/dev/stdout' (FORMAT parquet)")
"""


def wall(cmd: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.quick:
        a.rows, a.files, a.runs = 300_000, 1000, 3
    rows = []
    with tempfile.TemporaryDirectory(prefix="duckpond-bench-cli-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "POND": str(work / "pond")}
        subprocess.run([POND, "init"], env=env, check=True, capture_output=True)
        import pyarrow.parquet as pq

        from duckpond import Pond

        table = make_series(a.rows)
        parquet = work / "series.parquet"
        pq.write_table(table, parquet)
        pond = Pond.open(work / "pond")
        with pond.transaction(["bench load"]) as tx:
            r = tx.root()
            r.append_series("/s.series", table)
            r.mkdir("/many")
            for i in range(a.files):
                r.write_file(f"/many/f{i:05d}.txt", b"x")
        del table, pond

        t = wall([POND, "--help"], env, a.runs)
        rows.append(report("pond --help", t * 1000, "ms", "<= 150", t <= 0.15))
        t = wall([POND, "list", "/"], env, a.runs)
        rows.append(report("pond list /", t * 1000, "ms", "<= 350", t <= 0.35))
        t = wall([POND, "list", "/**"], env, a.runs)
        rows.append(report(f"pond list '/**' ({a.files} files)", t, "s", "<= 1", t <= 1.0))
        ours_cmd = [POND, "cat", "/s.series", "--sql", HOURLY, "--format", "parquet"]
        theirs_cmd = [sys.executable, "-c", DUCKDB, str(parquet)]
        pairs = [(wall(theirs_cmd, env, 1), wall(ours_cmd, env, 1)) for _ in range(a.runs)]
        ratio = statistics.median(o / d for d, o in pairs)
        rows.append(
            report(
                "pond cat --sql hourly vs DuckDB on Parquet (whole process)",
                ratio,
                "x",
                "<= 1.2",
                ratio <= 1.2,
                rows=a.rows,
                ours_s=round(statistics.median(p[1] for p in pairs), 3),
                duckdb_s=round(statistics.median(p[0] for p in pairs), 3),
            )
        )
    dump(rows, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
