"""``pond log``: one line per transaction (seq, start time, outcome, duration, command line).

``--format json``: one object per transaction, oldest first (JSON Lines): ``txn_seq`` (``null``
when it committed no data and so used no number), ``txn_id``, ``started`` (ISO-8601 UTC, µs),
``outcome`` (committed, completed, failed, pending, recovered, rolled-back), ``duration_ms``,
``args`` (the command line, a list), ``error`` (or ``null``), ``data_version`` (the Delta
version of its data commit, or ``null``).
"""

from __future__ import annotations

import argparse
from typing import Any

JSON_FIELDS = (
    "txn_seq (null if none used), txn_id, started (UTC), outcome, duration_ms, args (list), "
    "error, data_version"
)


def add_parser(
    subparsers: Any, *, common: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    p = subparsers.add_parser(
        "log",
        parents=[common, reading],
        help="list transactions",
        description="One line per transaction, oldest first: sequence number, start time (UTC), "
        "outcome (committed, completed = nothing to write, failed, pending = begun and never "
        "ended: run 'pond recover', recovered, rolled-back), duration and the command line. "
        "A failed transaction also shows its error. A transaction that committed no data "
        "(completed, failed, rolled-back) used no sequence number and shows '-' instead. "
        "With --at-txn N, transactions up to N.",
    )
    from duckpond.cli.common import add_format

    add_format(p, f"one object per transaction (JSON Lines): {JSON_FIELDS}")
    p.set_defaults(func=run)


#: Outcomes of transactions that committed no data: their tentative txn_seq was not used.
NO_SEQUENCE = frozenset({"completed", "failed", "rolled-back"})


def run(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from duckpond.cli.common import open_pond
    from duckpond.errors import printable
    from duckpond.times import format_time

    pond = open_pond(args)
    records = pond.log()
    if args.at_txn is not None:
        records = [r for r in records if r.txn_seq <= args.at_txn]
    if args.format == "json":
        from duckpond.cli.common import emit_json, json_time

        emit_json(
            {
                "txn_seq": None if r.outcome in NO_SEQUENCE else r.txn_seq,
                "txn_id": r.txn_id,
                "started": json_time(r.started),
                "outcome": r.outcome,
                "duration_ms": r.duration_ms,
                "args": list(r.args),
                "error": r.error,
                "data_version": r.data_version,
            }
            for r in records
        )
        return 0
    width = max((len(str(r.txn_seq)) for r in records), default=1)
    lines = []
    for r in records:
        took = f"{r.duration_ms:8.1f} ms" if r.duration_ms is not None else f"{'-':>8}   "
        seq = "-" if r.outcome in NO_SEQUENCE else str(r.txn_seq)
        line = (
            f"{seq:>{width}}  {format_time(r.started)}  {r.outcome:<11}  {took}  "
            f"{shlex.join(r.args)}"
        )
        if r.error and r.outcome in {"failed", "recovered", "rolled-back"}:
            line += f"  ({r.error})"
        lines.append(line)
    if lines:  # one line per transaction: control characters in arguments are escaped
        sys.stdout.write("\n".join(map(printable, lines)) + "\n")
    return 0
