"""A cron'd collector's year: one small transaction per hour, for thousands of hours.

    .venv/bin/python benchmarks/bench_longlife.py [--hours 8760] [--devices 4] [--every 1000]

Each hourly transaction appends 4 readings (7 columns) to each device's series, as a collector
running from cron does. Every ``--every`` transactions the benchmark prints:

- commit latency p50/p95 of the last block of transactions, and p95 against the first block's
  p95 (goal: <= 1.5 at the 8,760th transaction against the 500th);
- a whole-process ``pond cat S --sql 'SELECT count(*) ...'`` and an hourly aggregate over one
  series, each against DuckDB over the same rows in one Parquet file (also a whole process):
  ratio goal <= 1.5;
- a whole-process ``pond list /`` (goal <= 0.35 s);
- bytes on disk of the pond against the same rows written as one zstd Parquet file per series
  (goal <= 2x plus a fixed overhead, stated);
- peak RSS of the ``pond cat --sql`` process.

Times are medians of repeated runs; the machine is shared, so ratios matter more than seconds.

The run packs a year into well under an hour: a commit every ~0.1-0.3 s stands for an hour of
the collector's life. What the pond keeps for its retention (tombstones of compacted files, which
every checkpoint writes again, log entries, superseded chunks) is kept for that long in real
time, so at the pond's default of one hour the run would keep ~10,000 of its "hours" of it, the
whole of its recent past, where a real collector keeps one. The benchmark therefore sets the
pond's retention (``pond maintain --set-retention``) to ``--retention`` (default 30 s, a few
hundred of the run's hours, as many at its 500th transaction as at its 8,760th: still more
than a real collector keeps, and far longer than any of the benchmark's readers runs);
``--retention 1h`` measures the run at the default.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import POND, report

HOUR_US = 3_600_000_000
START_US = 1_577_836_800_000_000  # 2020-01-01T00:00:00Z
COLUMNS = ["Temperature.C", "Conductivity.uScm", "pH.pH", "DO.mgL", "Depth.m", "Turbidity.NTU"]

COUNT_SQL = 'SELECT count(*) AS n, sum("Temperature.C") AS s FROM source'
HOURLY_SQL = (
    "SELECT date_bin(INTERVAL '1 day', \"Timestamp\", TIMESTAMP '1970-01-01T00:00:00Z') AS d,"
    ' avg("Temperature.C") AS t, max("DO.mgL") AS o FROM source GROUP BY d ORDER BY d'
)
DUCKDB = """
import sys, duckdb
con = duckdb.connect()
con.sql("SET TimeZone = 'UTC'")
q = sys.argv[2].replace("FROM source", f"FROM read_parquet('{sys.argv[1]}')")
q = q.replace("date_bin(INTERVAL '1 day', \\"Timestamp\\", TIMESTAMP '1970-01-01T00:00:00Z')",
              "time_bucket(INTERVAL 1 DAY, \\"Timestamp\\")")
con.sql(f"COPY ({q}) TO '/dev/stdout' (FORMAT parquet)")
"""


def hour_table(hour: int, device: int):
    import pyarrow as pa

    times = [START_US + hour * HOUR_US + k * 900_000_000 for k in range(4)]
    cols = {"Timestamp": pa.array(times, pa.timestamp("us", "UTC"))}
    for j, c in enumerate(COLUMNS):
        cols[c] = pa.array([float(hour % 97 + j + device + k / 4) for k in range(4)])
    return pa.table(cols)


def wall(cmd: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall time (s) and the peak RSS (MiB) of the last run of a whole process."""
    times = []
    rss = 0.0
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = proc.communicate()
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd} exited {proc.returncode}: {err.decode()[-800:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss = usage.ru_maxrss / 1024
    return statistics.median(times), rss


def rss_of(cmd: list[str], env: dict[str, str]) -> float:
    """Peak RSS (MiB) of one whole process, measured with /usr/bin/time when present."""
    if not Path("/usr/bin/time").exists():
        return float("nan")
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True, check=False
    )
    try:
        return int(proc.stderr.decode().strip().splitlines()[-1]) / 1024
    except (ValueError, IndexError):
        return float("nan")


def dir_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(dirpath, f)).st_size
            except FileNotFoundError:
                pass
    return total


def checkpoint(
    pond_dir: Path, hours: int, devices: int, latencies: list[float], first_p95: float, runs: int
) -> list[dict]:
    rows = []
    p50 = statistics.median(latencies) * 1e3
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1e3
    rows.append(
        report(
            f"commit p95 at txn {hours}",
            p95,
            "ms",
            "<= 1.5x the first block's p95",
            p95 <= 1.5 * first_p95 * 1e3 if first_p95 else True,
            p50_ms=round(p50, 1),
            vs_first=round(p95 / (first_p95 * 1e3), 2) if first_p95 else 1.0,
        )
    )
    return rows + reads(pond_dir, hours, devices, runs, f"at txn {hours}")


