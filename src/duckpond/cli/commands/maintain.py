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
        default=None,
        metavar="H",
        help="delete only files unused for longer than H hours (default: the pond's retention, "
        "1 hour unless --set-retention changed it; 0 deletes them at once, and a reader running "
        "meanwhile may then fail)",
    )
    p.add_argument(
        "--set-retention",
        metavar="DURATION",
        help="record the pond's retention (<n>s, <n>m, <n>h or <n>d; default 1h) and do nothing "
        "else: how long files, tombstones and log entries a reader that opened the pond earlier "
        "may still need are kept, by automatic maintenance after every commit and by this "
        "command. Shorter keeps a busy pond smaller and its commits cheaper; a reader running "
        "longer than it may fail",
    )
    from duckpond.cli.common import add_dry_run

    add_dry_run(
        p,
        "print what maintenance would do (series runs to collapse, data files, files vacuum "
        "and the large-file sweep would delete) and change nothing; takes no lock",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duckpond.cli.common import info, open_pond, progress
    from duckpond.errors import IntegrityError, UsageError
    from duckpond.units import format_bytes

    if args.retention_hours is not None and args.retention_hours < 0:
        raise UsageError("--retention-hours must be 0 or more")
    pond = open_pond(args)
    if args.set_retention is not None:
        return _set_retention(pond, args)
    if args.dry_run:
        return _dry_run(pond, args)
    with progress("maintaining the pond", None):
        report = pond.maintain(
            collapse=not args.no_collapse,
            compact=not args.no_compact,
            vacuum=not args.no_vacuum,
            retention_hours=args.retention_hours,
        )
    info(f"collapsed:     {report.collapses} run(s) of series versions")
    info(f"data files:    {report.files_before} -> {report.files_after}")
    info(f"vacuumed:      {report.files_vacuumed} file(s)")
    info(f"superseded:    {report.superseded_removed} chunk file(s) removed")
    info(f"orphans:       {report.orphans_removed} large file(s) removed")
    info(f"freed:         {format_bytes(report.bytes_freed)} ({report.bytes_freed} bytes)")
    info(f"checkpoint:    data table version {report.checkpoint_version}")
    if args.verify:
        with progress("verifying every file version", None):
            problems = pond.verify()
        for problem in problems:
            print(f"problem:       {problem}")
        if problems:
            raise IntegrityError(f"{len(problems)} stored file version(s) fail their sha256")
        info("verified:      every file version matches its sha256")
    return 0


def _set_retention(pond: Any, args: argparse.Namespace) -> int:
    from duckpond.cli.common import info
    from duckpond.errors import UsageError
    from duckpond.times import format_resolution, parse_resolution

    if args.dry_run or args.verify or args.retention_hours is not None:
        raise UsageError("--set-retention only records the setting: give it alone")
    try:
        seconds = parse_resolution(args.set_retention)
    except ValueError:
        raise UsageError(
            f"--set-retention: {args.set_retention!r} is not a duration <n>s, <n>m, <n>h or <n>d"
        ) from None
    before = pond.retention_seconds
    pond.set_retention(seconds)
    info(f"retention:     {format_resolution(seconds)} (was {format_resolution(before)})")
    return 0


def _dry_run(pond: Any, args: argparse.Namespace) -> int:
    """What ``pond maintain`` would do, read from the pond without changing it."""
    from deltalake import DeltaTable

    from duckpond.errors import translate_errors
    from duckpond.layout import TMP_PREFIX, PondLayout
    from duckpond.times import format_resolution
    from duckpond.tinyfs import collapse
    from duckpond.tinyfs.model import FileType
    from duckpond.tlogfs.delta import arrow_to_versions
    from duckpond.units import format_bytes

    layout = pond.layout
    given = args.retention_hours
    seconds = pond.retention_seconds if given is None else given * 3600
    hours = seconds / 3600
    runs = merged = 0
    if not args.no_collapse:
        for node in pond.root().walk():
            if node.is_dynamic or node.is_symlink or node.file_type != FileType.SERIES:
                continue
            for run in collapse.plan_all(node.versions()):
                runs += 1
                merged += len(run)
    with translate_errors(str(layout.root), what="maintain --dry-run"):
        data = DeltaTable(str(layout.data))
        files = len(data.file_uris())
        doomed: list[str] = []
        if not args.no_vacuum:
            for table in (data, DeltaTable(str(layout.control))):
                doomed += table.vacuum(
                    retention_hours=args.retention_hours,  # None: the table's retention
                    dry_run=True,
                    enforce_retention_duration=False,
                    full=True,
                )
    versions = list(arrow_to_versions(pond.oplog()))
    referenced = {v.sha256 for v in versions if v.content is None and v.sha256}
    superseded = _superseded(layout, versions, hours)
    orphans = orphan_bytes = 0
    if layout.large_files.is_dir():
        for entry in layout.large_files.iterdir():
            sha = PondLayout.large_sha256(entry.name)
            if entry.name.startswith(TMP_PREFIX) or (sha is not None and sha not in referenced):
                orphans += 1
                orphan_bytes += entry.stat().st_size
    print(f"would collapse: {runs} run(s) of series versions ({merged} versions)")
    print(f"data files:     {files}" + ("" if args.no_compact else " (small ones compacted)"))
    print(
        f"would vacuum:   {len(doomed)} file(s) unused for more than {format_resolution(seconds)}"
        if seconds
        else f"would vacuum:   {len(doomed)} file(s) no longer used"
    )
    print(f"superseded:     {superseded} chunk file(s) would be removed")
    print(
        f"orphans:        {orphans} large file(s) would be removed ({format_bytes(orphan_bytes)})"
    )
    return 0


def _superseded(layout: Any, versions: list[Any], retention_hours: float) -> int:
    """Large files of series chunks a collapse superseded longer ago than the retention."""
    from duckpond.times import now_us
    from duckpond.tinyfs import collapse
    from duckpond.tinyfs.model import FileType

    cutoff = now_us() - int(retention_hours * 3_600_000_000)
    by_node: dict[str, list[Any]] = {}
    for v in versions:
        if v.file_type == FileType.SERIES:
            by_node.setdefault(v.node_id, []).append(v)
    count = 0
    for history in by_node.values():
        holders = collapse.superseded_by(history)
        for v in history:
            holder = holders.get(v.version)
            if holder is None or holder.timestamp > cutoff or v.content is not None:
                continue
            if v.sha256 and layout.large_file(v.sha256).exists():
                count += 1
    return count
