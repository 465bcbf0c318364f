"""Named fault points, for tests that crash the process at a chosen moment.

Product code marks the moments where a crash must be survivable with ``faults.point("name")``
(``before-data-commit``, ``after-data-commit``, ...). Normally nothing is installed and a point
costs one global lookup; no environment variable is read on these paths. A test installs a
handler, in the process under test, through :mod:`duckpond.testing.crash`
(``python -m duckpond.testing.crash NAME[@N] -- <pond arguments>``), which kills the process at
the N-th time the point is reached.

Points in use are listed in :data:`POINTS` (a test checks each is reachable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = ["POINTS", "install", "point"]

#: Every fault point the code marks, and where.
POINTS: Final = {
    "init-before-rename": "pond init: the new pond is built in a temporary sibling, not yet moved",
    "before-data-commit": "a transaction: large files written, the data commit not yet made",
    "after-data-commit": "a transaction: the data commit made, its control record not yet",
    "after-control-record": "a transaction: committed and recorded, after-commit hooks not run",
    "maintain-after-compact": "maintain: compacted, not yet vacuumed",
    "maintain-after-vacuum": "maintain: vacuumed, no checkpoint written yet",
    "maintain-after-checkpoint": "maintain: checkpoints written, superseded and orphan files not "
    "yet deleted",
    "copy-file-done": "copy in: one more host file staged (large files written), not committed",
    "apply-resource-done": "pond apply: one more resource staged, not committed",
    "push-after-upload": "backup push: an object uploaded (each one), the manifest not yet written",
    "push-before-manifest": "backup push: every object uploaded, the manifest not yet written",
    "restore-before-rename": "restore: the pond checked whole in its staging folder, not moved",
    "mirror-after-wipe": "mirror sync --rebuild: the folder wiped, the wipe not yet journaled",
    "mirror-tmp-written": "mirror sync: a file's temporary copy written, not yet journaled",
    "mirror-before-rename": "mirror sync: a file journaled, its temporary copy not yet renamed",
    "mirror-after-write": "mirror sync: a path written (each one)",
    "mirror-after-delete": "mirror sync: a path deleted, the deletion not yet journaled",
    "mirror-before-state": "mirror sync: every step done, the state file not yet saved",
}

_handler: Callable[[str], None] | None = None


def point(name: str) -> None:
    """Mark a fault point; calls the installed handler (if any) with ``name``."""
    if _handler is not None:
        _handler(name)


def install(handler: Callable[[str], None] | None) -> None:
    """Install (or with ``None`` remove) the handler called at every fault point."""
    global _handler
    _handler = handler
