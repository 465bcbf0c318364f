"""The on-disk layout of a pond, defined once.

A pond is a host directory::

    $POND/data/                     Delta table: the oplog (tlogfs), partitioned by part_id
    $POND/data/_delta_log/          its transaction log
    $POND/data/_large_files/        sha256=<hex>: file versions of 64 KiB or more
    $POND/control/                  Delta table: transaction records and pond settings (steward)
    $POND/control/_delta_log/       its transaction log
    $POND/control/write.lock        the lock file the one writer holds
    $POND/cache/                    derived data (safe to delete; rebuilt on use)

Backup, restore, the mirror and every other module derive paths from :class:`PondLayout`; none
spells these names again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "CACHE_DIR",
    "CONTROL_DIR",
    "DATA_DIR",
    "DELTA_LOG",
    "LARGE_FILES",
    "LARGE_PREFIX",
    "LOCK_FILE",
    "TABLES",
    "TMP_PREFIX",
    "PondLayout",
]

DATA_DIR: Final = "data"
CONTROL_DIR: Final = "control"
DELTA_LOG: Final = "_delta_log"
LARGE_FILES: Final = "_large_files"
LARGE_PREFIX: Final = "sha256="
LOCK_FILE: Final = "write.lock"
CACHE_DIR: Final = "cache"
#: Host files being written start with this prefix until they are renamed into place.
TMP_PREFIX: Final = ".tmp-"
#: The pond's two Delta tables, by directory name.
TABLES: Final = (DATA_DIR, CONTROL_DIR)


@dataclass(frozen=True, slots=True)
class PondLayout:
    """The paths of one pond on the host.

    Args:
        root: the pond directory (``$POND``).
    """

    root: Path

    @classmethod
    def of(cls, root: str | os.PathLike[str]) -> PondLayout:
        return cls(Path(root))

    @property
    def data(self) -> Path:
        """The data table (the oplog)."""
        return self.root / DATA_DIR

    @property
    def control(self) -> Path:
        """The control table (transaction records and settings)."""
        return self.root / CONTROL_DIR

    @property
    def large_files(self) -> Path:
        """Content-addressed file versions of 64 KiB or more."""
        return self.data / LARGE_FILES

    @property
    def lock(self) -> Path:
        """The write lock file."""
        return self.control / LOCK_FILE

    @property
    def cache(self) -> Path:
        """Derived data: deleting it costs only time."""
        return self.root / CACHE_DIR

    def delta_log(self, table: str) -> Path:
        """The ``_delta_log`` folder of ``table`` (``"data"`` or ``"control"``)."""
        return self.root / table / DELTA_LOG

    def large_file(self, sha256: str) -> Path:
        """Where the large file with this sha256 (hex) lives."""
        return self.large_files / f"{LARGE_PREFIX}{sha256}"

    def is_pond(self) -> bool:
        """Whether both tables' logs exist (a pond, or a pond being created)."""
        return self.delta_log(DATA_DIR).is_dir() and self.delta_log(CONTROL_DIR).is_dir()

    @staticmethod
    def large_sha256(name: str) -> str | None:
        """The sha256 named by a large file's name, or ``None`` if it is not one."""
        if name.startswith(LARGE_PREFIX):
            return name[len(LARGE_PREFIX) :]
        return None
