"""What runs after a commit, and the factories a pond reads dynamic nodes with by default.

The steward sits below the packages that provide these (``duckpond.remote``, ``duckpond.mirror``,
``duckpond.factories``), so it knows them only by name and imports them on first use: a pond
without an auto push or auto sync setting never imports them, and a pond whose dynamic nodes are
never read never imports the factory registry.

After-commit hooks run when a transaction that committed has ended and released the write lock,
in the process that committed, for library users and the ``pond`` command alike. They cannot undo
the commit: a hook's failure (a :class:`~duckpond.errors.PondError`) is reported as a
:class:`CommitHookWarning`, and the next push or sync catches up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from duckpond.errors import PondError

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.dynamic import DynamicDirectory, DynamicFile
    from duckpond.tinyfs.fs import NodePath

__all__ = [
    "AFTER_COMMIT",
    "AUTO_SETTINGS",
    "CommitHookWarning",
    "PondWarning",
    "builtin_factories",
    "prune_cache",
    "run_after_commit",
]

#: The settings that make an after-commit hook do something (auto push, auto mirror sync), so
#: that a commit on a pond without them imports nothing (``duckpond.remote.config.AUTO_PUSH``,
#: ``duckpond.mirror.AUTO_SYNC``: a test checks they agree).
AUTO_SETTINGS: Final = ("backup.auto_push", "mirror.auto_sync")

#: The after-commit entry point: ``module:function``, called with the pond, returning an object
#: with ``errors`` (one line per failure).
AFTER_COMMIT: Final = "duckpond.remote.hooks:after_commit"

#: The built-in factory resolver (``module:function``).
FACTORIES: Final = "duckpond.factories:resolver"

#: ``pond maintain``'s pruning of the derived-data cache (``module:function``, called with the
#: pond; see :mod:`duckpond.factories.cache`).
CACHE_PRUNE: Final = "duckpond.factories.cache:prune"


class PondWarning(UserWarning):
    """Something the user should know that did not stop the operation."""


class CommitHookWarning(PondWarning):
    """An after-commit hook (auto push, auto mirror sync) failed; the commit stands."""


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def run_after_commit(pond: Pond) -> list[str]:
    """Run the after-commit hooks the pond's settings ask for; return their failures.

    Returns:
        One line per failure (the caller warns with them). Empty when nothing is set.
    """
    try:
        settings = pond.settings
    except PondError as exc:
        return [f"after-commit hooks skipped: {exc}"]
    if not any(settings.get(key) for key in AUTO_SETTINGS):
        return []
    report = _load(AFTER_COMMIT)(pond)
    return list(report.errors)


def builtin_factories(
    nodepath: NodePath, name: str, config: bytes
) -> DynamicFile | DynamicDirectory:
    """The :data:`~duckpond.tinyfs.dynamic.FactoryResolver` of the built-in factories."""
    resolver = _load(FACTORIES)
    return resolver(nodepath, name, config)  # type: ignore[no-any-return]


def prune_cache(pond: Pond) -> None:
    """Delete the derived-data cache entries no current node uses (``pond maintain``); only
    when the pond has a cache folder, so a pond without one imports nothing."""
    if pond.layout.cache.is_dir():
        _load(CACHE_PRUNE)(pond)
