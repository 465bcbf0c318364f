"""Ingest rate of an In-Situ export vs pyarrow.csv.read_csv on the same file (issue 14 figure).

    .venv/bin/python benchmarks/bench_ingest.py [--rows 2000000] [--repeat 5] [--quick]

The file is shaped as an In-Situ HydroVu export (quoted fields, CRLF, a ``"Key:","Value"``
preamble stating ``America/Chicago``, ``"Date Time","Temperature (°C) (812345)",...``) with one
row a minute from 2023-01-01 local time, so it crosses DST changes: the repeated hours are read
with ``ambiguous=infer``. Values are the real B01 water temperatures, repeated, and three more
columns derived from them.

1. Library: ``duckpond.formats.parse_csv_series`` (layout detection, the time text parsed and
   localized with the DST checks, names mapped) vs ``pyarrow.csv.read_csv(skip_rows=...)`` (which
   only parses: naive times, vendor names). Median of ``--repeat`` runs each, interleaved; rows/s
   and the ratio.
2. Whole process: ``pond copy --ambiguous infer host+csv+series://FILE /s.series`` into a new pond
   (start-up, parse, write Parquet, commit) vs a fresh ``python -c`` that imports pyarrow and runs
   ``read_csv`` on the file.
3. A Parquet file of ``--copy-rows`` rows (Timestamp + 5 float64, 10M by default) copied in:
   ``pond copy host+series://FILE /big.series``, whole process, vs ``pq.write_table`` of the same
   table in this process (issue 14's figure: goal <= 1.3x), and vs a fresh ``python -c`` that
   reads the file and writes it again (what a copy of a Parquet file costs with pyarrow alone).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.csv as pcsv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import POND, dump, report

from duckpond.formats import CsvOptions, parse_csv_series

ROOT = Path(__file__).resolve().parents[1]
B01 = (
    ROOT
    / "data"
    / "neracoos_b01_water_temperature_30min"
    / "neracoos_b01_water_temperature_30min.csv"
)
PREAMBLE = 7  # lines before the header


def make_file(path: Path, rows: int) -> None:
    temps = [r.split(",")[1] for r in B01.read_text().splitlines()[1:]]
    zone = ZoneInfo("America/Chicago")
    start = datetime(2023, 1, 1, 6, tzinfo=ZoneInfo("UTC"))
    lines = [
        '"Location Name:","Bench well"',
        '"Location Description:","synthetic rows from B01 water temperature"',
        '"Latitude:","41.8"',
        '"Longitude:","-87.6"',
        '"Time Zone:","America/Chicago"',
        '"Exported By:","benchmarks/bench_ingest.py"',
        "",
        '"Date Time","Temperature (°C) (812345)","Pressure (psi) (812345)",'
        '"Depth (ft) (812345)","Specific Conductivity (µS/cm) (812345)"',
    ]
    assert len(lines) == PREAMBLE + 1
    minute = timedelta(minutes=1)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\r\n".join(lines) + "\r\n")
        chunk = []
        for k in range(rows):
            t = (start + k * minute).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
            v = temps[k % len(temps)]
            x = float(v)
            chunk.append(f'"{t}","{v}","{14.7 + x / 10:.3f}","{x * 0.3:.3f}","{400 + 10 * x:.1f}"')
            if len(chunk) == 100_000:
                f.write("\r\n".join(chunk) + "\r\n")
                chunk = []
        if chunk:
            f.write("\r\n".join(chunk) + "\r\n")


def interleaved(ours, baseline, repeat: int) -> tuple[float, float]:
    a, b = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        baseline()
        b.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t0)
    return statistics.median(a), statistics.median(b)


def timed_copy(pond: Path, *copy_args: str) -> float:
    """Seconds of ``pond copy COPY_ARGS`` (a whole process) into a new pond at ``pond``, which
    is removed after."""
    subprocess.run([POND, "init", str(pond)], check=True, capture_output=True)
    t0 = time.perf_counter()
    r = subprocess.run([POND, "--pond", str(pond), "copy", *copy_args], capture_output=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode())
    shutil.rmtree(pond)
    return took


def copy_parquet(work: Path, rows: int, repeat: int) -> dict:
    """Figure 3 (module docstring): median whole-process ``pond copy`` of a Parquet series."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(14)
    start = 1_700_000_000_000_000
    table = pa.table(
        {
            "Timestamp": pa.array(start + np.arange(rows, dtype=np.int64) * 60_000_000).cast(
                pa.timestamp("us", tz="UTC")
            ),
            **{f"v{i}.unit": rng.normal(10, 3, rows) for i in range(5)},
        }
    )
    src = work / "big.parquet"
    pq.write_table(table, src)
    ours, write, rewrite = [], [], []
    for k in range(repeat):
        t0 = time.perf_counter()
        pq.write_table(table, work / "written.parquet")
        write.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, pyarrow.parquet as pq; "
                "pq.write_table(pq.read_table(sys.argv[1]), sys.argv[2])",
                str(src),
                str(work / "rewritten.parquet"),
            ],
            check=True,
        )
        rewrite.append(time.perf_counter() - t0)
        ours.append(timed_copy(work / f"bigpond{k}", f"host+series://{src}", "/big.series"))
    mine, base, again = (statistics.median(x) for x in (ours, write, rewrite))
    return report(
        "pond copy host+series:// Parquet, whole process",
        mine / base,
        "x pq.write_table",
        "<= 1.3",
        mine / base <= 1.3,
        rows=rows,
        mb=round(src.stat().st_size / 1e6, 1),
        duckpond_s=round(mine, 3),
        write_table_s=round(base, 3),
        python_c_read_write_s=round(again, 3),
        vs_python_c=round(mine / again, 3),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--copy-rows", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = 200_000 if a.quick else a.rows
    copy_rows = 1_000_000 if a.quick else a.copy_rows
    repeat = 3 if a.quick else a.repeat
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    out = []
    try:
        path = work / "insitu.csv"
        make_file(path, rows)
        size_mb = path.stat().st_size / 1e6
        options = CsvOptions(ambiguous="infer")
        parsed = parse_csv_series(path, options)
        assert parsed.table.num_rows == rows, parsed.table.num_rows
        assert parsed.table.column_names[:2] == ["Timestamp", "Temperature.C"]

        def ours() -> None:
            parse_csv_series(path, options)

        def baseline() -> None:
            pcsv.read_csv(path, read_options=pcsv.ReadOptions(skip_rows=PREAMBLE))

        mine, theirs = interleaved(ours, baseline, repeat)
        out.append(
            report(
                "ingest In-Situ, library",
                mine / theirs,
                "x pyarrow.csv.read_csv",
                "report (no target in issue 14)",
                True,
                rows=rows,
                mb=round(size_mb, 1),
                duckpond_rows_per_s=round(rows / mine),
                pyarrow_rows_per_s=round(rows / theirs),
            )
        )

        counter = [0]

        def copy() -> None:
            counter[0] += 1
            args = ("--ambiguous", "infer", f"host+csv+series://{path}", "/s.series")
            timings.append(timed_copy(work / f"pond{counter[0]}", *args))

        def read_process() -> None:
            t0 = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys, pyarrow.csv as c; "
                    f"c.read_csv(sys.argv[1], read_options=c.ReadOptions(skip_rows={PREAMBLE}))",
                    str(path),
                ],
                check=True,
            )
            base.append(time.perf_counter() - t0)

        timings: list[float] = []
        base: list[float] = []
        for _ in range(repeat):
            read_process()
            copy()
        mine, theirs = statistics.median(timings), statistics.median(base)
        out.append(
            report(
                "pond copy In-Situ, whole process",
                mine / theirs,
                "x python -c read_csv",
                "report (no target in issue 14)",
                True,
                rows=rows,
                duckpond_rows_per_s=round(rows / mine),
                pyarrow_rows_per_s=round(rows / theirs),
                duckpond_s=round(mine, 3),
                pyarrow_s=round(theirs, 3),
            )
        )
        out.append(copy_parquet(work, copy_rows, repeat))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    dump(out, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
