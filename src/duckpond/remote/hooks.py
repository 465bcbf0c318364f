"""What a write command runs after its commit: the auto push and the auto mirror sync.

Both are settings (``backup.auto_push`` names a remote; ``mirror.auto_sync`` names a host folder).
Neither can undo or fail the commit that came before: their errors are returned as one-line
messages for the command to print, and the next push or sync catches up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from duckpond import diagnostics
from duckpond.errors import PondError

if TYPE_CHECKING:
    from duckpond.mirror import MirrorReport
    from duckpond.remote.backup import PushReport
    from duckpond.steward.pond import Pond

__all__ = ["AfterCommitReport", "after_commit"]

_log = diagnostics.get_logger("remote")


@dataclass(frozen=True, slots=True)
class AfterCommitReport:
    """What :func:`after_commit` did.

    Attributes:
        push: the auto push's report (``None`` if no auto push is set or it failed).
        mirror: the auto sync's report (``None`` if no auto sync is set or it failed).
        errors: one line per failure, for stderr; the commit itself stands.
    """

    push: PushReport | None = None
    mirror: MirrorReport | None = None
    errors: list[str] = field(default_factory=list)


def after_commit(pond: Pond) -> AfterCommitReport:
    """Run the auto push and the auto mirror sync the pond's settings ask for.

    Call it after a write command's transaction has ended (the write lock released). It never
    raises a :class:`~duckpond.errors.PondError`: failures come back in ``errors``.
    """
    from duckpond import mirror
    from duckpond.remote.backup import push
    from duckpond.remote.config import auto_push_remote

    errors: list[str] = []
    pushed = synced = None
    try:
        target = auto_push_remote(pond)
        if target is not None:
            try:
                pushed = push(pond, target.open())
            except PondError as exc:
                errors.append(
                    f"auto push to {target.name} failed ({exc}); the commit is safe: "
                    f"run 'pond backup push {target.name}'"
                )
        folder = mirror.auto_sync_dir(pond)
        if folder is not None:
            try:
                synced = mirror.sync(pond, folder)
            except PondError as exc:
                errors.append(f"auto mirror sync failed ({exc}); run 'pond mirror sync {folder}'")
            else:
                errors.extend(f"mirror: {c}" for c in synced.conflicts)
    except PondError as exc:
        errors.append(f"after-commit hooks failed: {exc}")
    for line in errors:
        _log.warning("%s", line)
    return AfterCommitReport(pushed, synced, errors)
