"""DuckPond: a very small data lake.

A local-first, transactional, versioned filesystem for timeseries, kept as a Delta Lake table of
Parquet files and queried with SQL (DataFusion). Start with :class:`Pond`::

    from duckpond import Pond
    pond = Pond.init("/tmp/pond")
    with pond.transaction(["example"]) as tx:
        tx.root().mkdir("/sensors")

``Pond`` and ``Transaction`` are imported on first use (PEP 562), so ``import duckpond`` stays
cheap: the ``pond`` command must start without paying for pyarrow and deltalake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from duckpond.errors import PondError

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond, Transaction

__version__ = "0.1.0"
__all__ = ["Pond", "PondError", "Transaction", "__version__"]


def __getattr__(name: str) -> Any:
    if name in {"Pond", "Transaction"}:
        from duckpond.steward import pond

        return getattr(pond, name)
    raise AttributeError(f"module 'duckpond' has no attribute {name!r}")
