"""``pond describe PATH...``: type, versions, schema, time column and bounds, row counts."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import WD, NodePath


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from duckpond.cli.common import open_pond
    from duckpond.errors import NotFound
    from duckpond.tinyfs.glob import has_magic

    pond = open_pond(args)
    wd = pond.root()
    blocks: list[str] = []
    for pattern in args.paths:
        if has_magic(pattern):
            matches = list(wd.glob(pattern))
            if not matches:
                raise NotFound("no match", pattern)
        else:
            matches = [wd.resolve(pattern, follow=False)]
        blocks.extend(describe(wd, nodepath) for nodepath in matches)
    sys.stdout.write("\n".join(blocks))
    return 0


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
        return "\n".join(lines) + "\n"
    field("size", f"{st.size} bytes ({format_bytes(st.size)})")
    latest = history[-1] if history else None
    if st.file_type == FileType.DATA:
        if latest is not None and latest.sha256:
            field("sha256", latest.sha256)
        return "\n".join(lines) + "\n"
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
    return "\n".join(lines) + "\n"


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
