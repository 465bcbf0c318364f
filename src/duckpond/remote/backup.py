"""Push a pond to a remote, verify the remote against it, restore a pond from it.

Layout of a backup (``<root>`` is ``s3://bucket/prefix`` or ``file:///dir``)::

    <root>/pond.json                     {"format", "pond_id", ...}: whose backup this is
    <root>/data/...                      $POND/data as is: a standard Delta table, whose
    <root>/data/_large_files/sha256=...  large files sit where the pond keeps them
    <root>/control/...                   $POND/control as is (write.lock excluded)
    <root>/_duckpond/manifests/<id>.json one per push: size, sha256 and the remote's
                                         fingerprint (ETag) of every object it sent

Delta data files, checkpoints and large files are immutable, so a push only sends the keys the
remote lacks (compared by listing). It sends them in an order that keeps the remote readable at
every moment: Parquet data files, then large files, then the ``_delta_log`` entries of the data
table and then of the control table, each in version order (a checkpoint before the commit of
its version) and one at a time, and ``_last_checkpoint`` last of all. A push cut short
(network down, server killed) therefore leaves a remote whose Delta tables are whole at some
older version (or, during the very first push, no table yet, which restore refuses); the next
push checks what did arrive and sends the rest.

The local side is listed while holding the pond's write lock (milliseconds), so the listing is a
state between two transactions: the control table never names a data commit the listing lacks.
Nothing is ever deleted from the remote (except manifests merged into a newer one), so files the
pond has vacuumed stay there and older versions stay restorable.

:func:`verify` is cheap: it lists the remote, reads the manifests and hashes the local files; an
object whose fingerprint (ETag, or size and mtime for a folder) is the one recorded at push still
holds what was pushed. ``deep=True`` downloads and hashes everything instead.

:func:`restore` downloads everything, checks each object against the manifest, opens the result
and checks every file version's sha256 (inline content and large files); on any mismatch it
removes what it wrote and raises :class:`~duckpond.errors.IntegrityError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from duckpond import diagnostics
from duckpond.errors import (
    AlreadyExists,
    IntegrityError,
    NotFound,
    PondError,
    PondLocked,
    RemoteError,
)
from duckpond.remote.config import resolve_remote
from duckpond.remote.store import ObjectInfo, Remote, open_remote

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond

__all__ = [
    "MANIFEST_DIR",
    "POND_JSON",
    "LocalObject",
    "PondMismatch",
    "PushReport",
    "RestoreReport",
    "VerifyReport",
    "check_file_versions",
    "human_bytes",
    "local_objects",
    "push",
    "restore",
    "verify",
]

POND_JSON: Final = "pond.json"
MANIFEST_DIR: Final = "_duckpond/manifests/"
BACKUP_FORMAT: Final = "duckpond-backup/1"
MANIFEST_FORMAT: Final = "duckpond-manifest/1"
TABLES: Final = ("data", "control")
#: More manifests than this and a push merges them into one.
MAX_MANIFESTS: Final = 32
_VERSIONED: Final = re.compile(r"^(\d{20})\.(.+)$")
_CHUNK: Final = 1 << 20

#: Called after each object is sent or fetched: (key, bytes).
Progress = Callable[[str, int], None]

_log = diagnostics.get_logger("remote")
T = TypeVar("T")


class PondMismatch(AlreadyExists):
    """The remote holds the backup of another pond, or something that is not a backup."""


# --------------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushReport:
    """What :func:`push` did.

    Attributes:
        url: the remote.
        objects_sent: pond objects uploaded (``len(sent)``).
        bytes_sent: every byte uploaded, manifest and ``pond.json`` included.
        skipped: pond objects the remote already had.
        sent: keys uploaded, in upload order (pond objects only).
        repaired: keys among ``sent`` the remote had with other content (re-sent).
        vanished: keys the pond removed (vacuum) between listing and upload.
        overhead_bytes: bytes of ``pond.json`` and the manifest(s) within ``bytes_sent``.
        manifest: key of the manifest written (``None`` if nothing changed).
        seconds: wall time.
    """

    url: str
    objects_sent: int
    bytes_sent: int
    skipped: int
    sent: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    overhead_bytes: int = 0
    manifest: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the ``pond backup push`` command."""
        if not self.objects_sent:
            return f"{self.url}: up to date ({self.skipped} objects)"
        line = (
            f"{self.url}: sent {self.objects_sent} objects ({human_bytes(self.bytes_sent)}), "
            f"{self.skipped} already there, {self.seconds:.1f} s"
        )
        if self.repaired:
            line += f"; replaced {len(self.repaired)} that differed from the pond"
        return line


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :func:`verify` found. ``ok`` when there are no problems.

    Attributes:
        url: the remote.
        checked: pond objects compared with their remote copy.
        problems: one line each: lost (pushed, now missing), wrong size, content differs,
            the pond's own copy corrupt, unreadable manifest.
        unpushed: pond objects not on the remote yet (newer commits: run push). Not a problem.
        extra: remote objects the pond no longer has (vacuumed files): kept, harmless.
        deep: whether every object was downloaded and hashed.
    """

    url: str
    checked: int
    problems: list[str] = field(default_factory=list)
    unpushed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    deep: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line for the ``pond backup verify`` command (problems are listed apart)."""
        how = "downloaded and hashed" if self.deep else "checked"
        line = f"{self.url}: {self.checked} objects {how}, "
        line += f"{len(self.problems)} problem(s)" if self.problems else "no problems"
        if self.unpushed:
            line += f"; {len(self.unpushed)} not pushed yet (run pond backup push)"
        return line


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What :func:`restore` did.

    Attributes:
        url: the remote; dest: the new pond.
        pond_id: the restored pond's id; txn_seq: its last committed transaction.
        objects, bytes: downloaded.
        file_versions_checked: file versions whose sha256 was checked.
        pending: transactions begun with no end in the backup (a push was cut short between
            a data commit and its control record): ``pond recover`` settles them.
        seconds: wall time.
    """

    url: str
    dest: str
    pond_id: str
    txn_seq: int
    objects: int
    bytes: int
    file_versions_checked: int
    pending: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the ``pond restore`` command."""
        line = (
            f"restored pond {self.pond_id} as of transaction {self.txn_seq} into {self.dest}: "
            f"{self.objects} objects ({human_bytes(self.bytes)}), "
            f"{self.file_versions_checked} file versions checked, {self.seconds:.1f} s"
        )
        if self.pending:
            line += f"; {self.pending} transaction(s) pending: run pond recover"
        return line


