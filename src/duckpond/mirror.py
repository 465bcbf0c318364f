"""The mirror: the pond's current tree as plain files in a host folder (DESIGN.md, "Backup,
restore, mirror"; seeds: "Local-first copy").

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

:func:`sync` is incremental. ``<dir>/.duckpond-mirror.json`` records, for every path it wrote,
the node, the version it wrote (count, latest version and sha256) and what it left on the host
(size, mtime in ns and sha256 of the bytes). A sync rewrites only nodes whose version changed,
deletes what the pond no longer has, and never overwrites or deletes a file someone changed by
hand: a file whose size or mtime differs from the record is hashed, and if the hash differs it is
reported in ``conflicts`` and left alone (every sync reports it again until it is deleted by hand,
after which the next sync rewrites it, or until ``rebuild``). A path the pond wants that already
holds something the mirror did not write is a conflict too. ``rebuild=True`` wipes the folder and
writes everything again; it refuses a folder that is neither empty nor a mirror.

The state file also names the pond state the mirror was written from (txn_seq and the data
table's Delta version): when it is unchanged since a sync that found no conflict, a sync only
stats the recorded files (a committed pond state never changes) instead of walking the pond.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from duckpond import diagnostics
from duckpond.errors import PondError, UsageError

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.model import NodeVersion

__all__ = [
    "AUTO_SYNC",
    "STATE_FILE",
    "Conflict",
    "MirrorReport",
    "auto_sync_dir",
    "set_auto_sync",
    "sync",
]

STATE_FILE: Final = ".duckpond-mirror.json"
STATE_FORMAT: Final = "duckpond-mirror/1"
AUTO_SYNC: Final = "mirror.auto_sync"
_TMP: Final = ".tmp-duckpond-"

_log = diagnostics.get_logger("mirror")


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


@dataclass(frozen=True, slots=True)
class MirrorReport:
    """What :func:`sync` did. Paths are relative to the mirror folder, POSIX.

    Attributes:
        dir: the mirror folder.
        written: files, symlinks and directories (re)written.
        deleted: paths removed because the pond no longer has them.
        unchanged: paths already up to date.
        conflicts: paths changed by hand, left alone (see :class:`Conflict`).
        skipped: pond paths not mirrored (dynamic nodes, a name the state file uses).
        bytes_written: bytes of file content written.
        rebuilt: whether the folder was wiped first.
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
        return line + (" (rebuilt)" if self.rebuilt else "")


@dataclass(frozen=True, slots=True)
class _Want:
    """What the pond has at a path: kind (file, dir, symlink), the version key, and for a file
    its latest version and how many versions it has."""

    kind: str
    node_id: str
    source: str
    latest: NodeVersion | None = None
    count: int = 1
    target: str | None = None


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
# sync
# --------------------------------------------------------------------------------------------


