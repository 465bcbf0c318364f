"""The mirror: the pond's current tree as plain files in a host folder.

Other programs read the mirror by DuckPond path: ``/raw/b01.series`` in the pond is
``<dir>/raw/b01.series`` on the host. What each node becomes:

=================  ===========================================================================
directory          a directory
file:data          its bytes (latest version)
file:table         Parquet (its latest version, as stored)
file:series        Parquet: the union of all its versions (schemas merged); a single-version
                   series is its stored chunk
symlink            a relative host symlink to the same pond path
dynamic nodes      not mirrored (computed on read; listed in ``MirrorReport.skipped``)
=================  ===========================================================================

A sync is two steps. :func:`plan_sync` compares the pond's tree with the mirror's state and the
host files and returns a :class:`SyncPlan`: what to write, delete or only record, and what was
changed by hand (a dry run prints it). :func:`apply_sync` carries it out. :func:`sync` does both.

The state (``<dir>/.duckpond-mirror.json``, a :class:`MirrorState`) records for every path the
mirror wrote a :class:`MirrorEntry`: the node and version it holds and what it left on the host
(size, mtime in ns, sha256). A sync rewrites only nodes whose version changed, deletes what the
pond no longer has, and never overwrites or deletes a file someone changed by hand: a file whose
size or mtime differs from its record is hashed; if its bytes are neither what the mirror wrote
nor the pond's current version it is reported in ``conflicts`` and left alone (every sync
reports it again until it is deleted by hand, after which the next sync rewrites it, or until
``rebuild``). A path the pond wants that holds something the mirror did not write is a conflict
too, unless its bytes are the pond's version. ``rebuild=True`` wipes the folder and writes
everything again; it refuses a folder that is neither empty nor a mirror.

Crash safety: while a sync changes the folder it appends each step to a journal
(``<dir>/.duckpond-mirror.journal``, JSON lines) before the step becomes visible: a file is
written to a temporary name (``.tmp-duckpond-*``), journaled with the bytes it holds and the
bytes the path held before, then renamed into place; a deletion is journaled after it is done.
A sync that finds a journal (the last one was killed) replays it over the state, removes the
temporary files, and carries on from there: a path that still holds its previous bytes is
rewritten, not taken for a hand edit; a killed ``rebuild`` is finished by the next sync. At the
end the state is saved (temporary file and rename) and the journal removed.

When the pond state a clean sync was written from (txn_seq and the data table's Delta version)
is unchanged, a sync only stats the recorded files instead of walking the pond.

The setting ``mirror.auto_sync`` names a folder :func:`duckpond.remote.after_commit` syncs after
every commit (:func:`set_auto_sync`).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import posixpath
import shutil
import stat as statmod
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from duckpond import diagnostics, faults
from duckpond.errors import UsageError, os_error
from duckpond.units import format_bytes

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.model import NodeVersion

__all__ = [
    "AUTO_SYNC",
    "JOURNAL_FILE",
    "STATE_FILE",
    "Action",
    "Conflict",
    "EntryKind",
    "HostState",
    "MirrorEntry",
    "MirrorReport",
    "MirrorState",
    "Op",
    "SyncPlan",
    "apply_sync",
    "auto_sync_dir",
    "plan_sync",
    "set_auto_sync",
    "sync",
]

STATE_FILE: Final = ".duckpond-mirror.json"
JOURNAL_FILE: Final = ".duckpond-mirror.journal"
STATE_FORMAT: Final = "duckpond-mirror/1"
JOURNAL_FORMAT: Final = "duckpond-mirror-journal/1"
AUTO_SYNC: Final = "mirror.auto_sync"
#: Temporary files of a sync start with this (removed by the next sync if one was killed).
TMP_PREFIX: Final = ".tmp-duckpond-"
#: Names at the mirror's root that belong to the mirror itself.
_OWN: Final = frozenset({STATE_FILE, JOURNAL_FILE})

_log = diagnostics.get_logger("mirror")


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


class EntryKind(StrEnum):
    """What a mirror path is."""

    DIR = "dir"
    FILE = "file"
    SYMLINK = "symlink"


@dataclass(frozen=True, slots=True)
class MirrorEntry:
    """What the mirror wrote at one path.

    Attributes:
        kind: directory, file or symlink.
        node_id: the pond node.
        source: which pond version it holds: ``dir``, ``symlink:<target>`` or
            ``<file_type>:<versions>:<latest version>:<sha256>``.
        size, mtime_ns, sha256: a file's bytes as left on the host (bytes, ns, hex).
        target: a symlink's target.
        previous: while a sync that replaces this path has not finished: the sha256 (file) or
            target (symlink) the path held before, which it may still hold if that sync was
            killed.
    """

    kind: EntryKind
    node_id: str
    source: str
    size: int | None = None
    mtime_ns: int | None = None
    sha256: str | None = None
    target: str | None = None
    previous: str | None = None

    @property
    def content_id(self) -> str | None:
        """The sha256 of a file, the target of a symlink, ``None`` for a directory."""
        return self.sha256 if self.kind is EntryKind.FILE else self.target

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "node_id": self.node_id}
        out["source"] = self.source
        if self.size is not None:
            out["size"] = self.size
        if self.mtime_ns is not None:
            out["mtime_ns"] = self.mtime_ns
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        if self.target is not None:
            out["target"] = self.target
        if self.previous is not None:
            out["previous"] = self.previous
        return out

    @classmethod
    def from_json(cls, obj: object) -> MirrorEntry:
        """Parse a stored entry (once per path each sync: kept cheap).

        Raises:
            ValueError: not an entry.
        """
        if not isinstance(obj, dict):
            raise ValueError("an entry is not an object")
        get = obj.get
        kind = _KINDS.get(str(get("kind")))
        node_id, source = get("node_id"), get("source")
        size, mtime_ns = get("size"), get("mtime_ns")
        sha256, target, previous = get("sha256"), get("target"), get("previous")
        if (
            kind is None
            or type(node_id) is not str
            or type(source) is not str
            or type(size) not in _INT_OR_NONE
            or type(mtime_ns) not in _INT_OR_NONE
            or type(sha256) not in _STR_OR_NONE
            or type(target) not in _STR_OR_NONE
            or type(previous) not in _STR_OR_NONE
        ):
            raise ValueError(f"not a mirror entry: {obj!r:.200}")
        return cls(kind, node_id, source, size, mtime_ns, sha256, target, previous)


_KINDS: Final = {k.value: k for k in EntryKind}
_INT_OR_NONE: Final = (int, type(None))
_STR_OR_NONE: Final = (str, type(None))


@dataclass(frozen=True, slots=True)
class MirrorState:
    """A mirror folder's state: its saved state file with any unfinished sync's journal replayed.

    Attributes:
        pond_id: the pond it mirrors.
        stamp: the pond state the last sync read (``<txn_seq>:<data version>``).
        clean: the last sync ended with no conflict.
        skipped: pond paths not mirrored (dynamic nodes).
        entries: mirror path (relative, POSIX) -> :class:`MirrorEntry`.
        interrupted: a journal was found: the last sync was killed before it ended.
        rebuild_pending: that sync was a rebuild killed before its wipe was done.
    """

    pond_id: str
    stamp: str = ""
    clean: bool = False
    skipped: tuple[str, ...] = ()
    entries: Mapping[str, MirrorEntry] = field(default_factory=dict)
    interrupted: bool = False
    rebuild_pending: bool = False


class HostState(Enum):
    """What a recorded path holds on the host now."""

    SAME = "same"  # as recorded (size and mtime, or a symlink's target)
    TOUCHED = "touched"  # mtime moved, bytes as recorded
    CURRENT = "current"  # not as recorded, but the bytes of the pond's current version
    STALE = "stale"  # what the path held before a sync that was killed (the mirror's own)
    CHANGED = "changed"  # by hand
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class Conflict:
    """A mirror path left alone because it was changed by hand.

    Attributes:
        path: relative to the mirror folder, POSIX.
        reason: what was found and what was (not) done.
    """

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


# --------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------


def set_auto_sync(pond: Pond, host_dir: str | os.PathLike[str] | None) -> None:
    """Keep the mirror in ``host_dir`` in sync after every commit (``None`` turns it off)."""
    value = "" if host_dir is None else str(Path(host_dir).expanduser().resolve())
    pond.set_setting(AUTO_SYNC, value)


def auto_sync_dir(pond: Pond) -> Path | None:
    """The folder synced after every commit, if one is set."""
    value = pond.settings.get(AUTO_SYNC) or ""
    return Path(value) if value else None


# --------------------------------------------------------------------------------------------
# the pond side: what belongs in the mirror
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wanted:
    """What the pond has at a mirror path.

    Attributes:
        kind: directory, file or symlink.
        node_id: the node.
        source: as :attr:`MirrorEntry.source`.
        latest: a file's latest version; count: its number of versions (a series' union).
        target: a symlink's host target (relative to its folder).
    """

    kind: EntryKind
    node_id: str
    source: str
    latest: NodeVersion | None = None
    count: int = 1
    target: str | None = None

    @property
    def sha256(self) -> str | None:
        """The sha256 of the bytes the mirror writes, when known before writing (every file
        but a series of several versions, whose Parquet union is made on writing)."""
        if self.kind is not EntryKind.FILE or self.latest is None:
            return None
        if self.latest.file_type == "file:series" and self.count > 1:
            return None
        return self.latest.sha256

    @property
    def content_id(self) -> str | None:
        return self.sha256 if self.kind is EntryKind.FILE else self.target


def _desired(pond: Pond) -> tuple[dict[str, Wanted], list[str]]:
    """Every mirrored path of the pond's tree -> what belongs there; and the skipped paths.

    Built from one read of the oplog (latest version and version count per node, directory
    snapshots decoded once) rather than a walk through the filesystem API: a sync of a pond of
    10,000 files is dominated by this.
    """
    import pyarrow as pa

    from duckpond.tinyfs.model import ROOT_ID, FileType, NodeVersion, decode_directory

    table = pond.oplog().sort_by(
        [("part_id", "ascending"), ("node_id", "ascending"), ("version", "ascending")]
    )
    parts = table.column("part_id").to_pylist()
    nodes = table.column("node_id").to_pylist()
    latest: dict[tuple[str, str], int] = {}
    count: dict[tuple[str, str], int] = {}
    for i, key in enumerate(zip(parts, nodes, strict=True)):
        latest[key] = i
        count[key] = count.get(key, 0) + 1
    cols = {
        name: table.column(name)
        for name in ("file_type", "version", "txn_seq", "content", "sha256", "size", "factory")
    }
    stamps = table.column("timestamp").cast(pa.int64())

    def row(part_id: str, node_id: str, i: int) -> NodeVersion:
        return NodeVersion(
            part_id=part_id,
            node_id=node_id,
            file_type=cols["file_type"][i].as_py(),
            version=cols["version"][i].as_py(),
            txn_seq=cols["txn_seq"][i].as_py(),
            timestamp=stamps[i].as_py(),
            content=cols["content"][i].as_py(),
            sha256=cols["sha256"][i].as_py(),
            size=cols["size"][i].as_py(),
            factory=cols["factory"][i].as_py(),
        )

    want: dict[str, Wanted] = {}
    skipped: list[str] = []

    def visit(dir_id: str, prefix: str) -> None:
        i = latest.get((dir_id, dir_id))
        entries = decode_directory(cols["content"][i].as_py()) if i is not None else {}
        for name in sorted(entries):
            entry = entries[name]
            rel = prefix + name
            if (not prefix and name in _OWN) or name.startswith(TMP_PREFIX):
                skipped.append("/" + rel)
                continue
            if entry.file_type == FileType.DIR_PHYSICAL:
                want[rel] = Wanted(EntryKind.DIR, entry.node_id, "dir")
                visit(entry.node_id, rel + "/")
                continue
            home = entry.part_id or dir_id  # a moved file keeps its home partition
            j = latest.get((home, entry.node_id))
            if j is None or entry.file_type in (FileType.DIR_DYNAMIC, FileType.FILE_DYNAMIC):
                skipped.append("/" + rel)
                continue
            v = row(home, entry.node_id, j)
            if v.factory is not None:
                skipped.append("/" + rel)
            elif v.file_type == FileType.SYMLINK:
                target = _host_target(rel, (v.content or b"").decode("utf-8"))
                want[rel] = Wanted(EntryKind.SYMLINK, v.node_id, f"symlink:{target}", target=target)
            else:
                n = count[(home, entry.node_id)] if v.file_type == FileType.SERIES else 1
                source = f"{v.file_type}:{n}:{v.version}:{v.sha256}"
                want[rel] = Wanted(EntryKind.FILE, v.node_id, source, latest=v, count=n)

    visit(ROOT_ID, "")
    return want, skipped


def _host_target(rel: str, target: str) -> str:
    """A pond symlink target as a host symlink target relative to the link's folder."""
    link_dir = posixpath.dirname("/" + rel)
    absolute = posixpath.normpath(posixpath.join(link_dir, target))  # never above "/"
    return posixpath.relpath(absolute, link_dir)


