"""Backup, restore and mirror benchmarks (issue: Backup, restore and the host mirror).

    .venv/bin/python benchmarks/bench_remote.py [--quick] [--files 10000] [--repeat 3]

The S3 figures go to a real moto_server on loopback (an in-memory S3 protocol server written in
Python: per-request latency is the server's, a real store is slower per request and faster per
byte); the folder figures to a ``file://`` remote on the same disk. Medians of ``--repeat`` runs.

1. Full push of the example pond (both bundled CSVs as series over 12 transactions, a 4 MiB large
   file, a table, a symlink): time and MB/s, S3 and folder.
2. Incremental push after one small commit (48 rows appended to a series): objects and bytes
   sent; target bytes sent <= 2x the new data (the bytes the commit added to the pond's files).
3. Restore of the example pond (download, per-object sha256, every file version checked).
4. Mirror: first sync of a pond of 10,000 files, a sync with nothing changed, and a sync after
   one file changed (each sync journals its steps: a killed sync is finished by the next).
5. Dry runs (``--dry-run``: the plan only, nothing changed): an incremental push and a mirror sync
   after one change, as a fraction of the real operation measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import dump, median_time, report

from duckpond import Pond
from duckpond.formats import read_csv_series
from duckpond.mirror import plan_sync, sync
from duckpond.remote import local_objects, plan_push, push, restore

REPO = Path(__file__).resolve().parents[1]
CSVS = [
    REPO
    / "data"
    / "neracoos_b01_water_temperature_30min"
    / "neracoos_b01_water_temperature_30min.csv",
    REPO / "data" / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv",
]


class Moto:
    """moto_server on 127.0.0.1 at a free port."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)
        os.environ["BENCH_S3_SECRET"] = "bench"
        self.options = {
            "endpoint_url": self.endpoint,
            "region": "us-east-1",
            "access_key_id": "bench",
            "secret_access_key": "${env:BENCH_S3_SECRET}",
        }

    def new_url(self) -> str:
        import boto3

        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket=bucket)
        return f"s3://{bucket}/pond"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def build_example(path: Path) -> Pond:
    pond = Pond.init(path)
    chunks = 10
    b01, tc = read_csv_series(CSVS[0])
    jfk, jtc = read_csv_series(CSVS[1])
    step = -(-b01.num_rows // chunks)
    with pond.transaction(["setup"]) as tx:
        tx.root().mkdir("/raw")
        tx.root().write_file("/raw/blob.bin", os.urandom(4 << 20))
    for i in range(chunks):
        with pond.transaction(["append", "b01", str(i)]) as tx:
            tx.root().append_series("/raw/b01.series", b01.slice(i * step, step), time_column=tc)
    with pond.transaction(["load", "jfk"]) as tx:
        tx.root().append_series("/raw/jfk.series", jfk, time_column=jtc)
        tx.root().symlink("/latest", "/raw/b01.series")
    return pond


def small_commit(pond: Pond, i: int) -> None:
    b01, tc = read_csv_series(CSVS[0])
    with pond.transaction(["append", "small", str(i)]) as tx:
        tx.root().append_series("/raw/b01.series", b01.slice(i * 48, 48), time_column=tc)


def bench_push_restore(work: Path, moto: Moto, repeat: int) -> list[dict]:
    rows = []
    pond = build_example(work / "example")
    objects = local_objects(pond.path)
    total = sum(o.size for o in objects)
    for backend in ("s3", "file"):
        urls: list[str] = []

        def target(backend: str = backend, urls: list[str] = urls) -> None:
            urls.append(moto.new_url() if backend == "s3" else (work / uuid.uuid4().hex).as_uri())

        options = moto.options if backend == "s3" else {}
        t = median_time(
            lambda urls=urls, options=options: push(pond, urls[-1], options=options),
            repeat,
            setup=target,
        )
        rows.append(
            report(
                f"full push, {backend}",
                t,
                "s",
                "-",
                True,
                objects=len(objects),
                mb=round(total / 1e6, 2),
                mb_per_s=round(total / 1e6 / t, 1),
            )
        )
        url = urls[-1]
        # incremental push after one small commit
        sent, ratios, times = [], [], []
        for i in range(max(3, repeat)):
            before = {o.key: o.path.read_bytes() for o in local_objects(pond.path)}
            small_commit(pond, i)
            # new objects, and _last_checkpoint when the commit made a checkpoint
            new = [o for o in local_objects(pond.path) if before.get(o.key) != o.path.read_bytes()]
            new_bytes = sum(o.size for o in new)
            t0 = time.perf_counter()
            r = push(pond, url, options=options)
            times.append(time.perf_counter() - t0)
            assert set(r.sent) == {o.key for o in new}, (r.sent, new)
            sent.append((r.objects_sent, r.bytes_sent, new_bytes))
            ratios.append(r.bytes_sent / new_bytes)
        ratios.sort()
        times.sort()
        med = ratios[len(ratios) // 2]
        objs, bytes_sent, new_bytes = sent[len(sent) // 2]
        small_commit(pond, 200)
        t_plan = median_time(lambda url=url, options=options: plan_push(pond, url, options=options))
        t0 = time.perf_counter()
        push(pond, url, options=options)
        t_push = time.perf_counter() - t0
        rows.append(
            report(
                f"push --dry-run after a 48-row commit, {backend}",
                t_plan,
                "s",
                "-",
                True,
                fraction_of_the_push=round(t_plan / t_push, 3),
            )
        )
        rows.append(
            report(
                f"incremental push after a 48-row commit, {backend}: bytes sent / new data",
                med,
                "x",
                "<= 2",
                med <= 2,
                objects=objs,
                bytes_sent=bytes_sent,
                new_data_bytes=new_bytes,
                seconds=round(times[len(times) // 2], 3),
            )
        )
        dests: list[Path] = []

        def dest(dests: list[Path] = dests) -> None:
            dests.append(work / f"restored-{uuid.uuid4().hex}")

        t = median_time(
            lambda url=url, options=options, dests=dests: restore(url, dests[-1], options),
            repeat,
            setup=dest,
        )
        restored = local_objects(dests[-1])
        size = sum(o.size for o in restored)
        rows.append(
            report(
                f"restore, {backend}",
                t,
                "s",
                "-",
                True,
                objects=len(restored),
                mb=round(size / 1e6, 2),
                mb_per_s=round(size / 1e6 / t, 1),
            )
        )
    return rows


def bench_mirror(work: Path, files: int, repeat: int) -> list[dict]:
    pond = Pond.init(work / "many")
    per_dir = 100
    t0 = time.perf_counter()
    with pond.transaction(["many"]) as tx:
        r = tx.root()
        for d in range(-(-files // per_dir)):
            r.mkdir(f"/d{d:03d}")
            for i in range(min(per_dir, files - d * per_dir)):
                r.write_file(f"/d{d:03d}/f{i:03d}.csv", f"t,v\n{d},{i}\n".encode())
    setup_s = time.perf_counter() - t0
    rows = []
    dirs: list[Path] = []

    def fresh(dirs: list[Path] = dirs) -> None:
        dirs.append(work / f"mirror-{uuid.uuid4().hex}")

    t_first = median_time(lambda: sync(Pond.open(pond.path), dirs[-1]), repeat, setup=fresh)
    rows.append(
        report(
            f"mirror: first sync of {files} files",
            t_first,
            "s",
            "-",
            True,
            pond_setup_s=round(setup_s, 2),
        )
    )
    mirror = dirs[-1]
    t_same = median_time(lambda: sync(Pond.open(pond.path), mirror), repeat)
    rows.append(report(f"mirror: sync of {files} files, nothing changed", t_same, "s", "-", True))
    counter = [0]

    def change() -> None:
        counter[0] += 1
        with pond.transaction(["one"]) as tx:
            tx.root().write_file("/d007/f042.csv", f"t,v\n{counter[0]},0\n".encode())

    results = []

    def one() -> None:
        results.append(sync(Pond.open(pond.path), mirror))

    t_one = median_time(one, repeat, setup=change)
    assert all(r.written == ["d007/f042.csv"] for r in results), results[-1].written
    change()
    t_dry = median_time(lambda: plan_sync(Pond.open(pond.path), mirror), repeat)
    t_real = median_time(lambda: sync(Pond.open(pond.path), mirror), 1)
    rows.append(
        report(
            f"mirror sync --dry-run after one change among {files} files",
            t_dry,
            "s",
            "-",
            True,
            fraction_of_the_sync=round(t_dry / t_real, 3),
        )
    )
    rows.append(
        report(
            f"mirror: sync after one change among {files} files",
            t_one,
            "s",
            "-",
            True,
            written=len(results[-1].written),
            fraction_of_first_sync=round(t_one / t_first, 3),
        )
    )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--json", help="write results here")
    a = ap.parse_args()
    if a.quick:
        a.files, a.repeat = 1000, 1
    rows = []
    moto = Moto()
    try:
        with tempfile.TemporaryDirectory(prefix="duckpond-bench-") as tmp:
            work = Path(tmp)
            rows += bench_push_restore(work, moto, a.repeat)
            rows += bench_mirror(work, a.files, a.repeat)
            shutil.rmtree(work, ignore_errors=True)
    finally:
        moto.stop()
    dump(rows, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
