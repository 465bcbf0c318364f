"""Opening and refreshing a Delta table that another process is writing: bounded retries.

Readers take no lock, and a writer cleans up the Delta log as it goes: at a checkpoint
(``delta.enableExpiredLogCleanup``, every ``delta.checkpointInterval`` commits) deltalake deletes
the log entries and older checkpoints before the new checkpoint whose files are older than
``delta.logRetentionDuration``. Their *age* is what counts, not how long ago they were
superseded: after a pond was idle for longer than the retention (a collector run from cron every
hour), every entry is expired at the next checkpoint, however recently a reader listed it. An
opener that read ``_last_checkpoint`` or listed ``_delta_log`` just before the cleanup then asks
for a file that is gone::

    Kernel error: File not found: $POND/control/_delta_log/00000000000000000008.json
    Kernel error: Arrow error: External: Object at location .../00000000000000000009.checkpoint
        .parquet not found: No such file or directory (os error 2)
    Kernel error: Invalid Checkpoint: Had a _last_checkpoint hint but didn't find any checkpoints

No retention can prevent this (the cleanup compares file ages), so openers retry: listing the
log again finds the new checkpoint, which holds everything the deleted entries did. A loaded
table's ``update_incremental`` reads only entries after its version, and when those were cleaned
up it starts from the newest checkpoint (checked in tests), so it needs the same retry only for
the list-then-read race. Data files are different: vacuum deletes them by the time of their
*remove* action, so the retention protects a reader for that long after a compaction.

Errors other than a vanished log file are not retried (they are translated at once by
:func:`duckpond.errors.translate_errors`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

from duckpond import diagnostics
from duckpond.errors import translate_errors

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = ["ATTEMPTS", "log_vanished", "open_table", "retry_log_race", "update_table"]

#: How many times an open or refresh is tried when log files vanish under it. Each retry lists
#: the log again; a writer checkpoints every 10 commits, so a second race in a row is rare and
#: eight in a row means the table is broken, not busy.
ATTEMPTS: Final = 8
#: Seconds before the first retry; doubled each time (at most about 0.6 s in all).
FIRST_DELAY: Final = 0.005

_log = diagnostics.get_logger("tlogfs")
T = TypeVar("T")


def log_vanished(exc: BaseException) -> bool:
    """Whether ``exc`` is deltalake failing because a log file it listed was deleted meanwhile."""
    delta = sys.modules.get("deltalake.exceptions")
    if delta is None or not isinstance(exc, delta.DeltaError):
        return False
    if isinstance(exc, delta.TableNotFoundError | delta.CommitFailedError):
        return False
    text = str(exc)
    if "_last_checkpoint hint but didn't find any checkpoint" in text:
        return True
    lowered = text.lower()
    return "_delta_log" in text and ("not found" in lowered or "no such file" in lowered)


def retry_log_race(work: Callable[[], T], path: Path | str, *, what: str) -> T:
    """``work()``, tried again (up to :data:`ATTEMPTS` times) while it fails because a concurrent
    log cleanup deleted a file it listed; other errors, and the last one, are translated
    (:func:`~duckpond.errors.translate_errors`) naming ``path``.

    Raises:
        InvalidData: the log is still missing files after every attempt (a broken table).
        NotAPond, HostError, ...: as :func:`~duckpond.errors.translate_errors` maps them.
    """
    delay = FIRST_DELAY
    for attempt in range(1, ATTEMPTS + 1):
        with translate_errors(str(path), what=what):
            try:
                return work()
            except Exception as exc:
                if attempt == ATTEMPTS or not log_vanished(exc):
                    raise
                _log.debug("%s: log cleaned up meanwhile (%s); retry %d", path, exc, attempt)
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def open_table(path: Path, *, what: str) -> DeltaTable:
    """Load the Delta table at ``path`` (its latest version), retrying a log cleanup race.

    Raises:
        NotAPond: no table there. InvalidData: the table cannot be loaded.
    """
    from deltalake import DeltaTable

    return retry_log_race(lambda: DeltaTable(str(path)), path, what=what)


def update_table(table: DeltaTable, path: Path, *, what: str) -> None:
    """Bring a loaded table up to its latest version (``update_incremental``), retrying a log
    cleanup race.

    Raises:
        InvalidData: the table cannot be loaded.
    """
    retry_log_race(table.update_incremental, path, what=what)