def _pond_stamp(pond: Pond) -> str:
    """Names the pond state a sync reads: transaction and Delta version of the data table."""
    return f"{pond.txn_seq}:{pond.data_version}"


# --------------------------------------------------------------------------------------------
# the state file and the journal
# --------------------------------------------------------------------------------------------


def load_state(root: Path, *, rebuild: bool = False) -> MirrorState | None:
    """The mirror's state: the state file with any unfinished sync's journal replayed.

    Returns ``None`` when ``root`` holds neither (not a mirror, or not yet one).

    Raises:
        UsageError: the state file or the journal's header is unreadable (unless ``rebuild``,
            which takes the folder for a mirror whose state was lost).
    """
    try:
        state = _read_state_file(root)
        return _replay(root, state)
    except UsageError:
        if not rebuild:
            raise
        return MirrorState(pond_id="", interrupted=True, rebuild_pending=True)


def _read_state_file(root: Path) -> MirrorState | None:
    try:
        raw = (root / STATE_FILE).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        body = json.loads(raw)
        if not isinstance(body, dict) or body.get("format") != STATE_FORMAT:
            raise ValueError("unknown format")
        entries = body.get("entries") or {}
        if not isinstance(entries, dict) or not isinstance(body.get("pond_id"), str):
            raise ValueError("no pond_id or entries")
        return MirrorState(
            pond_id=body["pond_id"],
            stamp=str(body.get("stamp") or ""),
            clean=bool(body.get("clean")),
            skipped=tuple(str(s) for s in body.get("skipped") or ()),
            entries={str(k): MirrorEntry.from_json(v) for k, v in entries.items()},
        )
    except ValueError:
        raise UsageError(
            f"{STATE_FILE} is unreadable; run 'pond mirror sync --rebuild' to write the mirror "
            "again",
            str(root),
        ) from None


