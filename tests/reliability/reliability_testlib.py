"""Helpers of the reliability campaign (issue 12): real ``pond`` processes, crashes, pond states.

``pond(*argv, pond=...)`` runs ``python -m duckpond`` in a child process; ``crash(point, n,
*argv)`` runs it under :mod:`duckpond.testing.crash`; ``kill_at(seconds, *argv)`` sends SIGKILL
after a delay. ``state(path)`` is what "exactly before or after" compares: the tree (every path,
type and content digest) now and as of every committed transaction (``--at-txn``), each read by
a newly opened pond. ``check_whole(path)`` asserts what must hold after any crash and ``pond
recover``: nothing pending, every stored version verifies (``maintain --verify``), no orphan or
temporary files.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
B01_CSV = DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv"
KILLED = 137  # the crash launcher's os._exit status
SIGKILLED = -signal.SIGKILL  # subprocess returncode of a process killed by SIGKILL


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out.pop("DUCKPOND_LOG", None)
    out.pop("POND", None)
    out.update(extra)
    return out


def pond(
    path: Path, *argv: str | os.PathLike[str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``python -m duckpond --pond PATH ARGV`` in a child process (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "duckpond", "--pond", str(path), *(os.fspath(a) for a in argv)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_main(*argv: str | os.PathLike[str]) -> tuple[int, str, str]:
    """``pond ARGV`` in this process (:func:`duckpond.cli.main.main`): (status, stdout, stderr)."""
    import contextlib
    import io

    from duckpond.cli.main import main

    raw, err = io.BytesIO(), io.StringIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([os.fspath(a) for a in argv])
        out.flush()
    return code, raw.getvalue().decode("utf-8"), err.getvalue()


def ok_main(*argv: str | os.PathLike[str]) -> str:
    """:func:`run_main`, which must exit 0 with nothing on stderr; its stdout."""
    code, out, err = run_main(*argv)
    assert (code, err) == (0, ""), (argv, code, err)
    return out


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.returncode, result.stderr)
    return result.stdout


def crash(
    path: Path, point: str, nth: int, *argv: str | os.PathLike[str]
) -> subprocess.CompletedProcess[str]:
    """Run ``pond ARGV`` and kill it at the ``nth`` time fault point ``point`` is reached."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "duckpond.testing.crash",
            f"{point}@{nth}",
            "--",
            "--pond",
            str(path),
            *(os.fspath(a) for a in argv),
        ],
        env=env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def kill_at(path: Path, seconds: float, *argv: str | os.PathLike[str]) -> int:
    """Start ``pond ARGV`` and SIGKILL it after ``seconds`` (if still running); its status."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "duckpond", "--pond", str(path), *(os.fspath(a) for a in argv)],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait(timeout=60)
    assert code in (0, SIGKILLED), (argv, code, err)
    return code


def tree(p: Any) -> dict[str, dict[str, Any]]:
    """Every path of an open pond: type, and for stored files the version count and a digest of
    the content (a series: its rows, sorted)."""
    out: dict[str, dict[str, Any]] = {}
    for node in p.root().walk():
        entry: dict[str, Any] = {"type": str(node.node.file_type)}
        if node.is_symlink:
            entry["target"] = node.readlink()
        elif not node.is_dir and not node.is_dynamic:
            entry["versions"] = len(node.versions())
            if str(node.node.file_type) == "file:series":
                t = node.read_table()
                rows = t.sort_by([(c, "ascending") for c in t.column_names]).to_pylist()
                entry["rows"] = t.num_rows
                entry["digest"] = hashlib.sha256(repr(rows).encode()).hexdigest()
            else:
                entry["digest"] = hashlib.sha256(node.read_bytes()).hexdigest()
        out[node.path] = entry
    return out


def state(path: Path) -> dict[str, Any]:
    """What "exactly before or after" compares: the last txn_seq, the tree now and the tree as of
    every committed transaction (``--at-txn``), each read by a freshly opened pond."""
    from duckpond import Pond

    pond = Pond.open(path)
    committed = [
        t.txn_seq
        for t in pond.log()
        if t.outcome in ("committed", "recovered") and t.data_version is not None
    ]
    return {
        "txn_seq": pond.txn_seq,
        "now": tree(pond),
        "at": {n: tree(Pond.open(path, at_txn=n)) for n in committed},
    }


def delta_orphans(table: Path) -> list[str]:
    """Parquet files in a Delta table's folder that no add action of its log refers to (what a
    commit killed after writing its files left)."""
    from deltalake import DeltaTable

    live = {os.path.normpath(u.removeprefix("file://")) for u in DeltaTable(str(table)).file_uris()}
    return sorted(
        os.path.join(d, f)
        for d, dirs, files in os.walk(table)
        for f in files
        if f.endswith(".parquet")
        and "_delta_log" not in d
        and os.path.normpath(os.path.join(d, f)) not in live
    )


def check_whole(path: Path) -> None:
    """After a crash and ``pond recover``: nothing pending, every stored version verifies, no
    orphan large files and no temporary files left in the pond or beside it."""
    from duckpond import Pond

    p = Pond.open(path)
    assert p.pending() == []
    assert p.verify() == []
    referenced = p._persistence.referenced_hashes()
    for entry in (path / "data" / "_large_files").iterdir():
        assert not entry.name.startswith(".tmp"), entry
        if entry.name.startswith("sha256="):
            assert entry.name[len("sha256=") :] in referenced, f"orphan {entry.name}"
    leftovers = [f for f in host_files(path) if "/.tmp-" in f or f.startswith(".tmp-")]
    assert leftovers == [], leftovers
    assert [e.name for e in path.parent.iterdir() if e.name.startswith(".tmp-")] == []


def host_files(path: Path) -> set[str]:
    """Every host file below the pond (relative paths)."""
    return {
        os.path.relpath(os.path.join(d, f), path) for d, _, files in os.walk(path) for f in files
    }


def wait_for(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