def human_bytes(n: int) -> str:
    """``1.2 MB`` style (powers of 1000)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns


# --------------------------------------------------------------------------------------------
# the local side
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalObject:
    """A pond file to back up.

    Attributes:
        key: its key on the remote (= its path under ``$POND``, POSIX).
        path: the host file.
        size: bytes.
        phase: push order: 0 table data files, 1 large files, 2 data log, 3 control log,
            4 mutable log files (``_last_checkpoint``).
    """

    key: str
    path: Path
    size: int
    phase: int
    order: tuple[int, int, str] = (0, 0, "")

    @property
    def mutable(self) -> bool:
        return self.phase == 4


def _log_rank(name: str) -> tuple[int, int, str] | None:
    """(version, kind, name) of a versioned ``_delta_log`` entry; ``None`` if unversioned.

    A checkpoint goes before the commit of the same version: the pond may have cleaned up the
    commits before a checkpoint, and a reader that finds ``N.json`` with no earlier commits
    and no checkpoint cannot read the table, while a checkpoint alone is a whole state.
    """
    m = _VERSIONED.match(name)
    if not m:
        return None
    rest = m.group(2)
    kind = 0 if "checkpoint" in rest else 1 if rest == "json" else 2
    return int(m.group(1)), kind, name


def _skip(name: str) -> bool:
    return name.startswith((".", "_commit_")) or name.endswith(".tmp")


def local_objects(root: Path) -> list[LocalObject]:
    """Every file of the pond at ``root`` that a backup holds, in push order.

    The logs are listed first (control, then data), then the data files: a data file a listed
    commit refers to was written before that commit, so it is in the listing too.
    """
    logs: list[LocalObject] = []
    for phase, table in ((3, "control"), (2, "data")):
        log_dir = root / table / "_delta_log"
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(log_dir):
                if not entry.is_file() or _skip(entry.name):
                    continue
                rank = _log_rank(entry.name)
                key = f"{table}/_delta_log/{entry.name}"
                size = entry.stat().st_size
                if rank is None:
                    logs.append(LocalObject(key, Path(entry.path), size, 4, (phase, 0, key)))
                else:
                    logs.append(LocalObject(key, Path(entry.path), size, phase, rank))
    files: list[LocalObject] = []
    for table in TABLES:
        base = root / table
        for dirpath, dirnames, filenames in os.walk(base):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            if rel_dir == f"{table}":
                dirnames[:] = [d for d in dirnames if d != "_delta_log"]
            large = rel_dir == "data/_large_files"
            for name in filenames:
                if _skip(name) or (rel_dir == "control" and name == "write.lock"):
                    continue
                if large and not name.startswith("sha256="):
                    continue
                path = Path(dirpath) / name
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                key = f"{rel_dir}/{name}"
                files.append(LocalObject(key, path, size, 1 if large else 0, (0, 0, key)))
    everything = files + logs
    everything.sort(key=lambda o: (o.phase, o.order))
    return everything


@contextlib.contextmanager
def _between_transactions(root: Path, timeout: float) -> Iterator[None]:
    """Hold the pond's write lock (waiting up to ``timeout`` s) so no transaction is half done."""
    from duckpond.steward.lock import WriteLock

    lock = WriteLock(root / "control" / "write.lock")
    deadline = time.monotonic() + timeout
    while True:
        try:
            lock.acquire()
            break
        except PondLocked:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
        except PermissionError:  # a read-only pond: no writer can be active either
            yield
            return
    try:
        yield
    finally:
        lock.release()


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