def _replay(root: Path, state: MirrorState | None) -> MirrorState | None:
    """Apply an unfinished sync's journal (if any) to ``state``."""
    try:
        raw = (root / JOURNAL_FILE).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return state
    lines = raw.split(b"\n")
    header = _json_object(lines[0])
    pond_id = header.get("pond_id") if header is not None else None
    if header is None or header.get("journal") != JOURNAL_FORMAT or not isinstance(pond_id, str):
        # killed while starting the journal (its header is one write): nothing was done yet
        return replace(state, clean=False, interrupted=True) if state is not None else None
    rebuilding = bool(header.get("rebuild"))
    entries = dict(state.entries) if state is not None else {}
    wiped = False
    for line in lines[1:]:
        op = _json_object(line)
        kind, path = (op.get("op"), op.get("path")) if op is not None else (None, None)
        if kind == "wiped":
            entries.clear()
            wiped = True
        elif kind == "del" and isinstance(path, str):
            entries.pop(path, None)
        elif kind == "set" and isinstance(path, str) and op is not None:
            try:
                entries[path] = MirrorEntry.from_json(op.get("entry"))
            except ValueError:
                break
        else:
            break  # the last line, cut by the kill: that step never happened
    return MirrorState(
        pond_id=pond_id,
        stamp="",
        clean=False,
        skipped=state.skipped if state is not None else (),
        entries=entries,
        interrupted=True,
        rebuild_pending=rebuilding and not wiped,
    )