def reads(pond_dir: Path, hours: int, devices: int, runs: int, when: str) -> list[dict]:
    """The whole-process read figures and the disk, labelled ``when``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    env = {**os.environ, "POND": str(pond_dir)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "s.parquet"  # device 0's rows, what DuckDB reads
        pq.write_table(
            pa.concat_tables([hour_table(h, 0) for h in range(hours)]), one, compression="zstd"
        )
        total_one = one_parquet_bytes(hours, devices)
        pond = [POND, "cat", "/devices/d0.series", "--format", "parquet", "--sql"]
        for name, sql in (("count", COUNT_SQL), ("daily aggregate", HOURLY_SQL)):
            t_pond, _ = wall([*pond, sql], env, runs)
            t_duck, _ = wall([sys.executable, "-c", DUCKDB, str(one), sql], env, runs)
            ratio = t_pond / t_duck
            rows.append(
                report(
                    f"pond cat --sql {name} {when}",
                    ratio,
                    "x DuckDB",
                    "<= 1.5",
                    ratio <= 1.5,
                    pond_s=round(t_pond, 3),
                    duckdb_s=round(t_duck, 3),
                )
            )
        t_list, _ = wall([POND, "list", "/"], env, runs)
        rows.append(report(f"pond list / {when}", t_list, "s", "<= 0.35", t_list <= 0.35))
        disk = dir_size(pond_dir)
        ratio = disk / total_one
        rows.append(
            report(
                f"disk / one zstd Parquet {when}",
                ratio,
                "x",
                "<= 2 (+ fixed overhead)",
                ratio <= 2,
                pond_bytes=disk,
                parquet_bytes=total_one,
            )
        )
        rss = rss_of([*pond, COUNT_SQL], env)
        rows.append(report(f"peak RSS of pond cat --sql {when}", rss, "MiB", "-", True))
    return rows


def at_rest(pond_dir: Path, hours: int, devices: int) -> None:
    """The pond as it is once its history is older than the one-hour retention.

    The run packs a year of transactions into minutes, so everything it superseded (chunk
    files, log entries, compacted files) is younger than the retention and still kept. Here
    every file's mtime is set back two hours, as a year of hourly collection would leave them,
    and ``pond maintain --no-collapse --retention-hours 0`` does what the next commits' automatic
    maintenance and log cleanup would do; then the disk is measured again. (Delta tombstones
    carry their own deletion time, so checkpoints still list the last hour's removals.)
    """

    aged = time.time() - 2 * 3600
    for dirpath, _, files in os.walk(pond_dir):
        for f in files:
            os.utime(os.path.join(dirpath, f), (aged, aged))
    env = {**os.environ, "POND": str(pond_dir)}
    subprocess.run(
        [POND, "maintain", "--no-collapse", "--retention-hours", "0"],
        env=env,
        check=True,
        capture_output=True,
    )
    print(
        f"at rest: data {dir_size(pond_dir / 'data')} bytes, "
        f"control {dir_size(pond_dir / 'control')} bytes",
        flush=True,
    )


def an_hour_later(pond_dir: Path, hours: int, devices: int) -> None:
    """The disk of the pond at rest an hour later, measured on a copy: the Delta checkpoints
    still list the removals of the last hour (their deletion times are real), which the next
    checkpoint an hour on drops, with the log entries past the retention, the files those
    removals name and the chunks superseded in that hour (the automatic sweeps). On the copy
    each table's retentions are set to zero for one vacuum, checkpoint and log cleanup (a
    metadata commit each), which leaves what an
    hour of waiting would; the pond itself is not touched. Prints the ratio to the one-Parquet
    size and what the bytes are."""
    import shutil

    from deltalake import DeltaTable

    from duckpond.layout import PondLayout
    from duckpond.steward.maintenance import ReplacedLog, SupersededLog

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "pond"
        shutil.copytree(pond_dir, copy)
        SupersededLog(PondLayout.of(copy)).sweep(0)  # chunks superseded in the last hour
        for name in ("data", "control"):
            ReplacedLog(copy / name).sweep(0)  # files compacted in the last hour
            table = DeltaTable(str(copy / name))
            # first: once the retention is zero the table keeps no tombstone to vacuum by
            table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
            table.alter.set_table_properties(
                {
                    "delta.deletedFileRetentionDuration": "interval 0 hours",
                    "delta.logRetentionDuration": "interval 0 hours",
                }
            )
            table.create_checkpoint()
            table.cleanup_metadata()
        parts = {
            "live chunks": dir_size(copy / "data" / "_large_files"),
            "oplog files": sum(
                dir_size(p) for p in (copy / "data").iterdir() if p.name.startswith("part_id=")
            ),
            "data log": dir_size(copy / "data" / "_delta_log"),
            "control files": sum(p.stat().st_size for p in (copy / "control").glob("*.parquet")),
            "control log": dir_size(copy / "control" / "_delta_log"),
        }
        total = dir_size(copy)
        one = one_parquet_bytes(hours, devices)
        report(
            f"disk / one zstd Parquet at rest an hour later, after txn {hours}",
            total / one,
            "x",
            "<= 2 (+ fixed overhead)",
            total <= 2 * one,
            pond_bytes=total,
            parquet_bytes=one,
            **{k.replace(" ", "_"): v for k, v in parts.items()},
        )


def one_parquet_bytes(hours: int, devices: int) -> int:
    """Bytes of each device's rows written as one zstd Parquet file, summed over devices."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    total = 0
    for d in range(devices):
        buf = io.BytesIO()
        pq.write_table(
            pa.concat_tables([hour_table(h, d) for h in range(hours)]), buf, compression="zstd"
        )
        total += len(buf.getvalue())
    return total


