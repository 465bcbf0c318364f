"""Parsers of file formats: host files -> Arrow tables ready to become series.

Nothing here touches a pond; the callers (``pond copy``, the ``inbox`` factory, library users)
write what these return. Layering: ``formats`` may import :mod:`duckpond.timeseries` (time columns)
and :mod:`duckpond.errors`, never the reverse.

Modules:

- :mod:`.options`: :class:`CsvOptions`, the one options type of ``pond copy`` and ``inbox``.
- :mod:`.csv_series`: :func:`parse_csv_series` / :func:`read_csv_series`: plain CSV, In-Situ
  and YSI EXO exports, loggers with ``;`` and decimal commas.
- :mod:`.shapes`: where the header row is, the vendor shape, the zone a file states.
- :mod:`.names`: vendor headers -> ``<parameter>.<unit>`` column names.
- :mod:`.laketech`: :func:`read_laketech`, LakeTech long-format exports pivoted wide.

The names below are imported lazily, so ``import duckpond.formats`` costs nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckpond.formats.csv_series import ParsedSeries, parse_csv_series, read_csv_series
    from duckpond.formats.laketech import read_laketech
    from duckpond.formats.options import CsvOptions

__all__ = [
    "CsvOptions",
    "ParsedSeries",
    "parse_csv_series",
    "read_csv_series",
    "read_laketech",
]

_WHERE = {
    "CsvOptions": "duckpond.formats.options",
    "ParsedSeries": "duckpond.formats.csv_series",
    "parse_csv_series": "duckpond.formats.csv_series",
    "read_csv_series": "duckpond.formats.csv_series",
    "read_laketech": "duckpond.formats.laketech",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
