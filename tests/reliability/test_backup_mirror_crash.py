"""Keep the campaign (issue 12): kill -9 ``pond backup push`` and ``pond mirror sync``, recover.

Two kinds of kill, each followed by the checks a user relies on:

- at named points: a child process runs the command with the steps that change the remote
  (every ``put_file``/``put_bytes``) or the mirror folder (every temporary file, journal line,
  rename, unlink, mkdir, state save) counted, and dies with ``os._exit(137)`` right after step
  N, for every N of the run (the crash points are patched into the child by the test, not
  hooks of the product);
- at random times: ``python -m duckpond ...`` gets SIGKILL after a seeded random delay.

After a killed push: a restore is exit 8 with nothing at DEST (only while no commit of a table
had arrived) or a pond whose ``pond log`` agrees with its data and each committed transaction
reads as in the source; the next push completes, verify finds no problem, and a restore equals
the pond (content and history). After a killed sync: the next sync completes with no "changed
by hand", the tree equals a mirror written from scratch, no temporary file is left, and
``--rebuild`` works. Each test prints its runs and outcomes (``pytest -s``).
"""

from __future__ import annotations

import collections
import importlib.util
import os
import random
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
    from duckpond.timeseries import read_csv_series

    table, tc = read_csv_series(lib.B01_CSV)
    for i in range(start, start + commits):
        with pond.transaction(["grow", str(i)]) as tx:
            r = tx.root()
            r.append_series("/raw/b01.series", table.slice(200 + 40 * i, 40), time_column=tc)
            r.write_file(f"/docs/note{i % 3}.txt", f"note {i}\n".encode())


# --------------------------------------------------------------------------------------------
# backup push
# --------------------------------------------------------------------------------------------

PUSH_CRASH_CHILD = r"""
import os, sys, threading
from duckpond.remote import store

n, argv = int(sys.argv[1]), sys.argv[2:]
count = 0
lock = threading.Lock()

def counted(cls, name):
    original = getattr(cls, name)
    def step(self, *args, **kwargs):
        global count
        result = original(self, *args, **kwargs)
        with lock:
            count += 1
            if count == n:
                os._exit(137)
        return result
    setattr(cls, name, step)

for cls in (store.FileRemote, store.S3Remote):
    for name in ("put_file", "put_bytes"):
        counted(cls, name)
from duckpond.cli.main import main
code = main(argv)
print(count)
sys.exit(code)
"""