PIN_PREFIX: Final = ".push-"


def _pin(
    root: Path, objects: list[LocalObject]
) -> tuple[Path | None, list[LocalObject], list[str]]:
    """Hard-link ``objects`` into a private folder of the pond, under the write lock.

    A Delta vacuum or log cleanup may delete a listed file before it is uploaded (the control
    table keeps no old files); a hard link keeps its bytes. Where links are impossible (another
    filesystem, a read-only pond) the originals are used.

    Returns:
        (the folder or ``None``, the objects with their pinned paths, keys already gone).
    """
    import dataclasses
    import uuid

    _remove_stale_pins(root)
    pin_dir = root / f"{PIN_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        pin_dir.mkdir()
    except OSError:
        return None, objects, []
    out: list[LocalObject] = []
    gone: list[str] = []
    for i, obj in enumerate(objects):
        link = pin_dir / str(i)
        try:
            os.link(obj.path, link)
        except FileNotFoundError:
            gone.append(obj.key)
        except OSError:
            out.append(obj)
        else:
            out.append(dataclasses.replace(obj, path=link))
    return pin_dir, out, gone


def _unpin(pin_dir: Path | None) -> None:
    if pin_dir is not None:
        shutil.rmtree(pin_dir, ignore_errors=True)


def _remove_stale_pins(root: Path) -> None:
    """Remove pin folders left by pushes whose process is gone."""
    for entry in root.glob(f"{PIN_PREFIX}*"):
        pid = entry.name[len(PIN_PREFIX) :].split("-", 1)[0]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


