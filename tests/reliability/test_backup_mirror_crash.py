"""Keep the campaign (issue 12): kill -9 ``pond backup push`` and ``pond mirror sync``, recover.

Two kinds of kill, each followed by the checks a user relies on:

- at named fault points (:mod:`duckpond.faults`): ``python -m duckpond.testing.crash
  POINT@N -- backup push`` (or ``mirror sync``) dies with ``os._exit(137)`` the N-th time the
  command reaches POINT, for every point the command reaches and (sampled for long pushes)
  every N;
- at random times: ``python -m duckpond ...`` gets SIGKILL after a seeded random delay, counted
  from its first upload or from its journal appearing.

After a killed push: a restore is exit 8 (or 3: no ``pond.json`` yet) with nothing at DEST only
while a first push had not brought a commit of each table, else a pond whose ``pond log``
agrees with its data and whose committed transactions read as in the source; the next push
completes, verify finds no problem, and a restore equals the pond (content and history). After a
killed sync: the next sync completes with no "changed by hand", the tree equals a mirror written
from scratch, no temporary file is left, and ``--rebuild`` works. After a killed restore: nothing
at DEST, and the next restore works. Each test prints its runs and outcomes (``pytest -s``).
"""

from __future__ import annotations

import collections
import importlib.util
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from duckpond import Pond
from duckpond.errors import IntegrityError, NotFound
from duckpond.mirror import JOURNAL_FILE, sync
from duckpond.remote import push, restore, verify

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SEED = 20250612


def _testlib() -> ModuleType:
    """tests/remote/remote_testlib.py (example pond, moto_server, mirror helpers), by path."""
    name = "remote_testlib"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "remote" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


lib = _testlib()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DUCKPOND_LOG", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _grow(pond: Pond, commits: int, *, start: int = 0) -> None:
    """Small commits (series appends, data files): enough for a data-table checkpoint."""
    from duckpond.formats import read_csv_series

    table, tc = read_csv_series(lib.B01_CSV)
    for i in range(start, start + commits):
        with pond.transaction(["grow", str(i)]) as tx:
            r = tx.root()
            r.append_series("/raw/b01.series", table.slice(200 + 40 * i, 40), time_column=tc)
            r.write_file(f"/docs/note{i % 3}.txt", f"note {i}\n".encode())


# --------------------------------------------------------------------------------------------
# backup push
# --------------------------------------------------------------------------------------------


def _push_killed_at(pond_path: Path, point: str, n: int = 1) -> int:
    """``pond backup push`` in a child killed the ``n``-th time it reaches ``point``."""
    return lib.pond_killed_at(point, n, "--pond", pond_path, "backup", "push").returncode


def _push_points(pond: Pond, remote: Path, scratch: Path) -> dict[str, int]:
    """The fault points a push of ``pond`` to ``remote`` reaches (run on copies) and how often."""
    from duckpond.remote import add_backup

    probe = lib.copy_pond(pond.path, scratch / "pond")
    if remote.exists():
        shutil.copytree(remote, scratch / "remote")
    add_backup(probe, "usb", (scratch / "remote").as_uri(), replace=True)
    return lib.count_fault_points(lambda: push(probe, "usb"))


def _agrees(restored: Pond, source: Pond, settled: tuple[int, ...]) -> None:
    """The restored log agrees with its data; the first, the settled and the last committed
    transactions read as in the source."""
    log = restored.log()
    committed = [t.txn_seq for t in log if t.outcome in {"committed", "recovered"}]
    assert max(committed) == restored.txn_seq
    assert not [t for t in log if t.outcome == "pending"]
    assert set(settled) <= set(committed) | {t.txn_seq for t in log if t.outcome == "rolled-back"}
    for seq in sorted({committed[0], committed[-1], *(s for s in settled if s in committed)}):
        assert lib.as_of(restored.path, seq) == lib.as_of(source.path, seq), seq
    assert restored.verify() == []


