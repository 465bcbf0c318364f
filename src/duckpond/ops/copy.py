"""Copy host files into the pond and pond files out to a host folder: one set of rules.

``pond copy``, ``pond apply`` (``kind: copy``) and library callers all use these functions.

Sources (copy in) say what they become, by URL scheme (:data:`SCHEMES`):

=========================  ===============================================================
``host:///abs/file``       a data file: the bytes, streamed (a plain path means the same)
``host+table:///f.pq``     a table (the Parquet file is checked: PAR1 magic and footer)
``host+series:///f.pq``    a series chunk (Parquet with a time column)
``host+csv+series:///f``   a series parsed from CSV (:mod:`duckpond.formats`); ``-``: stdin
=========================  ===============================================================

``host://rel/path`` (two slashes) is relative to the working directory (or ``base_dir``). A host
folder is copied recursively (each file by the folder's scheme); symlinks are followed, and a
dangling one, a loop and anything that is not a file or directory are skipped with a
:class:`SkippedWarning` (:func:`host_files`). A host name that cannot be a pond name (not UTF-8, a
control character) refuses the whole copy before anything changes.

What a copy onto an existing pond file does (the same for every caller):

- a data file or table: a new version, unless the latest version already has the same bytes
  (sha256): then nothing changes ("unchanged");
- a series: the rows it does not already hold are appended as one new version. A row is held
  when a row equal in every column is already in the series; only the part of the series in the
  new rows' time span is read to decide, so appending newer data costs what the new rows cost.
  Copying the same file twice, or a CSV that grew, appends nothing the second time but the new
  rows; late (older) rows are appended like any others;
- a file of another type: refused (:class:`InvalidData`); a directory or a dynamic node:
  refused (:class:`AlreadyExists`).

A plain ``host://`` source to a name ending ``.series`` or ``.table`` is refused: a data file
with such a name is nearly always a forgotten ``host+csv+series://`` (use another name to store
the bytes).

Copy out writes each matched file under the host folder at its pond path (less
``strip_prefix``): data files byte for byte, tables as their Parquet file, series as one Parquet
file of the union of their versions, dynamic nodes as computed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Protocol

from duckpond import faults
from duckpond.errors import (
    AlreadyExists,
    InvalidData,
    InvalidPath,
    NotADirectory,
    NotFound,
    SymlinkLoop,
    UsageError,
    printable,
    translate_errors,
)
from duckpond.steward.hooks import PondWarning
from duckpond.tinyfs.model import FileType

if TYPE_CHECKING:
    import pyarrow as pa

    from duckpond.formats.options import CsvOptions
    from duckpond.tinyfs.fs import WD, NodePath

__all__ = [
    "SCHEMES",
    "CopyChange",
    "CopyOptions",
    "HostSource",
    "Progress",
    "SkippedWarning",
    "copy_file_in",
    "copy_in",
    "copy_out",
    "host_files",
    "parse_host_url",
]

#: Host URL schemes of copy in -> the pond file type they create.
SCHEMES: Final = {
    "host": FileType.DATA,
    "host+table": FileType.TABLE,
    "host+series": FileType.SERIES,
    "host+csv+series": FileType.SERIES,
}


class Progress(Protocol):
    """Where a long copy reports progress (the CLI's bar; :data:`NO_PROGRESS` otherwise)."""

    def advance(self, amount: float = 1, *, description: str | None = None) -> None: ...

    def describe(self, description: str) -> None: ...


class _NoProgress:
    def advance(self, amount: float = 1, *, description: str | None = None) -> None:
        pass

    def describe(self, description: str) -> None:
        pass


NO_PROGRESS: Final[Progress] = _NoProgress()


@dataclass(frozen=True, slots=True)
class CopyOptions:
    """How series sources are read.

    Attributes:
        time_column: the series' time column (default: detected; ``Timestamp``, ``timestamp``,
            ``time``, ``ts``, ``datetime``; In-Situ ``Date Time``).
        tz: zone of CSV times without an offset, IANA or ``±HH:MM`` (default: the zone the file
            states, else UTC).
        csv: the other options of CSV sources (:class:`~duckpond.formats.options.CsvOptions`:
            layout, delimiter, decimal comma, null values, time format, DST choices, names);
            ``time_column`` and ``tz`` above take precedence over its fields of those names.
    """

    time_column: str | None = None
    tz: str | None = None
    csv: CsvOptions | None = None


STDIN: Final = "-"
"""The host path of ``host+csv+series://-``: the series is read from standard input."""


@dataclass(frozen=True, slots=True)
class HostSource:
    """One copy-in source: its URL as given, the scheme and the host path."""

    given: str
    scheme: str
    path: Path

    @property
    def file_type(self) -> FileType:
        return SCHEMES[self.scheme]

    @classmethod
    def parse(cls, text: str, *, base_dir: Path | None = None) -> HostSource:
        """A source from a URL or a plain host path (relative paths start at ``base_dir``).

        Raises:
            UsageError: an unknown scheme or an empty path. NotFound: no such host file.
        """
        parsed = parse_host_url(text)
        scheme, path = parsed if parsed is not None else ("host", Path(text))
        if parsed is not None and str(path) == STDIN:
            if scheme != "host+csv+series":
                raise UsageError("standard input (-) is read as host+csv+series://- only", text)
            return cls(text, scheme, path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.exists():
            raise NotFound("no such file or directory on the host", str(path))
        return cls(text, scheme, path)


@dataclass(frozen=True, slots=True)
class CopyChange:
    """What copying one host file did: ``action`` is created, updated, appended or unchanged."""

    path: str
    action: str
    detail: str = ""


def parse_host_url(text: str) -> tuple[str, Path] | None:
    """``host+csv+series:///a/b.csv`` -> ``("host+csv+series", Path("/a/b.csv"))``.

    ``host://rel/f`` is relative. Returns ``None`` for a plain path (no ``://``).

    Raises:
        UsageError: an unknown scheme or an empty path.
    """
    scheme, sep, rest = text.partition("://")
    if not sep:
        return None
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise UsageError(f"unknown source scheme {scheme + '://'!r} (use {known})", text)
    if not rest:
        raise UsageError("no host path after the scheme", text)
    return scheme, Path(host_path_text(rest))


def host_path_text(rest: str, *, windows: bool = os.name == "nt") -> str:
    """The host path of a URL after its ``scheme://``.

    On Windows (``windows``), ``/C:/data/f.csv`` (from ``host:///C:/data/f.csv``, the
    ``file:///C:/...`` form of RFC 8089) is ``C:/data/f.csv``; ``C:\\data\\f.csv`` (from
    ``host://C:\\data\\f.csv``) is taken as written. Elsewhere ``/C:/x`` is a POSIX path.
    """
    drive = len(rest) >= 4 and rest[0] == "/" and rest[1].isalpha() and rest[2] == ":"
    if windows and drive and rest[3] in "/\\":
        return rest[1:]
    return rest


@dataclass(frozen=True, slots=True)
class HostFile:
    """A file (or, with ``host`` None, a directory) a copy-in will create, and its size."""

    source: HostSource
    rel: str
    host: Path | None
    size: int = 0


class SkippedWarning(PondWarning):
    """A host entry a copy left out: a dangling symlink, a symlink back to a folder being copied
    (a loop), or something that is not a regular file or directory (a FIFO, socket, device)."""


def host_files(sources: Sequence[HostSource]) -> list[HostFile]:
    """Expand sources: each file, and each folder recursively (directories first, sorted).

    Symlinks in a folder are followed: a link to a directory is copied as a directory of what it
    holds, a link to a file as that file. A link that dangles, a link to a folder the walk is
    inside (a loop), and entries that are neither files nor directories are skipped, each with a
    :class:`SkippedWarning` naming it. Every name is checked before anything is copied.

    Raises:
        InvalidPath: a name in a folder is not UTF-8 or holds a control character (the host path
            is named, escaped). NotFound, ReadOnly: a host folder cannot be listed.
    """
    out: list[HostFile] = []
    if sum(str(s.path) == STDIN for s in sources) > 1:
        raise UsageError("standard input can be read once")
    for s in sources:
        if str(s.path) == STDIN:
            out.append(HostFile(s, "", s.path))
            continue
        if not s.path.is_dir():
            out.append(HostFile(s, "", s.path, s.path.stat().st_size))
            continue
        out.append(HostFile(s, "", None))
        with translate_errors(str(s.path), what="listing a host folder"):
            out.extend(_walk_folder(s))
    return out


def _walk_folder(source: HostSource) -> Iterator[HostFile]:
    """The directories and files below a host folder (see :func:`host_files`)."""
    top = source.path
    st = top.stat()
    #: (st_dev, st_ino) of each directory from the top down to the one being listed
    chains: dict[str, tuple[tuple[int, int], ...]] = {str(top): ((st.st_dev, st.st_ino),)}
    for dirpath, dirnames, filenames in os.walk(top, onerror=_raise, followlinks=True):
        here = Path(dirpath)
        rel_dir = here.relative_to(top).as_posix()
        chain = chains.pop(dirpath)
        kept = []
        for d in sorted(dirnames):
            path = here / d
            _check_host_name(d, path)
            try:
                st = path.stat()
            except FileNotFoundError:  # vanished since listed
                continue
            key = (st.st_dev, st.st_ino)
            if key in chain:
                _skipped(path, "a symlink to a folder this copy is inside (a loop)")
                continue
            chains[str(path)] = (*chain, key)
            kept.append(d)
            yield HostFile(source, _rel(rel_dir, d), None)
        dirnames[:] = kept
        for f in sorted(filenames):
            path = here / f
            _check_host_name(f, path)
            try:
                st = path.stat()
            except OSError as exc:
                if not path.is_symlink() or exc.errno not in (errno.ENOENT, errno.ELOOP):
                    raise
                why = "dangling" if exc.errno == errno.ENOENT else "in a loop of symlinks"
                _skipped(path, f"a symlink to {path.readlink()}: {why}")
                continue
            if not stat.S_ISREG(st.st_mode):
                _skipped(path, "not a regular file")
                continue
            yield HostFile(source, _rel(rel_dir, f), path, st.st_size)


def _check_host_name(name: str, path: Path) -> None:
    """A host name that cannot be a pond name is refused here, naming the host path (escaped),
    before the copy changes anything."""
    from duckpond.tinyfs.paths import validate_name

    try:
        validate_name(name, str(path))
    except InvalidPath as exc:
        raise InvalidPath(f"cannot be copied: {exc.message}", str(path)) from None


def _skipped(path: Path | str, why: str) -> None:
    import warnings

    warnings.warn(SkippedWarning(f"{printable(str(path))}: skipped: {why}"), stacklevel=4)


def _raise(exc: OSError) -> None:
    raise exc


def _rel(rel_dir: str, name: str) -> str:
    return name if rel_dir in {"", "."} else f"{rel_dir}/{name}"


def _join(*parts: str) -> str:
    joined = "/".join(p.strip("/") for p in parts if p.strip("/"))
    absolute = parts[0].startswith("/")
    return ("/" if absolute else "") + joined if joined else parts[0]


def copy_in(
    root: WD,
    sources: Sequence[HostSource],
    dest: str,
    options: CopyOptions = CopyOptions(),
    *,
    as_target: bool = False,
    progress: Progress = NO_PROGRESS,
) -> list[CopyChange]:
    """Copy host files and folders into the pond under ``dest`` (see the module docstring).

    If ``dest`` is an existing directory each source goes into it under its own name;
    otherwise ``dest`` names the new file (or directory); several sources need a directory.
    With ``as_target`` (one source, ``pond apply``'s ``to:``), ``dest`` always names the copy
    itself: a folder's contents go into ``dest`` even when it exists (like ``cp -rT``).

    Args:
        root: a writable WD of an open transaction (relative ``dest`` is relative to it).
        sources: what to copy.
        dest: the pond path.
        options: how series sources are read.
        as_target: ``dest`` is the copy itself, not a directory to copy into.
        progress: told the bytes copied.

    Returns:
        One change per host file, in order.

    Raises:
        NotFound, NotADirectory: ``dest`` is missing or not a directory when it must be one.
        AlreadyExists: a target exists as something else. InvalidData: bad CSV or Parquet.
        UsageError: a data file to a ``.series``/``.table`` name.
    """
    files = host_files(sources)
    target = root.lookup(dest)
    into_dir = target is not None and target.is_dir and not as_target
    several = len(sources) > 1
    if as_target and several:
        raise UsageError("copying to a target takes one source", dest)
    if not into_dir and (several or dest.endswith("/")):
        why = " (copying several sources)" if several else ""
        if target is None:
            raise NotFound(f"no such directory{why}", dest)
        raise NotADirectory(f"not a directory{why}", target.path)
    base = target.path if into_dir and target is not None else None
    if base is not None and any(str(s.path) == STDIN for s in sources):
        raise UsageError("standard input has no file name: give DEST as the series' path", dest)
    changes = []
    for f in files:
        if base is not None:
            pond_path = _join(base, f.source.path.name, f.rel)
        else:
            pond_path = _join(dest, f.rel) if f.rel else dest
        if f.host is None:  # a directory of a recursive copy
            root.mkdir(pond_path, exist_ok=True)
            continue
        progress.describe(f"copying {f.host.name}")
        changes.append(copy_file_in(root, f.source, f.host, pond_path, options, progress=progress))
        faults.point("copy-file-done")
    return changes


def copy_file_in(
    root: WD,
    source: HostSource,
    host: Path,
    pond_path: str,
    options: CopyOptions = CopyOptions(),
    *,
    progress: Progress = NO_PROGRESS,
) -> CopyChange:
    """Copy one host file to ``pond_path`` by the rules of the module docstring.

    Raises:
        AlreadyExists: the target exists as a directory or a dynamic node. InvalidData: it is a
        file of another type; bad CSV/Parquet content (naming the host file). UsageError: a data
        file to a ``.series``/``.table`` name.
    """
    file_type = source.file_type
    existing = root.lookup(pond_path)
    shown = existing.path if existing is not None else pond_path
    if existing is not None:
        if existing.is_dir or existing.is_dynamic:
            what = "a directory" if existing.is_dir else "a dynamic node"
            raise AlreadyExists(f"exists as {what}, not a stored file", shown)
        if existing.file_type != file_type:
            raise InvalidData(f"is a {existing.file_type}, not a {file_type}", shown)
    if file_type == FileType.DATA and pond_path.endswith((".series", ".table")):
        kind = "series" if pond_path.endswith(".series") else "table"
        raise UsageError(
            f"{source.given} would be stored as a data file (its bytes) under a {kind} name; use "
            f"host+csv+series:// or host+{'series' if kind == 'series' else 'table'}:// to make "
            f"a {kind}, or another name to keep the bytes",
            shown,
        )
    if file_type == FileType.SERIES:
        name = "<stdin>" if str(host) == STDIN else str(host)
        if source.scheme == "host+series" and existing is None and name != "<stdin>":
            # a new series from Parquet that needs no rewriting is stored as it is
            attributes = {"source": {"shape": "parquet", "file": name}}
            made = root.create_series_as_is(
                pond_path, host, time_column=options.time_column, attributes=attributes
            )
            if made is not None:
                progress.advance(host.stat().st_size)
                return CopyChange(
                    pond_path, "created", f"{made.latest().extended_attributes['rows']} rows"
                )
        table, tc, attributes = _read_series(source, host, options)
        if str(host) != STDIN:
            progress.advance(host.stat().st_size)
        try:
            return _append_new_rows(root, pond_path, existing, table, tc, attributes)
        except InvalidData as exc:
            if exc.path in {name, None}:
                raise
            # these rows cannot join the series: name the host file, then the series and why
            raise InvalidData(f"cannot be stored at {exc.path}: {exc.message}", name) from exc
    digest = _sha256(host) if existing is not None else None
    if existing is not None and existing.latest().sha256 == digest:
        progress.advance(host.stat().st_size)
        return CopyChange(shown, "unchanged")
    with open(host, "rb") as f:
        if file_type == FileType.TABLE:
            from duckpond.tinyfs.tables import check_columns, check_parquet

            footer = check_parquet(f, str(host))  # PAR1 and footer: name the host file if not
            check_columns(footer.schema.to_arrow_schema(), str(host))  # flat, named columns
            f.seek(0)
            root.write_file(pond_path, f, file_type=FileType.TABLE)
            progress.advance(host.stat().st_size)
        else:
            root.write_file(pond_path, _Counting(f, progress), file_type=FileType.DATA)
    return CopyChange(shown, "updated" if existing is not None else "created", str(host))


def _sha256(host: Path) -> str:
    import hashlib

    with open(host, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def replace_in(
    root: WD, source: HostSource, pond_path: str, options: CopyOptions = CopyOptions()
) -> CopyChange:
    """``pond copy --replace``: the series at ``pond_path`` becomes the rows of one series
    source (``host+series://`` or ``host+csv+series://``), as one correction version
    superseding every current version (:func:`duckpond.ops.corrections.replace_series`);
    created if missing.

    Raises:
        UsageError: the source is not a series source. InvalidData: the target is not a stored
        series; bad content (naming the host file). NotFound: no such host file.
    """
    from duckpond.ops.corrections import replace_series

    if source.file_type != FileType.SERIES:
        raise UsageError(
            "--replace takes a series source (host+series:// or host+csv+series://)",
            source.given,
        )
    if str(source.path) != STDIN and source.path.is_dir():
        raise UsageError("--replace takes one file, not a folder", source.given)
    existing = root.lookup(pond_path)
    if existing is not None and (existing.is_dir or existing.file_type != FileType.SERIES):
        kind = "a directory" if existing.is_dir else f"a {existing.file_type}"
        raise InvalidData(f"is {kind}; --replace replaces the content of a series", existing.path)
    table, tc, attributes = _read_series(source, source.path, options)
    replace_series(root, pond_path, table, time_column=tc, attributes=attributes)
    action = "replaced" if existing is not None else "created"
    return CopyChange(existing.path if existing is not None else pond_path, action)


def _read_series(
    source: HostSource, host: Path, options: CopyOptions
) -> tuple[pa.Table, str, dict[str, Any]]:
    """The rows of a series source, its time column normalized to timestamp[us, UTC], and the
    attributes its version keeps (``source``: the file, and for CSV the shape, the renamed
    headers and the zone)."""
    from duckpond.timeseries import normalize_series

    if source.scheme == "host+csv+series":
        import sys

        from duckpond.formats.csv_series import parse_csv_series
        from duckpond.formats.options import CsvOptions

        name = "<stdin>" if str(host) == STDIN else str(host)
        given = options.csv.model_dump(exclude_unset=True) if options.csv is not None else {}
        csv = CsvOptions.of({**given, "time_column": options.time_column, "tz": options.tz}, name)
        parsed = parse_csv_series(sys.stdin.buffer if name == "<stdin>" else host, csv, path=name)
        attributes = parsed.attributes
        attributes["source"]["file"] = name
        return parsed.table, parsed.time_column, attributes
    import pyarrow.parquet as pq

    from duckpond.tinyfs.tables import check_columns, check_parquet

    footer = check_parquet(str(host), str(host))
    check_columns(footer.schema.to_arrow_schema(), str(host))
    with translate_errors(str(host), what="reading Parquet"):
        table = pq.read_table(host)
    table, tc = normalize_series(table, options.time_column, path=str(host))
    return table, tc, {"source": {"shape": "parquet", "file": str(host)}}


def _append_new_rows(
    root: WD,
    pond_path: str,
    existing: NodePath | None,
    table: pa.Table,
    tc: str,
    attributes: dict[str, Any],
) -> CopyChange:
    if existing is None:
        root.append_series(pond_path, table, time_column=tc, attributes=attributes)
        return CopyChange(pond_path, "created", f"{table.num_rows} rows")
    fresh = new_rows(existing, table, tc)
    if fresh.num_rows == 0:
        return CopyChange(existing.path, "unchanged")
    root.append_series(pond_path, fresh, time_column=tc, attributes=attributes)
    return CopyChange(existing.path, "appended", f"{fresh.num_rows} rows")


def new_rows(series: NodePath, table: pa.Table, time_column: str) -> pa.Table:
    """The rows of ``table`` that ``series`` does not already hold (equal in every column).

    Rows later than the series' newest time are new without looking; the others are compared
    with the series' rows in their time span only.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from duckpond.times import Window

    hi = series.stat().max_event_time
    if hi is None or table.num_rows == 0:
        return table
    times = table.column(time_column)
    hi_scalar = pa.scalar(hi, times.type)
    later = pc.greater(times, hi_scalar)
    if pc.all(later).as_py():
        return table
    older = table.filter(pc.invert(later))
    bounds = pc.min_max(older.column(time_column).cast(pa.int64()))
    span = Window(bounds["min"].as_py(), bounds["max"].as_py() + 1)
    held = series.read_table(window=span)
    names = list(table.column_names)
    held_rows = {_row_key(r, names) for r in _rows(held, names)}
    keep = [_row_key(r, names) not in held_rows for r in _rows(older, names)]
    kept_older = older.filter(pa.array(keep, pa.bool_()))
    if kept_older.num_rows == older.num_rows and not pc.any(later).as_py():
        return table
    return pa.concat_tables([kept_older, table.filter(later)])


def _rows(table: pa.Table, names: list[str]) -> Iterator[dict[str, Any]]:
    present = [n for n in names if n in table.column_names]
    for batch in table.select(present).to_batches():
        yield from batch.to_pylist()


def _row_key(row: dict[str, Any], names: list[str]) -> tuple[Any, ...]:
    """A hashable key of a row, NaN equal to NaN and a missing column equal to null."""
    out = []
    for n in names:
        v = row.get(n)
        if isinstance(v, float) and v != v:
            v = "\0nan"
        out.append(v)
    return tuple(out)


class _Counting:
    """A read-only stream that reports the bytes read to a progress bar."""

    def __init__(self, f: BinaryIO, progress: Progress) -> None:
        self._f = f
        self._progress = progress

    def read(self, n: int = -1) -> bytes:
        chunk = self._f.read(n)
        self._progress.advance(len(chunk))
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


# -- copy out ---------------------------------------------------------------------------------


def pond_files(root: WD, patterns: Sequence[str]) -> list[NodePath]:
    """Files matched by the globs (directories expanded, symlinks followed), by path, once each.

    A symlink that dangles (or is in a loop) is left out with a :class:`SkippedWarning`.

    Raises:
        NotFound: a pattern matches nothing (with no wildcard: the precise cause).
    """
    from duckpond.tinyfs.fs import NodePath
    from duckpond.tinyfs.glob import has_magic

    seen: dict[str, NodePath] = {}
    for pattern in patterns:
        matches = list(root.glob(pattern))
        if not matches:
            if not has_magic(pattern):
                root.resolve(pattern)  # raises the precise cause
            raise NotFound("no match", pattern)
        for node in matches:
            target = _follow(root, node)
            if target is None:
                continue
            if not target.is_dir:
                seen.setdefault(node.path, NodePath(node.fs, node.parts, target.node))
                continue
            for sub in root.open_dir(node.path).walk():
                if sub.is_dir:
                    continue
                resolved = _follow(root, sub)
                if resolved is None or resolved.is_dir:
                    continue
                seen.setdefault(sub.path, NodePath(sub.fs, sub.parts, resolved.node))
    return [seen[p] for p in sorted(seen)]


def _follow(root: WD, node: NodePath) -> NodePath | None:
    """What ``node`` is after its symlinks, or ``None`` (warned) for a dangling one."""
    if not node.is_symlink:
        return node
    try:
        return root.resolve(node.path)
    except (NotFound, SymlinkLoop) as exc:
        _skipped(node.path, exc.message)
        return None


def _prefix(text: str | None) -> str | None:
    if text is None:
        return None
    stripped = "/" + text.strip("/")
    return "" if stripped == "/" else stripped


def _out_path(path: str, prefix: str | None) -> str:
    if prefix:
        if path != prefix and not path.startswith(prefix + "/"):
            raise UsageError(f"is not below --strip-prefix {prefix}", path)
        rest = path[len(prefix) :].strip("/")
        return rest or path.rsplit("/", 1)[-1]
    return path.strip("/")


def copy_out(
    root: WD,
    patterns: Sequence[str],
    folder: Path,
    *,
    strip_prefix: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> list[tuple[NodePath, Path]]:
    """Write the files matching ``patterns`` under the host ``folder`` (see the module docstring).

    Existing host files are overwritten.

    Returns:
        (pond file, host file written) pairs, by pond path.

    Raises:
        NotFound: a pattern matches nothing. UsageError: a match is not below ``strip_prefix``.
        ReadOnly, HostError: the host folder cannot be written.
    """
    files = pond_files(root, patterns)
    prefix = _prefix(strip_prefix)
    targets = [(node, folder / _out_path(node.path, prefix)) for node in files]
    for node, host in targets:
        progress.describe(f"writing {host.name}")
        with translate_errors(str(host), what="writing"):
            host.parent.mkdir(parents=True, exist_ok=True)
            write_out(node, host)
        progress.advance(stored_size(node))
    return targets


def stored_size(node: NodePath) -> int:
    """Bytes of a stored file (a series: all versions); 0 for a dynamic node."""
    return 0 if node.is_dynamic else int(node.stat().size)


def write_out(node: NodePath, host: Path) -> None:
    """Write one pond file to a host path (series as one Parquet file of all versions)."""
    import shutil

    if node.is_dynamic:
        host.write_bytes(node.read_bytes())
    elif node.file_type == FileType.SERIES:
        import pyarrow.parquet as pq

        schema, batches = node.iter_batches()
        with pq.ParquetWriter(str(host), schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
    else:  # data files and tables: the stored bytes (a table's Parquet file as it is)
        with node.open() as src, open(host, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def check_csv_source(source: HostSource, options: CopyOptions) -> None:
    """Options that only apply to some sources are refused on others.

    Raises:
        UsageError: ``tz`` or another CSV option on a non-CSV source, ``time_column`` on a
            non-series source.
    """
    csv_given = sorted(options.csv.model_fields_set) if options.csv is not None else []
    if options.tz is not None:
        csv_given.insert(0, "tz")
    csv_given = [n for n in csv_given if n != "time_column"]
    if csv_given and source.scheme != "host+csv+series":
        flag = "--" + csv_given[0].replace("_", "-").replace("null-values", "null-value")
        raise UsageError(f"{flag} applies to host+csv+series:// sources", source.given)
    if options.time_column is not None and source.file_type != FileType.SERIES:
        raise UsageError("--time-column applies to series sources", source.given)
