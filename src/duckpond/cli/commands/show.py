"""``pond show``: the oplog, grouped by transaction.

``--format json``: one object per node version, by transaction (JSON Lines): ``txn_seq``,
``outcome`` and ``args`` of its transaction (``null`` if not recorded), ``path`` (where the node
is now, ``null`` if it is no longer reachable), ``node_id``, ``type``, ``version``, ``size``
(bytes, ``null`` for a directory), ``sha256`` (a large file's; only its first 16 hex digits
for a version a collapse holds whose chunk was deleted: the history is summarized),
``timestamp`` (when written, ISO-8601 UTC, µs), ``min_event_time``/``max_event_time`` (a table
or series chunk's time span), ``collapses`` (the versions a collapse version holds, else
``null``).
"""

from __future__ import annotations

import argparse
from typing import Any

JSON_FIELDS = (
    "txn_seq, outcome, args, path (null: unreachable), node_id, type, version, size (bytes), "
    "sha256, timestamp, min_event_time, max_event_time (UTC), collapses"
)


def add_parser(
    subparsers: Any, *, common: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    p = subparsers.add_parser(
        "show",
        parents=[common, reading],
        help="show the oplog, grouped by transaction",
        description="Every node version the pond stores, grouped by the transaction that wrote "
        "it: type, version, size (bytes), time bounds of table/series chunks, and the path where "
        "the node is now (or its id if it is no longer reachable). Times are UTC.",
    )
    p.add_argument(
        "--txn", metavar="N", type=int, action="append", help="only transaction N (repeatable)"
    )
    from duckpond.cli.common import add_format

    add_format(p, f"one object per node version (JSON Lines): {JSON_FIELDS}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shlex
    import sys
    from collections import defaultdict

    from duckpond.cli.common import open_pond
    from duckpond.errors import printable
    from duckpond.times import format_time

    pond = open_pond(args)
    oplog = pond.oplog().drop_columns(["content"]).to_pylist()
    records = {r.txn_seq: r for r in pond.log() if r.outcome in {"committed", "recovered"}}
    wd = pond.root()
    paths = {wd.here.node.node_id: "/"}
    for nodepath in wd.walk():
        paths.setdefault(nodepath.node.node_id, nodepath.path)
    by_txn: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in oplog:
        if args.at_txn is not None and row["txn_seq"] > args.at_txn:
            continue
        by_txn[row["txn_seq"]].append(row)
    wanted = set(args.txn) if args.txn else None
    if args.format == "json":
        from duckpond.cli.common import emit_json

        emit_json(
            _row_json(r, records.get(seq), paths)
            for seq in sorted(by_txn)
            if wanted is None or seq in wanted
            for r in sorted(by_txn[seq], key=lambda r: (paths.get(r["node_id"], "~"), r["version"]))
        )
        return 0
    out = []
    for seq in sorted(by_txn):
        if wanted is not None and seq not in wanted:
            continue
        rec = records.get(seq)
        rows = sorted(by_txn[seq], key=lambda r: (paths.get(r["node_id"], "~"), r["version"]))
        when = format_time(_us(rows[0]["timestamp"]))
        head = f"txn {seq}  {when}"
        if rec is not None:
            head += f"  {rec.outcome}  {shlex.join(rec.args)}"
        out.append(head)
        for r in rows:
            where = paths.get(r["node_id"], f"(not reachable) node {r['node_id']}")
            size = "-" if r["size"] is None else f"{r['size']} B"
            line = f"  {r['file_type']:<13} v{r['version']:<4} {size:>12}  {where}"
            if r["min_event_time"] is not None:
                line += (
                    f"  [{format_time(r['min_event_time'])} .. {format_time(r['max_event_time'])}]"
                )
            line += _collapse_note(r.get("extended_attributes"))
            out.append(line)
    if out:  # control characters in paths and arguments are escaped
        sys.stdout.write("\n".join(map(printable, out)) + "\n")
    return 0


def _row_json(row: dict[str, Any], rec: Any, paths: dict[str, str]) -> dict[str, Any]:
    from duckpond.cli.common import json_time

    return {
        "txn_seq": row["txn_seq"],
        "outcome": rec.outcome if rec is not None else None,
        "args": list(rec.args) if rec is not None else None,
        "path": paths.get(row["node_id"]),
        "node_id": row["node_id"],
        "type": row["file_type"],
        "version": row["version"],
        "size": row["size"],
        "sha256": row["sha256"],
        "timestamp": json_time(_us(row["timestamp"])),
        "min_event_time": json_time(row["min_event_time"]),
        "max_event_time": json_time(row["max_event_time"]),
        "collapses": _collapsed(row.get("extended_attributes")),
        "replaces": _replaced(row.get("extended_attributes")),
    }


def _replaced(attributes: str | None) -> list[int] | None:
    """The versions a correction (revert, replace, rm-rows) supersedes, else ``None``."""
    if not attributes or "replaces" not in attributes:
        return None
    import json

    return [int(n) for n in json.loads(attributes).get("replaces") or ()]


def _collapsed(attributes: str | None) -> list[int] | None:
    """The versions a collapse version holds, else ``None``."""
    if not attributes or "collapses" not in attributes:
        return None
    import json

    return [int(item[0]) for item in json.loads(attributes).get("collapses") or ()] or None


def _collapse_note(attributes: str | None) -> str:
    """``  collapses v1..v16 (16 versions)`` for a collapse version, ``  rm-rows: replaces v3,
    v5`` for a correction, else nothing."""
    replaced = _replaced(attributes)
    if replaced is not None:
        import json

        reason = json.loads(attributes or "{}").get("correction", "correction")
        shown = ", ".join(f"v{n}" for n in replaced[:8]) + (", ..." if len(replaced) > 8 else "")
        return f"  {reason}: replaces {shown or 'nothing'} ({len(replaced)} versions)"
    if not attributes or "collapses" not in attributes:
        return ""
    import json

    held = [int(item[0]) for item in json.loads(attributes).get("collapses") or ()]
    if not held:
        return ""
    return f"  collapses v{min(held)}..v{max(held)} ({len(held)} versions)"


def _us(value: Any) -> int:
    import datetime as dt

    if isinstance(value, dt.datetime):
        return int(value.timestamp()) * 1_000_000 + value.microsecond
    return int(value)
