"""Helpers of the reliability campaign (issue 12): real ``pond`` processes, crashes, pond states.

``pond(*argv, pond=...)`` runs ``python -m duckpond`` in a child process; ``crash(point, n,
*argv)`` runs it under :mod:`duckpond.testing.crash`; ``kill_at(seconds, *argv)`` sends SIGKILL
after a delay. ``state(path)`` is what "exactly before or after" compares: the tree (every path,
type and content digest) as of every committed transaction (``--at-txn``) and now, read through
the library in a child process so nothing is cached between crashes. ``check_whole(path)``
asserts what must hold after any crash and ``pond recover``: nothing pending, ``maintain
--verify`` clean, no orphan or temporary files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
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
        [sys.executable, "-m", "duckpond", "--pond", str(path), *map(os.fspath, argv)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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
            *map(os.fspath, argv),
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
        [sys.executable, "-m", "duckpond", "--pond", str(path), *map(os.fspath, argv)],
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


STATE = textwrap.dedent(
    """
    import hashlib, json, sys
    from duckpond import Pond

    def tree(p):
        out = {}
        for node in p.root().walk():
            entry = {"type": str(node.node.file_type)}
            if node.is_symlink:
                entry["target"] = node.readlink() if hasattr(node, "readlink") else None
            elif not node.is_dir and not node.is_dynamic:
                versions = node.versions()
                entry["versions"] = len(versions)
                if str(node.node.file_type) == "file:series":
                    t = node.read_table()
                    entry["rows"] = t.num_rows
                    entry["digest"] = hashlib.sha256(
                        str(t.sort_by([(c, "ascending") for c in t.column_names]).to_pylist())
                        .encode()).hexdigest()
                else:
                    entry["digest"] = hashlib.sha256(node.read_bytes()).hexdigest()
            out[node.path] = entry
        return out

    pond = Pond.open(sys.argv[1])
    committed = [t.txn_seq for t in pond.log() if t.outcome in ("committed", "recovered")
                 and t.data_version is not None]
    state = {"txn_seq": pond.txn_seq, "now": tree(pond),
             "at": {str(n): tree(Pond.open(sys.argv[1], at_txn=n)) for n in committed}}
    print(json.dumps(state, sort_keys=True))
    """
)


def state(path: Path) -> dict[str, Any]:
    """The pond's tree now and as of every committed transaction (a fresh process reads it)."""
    r = subprocess.run(
        [sys.executable, "-c", STATE, str(path)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def host_files(path: Path) -> set[str]:
    """Every host file below the pond (relative paths)."""
    return {
        os.path.relpath(os.path.join(d, f), path) for d, _, files in os.walk(path) for f in files
    }


def check_whole(path: Path) -> None:
    """After a crash and ``pond recover``: nothing pending, every stored version verifies, no
    orphan large files and no temporary files left in the pond."""
    status = ok(pond(path, "status"))
    assert "pending:      0" in status or "pending" not in status, status
    ok(pond(path, "maintain", "--verify", "--no-collapse", "--no-compact", "--no-vacuum"))
    large = path / "data" / "_large_files"
    referenced = referenced_large_files(path)
    for entry in large.iterdir():
        assert not entry.name.startswith(".tmp"), entry
        if entry.name.startswith("sha256="):
            assert entry.name[len("sha256=") :] in referenced, f"orphan {entry.name}"
    leftovers = [f for f in host_files(path) if "/.tmp-" in f or f.startswith(".tmp-")]
    assert leftovers == [], leftovers


def referenced_large_files(path: Path) -> set[str]:
    from duckpond.steward.pond import Pond

    return Pond.open(path)._persistence.referenced_hashes()


def wait_for(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
