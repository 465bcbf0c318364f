"""Derived data between commands (issue 15): the work of an update follows the update, not the
years held.

    .venv/bin/python benchmarks/bench_incremental.py [--years 1,5] [--devices 6] [--repeat 3]
        [--quick] [--keep DIR] [--json out.json]

For each size, a pond holds ``years`` of 1-minute readings (3 float columns) from ``devices``
devices, appended one transaction per day (one version per device per day; auto-collapse runs
as it does for a collector), a ``temporal-reduce`` at 15m/1h/6h/1d per device
(``/reduced/d<i>``) and a ``sitegen`` node (``/site``) with one page per device. ``--keep DIR``
keeps the ponds there and reuses them on the next run (building 5 years by daily transactions
takes a while: about 1,800 transactions).

Measured per pond, every command a new process (``pond ...``, wall time, medians of
``--repeat`` runs):

- cold build: ``pond run /site build`` with no cache and no site folder;
- incremental build: one more day appended (a transaction, not timed), then
  ``pond run /site build`` (target <= 2 s); the files it rewrote (by mtime) and how many of
  those cover the new day;
- rebuild with nothing new (target <= 1 s);
- ``pond cat /reduced/d0/res=1h.series --sql Q`` after one more day, against DuckDB running
  ``Q`` over the same reduced rows stored as one Parquet file (a whole process too; target
  <= 1.5x): the two run back to back after each new day, in alternating order (paired), and
  the median of the per-day ratios is printed beside the ratio of the medians;
- the cache's bytes on disk against the raw data (the pond's data folder, and the raw rows as
  one zstd Parquet file).

Then, for the 5-year / 1-year ratio of the incremental build (target <= 1.3), builds after one
more day alternate between the two ponds (1, 5, 5, 1, ...): measured minutes apart, as the
per-pond figures are, the ratio moved with the machine's speed more than the target's margin.

``--quick`` runs 30 and 150 days (the same 1:5 ratio) with 2 devices, for a smoke run.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import POND, dump, report

DAY_US = 86_400_000_000
MINUTE_US = 60_000_000
START_US = 1_577_836_800_000_000  # 2020-01-01T00:00:00Z
START_DAY = START_US // DAY_US
COLUMNS = ["Temperature.C", "Conductivity.uScm", "DO.mgL"]
RESOLUTIONS = ["15m", "1h", "6h", "1d"]
QUERY = (
    'SELECT count(*) AS n, avg("D0.Temperature.C.avg") AS t, max("D0.DO.mgL.max") AS o, '
    'sum("D0.Conductivity.uScm.count") AS c FROM source'
)
DUCKDB = """
import sys, duckdb
con = duckdb.connect()
q = sys.argv[2].replace("FROM source", f"FROM read_parquet('{sys.argv[1]}')")
print(con.sql(q).fetchall())
"""


def day_table(day: int, device: int):
    """1,440 one-minute readings of one device on day ``day`` (days since the epoch)."""
    import numpy as np
    import pyarrow as pa

    t = np.arange(1440, dtype=np.int64)
    ts = day * DAY_US + t * MINUTE_US
    phase = (day * 1440 + t) / 1440.0
    rng = np.random.default_rng(day * 31 + device)
    cols = {"Timestamp": pa.array(ts, pa.timestamp("us", "UTC"))}
    base = [
        12 + 8 * np.sin(2 * math.pi * phase / 365) + np.sin(2 * math.pi * phase),
        450 + 30 * np.sin(2 * math.pi * phase / 30),
        9 + np.cos(2 * math.pi * phase),
    ]
    for name, values in zip(COLUMNS, base, strict=True):
        noisy = np.round(values + rng.normal(0, 0.05, 1440) + device, 3)
        cols[f"D{device}.{name}"] = pa.array(noisy)
    return pa.table(cols)


def reduce_config(device: int) -> str:
    return (
        f"input: /devices/d{device}.series\nresolutions: [{', '.join(RESOLUTIONS)}]\n"
        "aggregations: [avg, min, max, count]\n"
    )


SITE = "title: Bench\npages:\n  - pattern: /reduced/*\n    title: Device $0\n"


def build_pond(path: Path, days: int, devices: int) -> None:
    """Create the pond (or extend one kept from an earlier run) to ``days`` days."""
    from duckpond import Pond
    from duckpond.factories import resolver
    from duckpond.factories.registry import mknod

    if (path / "data").is_dir():
        pond = Pond.open(path, factories=resolver)
        have = _days_held(pond)
    else:
        pond = Pond.init(path, factories=resolver)
        with pond.transaction(["mknod", "bench"]) as tx:
            root = tx.root()
            root.mkdir("/devices")
            root.mkdir("/reduced")
            for d in range(devices):
                mknod(root, "temporal-reduce", f"/reduced/d{d}", reduce_config(d))
            mknod(root, "sitegen", "/site", SITE)
        have = 0
    t0 = time.perf_counter()
    for day in range(have, days):
        append_day(pond, day, devices)
        if (day + 1) % 100 == 0:
            rate = (time.perf_counter() - t0) / (day + 1 - have)
            print(f"  {path.name}: {day + 1}/{days} days ({rate * 1e3:.0f} ms/txn)", flush=True)


def append_day(pond, day: int, devices: int) -> None:
    tables = [day_table(START_DAY + day, d) for d in range(devices)]
    with pond.transaction(["run", "/collector", "collect"]) as tx:
        root = tx.root()
        for d, table in enumerate(tables):
            root.append_series(f"/devices/d{d}.series", table, time_column="Timestamp")


def _days_held(pond) -> int:
    try:
        stat = pond.root().resolve("/devices/d0.series").stat()
    except Exception:  # no data yet
        return 0
    if stat.max_event_time is None:
        return 0
    return int((stat.max_event_time - START_US) // DAY_US) + 1


def wall(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} exited {proc.returncode}: {proc.stderr[-1500:]}")
    return dt, proc.stdout


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            p = Path(dirpath) / f
            st = p.stat()
            out[str(p.relative_to(folder))] = (st.st_mtime_ns, st.st_size)
    return out


def dir_size(path: Path) -> int:
    return sum(v[1] for v in snapshot(path).values()) if path.is_dir() else 0


def measure(path: Path, label: str, devices: int, repeat: int, rows: list) -> dict[str, float]:
    from duckpond import Pond
    from duckpond.factories import resolver

    env = {**os.environ, "POND": str(path)}
    # as installed: byte code cached (not in the source tree), so no process compiles modules
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(path.parent / "pycache"))
    pond_cmd = POND
    site = path.parent / f"{path.name}-site"
    build = [pond_cmd, "run", "/site", "build", str(site)]
    out: dict[str, float] = {}
    wall([pond_cmd, "list", "/"], env)  # warm the byte-code cache
    t_list = statistics.median(wall([pond_cmd, "list", "/"], env)[0] for _ in range(repeat))
    rows.append(report(f"{label}: pond list / (a process's fixed cost)", t_list, "s", "-", True))

    # cold: no cache, no site
    colds = []
    for _ in range(max(1, repeat - 1)):
        shutil.rmtree(path / "cache", ignore_errors=True)
        shutil.rmtree(site, ignore_errors=True)
        colds.append(wall(build, env)[0])
    out["cold"] = statistics.median(colds)
    rows.append(report(f"{label}: cold site build (no cache)", out["cold"], "s", "-", True))

    pond = Pond.open(path, factories=resolver)
    day = _days_held(pond)
    incs, rewritten, nothing = [], [], []
    for _ in range(repeat):
        append_day(pond, day, devices)
        day += 1
        before = snapshot(site)
        dt, _ = wall(build, env)
        incs.append(dt)
        after = snapshot(site)
        rewritten.append(sorted(k for k, v in after.items() if before.get(k) != v))
        nothing.append(wall(build, env)[0])
    out["incremental"] = statistics.median(incs)
    out["nothing"] = statistics.median(nothing)
    data_files = [f for f in rewritten[-1] if f.startswith("data/")]
    rows.append(
        report(
            f"{label}: site build after one more day",
            out["incremental"],
            "s",
            "<= 2",
            out["incremental"] <= 2,
            files_rewritten=len(rewritten[-1]),
            data_blocks_rewritten=len(data_files) // 2,
            pages=devices,
        )
    )
    print(
        f"    rewritten: {', '.join(rewritten[-1][:12])}{' ...' if len(rewritten[-1]) > 12 else ''}"
    )
    rows.append(
        report(
            f"{label}: site rebuild, nothing new", out["nothing"], "s", "<= 1", out["nothing"] <= 1
        )
    )

    # pond cat --sql after one more day vs DuckDB over the reduced rows in one Parquet file
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        cats, ducks, pairs = [], [], []
        for k in range(repeat):
            append_day(pond, day, devices)
            day += 1
            cat = [pond_cmd, "cat", "/reduced/d0/res=1h.series", "--format", "csv", "--sql", QUERY]
            one = Path(tmp) / "reduced.parquet"
            # the reference rows are computed from the raw rows, never through the cache the
            # measured `pond` uses: this process runs the repository's code, which may not be
            # the measured install's (another cache format would make the two rewrite each
            # other's entries)
            before = os.environ.get("DUCKPOND_CACHE")
            os.environ["DUCKPOND_CACHE"] = "off"
            try:
                fresh = Pond.open(path, factories=resolver)
                reduced = fresh.root().resolve("/reduced/d0/res=1h.series").read_table()
            finally:
                if before is None:
                    del os.environ["DUCKPOND_CACHE"]
                else:
                    os.environ["DUCKPOND_CACHE"] = before
            pq.write_table(reduced, one)
            # paired: the two run back to back, in alternating order (the reference rows were
            # computed first, untimed; the cat is still the first `pond` process of the day)
            duck = [sys.executable, "-c", DUCKDB, str(one), QUERY]
            if k % 2:
                ducks.append(wall(duck, env)[0])
                cats.append(wall(cat, env)[0])
            else:
                cats.append(wall(cat, env)[0])
                ducks.append(wall(duck, env)[0])
            pairs.append(cats[-1] / ducks[-1])
        out["cat"] = statistics.median(cats)
        out["duckdb"] = statistics.median(ducks)
        ratio = out["cat"] / out["duckdb"]
        rows.append(
            report(
                f"{label}: pond cat res=1h --sql after one more day",
                ratio,
                "x DuckDB",
                "<= 1.5",
                ratio <= 1.5,
                pond_s=round(out["cat"], 3),
                duckdb_s=round(out["duckdb"], 3),
                median_of_pairs=round(statistics.median(pairs), 3),
            )
        )
        # sizes
        import pyarrow as pa

        raw = Path(tmp) / "raw"
        raw.mkdir()
        for d in range(devices):
            table = fresh.root().resolve(f"/devices/d{d}.series").read_table()
            pq.write_table(table, raw / f"d{d}.parquet", compression="zstd")
            del table
        raw_one = dir_size(raw)
        _ = pa
    cache = dir_size(path / "cache")
    data = dir_size(path / "data")
    rows.append(
        report(
            f"{label}: cache size / raw data",
            cache / raw_one,
            "x one zstd Parquet",
            "-",
            True,
            cache_bytes=cache,
            raw_parquet_bytes=raw_one,
            pond_data_bytes=data,
            cache_vs_pond_data=round(cache / data, 3),
        )
    )
    return out


def interleaved_builds(
    small: Path, big: Path, devices: int, repeat: int
) -> tuple[list[float], list[float]]:
    """Site builds after one more day, alternating between the two ponds (order swapped each
    round): the wall times of each pond's builds."""
    from duckpond import Pond
    from duckpond.factories import resolver

    out: tuple[list[float], list[float]] = ([], [])
    ponds = [(Pond.open(p, factories=resolver), p) for p in (small, big)]
    for k in range(repeat):
        for i in (0, 1) if k % 2 == 0 else (1, 0):
            pond, path = ponds[i]
            append_day(pond, _days_held(pond), devices)
            env = {**os.environ, "POND": str(path)}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env.setdefault("PYTHONPYCACHEPREFIX", str(path.parent / "pycache"))
            site = path.parent / f"{path.name}-site"
            out[i].append(wall([POND, "run", "/site", "build", str(site)], env)[0])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", default="1,5", help="pond sizes in years (comma-separated)")
    ap.add_argument("--days", help="pond sizes in days instead (comma-separated)")
    ap.add_argument("--devices", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each timing (median)")
    ap.add_argument("--quick", action="store_true", help="30 and 150 days, 2 devices")
    ap.add_argument("--keep", help="keep (and reuse) the ponds in this folder")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    if a.quick:
        a.days, a.devices, a.repeat = "30,150", 2, 2
    if a.days:
        sizes = [(f"{int(d)} days", int(d)) for d in a.days.split(",")]
    else:
        sizes = [
            (f"{y} year{'s' if y != '1' else ''}", round(float(y) * 365))
            for y in a.years.split(",")
        ]
    rows: list = []
    results = []
    paths: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(a.keep) if a.keep else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        for label, days in sizes:
            path = base / f"pond-{days}d-{a.devices}dev"
            t0 = time.perf_counter()
            build_pond(path, days, a.devices)
            print(f"{label}: pond ready ({time.perf_counter() - t0:.0f} s)", flush=True)
            results.append((label, measure(path, label, a.devices, a.repeat, rows)))
            paths.append(path)
        if len(results) >= 2:
            (small_label, small), (big_label, big) = results[0], results[-1]
            # the ratio from builds interleaved between the two ponds (the figures above were
            # measured minutes apart, and this machine's speed drifts more than the target's
            # margin): small, big, big, small, ...
            builds = interleaved_builds(paths[0], paths[-1], a.devices, a.repeat)
            ratio = statistics.median(builds[1]) / statistics.median(builds[0])
            rows.append(
                report(
                    f"site build after one more day: {big_label} / {small_label}",
                    ratio,
                    "x",
                    "<= 1.3",
                    ratio <= 1.3,
                    small_s=round(statistics.median(builds[0]), 3),
                    big_s=round(statistics.median(builds[1]), 3),
                    apart=round(big["incremental"] / small["incremental"], 3),
                )
            )
            ratio = big["cat"] / small["cat"]
            rows.append(
                report(f"pond cat res=1h: {big_label} / {small_label}", ratio, "x", "-", True)
            )
    dump(rows, a.json)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
