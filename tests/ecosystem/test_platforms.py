"""Every laptop: the write lock without ``fcntl`` (Windows' ``msvcrt.locking``), large files
without extended attributes (macOS, Windows), host URLs in Windows form.

The Windows and macOS calls cannot run here; these tests take the Linux ones away (and stand
``msvcrt.locking`` in for them, built on POSIX byte-range locks, which behave as Windows'
``LockFileEx`` does across processes) and check that the pond still works.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path, PureWindowsPath

import pytest
from ecosystem_testlib import pond_subprocess, snapshot

from duckpond import Pond
from duckpond.errors import IntegrityError
from duckpond.ops.copy import host_path_text
from duckpond.steward.lock import WriteLock, lock_backend, process_alive
from duckpond.tlogfs.delta import VERIFIED_XATTR

#: Run before anything else in a child process: no fcntl, an msvcrt whose locking() is Windows'
#: contract (lock nbytes from the file position; LK_NBLCK fails at once with EACCES).
WINDOWS_LOCKS = textwrap.dedent(
    """
    import errno, os, sys, types
    import fcntl as _posix
    def locking(fd, mode, nbytes):
        if mode == 0:  # LK_UNLCK
            _posix.lockf(fd, _posix.LOCK_UN, nbytes, 0, os.SEEK_CUR)
            return
        try:
            _posix.lockf(fd, _posix.LOCK_EX | _posix.LOCK_NB, nbytes, 0, os.SEEK_CUR)
        except OSError:
            raise OSError(errno.EACCES, "Permission denied") from None
    msvcrt = types.ModuleType("msvcrt")
    msvcrt.locking, msvcrt.LK_UNLCK, msvcrt.LK_NBLCK = locking, 0, 2
    sys.modules["msvcrt"] = msvcrt
    sys.modules["fcntl"] = None  # import fcntl now raises ImportError, as on Windows
    """
)

CLI = WINDOWS_LOCKS + textwrap.dedent(
    """
    from duckpond.steward.lock import lock_backend
    assert lock_backend()[0] == "msvcrt", lock_backend()
    from duckpond.cli.main import main
    sys.exit(main(sys.argv[1:]))
    """
)

HOLDER = WINDOWS_LOCKS + textwrap.dedent(
    """
    from duckpond import Pond
    pond = Pond.open(sys.argv[1])
    with pond.transaction(["holder"]) as tx:
        tx.root().mkdir("/held")
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def _cli(*argv: str, pond: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DUCKPOND_LOG"}
    env["POND"] = str(pond)
    return subprocess.run(
        [sys.executable, "-c", CLI, *argv], env=env, capture_output=True, timeout=120, check=False
    )


def test_the_lock_without_fcntl_keeps_one_writer(tmp_path):
    pond = tmp_path / "pond"
    assert _cli("init", pond=pond).returncode == 0
    before = snapshot(pond)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(pond)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        started = time.monotonic()
        second = _cli("mkdir", "/x", pond=pond)
        assert second.returncode == 6, second.stderr
        assert time.monotonic() - started < 30  # fails at once (the child's start-up included)
        (line,) = second.stderr.decode().splitlines()
        assert "write lock" in line and str(pond) in line
        assert snapshot(pond) == before
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
        assert holder.stdout is not None
        holder.stdout.close()
    after = _cli("mkdir", "/x", pond=pond)  # released: the next writer goes ahead
    assert after.returncode == 0, after.stderr
    assert {p for p, _, _ in snapshot(pond)[1]} == {"/held", "/x"}


def test_a_crashed_holder_leaves_no_lock_behind(tmp_path):
    pond = tmp_path / "pond"
    assert _cli("init", pond=pond).returncode == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(pond)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    holder.kill()
    holder.wait(timeout=60)
    holder.stdout.close()
    assert holder.stdin is not None
    holder.stdin.close()
    assert not process_alive(holder.pid)
    done = _cli("mkdir", "/after-crash", pond=pond)
    assert done.returncode == 0, done.stderr


def test_the_posix_lock_excludes_a_second_pond_object_in_one_process(pond):
    assert lock_backend()[0] == "flock"
    lock = pond.layout.lock
    with WriteLock(lock):
        assert lock.read_text().strip() == str(os.getpid())
        from duckpond.errors import PondLocked

        with pytest.raises(PondLocked), WriteLock(lock):
            pass
    with WriteLock(lock):  # released: taken again
        pass
    assert lock.exists()  # never deleted


def test_no_lock_call_at_all_is_a_host_error_not_a_bug(monkeypatch):
    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", None)
    with pytest.raises(OSError) as caught:
        lock_backend()
    assert caught.value.errno == errno.ENOSYS


def _big_file(pond: Pond, data: bytes) -> Path:
    with pond.transaction(["big"]) as tx:
        tx.root().write_file("/big.bin", data)
    (blob,) = (pond.path / "data" / "_large_files").glob("sha256=*")
    return blob


def test_large_files_without_xattr_calls(tmp_path, monkeypatch):
    getxattr = os.getxattr
    monkeypatch.delattr(os, "getxattr")  # macOS and Windows have neither
    monkeypatch.delattr(os, "setxattr")
    pond = Pond.init(tmp_path / "pond")
    data = os.urandom(200_000)  # >= 64 KiB: a large file, verified on first read
    blob = _big_file(pond, data)
    again = Pond.open(pond.path)
    assert again.root().resolve("/big.bin").read_bytes() == data
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name.removeprefix("sha256=")
    with pytest.raises(OSError):  # no stamp was written
        getxattr(blob, VERIFIED_XATTR)
    # with no stamp to trust, each new process hashes on first read: corruption that keeps the
    # size is found
    corrupt = bytearray(data)
    corrupt[1000] ^= 0xFF
    blob.write_bytes(bytes(corrupt))
    with pytest.raises(IntegrityError):
        Pond.open(pond.path).root().resolve("/big.bin").read_bytes()


def test_large_files_where_the_filesystem_refuses_xattrs(tmp_path, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise OSError(errno.ENOTSUP, "Operation not supported")

    monkeypatch.setattr(os, "getxattr", refuse)  # a filesystem without user xattrs (FAT, SMB)
    monkeypatch.setattr(os, "setxattr", refuse)
    pond = Pond.init(tmp_path / "pond")
    data = os.urandom(100_000)
    _big_file(pond, data)
    assert Pond.open(pond.path).root().resolve("/big.bin").read_bytes() == data


@pytest.mark.parametrize(
    ("rest", "windows_path"),
    [
        ("/C:/data/b01.csv", r"C:\data\b01.csv"),  # host+csv+series:///C:/data/b01.csv
        (r"/D:\exports\jfk.csv", r"D:\exports\jfk.csv"),
        (r"C:\data\b01.csv", r"C:\data\b01.csv"),  # host+csv+series://C:\data\b01.csv
        ("//server/share/b01.csv", r"\\server\share\b01.csv"),  # a UNC path
    ],
)
def test_windows_host_urls_name_windows_paths(rest, windows_path):
    path = PureWindowsPath(host_path_text(rest, windows=True))
    assert path == PureWindowsPath(windows_path) and path.is_absolute()
    # elsewhere the same text is a POSIX path, unchanged
    assert host_path_text(rest, windows=False) == rest


def test_plain_windows_relative_urls_stay_relative():
    assert not PureWindowsPath(host_path_text(r"data\b01.csv", windows=True)).is_absolute()


def test_the_cli_copies_a_file_named_by_an_absolute_url_with_a_drive_like_folder(tmp_path):
    # on POSIX a folder named "C:" is just a folder: host:///.../C:/f.csv keeps meaning it
    folder = tmp_path / "C:"
    folder.mkdir()
    (folder / "f.txt").write_bytes(b"drive-like folder")
    pond = tmp_path / "pond"
    env = {"POND": str(pond)}
    assert pond_subprocess("init", env=env).returncode == 0
    done = pond_subprocess("copy", f"host://{folder}/f.txt", "/f.txt", env=env)
    assert done.returncode == 0, done.stderr
    assert Pond.open(pond).root().resolve("/f.txt").read_bytes() == b"drive-like folder"