def sync(pond: Pond, host_dir: str | os.PathLike[str], *, rebuild: bool = False) -> MirrorReport:
    """Bring the mirror in ``host_dir`` up to the pond's current tree.

    Args:
        pond: the pond (as of ``at_txn`` if it was opened so).
        host_dir: the mirror folder; created if missing.
        rebuild: wipe the folder (hand-made files included) and write everything again.

    Returns:
        What was written, deleted, left alone.

    Raises:
        UsageError: ``host_dir`` is not empty and not a mirror, or the mirror of another pond
            (unless ``rebuild``, which still refuses a folder that is not a mirror).
        PondError: a host write failed (what was done so far is recorded).
    """
    started = time.perf_counter()
    root = Path(host_dir).expanduser()
    state = _load_state(root)
    if root.exists() and not root.is_dir():
        raise UsageError("the mirror path is not a folder", str(root))
    if state is None and root.is_dir() and any(_visible(root)):
        raise UsageError(
            "the folder is not empty and is not a DuckPond mirror (no "
            f"{STATE_FILE}): choose an empty or new folder",
            str(root),
        )
    pond_id = pond.pond_id
    if state is not None and state.get("pond_id") != pond_id and not rebuild:
        raise UsageError(
            f"the folder mirrors another pond ({state.get('pond_id')}); use rebuild to replace it",
            str(root),
        )
    if rebuild and root.is_dir():
        _wipe(root)
        state = None
    root.mkdir(parents=True, exist_ok=True)
    old: dict[str, dict[str, Any]] = dict((state or {}).get("entries") or {})
    stamp = _pond_stamp(pond)
    checked: dict[str, str] = {}

    def host_state(rel: str, entry: dict[str, Any]) -> str:
        if rel not in checked:
            checked[rel] = _host_state(root, rel, entry)
        return checked[rel]

    if state is not None and state.get("stamp") == stamp and state.get("clean"):
        # The pond is where the last (clean) sync left it: if no host file moved, done. A
        # committed state of the pond never changes, so the tree need not be walked again.
        states = [host_state(rel, e) for rel, e in old.items()]
        if all(st in {"same", "touched"} for st in states):
            if "touched" in states:
                for rel, st in zip(list(old), states, strict=True):
                    if st == "touched":
                        old[rel] = {**old[rel], **_stat_record(root / rel)}
                _save_state(root, pond_id, stamp, old, clean=True)
            return MirrorReport(
                dir=str(root),
                unchanged=len(old),
                skipped=list(state.get("skipped") or []),
                seconds=time.perf_counter() - started,
            )

    want, skipped = _desired(pond)
    written: list[str] = []
    deleted: list[str] = []
    conflicts: list[Conflict] = []
    new: dict[str, dict[str, Any]] = {}
    unchanged = 0
    bytes_written = 0

    try:
        # 1. remove what the pond no longer has (or has as another kind): files first, deepest
        #    first, then directories
        gone = [rel for rel, e in old.items() if rel not in want or want[rel].kind != e.get("kind")]
        gone.sort(key=lambda r: (old[r].get("kind") == "dir", -r.count("/"), r))
        for rel in gone:
            entry = old.pop(rel)
            st = host_state(rel, entry)
            if st == "missing":
                continue
            if st == "changed":
                conflicts.append(
                    Conflict(rel, "changed by hand; the pond no longer has it (left in place)")
                )
                new[rel] = entry
                continue
            path = root / rel
            if entry.get("kind") == "dir":
                try:
                    path.rmdir()
                except OSError:
                    conflicts.append(
                        Conflict(rel, "holds files that are not from the pond (left in place)")
                    )
                    new[rel] = entry
                    continue
            else:
                path.unlink()
            deleted.append(rel)

        # 2. write what is new or changed, parents before children
        blocked: list[str] = []
        for rel in sorted(want):
            w = want[rel]
            if any(rel.startswith(b + "/") for b in blocked):
                conflicts.append(Conflict(rel, "not written: a parent path is in conflict"))
                continue
            prev = old.get(rel)
            path = root / rel
            if prev is None:
                if w.kind == "dir" and path.is_dir() and not path.is_symlink():
                    new[rel] = {"kind": "dir", "node_id": w.node_id, "source": w.source}
                    unchanged += 1
                    continue
                if os.path.lexists(path):
                    conflicts.append(
                        Conflict(rel, "exists in the mirror but was not written by it (left alone)")
                    )
                    if w.kind == "dir":
                        blocked.append(rel)
                    continue
            else:
                st = host_state(rel, prev)
                if st == "changed":
                    conflicts.append(Conflict(rel, "changed by hand (not overwritten)"))
                    new[rel] = prev
                    if w.kind == "dir":
                        blocked.append(rel)
                    continue
                if st != "missing" and prev.get("source") == w.source:
                    new[rel] = {**prev, **_stat_record(path)} if st == "touched" else prev
                    unchanged += 1
                    continue
            record, n = _write(pond, root, rel, w)
            new[rel] = record
            written.append(rel)
            bytes_written += n
    finally:
        # keep the record of everything left as it was, then save whatever was done
        for rel, entry in old.items():
            if rel not in new:
                new[rel] = entry
        _save_state(root, pond_id, stamp, new, clean=not conflicts, skipped=skipped)
    report = MirrorReport(
        dir=str(root),
        written=written,
        deleted=deleted,
        unchanged=unchanged,
        conflicts=conflicts,
        skipped=skipped,
        bytes_written=bytes_written,
        rebuilt=rebuild,
        seconds=time.perf_counter() - started,
    )
    _log.info(
        "mirror %s: %d written, %d deleted, %d unchanged, %d conflicts, %.2f s",
        root,
        len(written),
        len(deleted),
        unchanged,
        len(conflicts),
        report.seconds,
    )
    return report