def _after_killed_push(
    pond: Pond, url: str, options, work: Path, *, first: bool, outcomes: collections.Counter
) -> None:
    """Restore what the killed push left, push again, restore the whole."""
    dest = work / f"cut-{len(list(work.iterdir()))}"
    try:
        report = restore(url, dest, options)
    except (IntegrityError, NotFound) as exc:
        assert first, f"an incremental push cut short must leave a restorable backup: {exc}"
        assert not dest.exists()
        assert not [p for p in work.iterdir() if p.name.startswith(".tmp-restore-")]
        outcomes[f"restore refused (exit {exc.exit_code}), nothing at DEST"] += 1
    else:
        _agrees(Pond.open(dest), pond, report.settled)
        outcomes["restored, settled" if report.settled else "restored, log already whole"] += 1
    again = push(pond, url, options=options)
    assert verify(pond, url, options=options).ok
    assert not list((pond.path / "cache").glob("push-pins-*"))
    whole = work / f"whole-{len(list(work.iterdir()))}"
    restore(url, whole, options)
    back = Pond.open(whole)
    assert (lib.content(back), lib.history(back)) == (lib.content(pond), lib.history(pond))
    outcomes["next push completed" if again.objects_sent else "next push had nothing left"] += 1


def _fresh_example(tmp_path: Path, name: str) -> Pond:
    pond = lib.copy_pond(_example(tmp_path.parent), tmp_path / name)
    return pond


_TEMPLATES: dict[Path, Path] = {}


def _example(where: Path) -> Path:
    """The example pond grown to 12 transactions (a data checkpoint at version 10), once."""
    if where not in _TEMPLATES:
        path = where / "template-pond"
        if not path.exists():
            pond = lib.build_example_pond(path)
            _grow(pond, 8)
        _TEMPLATES[where] = path
    return _TEMPLATES[where]


@pytest.mark.parametrize("kind", ["first push", "incremental push"])
def test_push_killed_at_every_point(tmp_path, kind):
    from duckpond.remote import add_backup

    pond = _fresh_example(tmp_path, "pond")
    remote = tmp_path / "remote"
    add_backup(pond, "usb", remote.as_uri())
    if kind == "incremental push":
        push(pond, "usb")
        _grow(pond, 4, start=20)
    points = _push_points(pond, remote, tmp_path / "scratch")
    uploads = points["push-after-upload"]
    assert uploads > 4 and points["push-before-manifest"] == 1
    # every other upload of an incremental push, every fifth of a first push, and the last four
    # of each (the logs, _last_checkpoint); then the point before the manifest
    every = 2 if kind == "incremental push" else 5
    kills = [
        ("push-after-upload", n) for n in range(1, uploads + 1) if n % every == 1 or n > uploads - 4
    ] + [("push-before-manifest", 1)]
    outcomes: collections.Counter[str] = collections.Counter()
    work = tmp_path / "work"
    work.mkdir()
    for i, (point, n) in enumerate(kills):
        case = tmp_path / f"case-{i}"
        trial = lib.copy_pond(pond.path, case / "pond")
        if remote.exists():
            shutil.copytree(remote, case / "remote")
        add_backup(trial, "usb", (case / "remote").as_uri(), replace=True)
        code = _push_killed_at(trial.path, point, n)
        assert code == 137, (point, n)
        outcomes["killed"] += 1
        _after_killed_push(
            Pond.open(trial.path),
            (case / "remote").as_uri(),
            None,
            work,
            first=kind == "first push",
            outcomes=outcomes,
        )
    print(f"\n{kind}: {uploads} uploads, killed at {len(kills)} points: {dict(outcomes)}")
    assert outcomes["killed"] == len(kills), outcomes


def test_restore_killed_before_its_rename_leaves_nothing(tmp_path):
    pond = _fresh_example(tmp_path, "pond")
    url = (tmp_path / "remote").as_uri()
    push(pond, url)
    dest = tmp_path / "dest"
    proc = lib.pond_killed_at("restore-before-rename", 1, "restore", url, dest)
    assert proc.returncode == 137
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-restore-")]  # its stage
    report = restore(url, dest)  # removes the dead restore's stage
    assert report.txn_seq == pond.txn_seq
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-restore-")]
    back = Pond.open(dest)
    assert (lib.content(back), lib.history(back)) == (lib.content(pond), lib.history(pond))


