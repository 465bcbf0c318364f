"""The ``pond copy`` flags of the CSV options, cheap to import (no pydantic, no pyarrow).

The CLI builds its parser at start-up, so the flags live here as plain data; the values they take
are validated by :class:`duckpond.formats.options.CsvOptions` when a copy runs (a test holds the
two to the same names and choices).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

__all__ = ["CSV_FLAGS", "add_arguments", "given_arguments", "values_of_arguments"]

CSV_FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "shape",
        {
            "choices": ("auto", "plain", "in-situ", "exo"),
            "help": "file layout (default: auto, detects In-Situ and EXO exports)",
        },
    ),
    (
        "skip_rows",
        {"type": int, "metavar": "N", "help": "lines before the header row (default: detected)"},
    ),
    (
        "delimiter",
        {"metavar": "C", "help": "field delimiter (default: detected from the header: , ; tab |)"},
    ),
    ("decimal", {"choices": (".", ","), "help": "decimal separator of numbers (default: .)"}),
    (
        "time_column",
        {
            "metavar": "NAME",
            "help": "time column (default: detected); with --date-column: the time of day",
        },
    ),
    (
        "date_column",
        {"metavar": "NAME", "help": "a date column joined with --time-column into one time"},
    ),
    (
        "time_format",
        {
            "metavar": "FMT",
            "help": "strptime format of the times, e.g. '%%d.%%m.%%Y %%H:%%M' (default: ISO-8601)",
        },
    ),
    (
        "null_values",
        {
            "flag": "--null-value",
            "action": "append",
            "metavar": "TEXT",
            "help": "another spelling of a missing value; repeat for more (-9999, ERR, NAN)",
        },
    ),
    (
        "tz",
        {
            "metavar": "ZONE",
            "help": "zone of times without an offset, IANA or ±HH:MM (default: the file's, or UTC)",
        },
    ),
    (
        "ambiguous",
        {
            "choices": ("error", "earliest", "latest", "infer"),
            "help": "a local time that occurs twice (DST ends): error (default), earliest, latest, "
            "infer",
        },
    ),
    (
        "nonexistent",
        {
            "choices": ("error", "shift"),
            "help": "a local time that does not exist (DST begins): error (default), shift",
        },
    ),
    (
        "names",
        {
            "choices": ("auto", "as-written", "parameter.unit"),
            "help": "column names: vendor headers as <parameter>.<unit> (auto: for In-Situ/EXO)",
        },
    ),
)
"""The flag of each ``CsvOptions`` field: ``--skip-rows`` for ``skip_rows``."""


def _flag(name: str, spec: dict[str, Any]) -> str:
    return str(spec.get("flag", "--" + name.replace("_", "-")))


def add_arguments(parser: argparse.ArgumentParser | Any, *, skip: tuple[str, ...] = ()) -> None:
    """Add the flags of :data:`CSV_FLAGS` (all default ``None``: not given) to an argparse parser
    or argument group; ``skip`` names fields the caller defines itself."""
    for name, spec in CSV_FLAGS:
        if name in skip:
            continue
        kwargs = {k: v for k, v in spec.items() if k != "flag"}
        parser.add_argument(_flag(name, spec), dest=name, default=None, **kwargs)


def values_of_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The ``CsvOptions`` fields given on the command line (field -> value)."""
    return {
        name: getattr(args, name) for name, _ in CSV_FLAGS if getattr(args, name, None) is not None
    }


def given_arguments(args: argparse.Namespace) -> list[str]:
    """The flags of the CSV options that were given, as typed (``--skip-rows``)."""
    return [_flag(name, spec) for name, spec in CSV_FLAGS if getattr(args, name, None) is not None]
