"""Push: send a remote every pond object it lacks, in an order that keeps it readable.

Delta data files, checkpoints and large files are immutable, so a push only sends the keys the
remote lacks (compared by listing, and through the fingerprints the manifests recorded). It
sends them in :class:`~duckpond.remote.objects.Phase` order: Parquet data files, then large
files, then the ``_delta_log`` entries of the data table and then of the control table, each in
version order (a checkpoint before the commit of its version) and one at a time, and
``_last_checkpoint`` last of all. A push cut short (network down, server killed, the process
killed) therefore leaves a remote whose Delta tables are whole at some older version (or, during
the very first push, no table yet, which restore refuses); the next push checks what did arrive
and sends the rest.

A push is two steps: :func:`plan_push` lists both sides and decides, object by object, what to
send, what to adopt (on the remote with the pond's content, not yet recorded) and what to skip:
a :class:`PushPlan` that a dry run prints. :func:`apply_push` carries a plan out. :func:`push`
does both, holding hard links to the files it will send (a vacuum cannot take them away).

The local side is listed while holding the pond's write lock (milliseconds), so the listing is a
state between two transactions: the control table never names a data commit the listing lacks.
Nothing is ever deleted from the remote (except manifests merged into a newer one), so files the
pond has vacuumed stay there and older versions stay restorable.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from duckpond import diagnostics, faults
from duckpond.errors import RemoteError
from duckpond.layout import TMP_PREFIX, PondLayout
from duckpond.remote.config import resolve_remote
from duckpond.remote.manifest import (
    MAX_MANIFESTS,
    POND_JSON,
    BackupSpec,
    ManifestEntry,
    Manifests,
    PondMismatch,
    load_manifests,
    manifest_body,
    read_spec,
)
from duckpond.remote.objects import (
    LocalObject,
    Phase,
    Snapshot,
    each,
    hash_file,
    sha256_file,
    snapshot,
)
from duckpond.remote.store import ObjectInfo, Remote
from duckpond.units import format_bytes

if TYPE_CHECKING:
    from duckpond.steward.control import TxnRecord
    from duckpond.steward.pond import Pond

__all__ = [
    "PushPlan",
    "PushRecord",
    "PushReport",
    "RemoteState",
    "RemoteStatus",
    "apply_push",
    "last_push",
    "plan_push",
    "push",
    "remote_status",
]

#: Called after each object is sent or fetched: (key, bytes).
Progress = Callable[[str, int], None]
#: Objects up to this size are downloaded to compare them when the store gives no MD5.
_COMPARE_BY_DOWNLOAD: Final = 1 << 20
#: Where :func:`push` records its last success per remote URL, below ``$POND/cache``.
PUSH_RECORDS: Final = "backup-pushes.json"

_log = diagnostics.get_logger("remote")


# --------------------------------------------------------------------------------------------
# the remote side
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteState:
    """A remote as one listing shows it.

    Attributes:
        remote: the store.
        listing: every key -> :class:`ObjectInfo`.
        spec: its ``pond.json`` (``None``: nothing was pushed there).
        manifests: its manifests, folded.
    """

    remote: Remote
    listing: Mapping[str, ObjectInfo]
    spec: BackupSpec | None
    manifests: Manifests

    @classmethod
    def read(cls, remote: Remote) -> RemoteState:
        """List the remote and read its ``pond.json`` and manifests.

        Raises:
            PondMismatch: a ``pond.json`` that is not a DuckPond backup's.
            RemoteError: the store failed.
        """
        listing = remote.list_objects()
        spec = read_spec(remote, listing)
        return cls(remote, listing, spec, load_manifests(remote, listing))

    def check_owner(self, pond: Pond) -> bool:
        """Whether a push must first claim the remote (write ``pond.json``).

        Raises:
            PondMismatch: the remote holds another pond's backup, or foreign objects.
        """
        if self.spec is not None:
            if self.spec.pond_id != pond.pond_id:
                raise PondMismatch(
                    f"the remote holds the backup of another pond ({self.spec.pond_id}); this "
                    f"pond is {pond.pond_id}: use another prefix or folder",
                    self.remote.url,
                )
            return False
        if self.listing:
            raise PondMismatch(
                "the remote is not empty and holds no pond.json: not a DuckPond backup; "
                "refusing to write into it",
                self.remote.url,
            )
        return True

    def recorded(self, obj: LocalObject) -> bool:
        """Whether the remote holds ``obj`` as a push recorded it (no need to look further)."""
        info = self.listing.get(obj.key)
        if info is None or info.size != obj.size or obj.mutable:
            return False
        entry = self.manifests.entries.get(obj.key)
        return entry is not None and entry.fingerprint == info.fingerprint


# --------------------------------------------------------------------------------------------
# plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushPlan:
    """What a push sends, adopts and skips; printable and testable, nothing done yet.

    Attributes:
        url: the remote.
        pond_id: the pond's id.
        txn_seq: the pond's last committed transaction when it was listed.
        data_version: the newest data-table version in the listing.
        claim: the remote is empty: ``pond.json`` is written first.
        send: objects to upload, in upload order.
        replace: keys among ``send`` that the remote holds with other content.
        adopt: objects the remote holds with the pond's content but no manifest records yet
            (a push cut short): recorded, not sent.
        skipped: objects already on the remote (``adopt`` included).
        vanished: keys the pond removed (vacuum) between listing and pinning.
        manifests: the remote's manifests when it was listed.
    """

    url: str
    pond_id: str
    txn_seq: int
    data_version: int
    claim: bool
    send: tuple[LocalObject, ...]
    replace: frozenset[str] = frozenset()
    adopt: Mapping[str, ManifestEntry] = field(default_factory=dict)
    skipped: int = 0
    vanished: tuple[str, ...] = ()
    manifests: Manifests = field(default_factory=Manifests)

    @property
    def bytes_to_send(self) -> int:
        return sum(o.size for o in self.send)

    def summary(self) -> str:
        """One line: what the push would do."""
        if not self.send and not self.adopt:
            return f"{self.url}: up to date ({self.skipped} objects); nothing to send"
        line = (
            f"{self.url}: would send {len(self.send)} objects "
            f"({format_bytes(self.bytes_to_send)}), {self.skipped} already there"
        )
        if self.replace:
            line += f"; would replace {len(self.replace)} that differ from the pond"
        if self.adopt:
            line += f"; would record {len(self.adopt)} sent by a push cut short"
        return line

    def lines(self) -> list[str]:
        """The summary, then one line per object: ``send|replace|record  KEY  SIZE``."""
        out = [self.summary()]
        for obj in self.send:
            verb = "replace" if obj.key in self.replace else "send"
            out.append(f"  {verb:<8}{obj.key}  {format_bytes(obj.size)}")
        out.extend(f"  {'record':<8}{key}  {format_bytes(e.size)}" for key, e in self.adopt.items())
        return out


def plan_push(
    pond: Pond,
    remote: Remote | str | None = None,
    *,
    options: Mapping[str, str] | None = None,
    lock_timeout: float = 60.0,
) -> PushPlan:
    """What :func:`push` would do now; reads both sides, changes nothing (a dry run).

    Args:
        pond, remote, options, lock_timeout: as for :func:`push`.

    Raises:
        As :func:`push`.
    """
    r = resolve_remote(pond, remote, options)
    state = RemoteState.read(r)
    claim = state.check_owner(pond)
    with snapshot(pond.path, lock_timeout=lock_timeout) as snap:
        return _plan(pond, state, snap, claim)


def _plan(pond: Pond, state: RemoteState, snap: Snapshot, claim: bool) -> PushPlan:
    """Decide for every object of the snapshot: skip, adopt, send or replace.

    An object on the remote that no manifest records as it is (a push cut short, a rewrite, the
    mutable ``_last_checkpoint``) is compared by content: the store's MD5, else a download of
    up to 1 MiB; the same content is adopted, other content is replaced.
    """
    r = state.remote
    send: list[LocalObject] = []
    replace: set[str] = set()
    adopt: dict[str, ManifestEntry] = {}
    vanished = list(snap.gone)
    skipped = 0
    gone = set(snap.gone)
    for obj in snap.objects:
        if obj.key in gone:
            continue
        if state.recorded(obj):
            skipped += 1
            continue
        info = state.listing.get(obj.key)
        if info is None:
            send.append(obj)
            continue
        try:
            sha, md5 = hash_file(obj.path)
        except FileNotFoundError:
            vanished.append(obj.key)
            continue
        if _remote_md5(r, obj, info) == md5:
            skipped += 1
            entry = ManifestEntry(obj.size, sha, info.fingerprint)
            if state.manifests.entries.get(obj.key) != entry:
                adopt[obj.key] = entry
            continue
        if not obj.mutable:
            replace.add(obj.key)
        send.append(obj)
    return PushPlan(
        url=r.url,
        pond_id=pond.pond_id,
        txn_seq=_txn_seq_at(pond, snap),
        data_version=snap.data_version,
        claim=claim,
        send=tuple(send),
        replace=frozenset(replace),
        adopt=adopt,
        skipped=skipped,
        vanished=tuple(vanished),
        manifests=state.manifests,
    )


def _remote_md5(remote: Remote, obj: LocalObject, info: ObjectInfo) -> str | None:
    if info.size != obj.size:
        return None
    md5 = remote.content_md5(obj.key, info)
    if md5 is None and obj.size <= _COMPARE_BY_DOWNLOAD:
        raw = remote.get_bytes_or_none(obj.key)
        md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest() if raw is not None else None
    return md5


def _txn_seq_at(pond: Pond, snap: Snapshot) -> int:
    """The last transaction of the listed state: the pond's, unless it moved on since it was
    opened (then the newer one, as the control table tells it)."""
    if snap.data_version <= pond.data_version:
        return pond.txn_seq
    newer = [
        t.txn_seq
        for t in pond.log()
        if t.data_version is not None and t.data_version <= snap.data_version
    ]
    return max(newer, default=pond.txn_seq)


# --------------------------------------------------------------------------------------------
# apply
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
        txn_seq: the pond's last transaction the remote now holds.
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
    txn_seq: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the ``pond backup push`` command."""
        if not self.objects_sent:
            return f"{self.url}: up to date ({self.skipped} objects)"
        line = (
            f"{self.url}: sent {self.objects_sent} objects ({format_bytes(self.bytes_sent)}), "
            f"{self.skipped} already there, {self.seconds:.1f} s"
        )
        if self.repaired:
            line += f"; replaced {len(self.repaired)} that differed from the pond"
        return line


