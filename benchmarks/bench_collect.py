"""Benchmark of the hydrovu collector (issue 6): a year of readings, then one new day.

Run (one command; prints the figures, exits 1 if a target is missed)::

    .venv/bin/python benchmarks/bench_collect.py [--devices 6] [--days 365] [--repeat 3]
                                                 [--quick] [--json out.json]

Setup: 6 synthetic devices (``Device.synthetic``), each with 4 parameters read every 15 minutes
for a year (35,040 timestamps, 140,160 readings per device), served by the HydroVu-compatible test
server on loopback (its default page size: 1000 timestamps per data page). The server, the pond
setup (``Pond.init`` + ``mknod hydrovu``) and every collecting run are separate processes, so that
each run's peak RSS is its own (``ru_maxrss`` survives ``exec``: a child forked from a large
parent would report the parent's size).

Each repetition uses a fresh pond:

- run 1 (full): a fresh process opens the pond and runs ``collect`` once: each device's year
  arrives over HTTP and is appended as one series version per device, in one transaction.
- run 2 (+1 day): the server is restarted with the devices extended by one day (96 new timestamps
  per device); a fresh process runs ``collect`` again.
- run 3 (nothing new): against the same server, once more: the fixed cost of a run (token,
  catalogue, locations, one empty data page per device, no commit).

Reported per run (medians over the repetitions): wall time of the ``collect`` call (interpreter
start, imports and opening the pond excluded, since they are per process, not per datum), HTTP
requests (the client's count: token and paging included; checked against the server's), rows
appended, and the process's peak RSS from ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` read inside
it after the run (and before it, after imports and opening the pond).

Targets: run 1 <= 60 s and peak RSS <= 400 MiB; run 2 sends 3 + one data request per device (in
proportion to the new data: one page each) and takes at most 0.5 s more than run 3 (the fixed
cost) and <= 25% of run 1's time (not checked with ``--quick``); rows exactly as served.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import dump, report  # noqa: E402

START_S = 1_672_531_200  # 2023-01-01T00:00:00Z, seconds since the epoch
STEP_S = 900  # 15 minutes
DAY_S = 86_400
PARAMS = [
    ("Temperature", "C"),
    ("Specific Conductivity", "µS/cm"),
    ("Dissolved Oxygen (concentration)", "mg/L"),
    ("pH", "pH"),
]
NODE = "/collector"
CLIENT_ID, CLIENT_SECRET = "bench", "bench-secret"


def _devices(n: int, end_s: int):
    from duckpond.testing.hydrovu_server import Device

    return [
        Device.synthetic(2000 + i, f"Dev{i}", START_S, end_s, STEP_S, PARAMS, seed=i)
        for i in range(n)
    ]


# -- the processes ------------------------------------------------------------------------------


def _serve(n: int, days: int, extra_days: int) -> None:
    """Serve the devices until stdin closes, then print the server's request counts."""
    from duckpond.testing.hydrovu_server import HydroVuTestServer

    devices = _devices(n, START_S + (days + extra_days) * DAY_S)
    with HydroVuTestServer(devices, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as srv:
        print(json.dumps({"base_url": srv.base_url}), flush=True)
        sys.stdin.read()
        counts = srv.request_count
    print(json.dumps({"requests": counts.total(), "data_requests": counts["data"]}), flush=True)


def _setup(pond_path: str, n: int) -> None:
    """Create the pond and its hydrovu node."""
    from duckpond import Pond
    from duckpond.factories import hydrovu
    from duckpond.factories.registry import FACTORIES, mknod

    registry = FACTORIES.with_factories(hydrovu.FACTORY)
    pond = Pond.init(pond_path, factories=registry.resolver())
    devices_yaml = "".join(f"  - {{name: Dev{i}, id: {2000 + i}}}\n" for i in range(n))
    config = (
        "folder: /hydrovu\nbase_url: ${env:BENCH_HV_URL}\n"
        "credentials:\n  client_id: ${env:BENCH_HV_ID}\n"
        "  client_secret: ${env:BENCH_HV_SECRET}\n"
        f"max_points_per_run: 1000000\ndevices:\n{devices_yaml}"
    )
    with pond.transaction(["mknod", "hydrovu", NODE]) as tx:
        mknod(tx.root(), "hydrovu", NODE, config, registry=registry)


def _child(pond_path: str) -> None:
    """Run ``collect`` once and print one JSON line of figures."""
    import resource

    import duckpond.hydrovu.client  # noqa: F401  (collect imports it lazily: a per-process cost)
    from duckpond import Pond
    from duckpond.factories import hydrovu
    from duckpond.factories.registry import FACTORIES, run

    registry = FACTORIES.with_factories(hydrovu.FACTORY)
    pond = Pond.open(pond_path, factories=registry.resolver())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB -> MiB
    t0 = time.perf_counter()
    result = run(pond, NODE, "collect", registry=registry)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fig = {
        "seconds": elapsed,
        "requests": result.requests,
        "rows": result.rows,
        "rows_per_device": [d.rows for d in result.devices],
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
    }
    print(json.dumps(fig))


def _python(*args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return proc.stdout


def _runs_against(n: int, days: int, extra_days: int, pond_path: Path, runs: int) -> list[dict]:
    """Start a server process; run ``runs`` collecting processes against it, one after another."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(n), str(days), str(extra_days)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdin is not None
        hello = json.loads(server.stdout.readline())
        env = {
            **os.environ,
            "BENCH_HV_URL": hello["base_url"],
            "BENCH_HV_ID": CLIENT_ID,
            "BENCH_HV_SECRET": CLIENT_SECRET,
        }
        figs = [
            json.loads(_python("--child", str(pond_path), env=env).strip().splitlines()[-1])
            for _ in range(runs)
        ]
        server.stdin.close()
        counts = json.loads(server.stdout.readline())
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    if sum(f["requests"] for f in figs) != counts["requests"]:
        raise RuntimeError(f"client counted {figs}, server {counts}")
    figs[0]["data_pages"] = counts["data_requests"] if runs == 1 else None
    return figs


# -- the benchmark ------------------------------------------------------------------------------


def _median(figs: list[dict], key: str) -> float:
    return float(statistics.median(f[key] for f in figs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=6)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="30 days, 1 repetition (smoke run)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--setup", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--serve", nargs=3, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _child(a.child)
        return 0
    if a.setup:
        _setup(a.setup[0], int(a.setup[1]))
        return 0
    if a.serve:
        _serve(*a.serve)
        return 0

    days, repeat = (30, 1) if a.quick else (a.days, a.repeat)
    n = a.devices
    per_device = days * DAY_S // STEP_S
    new_per_device = DAY_S // STEP_S
    print(
        f"setup: {n} devices x {per_device} timestamps x {len(PARAMS)} parameters "
        f"({days} days every {STEP_S // 60} min), {repeat} repetition(s)",
        flush=True,
    )
    run1: list[dict] = []
    run2: list[dict] = []
    run3: list[dict] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
            pond_path = Path(tmp) / "pond"
            _python("--setup", str(pond_path), str(n))
            run1 += _runs_against(n, days, 0, pond_path, 1)
            r2, r3 = _runs_against(n, days, 1, pond_path, 2)
            run2.append(r2)
            run3.append(r3)
    for label, figs in (
        ("run 1 (full)      ", run1),
        ("run 2 (+1 day)    ", run2),
        ("run 3 (no new data)", run3),
    ):
        print(
            f"{label}: {_median(figs, 'seconds'):.3f} s, {figs[0]['requests']} requests, "
            f"{figs[0]['rows']} rows, peak RSS {_median(figs, 'peak_rss_mib'):.0f} MiB "
            f"({_median(figs, 'rss_before_mib'):.0f} MiB after imports and opening the pond)",
            flush=True,
        )

    t1, t2, t3 = (_median(f, "seconds") for f in (run1, run2, run3))
    rows = [
        report(
            "collect run 1 (year) time",
            t1,
            "s",
            "<= 60",
            t1 <= 60,
            rows=run1[0]["rows"],
            rows_per_s=round(run1[0]["rows"] / t1),
        ),
        report(
            "collect run 1 (year) peak RSS",
            _median(run1, "peak_rss_mib"),
            "MiB",
            "<= 400",
            _median(run1, "peak_rss_mib") <= 400,
            before=round(_median(run1, "rss_before_mib")),
        ),
        report(
            "collect run 1 (year) requests",
            run1[0]["requests"],
            "requests",
            "informational",
            True,
            data_pages=run1[0]["data_pages"],
        ),
        report(
            "collect run 2 (+1 day) requests",
            run2[0]["requests"],
            "requests",
            f"== 3 + {n}",
            all(f["requests"] == 3 + n for f in run2),
        ),
        report(
            "collect run 2 (+1 day) time",
            t2,
            "s",
            "<= run 3 + 0.5 s" + ("" if a.quick else " and <= 25% of run 1"),
            t2 <= t3 + 0.5 and (a.quick or t2 <= 0.25 * t1),
            ratio_to_run1=round(t2 / t1, 3),
            run3_s=round(t3, 3),
        ),
        report(
            "collect run 2 (+1 day) peak RSS",
            _median(run2, "peak_rss_mib"),
            "MiB",
            "informational",
            True,
            run3_mib=round(_median(run3, "peak_rss_mib")),
        ),
        report(
            "collect rows as served",
            run1[0]["rows"] + run2[0]["rows"],
            "rows",
            f"{n} x ({per_device} + {new_per_device}), then 0",
            all(f["rows_per_device"] == [per_device] * n for f in run1)
            and all(f["rows_per_device"] == [new_per_device] * n for f in run2)
            and all(f["rows"] == 0 for f in run3),
        ),
    ]
    dump(rows, a.json)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
