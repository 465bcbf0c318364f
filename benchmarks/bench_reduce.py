"""Benchmark of temporal-reduce (issue 4): speed and memory, and incremental re-reads.

Run (one command; prints medians and ratios, exits 1 if a target is missed)::

    .venv/bin/python benchmarks/bench_reduce.py [--rows 10000000] [--repeat 3] [--json out.json]

A. Full reduce vs hand-written SQL. A pond holds one series of ``--rows`` rows (Timestamp every
   10 s + 5 float64 columns) in one version (a large Parquet file). In fresh processes (so peak
   RSS is clean), alternately:

   - baseline: ``register_node`` the series as ``source`` and run one hand-written DataFusion
     query per resolution (1h 2h 4h 12h 24h): ``date_bin`` + avg/min/max of every column;
   - reduce: read every ``res=<R>.series`` of a ``temporal-reduce`` node over the series.

   Targets: median reduce time <= 1.3 x median baseline time; peak RSS of the reduce process
   <= 2 x the input's Arrow size (``Table.nbytes``).

B. Incremental. A pond holds a year of 1-minute data (525,600 rows, 5 float64) and a
   ``temporal-reduce`` at the same 5 resolutions. In one process: the first full read of all
   resolutions (median of 3 fresh opens), then 3 times: append one day as a new version (one
   transaction) and read all resolutions again. Target: median re-read <= 10% of the full read.
   The incremental results are checked against a fresh full computation. The same is measured
   through a chain ``series -> sql-derived (time_local) -> timeseries-join -> temporal-reduce``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESOLUTIONS = ["1h", "2h", "4h", "12h", "24h"]
INTERVALS = {"1h": "1 hour", "2h": "2 hours", "4h": "4 hours", "12h": "12 hours", "24h": "1 day"}
COLUMNS = [f"c{i}" for i in range(5)]
T0_US = 1_577_836_800_000_000  # 2020-01-01T00:00:00Z


def _series(rows: int, step_us: int, start_us: int = T0_US, seed: int = 0):
    """Timestamp every ``step_us`` from ``start_us`` + 5 float64 random walks (pyarrow only)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = pa.array(range(start_us, start_us + rows * step_us, step_us), pa.int64())
    cols = {"Timestamp": ts.cast(pa.timestamp("us", tz="UTC"))}
    for i, c in enumerate(COLUMNS):
        steps = pc.subtract(pc.random(rows, initializer=seed * 10 + i), 0.5)
        cols[c] = pc.add(pc.cumulative_sum(steps), 10.0 * i)
    return pa.table(cols)


def _reduce_config(input_path: str) -> str:
    return f"input: {input_path}\nresolutions: [{', '.join(RESOLUTIONS)}]\n"


# -- A: full reduce vs hand-written SQL -----------------------------------------------------


def setup_big(folder: Path, rows: int) -> int:
    from duckpond import Pond
    from duckpond.factories import resolver
    from duckpond.factories.registry import mknod

    table = _series(rows, 10_000_000)
    nbytes = table.nbytes
    pond = Pond.init(folder, factories=resolver)
    with pond.transaction(["bench", "setup"]) as tx:
        root = tx.root()
        root.append_series("/big.series", table, time_column="Timestamp")
        mknod(root, "temporal-reduce", "/reduced", _reduce_config("/big.series"))
    return nbytes