def _hash_file(path: Path) -> tuple[str, str]:
    """(sha256, md5) hex digests of a host file, in one read."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


# --------------------------------------------------------------------------------------------
# pond.json and manifests
# --------------------------------------------------------------------------------------------


def _read_pond_json(remote: Remote, listing: Mapping[str, ObjectInfo]) -> dict[str, Any] | None:
    if POND_JSON not in listing:
        return None
    raw = remote.get_bytes_or_none(POND_JSON)
    if raw is None:
        return None
    try:
        spec = json.loads(raw)
    except ValueError:
        raise PondMismatch(
            "pond.json is not valid JSON: not a DuckPond backup", remote.url
        ) from None
    if not isinstance(spec, dict) or "pond_id" not in spec:
        raise PondMismatch("pond.json names no pond_id: not a DuckPond backup", remote.url)
    return spec


def _claim(pond: Pond, remote: Remote, listing: Mapping[str, ObjectInfo]) -> int:
    """Check the remote belongs to this pond (or is empty and claim it); bytes written."""
    spec = _read_pond_json(remote, listing)
    if spec is not None:
        if spec["pond_id"] != pond.pond_id:
            raise PondMismatch(
                f"the remote holds the backup of another pond ({spec['pond_id']}); this pond is "
                f"{pond.pond_id}: use another prefix or folder",
                remote.url,
            )
        return 0
    if listing:
        raise PondMismatch(
            f"the remote is not empty and holds no {POND_JSON}: not a DuckPond backup; "
            "refusing to write into it",
            remote.url,
        )
    from duckpond.tinyfs.model import now_us

    body = json.dumps(
        {
            "format": BACKUP_FORMAT,
            "pond_id": pond.pond_id,
            "format_version": pond.settings.get("format_version"),
            "created_us": now_us(),
        },
        indent=1,
    ).encode()
    remote.put_bytes(POND_JSON, body)
    return len(body)


@dataclass(slots=True)
class _Manifests:
    keys: list[str]
    entries: dict[str, dict[str, Any]]
    unreadable: list[str]


def _load_manifests(remote: Remote, listing: Mapping[str, ObjectInfo]) -> _Manifests:
    keys = sorted(k for k in listing if k.startswith(MANIFEST_DIR) and k.endswith(".json"))
    bodies = _map(remote.workers, keys, remote.get_bytes_or_none)
    entries: dict[str, dict[str, Any]] = {}
    unreadable: list[str] = []
    for key, raw in zip(keys, bodies, strict=True):
        try:
            objects = json.loads(raw or b"")["objects"]
            if not isinstance(objects, dict):
                raise TypeError("objects is not a mapping")
        except (ValueError, KeyError, TypeError):
            unreadable.append(key)
            continue
        entries.update(objects)  # later manifests win: a re-sent object has a new fingerprint
    return _Manifests(keys, entries, unreadable)


def _write_manifest(
    pond: Pond, remote: Remote, objects: Mapping[str, dict[str, Any]], *, merged: bool = False
) -> tuple[str, int]:
    from duckpond.tinyfs.model import new_node_id, now_us

    key = f"{MANIFEST_DIR}{new_node_id()}.json"
    body = json.dumps(
        {
            "format": MANIFEST_FORMAT,
            "pond_id": pond.pond_id,
            "created_us": now_us(),
            "txn_seq": pond.txn_seq,
            "merged": merged,
            "objects": dict(sorted(objects.items())),
        },
        separators=(",", ":"),
    ).encode()
    remote.put_bytes(key, body)
    return key, len(body)


# --------------------------------------------------------------------------------------------
# push
# --------------------------------------------------------------------------------------------


def push(
    pond: Pond,
    remote: Remote | str | None = None,
    *,
    options: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    lock_timeout: float = 60.0,
) -> PushReport:
    """Send the remote every pond object it lacks, in an order that keeps it readable.

    Args:
        pond: the pond to back up.
        remote: a :class:`Remote`, a configured remote's name, a URL, or ``None`` for the only
            (or the auto-push) configured remote.
        options: options for a URL given as ``remote``.
        progress: called as ``progress(key, bytes)`` after each object is sent.
        workers: concurrent uploads of data and large files (logs always go one at a time).
        lock_timeout: seconds to wait for a running transaction to end before listing.

    Returns:
        What was sent; ``objects_sent == 0`` when the remote was up to date.

    Raises:
        PondMismatch: the remote holds another pond's backup, or foreign objects.
        RemoteError: the store failed (what was sent stays; the next push sends the rest).
        PondLocked: a transaction kept the write lock longer than ``lock_timeout``.
        NotFound, UsageError: an unknown remote name, a bad URL or option.
    """
    started = time.perf_counter()
    r = resolve_remote(pond, remote, options)
    n_workers = max(1, workers or r.workers)
    listing = r.list_objects()
    overhead = _claim(pond, r, listing)
    manifests = _load_manifests(r, listing)
    skipped = 0
    work: list[LocalObject] = []
    with _between_transactions(pond.path, lock_timeout):
        for obj in local_objects(pond.path):
            info = listing.get(obj.key)
            if info is not None and info.size == obj.size and not obj.mutable:
                entry = manifests.entries.get(obj.key)
                if entry is not None and entry.get("fingerprint") == info.fingerprint:
                    skipped += 1
                    continue
            work.append(obj)
        # pin what is left to do, so that a vacuum or log cleanup cannot take it away
        pin_dir, work, vanished = _pin(pond.path, work)

    try:
        new_entries: dict[str, dict[str, Any]] = {}
        to_send: list[LocalObject] = []
        repaired: list[str] = []
        for obj in work:
            info = listing.get(obj.key)
            if info is None:
                to_send.append(obj)
                continue
            # present but unrecorded (a push cut short), rewritten, or mutable: compare contents
            try:
                sha, md5 = _hash_file(obj.path)
            except FileNotFoundError:
                vanished.append(obj.key)
                continue
            remote_md5 = r.content_md5(obj.key, info) if info.size == obj.size else None
            if remote_md5 is None and info.size == obj.size and obj.size <= 1 << 20:
                raw = r.get_bytes_or_none(obj.key)
                remote_md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest() if raw else None
            if remote_md5 == md5:
                skipped += 1
                entry = manifests.entries.get(obj.key)
                if entry != _entry(obj.size, sha, info.fingerprint):  # record it (adopt)
                    new_entries[obj.key] = _entry(obj.size, sha, info.fingerprint)
                continue
            if not obj.mutable:
                repaired.append(obj.key)
            to_send.append(obj)

        sent: list[str] = []
        sent_bytes = 0

        def send(obj: LocalObject) -> tuple[LocalObject, dict[str, Any] | None]:
            try:
                sha = _sha256_file(obj.path)
                info = r.put_file(obj.key, obj.path)
            except FileNotFoundError:
                return obj, None
            return obj, _entry(info.size, sha, info.fingerprint)

        def done(result: tuple[LocalObject, dict[str, Any] | None]) -> None:
            nonlocal sent_bytes
            obj, entry = result
            if entry is None:
                vanished.append(obj.key)
                return
            new_entries[obj.key] = entry
            sent.append(obj.key)
            sent_bytes += entry["size"]
            if progress is not None:
                progress(obj.key, entry["size"])

        manifest_key: str | None = None
        failure: BaseException | None = None
        try:
            for phase in range(5):
                batch = [o for o in to_send if o.phase == phase]
                # data and large files in parallel; log entries strictly one after the other
                _each(n_workers if phase < 2 else 1, batch, send, done)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the manifest
            failure = exc
        # record what did go up even when the push was cut short, if the store still answers
        if new_entries:
            try:
                manifest_key, n = _write_manifest(pond, r, new_entries)
                overhead += n
            except RemoteError:
                if failure is None:
                    raise
        if failure is not None:
            raise failure
        if manifest_key is not None and len(manifests.keys) + 1 > MAX_MANIFESTS:
            merged = {**manifests.entries, **new_entries}
            merged_key, n = _write_manifest(pond, r, merged, merged=True)
            overhead += n
            r.delete([*manifests.keys, manifest_key])
            manifest_key = merged_key
    finally:
        _unpin(pin_dir)
    report = PushReport(
        url=r.url,
        objects_sent=len(sent),
        bytes_sent=sent_bytes + overhead,
        skipped=skipped,
        sent=sent,
        repaired=[k for k in repaired if k in set(sent)],
        vanished=vanished,
        overhead_bytes=overhead,
        manifest=manifest_key,
        seconds=time.perf_counter() - started,
    )
    _log.info(
        "push %s: %d objects, %d bytes sent, %d skipped, %.2f s",
        r.url,
        report.objects_sent,
        report.bytes_sent,
        report.skipped,
        report.seconds,
    )
    return report


def _entry(size: int, sha: str, fingerprint: str) -> dict[str, Any]:
    return {"size": size, "sha256": sha, "fingerprint": fingerprint}


def _each(
    workers: int,
    items: list[T],
    fn: Callable[[T], Any],
    done: Callable[[Any], None],
) -> None:
    """Run ``fn`` over ``items`` (``workers`` at a time), calling ``done`` in this thread.

    The first failure cancels what has not started and is raised once the running ones end.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            done(fn(item))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: set[Future[Any]] = {pool.submit(fn, item) for item in items}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    done(fut.result())
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def _map(workers: int, items: list[T], fn: Callable[[T], Any]) -> list[Any]:
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


