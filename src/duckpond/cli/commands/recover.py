"""``pond recover``: settle transactions a crash left pending; remove orphan large files."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "recover",
        parents=[common],
        help="settle transactions left pending by a crash",
        description="A transaction that began and never recorded its end (the process died) is "
        "pending. If its data commit exists it is marked recovered, else rolled back; no "
        "committed data is ever removed. Large files no committed version refers to are "
        "deleted. Takes the write lock (exit 6 if a writer is active).",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import info, open_pond

    report = open_pond(args).recover()
    if not (report.committed or report.rolled_back):
        info("nothing to recover")
    for seq in report.committed:
        info(f"txn {seq}: committed before the crash; marked recovered")
    for seq in report.rolled_back:
        info(f"txn {seq}: not committed; marked rolled back")
    if report.orphan_files_removed:
        info(f"removed {report.orphan_files_removed} orphan large file(s)")
    return 0
