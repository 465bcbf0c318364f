"""Fixing mistakes with history kept: revert, replace, remove rows, and diff.

Each change is a new version in the caller's transaction; every earlier version stays, so
``--at-txn`` of a transaction before the fix still reads what it read then.

- :func:`revert`: a file's content becomes what it was right after transaction ``N`` (a data
  file or table: a new version with those bytes; a series: a *correction* version holding the
  rows it had then, superseding every live version: :mod:`duckpond.tinyfs.collapse`).
- :func:`replace_series`: a series' content becomes the given table (one correction version).
- :func:`remove_rows`: the rows of a series inside a half-open time window go (one correction
  version holding the other rows of the live versions that overlap the window).
- :func:`diff`: what changed at a path between two transactions: a unified diff of a data
  file's text (:mod:`difflib`), the rows added and removed of a table or series (a multiset
  difference: a row delivered twice counts twice), the entries added and removed of a directory.

Transactions are read with :func:`as_of`: the same storage, versions of later transactions
hidden (as ``pond --at-txn`` reads).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from duckpond.errors import InvalidData, IsADirectory, NotFound, ReadOnly, UsageError
from duckpond.tinyfs.model import FileType

if TYPE_CHECKING:
    import pyarrow as pa

    from duckpond.times import Window
    from duckpond.tinyfs.fs import FS, WD, NodePath
    from duckpond.tinyfs.model import NodeVersion
    from duckpond.tinyfs.persistence import Blob, HashedFile, Persistence

__all__ = [
    "SHOWN_ROWS",
    "Diff",
    "as_of",
    "diff",
    "last_change",
    "remove_rows",
    "replace_series",
    "revert",
]

#: Rows a diff shows of those added and of those removed (the first, in time order).
SHOWN_ROWS = 5


# --------------------------------------------------------------------------------------------
# reading as of a transaction
# --------------------------------------------------------------------------------------------


class _AsOf:
    """A read-only view of a persistence as of transaction ``txn``: the versions of ``txn`` and
    earlier (staged ones hidden); bytes and the full history from the persistence itself."""

    def __init__(self, inner: Persistence, txn: int) -> None:
        self.inner = inner
        self.txn = txn
        self.root_id = inner.root_id
        self.txn_seq = txn
        self._parts: dict[str, dict[str, list[NodeVersion]]] = {}

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise ReadOnly(f"the pond as of transaction {self.txn} is read-only", None)

    begin = commit = rollback = stage = _refuse

    def put_blob(self, source: bytes | BinaryIO | Any | HashedFile, *, large: bool = False) -> Blob:
        return self._refuse()  # type: ignore[no-any-return]

    def partition(self, part_id: str) -> Mapping[str, Sequence[NodeVersion]]:
        part = self._parts.get(part_id)
        if part is None:
            part = {}
            for node_id, versions in self.inner.partition(part_id).items():
                kept = [v for v in versions if v.txn_seq <= self.txn]
                if kept:
                    part[node_id] = kept
            self._parts[part_id] = part
        return part

    def history(self, part_id: str) -> Mapping[str, Sequence[NodeVersion]]:
        return self.inner.history(part_id)

    def open_blob(self, version: NodeVersion) -> BinaryIO:
        return self.inner.open_blob(version)

    def blob_path(self, version: NodeVersion) -> str | None:
        return self.inner.blob_path(version)

    def has_blob(self, version: NodeVersion) -> bool:
        return self.inner.has_blob(version)


def as_of(fs: FS, txn: int) -> FS:
    """A read-only :class:`~duckpond.tinyfs.fs.FS` of ``fs``'s storage as it was right after
    transaction ``txn`` (later versions, and this transaction's staged ones, hidden)."""
    from duckpond.tinyfs.fs import FS

    view: Any = _AsOf(fs.persistence, txn)
    return FS(view, factories=fs.factories, read_only=True, tmp_dir=fs.tmp_dir)


def _check_before(fs: FS, txn: int, path: str) -> None:
    if txn < 1:
        raise UsageError(f"transaction {txn}: transactions are numbered from 1", path)
    if txn >= fs.persistence.txn_seq:
        raise UsageError(f"transaction {txn} is not before this one", path)


def _stored_file(nodepath: NodePath, what: str) -> None:
    """Refuse a directory or a dynamic node (``what``: how the refusal names the time)."""
    if nodepath.is_dir:
        raise IsADirectory(f"is a directory{what}; revert restores files", nodepath.path)
    if nodepath.is_dynamic:
        raise ReadOnly(f"is a dynamic node{what} (computed on read, not stored)", nodepath.path)


# --------------------------------------------------------------------------------------------
# changes
# --------------------------------------------------------------------------------------------


def revert(root: WD, path: str, txn: int) -> str:
    """Make the file at ``path`` hold what it held right after transaction ``txn``.

    A data file or table gets a new version with the bytes it had then (none if they are the
    bytes it has now); a series gets a correction version holding the rows it had then,
    superseding every live version. A file removed since is created again with that content.

    Args:
        root: a writable WD of an open transaction.
        path: the pond path (symlinks followed, now and then).
        txn: a transaction before this one.

    Returns:
        What happened: ``"reverted"``, ``"created"`` or ``"unchanged"``.

    Raises:
        NotFound: nothing at ``path`` then. IsADirectory: a directory then or now. ReadOnly: a
        dynamic node. InvalidData: a file of another type now; a series that had no rows.
        UsageError: ``txn`` is not before this transaction.
    """
    fs = root.fs
    _check_before(fs, txn, path)
    old = as_of(fs, txn).root().lookup(path)
    if old is None:
        raise NotFound(f"did not exist as of transaction {txn}", path)
    _stored_file(old, f" as of transaction {txn}")
    current = root.lookup(path)
    if current is not None:
        _stored_file(current, "")
        if current.file_type != old.file_type:
            raise InvalidData(
                f"was a {old.file_type} as of transaction {txn}, is a {current.file_type} now",
                current.path,
            )
    target = current.path if current is not None else path
    if old.file_type == FileType.SERIES:
        table = old.read_table()
        if table.num_rows == 0:
            raise InvalidData(f"had no rows as of transaction {txn}", target)
        if current is None:
            root.append_series(target, table, time_column=old.time_column())
            return "created"
        fs.correct(
            current,
            table,
            current.live_versions(),
            reason="revert",
            attributes={"reverted_to_txn": txn},
        )
        return "reverted"
    version = old.latest()
    if current is not None and current.latest().sha256 == version.sha256:
        return "unchanged"
    with old.open() as f:
        root.write_file(target, f, file_type=old.file_type)
    return "created" if current is None else "reverted"


def replace_series(
    root: WD,
    path: str,
    table: pa.Table,
    *,
    time_column: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> NodeVersion | None:
    """Make ``table`` the whole content of the series at ``path``: one correction version
    superseding every live version (a new series if ``path`` does not exist).

    ``table`` is normalized as an appended chunk is (its time column, default the series', cast
    to ``timestamp[us, UTC]``; flat, named columns); its schema need not merge with the old one.

    Returns:
        The correction version, or ``None`` when the series was created.

    Raises:
        InvalidData: not a series; bad columns or times; no rows. IsADirectory, ReadOnly.
    """
    from duckpond import timeseries
    from duckpond.tinyfs import tables

    current = root.lookup(path)
    if current is None:
        root.append_series(path, table, time_column=time_column, attributes=attributes)
        return None
    series = _stored_series(current)
    tables.check_columns(table.schema, series.path)
    table, _ = timeseries.normalize_series(
        table, time_column or series.time_column(), path=series.path
    )
    return root.fs.correct(
        series, table, series.live_versions(), reason="replace", attributes=attributes
    )


def remove_rows(root: WD, path: str, window: Window) -> int:
    """Remove the rows of the series at ``path`` whose time is in ``window`` (half-open
    ``[start, end)``, µs UTC; ``None``: unbounded on that side).

    One correction version holds the other rows of the live versions that overlap the window
    and supersedes them; other versions are left as they are. Nothing is written when no row
    is in the window.

    Returns:
        The number of rows removed.

    Raises:
        UsageError: not a series (or a dynamic one), or a window unbounded on both sides.
        NotFound: no such path.
    """
    import pyarrow.compute as pc

    from duckpond.tinyfs import tables

    series = root.resolve(path)
    if series.is_dir or series.is_dynamic or series.file_type != FileType.SERIES:
        kind = "a directory" if series.is_dir else f"a {series.file_type}"
        kind += " (dynamic)" if series.is_dynamic else ""
        raise UsageError(f"is {kind}; rm-rows removes rows of a stored series", series.path)
    if window.unbounded:
        raise UsageError("give --start or --end (or both): which rows to remove", series.path)
    tc = series.time_column()
    assert tc is not None
    affected = [
        v for v in series.live_versions() if window.overlaps(v.min_event_time, v.max_event_time)
    ]
    if not affected:
        return 0
    fs = root.fs
    schema = tables.merged_schema([fs.version_schema(v) for v in affected])
    rows = tables.read_chunks([fs.version_chunk(v) for v in affected], schema)
    times = rows.column(tc)
    tests = []
    if window.start is not None:
        tests.append(pc.greater_equal(times, _ts(window.start)))
    if window.end is not None:
        tests.append(pc.less(times, _ts(window.end)))
    inside = tests[0] if len(tests) == 1 else pc.and_(tests[0], tests[1])
    removed = pc.sum(inside.cast("int64")).as_py() or 0
    if removed == 0:
        return 0
    kept = rows.filter(pc.invert(inside))
    fs.correct(
        series,
        kept,
        affected,
        reason="rm-rows",
        attributes={"window": [window.start, window.end], "removed": removed},
    )
    return int(removed)


def _ts(us: int) -> pa.Scalar:
    import pyarrow as pa

    from duckpond.times import time_type

    return pa.scalar(us, pa.int64()).cast(time_type())


def _stored_series(nodepath: NodePath) -> NodePath:
    if nodepath.is_dir or nodepath.is_dynamic or nodepath.file_type != FileType.SERIES:
        kind = "a directory" if nodepath.is_dir else f"a {nodepath.file_type}"
        raise InvalidData(f"is {kind}, not a stored series", nodepath.path)
    return nodepath


# --------------------------------------------------------------------------------------------
# diff
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diff:
    """What changed at ``path`` from transaction ``from_txn`` to ``to_txn`` (``None``: now).

    Attributes:
        kind: ``text``, ``binary``, ``rows``, ``entries``, ``created``/``removed`` (the path
            exists on one side only: the other fields hold its content), or ``same``.
        text: unified diff lines (``text``).
        added / removed: row counts (``rows``) or entry names (``entries``).
        first_added / first_removed: the first rows (in time order) or entries, as dicts.
    """

    path: str
    from_txn: int
    to_txn: int | None
    kind: str
    text: list[str] = field(default_factory=list)
    added: int = 0
    removed: int = 0
    first_added: list[dict[str, Any]] = field(default_factory=list)
    first_removed: list[dict[str, Any]] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        """The diff as text lines (no line ends)."""
        now = "now" if self.to_txn is None else f"transaction {self.to_txn}"
        yield f"--- {self.path} as of transaction {self.from_txn}"
        yield f"+++ {self.path} as of {now}"
        if self.kind == "same":
            yield "no change"
            return
        if self.kind == "text":
            yield from self.text[2:]  # the two header lines are ours
            return
        if self.kind == "binary":
            yield from self.text
            return
        unit = "entries" if self.kind == "entries" else "rows"
        yield f"{unit}: +{self.added} -{self.removed}"
        for sign, shown, total in (
            ("+", self.first_added, self.added),
            ("-", self.first_removed, self.removed),
        ):
            for item in shown:
                yield f"{sign} {_json(item)}"
            if total > len(shown):
                yield f"{sign} ... ({total - len(shown)} more)"


def _json(item: dict[str, Any]) -> str:
    """A row as one line of JSON (times ISO-8601 with ``Z``, bytes in hex)."""
    import json

    return json.dumps({k: _json_value(v) for k, v in item.items()}, ensure_ascii=False)


def _json_value(value: Any) -> Any:
    import datetime as dt
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def last_change(nodepath: NodePath) -> int | None:
    """The last transaction that changed the content at ``nodepath`` (a collapse does not)."""
    from duckpond.tinyfs import collapse

    changes = [v.txn_seq for v in nodepath.versions() if not collapse.children(v)]
    return changes[-1] if changes else None


def diff(fs: FS, path: str, from_txn: int | None = None, to_txn: int | None = None) -> Diff:
    """What changed at ``path`` between two transactions.

    Args:
        fs: the pond's filesystem (read as of each transaction with :func:`as_of`).
        path: the pond path (symlinks followed).
        from_txn: the earlier side; default: right before the last transaction (up to
            ``to_txn``) that changed the path.
        to_txn: the later side; default: now.

    Raises:
        NotFound: the path exists on neither side. UsageError: ``from_txn`` after ``to_txn``.
    """
    new_fs = fs if to_txn is None else as_of(fs, to_txn)
    new = new_fs.root().lookup(path)
    if from_txn is None:
        changed = last_change(new) if new is not None and not new.is_dynamic else None
        from_txn = max(changed - 1, 0) if changed is not None else (to_txn or 0)
    elif to_txn is not None and from_txn > to_txn:
        raise UsageError(f"--from-txn {from_txn} is after --to-txn {to_txn}", path)
    old = as_of(fs, from_txn).root().lookup(path)
    shown = new.path if new is not None else old.path if old is not None else path
    if old is None and new is None:
        raise NotFound("no such path on either side", path)
    base = {"path": shown, "from_txn": from_txn, "to_txn": to_txn}
    if (old is not None and old.is_dir) or (new is not None and new.is_dir):
        return _diff_entries(base, old, new)
    kind = (new or old).file_type  # type: ignore[union-attr]
    if old is not None and new is not None and old.file_type != new.file_type:
        raise InvalidData(f"was a {old.file_type}, is a {new.file_type}", shown)
    if kind == FileType.DATA:
        return _diff_bytes(base, old, new)
    return _diff_rows(base, old, new)


def _diff_entries(base: dict[str, Any], old: NodePath | None, new: NodePath | None) -> Diff:
    def entries(side: NodePath | None) -> dict[str, tuple[str, str]]:
        if side is None or not side.is_dir:
            return {}
        wd = side.fs.root().open_dir(side.path)
        return {n.name: (n.node.node_id, n.node.file_type) for n in wd.list()}

    a, b = entries(old), entries(new)
    added = sorted(n for n in b if a.get(n) != b[n])
    removed = sorted(n for n in a if b.get(n) != a[n])
    if not added and not removed:
        return Diff(**base, kind="same")
    return Diff(
        **base,
        kind="entries",
        added=len(added),
        removed=len(removed),
        first_added=[{"name": n, "type": b[n][1]} for n in added],
        first_removed=[{"name": n, "type": a[n][1]} for n in removed],
    )


def _diff_bytes(base: dict[str, Any], old: NodePath | None, new: NodePath | None) -> Diff:
    va = old.latest() if old is not None else None
    vb = new.latest() if new is not None else None
    if va is not None and vb is not None and va.sha256 == vb.sha256:
        return Diff(**base, kind="same")
    a = old.read_bytes() if old is not None else b""
    b = new.read_bytes() if new is not None else b""
    try:
        ta, tb = a.decode("utf-8"), b.decode("utf-8")
    except UnicodeDecodeError:
        size = f"{len(a)} -> {len(b)} bytes"
        sha = f"sha256 {(va.sha256 or '')[:12] if va else '-'} -> "
        sha += (vb.sha256 or "")[:12] if vb else "-"
        return Diff(**base, kind="binary", text=[f"binary content differs ({size}, {sha})"])
    lines = difflib.unified_diff(
        ta.splitlines(), tb.splitlines(), fromfile="a", tofile="b", lineterm=""
    )
    return Diff(**base, kind="text", text=list(lines))


def _diff_rows(base: dict[str, Any], old: NodePath | None, new: NodePath | None) -> Diff:
    """Rows added and removed. Of two stored series of one node only the leaves that differ
    are read (a leaf on both sides holds the same rows)."""

    from duckpond.tinyfs import tables

    def leaves(side: NodePath | None) -> dict[int, NodeVersion]:
        if side is None or side.is_dynamic or side.file_type != FileType.SERIES:
            return {}
        return {v.version: v for v in side.appended_versions()}

    def read(side: NodePath | None, only: list[NodeVersion] | None) -> pa.Table | None:
        if side is None:
            return None
        if only is None:
            return side.read_table()
        if not only:
            return None
        fs = side.fs
        schema = tables.merged_schema([fs.version_schema(v) for v in only])
        return tables.read_chunks([fs.version_chunk(v) for v in only], schema)

    la, lb = leaves(old), leaves(new)
    same_node = old is not None and new is not None and old.node.node_id == new.node.node_id
    if same_node and (la or lb):
        a = read(old, [v for n, v in la.items() if n not in lb])
        b = read(new, [v for n, v in lb.items() if n not in la])
    elif same_node and old is not None and new is not None and not old.is_dynamic:
        if old.latest().sha256 == new.latest().sha256:
            return Diff(**base, kind="same")
        a, b = read(old, None), read(new, None)
    else:
        a, b = read(old, None), read(new, None)
    if a is None and b is None:
        return Diff(**base, kind="same")
    tc = (new or old).time_column()  # type: ignore[union-attr]
    added, removed = _row_multiset_diff(a, b)
    if added.num_rows == 0 and removed.num_rows == 0:
        return Diff(**base, kind="same")
    return Diff(
        **base,
        kind="rows",
        added=added.num_rows,
        removed=removed.num_rows,
        first_added=_first(added, tc),
        first_removed=_first(removed, tc),
    )


def _first(table: pa.Table, tc: str | None) -> list[dict[str, Any]]:
    if tc is not None and tc in table.column_names:
        table = table.sort_by(tc)
    return table.slice(0, SHOWN_ROWS).to_pylist()  # type: ignore[no-any-return]


def _row_multiset_diff(a: pa.Table | None, b: pa.Table | None) -> tuple[pa.Table, pa.Table]:
    """(rows of ``b`` not in ``a``, rows of ``a`` not in ``b``), counted with multiplicity; the
    columns of both (types merged)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from duckpond.tinyfs import tables

    present = [t for t in (a, b) if t is not None]
    schema = tables.merged_schema([t.schema.remove_metadata() for t in present])
    empty = schema.empty_table()
    a = tables.conform(a, schema) if a is not None else empty
    b = tables.conform(b, schema) if b is not None else empty
    n = "__pond_diff_n"
    signed = pa.concat_tables(
        [
            a.append_column(n, pa.repeat(pa.scalar(-1, pa.int64()), a.num_rows)),
            b.append_column(n, pa.repeat(pa.scalar(1, pa.int64()), b.num_rows)),
        ]
    )
    if signed.num_rows == 0:
        return empty, empty
    net = signed.group_by(schema.names, use_threads=False).aggregate([(n, "sum")])
    net = net.filter(pc.not_equal(net.column(f"{n}_sum"), 0))
    counts = net.column(f"{n}_sum")

    def expand(mask: pa.ChunkedArray, sign: int) -> pa.Table:
        rows = net.filter(mask)
        times = pc.multiply(rows.column(f"{n}_sum"), sign).to_pylist()
        take = [i for i, k in enumerate(times) for _ in range(k)]  # row i, k times
        return rows.take(pa.array(take, pa.int64())).select(schema.names)

    return expand(pc.greater(counts, 0), 1), expand(pc.less(counts, 0), -1)
