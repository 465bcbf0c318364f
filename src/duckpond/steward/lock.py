"""The pond's write lock: an exclusive, non-blocking OS lock on ``$POND/control/write.lock``.

One writer at a time; a second writer fails at once with :class:`~duckpond.errors.PondLocked`
(docs/design.md, "Transactions"). Readers take no lock. The operating system releases the lock
when the process dies, so a crash never leaves a stale lock behind. Per platform:

- Linux, macOS and the BSDs: ``flock(LOCK_EX | LOCK_NB)`` on the whole file (``fcntl.flock``;
  on Linux and macOS it is held by the open file, so two ``Pond`` objects in one process
  exclude each other too);
- Windows: ``msvcrt.locking(LK_NBLCK)`` of the file's first byte (``LockFileEx``; held by the
  process and handle until unlocked or the process ends).

No lock file is ever deleted (a deleted lock file lets two writers lock two different files);
the holder writes its process id into it for people to read. Chosen over the ``filelock``
package, whose 4.x line silently falls back to a soft (marker-file) lock where ``flock`` is
missing: a stale marker outlives a crash, which this design must not allow.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, TracebackType

from duckpond.errors import PondLocked

__all__ = ["WriteLock", "lock_backend", "process_alive"]

#: errnos that mean "someone else holds it" (flock: EWOULDBLOCK, or EACCES on some network
#: filesystems; msvcrt.locking with LK_NBLCK: EACCES or EDEADLOCK)
_HELD = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK})


def _module(name: str) -> ModuleType | None:
    try:
        return __import__(name)
    except ImportError:
        return None


def lock_backend() -> tuple[str, Callable[[int], bool], Callable[[int], None]]:
    """(name, try_lock(fd) -> acquired, unlock(fd)) for this platform: ``flock`` where
    ``fcntl.flock`` exists, else ``msvcrt`` (Windows).

    Raises:
        OSError: neither exists (ENOSYS): no platform this package supports.
    """
    fcntl = _module("fcntl")
    if fcntl is not None and hasattr(fcntl, "flock"):

        def try_flock(fd: int) -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in _HELD:
                    return False
                raise
            return True

        def unflock(fd: int) -> None:
            fcntl.flock(fd, fcntl.LOCK_UN)

        return "flock", try_flock, unflock
    msvcrt = _module("msvcrt")
    if msvcrt is not None and hasattr(msvcrt, "locking"):

        def try_locking(fd: int) -> bool:
            os.lseek(fd, 0, os.SEEK_SET)  # the region starts at the file position
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            except OSError as exc:
                if exc.errno in _HELD:
                    return False
                raise
            return True

        def unlocking(fd: int) -> None:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

        return "msvcrt", try_locking, unlocking
    raise OSError(errno.ENOSYS, "no file locking on this platform (neither flock nor msvcrt)")


class WriteLock:
    """Context manager holding the write lock of the pond at ``lock_path``.

    Raises:
        PondLocked: another process (or another Pond object in this one) holds it.
    """

    def __init__(self, lock_path: Path) -> None:
        self.lock_path = lock_path
        self._fd: int | None = None
        self._unlock: Callable[[int], None] | None = None

    def acquire(self) -> WriteLock:
        _, try_lock, unlock = lock_backend()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        try:
            acquired = try_lock(fd)
        except BaseException:
            os.close(fd)
            raise
        if not acquired:
            os.close(fd)
            raise PondLocked(
                "another writer holds the pond's write lock; try again when it is done",
                str(self.lock_path.parent.parent),
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        self._unlock = unlock
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                if self._unlock is not None:
                    self._unlock(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> WriteLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (a process we may not signal counts as running).

    POSIX asks with signal 0; Windows opens the process and asks whether it has ended (there,
    ``os.kill(pid, 0)`` would terminate it).
    """
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        synchronize, query_limited = 0x00100000, 0x1000
        handle = kernel32.OpenProcess(synchronize | query_limited, False, pid)
        if not handle:
            return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: it exists
        try:
            return bool(kernel32.WaitForSingleObject(handle, 0) == 0x102)  # WAIT_TIMEOUT
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