# --------------------------------------------------------------------------------------------
# the pond side
# --------------------------------------------------------------------------------------------


def _desired(pond: Pond) -> tuple[dict[str, _Want], list[str]]:
    """Every mirrored path of the pond's tree -> what belongs there; and the skipped paths.

    Built from one read of the oplog (latest version and version count per node, directory
    snapshots decoded once) rather than a walk through the filesystem API: a sync of a pond of
    10,000 files is dominated by this.
    """
    import pyarrow as pa

    from duckpond.tinyfs.model import ROOT_ID, NodeVersion, decode_directory

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

    want: dict[str, _Want] = {}
    skipped: list[str] = []

    def visit(dir_id: str, prefix: str) -> None:
        i = latest.get((dir_id, dir_id))
        entries = decode_directory(cols["content"][i].as_py()) if i is not None else {}
        for name in sorted(entries):
            entry = entries[name]
            rel = prefix + name
            if rel == STATE_FILE or name.startswith(_TMP):
                skipped.append("/" + rel)
                continue
            if entry.file_type == "dir:physical":
                want[rel] = _Want("dir", entry.node_id, "dir")
                visit(entry.node_id, rel + "/")
                continue
            j = latest.get((dir_id, entry.node_id))
            if j is None or entry.file_type in {"dir:dynamic", "file:dynamic"}:
                skipped.append("/" + rel)
                continue
            v = row(dir_id, entry.node_id, j)
            if v.factory is not None:
                skipped.append("/" + rel)
            elif v.file_type == "symlink":
                target = _host_target(rel, (v.content or b"").decode("utf-8"))
                want[rel] = _Want("symlink", v.node_id, f"symlink:{target}", target=target)
            else:
                n = count[(dir_id, entry.node_id)] if v.file_type == "file:series" else 1
                source = f"{v.file_type}:{n}:{v.version}:{v.sha256}"
                want[rel] = _Want("file", v.node_id, source, latest=v, count=n)

    visit(ROOT_ID, "")
    return want, skipped


def _host_target(rel: str, target: str) -> str:
    """A pond symlink target as a host symlink target relative to the link's folder."""
    link_dir = posixpath.dirname("/" + rel)
    absolute = posixpath.normpath(posixpath.join(link_dir, target))  # never above "/"
    return posixpath.relpath(absolute, link_dir)


# --------------------------------------------------------------------------------------------
# the host side
# --------------------------------------------------------------------------------------------


def _visible(root: Path) -> Iterator[Path]:
    for child in root.iterdir():
        if child.name != STATE_FILE and not child.name.startswith(_TMP):
            yield child


def _load_state(root: Path) -> dict[str, Any] | None:
    try:
        raw = (root / STATE_FILE).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        state = json.loads(raw)
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ValueError("unknown format")
    except ValueError:
        raise UsageError(
            f"{STATE_FILE} is unreadable; rebuild the mirror into an empty folder", str(root)
        ) from None
    return state


def _pond_stamp(pond: Pond) -> str:
    """Names the pond state a sync reads: transaction and Delta version of the data table."""
    return f"{pond.txn_seq}:{pond.data_version}"