def rest(pond_dir: Path, hours: int, devices: int, runs: int, first_p95: float, first: int) -> None:
    """The pond at rest (:func:`at_rest`): its read figures and disk, then the next hours'
    commits in a new process, what the collector's next run pays after ``hours`` (the run itself
    keeps everything younger than the retention)."""
    from duckpond import Pond

    held = _next_hour(Pond.open(pond_dir))  # the hours the pond holds (--rest-only: any run)
    at_rest(pond_dir, held, devices)
    reads(pond_dir, held, devices, runs, f"at rest after txn {hours}")
    an_hour_later(pond_dir, held, devices)
    rested = Pond.open(pond_dir)
    start = _next_hour(rested)
    later: list[float] = []
    for hour in range(start, start + min(first, 200)):
        tables = [hour_table(hour, d) for d in range(devices)]
        t0 = time.perf_counter()
        with rested.transaction(["run", "/collector", "collect"]) as tx:
            for d, table in enumerate(tables):
                tx.root().append_series(f"/devices/d{d}.series", table, time_column="Timestamp")
        later.append(time.perf_counter() - t0)
    p95 = statistics.quantiles(later, n=20)[-1]
    report(
        f"commit p95 after txn {hours}, the pond at rest",
        p95 * 1e3,
        "ms",
        "<= 1.5x the first block's p95" if first_p95 else "-",
        p95 <= 1.5 * first_p95 if first_p95 else True,
        p50_ms=round(statistics.median(later) * 1e3, 1),
        vs_first=round(p95 / first_p95, 2) if first_p95 else None,
    )


def _next_hour(pond) -> int:
    """The hour after the last one appended to device 0."""
    last = pond.root().resolve("/devices/d0.series").stat().max_event_time
    return (last - START_US) // HOUR_US + 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=int, default=8760, help="transactions (hours) to run")
    ap.add_argument("--devices", type=int, default=4, help="series appended per transaction")
    ap.add_argument("--every", type=int, default=1000, help="measure every N transactions")
    ap.add_argument("--first", type=int, default=500, help="the early block compared against")
    ap.add_argument("--runs", type=int, default=3, help="runs of each whole-process timing")
    ap.add_argument("--quick", action="store_true", help="a short run (600 hours)")
    ap.add_argument("--dir", help="keep the pond here (default: a temporary folder)")
    ap.add_argument(
        "--retention",
        default="30s",
        help="the pond's retention, scaled as the run scales time (default 30s; see above)",
    )
    ap.add_argument(
        "--rest-only",
        action="store_true",
        help="measure the pond a run with --dir left (its --hours), at rest, without appending",
    )
    a = ap.parse_args()
    if a.quick:
        a.hours, a.every, a.first = 600, 300, 300
    from duckpond import Pond

    if a.rest_only:
        if not a.dir:
            ap.error("--rest-only needs --dir")
        rest(Path(a.dir), a.hours, a.devices, a.runs, 0.0, a.first)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        pond_dir = Path(a.dir) if a.dir else Path(tmp) / "pond"
        pond = Pond.init(pond_dir)
        from duckpond.times import parse_resolution

        pond.set_retention(parse_resolution(a.retention))
        print(f"retention: {a.retention} (the pond's setting for the run)", flush=True)
        with pond.transaction(["mkdir", "/devices"]) as tx:
            tx.root().mkdir("/devices")
        latencies: list[float] = []
        first_p95 = 0.0
        for hour in range(a.hours):
            tables = [hour_table(hour, d) for d in range(a.devices)]
            t0 = time.perf_counter()
            with pond.transaction(["run", "/collector", "collect"]) as tx:
                root = tx.root()
                for d, table in enumerate(tables):
                    root.append_series(f"/devices/d{d}.series", table, time_column="Timestamp")
            latencies.append(time.perf_counter() - t0)
            done = hour + 1
            if done == a.first:
                first_p95 = statistics.quantiles(latencies[-a.first :], n=20)[-1]
                print(
                    f"first block: txns 1..{done}: p95 {first_p95 * 1e3:.1f} ms, "
                    f"p50 {statistics.median(latencies) * 1e3:.1f} ms",
                    flush=True,
                )
            if done % a.every == 0 or done == a.hours:
                block = latencies[-min(a.first, len(latencies)) :]
                checkpoint(pond_dir, done, a.devices, block, first_p95, a.runs)
        rest(pond_dir, a.hours, a.devices, a.runs, first_p95, a.first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