def _claim(pond: Pond, remote: Remote, plan: PushPlan) -> int:
    """Write the remote's ``pond.json`` (it was empty); returns the bytes written."""
    from duckpond.times import now_us

    spec = BackupSpec(
        plan.pond_id, format_version=pond.settings.get("format_version"), created_us=now_us()
    )
    body = spec.to_bytes()
    remote.put_bytes(POND_JSON, body)
    return len(body)


def _merge_manifests(
    remote: Remote, plan: PushPlan, new_entries: dict[str, ManifestEntry], newest: str
) -> tuple[str, int]:
    """Replace every manifest (the new one ``newest`` too) with one merged manifest; returns
    its key and bytes. The merged one is written before the others are deleted."""
    merged = {**plan.manifests.entries, **new_entries}
    key, n = _put_manifest(remote, plan, merged, merged=True)
    remote.delete([*plan.manifests.keys, newest])
    return key, n


def apply_push(
    pond: Pond,
    remote: Remote,
    plan: PushPlan,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> PushReport:
    """Carry out ``plan``: claim the remote if empty, upload by phase, write the manifest.

    Data and large files go ``workers`` at a time; log entries strictly one after the other.
    If an upload fails, what did go up is still recorded in a manifest (if the store answers)
    before the error is raised, so the next push need not compare it. A source file that
    vanished (vacuumed) is skipped and reported in ``vanished``.

    Raises:
        RemoteError: the store failed (what was sent stays; the next push sends the rest).
    """
    started = time.perf_counter()
    n_workers = max(1, workers or remote.workers)
    overhead = _claim(pond, remote, plan) if plan.claim else 0
    new_entries: dict[str, ManifestEntry] = dict(plan.adopt)
    sent: list[str] = []
    vanished = list(plan.vanished)
    sent_bytes = 0

    def send(obj: LocalObject) -> tuple[LocalObject, ManifestEntry | None]:
        try:
            sha = sha256_file(obj.path)
            info = remote.put_file(obj.key, obj.path)
        except FileNotFoundError:
            return obj, None
        return obj, ManifestEntry(info.size, sha, info.fingerprint)

    def done(result: tuple[LocalObject, ManifestEntry | None]) -> None:
        nonlocal sent_bytes
        obj, entry = result
        if entry is None:
            vanished.append(obj.key)
            return
        new_entries[obj.key] = entry
        sent.append(obj.key)
        sent_bytes += entry.size
        _log.debug("sent %s (%d bytes)", obj.key, entry.size)
        if progress is not None:
            progress(obj.key, entry.size)
        faults.point("push-after-upload")

    manifest_key: str | None = None
    failure: BaseException | None = None
    try:
        for phase in Phase:
            batch = [o for o in plan.send if o.phase is phase]
            # data and large files in parallel; log entries strictly one after the other
            parallel = phase in {Phase.DATA_FILE, Phase.LARGE_FILE}
            each(n_workers if parallel else 1, batch, send, done)
    except BaseException as exc:  # noqa: BLE001 - re-raised below, after the manifest
        failure = exc
    if failure is None:
        faults.point("push-before-manifest")
    # record what did go up even when the push was cut short, if the store still answers
    if new_entries:
        try:
            manifest_key, n = _put_manifest(remote, plan, new_entries)
            overhead += n
        except RemoteError:
            if failure is None:
                raise
    if failure is not None:
        raise failure
    if manifest_key is not None and len(plan.manifests.keys) + 1 > MAX_MANIFESTS:
        manifest_key, n = _merge_manifests(remote, plan, new_entries, manifest_key)
        overhead += n
    report = PushReport(
        url=remote.url,
        objects_sent=len(sent),
        bytes_sent=sent_bytes + overhead,
        skipped=plan.skipped,
        sent=sent,
        repaired=[k for k in sent if k in plan.replace],
        vanished=vanished,
        overhead_bytes=overhead,
        manifest=manifest_key,
        txn_seq=plan.txn_seq,
        seconds=time.perf_counter() - started,
    )
    _log.info(
        "push %s: %d objects, %d bytes sent, %d skipped, %.2f s",
        remote.url,
        report.objects_sent,
        report.bytes_sent,
        report.skipped,
        report.seconds,
    )
    return report


def _put_manifest(
    remote: Remote, plan: PushPlan, objects: Mapping[str, ManifestEntry], *, merged: bool = False
) -> tuple[str, int]:
    key, body = manifest_body(plan.pond_id, plan.txn_seq, objects, merged=merged)
    remote.put_bytes(key, body)
    _log.debug("wrote manifest %s (%d objects)", key, len(objects))
    return key, len(body)


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

    :func:`plan_push` then :func:`apply_push`, with the files to send hard-linked while the
    push runs. A push that completes is recorded in ``$POND/cache`` (:func:`last_push`).

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
        PondMismatch: the remote holds another pond's backup, or foreign objects (exit 4).
        RemoteError: the store failed (what was sent stays; the next push sends the rest).
        PondLocked: a transaction kept the write lock longer than ``lock_timeout``.
        NotFound, UsageError: an unknown remote name, a bad URL or option.
    """
    r = resolve_remote(pond, remote, options)
    state = RemoteState.read(r)
    claim = state.check_owner(pond)
    with snapshot(
        pond.path, lock_timeout=lock_timeout, pin=lambda o: not state.recorded(o)
    ) as snap:
        plan = _plan(pond, state, snap, claim)
        report = apply_push(pond, r, plan, progress=progress, workers=workers)
    _record_push(pond, plan)
    return report


# --------------------------------------------------------------------------------------------
# the record of the last push, for pond status
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushRecord:
    """The last push to a remote that completed, as this pond recorded it.

    Attributes:
        url: the remote.
        time_us: when it ended, µs since the epoch, UTC.
        txn_seq: the pond's last transaction the remote holds.
        data_version: the data table's version the remote holds.
    """

    url: str
    time_us: int
    txn_seq: int
    data_version: int


def _record_push(pond: Pond, plan: PushPlan) -> None:
    """Remember this push in ``$POND/cache/backup-pushes.json`` (best effort: it is a cache)."""
    from duckpond.times import now_us

    path = PondLayout.of(pond.path).cache / PUSH_RECORDS
    records = _read_records(pond)
    records[plan.url] = PushRecord(plan.url, now_us(), plan.txn_seq, plan.data_version)
    body = {
        url: {"time_us": r.time_us, "txn_seq": r.txn_seq, "data_version": r.data_version}
        for url, r in sorted(records.items())
    }
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(json.dumps(body, indent=1).encode())
        tmp.replace(path)
    except OSError as exc:  # a read-only pond: the push itself succeeded
        _log.debug("push record not written: %s", exc)
        tmp.unlink(missing_ok=True)


def _read_records(pond: Pond) -> dict[str, PushRecord]:
    path = PondLayout.of(pond.path).cache / PUSH_RECORDS
    try:
        raw = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    out: dict[str, PushRecord] = {}
    if isinstance(raw, dict):
        for url, r in raw.items():
            if isinstance(r, dict) and all(
                isinstance(r.get(k), int) for k in ("time_us", "txn_seq", "data_version")
            ):
                out[url] = PushRecord(url, r["time_us"], r["txn_seq"], r["data_version"])
    return out


def last_push(pond: Pond, url: str) -> PushRecord | None:
    """The last completed push from this pond to ``url`` (a normalized URL), if recorded."""
    return _read_records(pond).get(url)


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    """A configured remote as ``pond status`` shows it.

    Attributes:
        name, url: the remote.
        last: its last completed push from this pond (``None``: none recorded).
        behind: committed transactions of the pond the remote does not hold yet.
    """

    name: str
    url: str
    last: PushRecord | None
    behind: int


def remote_status(pond: Pond, log: list[TxnRecord] | None = None) -> list[RemoteStatus]:
    """Each configured remote with its last push and how many transactions it is behind.

    Reads the pond only (the push records in ``$POND/cache``); no remote is contacted.

    Args:
        pond: the pond.
        log: ``pond.log()`` if the caller has it already.
    """
    from duckpond.remote.config import list_backups

    remotes = list_backups(pond)
    if not remotes:
        return []
    records = _read_records(pond)
    committed = [
        t.data_version
        for t in (pond.log() if log is None else log)
        if t.outcome in ("committed", "recovered") and t.data_version is not None
    ]
    out = []
    for cfg in remotes:
        last = records.get(cfg.url)
        pushed = last.data_version if last is not None else -1
        out.append(RemoteStatus(cfg.name, cfg.url, last, sum(1 for v in committed if v > pushed)))
    return out
