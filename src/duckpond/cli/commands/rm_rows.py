"""``pond rm-rows PATH --start T --end T``: remove a series' rows in a time window."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "rm-rows",
        parents=[common],
        help="remove the rows of a series in a time window (history kept)",
        description="One transaction: the rows of the series at PATH with a time in "
        "[--start, --end) are removed, by a correction version holding the other rows of the "
        "versions that overlap the window. Times are ISO-8601 (Z or an offset; none = UTC) or "
        "µs since the epoch; one side may be left open. --at-txn of a transaction before this "
        "one still reads the removed rows.",
    )
    p.add_argument("path", help="pond path of a stored series")
    p.add_argument("--start", metavar="T", help="first time removed (inclusive)")
    p.add_argument("--end", metavar="T", help="end of the window (exclusive)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import info, write_transaction
    from duckpond.errors import UsageError
    from duckpond.ops.corrections import remove_rows
    from duckpond.times import Window, parse_time

    bounds = []
    for flag, text in (("--start", args.start), ("--end", args.end)):
        try:
            value = int(text) if text is not None and text.lstrip("-").isdigit() else text
            bounds.append(None if value is None else parse_time(value))
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}", args.path) from None
    window = Window(bounds[0], bounds[1])
    if window.start is not None and window.end is not None and window.start >= window.end:
        raise UsageError("--start must be before --end", args.path)
    with write_transaction(args) as (_, root):
        removed = remove_rows(root, args.path, window)
    info(f"{args.path}: {removed} row{'s' if removed != 1 else ''} removed")
    return 0