# --------------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------------


def verify(
    pond: Pond,
    remote: Remote | str | None = None,
    *,
    options: Mapping[str, str] | None = None,
    deep: bool = False,
    lock_timeout: float = 60.0,
) -> VerifyReport:
    """Check the remote against the pond: every object present, same size, same content.

    Content is checked through the manifests (the object's fingerprint is the one recorded
    when it was pushed, and the sha256 recorded then is the pond file's sha256 now), else
    through the MD5 the store reports, else by downloading it. ``deep=True`` downloads and
    hashes every object. Large files are also checked against their own name (sha256).

    Args:
        pond: the pond.
        remote: as for :func:`push`.
        options: options for a URL given as ``remote``.
        deep: download and hash every object.
        lock_timeout: as for :func:`push`.

    Returns:
        The report; ``report.ok`` is true when no problem was found. Objects not pushed yet
        are listed in ``unpushed``, not as problems.

    Raises:
        RemoteError: the store failed. NotFound, UsageError: as for :func:`push`.
    """
    r = resolve_remote(pond, remote, options)
    listing = r.list_objects()
    try:
        spec = _read_pond_json(r, listing)
    except PondMismatch as exc:
        return VerifyReport(r.url, 0, [exc.message], deep=deep)
    if spec is None:
        return VerifyReport(r.url, 0, [f"no {POND_JSON}: nothing was ever pushed here"], deep=deep)
    if spec["pond_id"] != pond.pond_id:
        return VerifyReport(
            r.url,
            0,
            [f"the remote holds the backup of another pond ({spec['pond_id']})"],
            deep=deep,
        )
    manifests = _load_manifests(r, listing)
    problems = [f"{k}: manifest is unreadable" for k in manifests.unreadable]
    with _between_transactions(pond.path, lock_timeout):
        objects = local_objects(pond.path)
    unpushed: list[str] = []
    checked = 0

    def check(obj: LocalObject) -> tuple[str, str | None]:
        """(state, message): state is ok, unpushed, problem or vanished."""
        try:
            sha, md5 = _hash_file(obj.path)
        except FileNotFoundError:
            return "vanished", None
        if obj.phase == 1 and obj.key.rsplit("sha256=", 1)[-1] != sha:
            return "problem", f"{obj.key}: the pond's own large file is corrupt (sha256 {sha})"
        info = listing.get(obj.key)
        if info is None:
            if obj.key in manifests.entries and not obj.mutable:
                return "problem", f"{obj.key}: missing on the remote, though it was pushed"
            return "unpushed", None
        if obj.mutable:
            same = _remote_md5(r, obj.key, info) == md5
            return ("ok", None) if same else ("unpushed", None)
        if info.size != obj.size:
            return "problem", f"{obj.key}: {info.size} bytes on the remote, {obj.size} in the pond"
        entry = manifests.entries.get(obj.key)
        if deep:
            remote_sha = _remote_sha256(r, obj.key)
            if remote_sha != sha:
                return "problem", f"{obj.key}: content on the remote differs from the pond"
            return "ok", None
        if entry is not None and entry.get("fingerprint") == info.fingerprint:
            if entry.get("sha256") != sha:
                return "problem", (
                    f"{obj.key}: the pond's copy changed since it was pushed "
                    f"(pushed sha256 {entry.get('sha256')}, now {sha})"
                )
            return "ok", None
        remote_md5 = _remote_md5(r, obj.key, info)
        if remote_md5 != md5:
            return "problem", f"{obj.key}: content on the remote differs from the pond"
        return "ok", None

    local_keys = set()
    for obj, (state, message) in zip(objects, _map(r.workers, objects, check), strict=True):
        if state == "vanished":
            continue
        local_keys.add(obj.key)
        if state == "unpushed":
            unpushed.append(obj.key)
            continue
        checked += 1
        if state == "problem" and message is not None:
            problems.append(message)
    extra = sorted(k for k in listing if k.split("/", 1)[0] in TABLES and k not in local_keys)
    return VerifyReport(r.url, checked, problems, unpushed, extra, deep)


