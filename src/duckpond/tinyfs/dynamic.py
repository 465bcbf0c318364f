"""The dynamic-node boundary: what a factory's object must be for tinyfs to read it.

A dynamic node stores a factory name and a config; reading it asks a :data:`FactoryResolver` for
an object that is one of these (checked structurally, :pep:`544`):

- :class:`DynamicDirectory`: ``entries()`` gives ``(name, child)`` pairs; children are dynamic
  files or directories and get deterministic node ids (a hash of the parent id and the name).
- :class:`DynamicFile`: ``file_type`` (what it presents as: ``file:data``, ``file:table`` or
  ``file:series``), ``read_bytes()`` and ``lineage()``.
- :class:`DynamicTable`: a dynamic file that is a table or series: also ``time_column`` and
  ``read_table(window)``, which returns only rows with ``window.start <= time < window.end`` when
  a window is given (``time_column`` must then be known).

Every dynamic node says what it depends on (:class:`~duckpond.tinyfs.lineage.Lineage`), so that
derived nodes can cache and update incrementally; one that cannot returns
:meth:`Lineage.opaque`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa

    from duckpond.times import Window
    from duckpond.tinyfs.fs import NodePath
    from duckpond.tinyfs.lineage import Lineage

__all__ = ["DynamicDirectory", "DynamicFile", "DynamicTable", "FactoryResolver"]


@runtime_checkable
class DynamicFile(Protocol):
    """A file whose content a factory computes on read (a data file unless it is a table)."""

    @property
    def file_type(self) -> str:
        """``file:data``, ``file:table`` or ``file:series``."""
        ...

    def read_bytes(self) -> bytes:
        """The content (a table or series: as Parquet)."""
        ...

    def lineage(self) -> Lineage:
        """What the content depends on."""
        ...


@runtime_checkable
class DynamicTable(DynamicFile, Protocol):
    """A dynamic table or series."""

    @property
    def time_column(self) -> str | None:
        """The time column of a series (``None`` for a table without one)."""
        ...

    def read_table(self, window: Window | None = None) -> pa.Table:
        """The content as Arrow; with ``window``, only rows with time in ``[start, end)``."""
        ...


@runtime_checkable
class DynamicDirectory(Protocol):
    """A directory whose entries a factory computes on read."""

    def entries(self) -> Iterable[tuple[str, DynamicFile | DynamicDirectory]]:
        """(name, node) pairs; a node is a :class:`DynamicFile` or a :class:`DynamicDirectory`."""
        ...

    def lineage(self) -> Lineage:
        """What the entries depend on."""
        ...


#: Builds a dynamic node from (the node's NodePath, factory name, config bytes).
FactoryResolver = Callable[["NodePath", str, bytes], "DynamicFile | DynamicDirectory"]
