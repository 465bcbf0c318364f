"""The crash campaign of issue 12, kept at small scale: kill ``pond`` at every named fault point
(:data:`duckpond.faults.POINTS`, through :mod:`duckpond.testing.crash`) and with SIGKILL at
random moments, during copy (a folder of many files; rows appended to a series), apply, mv,
rm -r, maintain and init; then ``pond recover`` and check that the pond is exactly as before the
command or exactly as after it (the tree now and as of every committed transaction), that every
stored version verifies, that no orphan or temporary file is left, and that the pond goes on
(the command run again completes it).

Each operation starts from a copy of one base pond with some history; "before" and "after" are
measured on copies (the command not run, and run to completion). The random kill times come
from a seeded generator (``DUCKPOND_CAMPAIGN_SEED``, default fixed; the seed is printed).
The outcome of every run is counted and printed at the end (``pytest -s``).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from reliability_testlib import (
    B01_CSV,
    DATA,
    KILLED,
    SIGKILLED,
    check_whole,
    crash,
    env,
    ok,
    ok_main,
    pond,
    state,
)

from duckpond import Pond, faults
from duckpond.tinyfs.model import FileType

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("DUCKPOND_CAMPAIGN_SEED", "20261204"))
RANDOM_KILLS = int(os.environ.get("DUCKPOND_CAMPAIGN_KILLS", "2"))
OUTCOMES: Counter[tuple[str, str]] = Counter()


@dataclass(frozen=True)
class Op:
    name: str
    argv: tuple[str, ...]


TXN = ("before-data-commit@1", "after-data-commit@1", "after-control-record@1")
#: The fault points (NAME@N: the N-th time) each command is killed at.
POINTS_OF: dict[str, tuple[str, ...]] = {
    "copy-folder": ("copy-file-done@1", "copy-file-done@4", "copy-file-done@8", *TXN),
    "copy-append": TXN,
    "apply": (
        "apply-resource-done@1",
        "apply-resource-done@3",
        "apply-resource-done@4",
        "copy-file-done@2",
        *TXN[:2],
    ),
    "mv": TXN,
    "rm-r": TXN,
    "maintain": (
        *TXN,
        "maintain-after-compact@1",
        "maintain-after-vacuum@1",
        "maintain-after-checkpoint@1",
    ),
}
OP_POINTS = [(name, point) for name, points in POINTS_OF.items() for point in points]
INIT_POINTS = ["init-before-rename@1", "before-data-commit@1", "after-data-commit@1"]


def _csv_slice(lines: list[str], start: int, stop: int) -> str:
    return "".join([lines[0], *lines[start:stop]])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The base pond, the host inputs and the operations."""
    root = tmp_path_factory.mktemp("campaign")
    host = root / "host"
    host.mkdir()
    lines = B01_CSV.read_text().splitlines(keepends=True)
    for i in range(6):  # six small versions: maintain collapses them
        (host / f"b01_{i}.csv").write_text(_csv_slice(lines, 1 + 200 * i, 201 + 200 * i))
    (host / "b01_grown.csv").write_text(_csv_slice(lines, 1001, 3001))  # overlaps, then new
    rng = random.Random(SEED)
    many = host / "many"
    (many / "deeper").mkdir(parents=True)
    for i in range(8):  # three of them large (content-addressed files written before commit)
        size = 150_000 + i if i % 3 == 0 else 100 + i
        (many / ("deeper" if i % 2 else "") / f"f{i}.bin").write_bytes(rng.randbytes(size))
    jfk = DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"
    pipeline = host / "pipeline.yaml"
    pipeline.write_text(
        "kind: mkdir\npath: /p\n---\n"
        f"kind: copy\nfrom: host+csv+series://{jfk}\nto: /p/jfk.series\n---\n"
        f"kind: copy\nfrom: host://{many}\nto: /p/many\n---\n"
        "kind: mknod\nfactory: sql-derived\npath: /p/warm.series\nconfig:\n"
        "  patterns:\n    raw: /p/jfk.series\n"
        '  query: SELECT "Timestamp", "AirTemperature.C" FROM raw WHERE "AirTemperature.C" > 20\n'
    )

    base = root / "base"
    ok_main("init", base)
    ok_main("--pond", base, "mkdir", "-p", "/a", "/w", "/d/sub")
    for i in range(6):
        ok_main("--pond", base, "copy", f"host+csv+series://{host / f'b01_{i}.csv'}", "/a/s.series")
    ok_main("--pond", base, "copy", many / "f0.bin", "/d/big.bin")
    ok_main("--pond", base, "copy", many / "deeper" / "f1.bin", "/d/sub/small.bin")
    with Pond.open(base).transaction(["ln", "/link"]) as tx:
        tx.root().symlink("/link", "/d/big.bin")
        tx.root().write_file("/d/table.table", _parquet_bytes(), file_type=FileType.TABLE)
    ops = {
        op.name: op
        for op in (
            Op("copy-folder", ("copy", str(many), "/in")),
            Op(
                "copy-append",
                ("copy", f"host+csv+series://{host / 'b01_grown.csv'}", "/a/s.series"),
            ),
            Op("apply", ("apply", "-f", str(pipeline))),
            Op("mv", ("mv", "/a/s.series", "/w/")),
            Op("rm-r", ("rm", "-r", "/d")),
            Op("maintain", ("maintain", "--retention-hours", "0")),
        )
    }
    refs: dict[str, dict[str, Any]] = {"before": state(base)}
    durations: dict[str, float] = {}
    for op in ops.values():
        done = _copy(base, root / f"after-{op.name}")
        started = time.monotonic()
        ok(pond(done, *op.argv))
        durations[op.name] = time.monotonic() - started
        refs[op.name] = state(done)
        assert refs[op.name] != refs["before"], op.name
    yield {"root": root, "base": base, "ops": ops, "refs": refs, "durations": durations}
    print(f"\ncampaign seed {SEED}: {sum(OUTCOMES.values())} runs")
    for (name, outcome), n in sorted(OUTCOMES.items()):
        print(f"  {name:<12} {outcome:<22} {n}")


