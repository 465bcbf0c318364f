"""``pond list [PATTERN] [-l] [-a] [--format json]``: paths matching a glob, sorted.

``--format json`` prints one JSON object per entry (JSON Lines): ``path``, ``type`` (the
FileType: ``dir:physical``, ``file:series``, ...), ``dynamic`` (bool), ``size`` (bytes; ``null``
for a directory or a dynamic node), ``version`` (latest stored version, 0 if none), ``modified``
(ISO-8601 UTC, µs, of the latest version, or ``null``), ``target`` (a symlink's target, else
``null``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import WD, NodePath


JSON_FIELDS = "path, type, dynamic, size (bytes), version, modified (UTC), target (symlinks)"


def add_parser(
    subparsers: Any, *, common: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    p = subparsers.add_parser(
        "list",
        parents=[common, reading],
        help="list entries matching a glob",
        description="List pond paths matching PATTERN, sorted. '*', '?' and '[...]' match within "
        "one name, '**' any number of directories. '/' lists the root's entries, '/d/' the "
        "contents of d, '/d' the entry itself. Names starting with '.' are hidden unless -a.",
    )
    p.add_argument("pattern", nargs="?", default="**/*", help="glob (default: '**/*', everything)")
    p.add_argument(
        "-l",
        "--long",
        action="store_true",
        help="also type, size (bytes), version and modification time (UTC)",
    )
    p.add_argument("-a", "--all", action="store_true", help="include names starting with '.'")
    from duckpond.cli.common import add_format

    add_format(p, f"one object per entry (JSON Lines): {JSON_FIELDS}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from duckpond.cli.common import open_pond
    from duckpond.errors import NotADirectory, printable
    from duckpond.tinyfs.glob import has_magic

    pond = open_pond(args)
    wd = pond.root()
    matches = list(wd.glob(args.pattern, include_hidden=args.all))
    if not matches and not has_magic(args.pattern):
        # a literal path: say why it matched nothing (missing, or '/file/' on a file)
        nodepath = wd.resolve(args.pattern)
        if args.pattern.endswith("/") and not nodepath.is_dir:
            raise NotADirectory("not a directory", nodepath.path)
    if args.format == "json":
        from duckpond.cli.common import emit_json

        emit_json(entry_json(nodepath) for nodepath in matches)
        return 0
    lines = _long_lines(wd, matches) if args.long else [nodepath.path for nodepath in matches]
    if lines:  # one path per line: control characters in names stored before they were refused
        sys.stdout.write("\n".join(map(printable, lines)) + "\n")
    return 0


def entry_json(nodepath: NodePath) -> dict[str, Any]:
    """One entry of ``pond list --format json`` (fields: the module docstring)."""
    from duckpond.cli.common import json_time

    kind, size, version, modified = _long_fields(nodepath)
    return {
        "path": nodepath.path,
        "type": str(kind),
        "dynamic": nodepath.is_dynamic,
        "size": None if size == "-" or nodepath.is_dynamic else int(size),
        "version": version,
        "modified": json_time(modified),
        "target": nodepath.readlink() if nodepath.is_symlink else None,
    }


def _long_lines(wd: WD, matches: list[NodePath]) -> list[str]:
    from duckpond.times import format_time

    rows = []
    for nodepath in matches:
        kind, size, version, modified = _long_fields(nodepath)
        name = nodepath.path
        if nodepath.is_symlink:
            name += f" -> {nodepath.readlink()}"
        rows.append((kind, size, f"v{version}", format_time(modified), name))
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}  {r[4]}"
        for r in rows
    ]


def _long_fields(nodepath: NodePath) -> tuple[str, str, int, int | None]:
    from duckpond.errors import PondError

    try:
        st = nodepath.stat()
    except PondError:
        # a dynamic node whose factory is unavailable: show what the oplog says
        history = nodepath.versions()
        latest = history[-1] if history else None
        return (
            nodepath.node.file_type,
            "-",
            latest.version if latest else 0,
            latest.timestamp if latest else None,
        )
    size = "-" if st.file_type.startswith("dir:") else str(st.size)
    return st.file_type, size, st.version, st.modified
