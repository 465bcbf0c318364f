"""``pond`` as a real process (``python -m duckpond``): exit statuses of successful runs too,
repeated (a Python process can abort at exit with status 134), a second writer, a closed pipe."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cli_testlib import B01_CSV, pond_subprocess, snapshot

HOURLY = (
    "SELECT date_bin(INTERVAL '1 hour', \"Timestamp\") AS hour, "
    'min("WaterTemperature.C") AS lo, avg("WaterTemperature.C") AS mean, '
    'max("WaterTemperature.C") AS hi FROM source GROUP BY hour ORDER BY hour'
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"POND": str(tmp_path / "pond")}


def ok(result: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert result.returncode == 0, (result.returncode, result.stderr.decode())
    assert result.stderr == b""
    return result


def test_help_and_version_exit_zero() -> None:
    assert b"exit status" in ok(pond_subprocess("--help")).stdout
    assert ok(pond_subprocess("--version")).stdout.startswith(b"pond (duckpond) ")


def test_successful_runs_exit_zero_repeatedly(env: dict[str, str]) -> None:
    ok(pond_subprocess("init", env=env))
    ok(pond_subprocess("copy", f"host+csv+series://{B01_CSV}", "/b01.series", env=env))
    for _ in range(3):
        out = ok(pond_subprocess("cat", "/b01.series", "--sql", HOURLY, env=env)).stdout
        assert pq.read_table(io.BytesIO(out)).num_rows > 9000
        ok(pond_subprocess("describe", "/b01.series", env=env))
        ok(pond_subprocess("mkdir", "-p", "/a/b", env=env))
        assert ok(pond_subprocess("list", "/", env=env)).stdout == b"/a\n/b01.series\n"


def test_error_status_and_one_line(env: dict[str, str]) -> None:
    r = pond_subprocess("list", env=env)
    assert r.returncode == 5
    assert r.stderr.decode().count("\n") == 1 and r.stderr.startswith(b"pond: ")
    r = pond_subprocess("list", "--bogus", env=env)
    assert r.returncode == 2 and r.stderr.decode().count("\n") == 1
    r = pond_subprocess("list", env={**env, "DUCKPOND_LOG": "debug"})
    assert r.returncode == 5 and b"Traceback" in r.stderr


def test_closed_pipe_is_quiet(env: dict[str, str]) -> None:
    ok(pond_subprocess("init", env=env))
    ok(pond_subprocess("copy", f"host+csv+series://{B01_CSV}", "/b01.series", env=env))
    for fmt in ("csv", "json"):
        head = subprocess.run(
            f"{sys.executable} -m duckpond cat /b01.series --format {fmt} | head -n 2",
            shell=True,
            env={**os.environ, **env},
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert head.returncode == 0
        assert head.stdout.count(b"\n") == 2
        assert head.stderr == b"", head.stderr
    # the pond process's own status, with stdout closed after one line
    proc = subprocess.Popen(
        [sys.executable, "-m", "duckpond", "cat", "/b01.series", "--format", "csv"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0
    assert err == b""


HOLDER = textwrap.dedent(
    """
    import sys
    from duckpond import Pond
    pond = Pond.open(sys.argv[1])
    with pond.transaction(["holder"]):
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def test_second_writer_fails_at_once(env: dict[str, str], tmp_path: Path) -> None:
    ok(pond_subprocess("init", env=env))
    ok(pond_subprocess("mkdir", "/d", env=env))
    before = snapshot(Path(env["POND"]))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, env["POND"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        for argv in (("mkdir", "/x"), ("copy", str(B01_CSV), "/b.csv"), ("rm", "-r", "/d")):
            started = time.monotonic()
            r = pond_subprocess(*argv, env=env)
            assert r.returncode == 6, r.stderr
            assert time.monotonic() - started < 10  # fails at once, never waits for the lock
            lines = r.stderr.decode().splitlines()
            assert len(lines) == 1 and "write lock" in lines[0] and env["POND"] in lines[0]
        # readers take no lock
        assert ok(pond_subprocess("list", env=env)).stdout == b"/d\n"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
        assert holder.stdout is not None
        holder.stdout.close()
    assert snapshot(Path(env["POND"])) == before


def test_crash_then_status_and_recover(env: dict[str, str], tmp_path: Path) -> None:
    ok(pond_subprocess("init", env=env))
    crashed = subprocess.run(
        [
            sys.executable,
            "-m",
            "duckpond.testing.crash",
            "before-data-commit",
            "--",
            "mkdir",
            "/lost",
        ],
        env={**os.environ, **env},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == 137
    status = ok(pond_subprocess("status", env=env)).stdout.decode()
    assert "pending:      1 (txns 2; run 'pond recover')" in status
    assert ok(pond_subprocess("recover", env=env)).stdout == (
        b"txn 2: not committed; marked rolled back\n"
    )
    assert "rolled-back" in ok(pond_subprocess("log", env=env)).stdout.decode()
    assert ok(pond_subprocess("list", env=env)).stdout == b""


def test_diagnostics_log_reads_writes_and_commits(env: dict[str, str]) -> None:
    ok(pond_subprocess("init", env=env))
    quiet = ok(pond_subprocess("copy", f"host+csv+series://{B01_CSV}", "/b01.series", env=env))
    assert quiet.stderr == b""  # off by default
    info = {**env, "DUCKPOND_LOG": "info"}
    jfk = B01_CSV.parents[1] / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"
    r = pond_subprocess("copy", f"host+csv+series://{jfk}", "/jfk.series", env=info)
    assert r.returncode == 0
    err = r.stderr.decode()
    assert "duckpond.tlogfs: wrote large file sha256=" in err
    assert "duckpond.tlogfs: committed data version=" in err and "ms=" in err
    assert "duckpond.steward: transaction committed" in err
    debug = {**env, "DUCKPOND_LOG": "debug"}
    r = pond_subprocess(
        "cat", "/b01.series", "--sql", "SELECT 1 AS x", "--format", "csv", env=debug
    )
    assert r.returncode == 0 and r.stdout == b'"x"\n1\n'
    err = r.stderr.decode()
    assert "read partition part_id=" in err and "duckpond.sql: sql source=/b01.series" in err


def test_maintain_verify_finds_silent_corruption(env: dict[str, str], tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"A" * 200_000)
    ok(pond_subprocess("init", env=env))
    ok(pond_subprocess("copy", f"host://{big}", "/big.bin", env=env))
    r = pond_subprocess("maintain", "--verify", env=env)
    assert r.returncode == 0 and b"every file version matches" in r.stdout
    blob = next((Path(env["POND"]) / "data" / "_large_files").glob("sha256=*"))
    st = blob.stat()
    blob.write_bytes(b"B" * 200_000)
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: the stamp holds
    r = pond_subprocess("maintain", "--verify", env=env)
    assert r.returncode == 8
    assert b"content does not match its sha256" in r.stdout
    assert r.stderr.decode().count("\n") == 1


def _file_size_limit(limit: int):
    """preexec_fn: the kernel refuses writes past ``limit`` bytes (EFBIG, a host failure like a
    full disk; SIGXFSZ ignored so the write fails instead of killing the process)."""
    import resource
    import signal

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_host_that_refuses_writes_is_exit_74_naming_the_path(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Writes the kernel refuses (as on a full disk) while storing a large data file, a series
    chunk written by pyarrow and a Parquet series stored as it is: exit 74 (host failure), one
    line naming where and why, never 70; the pond unchanged and writable after."""
    import pyarrow as pa

    ok(pond_subprocess("init", env=env))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3_000_000))
    n = 400_000
    table = pa.table(
        {
            "Timestamp": pa.array(range(0, n * 60_000_000, 60_000_000), pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "v": pa.array([float(i % 977) for i in range(n)]),
        }
    )
    as_is = tmp_path / "as_is.parquet"
    pq.write_table(table, as_is)
    naive = tmp_path / "naive.parquet"
    pq.write_table(
        table.set_column(0, "Timestamp", table.column(0).cast(pa.timestamp("ms"))), naive
    )
    before = snapshot(Path(env["POND"]))
    for argv in (
        ("copy", str(big), "/big.bin"),
        ("copy", f"host+series://{as_is}", "/as_is.series"),
        ("copy", f"host+series://{naive}", "/naive.series"),
    ):
        r = pond_subprocess(*argv, env=env, preexec_fn=_file_size_limit(1_000_000))
        err = r.stderr.decode()
        assert r.returncode == 74, (argv, r.returncode, err)
        assert err.count("\n") == 1 and "File too large" in err, err
        assert err.startswith("pond: /") and ": writing a " in err, err
        assert snapshot(Path(env["POND"])) == before
    ok(pond_subprocess("copy", f"host+series://{as_is}", "/as_is.series", env=env))
