"""The pond's write lock: an exclusive, non-blocking ``flock`` on ``$POND/control/write.lock``.

One writer at a time; a second writer fails at once with :class:`~duckpond.errors.PondLocked`
(docs/design.md, "Transactions"). Readers take no lock. The kernel releases the lock if the
process dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from duckpond.errors import PondLocked

__all__ = ["WriteLock"]


class WriteLock:
    """Context manager holding the write lock of the pond at ``lock_path``.

    Raises:
        PondLocked: another process (or another Pond object in this one) holds it.
    """

    def __init__(self, lock_path: Path) -> None:
        self.lock_path = lock_path
        self._fd: int | None = None

    def acquire(self) -> WriteLock:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise PondLocked(
                "another writer holds the pond's write lock; try again when it is done",
                str(self.lock_path.parent.parent),
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
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