def _save_state(
    root: Path,
    pond_id: str,
    stamp: str,
    entries: dict[str, Any],
    *,
    clean: bool,
    skipped: list[str] | None = None,
) -> None:
    body = json.dumps(
        {
            "format": STATE_FORMAT,
            "pond_id": pond_id,
            "stamp": stamp,
            "clean": clean,
            "skipped": skipped or [],
            "entries": dict(sorted(entries.items())),
        },
        separators=(",", ":"),
    ).encode()
    _atomic_write(root / STATE_FILE, lambda f: f.write(body))


def _wipe(root: Path) -> None:
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _stat_record(path: Path) -> dict[str, int]:
    st = path.lstat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _host_state(root: Path, rel: str, entry: dict[str, Any]) -> str:
    """same, touched (mtime moved, content same), changed (by hand) or missing."""
    path = f"{root}/{rel}"
    kind = entry.get("kind")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:
        return "changed"

    if kind == "dir":
        return "same" if statmod.S_ISDIR(st.st_mode) else "changed"
    if kind == "symlink":
        if not statmod.S_ISLNK(st.st_mode):
            return "changed"
        return "same" if os.readlink(path) == entry.get("target") else "changed"  # noqa: PTH115
    if not statmod.S_ISREG(st.st_mode):
        return "changed"
    if st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime_ns"):
        return "same"
    if st.st_size != entry.get("size"):
        return "changed"
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return "touched" if digest == entry.get("sha256") else "changed"


_tmp_counter = itertools.count()


def _atomic_write(path: Path, fill: Any) -> os.stat_result:
    """Write through a temporary file in the same folder, then rename; returns its stat."""
    target = str(path)
    tmp = f"{os.path.dirname(target)}/{_TMP}{os.getpid()}-{next(_tmp_counter)}"  # noqa: PTH120
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileExistsError:  # left by a crashed process that had our pid
        os.unlink(tmp)  # noqa: PTH108
        fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            st = os.fstat(f.fileno())
        os.replace(tmp, target)  # noqa: PTH105
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # noqa: PTH108
        raise
    return st


def _write(pond: Pond, root: Path, rel: str, w: _Want) -> tuple[dict[str, Any], int]:
    """Write one path; returns (its state record, content bytes written)."""
    path = root / rel
    record: dict[str, Any] = {"kind": w.kind, "node_id": w.node_id, "source": w.source}
    try:
        if w.kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
            return record, 0
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
        if w.kind == "symlink":
            assert w.target is not None
            tmp = path.parent / f"{_TMP}{os.getpid()}-{next(_tmp_counter)}"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(w.target)
            tmp.replace(path)
            record["target"] = w.target
            return record, 0
        sha, st = _write_file(pond, path, rel, w)
    except PondError:
        raise
    except OSError as exc:
        raise PondError(f"writing the mirror failed: {exc.strerror or exc}", str(path)) from exc
    record["size"] = st.st_size
    record["mtime_ns"] = st.st_mtime_ns
    record["sha256"] = sha
    return record, st.st_size


def _write_file(pond: Pond, path: Path, rel: str, w: _Want) -> tuple[str, os.stat_result]:
    """Write a file node's mirror content; returns (sha256 of what was written, its stat)."""
    latest = w.latest
    assert latest is not None
    if latest.file_type == "file:series" and w.count > 1:
        import pyarrow.parquet as pq

        schema, batches = pond.root().resolve("/" + rel, follow=False).iter_batches()
        sha = hashlib.sha256()

        def fill(f: Any) -> None:
            sink = _HashingWriter(f, sha)
            with pq.ParquetWriter(sink, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)

        st = _atomic_write(path, fill)
        return sha.hexdigest(), st

    def copy(f: Any) -> None:
        # the persistence checks the stored bytes against the version's sha256 as it reads
        with pond.fs.persistence.open_blob(latest) as src:
            shutil.copyfileobj(src, f, 1 << 20)

    st = _atomic_write(path, copy)
    assert latest.sha256 is not None
    return latest.sha256, st


class _HashingWriter:
    """A binary file-like that hashes what goes through it (for pyarrow's ParquetWriter)."""

    def __init__(self, f: Any, h: Any) -> None:
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