def _json_object(line: bytes) -> dict[str, Any] | None:
    """A JSON object, or ``None`` for anything else (a line cut short by a kill)."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _Journal:
    """The append-only journal of the sync being applied (one JSON object per line)."""

    def __init__(self, root: Path, pond_id: str, *, rebuild: bool) -> None:
        self.path = root / JOURNAL_FILE
        header = {"journal": JOURNAL_FORMAT, "pond_id": pond_id, "rebuild": rebuild}
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self._write(header)

    def _write(self, obj: dict[str, Any]) -> None:
        os.write(self._fd, json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def wiped(self) -> None:
        self._write({"op": "wiped"})

    def set(self, rel: str, entry: MirrorEntry) -> None:
        self._write({"op": "set", "path": rel, "entry": entry.to_json()})

    def delete(self, rel: str) -> None:
        self._write({"op": "del", "path": rel})

    def close(self) -> None:
        os.close(self._fd)

    def finish(self) -> None:
        """The sync ended and its state is saved: the journal is no longer needed."""
        self.close()
        self.path.unlink(missing_ok=True)


def _save_state(root: Path, state: MirrorState) -> None:
    body = json.dumps(
        {
            "format": STATE_FORMAT,
            "pond_id": state.pond_id,
            "stamp": state.stamp,
            "clean": state.clean,
            "skipped": list(state.skipped),
            "entries": {k: state.entries[k].to_json() for k in sorted(state.entries)},
        },
        separators=(",", ":"),
    ).encode()
    atomic_write(root / STATE_FILE, lambda f: f.write(body))


# --------------------------------------------------------------------------------------------
# the host side
# --------------------------------------------------------------------------------------------


def _visible(root: Path) -> Iterator[Path]:
    for child in root.iterdir():
        if child.name not in _OWN and not child.name.startswith(TMP_PREFIX):
            yield child


def _host_state(root: Path, rel: str, entry: MirrorEntry, want: Wanted | None) -> HostState:
    """What ``rel`` holds compared with its record, the pond's current version (``want``) and
    the bytes it held before an unfinished sync."""
    path = f"{root}/{rel}"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return HostState.MISSING
    except NotADirectoryError:
        return HostState.CHANGED
    if entry.kind is EntryKind.DIR:
        return HostState.SAME if statmod.S_ISDIR(st.st_mode) else HostState.CHANGED
    if entry.kind is EntryKind.SYMLINK:
        if not statmod.S_ISLNK(st.st_mode):
            return HostState.CHANGED
        target = os.readlink(path)  # noqa: PTH115
        return _match(target, entry.target, _current(entry, want), entry.previous, touched=False)
    if not statmod.S_ISREG(st.st_mode):
        return HostState.CHANGED
    if st.st_size == entry.size and st.st_mtime_ns == entry.mtime_ns:
        return HostState.SAME
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return _match(digest, entry.sha256, _current(entry, want), entry.previous, touched=True)


def _current(entry: MirrorEntry, want: Wanted | None) -> str | None:
    """What the pond's current version at a path would leave there, if known."""
    return want.content_id if want is not None and want.kind is entry.kind else None


def _match(
    found: str, recorded: str | None, current: str | None, previous: str | None, *, touched: bool
) -> HostState:
    if found == recorded:
        return HostState.TOUCHED if touched else HostState.SAME
    if current is not None and found == current:
        return HostState.CURRENT
    if previous is not None and found == previous:
        return HostState.STALE
    return HostState.CHANGED


def _unrecorded_is_current(root: Path, rel: str, want: Wanted) -> bool:
    """Whether a path the mirror has no record of already holds the pond's version."""
    path = root / rel
    try:
        if want.kind is EntryKind.SYMLINK:
            return path.is_symlink() and os.readlink(path) == want.target  # noqa: PTH115
        if want.kind is EntryKind.FILE and want.sha256 is not None:
            st = path.lstat()
            assert want.latest is not None
            if not statmod.S_ISREG(st.st_mode) or st.st_size != want.latest.size:
                return False
            with open(path, "rb") as f:
                return hashlib.file_digest(f, "sha256").hexdigest() == want.sha256
    except OSError:
        return False
    return False


def _record_of(root: Path, rel: str, want: Wanted) -> MirrorEntry:
    """The entry for a path that already holds the pond's version (adopted, not written)."""
    entry = MirrorEntry(want.kind, want.node_id, want.source, target=want.target)
    if want.kind is EntryKind.FILE:
        st = (root / rel).lstat()
        entry = replace(entry, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=want.sha256)
    return entry


