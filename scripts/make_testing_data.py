"""Regenerate ``src/duckpond/testing/data/``: the readings the HydroVu test server ships with.

    .venv/bin/python scripts/make_testing_data.py [--data-dir data] \
        [--out src/duckpond/testing/data]

Each bundled data set ``data/<name>/<name>.csv`` is copied, byte for byte, gzip-compressed
(level 9, no file name or time in the gzip header, so the output is deterministic) to
``<out>/<name>.csv.gz``. They are package data, so ``python -m duckpond.testing.hydrovu_server``
serves them from a wheel install too. ``tests/hydrovu/test_hydrovu_testserver.py`` checks that
the packaged copies equal ``data/``.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Sequence
from pathlib import Path

DATA_SETS = ("neracoos_b01_water_temperature_30min", "jfk_weather_2013_hourly")


def make(data_dir: Path, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DATA_SETS:
        raw = (data_dir / name / f"{name}.csv").read_bytes()
        target = out_dir / f"{name}.csv.gz"
        target.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=root / "data")
    ap.add_argument("--out", type=Path, default=root / "src" / "duckpond" / "testing" / "data")
    args = ap.parse_args(argv)
    for path in make(args.data_dir, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
