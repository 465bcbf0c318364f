"""``pond status``: the pond's identity, last transaction, pending recovery, size on disk.

``--format json``: one object: ``pond`` (its path), ``id``, ``format``, ``created`` (ISO-8601
UTC), ``as_of_txn`` (``--at-txn``, else ``null``), ``last_txn`` (``txn_seq``, ``started``,
``args``; the last committed transaction), ``data_version``, ``pending`` (txn_seqs begun and
never ended), ``size`` (bytes on disk), ``retention_s`` (seconds: ``pond maintain
--set-retention``).
"""

from __future__ import annotations

import argparse
from typing import Any

JSON_FIELDS = (
    "pond, id, format, created, as_of_txn, last_txn {txn_seq, started, args}, data_version, "
    "pending (list), size (bytes), retention_s (seconds)"
)


def add_parser(
    subparsers: Any, *, common: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    p = subparsers.add_parser(
        "status",
        parents=[common, reading],
        help="show the pond's id, last transaction, pending recovery, size and backups",
        description="The pond's path and id, its format version and creation time, the last "
        "committed transaction, transactions pending recovery (begun and never ended: run "
        "'pond recover'), the bytes it occupies on disk, and each backup remote with its last "
        "push from this pond and how many committed transactions it lacks (as this pond "
        "recorded its pushes; no remote is contacted).",
    )
    from duckpond.cli.common import add_format

    add_format(p, f"one object: {JSON_FIELDS}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from duckpond.cli.common import open_pond
    from duckpond.errors import printable
    from duckpond.times import format_resolution, format_time
    from duckpond.units import format_bytes

    pond = open_pond(args)
    settings = pond.settings
    seq = pond.txn_seq
    records = pond.log()
    last = next(
        (r for r in reversed(records) if r.txn_seq == seq and r.data_version is not None), None
    )
    pending = [r.txn_seq for r in records if r.outcome == "pending"]
    size = pond.disk_usage()
    created = settings.get("created_us")
    if args.format == "json":
        from duckpond.cli.common import emit_json, json_time

        emit_json(
            [
                {
                    "pond": str(pond.path),
                    "id": pond.pond_id,
                    "format": settings.get("format_version"),
                    "created": json_time(int(created)) if created else None,
                    "as_of_txn": args.at_txn,
                    "last_txn": {
                        "txn_seq": seq,
                        "started": json_time(last.started) if last else None,
                        "args": list(last.args) if last else None,
                    },
                    "data_version": pond.data_version,
                    "pending": pending,
                    "size": size,
                    "retention_s": pond.retention_seconds,
                }
            ]
        )
        return 0
    rows = [
        ("pond", str(pond.path)),
        ("id", pond.pond_id),
        ("format", settings.get("format_version", "?")),
        ("created", format_time(int(created)) if created else "-"),
        (
            "last txn",
            f"{seq}" + (f"  {format_time(last.started)}  {shlex.join(last.args)}" if last else ""),
        ),
        ("data version", str(pond.data_version)),
        (
            "pending",
            f"{len(pending)}"
            + (f" (txns {', '.join(map(str, pending))}; run 'pond recover')" if pending else ""),
        ),
        ("size", f"{format_bytes(size)} ({size} bytes)"),
        ("retention", format_resolution(pond.retention_seconds)),
    ]
    if any(k.startswith("backup.remote.") and v for k, v in settings.items()):
        from duckpond.remote.backup import remote_status

        for r in remote_status(pond, records):
            pushed = (
                f"last push {format_time(r.last.time_us)} (txn {r.last.txn_seq})"
                if r.last is not None
                else "no push recorded"
            )
            rows.append((f"backup {r.name}", f"{r.url}  {pushed}, {r.behind} txns behind"))
    if args.at_txn is not None:
        rows.insert(1, ("as of txn", str(args.at_txn)))
    sys.stdout.write("".join(f"{k + ':':<14}{printable(v)}\n" for k, v in rows))
    return 0
