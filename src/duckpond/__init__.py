"""DuckPond: a very small data lake.

A local-first, transactional, versioned filesystem for timeseries, kept as a Delta Lake table of
Parquet files and queried with SQL (DataFusion). Start with :class:`Pond`::

    from duckpond import Pond
    pond = Pond.init("/tmp/pond")
    with pond.transaction(["example"]) as tx:
        tx.root().mkdir("/sensors")
"""

from duckpond.errors import PondError
from duckpond.steward.pond import Pond, Transaction

__version__ = "0.1.0"
__all__ = ["Pond", "PondError", "Transaction", "__version__"]
