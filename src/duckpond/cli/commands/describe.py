"""``pond describe PATH...``: type, versions, schema, time column and bounds, row counts.

``--format json``: one object per entry (JSON Lines): ``path``; ``symlink`` (``{"target",
"resolves_to"}`` for a symlink, described as what it points to, else ``null``); ``type``;
``dynamic``; ``factory``; ``versions`` (stored versions); ``txns`` (``[first, last]``
transaction that wrote them); ``created``/``modified`` (ISO-8601 UTC, µs); ``entries`` (a
directory's); ``size`` (bytes); ``sha256`` (a data file's latest version); ``time_column``;
``min_event_time``/``max_event_time``; ``rows``; ``rows_by_version`` (``[{"version", "rows"}]``
of a series' stored versions); ``schema`` (``[{"name", "type", "nullable"}]``). Fields that do
not apply are ``null``. With ``--versions``, also ``version_list``: one object per stored version
(:func:`version_rows`).

The text form lists the last few versions, one line each (version, transaction, when written,
rows or bytes, time bounds, what it is and whether it is live); ``--versions`` lists all of
them, still one line each, for a series of thousands of versions.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import WD, NodePath


JSON_FIELDS = (
    "path, symlink, type, dynamic, factory, versions, txns, created, modified, entries, size, "
    "sha256, time_column, min_event_time, max_event_time, rows, rows_by_version, schema "
    "(version_list with --versions)"
)
SHOWN_VERSIONS = 5  # versions listed in the text form without --versions (the latest)


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
    p.add_argument(
        "--versions",
        action="store_true",
        help=f"list every stored version, one line each (default: the last {SHOWN_VERSIONS})",
    )
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

        emit_json(describe_json(wd, nodepath, args.versions) for nodepath in found)
        return 0
    sys.stdout.write("\n".join(describe(wd, nodepath, args.versions) for nodepath in found))
    return 0


def describe_json(wd: WD, nodepath: NodePath, all_versions: bool = False) -> dict[str, Any]:
    """One entry of ``pond describe --format json`` (fields: the module docstring);
    ``all_versions`` adds ``version_list``."""
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
    if all_versions:
        out["version_list"] = [
            {
                **row,
                "written": json_time(row["written"]),
                "min_event_time": json_time(row["min_event_time"]),
                "max_event_time": json_time(row["max_event_time"]),
            }
            for row in version_rows(history)
        ]
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


def describe(wd: WD, nodepath: NodePath, all_versions: bool = False) -> str:
    """The description of one entry as text lines ending with a newline: every stored version
    listed when ``all_versions``, else the last :data:`SHOWN_VERSIONS`."""
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
        lines.extend(_version_lines(history, all_versions))
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


def version_rows(history: list[Any]) -> list[dict[str, Any]]:
    """One dict per stored version, oldest first: ``version``; ``txn`` (the transaction that
    wrote it); ``written`` (µs, UTC); ``rows`` (a table/series version's rows when recorded, else
    ``None``); ``size`` (bytes); ``min_event_time``/``max_event_time`` (µs, UTC, or ``None``);
    ``kind`` (``write``, ``append``, ``collapse``, ``correction``); ``holds`` (the versions a
    collapse holds or a correction replaces); ``reason`` (a correction's: ``rm-rows``,
    ``replace``, ``revert``); ``superseded_by`` (the version holding or replacing it, ``None``
    while it is live)."""
    from duckpond.tinyfs import collapse
    from duckpond.tinyfs.model import FileType

    by: dict[int, int] = {n: v.version for n, v in collapse.superseded_by(history).items()}
    for v in history:
        for n in collapse.replaced(v):
            by[n] = v.version
    out = []
    for v in history:
        held = [c.version for c in collapse.children(v)]
        if collapse.is_correction(v):
            kind, held = "correction", collapse.replaced(v)
        elif held:
            kind = "collapse"
        elif v.file_type == FileType.SERIES:
            kind = "append"
        else:
            kind = "write"
        out.append(
            {
                "version": v.version,
                "txn": v.txn_seq,
                "written": v.timestamp,
                "rows": collapse.rows(v),
                "size": v.size,
                "min_event_time": v.min_event_time,
                "max_event_time": v.max_event_time,
                "kind": kind,
                "holds": held,
                "reason": v.extended_attributes.get("correction") if kind == "correction" else None,
                "superseded_by": by.get(v.version),
            }
        )
    return out


def _version_lines(history: list[Any], all_versions: bool) -> list[str]:
    """One text line per version (the last :data:`SHOWN_VERSIONS` unless ``all_versions``)."""
    from duckpond.times import format_time

    rows = version_rows(history)
    kinds = {r["version"]: r["kind"] for r in rows}
    shown = rows if all_versions else rows[-SHOWN_VERSIONS:]
    out = []
    if len(shown) < len(rows):
        out.append(f"    ... {len(rows) - len(shown)} earlier (describe --versions lists all)")
    for r in shown:
        amount = f"{r['rows']} rows" if r["rows"] is not None else f"{r['size'] or 0} bytes"
        span = ""
        if r["min_event_time"] is not None:
            span = f"  {format_time(r['min_event_time'])}..{format_time(r['max_event_time'])}"
        what = r["kind"]
        if r["holds"]:
            what += f" of {_numbers(r['holds'])}"
        if r["reason"]:
            what += f" ({r['reason']})"
        state = "live"
        if r["superseded_by"]:
            verb = "replaced" if kinds[r["superseded_by"]] == "correction" else "held"
            state = f"{verb} by v{r['superseded_by']}"
        out.append(
            f"    v{r['version']}  txn {r['txn']}  {format_time(r['written'])}  {amount}{span}"
            f"  {what}, {state}"
        )
    return out


def _numbers(versions: list[int]) -> str:
    """``v3`` / ``v1..v16`` for a consecutive run / ``v2, v5`` otherwise (compact)."""
    ns = sorted(versions)
    if len(ns) == 1:
        return f"v{ns[0]}"
    if ns == list(range(ns[0], ns[-1] + 1)):
        return f"v{ns[0]}..v{ns[-1]} ({len(ns)})"
    if len(ns) <= 4:
        return ", ".join(f"v{n}" for n in ns)
    return f"{len(ns)} versions v{ns[0]}..v{ns[-1]}"


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