# --------------------------------------------------------------------------------------------
# plan
# --------------------------------------------------------------------------------------------


class Op(StrEnum):
    """What a sync does at one path."""

    WRITE = "write"  # write the pond's version (a file, symlink or directory)
    DELETE = "delete"  # remove what the mirror wrote (the pond no longer has it)
    RECORD = "record"  # the path already holds the pond's version: update its record only
    FORGET = "forget"  # drop the record of a path that is gone from both sides


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a sync.

    Attributes:
        op: what to do.
        path: relative to the mirror folder, POSIX.
        want: what the pond has there (WRITE).
        entry: the record the path has now (DELETE, WRITE over a path) or will have (RECORD).
    """

    op: Op
    path: str
    want: Wanted | None = None
    entry: MirrorEntry | None = None


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What a sync does; printable and testable, nothing done yet.

    Attributes:
        dir: the mirror folder.
        pond_id: the pond mirrored.
        stamp: the pond state it is written from.
        state: the mirror's state now (``None``: a new mirror).
        rebuild: wipe the folder first (asked for, or a killed rebuild to finish).
        actions: deletions first (deepest first), then writes and records (parents first).
        conflicts: paths changed by hand, left alone.
        unchanged: paths already up to date.
        skipped: pond paths not mirrored (dynamic nodes, names the mirror uses itself).
    """

    dir: Path
    pond_id: str
    stamp: str
    state: MirrorState | None
    rebuild: bool
    actions: tuple[Action, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    unchanged: int = 0
    skipped: tuple[str, ...] = ()

    def count(self, op: Op) -> int:
        return sum(1 for a in self.actions if a.op is op)

    def summary(self) -> str:
        """One line: what the sync would do."""
        line = (
            f"{self.dir}: would write {self.count(Op.WRITE)}, delete {self.count(Op.DELETE)}, "
            f"record {self.count(Op.RECORD)}; {self.unchanged} unchanged"
        )
        if self.conflicts:
            line += f", {len(self.conflicts)} changed by hand (left alone)"
        if self.rebuild:
            line += " (rebuild: the folder is wiped first)"
        if self.state is not None and self.state.interrupted:
            line += " (finishes a sync that was interrupted)"
        return line

    def lines(self) -> list[str]:
        """The summary, then one line per step and per conflict."""
        out = [self.summary()]
        for a in self.actions:
            if a.op is not Op.FORGET:
                size = ""
                if a.op is Op.WRITE and a.want is not None and a.want.latest is not None:
                    size = f"  {format_bytes(a.want.latest.size or 0)}"
                out.append(f"  {a.op.value:<7}{a.path}{size}")
        out.extend(f"  {'keep':<7}{c}" for c in self.conflicts)
        return out


def plan_sync(pond: Pond, host_dir: str | os.PathLike[str], *, rebuild: bool = False) -> SyncPlan:
    """Compare the pond's tree with the mirror in ``host_dir``; decide every step (reads only).

    Raises:
        UsageError: ``host_dir`` is a file, or a folder that is neither empty nor a mirror, or
            the mirror of another pond (unless ``rebuild``, which still refuses a folder that
            is not a mirror), or its state is unreadable (unless ``rebuild``).
    """
    root = Path(host_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise UsageError("the mirror path is not a folder", str(root))
    state = load_state(root, rebuild=rebuild)
    if state is None and root.is_dir() and any(_visible(root)):
        raise UsageError(
            "the folder is not empty and is not a DuckPond mirror (no "
            f"{STATE_FILE}): choose an empty or new folder",
            str(root),
        )
    pond_id = pond.pond_id
    if state is not None and state.rebuild_pending:
        rebuild = True
    if state is not None and state.pond_id != pond_id and not rebuild:
        raise UsageError(
            f"the folder mirrors another pond ({state.pond_id}); use --rebuild to replace it",
            str(root),
        )
    stamp = _pond_stamp(pond)
    if rebuild:
        want, skipped = _desired(pond)
        actions = tuple(Action(Op.WRITE, rel, want[rel]) for rel in sorted(want))
        return SyncPlan(root, pond_id, stamp, state, True, actions, skipped=tuple(skipped))
    entries = dict(state.entries) if state is not None else {}
    if state is not None and state.clean and state.stamp == stamp and not state.interrupted:
        fast = _plan_unchanged(root, state)
        if fast is not None:
            return SyncPlan(
                root,
                pond_id,
                stamp,
                state,
                False,
                fast,
                unchanged=len(entries),
                skipped=state.skipped,
            )
    want, skipped = _desired(pond)
    return _plan_changes(root, pond_id, stamp, state, entries, want, skipped)


def _plan_unchanged(root: Path, state: MirrorState) -> tuple[Action, ...] | None:
    """The pond is where the last clean sync left it (a committed state never changes): if no
    recorded path moved, nothing to do but refresh the records of touched files; else ``None``
    (walk the pond)."""
    records: list[Action] = []
    for rel, entry in state.entries.items():
        st = _host_state(root, rel, entry, None)
        if st is HostState.TOUCHED:
            records.append(Action(Op.RECORD, rel, None, _restat(root, rel, entry)))
        elif st is not HostState.SAME:
            return None
    return tuple(records)


def _restat(root: Path, rel: str, entry: MirrorEntry) -> MirrorEntry:
    st = (root / rel).lstat()
    return replace(entry, size=st.st_size, mtime_ns=st.st_mtime_ns, previous=None)


def _plan_changes(
    root: Path,
    pond_id: str,
    stamp: str,
    state: MirrorState | None,
    entries: dict[str, MirrorEntry],
    want: dict[str, Wanted],
    skipped: list[str],
) -> SyncPlan:
    actions: list[Action] = []
    conflicts: list[Conflict] = []
    unchanged = 0
    checked: dict[str, HostState] = {}

    def host(rel: str, entry: MirrorEntry) -> HostState:
        if rel not in checked:
            checked[rel] = _host_state(root, rel, entry, want.get(rel))
        return checked[rel]

    # 1. what the pond no longer has (or has as another kind): files first, deepest first
    gone = [rel for rel, e in entries.items() if rel not in want or want[rel].kind is not e.kind]
    gone.sort(key=lambda r: (entries[r].kind is EntryKind.DIR, -r.count("/"), r))
    held: set[str] = set()  # paths a hand edit keeps where the pond has nothing (or another kind)
    for rel in gone:
        entry = entries[rel]
        st = host(rel, entry)
        if st is HostState.MISSING:
            actions.append(Action(Op.FORGET, rel, None, entry))
        elif st is HostState.CHANGED:
            conflicts.append(
                Conflict(rel, "changed by hand; the pond no longer has it (left in place)")
            )
            held.add(rel)
        else:
            actions.append(Action(Op.DELETE, rel, None, entry))

    # 2. what is new or changed, parents before children
    blocked: list[str] = []
    for rel in sorted(want):
        w = want[rel]
        if rel in held or any(rel.startswith(b + "/") for b in blocked):
            if rel not in held:
                conflicts.append(Conflict(rel, "not written: a parent path is in conflict"))
            if w.kind is EntryKind.DIR:
                blocked.append(rel)
            continue
        prev = entries.get(rel)
        if prev is not None and prev.kind is not w.kind:
            prev = None  # deleted in step 1
        path = f"{root}/{rel}"
        if prev is None:
            if rel in entries:  # another kind, deleted in step 1: the path will be free
                actions.append(Action(Op.WRITE, rel, w))
                continue
            real_dir = os.path.isdir(path) and not os.path.islink(path)  # noqa: PTH112, PTH114
            if w.kind is EntryKind.DIR and real_dir:
                actions.append(Action(Op.RECORD, rel, w, _record_of(root, rel, w)))
                unchanged += 1
                continue
            if os.path.lexists(path):
                if _unrecorded_is_current(root, rel, w):
                    actions.append(Action(Op.RECORD, rel, w, _record_of(root, rel, w)))
                    unchanged += 1
                    continue
                conflicts.append(
                    Conflict(rel, "exists in the mirror but was not written by it (left alone)")
                )
                if w.kind is EntryKind.DIR:
                    blocked.append(rel)
                continue
            actions.append(Action(Op.WRITE, rel, w))
            continue
        st = host(rel, prev)
        if st is HostState.CHANGED:
            conflicts.append(Conflict(rel, "changed by hand (not overwritten)"))
            if w.kind is EntryKind.DIR:
                blocked.append(rel)
            continue
        if st is HostState.CURRENT:
            actions.append(Action(Op.RECORD, rel, w, _record_of(root, rel, w)))
            unchanged += 1
        elif st in (HostState.SAME, HostState.TOUCHED) and prev.source == w.source:
            if st is HostState.TOUCHED:
                actions.append(Action(Op.RECORD, rel, w, _restat(root, rel, prev)))
            unchanged += 1
        else:  # missing, stale, or the pond has a newer version
            actions.append(Action(Op.WRITE, rel, w, prev))
    return SyncPlan(
        root,
        pond_id,
        stamp,
        state,
        False,
        tuple(actions),
        tuple(conflicts),
        unchanged,
        tuple(skipped),
    )


# --------------------------------------------------------------------------------------------
# apply
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MirrorReport:
    """What :func:`sync` did. Paths are relative to the mirror folder, POSIX.

    Attributes:
        dir: the mirror folder.
        written: files, symlinks and directories (re)written.
        deleted: paths removed because the pond no longer has them.
        unchanged: paths already up to date.
        conflicts: paths changed by hand, left alone (see :class:`Conflict`).
        skipped: pond paths not mirrored (dynamic nodes, a name the mirror uses itself).
        bytes_written: bytes of file content written.
        rebuilt: whether the folder was wiped first.
        recovered: whether an interrupted sync was finished.
        seconds: wall time.
    """

    dir: str
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_written: int = 0
    rebuilt: bool = False
    recovered: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the ``pond mirror sync`` command (conflicts are listed apart)."""
        line = (
            f"{self.dir}: {len(self.written)} written, {len(self.deleted)} deleted, "
            f"{self.unchanged} unchanged"
        )
        if self.conflicts:
            line += f", {len(self.conflicts)} changed by hand (left alone)"
        if self.skipped:
            line += f", {len(self.skipped)} dynamic node(s) not mirrored"
        if self.recovered:
            line += " (finished an interrupted sync)"
        return line + (" (rebuilt)" if self.rebuilt else "")


def apply_sync(pond: Pond, plan: SyncPlan) -> MirrorReport:
    """Carry out ``plan``, journaling each step so that a killed sync is finished by the next.

    Raises:
        PondError: a host write failed (HostError for a full disk, ReadOnly for a permission):
            what was done so far is journaled and the next sync carries on.
    """
    started = time.perf_counter()
    root = plan.dir
    state = plan.state
    recovered = state is not None and state.interrupted
    entries: dict[str, MirrorEntry] = {} if plan.rebuild else dict(state.entries if state else {})
    written: list[str] = []
    deleted: list[str] = []
    conflicts = list(plan.conflicts)
    bytes_written = 0
    if not plan.actions and not recovered and not plan.rebuild:
        # nothing to write: at most the state's stamp and flags change
        if state is None or (state.stamp, state.clean, state.skipped) != (
            plan.stamp,
            not conflicts,
            plan.skipped,
        ):
            try:
                root.mkdir(parents=True, exist_ok=True)
                _sweep(root, None)
                _save_state(root, _final_state(plan, entries, clean=not conflicts))
            except OSError as exc:
                raise os_error(exc, str(root), "writing the mirror") from exc
        return MirrorReport(
            str(root),
            unchanged=plan.unchanged,
            conflicts=conflicts,
            skipped=list(plan.skipped),
            seconds=time.perf_counter() - started,
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        _sweep(root, state)
        if recovered and state is not None and not plan.rebuild:
            # fold the journal into the state file, so a new journal can start
            _save_state(root, replace(state, clean=False, stamp=""))
        journal = _Journal(root, plan.pond_id, rebuild=plan.rebuild)
    except OSError as exc:
        raise os_error(exc, str(root), "writing the mirror") from exc
    try:
        if plan.rebuild:
            _wipe(root)
            faults.point("mirror-after-wipe")
            journal.wiped()
        for action in plan.actions:
            rel = action.path
            if action.op is Op.FORGET:
                entries.pop(rel, None)
                journal.delete(rel)
            elif action.op is Op.RECORD:
                assert action.entry is not None
                entries[rel] = action.entry
                journal.set(rel, action.entry)
            elif action.op is Op.DELETE:
                assert action.entry is not None
                if _delete(root, rel, action.entry):
                    faults.point("mirror-after-delete")
                    entries.pop(rel, None)
                    journal.delete(rel)
                    deleted.append(rel)
                else:
                    conflicts.append(
                        Conflict(rel, "holds files that are not from the pond (left in place)")
                    )
            else:
                assert action.want is not None
                entry, n = _write(pond, root, rel, action.want, action.entry, journal)
                entries[rel] = entry
                written.append(rel)
                bytes_written += n
        faults.point("mirror-before-state")
        _save_state(root, _final_state(plan, entries, clean=not conflicts))
    except OSError as exc:
        journal.close()
        raise os_error(exc, str(root), "writing the mirror") from exc
    except BaseException:
        journal.close()
        raise
    journal.finish()
    report = MirrorReport(
        dir=str(root),
        written=written,
        deleted=deleted,
        unchanged=plan.unchanged,
        conflicts=conflicts,
        skipped=list(plan.skipped),
        bytes_written=bytes_written,
        rebuilt=plan.rebuild,
        recovered=recovered,
        seconds=time.perf_counter() - started,
    )
    _log.info(
        "mirror %s: %d written, %d deleted, %d unchanged, %d conflicts, %.2f s",
        root,
        len(written),
        len(deleted),
        plan.unchanged,
        len(conflicts),
        report.seconds,
    )
    return report


def _final_state(plan: SyncPlan, entries: dict[str, MirrorEntry], *, clean: bool) -> MirrorState:
    return MirrorState(
        pond_id=plan.pond_id,
        stamp=plan.stamp,
        clean=clean,
        skipped=plan.skipped,
        entries={
            k: e if e.previous is None else replace(e, previous=None) for k, e in entries.items()
        },
    )


def sync(pond: Pond, host_dir: str | os.PathLike[str], *, rebuild: bool = False) -> MirrorReport:
    """Bring the mirror in ``host_dir`` up to the pond's current tree (:func:`plan_sync`, then
    :func:`apply_sync`).

    Args:
        pond: the pond (as of ``at_txn`` if it was opened so).
        host_dir: the mirror folder; created if missing.
        rebuild: wipe the folder (hand-made files included) and write everything again.

    Returns:
        What was written, deleted, left alone.

    Raises:
        UsageError: ``host_dir`` is not empty and not a mirror, or the mirror of another pond
            (unless ``rebuild``, which still refuses a folder that is not a mirror).
        PondError: a host write failed (what was done so far is journaled).
    """
    return apply_sync(pond, plan_sync(pond, host_dir, rebuild=rebuild))


def _sweep(root: Path, state: MirrorState | None) -> None:
    """Remove the temporary files a killed sync left: at the root always, in every recorded
    folder after an interrupted sync."""
    folders = [root]
    if state is not None and state.interrupted:
        folders += [root / rel for rel, e in state.entries.items() if e.kind is EntryKind.DIR]
    for folder in folders:
        try:
            children = list(folder.iterdir())
        except OSError:
            continue
        for child in children:
            if child.name.startswith(TMP_PREFIX):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    child.unlink()


def _wipe(root: Path) -> None:
    """Remove everything in the folder but the mirror's own state and journal."""
    for child in root.iterdir():
        if child.name in _OWN:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _delete(root: Path, rel: str, entry: MirrorEntry) -> bool:
    """Remove what the mirror wrote at ``rel``; ``False`` if a folder holds other files."""
    path = root / rel
    try:
        if entry.kind is EntryKind.DIR:
            path.rmdir()
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        if entry.kind is EntryKind.DIR and path.is_dir():
            return False
        raise
    return True


_tmp_counter = itertools.count()

# The functions below run once per mirrored file (10,000s per sync): they use string paths and
# os calls rather than pathlib, whose parsing cost shows at that count.


def _tmp_name(folder: str) -> str:
    return f"{folder}/{TMP_PREFIX}{os.getpid()}-{next(_tmp_counter)}"


def atomic_write(path: Path, fill: Callable[[IO[bytes]], Any]) -> os.stat_result:
    """Write ``path`` through a temporary file in the same folder, then rename; its stat."""
    tmp, st = _write_tmp(str(path.parent), fill)
    try:
        os.replace(tmp, path)  # noqa: PTH105
    except BaseException:
        _unlink(tmp)
        raise
    return st


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # noqa: PTH108


def _write_tmp(folder: str, fill: Callable[[IO[bytes]], Any]) -> tuple[str, os.stat_result]:
    """A new temporary file in ``folder`` filled by ``fill`` (removed if that fails); its path
    and stat."""
    tmp = _tmp_name(folder)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileExistsError:  # left by a killed process that had our pid
        _unlink(tmp)
        fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            st = os.fstat(f.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp, st


def _write(
    pond: Pond,
    root: Path,
    rel: str,
    want: Wanted,
    prev: MirrorEntry | None,
    journal: _Journal,
) -> tuple[MirrorEntry, int]:
    """Write one path: the temporary file, then the journal line, then the rename.

    Returns (its record, content bytes written).
    """
    path = f"{root}/{rel}"
    previous = prev.content_id if prev is not None and prev.kind is want.kind else None
    if want.kind is EntryKind.DIR:
        os.makedirs(path, exist_ok=True)  # noqa: PTH103
        entry = MirrorEntry(want.kind, want.node_id, want.source)
        journal.set(rel, entry)
        faults.point("mirror-after-write")
        return entry, 0
    parent = os.path.dirname(path)  # noqa: PTH120
    if not os.path.isdir(parent):  # noqa: PTH112
        os.makedirs(parent, exist_ok=True)  # noqa: PTH103
    if want.kind is EntryKind.SYMLINK:
        assert want.target is not None
        tmp = _tmp_name(parent)
        _unlink(tmp)
        os.symlink(want.target, tmp)  # noqa: PTH211
        entry = MirrorEntry(
            want.kind, want.node_id, want.source, target=want.target, previous=previous
        )
        size = 0
    else:
        tmp, sha, st = _write_file(pond, parent, rel, want)
        size = st.st_size
        entry = MirrorEntry(
            want.kind, want.node_id, want.source, size, st.st_mtime_ns, sha, None, previous
        )
    faults.point("mirror-tmp-written")
    try:
        journal.set(rel, entry)
        faults.point("mirror-before-rename")
        os.replace(tmp, path)  # noqa: PTH105
    except BaseException:
        _unlink(tmp)
        raise
    faults.point("mirror-after-write")
    _log.debug("mirror wrote %s (%d bytes)", rel, size)
    return entry, size


def _write_file(pond: Pond, folder: str, rel: str, want: Wanted) -> tuple[str, str, os.stat_result]:
    """A temporary file holding a file node's mirror content; (its path, sha256, stat)."""
    latest = want.latest
    assert latest is not None
    if latest.file_type == "file:series" and want.count > 1:
        import pyarrow.parquet as pq

        schema, batches = pond.root().resolve("/" + rel, follow=False).iter_batches()
        sha = hashlib.sha256()

        def fill(f: IO[bytes]) -> None:
            sink = _HashingWriter(f, sha)
            with pq.ParquetWriter(sink, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)

        tmp, st = _write_tmp(folder, fill)
        return tmp, sha.hexdigest(), st

    def copy(f: IO[bytes]) -> None:
        # the persistence checks the stored bytes against the version's sha256 as it reads
        with pond.fs.persistence.open_blob(latest) as src:
            shutil.copyfileobj(src, f, 1 << 20)

    tmp, st = _write_tmp(folder, copy)
    assert latest.sha256 is not None
    return tmp, latest.sha256, st


class _HashingWriter:
    """A binary file-like that hashes what goes through it (for pyarrow's ParquetWriter)."""

    def __init__(self, f: IO[bytes], h: Any) -> None:
        self._f = f
        self._h = h
        self.closed = False

    def write(self, data: Any) -> int:
        b = bytes(data)
        self._h.update(b)
        return int(self._f.write(b))

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self.closed = True

    def tell(self) -> int:
        return int(self._f.tell())

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False
