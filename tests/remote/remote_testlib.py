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

    def restart(self) -> None:
        """Start again; with recording on, replay what the killed server had been sent."""
        self.kill()
        self.start()
        if self.record:
            req = urllib.request.Request(
                f"{self.endpoint}/moto-api/recorder/replay-recording", method="POST"
            )
            with urllib.request.urlopen(req, timeout=120):
                pass

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
    from duckpond.timeseries import read_csv_series

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


# -- killing a mirror sync at a chosen step --------------------------------------------------

#: Run in a child process: sync with every host-changing step of the mirror counted, and the
#: process killed (``os._exit(137)``, no clean-up: what kill -9 does) right after step N.
#: These crash points live in the test, not in the product: the child patches the functions.
MIRROR_CRASH_CHILD = r"""
import os, pathlib, sys
from duckpond import Pond, mirror

pond_path, folder, n, rebuild = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
count = 0

def counted(owner, name):
    original = getattr(owner, name, None)
    if original is None:  # another version of the module
        return
    def step(*args, **kwargs):
        global count
        result = original(*args, **kwargs)
        count += 1
        if count == n:
            os._exit(137)
        return result
    setattr(owner, name, step)

for owner, name in [
    (mirror, "_write_tmp"), (getattr(mirror, "_Journal", None), "_write"),
    (mirror, "_save_state"), (mirror, "_atomic_write"),
    (pathlib.Path, "replace"), (pathlib.Path, "unlink"), (pathlib.Path, "rmdir"),
    (pathlib.Path, "mkdir"), (pathlib.Path, "symlink_to"), (pathlib.Path, "chmod"),
]:
    counted(owner, name)
pond = Pond.open(pond_path)
mirror.sync(pond, folder, rebuild=rebuild)
print(count)
"""


def mirror_sync_killed_at(pond_path: Path, folder: Path, step: int, *, rebuild: bool = False):
    """Sync in a child killed right after host-changing step ``step`` (0: never killed).

    Returns (exit status, steps counted when it was not killed else None).
    """
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            MIRROR_CRASH_CHILD,
            str(pond_path),
            str(folder),
            str(step),
            "1" if rebuild else "0",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if proc.returncode not in (0, 137):
        raise AssertionError(f"child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return proc.returncode, (int(proc.stdout) if proc.returncode == 0 else None)


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