def _push_killed_at(pond_path: Path, step: int, *extra: str) -> tuple[int, int | None]:
    """``pond backup push`` in a child killed right after upload ``step`` (0: never)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PUSH_CRASH_CHILD,
            str(step),
            "--pond",
            str(pond_path),
            "backup",
            "push",
            *extra,
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode not in (0, 137):
        raise AssertionError(f"push child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return proc.returncode, (int(proc.stdout.split()[-1]) if proc.returncode == 0 else None)


def _agrees(restored: Pond, source: Pond, settled: tuple[int, ...]) -> None:
    """The restored log agrees with its data; the first, the settled and the last committed
    transactions read as in the source."""
    log = restored.log()
    committed = [t.txn_seq for t in log if t.outcome in {"committed", "recovered"}]
    assert max(committed) == restored.txn_seq
    assert not [t for t in log if t.outcome == "pending"]
    assert set(settled) <= set(committed) | {t.txn_seq for t in log if t.outcome == "rolled-back"}
    for seq in sorted({committed[0], committed[-1], *(s for s in settled if s in committed)}):
        got = lib.content(Pond.open(restored.path, at_txn=seq))
        assert got == lib.content(Pond.open(source.path, at_txn=seq)), seq
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
def test_push_killed_at_every_upload(tmp_path, kind):
    pond = _fresh_example(tmp_path, "pond")
    remote = tmp_path / "remote"
    from duckpond.remote import add_backup

    add_backup(pond, "usb", remote.as_uri())
    if kind == "incremental push":
        push(pond, "usb")
        _grow(pond, 4, start=20)
    # how many uploads a whole push makes (into a scratch copy of the remote)
    scratch = tmp_path / "scratch"
    probe = lib.copy_pond(pond.path, scratch / "pond")
    if remote.exists():
        import shutil

        shutil.copytree(remote, scratch / "remote")
    add_backup(probe, "usb", (scratch / "remote").as_uri(), replace=True)
    code, total = _push_killed_at(probe.path, 0)
    assert code == 0 and total and total > 4
    outcomes: collections.Counter[str] = collections.Counter()
    work = tmp_path / "work"
    work.mkdir()
    # every other upload of an incremental push, every fifth of a first push, and the last
    # four of each (the logs, _last_checkpoint, the manifest)
    every = 2 if kind == "incremental push" else 5
    steps = [n for n in range(1, total + 1) if n % every == 1 or n > total - 4]
    for step in steps:
        case = tmp_path / f"case-{step}"
        trial = lib.copy_pond(pond.path, case / "pond")
        if remote.exists():
            import shutil

            shutil.copytree(remote, case / "remote")
        add_backup(trial, "usb", (case / "remote").as_uri(), replace=True)
        code, _ = _push_killed_at(trial.path, step)
        outcomes[f"killed (exit {code})"] += 1
        _after_killed_push(
            Pond.open(trial.path),
            (case / "remote").as_uri(),
            None,
            work,
            first=kind == "first push",
            outcomes=outcomes,
        )
    print(f"\n{kind}: {total} uploads, killed after {len(steps)} of them: {dict(outcomes)}")
    assert outcomes["killed (exit 137)"] == len(steps), outcomes


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
    from duckpond.timeseries import read_csv_series

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
def test_mirror_sync_killed_at_every_step(tmp_path, kind):
    pond = lib.build_example_pond(tmp_path / "pond")
    base = tmp_path / "base"
    if kind != "first sync":
        sync(pond, base)
        (base / "docs" / "readme.txt").write_text("edited by hand\n")  # rebuild wipes it
        if kind == "incremental sync":
            (base / "docs" / "readme.txt").unlink()
            _change(pond)
    rebuild = kind == "rebuild"
    probe = tmp_path / "probe"
    if base.exists():
        import shutil

        shutil.copytree(base, probe, symlinks=True)
    code, total = lib.mirror_sync_killed_at(pond.path, probe, 0, rebuild=rebuild)
    assert code == 0 and total and total > 10
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outcomes: collections.Counter[str] = collections.Counter()
    # every step of an incremental sync; every other step of a first sync and of a rebuild
    steps = [n for n in range(1, total + 1) if kind == "incremental sync" or n % 2 == 1]
    for step in steps:
        folder = tmp_path / f"m-{step}"
        if base.exists():
            import shutil

            shutil.copytree(base, folder, symlinks=True)
        code, _ = lib.mirror_sync_killed_at(pond.path, folder, step, rebuild=rebuild)
        assert code == 137
        outcomes["killed"] += 1
        journal = folder / JOURNAL_FILE
        begun = journal.exists() and '"rebuild":true' in journal.read_text()
        if rebuild and not begun:
            # killed before the rebuild began: the old mirror (with its hand edit) is intact and
            # a plain sync would report the edit; running the same command again finishes it
            report = sync(Pond.open(pond.path), folder, rebuild=True)
            assert report.rebuilt and report.conflicts == []
            _mirror_complete(Pond.open(pond.path), folder, scratch, outcomes)
            outcomes["killed before the rebuild began, --rebuild again"] += 1
        elif step % 4 != 3:
            _mirror_complete(Pond.open(pond.path), folder, scratch, outcomes)
        else:  # every other one: --rebuild must work too
            report = sync(Pond.open(pond.path), folder, rebuild=True)
            assert report.rebuilt and report.conflicts == []
            _mirror_complete(Pond.open(pond.path), folder, scratch, outcomes)
            outcomes["--rebuild worked"] += 1
    print(f"\n{kind}: {total} steps, killed after {len(steps)} of them: {dict(outcomes)}")
    assert outcomes["killed"] == len(steps)


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
