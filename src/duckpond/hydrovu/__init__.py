"""HydroVu (In-Situ cloud) support: the API client.

The API is the one docs/design.md describes ("HydroVu API, as used"), served at
``https://www.hydrovu.com/public-api/``. :mod:`duckpond.hydrovu.client` holds the client; the
loopback server that speaks the same API for tests, demos and benchmarks is
:mod:`duckpond.testing.hydrovu_server`.

The names below are re-exported lazily so that importing this package (e.g. from a factory
registry at ``pond --help`` time) does not pay for httpx, tenacity and pyarrow.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "FriendlyNames",
    "HydroVuClient",
    "Location",
    "column_name",
    "sanitize_name",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("duckpond.hydrovu.client"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
