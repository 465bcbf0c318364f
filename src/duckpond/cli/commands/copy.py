"""``pond copy``: host files into the pond, or pond files out to a host folder.

Copy in (one transaction)::

    pond copy SRC... DEST          SRC: host:///f, host+table:///f, host+series:///f,
                                   host+csv+series:///f, or a plain host path (= host://)

Copy out (reads only; ``--at-txn`` allowed)::

    pond copy GLOB... host:///dir [--strip-prefix P]
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from pathlib import Path

    from duckpond.cli.common import Progress
    from duckpond.tinyfs.fs import WD, NodePath

#: Host URL schemes of copy in -> the pond file type they create.
SCHEMES = {
    "host": "file:data",
    "host+table": "file:table",
    "host+series": "file:series",
    "host+csv+series": "file:series",
}

#: The host path of ``host+csv+series://-``: the series is read from standard input.
STDIN = "-"

#: Spellings of a tab accepted by --delimiter.
TABS = ("\\t", "tab", "TAB")

#: Show a progress bar (on a terminal) when a copy moves at least this much or this many files.
PROGRESS_BYTES = 8 << 20
PROGRESS_FILES = 20

DESCRIPTION = """\
Copy into the pond (one transaction; on any error nothing is copied):

  pond copy SRC... DEST

  SRC is a host file or folder, as a URL that says what it becomes:
    host:///abs/file            a data file (bytes, streamed); a plain path means the same
    host+table:///f.parquet     a table (a Parquet file)
    host+series:///f.parquet    a series chunk (a Parquet file with a time column)
    host+csv+series:///f.csv    a series parsed from CSV (plain, In-Situ, YSI EXO, loggers)
    host+csv+series://-         the same, from standard input (DEST names the series)
  A folder is copied recursively. If DEST is an existing directory, each SRC goes into it under
  its own name; otherwise DEST names the new file (or directory). Copying onto an existing file
  adds a new version; onto a series, appends the rows.

  CSV times: the time column is detected (Timestamp, timestamp, time, ts, datetime; In-Situ
  'Date Time'; EXO 'Date (...)' + 'Time (...)') unless --time-column names it; offsets (Z, +02:00)
  are honoured; times without one are in the zone the file states (In-Situ 'Time Zone:'), else
  UTC, unless --tz names one (IANA, or -06:00). A local time that does not exist (DST begins) or
  occurs twice (DST ends) is refused unless --nonexistent/--ambiguous say how to read it.
  In-Situ and EXO headers become <parameter>.<unit> names (Temperature (°C) (812345) ->
  Temperature.C), the headers as written kept in the version's attributes.

Copy out of the pond (reads only):

  pond copy GLOB... host:///dir [--strip-prefix P]

  Each match is written under dir at its pond path (less P): data files byte for byte, tables and
  series as Parquet (a series as the union of its versions). Matched directories are copied
  recursively; symlinks are followed.
