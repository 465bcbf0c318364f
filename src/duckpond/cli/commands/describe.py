"""``pond describe PATH...``: type, versions, schema, time column and bounds, row counts.

``--format json``: one object per entry (JSON Lines): ``path``; ``symlink`` (``{"target",
"resolves_to"}`` for a symlink, described as what it points to, else ``null``); ``type``;
``dynamic``; ``factory``; ``versions`` (stored versions); ``txns`` (``[first, last]``
transaction that wrote them); ``created``/``modified`` (ISO-8601 UTC, µs); ``entries`` (a
directory's); ``size`` (bytes); ``sha256`` (a data file's latest version); ``time_column``;
``min_event_time``/``max_event_time``; ``rows``; ``rows_by_version`` (``[{"version", "rows"}]``
of a series' stored versions); ``schema`` (``[{"name", "type", "nullable"}]``). Fields that do
not apply are ``null``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import WD, NodePath


JSON_FIELDS = (
    "path, symlink, type, dynamic, factory, versions, txns, created, modified, entries, size, "
    "sha256, time_column, min_event_time, max_event_time, rows, rows_by_version, schema"
)


def add_parser(
    subparsers: Any, *, common: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    p = subparsers.add_parser(
        "describe",
        parents=[common, reading],
        help="show a file's type, versions, schema, time bounds and rows",
        description="Describe pond entries: type, versions (and the transactions that wrote "
        "them), size, schema, time column and bounds, and row counts (per version for a "
        "series). A PATH with wildcards is a glob. Times are UTC.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="pond path or glob")
    from duckpond.cli.common import add_format

    add_format(p, f"one object per entry (JSON Lines): {JSON_FIELDS}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from duckpond.cli.common import open_pond
    from duckpond.errors import NotFound
    from duckpond.tinyfs.glob import has_magic

    pond = open_pond(args)
    wd = pond.root()
    found: list[NodePath] = []
    for pattern in args.paths:
        if has_magic(pattern):
            matches = list(wd.glob(pattern))
            if not matches:
                raise NotFound("no match", pattern)
        else:
            matches = [wd.resolve(pattern, follow=False)]
        found.extend(matches)
    if args.format == "json":
        from duckpond.cli.common import emit_json

        emit_json(describe_json(wd, nodepath) for nodepath in found)
        return 0
    sys.stdout.write("\n".join(describe(wd, nodepath) for nodepath in found))
    return 0


def describe_json(wd: WD, nodepath: NodePath) -> dict[str, Any]:
    """One entry of ``pond describe --format json`` (fields: the module docstring)."""
    from duckpond.cli.common import json_time
    from duckpond.tinyfs.model import FileType

    out: dict[str, Any] = {"path": nodepath.path, "symlink": None}
    if nodepath.is_symlink:
        target = nodepath.readlink()
        nodepath = wd.resolve(nodepath.path)
        out["symlink"] = {"target": target, "resolves_to": nodepath.path}
    st = nodepath.stat()
    history = nodepath.versions()
    txns = sorted({v.txn_seq for v in history})
    out.update(
        type=str(st.file_type),
        dynamic=st.dynamic,
        factory=st.factory,
        versions=len(history),
        txns=[txns[0], txns[-1]] if txns else None,
        created=json_time(st.created),
        modified=json_time(st.modified),
        entries=None,
        size=None,
        sha256=None,
        time_column=None,
        min_event_time=None,
        max_event_time=None,
        rows=None,
        rows_by_version=None,
        schema=None,
    )
    if nodepath.is_dir:
        out["entries"] = len(wd.list(nodepath.path))
        return out
    out["size"] = st.size
    if st.file_type == FileType.DATA:
        out["sha256"] = history[-1].sha256 if history else None
        return out
    out["time_column"] = st.time_column
    out["min_event_time"] = json_time(st.min_event_time)
    out["max_event_time"] = json_time(st.max_event_time)
    counts = _row_counts(nodepath) or []
    if st.file_type == FileType.SERIES and not nodepath.is_dynamic:
        out["rows"] = sum(n for _, n in counts)
        out["rows_by_version"] = [{"version": v, "rows": n} for v, n in counts]
    else:
        out["rows"] = counts[-1][1] if counts else 0
    out["schema"] = [
        {"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in nodepath.schema()
    ]
    return out


def describe(wd: WD, nodepath: NodePath) -> str:
    """The description of one entry as text lines ending with a newline."""
    from duckpond.times import format_time
    from duckpond.tinyfs.model import FileType
    from duckpond.units import format_bytes

    lines = [nodepath.path]

    def field(name: str, value: object) -> None:
        lines.append(f"  {name:<12}{value}")

    if nodepath.is_symlink:
        field("type", "symlink")
        field("target", nodepath.readlink())
        nodepath = wd.resolve(nodepath.path)  # describe what it points to
        field("resolves to", nodepath.path)
    st = nodepath.stat()
    history = nodepath.versions()
    field("type", st.file_type + (" (dynamic)" if st.dynamic else ""))
    if st.factory:
        field("factory", st.factory)
    if history:
        field("versions", _versions(nodepath, history))
    field("created", format_time(st.created, precise=True))
    field("modified", format_time(st.modified, precise=True))
    if nodepath.is_dir:
        field("entries", len(wd.list(nodepath.path)))
        return _text(lines)
    field("size", f"{st.size} bytes ({format_bytes(st.size)})")
    latest = history[-1] if history else None
    if st.file_type == FileType.DATA:
        if latest is not None and latest.sha256:
            field("sha256", latest.sha256)
        return _text(lines)
    if st.time_column:
        field("time column", st.time_column)
    if st.min_event_time is not None:
        field(
            "time range",
            f"{format_time(st.min_event_time, precise=True)} .. "
            f"{format_time(st.max_event_time, precise=True)}",
        )
    field("rows", _rows(nodepath))
    schema = nodepath.schema()
    lines.append("  schema")
    width = max((len(f.name) for f in schema), default=0)
    for f in schema:
        note = "" if f.nullable else "  not null"
        lines.append(f"    {f.name:<{width}}  {f.type}{note}")
    return _text(lines)


def _text(lines: list[str]) -> str:
    """The lines of a description, each on one line (control characters escaped)."""
    from duckpond.errors import printable

    return "".join(printable(line) + "\n" for line in lines)


def _versions(nodepath: NodePath, history: list[Any]) -> str:
    """How many versions, over which transactions, and the collapses (compact however many)."""
    txns = sorted({v.txn_seq for v in history})
    text = f"txn {txns[0]}" if len(txns) == 1 else f"txns {txns[0]}..{txns[-1]}"
    collapses = [v for v in history if v.extended_attributes.get("collapses")]
    if collapses:
        live = len(nodepath.live_versions())
        last = collapses[-1]
        held = len(last.extended_attributes["collapses"])
        text += (
            f"; {len(collapses)} collapse(s), {live} live chunk(s); last: v{last.version} in "
            f"txn {last.txn_seq} holds {held} version(s)"
        )
    fixes = [v for v in history if "replaces" in v.extended_attributes]
    if fixes:
        last = fixes[-1]
        reason = last.extended_attributes.get("correction", "correction")
        text += (
            f"; {len(fixes)} correction(s), last: v{last.version} ({reason}) in txn {last.txn_seq}"
        )
    return f"{len(history)} ({text})"


def _rows(nodepath: NodePath) -> str:
    """The row count, per live version when there are a few."""
    from duckpond.tinyfs.model import FileType

    counts = _row_counts(nodepath)
    total = sum(n for _, n in counts)
    series = nodepath.file_type == FileType.SERIES
    if series and 1 < len(counts) <= 8:
        return f"{total} ({', '.join(f'v{v}: {n}' for v, n in counts)})"
    if series and len(counts) > 8:
        return f"{total} (in {len(counts)} live chunks)"
    return str(total)


def _row_counts(nodepath: NodePath) -> list[tuple[int, int]]:
    """(version, rows) of each live Parquet version (the latest only for a table)."""
    import pyarrow.parquet as pq

    if nodepath.is_dynamic:
        return [(0, nodepath.read_table().num_rows)]
    from duckpond.tinyfs.collapse import rows as recorded_rows

    versions = nodepath.live_versions()
    out = []
    for v in versions:
        n = recorded_rows(v)
        if n is not None:
            out.append((v.version, n))
            continue
        chunk = nodepath.fs.version_chunk(v)
        rows = chunk.table.num_rows if chunk.table is not None else pq.read_metadata(chunk.path)
        out.append((v.version, rows if isinstance(rows, int) else rows.num_rows))
    return out
