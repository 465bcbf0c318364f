"""``pond maintain``: collapse series, compact, vacuum, delete superseded and orphan files."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "maintain",
        parents=[common],
        help="collapse series, compact, vacuum and checkpoint the pond",
        description="Merge each series' small versions into larger chunks (one transaction), "
        "compact small Parquet files, delete files no longer used (older than the retention: "
        "what a reader that opened the pond earlier may still read), delete superseded and "
        "orphan large files and write checkpoints. Content and history are unchanged: "
        "--at-txn works for every committed transaction afterwards. Commits run this "
        "automatically in small steps; run it by hand to do everything at once. Takes the "
        "write lock (exit 6 if a writer is active).",
    )
    p.add_argument("--no-collapse", action="store_true", help="skip collapsing series")
    p.add_argument("--no-compact", action="store_true", help="skip compaction")
    p.add_argument("--no-vacuum", action="store_true", help="skip vacuum")
    p.add_argument(
        "--verify",
        action="store_true",
        help="also re-hash every stored file version against its sha256 (exit 8 on a mismatch)",
    )
    p.add_argument(
        "--retention-hours",
        type=int,
        default=1,
        metavar="H",
        help="delete only files unused for longer than H hours (default: 1; 0 deletes them at "
        "once, and a reader running meanwhile may then fail)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import open_pond, progress
    from duckpond.errors import IntegrityError, UsageError
    from duckpond.units import format_bytes

    if args.retention_hours < 0:
        raise UsageError("--retention-hours must be 0 or more")
    pond = open_pond(args)
    with progress("maintaining the pond", None):
        report = pond.maintain(
            collapse=not args.no_collapse,
            compact=not args.no_compact,
            vacuum=not args.no_vacuum,
            retention_hours=args.retention_hours,
        )
    print(f"collapsed:     {report.collapses} run(s) of series versions")
    print(f"data files:    {report.files_before} -> {report.files_after}")
    print(f"vacuumed:      {report.files_vacuumed} file(s)")
    print(f"superseded:    {report.superseded_removed} chunk file(s) removed")
    print(f"orphans:       {report.orphans_removed} large file(s) removed")
    print(f"freed:         {format_bytes(report.bytes_freed)} ({report.bytes_freed} bytes)")
    print(f"checkpoint:    data table version {report.checkpoint_version}")
    if args.verify:
        with progress("verifying every file version", None):
            problems = pond.verify()
        for problem in problems:
            print(f"problem:       {problem}")
        if problems:
            raise IntegrityError(f"{len(problems)} stored file version(s) fail their sha256")
        print("verified:      every file version matches its sha256")
    return 0
