"""Helpers for the backup and mirror tests: a real moto_server on loopback, an example pond."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
B01_CSV = (
    REPO
    / "data"
    / "neracoos_b01_water_temperature_30min"
    / ("neracoos_b01_water_temperature_30min.csv")
)
MOTO_SERVER = Path(sys.executable).with_name("moto_server")
ACCESS_KEY = "testing"
SECRET_ENV = "DUCKPOND_TEST_S3_SECRET"
SECRET = "testing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """A moto_server process on 127.0.0.1 (an S3 protocol server; in-memory state).

    With ``record=True`` the server records every request (moto's recorder) so that
    :meth:`restart` can replay them: a killed and restarted server then still holds what it
    had stored, like a real store would.
    """

    def __init__(self, workdir: Path, *, record: bool = False) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.record = record
        self.recording = workdir / f"moto-{self.port}.jsonl"
        self.log = workdir / f"moto-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ}
        if self.record:
            env["MOTO_ENABLE_RECORDING"] = "1"
            env["MOTO_RECORDER_FILEPATH"] = str(self.recording)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def wait_recorded(self, keys: list[str], timeout: float = 10.0) -> None:
        """Wait until the recorder has written the requests of ``keys`` (object keys the client
        saw acknowledged): moto may write a request's record after answering it, and a real
        store keeps what it acknowledged, so a test kills the server only after this."""
        from urllib.parse import quote

        wanted = ["/" + quote(k, safe="/") for k in keys]
        deadline = time.monotonic() + timeout
        while True:
            text = self.recording.read_text(errors="replace") if self.recording.exists() else ""
            if all(w in text for w in wanted) or time.monotonic() > deadline:
                return
            time.sleep(0.02)

    def restart(self) -> None:
        """Start again; with recording on, replay what the killed server had been sent."""
        self.kill()
        if self.record:
            self._drop_torn_entries()
        self.start()
        if self.record:
            req = urllib.request.Request(
                f"{self.endpoint}/moto-api/recorder/replay-recording", method="POST"
            )
            with urllib.request.urlopen(req, timeout=120):
                pass

    def _drop_torn_entries(self) -> None:
        """Keep only the recorded requests that were written whole: a server killed while
        recording leaves a torn last line, on which moto's replay fails (HTTP 500)."""
        import json

        if not self.recording.exists():
            return
        whole = []
        for line in self.recording.read_bytes().splitlines():
            try:
                json.loads(line)
            except ValueError:
                continue
            whole.append(line)
        self.recording.write_bytes(b"".join(line + b"\n" for line in whole))

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET,
            config=Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                s3={"addressing_style": "path"},
            ),
        )

    def new_bucket(self) -> str:
        name = f"pond-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def options(self, **extra: str) -> dict[str, str]:
        """Remote options; the secret goes through ${env:...} like a user's would."""
        return {
            "endpoint_url": self.endpoint,
            "region": "us-east-1",
            "access_key_id": ACCESS_KEY,
            "secret_access_key": f"${{env:{SECRET_ENV}}}",
            "max_attempts": "2",
            **extra,
        }


