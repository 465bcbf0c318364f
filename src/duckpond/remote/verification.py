"""Verify: compare a remote with the pond, object by object.

Two steps: :func:`plan_verify` lists both sides and chooses for every pond object how to check
it (:class:`Method`); :func:`run_verify` hashes and compares. Cheap by default: an object whose
fingerprint (ETag, or size and mtime for a folder) is the one its push recorded still holds what
was pushed, so only the pond's copy is hashed; else the store's MD5 is compared, else the
object is downloaded. ``deep=True`` downloads and hashes every object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from duckpond.layout import TABLES
from duckpond.remote.backup import RemoteState
from duckpond.remote.config import resolve_remote
from duckpond.remote.manifest import POND_JSON, ManifestEntry, PondMismatch
from duckpond.remote.objects import (
    LARGE_KEY_PREFIX,
    HashSink,
    LocalObject,
    Phase,
    hash_file,
    parallel_map,
    snapshot,
)
from duckpond.remote.store import ObjectInfo, Remote

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond

__all__ = ["Method", "Outcome", "VerifyItem", "VerifyPlan", "VerifyReport", "plan_verify", "verify"]


class Method(Enum):
    """How one pond object is checked against the remote."""

    #: not on the remote and never pushed: newer than the last push (not a problem)
    UNPUSHED = "unpushed"
    #: pushed (a manifest records it) and gone from the remote: a problem
    LOST = "lost"
    #: another size on the remote than in the pond: a problem
    SIZE = "size"
    #: the fingerprint is the one recorded at push: compare the pond's sha256 with the recorded
    MANIFEST = "manifest"
    #: compare with the store's MD5 (download the object if the store has none)
    MD5 = "md5"
    #: download and hash the object (``deep``)
    DOWNLOAD = "download"
    #: ``_last_checkpoint``, rewritten in place: compare by MD5; a difference is "not pushed yet"
    MUTABLE = "mutable"


class Outcome(Enum):
    """What checking one object found."""

    OK = "ok"
    UNPUSHED = "unpushed"
    PROBLEM = "problem"
    VANISHED = "vanished"  # the pond removed it (vacuum) while verify ran


@dataclass(frozen=True, slots=True)
class VerifyItem:
    """One pond object and how to check it."""

    obj: LocalObject
    method: Method
    info: ObjectInfo | None = None
    entry: ManifestEntry | None = None


@dataclass(frozen=True, slots=True)
class VerifyPlan:
    """What :func:`run_verify` will check.

    Attributes:
        url: the remote.
        deep: every object is downloaded and hashed.
        items: one per pond object.
        problems: found while planning (another pond's backup, unreadable manifests).
        extra: remote objects the pond no longer has (vacuumed files): kept, harmless.
    """

    url: str
    deep: bool
    items: tuple[VerifyItem, ...] = ()
    problems: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()


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


def plan_verify(
    pond: Pond,
    remote: Remote | str | None = None,
    *,
    options: Mapping[str, str] | None = None,
    deep: bool = False,
    lock_timeout: float = 60.0,
) -> VerifyPlan:
    """List both sides and choose how to check each pond object (reads only).

    Raises:
        RemoteError: the store failed. NotFound, UsageError: as for
        :func:`~duckpond.remote.backup.push`.
    """
    r = resolve_remote(pond, remote, options)
    try:
        state = RemoteState.read(r)
    except PondMismatch as exc:
        return VerifyPlan(r.url, deep, problems=(exc.message,))
    if state.spec is None:
        return VerifyPlan(r.url, deep, problems=(f"no {POND_JSON}: nothing was ever pushed here",))
    if state.spec.pond_id != pond.pond_id:
        problem = f"the remote holds the backup of another pond ({state.spec.pond_id})"
        return VerifyPlan(r.url, deep, problems=(problem,))
    problems = tuple(f"manifest {m}" for m in state.manifests.unreadable)
    with snapshot(pond.path, lock_timeout=lock_timeout) as snap:
        objects = snap.objects
    items = tuple(_choose(state, obj, deep) for obj in objects)
    local = {o.key for o in objects}
    extra = tuple(
        sorted(k for k in state.listing if k.split("/", 1)[0] in TABLES and k not in local)
    )
    return VerifyPlan(r.url, deep, items, problems, extra)


def _choose(state: RemoteState, obj: LocalObject, deep: bool) -> VerifyItem:
    info = state.listing.get(obj.key)
    entry = state.manifests.entries.get(obj.key)
    if info is None:
        lost = entry is not None and not obj.mutable
        return VerifyItem(obj, Method.LOST if lost else Method.UNPUSHED, None, entry)
    if obj.mutable:
        return VerifyItem(obj, Method.MUTABLE, info, entry)
    if info.size != obj.size:
        return VerifyItem(obj, Method.SIZE, info, entry)
    if deep:
        return VerifyItem(obj, Method.DOWNLOAD, info, entry)
    if entry is not None and entry.fingerprint == info.fingerprint:
        return VerifyItem(obj, Method.MANIFEST, info, entry)
    return VerifyItem(obj, Method.MD5, info, entry)


def run_verify(remote: Remote, plan: VerifyPlan) -> VerifyReport:
    """Carry out ``plan``: hash the pond's copies (and the remote's where needed), compare."""
    problems = list(plan.problems)
    unpushed: list[str] = []
    checked = 0

    def check(item: VerifyItem) -> tuple[Outcome, str | None]:
        return _check(remote, item)

    for item, (outcome, message) in zip(
        plan.items, parallel_map(remote.workers, list(plan.items), check), strict=True
    ):
        if outcome is Outcome.VANISHED:
            continue
        if outcome is Outcome.UNPUSHED:
            unpushed.append(item.obj.key)
            continue
        checked += 1
        if outcome is Outcome.PROBLEM and message is not None:
            problems.append(message)
    return VerifyReport(plan.url, checked, problems, unpushed, list(plan.extra), plan.deep)


def _check(remote: Remote, item: VerifyItem) -> tuple[Outcome, str | None]:
    obj, info, entry = item.obj, item.info, item.entry
    key = obj.key
    if item.method is Method.UNPUSHED:
        return Outcome.UNPUSHED, None
    try:
        sha, md5 = hash_file(obj.path)
    except FileNotFoundError:
        return Outcome.VANISHED, None
    if obj.phase is Phase.LARGE_FILE and key[len(LARGE_KEY_PREFIX) :] != sha:
        return Outcome.PROBLEM, f"{key}: the pond's own large file is corrupt (sha256 {sha})"
    match item.method:
        case Method.LOST:
            return Outcome.PROBLEM, f"{key}: missing on the remote, though it was pushed"
        case Method.SIZE:
            assert info is not None
            return (
                Outcome.PROBLEM,
                f"{key}: {info.size} bytes on the remote, {obj.size} in the pond",
            )
        case Method.MUTABLE:
            assert info is not None
            same = _remote_md5(remote, key, info) == md5
            return (Outcome.OK, None) if same else (Outcome.UNPUSHED, None)
        case Method.DOWNLOAD:
            if _remote_sha256(remote, key) != sha:
                return Outcome.PROBLEM, f"{key}: content on the remote differs from the pond"
            return Outcome.OK, None
        case Method.MANIFEST:
            assert entry is not None
            if entry.sha256 != sha:
                return Outcome.PROBLEM, (
                    f"{key}: the pond's copy changed since it was pushed "
                    f"(pushed sha256 {entry.sha256}, now {sha})"
                )
            return Outcome.OK, None
        case Method.MD5:
            assert info is not None
            if _remote_md5(remote, key, info) != md5:
                return Outcome.PROBLEM, f"{key}: content on the remote differs from the pond"
            return Outcome.OK, None
    raise AssertionError(item.method)  # pragma: no cover - the match is exhaustive


def verify(
    pond: Pond,
    remote: Remote | str | None = None,
    *,
    options: Mapping[str, str] | None = None,
    deep: bool = False,
    lock_timeout: float = 60.0,
) -> VerifyReport:
    """Check the remote against the pond: every object present, same size, same content.

    :func:`plan_verify` then :func:`run_verify`. Large files are also checked against their own
    name (sha256).

    Args:
        pond: the pond.
        remote: as for :func:`~duckpond.remote.backup.push`.
        options: options for a URL given as ``remote``.
        deep: download and hash every object.
        lock_timeout: seconds to wait for a running transaction before listing the pond.

    Returns:
        The report; ``report.ok`` is true when no problem was found. Objects not pushed yet
        are listed in ``unpushed``, not as problems.

    Raises:
        RemoteError: the store failed. NotFound, UsageError: an unknown remote, a bad URL.
    """
    r = resolve_remote(pond, remote, options)
    plan = plan_verify(pond, r, deep=deep, lock_timeout=lock_timeout)
    return run_verify(r, plan)


def _remote_md5(remote: Remote, key: str, info: ObjectInfo) -> str | None:
    md5 = remote.content_md5(key, info)
    if md5 is not None:
        return md5
    h = hashlib.md5(usedforsecurity=False)
    remote.get_file(key, HashSink(h))
    return h.hexdigest()


def _remote_sha256(remote: Remote, key: str) -> str:
    h = hashlib.sha256()
    remote.get_file(key, HashSink(h))
    return h.hexdigest()