def _push_process(pond: Pond, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Start ``pond backup push``; return it once it has sent its first object (its debug log
    says so)."""
    env = {**_env(), "DUCKPOND_LOG": "debug"}
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "duckpond", "--pond", str(pond.path), "backup", "push"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    while b"duckpond.remote: sent " not in log.read_bytes() and proc.poll() is None:
        time.sleep(0.002)
    return proc, time.perf_counter()


def test_push_to_s3_killed_at_random_times(tmp_path, monkeypatch):
    monkeypatch.setenv(lib.SECRET_ENV, lib.SECRET)
    server = lib.MotoServer(tmp_path)
    server.start()
    rng = random.Random(SEED)
    outcomes: collections.Counter[str] = collections.Counter()
    delays = []
    from duckpond.remote import add_backup

    try:
        options = server.options()
        work = tmp_path / "work"
        work.mkdir()
        probe = lib.copy_pond(_example(tmp_path.parent), tmp_path / "probe")
        add_backup(probe, "s3", f"s3://{server.new_bucket()}/p", options)
        proc, began = _push_process(probe, tmp_path / "probe.log")
        assert proc.wait(timeout=120) == 0
        sending = time.perf_counter() - began  # how long a first push sends for
        for run in range(6):
            pond = lib.copy_pond(_example(tmp_path.parent), tmp_path / f"pond-{run}")
            url = f"s3://{server.new_bucket()}/p"
            add_backup(pond, "s3", url, options)
            first = run % 2 == 0
            if not first:
                push(pond, "s3")
                _grow(pond, 3, start=30)
            delay = rng.uniform(0.0, 0.9) * sending / (1 if first else 4)
            delays.append(round(delay, 3))
            proc, _ = _push_process(pond, tmp_path / f"push-{run}.log")
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            code = proc.wait(timeout=60)
            outcomes["killed" if code == -signal.SIGKILL else f"ended first (exit {code})"] += 1
            _after_killed_push(
                Pond.open(pond.path), url, options, work, first=first, outcomes=outcomes
            )
    finally:
        server.kill()
    print(
        f"\nS3 push (sending for {sending:.2f} s) killed {delays} s after its first object: "
        f"{dict(outcomes)}"
    )
    assert outcomes["killed"] >= 2, outcomes


# --------------------------------------------------------------------------------------------
# mirror sync
# --------------------------------------------------------------------------------------------


_REFERENCE: dict[tuple[str, int, int], dict[str, object]] = {}


def _reference(pond: Pond, scratch: Path) -> dict[str, object]:
    """The tree of a mirror of the pond's current state written from scratch (once)."""
    key = (str(pond.path), pond.txn_seq, pond.data_version)
    if key not in _REFERENCE:
        fresh = scratch / f"fresh-{len(list(scratch.iterdir()))}"
        sync(pond, fresh)
        _REFERENCE[key] = lib.mirror_tree(fresh)
    return _REFERENCE[key]


def _mirror_complete(pond: Pond, folder: Path, scratch: Path, outcomes) -> None:
    report = sync(pond, folder)
    assert report.conflicts == [], report.conflicts
    assert lib.mirror_tree(folder) == _reference(pond, scratch)
    assert lib.leftovers(folder) == []
    assert not (folder / JOURNAL_FILE).exists()
    again = sync(pond, folder)
    assert (again.written, again.deleted, again.conflicts) == ([], [], [])
    outcomes["finished by the next sync" if report.recovered else "next sync, no journal"] += 1


def _change(pond: Pond) -> None:
    from duckpond.formats import read_csv_series

    table, tc = read_csv_series(lib.B01_CSV)
    with pond.transaction(["change"]) as tx:
        r = tx.root()
        r.append_series("/raw/b01.series", table.slice(0, 20), time_column=tc)
        r.write_file("/docs/readme.txt", b"version 2\n")
        r.remove("/tables", recursive=True)
        r.rename("/raw/blob.bin", "/docs/blob.bin")
        r.mkdir("/new")
        r.write_file("/new/a.txt", b"a\n")
        r.remove("/latest")
        r.symlink("/latest", "/docs/readme.txt")


@pytest.mark.parametrize("kind", ["first sync", "incremental sync", "rebuild"])
def test_mirror_sync_killed_at_every_point(tmp_path, kind):
    pond = lib.build_example_pond(tmp_path / "pond")
    base = tmp_path / "base"
    if kind != "first sync":
        sync(pond, base)
        (base / "docs" / "readme.txt").write_text("edited by hand\n")  # a rebuild wipes it
        if kind == "incremental sync":
            (base / "docs" / "readme.txt").unlink()
            _change(pond)
    rebuild = kind == "rebuild"
    points = lib.mirror_points(pond.path, base, rebuild=rebuild)
    assert points["mirror-after-write"] == (6 if kind == "incremental sync" else 8)
    assert points["mirror-before-state"] == 1
    if kind == "incremental sync":
        assert points["mirror-after-delete"] >= 3
    if rebuild:
        assert points["mirror-after-wipe"] == 1
    kills = [(point, n) for point, count in sorted(points.items()) for n in range(1, count + 1)]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outcomes: collections.Counter[str] = collections.Counter()
    for i, (point, n) in enumerate(kills):
        folder = tmp_path / f"m-{i}"
        if base.exists():
            shutil.copytree(base, folder, symlinks=True)
        code = lib.mirror_sync_killed_at(pond.path, folder, point, n, rebuild=rebuild)
        assert code == 137, (point, n)
        outcomes["killed"] += 1
        if i % 3 == 2:  # every third: --rebuild must work at once too
            report = sync(Pond.open(pond.path), folder, rebuild=True)
            assert report.rebuilt and report.conflicts == []
            outcomes["--rebuild worked"] += 1
        _mirror_complete(Pond.open(pond.path), folder, scratch, outcomes)
    print(f"\n{kind}: killed at {len(kills)} points {dict(points)}: {dict(outcomes)}")
    assert outcomes["killed"] == len(kills)


def test_mirror_sync_killed_at_random_times(tmp_path):
    pond = Pond.init(tmp_path / "pond")
    with pond.transaction(["many"]) as tx:
        r = tx.root()
        for d in range(10):
            r.mkdir(f"/d{d}")
            for i in range(120):
                r.write_file(f"/d{d}/f{i}.txt", f"{d}/{i}\n".encode() * (1 + i))
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def sync_process(folder: Path) -> tuple[subprocess.Popen[bytes], float]:
        """Start a sync; return it once it has begun writing (its journal exists)."""
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "duckpond",
                "--pond",
                str(pond.path),
                "mirror",
                "sync",
                str(folder),
            ],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while not (folder / JOURNAL_FILE).exists() and proc.poll() is None:
            time.sleep(0.002)
        return proc, time.perf_counter()

    proc, began = sync_process(scratch / "probe")
    assert proc.wait(timeout=120) == 0
    writing = time.perf_counter() - began  # how long the write phase of a first sync lasts
    rng = random.Random(SEED)
    outcomes: collections.Counter[str] = collections.Counter()
    delays = []
    for run in range(8):
        folder = tmp_path / f"m-{run}"
        if run % 2:  # an incremental sync: the pond changed since the last one
            sync(pond, folder)
            with pond.transaction(["change", str(run)]) as tx:
                for d in range(10):
                    for i in range(0, 120, 3):
                        tx.root().write_file(f"/d{d}/f{i}.txt", f"changed {run}\n".encode())
                tx.root().remove(f"/d{run % 10}/f{100 + run}.txt")
            pond = Pond.open(pond.path)
        delay = rng.uniform(0.0, 0.9) * writing / (3 if run % 2 else 1)
        delays.append(round(delay, 3))
        proc, _ = sync_process(folder)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=60)
        outcomes["killed" if code == -signal.SIGKILL else f"ended first (exit {code})"] += 1
        _mirror_complete(pond, folder, scratch, outcomes)
    print(
        f"\nmirror sync (writing for {writing:.2f} s) killed {delays} s into its writing: "
        f"{dict(outcomes)}"
    )
    assert outcomes["killed"] >= 2 and outcomes["finished by the next sync"] >= 2, outcomes