"""


def add_parser(
    subparsers: Any, *, common: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    p = subparsers.add_parser(
        "copy",
        parents=[common, reading],
        help="copy host files in, or pond files out",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "sources", nargs="+", metavar="SRC", help="host URL/path (in) or pond glob (out)"
    )
    p.add_argument("dest", metavar="DEST", help="pond path (in) or host:///dir (out)")
    from duckpond.formats.flags import add_arguments

    add_arguments(p.add_argument_group("reading series (--time-column: any series source)"))
    p.add_argument(
        "--strip-prefix",
        metavar="P",
        help="copy out: drop this pond directory prefix from the written paths",
    )
    p.set_defaults(func=run)


class Source:
    """One copy-in source: its URL as given, the host path and the pond file type it makes."""

    __slots__ = ("given", "host", "scheme")

    def __init__(self, given: str, scheme: str, host: Path) -> None:
        self.given = given
        self.scheme = scheme
        self.host = host

    @property
    def file_type(self) -> str:
        return SCHEMES[self.scheme]


def parse_host_url(text: str) -> tuple[str, Path] | None:
    """``host+csv+series:///a/b.csv`` -> ``("host+csv+series", Path("/a/b.csv"))``.

    ``host://rel/f`` is relative to the working directory. Returns ``None`` for a plain path.

    Raises:
        UsageError: an unknown scheme or an empty path.
    """
    from pathlib import Path

    from duckpond.errors import UsageError

    scheme, sep, rest = text.partition("://")
    if not sep:
        return None
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise UsageError(f"unknown source scheme {scheme + '://'!r} (use {known})", text)
    if not rest:
        raise UsageError("no host path after the scheme", text)
    return scheme, Path(rest)


def run(args: argparse.Namespace) -> int:
    from duckpond.errors import UsageError

    dest_url = parse_host_url(args.dest) if "://" in args.dest else None
    if dest_url is not None:
        scheme, folder = dest_url
        if scheme != "host":
            raise UsageError("copy out writes to host:///dir (the types are kept)", args.dest)
        from duckpond.formats.flags import given_arguments

        for flag in given_arguments(args):
            raise UsageError(f"{flag} applies to copying in", args.dest)
        return copy_out(args, args.sources, folder)
    if args.at_txn is not None:
        raise UsageError("--at-txn applies to copying out (the pond is changed at its latest)")
    if args.strip_prefix is not None:
        raise UsageError("--strip-prefix applies to copying out (to host:///dir)")
    sources = [_source(s) for s in args.sources]
    _check_series_flags(args, sources)
    return copy_in(args, sources, args.dest)


def _check_series_flags(args: argparse.Namespace, sources: list[Source]) -> None:
    from duckpond.errors import UsageError
    from duckpond.formats.flags import given_arguments

    csv_flags = [f for f in given_arguments(args) if f != "--time-column"]
    for s in sources:
        if csv_flags and s.scheme != "host+csv+series":
            raise UsageError(f"{csv_flags[0]} applies to host+csv+series:// sources", s.given)
        if args.time_column is not None and s.file_type != "file:series":
            raise UsageError("--time-column applies to series sources", s.given)
    if args.delimiter is not None and len(args.delimiter) != 1 and args.delimiter not in TABS:
        raise UsageError(f"--delimiter must be one character, not {args.delimiter!r}")
    if sum(str(s.host) == STDIN for s in sources) > 1:
        raise UsageError("standard input can be read once")


def _source(text: str) -> Source:
    from pathlib import Path

    from duckpond.errors import NotFound, UsageError

    parsed = parse_host_url(text)
    scheme, host = parsed if parsed is not None else ("host", Path(text))
    if str(host) == STDIN and parsed is not None:
        if scheme != "host+csv+series":
            raise UsageError("standard input (-) is read as host+csv+series://- only", text)
        return Source(text, scheme, host)
    if not host.exists():
        raise NotFound("no such file or directory on the host", str(host))
    return Source(text, scheme, host)


# -- copy in ---------------------------------------------------------------------------------


def copy_in(args: argparse.Namespace, sources: list[Source], dest: str) -> int:
    from duckpond.cli.common import progress, write_transaction
    from duckpond.errors import NotADirectory, NotFound, UsageError

    plan = _host_files(sources)
    total = sum(size for *_, size in plan)
    show = total >= PROGRESS_BYTES or len(plan) >= PROGRESS_FILES
    several = len(sources) > 1
    # the bar outlives the transaction, so it also covers the commit
    with (
        progress("copying", total, in_bytes=True, show=show) as bar,
        write_transaction(args) as (_, wd),
    ):
        target = wd.lookup(dest)
        into_dir = target is not None and target.is_dir
        if not into_dir and (several or dest.endswith("/")):
            why = " (copying several sources)" if several else ""
            if target is None:
                raise NotFound(f"no such directory{why}", dest)
            raise NotADirectory(f"not a directory{why}", target.path)
        base = target.path if into_dir and target is not None else None
        if base is not None and any(str(s.host) == STDIN for s in sources):
            raise UsageError("standard input has no file name: give DEST as the series' path", dest)
        for source, rel, host, size in plan:
            if base is not None:
                pond_path = _join(base, source.host.name, rel)
            else:
                pond_path = _join(dest, rel) if rel else dest
            if host is None:  # a directory of a recursive copy
                wd.mkdir(pond_path, exist_ok=True)
                continue
            bar.describe(f"copying {host.name}")
            _copy_file(wd, source, host, pond_path, args, bar)
            if source.file_type != "file:data":
                bar.advance(size)
        bar.describe("committing")
    return 0


def _host_files(sources: list[Source]) -> list[tuple[Source, str, Path | None, int]]:
    """Expand sources to (source, relative path below it, host file or None for a folder, size)."""
    import os
    from pathlib import Path

    out: list[tuple[Source, str, Path | None, int]] = []
    for s in sources:
        if str(s.host) == STDIN:
            out.append((s, "", s.host, 0))
            continue
        if not s.host.is_dir():
            out.append((s, "", s.host, s.host.stat().st_size))
            continue
        out.append((s, "", None, 0))
        for dirpath, dirnames, filenames in os.walk(s.host, onerror=_raise):
            dirnames.sort()
            here = Path(dirpath)
            rel_dir = here.relative_to(s.host).as_posix()
            for d in dirnames:
                out.append((s, _rel(rel_dir, d), None, 0))
            for f in sorted(filenames):
                path = here / f
                out.append((s, _rel(rel_dir, f), path, path.stat().st_size))
    return out


def _raise(exc: OSError) -> None:
    raise exc


def _rel(rel_dir: str, name: str) -> str:
    return name if rel_dir in {"", "."} else f"{rel_dir}/{name}"


def _join(*parts: str) -> str:
    joined = "/".join(p.strip("/") for p in parts if p.strip("/"))
    absolute = parts[0].startswith("/")
    return ("/" if absolute else "") + joined if joined else parts[0]


def _copy_file(
    wd: WD, source: Source, host: Path, pond_path: str, args: argparse.Namespace, bar: Progress
) -> None:
    from duckpond.errors import InvalidData

    name = "<stdin>" if str(host) == STDIN else str(host)
    try:
        if source.scheme == "host+csv+series":
            _copy_csv(wd, host, name, pond_path, args)
            return
        with open(host, "rb") as f:
            if source.file_type != "file:data":
                from duckpond.tinyfs.tables import check_parquet

                check_parquet(f, str(host))  # PAR1 and footer: name the host file if not Parquet
                f.seek(0)
            if source.file_type == "file:data":
                wd.write_file(pond_path, _Counting(f, bar), file_type="file:data")  # type: ignore[arg-type]
            elif source.file_type == "file:table":
                wd.write_file(pond_path, f, file_type="file:table")
            else:
                wd.write_file(pond_path, f, file_type="file:series", time_column=args.time_column)
    except InvalidData as exc:
        if exc.path in {name, None} or source.file_type == "file:data":
            raise
        # the content of this host file cannot be stored there: name the file, then the target
        raise InvalidData(f"cannot be stored at {exc.path}: {exc.message}", name) from exc


def _copy_csv(wd: WD, host: Path, name: str, pond_path: str, args: argparse.Namespace) -> None:
    import sys

    from duckpond.formats.csv_series import parse_csv_series
    from duckpond.formats.flags import values_of_arguments
    from duckpond.formats.options import CsvOptions

    options = CsvOptions.of(values_of_arguments(args), name)
    source: Any = sys.stdin.buffer if str(host) == STDIN else host
    parsed = parse_csv_series(source, options, path=name)
    attributes = parsed.attributes
    attributes["source"]["file"] = name
    wd.write_file(
        pond_path,
        parsed.table,
        file_type="file:series",
        time_column=parsed.time_column,
        attributes=attributes,
    )


class _Counting:
    """A read-only stream that reports the bytes read to a progress bar."""

    def __init__(self, f: BinaryIO, bar: Progress) -> None:
        self._f = f
        self._bar = bar

    def read(self, n: int = -1) -> bytes:
        chunk = self._f.read(n)
        self._bar.advance(len(chunk))
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


# -- copy out --------------------------------------------------------------------------------


def copy_out(args: argparse.Namespace, patterns: list[str], folder: Path) -> int:
    from duckpond.cli.common import open_pond, progress

    pond = open_pond(args)
    wd = pond.root()
    files = _pond_files(wd, patterns)
    prefix = _prefix(args.strip_prefix)
    targets = [(np, folder / _out_path(np.path, prefix)) for np in files]
    total = sum(_size(np) for np in files)
    show = total >= PROGRESS_BYTES or len(files) >= PROGRESS_FILES
    with progress("copying out", total, in_bytes=True, show=show) as bar:
        for np, host in targets:
            bar.describe(f"writing {host.name}")
            host.parent.mkdir(parents=True, exist_ok=True)
            _write_out(np, host)
            bar.advance(_size(np))
    return 0


def _pond_files(wd: WD, patterns: list[str]) -> list[NodePath]:
    """Files matched by the globs (directories expanded, symlinks followed), deduplicated."""
    from duckpond.cli.common import has_magic
    from duckpond.errors import NotFound
    from duckpond.tinyfs.fs import NodePath

    seen: dict[str, NodePath] = {}
    for pattern in patterns:
        matches = list(wd.glob(pattern))
        if not matches:
            if not has_magic(pattern):
                wd.resolve(pattern)  # raises the precise cause
            raise NotFound("no match", pattern)
        for np in matches:
            target = wd.resolve(np.path) if np.is_symlink else np
            if target.is_dir:
                for sub in wd.open_dir(np.path).walk():
                    if sub.is_dir:
                        continue
                    if sub.is_symlink:
                        resolved = wd.resolve(sub.path)
                        if resolved.is_dir:
                            continue
                        sub = NodePath(sub.fs, sub.parts, resolved.node)
                    seen.setdefault(sub.path, sub)
            else:
                seen.setdefault(np.path, NodePath(np.fs, np.parts, target.node))
    return [seen[p] for p in sorted(seen)]


def _prefix(text: str | None) -> str | None:
    if text is None:
        return None
    stripped = "/" + text.strip("/")
    return "" if stripped == "/" else stripped


def _out_path(path: str, prefix: str | None) -> str:
    from duckpond.errors import UsageError

    if prefix:
        if path != prefix and not path.startswith(prefix + "/"):
            raise UsageError(f"is not below --strip-prefix {prefix}", path)
        rest = path[len(prefix) :].strip("/")
        return rest or path.rsplit("/", 1)[-1]
    return path.strip("/")


def _size(np: NodePath) -> int:
    from duckpond.errors import PondError

    try:
        return int(np.stat().size)
    except PondError:
        return 0


def _write_out(np: NodePath, host: Path) -> None:
    import shutil

    file_type = np.file_type
    if np.is_dynamic:
        host.write_bytes(np.read_bytes())
    elif file_type == "file:series":
        import pyarrow.parquet as pq

        schema, batches = np.iter_batches()
        with pq.ParquetWriter(str(host), schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
    else:  # data files and tables: the stored bytes (a table's Parquet file as it is)
        with np.open() as src, open(host, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
