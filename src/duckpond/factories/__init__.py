"""Factories: dynamic nodes whose content is computed on read (docs/design.md, "Dynamic nodes").

A dynamic node stores only a factory name and its YAML config (``pond mknod``); reading it asks
the factory to compute its content from other nodes. The built-in factories:

=================  ====  ==========================================================================
name               kind  what it computes
=================  ====  ==========================================================================
sql-derived        file  a table or series from SQL over named glob patterns
timeseries-join    file  series outer-joined on time, grouped by scope, columns ``<scope>.<col>``
temporal-reduce    dir   ``res=<R>.series`` children: avg/min/max/count per epoch-aligned bucket
=================  ====  ==========================================================================

(``template``, ``sitegen``, ``hydrovu`` and ``inbox`` are registered the same way; see
:data:`duckpond.factories.registry.BUILTIN_MODULES`.)

The public API lives in the submodules and is imported lazily, so that importing this package
(for :func:`resolver`, which every ``Pond.open`` of the CLI needs) costs nothing:

- :mod:`duckpond.factories.registry`: ``FACTORIES``, ``get_factory``, ``list_factories``,
  ``mknod``, ``run``, ``resolver``.
- pipelines (``pond apply``) are :mod:`duckpond.pipeline`, above this package.
- :mod:`duckpond.factories.export`: ``export`` (Hive-partitioned Parquet plus ``manifest.json``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import DynamicDirectory, DynamicFile, NodePath

__all__ = ["resolver"]


def resolver(nodepath: NodePath, name: str, config: bytes) -> DynamicFile | DynamicDirectory:
    """The :data:`~duckpond.tinyfs.fs.FactoryResolver` of the built-in registry.

    Pass it to :meth:`duckpond.Pond.open` / :meth:`duckpond.Pond.init` (``factories=resolver``) so
    that dynamic nodes can be read. The registry is imported on the first dynamic read only.

    Raises:
        UsageError: ``name`` is not a registered factory.
        InvalidData: the stored config no longer validates (the message names the field).
    """
    from typing import cast

    from duckpond.factories.registry import FACTORIES

    return cast("DynamicFile | DynamicDirectory", FACTORIES.resolve(nodepath, name, config))


def __getattr__(name: str) -> Any:
    if name in {"mknod", "run", "get_factory", "list_factories", "FACTORIES"}:
        from duckpond.factories import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'duckpond.factories' has no attribute {name!r}")