def peak_rss() -> int:
    """Peak resident set size of this process, bytes.

    ``VmHWM`` from /proc (Linux) belongs to this address space; ``ru_maxrss`` would not do: Linux
    carries it over fork and exec, so a worker would report its parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(mode: str, folder: str) -> None:
    """Run one measurement in this (fresh) process; print JSON on stdout."""
    if mode.startswith("setup:"):
        print(json.dumps({"nbytes": setup_big(Path(folder), int(mode.split(":")[1]))}))
        return
    from duckpond import Pond
    from duckpond.factories import resolver

    pond = Pond.open(folder, factories=resolver)
    rss_before = peak_rss()
    rows = 0
    started = time.perf_counter()
    if mode == "baseline":
        from duckpond.sql import register_node, session, to_microseconds

        ctx = session()
        register_node(ctx, "source", pond.root().resolve("/big.series"))
        aggs = ", ".join(
            f'avg("{c}") AS "{c}.avg", min("{c}") AS "{c}.min", max("{c}") AS "{c}.max"'
            for c in COLUMNS
        )
        for r in RESOLUTIONS:
            sql = (
                f"SELECT date_bin(INTERVAL '{INTERVALS[r]}', \"Timestamp\", "
                f"TIMESTAMP '1970-01-01T00:00:00Z') AS \"Timestamp\", {aggs} "
                "FROM source GROUP BY 1 ORDER BY 1"
            )
            rows += to_microseconds(ctx.sql(sql).to_arrow_table()).num_rows
    else:
        for np in pond.root().list("/reduced"):
            rows += np.read_table().num_rows
    seconds = time.perf_counter() - started
    peak = peak_rss()
    print(
        json.dumps({"seconds": seconds, "peak_rss": peak, "rss_before": rss_before, "rows": rows})
    )


def _run_worker(mode: str, folder: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", mode, str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker {mode} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_full(workdir: Path, rows: int, repeat: int) -> dict[str, object]:
    folder = workdir / "big"
    t = time.perf_counter()
    nbytes = int(_run_worker(f"setup:{rows}", folder)["nbytes"])  # keeps this process small
    print(f"A. setup: {rows:,} rows, Arrow {nbytes / 1e6:.0f} MB, {time.perf_counter() - t:.1f} s")
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "reduce": []}
    for i in range(repeat):
        for mode in ("baseline", "reduce") if i % 2 == 0 else ("reduce", "baseline"):
            r = _run_worker(mode, folder)
            runs[mode].append(r)
            print(
                f"   {mode:8s} run {i + 1}: {r['seconds']:.2f} s, peak RSS "
                f"{r['peak_rss'] / 1e6:.0f} MB (after open {r['rss_before'] / 1e6:.0f} MB), "
                f"{int(r['rows'])} rows"
            )
    if runs["baseline"][0]["rows"] != runs["reduce"][0]["rows"]:
        raise SystemExit("baseline and reduce disagree on the number of output rows")
    base = statistics.median(r["seconds"] for r in runs["baseline"])
    red = statistics.median(r["seconds"] for r in runs["reduce"])
    peak = max(r["peak_rss"] for r in runs["reduce"])
    peak_base = max(r["peak_rss"] for r in runs["baseline"])
    out = {
        "rows": rows,
        "input_arrow_bytes": nbytes,
        "baseline_median_s": base,
        "reduce_median_s": red,
        "time_ratio": red / base,
        "reduce_peak_rss_bytes": peak,
        "baseline_peak_rss_bytes": peak_base,
        "memory_ratio": peak / nbytes,
    }
    print(
        f"   median: baseline {base:.2f} s, reduce {red:.2f} s -> ratio {red / base:.2f} "
        "(target <= 1.3)"
    )
    print(
        f"   peak RSS: reduce {peak / 1e6:.0f} MB = {peak / nbytes:.2f} x input "
        f"(target <= 2.0); baseline {peak_base / 1e6:.0f} MB"
    )
    shutil.rmtree(folder, ignore_errors=True)
    return out


# -- B: incremental ----------------------------------------------------------------------------


def _read_all(pond, path: str) -> dict[str, object]:
    return {np.name: np.read_table() for np in pond.root().list(path)}


def _differs(want, got, rel: float = 1e-12) -> str | None:
    """Why two outputs differ beyond float summation order, or None."""
    import pyarrow.compute as pc

    if want.schema != got.schema or want.num_rows != got.num_rows:
        return f"shape {want.num_rows} rows vs {got.num_rows}; {want.schema} vs {got.schema}"
    for name in want.column_names:
        a, b = want.column(name), got.column(name)
        if not (a.type.id == b.type.id and str(a.type) == "double"):
            if not a.equals(b):
                return f"column {name} differs"
            continue
        if pc.equal(pc.is_null(a), pc.is_null(b)).to_pylist() != [True] * len(a):
            return f"column {name}: nulls differ"
        diff = pc.abs(pc.subtract(a, b))
        scale = pc.max_element_wise(pc.abs(a), pc.abs(b))
        bad = pc.greater(diff, pc.add(pc.multiply(scale, rel), 1e-300))
        if pc.any(bad).as_py():
            return f"column {name}: max abs difference {pc.max(diff).as_py()}"
    return None


def bench_incremental(workdir: Path, repeat: int) -> dict[str, object]:
    from duckpond import Pond
    from duckpond.factories import resolver
    from duckpond.factories.registry import mknod

    folder = workdir / "year"
    minute = 60_000_000
    year = _series(525_600, minute, seed=1)
    pond = Pond.init(folder, factories=resolver)
    with pond.transaction(["bench", "setup"]) as tx:
        root = tx.root()
        root.append_series("/year.series", year, time_column="Timestamp")
        mknod(root, "temporal-reduce", "/reduced", _reduce_config("/year.series"))
        mknod(
            root,
            "sql-derived",
            "/derived.series",
            "patterns: {raw: /year.series}\nquery: SELECT * FROM raw\ntime_local: true\n",
        )
        mknod(
            root,
            "timeseries-join",
            "/joined.series",
            "inputs:\n  - {pattern: /derived.series, scope: S}\n",
        )
        mknod(root, "temporal-reduce", "/reduced_chain", _reduce_config("/joined.series"))
    out: dict[str, object] = {"rows": year.num_rows}
    for label, path in (("direct", "/reduced"), ("chain", "/reduced_chain")):
        fulls = []
        for _ in range(repeat):
            fresh = Pond.open(folder, factories=resolver)
            t = time.perf_counter()
            _read_all(fresh, path)
            fulls.append(time.perf_counter() - t)
        live = Pond.open(folder, factories=resolver)
        _read_all(live, path)
        incs = []
        end_us = T0_US + 525_600 * minute
        for k in range(repeat):
            day = _series(1440, minute, start_us=end_us + k * 1440 * minute, seed=10 + k)
            with live.transaction(["bench", "append"]) as tx:
                tx.root().append_series("/year.series", day)
            t = time.perf_counter()
            got = _read_all(live, path)
            incs.append(time.perf_counter() - t)
        want = _read_all(Pond.open(folder, factories=resolver), path)
        for name, table in want.items():
            problem = _differs(table, got[name])
            if problem:
                raise SystemExit(f"{label}: incremental {name} differs from a recompute: {problem}")
        stats = live.fs.dynamic_object(live.root().resolve(path)).stats
        full, inc = statistics.median(fulls), statistics.median(incs)
        out[label] = {
            "full_median_s": full,
            "incremental_median_s": inc,
            "ratio": inc / full,
            "paths": stats.__dict__,
        }
        print(
            f"B. {label:6s}: full read {full * 1e3:.1f} ms, after appending a day "
            f"{inc * 1e3:.1f} ms -> {100 * inc / full:.1f}% (target <= 10%); {stats}"
        )
        # the appended days are part of the pond now; the next label starts from this state
    shutil.rmtree(folder, ignore_errors=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temp dir)")
    parser.add_argument("--skip-full", action="store_true", help="only run part B")
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "POND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="bench_reduce-", dir=args.workdir))
    try:
        figures: dict[str, object] = {"cpus": os.cpu_count()}
        ok = True
        if not args.skip_full:
            a = bench_full(workdir, args.rows, args.repeat)
            figures["full"] = a
            ok = ok and a["time_ratio"] <= 1.3 and a["memory_ratio"] <= 2.0  # type: ignore[operator]
        b = bench_incremental(workdir, args.repeat)
        figures["incremental"] = b
        ok = ok and b["direct"]["ratio"] <= 0.10  # type: ignore[index]
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1) + "\n")
        print("all targets met" if ok else "A TARGET WAS MISSED")
        return 0 if ok else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
