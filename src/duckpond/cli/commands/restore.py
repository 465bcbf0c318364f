"""``pond restore URL DEST``: rebuild a pond from a backup (and check it whole)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    from duckpond.cli.commands.backup import add_options

    p = subparsers.add_parser(
        "restore",
        parents=[common],
        help="rebuild a pond from a backup",
        description="Download the backup at URL (s3://bucket/prefix, file:///dir or a host path) "
        "into DEST, a new or empty folder, checking every object and every file version's "
        "sha256; if anything is wrong, nothing is left at DEST (exit 8). Needs no pond.",
    )
    p.add_argument("url", metavar="URL", help="the backup")
    p.add_argument("dest", metavar="DEST", help="host folder for the restored pond")
    add_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.commands.backup import transfer_progress
    from duckpond.cli.common import key_values
    from duckpond.remote import restore

    options = key_values(args.options, "-o")
    with transfer_progress("restoring") as callback:
        report = restore(args.url, args.dest, options, progress=callback)
    print(report.summary())
    return 0