def _remote_md5(remote: Remote, key: str, info: ObjectInfo) -> str | None:
    md5 = remote.content_md5(key, info)
    if md5 is not None:
        return md5
    h = hashlib.md5(usedforsecurity=False)
    remote.get_file(key, _HashSink(h))
    return h.hexdigest()


def _remote_sha256(remote: Remote, key: str) -> str:
    h = hashlib.sha256()
    remote.get_file(key, _HashSink(h))
    return h.hexdigest()


class _HashSink:
    """A write-only binary sink that hashes what it is given."""

    def __init__(self, *hashes: Any) -> None:
        self.hashes = hashes

    def write(self, data: bytes) -> int:
        for h in self.hashes:
            h.update(data)
        return len(data)


# --------------------------------------------------------------------------------------------
# restore
# --------------------------------------------------------------------------------------------


def restore(
    url: str | Remote,
    dest: str | os.PathLike[str],
    options: Mapping[str, str] | None = None,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> RestoreReport:
    """Rebuild a pond from a backup and check it whole before handing it over.

    Every object under ``data/`` and ``control/`` is downloaded and checked against the
    sha256 its push recorded (a large file also against its name); then the pond is opened
    and every file version's sha256 is checked (inline content and large files), every
    directory snapshot decoded, and the transaction log read. If anything is wrong, what was
    written is removed and nothing is left at ``dest``.

    Args:
        url: ``s3://bucket/prefix``, ``file:///dir`` (or a :class:`Remote`).
        dest: where to create the pond: a new or empty folder.
        options: the remote's options (``${env:VAR}`` allowed).
        progress: called as ``progress(key, bytes)`` after each object is downloaded.
        workers: concurrent downloads.

    Raises:
        AlreadyExists: ``dest`` is not empty.
        NotFound: no backup at ``url`` (no ``pond.json``).
        IntegrityError: an object or a file version does not match its sha256; the backup is
            not whole (``dest`` removed).
        RemoteError: the store failed (``dest`` removed).
    """
    started = time.perf_counter()
    r = url if isinstance(url, Remote) else open_remote(url, options)
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise AlreadyExists("the destination is not empty", str(dest))
    listing = r.list_objects()
    spec = _read_pond_json(r, listing)
    if spec is None:
        raise NotFound(f"no DuckPond backup here (no {POND_JSON})", r.url)
    manifests = _load_manifests(r, listing)
    keys = sorted(k for k in listing if k.split("/", 1)[0] in TABLES)
    created = not dest.exists()
    total = 0

    def fetch(key: str) -> tuple[str, int]:
        path = dest.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            sha = hashlib.sha256()
            with os.fdopen(fd, "wb") as f:
                n = r.get_file(key, _TeeSink(f, sha))
            digest = sha.hexdigest()
            entry = manifests.entries.get(key)
            if n != listing[key].size:
                raise IntegrityError(f"{key}: {n} bytes downloaded, {listing[key].size} listed")
            if entry is not None and entry.get("sha256") != digest:
                raise IntegrityError(
                    f"{key}: content does not match the sha256 recorded when it was pushed", r.url
                )
            if key.startswith("data/_large_files/sha256=") and key.rsplit("=", 1)[1] != digest:
                raise IntegrityError(f"{key}: content does not match its sha256 name", r.url)
            Path(tmp).replace(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()
        return key, n

    def done(result: tuple[str, int]) -> None:
        nonlocal total
        key, n = result
        total += n
        if progress is not None:
            progress(key, n)

    try:
        dest.mkdir(parents=True, exist_ok=True)
        _each(max(1, workers or r.workers), keys, fetch, done)
        checked, txn_seq, pending, pond_id = _check_restored(dest, spec)
    except BaseException:
        _remove_partial(dest, created)
        raise
    report = RestoreReport(
        url=r.url,
        dest=str(dest),
        pond_id=pond_id,
        txn_seq=txn_seq,
        objects=len(keys),
        bytes=total,
        file_versions_checked=checked,
        pending=pending,
        seconds=time.perf_counter() - started,
    )
    _log.info("restore %s -> %s: %d objects, %d bytes", r.url, dest, len(keys), total)
    return report


class _TeeSink:
    def __init__(self, sink: Any, *hashes: Any) -> None:
        self.sink = sink
        self.hashes = hashes

    def write(self, data: bytes) -> int:
        for h in self.hashes:
            h.update(data)
        return int(self.sink.write(data))


def _remove_partial(dest: Path, created: bool) -> None:
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in list(dest.iterdir()) if dest.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                child.unlink()


def _check_restored(dest: Path, spec: Mapping[str, Any]) -> tuple[int, int, int, str]:
    """Open the restored pond and check it: (file versions checked, txn_seq, pending, id)."""
    from duckpond.steward.pond import Pond

    try:
        pond = Pond.open(dest)
        pond_id = pond.pond_id
        if pond_id != spec["pond_id"]:
            raise IntegrityError(
                f"the restored pond's id {pond_id} is not the backup's {spec['pond_id']}"
            )
        checked, problems = check_file_versions(pond)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise IntegrityError(f"{problems[0]}{more}", str(dest))
        log = pond.log()
    except IntegrityError:
        raise
    except (PondError, OSError) as exc:
        raise IntegrityError(f"the restored pond cannot be read: {exc}", str(dest)) from exc
    pending = sum(1 for t in log if t.outcome == "pending")
    return checked, pond.txn_seq, pending, pond_id


def check_file_versions(pond: Pond) -> tuple[int, list[str]]:
    """Check every stored file version's bytes against its sha256 and size.

    Inline content is hashed from the oplog; large files from ``_large_files`` (each once);
    directory snapshots must decode.

    Returns:
        (file versions checked, problems: one line each).
    """
    from duckpond.tinyfs.model import decode_directory

    table = pond.oplog()
    cols = table.select(["node_id", "version", "file_type", "content", "sha256", "size"])
    large_dir = pond.path / "data" / "_large_files"
    seen: dict[str, str | None] = {}
    problems: list[str] = []
    checked = 0
    for row in cols.to_pylist():
        node, version, ftype = row["node_id"], row["version"], row["file_type"]
        content, sha, size = row["content"], row["sha256"], row["size"]
        where = f"node {node} version {version}"
        if str(ftype).startswith("dir:"):
            if ftype == "dir:physical":
                try:
                    decode_directory(content)
                except Exception as exc:  # noqa: BLE001 - any decoding failure is corruption
                    problems.append(f"{where}: directory snapshot unreadable ({exc})")
            continue
        if sha is None:
            continue
        checked += 1
        if content is not None:
            if hashlib.sha256(content).hexdigest() != sha:
                problems.append(f"{where}: inline content does not match its sha256")
            elif size is not None and len(content) != size:
                problems.append(f"{where}: inline content has {len(content)} bytes, not {size}")
            continue
        if sha not in seen:
            path = large_dir / f"sha256={sha}"
            try:
                with open(path, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
                seen[sha] = None if digest == sha else "does not match its sha256"
                if seen[sha] is None and size is not None and path.stat().st_size != size:
                    seen[sha] = f"has {path.stat().st_size} bytes, not {size}"
            except FileNotFoundError:
                seen[sha] = "is missing"
        if seen[sha] is not None:
            problems.append(f"{where}: large file sha256={sha} {seen[sha]}")
    return checked, problems