def _parquet_bytes() -> bytes:
    import io

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"]}), sink)
    return sink.getvalue()


def _copy(base: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(base, dest, symlinks=True)
    return dest


def _settle(world: dict[str, Any], op: Op, path: Path, how: str) -> str:
    """Recover the crashed pond, check it is whole and exactly before or after, and that the
    command run again completes it. Returns "before" or "after". (The crash needs a process of
    its own; recovering and checking run in this one, each through a newly opened pond.)"""
    ok_main("--pond", path, "recover")
    check_whole(path)
    now = state(path)
    refs = world["refs"]
    if now == refs["before"]:
        outcome = "before"
        ok_main("--pond", path, *op.argv)  # the command completes when run again
        assert state(path) == refs[op.name]
    else:
        assert now == refs[op.name], f"{op.name} {how}: neither before nor after"
        outcome = "after"
        ok_main("--pond", path, "mkdir", "/alive")
    check_whole(path)
    OUTCOMES[(op.name, f"{outcome} ({how.split('@')[0].split(':')[0]})")] += 1
    return outcome


@pytest.mark.parametrize(("name", "point"), OP_POINTS, ids=[f"{n}:{p}" for n, p in OP_POINTS])
def test_crash_at_a_fault_point(world: dict[str, Any], name: str, point: str) -> None:
    op: Op = world["ops"][name]
    path = _copy(world["base"], world["root"] / f"crash-{name}")
    at, nth = point.split("@")
    r = crash(path, at, int(nth), *op.argv)
    assert r.returncode == KILLED, (r.returncode, r.stderr)
    outcome = _settle(world, op, path, point)
    committed = point.split("@")[0] in {"after-data-commit", "after-control-record"}
    if name == "maintain":  # the collapse transaction commits before compaction and the rest
        committed = committed or point.startswith("maintain-")
    assert outcome == ("after" if committed else "before")


@pytest.mark.parametrize("name", ["copy-folder", "copy-append", "apply", "mv", "rm-r", "maintain"])
def test_sigkill_at_random_moments(world: dict[str, Any], name: str) -> None:
    op: Op = world["ops"][name]
    rng = random.Random(f"{SEED}-{name}")
    longest = world["durations"][name] * 1.2
    for i in range(RANDOM_KILLS):
        path = _copy(world["base"], world["root"] / f"kill-{name}")
        delay = rng.uniform(0.25, longest)
        proc = subprocess.Popen(
            [sys.executable, "-m", "duckpond", "--pond", str(path), *op.argv],
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.kill()
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
        code = proc.wait(timeout=60)
        assert code in (0, SIGKILLED), (code, err)
        how = f"sigkill:{i}" if code == SIGKILLED else f"finished:{i}"
        _settle(world, op, path, how)


@pytest.mark.parametrize("point", INIT_POINTS)
@pytest.mark.parametrize("empty_dir_first", [False, True], ids=["new", "empty-dir"])
def test_crash_in_init_leaves_a_whole_pond_or_none(
    tmp_path: Path, point: str, empty_dir_first: bool
) -> None:
    path = tmp_path / "p"
    if empty_dir_first:
        path.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "duckpond.testing.crash", point, "--", "init", str(path)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == KILLED, r.stderr
    _settle_init(path, point)


def test_sigkill_init_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}-init")
    for i in range(RANDOM_KILLS + 2):
        path = tmp_path / f"p{i}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "duckpond", "init", str(path)],
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=rng.uniform(0.2, 1.5))
        except subprocess.TimeoutExpired:
            proc.kill()
        assert proc.wait(timeout=60) in (0, SIGKILLED)
        _settle_init(path, f"sigkill:{i}")


def _settle_init(path: Path, how: str) -> None:
    from duckpond.layout import PondLayout

    if PondLayout(path).is_pond():
        outcome = "after"
        p = Pond.open(path)
        assert p.txn_seq == 1 and p.pond_id and p.pending() == []
        assert "pending:      0\n" in ok_main("--pond", path, "status")
    else:
        outcome = "before"
        assert not path.exists() or list(path.iterdir()) == []
        ok_main("init", path)
    check_whole(path)
    ok_main("--pond", path, "mkdir", "/alive")
    OUTCOMES[("init", f"{outcome} ({how.split('@')[0].split(':')[0]})")] += 1


def test_every_fault_point_is_crashed_at() -> None:
    """Each point of POINTS is in the campaign or in the backup/mirror crash tests (whose tests
    check the kill happened there)."""
    named = {p.split("@")[0] for _, p in OP_POINTS} | {p.split("@")[0] for p in INIT_POINTS}
    here = Path(__file__).parent
    remote = [here / "test_backup_mirror_crash.py", here.parent / "remote" / "test_mirror_crash.py"]
    texts = [f.read_text() for f in remote]
    named |= {p for p in faults.POINTS if any(f'"{p}"' in t for t in texts)}
    assert named == set(faults.POINTS)
