"""Restore: rebuild a pond from a backup, and hand it over only if it is whole.

Two steps. :func:`plan_restore` reads the remote's listing, ``pond.json`` and manifests and
refuses a backup that cannot restore whole before anything is written:

- a key that is unsafe to join to a host folder (``..``, ``.``, empty or absolute parts, a
  backslash, control characters: :func:`~duckpond.remote.store.check_key`), or that is both a
  file and a folder;
- an unreadable manifest, or an object a manifest records that the remote no longer lists;
- a table log whose newest state is not whole (a version missing between the newest checkpoint,
  or version 0, and the newest version), or no data-table commit at all.

:func:`apply_restore` downloads into a temporary sibling of the destination, checks every object
against the sha256 its push recorded (a large file also against its name), opens the pond and
checks every file version's sha256, and that the control table's last committed transaction is
in the data log. A push that was cut short leaves the data log ahead of the control table: the
transactions the control table lacks (or left pending) are settled from the data table's commit
information, so the restored pond's ``pond log`` agrees with its data. Only then is the folder
renamed into place: after any failure (or a kill) nothing is left at the destination.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from duckpond import diagnostics, faults
from duckpond.errors import (
    AlreadyExists,
    IntegrityError,
    InvalidData,
    NotAPond,
    NotFound,
    PondError,
    os_error,
)
from duckpond.layout import DATA_DIR, DELTA_LOG, TABLES, TMP_PREFIX, PondLayout
from duckpond.remote.manifest import POND_JSON, BackupSpec, Manifests, load_manifests, read_spec
from duckpond.remote.objects import (
    LARGE_KEY_PREFIX,
    HashSink,
    each,
    is_large_key,
    log_key_version,
)
from duckpond.remote.store import Remote, check_key, open_remote
from duckpond.units import format_bytes

if TYPE_CHECKING:
    from duckpond.steward.control import ControlRecord
    from duckpond.steward.pond import Pond

__all__ = [
    "FetchItem",
    "RestorePlan",
    "RestoreReport",
    "apply_restore",
    "check_file_versions",
    "log_gaps",
    "plan_restore",
    "restore",
]

#: Called after each object is fetched: (key, bytes).
Progress = Callable[[str, int], None]
#: Staging folders are named ``<TMP_PREFIX>restore-<pid>-<random>-<dest name>``.
_STAGE: Final = f"{TMP_PREFIX}restore-"
#: The outcomes of a control record that mean "its data commit is in the data table".
_COMMITTED: Final = frozenset({"committed", "recovered"})

_log = diagnostics.get_logger("remote")


# --------------------------------------------------------------------------------------------
# plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchItem:
    """One object to download.

    Attributes:
        key: its key (validated).
        size: bytes, as listed.
        sha256: what its content must hash to as its push recorded it, if recorded (a large
            file must also hash to its name).
    """

    key: str
    size: int
    sha256: str | None


@dataclass(frozen=True, slots=True)
class RestorePlan:
    """What :func:`apply_restore` downloads: a backup already found whole by its listing.

    Attributes:
        url: the remote.
        spec: its ``pond.json``.
        fetch: every object of the two tables, sorted by key.
        data_version: the newest data-table version restored.
        left_out: checkpoints of a version whose commit a push cut short never sent.
    """

    url: str
    spec: BackupSpec
    fetch: tuple[FetchItem, ...]
    data_version: int
    left_out: tuple[str, ...] = ()

    @property
    def bytes(self) -> int:
        return sum(i.size for i in self.fetch)

    def summary(self) -> str:
        return (
            f"{self.url}: pond {self.spec.pond_id}, {len(self.fetch)} objects "
            f"({format_bytes(self.bytes)}), data version {self.data_version}"
        )


def plan_restore(remote: Remote) -> RestorePlan:
    """Read the backup's listing and manifests; refuse it if it cannot restore whole.

    Nothing is written anywhere.

    Raises:
        NotFound: no backup there (no ``pond.json``).
        IntegrityError: an unsafe key, an unreadable manifest, a recorded object missing, a
            table log whose newest state is not whole (exit 8).
        PondMismatch: a ``pond.json`` that is not a DuckPond backup's.
        RemoteError: the store failed.
    """
    listing = remote.list_objects()
    for key in sorted(listing):
        try:
            check_key(key)
        except InvalidData as exc:
            raise IntegrityError(f"the backup holds an {exc.message}", remote.url) from None
    spec = read_spec(remote, listing)
    if spec is None:
        raise NotFound(f"no DuckPond backup here (no {POND_JSON})", remote.url)
    manifests = load_manifests(remote, listing)
    problems = _listing_problems(set(listing), manifests)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise IntegrityError(f"the backup is not whole: {problems[0]}{more}", remote.url)
    left_out = _unfinished_checkpoints(set(listing))
    fetch: list[FetchItem] = []
    for key in sorted(k for k in listing if k.split("/", 1)[0] in TABLES and k not in left_out):
        entry = manifests.entries.get(key)
        sha = entry.sha256 if entry is not None else None
        if entry is not None and _mutable(key) and entry.fingerprint != listing[key].fingerprint:
            sha = None  # rewritten by a later push whose manifest never arrived: not recorded
        fetch.append(FetchItem(key, listing[key].size, sha))
    data_versions = [
        v[1]
        for k in listing
        if (v := log_key_version(k)) and v[0] == DATA_DIR and k not in left_out
    ]
    return RestorePlan(
        remote.url, spec, tuple(fetch), max(data_versions, default=-1), tuple(sorted(left_out))
    )


def _mutable(key: str) -> bool:
    """Whether a pond rewrites the file in place (``_delta_log/_last_checkpoint``)."""
    parts = key.split("/")
    return len(parts) == 3 and parts[1] == DELTA_LOG and log_key_version(key) is None


def _listing_problems(listed: set[str], manifests: Manifests) -> list[str]:
    problems = [f"manifest {m}" for m in manifests.unreadable]
    lost = sorted(k for k in manifests.entries if k not in listed and k.split("/")[0] in TABLES)
    problems += [f"{k}: recorded by a push, missing on the remote" for k in lost]
    folders = {k[:i] for k in listed for i, c in enumerate(k) if c == "/"}
    problems += [f"{k}: both an object and a folder of objects" for k in sorted(listed & folders)]
    problems += log_gaps(listed)
    return problems


def log_gaps(keys: set[str]) -> list[str]:
    """Problems of each table's ``_delta_log`` among ``keys``: one line per table.

    A table's newest state is whole when every commit from its newest checkpoint (or from
    version 0, without one) up to its newest version is present. Older history may have gaps
    (the pond cleans up its control table's log, and the data table's after 30 days).
    """
    return [p for table in TABLES if (p := _log_gap(keys, table)) is not None]


def _log_gap(keys: set[str], table: str) -> str | None:
    commits: set[int] = set()
    checkpoints: set[int] = set()
    for key in keys:
        v = log_key_version(key)
        if v is not None and v[0] == table:
            (checkpoints if v[2] else commits).add(v[1])
    if not commits and not checkpoints:
        return f"no commit of the {table} table is in the backup (was the first push cut short?)"
    top = max(commits | checkpoints)
    base = max(checkpoints) if checkpoints else -1
    missing = [v for v in range(base + 1, top + 1) if v not in commits]
    if not missing:
        return None
    span = f"{missing[0]}" if len(missing) == 1 else f"{missing[0]}..{missing[-1]}"
    return (
        f"{table}/_delta_log lacks version(s) {span} of {len(missing)} below its newest "
        f"version {top}"
    )


def _unfinished_checkpoints(keys: set[str]) -> set[str]:
    """Checkpoint files of a table's newest version whose commit never arrived (a push sends
    a checkpoint just before the commit of its version and was cut in between), where the
    table is whole without them: restoring the version before keeps every commit's
    information (txn_seq, txn_id, args), which the control table is settled from."""
    out: set[str] = set()
    for table in TABLES:
        versions = [(v[1], v[2], k) for k in keys if (v := log_key_version(k)) and v[0] == table]
        if not versions:
            continue
        top = max(v for v, _, _ in versions)
        at_top = {k for v, _, k in versions if v == top}
        if all(checkpoint for v, checkpoint, _ in versions if v == top):
            rest = keys - at_top
            if len(at_top) < len(versions) and _log_gap(rest, table) is None:
                out |= at_top
    return out


# --------------------------------------------------------------------------------------------
# apply
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What :func:`restore` did.

    Attributes:
        url: the remote; dest: the new pond.
        pond_id: the restored pond's id; txn_seq: its last committed transaction.
        objects, bytes: downloaded.
        file_versions_checked: file versions whose sha256 was checked.
        settled: transactions the backup's control table had not recorded as ended (a push
            cut short): marked recovered (their data is in the backup) or rolled back.
        seconds: wall time.
    """

    url: str
    dest: str
    pond_id: str
    txn_seq: int
    objects: int
    bytes: int
    file_versions_checked: int
    settled: tuple[int, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the ``pond restore`` command."""
        line = (
            f"restored pond {self.pond_id} as of transaction {self.txn_seq} into {self.dest}: "
            f"{self.objects} objects ({format_bytes(self.bytes)}), "
            f"{self.file_versions_checked} file versions checked, {self.seconds:.1f} s"
        )
        if self.settled:
            seqs = ", ".join(map(str, self.settled))
            line += f"; settled transaction(s) {seqs} that the backup had not recorded as ended"
        return line


def apply_restore(
    remote: Remote,
    plan: RestorePlan,
    dest: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> RestoreReport:
    """Download ``plan`` into ``dest`` (new or empty), check it, and only then put it there.

    Raises:
        AlreadyExists: ``dest`` is not empty.
        IntegrityError: an object or a file version does not match its sha256; the control
            table names a commit the data log lacks; the pond cannot be opened.
        RemoteError: the store failed. HostError: the host failed (disk full).
    """
    started = time.perf_counter()
    dest = Path(dest)
    _check_empty(dest)
    total = 0

    def fetch(item: FetchItem, stage: Path) -> tuple[str, int]:
        path = stage.joinpath(*item.key.split("/"))
        if not path.resolve().is_relative_to(stage.resolve()):  # defence in depth: keys are safe
            raise IntegrityError(f"the backup holds an unsafe object key {item.key!r}", plan.url)
        try:
            return download(item, path)
        except PondError:
            raise
        except OSError as exc:  # the host (disk full, permissions), not the remote
            raise os_error(exc, str(path), "writing the restored pond") from exc

    def download(item: FetchItem, path: Path) -> tuple[str, int]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
        try:
            sha = hashlib.sha256()
            with os.fdopen(fd, "wb") as f:
                n = remote.get_file(item.key, HashSink(sha, sink=f))
            if n != item.size:
                raise IntegrityError(
                    f"{item.key}: {n} bytes downloaded, {item.size} listed", plan.url
                )
            digest = sha.hexdigest()
            if is_large_key(item.key) and digest != item.key[len(LARGE_KEY_PREFIX) :]:
                raise IntegrityError(
                    f"{item.key}: content does not match its sha256 name", plan.url
                )
            if item.sha256 is not None and digest != item.sha256:
                raise IntegrityError(
                    f"{item.key}: content does not match the sha256 recorded when it was pushed",
                    plan.url,
                )
            Path(tmp).replace(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()
        return item.key, n

    def done(result: tuple[str, int]) -> None:
        nonlocal total
        key, n = result
        total += n
        if progress is not None:
            progress(key, n)

    with _staging(dest) as stage:
        each(
            max(1, workers or remote.workers),
            list(plan.fetch),
            lambda item: fetch(item, stage),
            done,
        )
        checked, txn_seq, settled = _check_restored(stage, plan)
    report = RestoreReport(
        url=plan.url,
        dest=str(dest),
        pond_id=plan.spec.pond_id,
        txn_seq=txn_seq,
        objects=len(plan.fetch),
        bytes=total,
        file_versions_checked=checked,
        settled=settled,
        seconds=time.perf_counter() - started,
    )
    _log.info("restore %s -> %s: %d objects, %d bytes", plan.url, dest, len(plan.fetch), total)
    return report


def restore(
    url: str | Remote,
    dest: str | os.PathLike[str],
    options: Mapping[str, str] | None = None,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> RestoreReport:
    """Rebuild a pond from a backup and check it whole before handing it over.

    :func:`plan_restore` then :func:`apply_restore`: every object under ``data/`` and
    ``control/`` is downloaded and checked against the sha256 its push recorded (a large file
    also against its name); then the pond is opened and every file version's sha256 is checked
    (inline content and large files), every directory snapshot decoded, and the control table
    checked against the data log. If anything is wrong, nothing is left at ``dest``.

    Args:
        url: ``s3://bucket/prefix``, ``file:///dir`` (or a :class:`Remote`).
        dest: where to create the pond: a new or empty folder.
        options: the remote's options (``${env:VAR}`` allowed).
        progress: called as ``progress(key, bytes)`` after each object is downloaded.
        workers: concurrent downloads.

    Raises:
        AlreadyExists: ``dest`` is not empty (exit 4).
        NotFound: no backup at ``url`` (no ``pond.json``; exit 3).
        IntegrityError: the backup does not restore whole (exit 8; ``dest`` left as it was).
        RemoteError: the store failed (exit 9; ``dest`` left as it was).
    """
    r = url if isinstance(url, Remote) else open_remote(url, options)
    _check_empty(Path(dest))
    plan = plan_restore(r)
    return apply_restore(r, plan, dest, progress=progress, workers=workers)


def _check_empty(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise AlreadyExists("the destination is not empty", str(dest))


@contextlib.contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """A private folder next to ``dest`` to restore into; renamed to ``dest`` if the block ends
    normally, removed otherwise.

    The rename is atomic (it replaces ``dest`` when that is an empty folder). Where the parent
    cannot take the folder (a read-only parent of an existing empty ``dest``), the folder is
    made inside ``dest`` and the two tables are moved up at the end.
    """
    parent = dest.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_stages(parent)
    name = f"{_STAGE}{os.getpid()}-{uuid.uuid4().hex[:8]}-{dest.name}"
    inside = False
    stage = parent / name
    try:
        stage.mkdir()
    except PermissionError:
        if not dest.is_dir():
            raise
        stage, inside = dest / name, True
        stage.mkdir()
    try:
        yield stage
        if inside:
            for child in stage.iterdir():
                child.rename(dest / child.name)
            stage.rmdir()
        else:
            if dest.is_dir():
                stage.chmod(dest.stat().st_mode & 0o7777)
            faults.point("restore-before-rename")
            os.rename(stage, dest)  # noqa: PTH104 - replaces an empty folder, atomically
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if inside:
            _empty(dest)
        raise


def _empty(dest: Path) -> None:
    for child in list(dest.iterdir()) if dest.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                child.unlink()


def _remove_stale_stages(parent: Path) -> None:
    """Remove staging folders of restores whose process is gone (killed)."""
    for entry in parent.glob(f"{_STAGE}*"):
        pid = entry.name[len(_STAGE) :].split("-", 1)[0]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


# --------------------------------------------------------------------------------------------
# checking the restored pond
# --------------------------------------------------------------------------------------------


def _check_restored(root: Path, plan: RestorePlan) -> tuple[int, int, tuple[int, ...]]:
    """Open the restored pond and check it: (file versions checked, txn_seq, settled)."""
    from duckpond.steward.pond import Pond

    try:
        pond = Pond.open(root)
        pond_id = pond.settings.get("pond_id")
        if pond_id != plan.spec.pond_id:
            raise IntegrityError(
                f"the restored pond's id {pond_id} is not the backup's {plan.spec.pond_id}",
                plan.url,
            )
        checked, problems = check_file_versions(pond)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise IntegrityError(f"{problems[0]}{more}", plan.url)
        settled = _settle(pond, plan.url)
        txn_seq = pond.txn_seq
    except IntegrityError:
        raise
    except (InvalidData, NotAPond, NotFound) as exc:
        raise IntegrityError(f"the restored pond cannot be read: {exc}", plan.url) from exc
    return checked, txn_seq, settled


def _settle(pond: Pond, url: str) -> tuple[int, ...]:
    """Make the control table agree with the data log; the transactions it settled.

    The data log must hold the control table's last committed transaction. Transactions the
    control table left pending are settled as :meth:`Pond.recover` does; data commits it has no
    record of at all (the push was cut short before its control log arrived) get a
    ``recovered`` record built from their commit information (txn_seq, txn_id, args, time).

    Raises:
        IntegrityError: the control table names a commit the data log lacks, or a data commit
            without a record has no commit information.
    """
    records = pond.log()
    committed = [t for t in records if t.outcome in _COMMITTED and t.data_version is not None]
    last = max(committed, key=lambda t: t.txn_seq, default=None)
    data_seq, top = pond.txn_seq, pond.data_version
    if last is not None and (last.txn_seq > data_seq or (last.data_version or 0) > top):
        raise IntegrityError(
            f"the control table records transaction {last.txn_seq} as committed at data version "
            f"{last.data_version}, but the backup's data log ends at version {top} (transaction "
            f"{data_seq}): the backup is not whole",
            url,
        )
    settled: list[int] = []
    if any(t.outcome == "pending" for t in records):
        report = pond.recover()
        settled += [*report.committed, *report.rolled_back]
        records = pond.log()
    known = {t.txn_id for t in records}
    recorded = max((t.txn_seq for t in committed), default=0)
    if data_seq > recorded:
        rows = _missing_records(pond, known, recorded, url)
        if rows:
            pond.control.append(rows)
            settled += [r.txn_seq for r in rows if r.txn_seq is not None]
    return tuple(sorted(set(settled)))


def _missing_records(pond: Pond, known: set[str], after: int, url: str) -> list[ControlRecord]:
    """Control records for the data commits after txn ``after`` that have none."""
    from deltalake import DeltaTable

    from duckpond.errors import translate_errors
    from duckpond.steward.control import ControlRecord, RecordType

    with translate_errors(str(pond.path), what="reading the data table's history"):
        history = DeltaTable(str(PondLayout.of(pond.path).data)).history()
    rows: list[ControlRecord] = []
    found: set[int] = set()
    for h in history:
        seq, txn_id = h.get("txn_seq"), h.get("txn_id")
        if seq is None or txn_id is None or int(seq) <= after:
            continue
        found.add(int(seq))
        if str(txn_id) in known:
            continue
        try:
            args = [str(a) for a in json.loads(str(h.get("args") or "[]"))]
        except ValueError:
            args = []
        rows.append(
            ControlRecord(
                RecordType.RECOVERED,
                txn_seq=int(seq),
                txn_id=str(txn_id),
                args=tuple(args),
                data_version=int(h["version"]),
                timestamp=int(h.get("timestamp") or 0) * 1000,
                error="committed; its record was not in the backup (settled by restore)",
            )
        )
    lacking = sorted(set(range(after + 1, pond.txn_seq + 1)) - found)
    if lacking:
        raise IntegrityError(
            f"the data table holds transaction(s) {', '.join(map(str, lacking))} with neither a "
            "control record nor commit information: the backup is not whole",
            url,
        )
    rows.sort(key=lambda r: r.txn_seq or 0)
    return rows


def check_file_versions(pond: Pond) -> tuple[int, list[str]]:
    """Check every stored file version's bytes against its sha256 and size.

    Inline content is hashed from the oplog; large files from ``_large_files`` (each once);
    directory snapshots must decode. A series version a collapse holds may have lost its own
    chunk file (deleted after the retention, as ``pond maintain`` does): the collapse has its
    rows, so that is not a problem; a chunk that is there is checked.

    Returns:
        (file versions checked, problems: one line each).
    """
    import pyarrow as pa

    from duckpond.tinyfs.model import FileType, decode_directory
    from duckpond.tlogfs.delta import held_by_collapse

    layout = PondLayout.of(pond.path)
    table = pond.oplog()
    held = held_by_collapse(table)
    cols = table.select(["node_id", "version", "file_type", "content", "sha256", "size"])
    seen: dict[str, str | None] = {}
    problems: list[str] = []
    checked = 0
    for row in cols.to_pylist():
        node, version, ftype = row["node_id"], row["version"], row["file_type"]
        content, sha, size = row["content"], row["sha256"], row["size"]
        where = f"node {node} version {version}"
        if ftype in (FileType.DIR_PHYSICAL, FileType.DIR_DYNAMIC):
            if ftype == FileType.DIR_PHYSICAL:
                try:
                    decode_directory(content)
                except (pa.ArrowException, ValueError) as exc:  # bytes Arrow cannot read
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
            path = layout.large_file(sha)
            try:
                with open(path, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
                seen[sha] = None if digest == sha else "does not match its sha256"
                if seen[sha] is None and size is not None and path.stat().st_size != size:
                    seen[sha] = f"has {path.stat().st_size} bytes, not {size}"
            except FileNotFoundError:
                seen[sha] = "is missing"
        if seen[sha] == "is missing" and (node, version) in held:
            continue  # a collapse holds its rows; its own chunk was deleted after the retention
        if seen[sha] is not None:
            problems.append(f"{where}: large file sha256={sha} {seen[sha]}")
    return checked, problems