def build_example_pond(path: Path):
    """A pond with real data in several transactions: series chunks, a large file, a table,
    a symlink, a small text file."""
    import pyarrow as pa

    from duckpond import Pond
    from duckpond.formats import read_csv_series

    table, tc = read_csv_series(B01_CSV)
    pond = Pond.init(path)
    n = table.num_rows
    with pond.transaction(["load", "b01", "part1"]) as tx:
        r = tx.root()
        r.mkdir("/raw")
        r.mkdir("/docs")
        r.append_series("/raw/b01.series", table.slice(0, n // 3), time_column=tc)
        r.write_file("/docs/readme.txt", b"Buoy B01 water temperature, NERACOOS.\n")
    with pond.transaction(["load", "b01", "part2"]) as tx:
        r = tx.root()
        r.append_series("/raw/b01.series", table.slice(n // 3, n // 3), time_column=tc)
        r.write_file("/raw/blob.bin", os.urandom(300_000))
    with pond.transaction(["load", "b01", "part3"]) as tx:
        r = tx.root()
        r.append_series("/raw/b01.series", table.slice(2 * (n // 3)), time_column=tc)
        r.symlink("/latest", "/raw/b01.series")
        r.mkdir("/tables")
        summary = pa.table({"site": ["B01"], "rows": [n]})
        r.write_file("/tables/summary.table", summary, file_type="file:table")
    return pond


def copy_pond(template: Path, dest: Path):
    from duckpond import Pond

    shutil.copytree(template, dest)
    with contextlib.suppress(FileNotFoundError):
        (dest / "control" / "write.lock").unlink()
    return Pond.open(dest)


def content(pond) -> list[tuple]:
    """Every file version of the pond: (part_id, node_id, version, type, sha256, size, content)."""
    t = pond.oplog()
    rows = zip(
        *(
            t.column(c).to_pylist()
            for c in ("part_id", "node_id", "version", "file_type", "sha256", "size", "txn_seq")
        ),
        strict=True,
    )
    return sorted(rows)


def as_of(path: Path, txn_seq: int) -> tuple[list[tuple], dict[str, list[bytes]]]:
    """What the pond at ``path`` holds as of transaction ``txn_seq``: the oplog rows it had
    committed by then, and every file's versions' bytes read through ``--at-txn`` time travel."""
    from duckpond import Pond

    rows = [r for r in content(Pond.open(path)) if r[-1] <= txn_seq]
    return rows, all_bytes(Pond.open(path, at_txn=txn_seq))


def history(pond) -> list[tuple]:
    return [(r.txn_seq, r.args, r.outcome) for r in pond.log()]


def all_bytes(pond) -> dict[str, list[bytes]]:
    """Every version's bytes of every file in the tree, by path."""
    out = {}
    for np in pond.root().walk():
        if np.is_dir or np.is_symlink:
            continue
        out[np.path] = [np.read_bytes(v.version) for v in np.versions()]
    return out


# -- killing a command at a fault point -------------------------------------------------------


def count_fault_points(fn) -> dict[str, int]:
    """Run ``fn()`` in this process and count how often each fault point was reached."""
    from duckpond import faults

    seen: dict[str, int] = {}

    def count(name: str) -> None:
        seen[name] = seen.get(name, 0) + 1

    faults.install(count)
    try:
        fn()
    finally:
        faults.install(None)
    return seen


def pond_killed_at(point: str, n: int, *argv: str | os.PathLike[str], env=None):
    """``pond ARGV`` in a child killed (``os._exit(137)``) the ``n``-th time it reaches ``point``
    (:mod:`duckpond.testing.crash`); returns the completed process (137 when killed)."""
    full_env = {k: v for k, v in os.environ.items() if k != "DUCKPOND_LOG"}
    full_env.update(env or {})
    src = str(REPO / "src")
    full_env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [full_env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "duckpond.testing.crash",
            f"{point}@{n}",
            "--",
            *(os.fspath(a) for a in argv),
        ],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode not in (0, 137):
        raise AssertionError(f"pond {argv} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return proc


def mirror_sync_killed_at(
    pond_path: Path, folder: Path, point: str, n: int = 1, *, rebuild: bool = False
) -> int:
    """``pond mirror sync FOLDER [--rebuild]`` killed at the ``n``-th ``point``; its status."""
    argv: list[str | os.PathLike[str]] = ["--pond", pond_path, "mirror", "sync", folder]
    argv += ["--rebuild"] if rebuild else []
    return pond_killed_at(point, n, *argv).returncode


def mirror_points(pond_path: Path, folder: Path, *, rebuild: bool = False) -> dict[str, int]:
    """The fault points a sync of ``folder`` reaches (run on a copy of it) and how often."""
    from duckpond import Pond
    from duckpond.mirror import sync

    scratch = folder.with_name(folder.name + "-count")
    if folder.exists():
        shutil.copytree(folder, scratch, symlinks=True)
    try:
        return count_fault_points(lambda: sync(Pond.open(pond_path), scratch, rebuild=rebuild))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def mirror_tree(folder: Path) -> dict[str, object]:
    """Every path of a mirror folder (state and journal excluded) -> bytes, target or 'dir'."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if rel in {".duckpond-mirror.json", ".duckpond-mirror.journal"}:
                continue
            if path.is_symlink():
                out[rel] = ("symlink", os.readlink(path))
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = path.read_bytes()
    return out


def leftovers(folder: Path) -> list[str]:
    """Temporary files a sync left behind."""
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.startswith(".tmp-duckpond-")
    )
