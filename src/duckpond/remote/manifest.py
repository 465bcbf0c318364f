"""What a backup says about itself: ``pond.json`` and the push manifests.

Layout of a backup (``<root>`` is ``s3://bucket/prefix`` or ``file:///dir``)::

    <root>/pond.json                      BackupSpec: whose backup this is
    <root>/data/..., <root>/control/...   the pond's tables (duckpond.remote.objects)
    <root>/_duckpond/manifests/<id>.json  one per push: a ManifestEntry per object it sent

``pond.json`` (indented JSON)::

    {"format": "duckpond-backup/1", "pond_id": "<id>", "format_version": "1", "created_us": µs}

A manifest (compact JSON)::

    {"format": "duckpond-manifest/1", "pond_id": "<id>", "created_us": µs, "txn_seq": N,
     "merged": false, "objects": {"<key>": {"size": bytes, "sha256": hex, "fingerprint": etag}}}

Later manifests win for a key (an object sent again has a new fingerprint). More than
:data:`MAX_MANIFESTS` and a push merges them into one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from duckpond.errors import AlreadyExists, InvalidData
from duckpond.remote.objects import parallel_map
from duckpond.remote.store import ObjectInfo, Remote, check_key

__all__ = [
    "BACKUP_FORMAT",
    "MANIFEST_DIR",
    "MANIFEST_FORMAT",
    "MAX_MANIFESTS",
    "POND_JSON",
    "BackupSpec",
    "ManifestEntry",
    "Manifests",
    "PondMismatch",
    "load_manifests",
    "manifest_body",
    "read_spec",
]

POND_JSON: Final = "pond.json"
MANIFEST_DIR: Final = "_duckpond/manifests/"
BACKUP_FORMAT: Final = "duckpond-backup/1"
MANIFEST_FORMAT: Final = "duckpond-manifest/1"
#: More manifests than this and a push merges them into one.
MAX_MANIFESTS: Final = 32


class PondMismatch(AlreadyExists):
    """The remote holds the backup of another pond, or something that is not a backup."""


@dataclass(frozen=True, slots=True)
class BackupSpec:
    """``pond.json``: whose backup a remote holds.

    Attributes:
        pond_id: the pond's id.
        format: :data:`BACKUP_FORMAT`.
        format_version: the pond's format version when the backup began.
        created_us: when the backup began, µs since the epoch, UTC.
    """

    pond_id: str
    format: str = BACKUP_FORMAT
    format_version: str | None = None
    created_us: int | None = None

    def to_bytes(self) -> bytes:
        body = {
            "format": self.format,
            "pond_id": self.pond_id,
            "format_version": self.format_version,
            "created_us": self.created_us,
        }
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_bytes(cls, raw: bytes, url: str) -> BackupSpec:
        """Parse ``pond.json``.

        Raises:
            PondMismatch: not JSON, or no ``pond_id``: not a DuckPond backup.
        """
        try:
            spec = json.loads(raw)
        except ValueError:
            raise PondMismatch(
                f"{POND_JSON} is not valid JSON: not a DuckPond backup", url
            ) from None
        if not isinstance(spec, dict) or not isinstance(spec.get("pond_id"), str):
            raise PondMismatch(f"{POND_JSON} names no pond_id: not a DuckPond backup", url)
        created = spec.get("created_us")
        version = spec.get("format_version")
        return cls(
            pond_id=spec["pond_id"],
            format=str(spec.get("format", "")),
            format_version=str(version) if version is not None else None,
            created_us=created if isinstance(created, int) else None,
        )


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One object as a push recorded it.

    Attributes:
        size: bytes.
        sha256: hex digest of the content sent.
        fingerprint: the remote's fingerprint of the object right after it was stored (S3 ETag,
            or ``"<size>:<mtime_ns>"`` for a folder): while it is unchanged, so is the object.
    """

    size: int
    sha256: str
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256, "fingerprint": self.fingerprint}

    @classmethod
    def from_json(cls, obj: object) -> ManifestEntry:
        """Parse one entry.

        Raises:
            ValueError: not ``{"size": int, "sha256": str, "fingerprint": str}``.
        """
        if not isinstance(obj, dict):
            raise ValueError("an entry is not an object")
        size, sha, fingerprint = obj.get("size"), obj.get("sha256"), obj.get("fingerprint")
        if (
            not isinstance(size, int)
            or not isinstance(sha, str)
            or not isinstance(fingerprint, str)
        ):
            raise ValueError("an entry lacks size, sha256 or fingerprint")
        return cls(size, sha, fingerprint)


@dataclass(frozen=True, slots=True)
class Manifests:
    """Every manifest of a remote, folded together.

    Attributes:
        keys: the manifests' own keys, sorted.
        entries: object key -> its latest :class:`ManifestEntry`.
        unreadable: manifests that could not be read or parsed, each with the reason.
    """

    keys: tuple[str, ...] = ()
    entries: Mapping[str, ManifestEntry] = field(default_factory=dict)
    unreadable: tuple[str, ...] = ()


def read_spec(remote: Remote, listing: Mapping[str, ObjectInfo]) -> BackupSpec | None:
    """The remote's ``pond.json``, or ``None`` if it has none.

    Raises:
        PondMismatch: a ``pond.json`` that is not a DuckPond backup's.
        RemoteError: the store failed.
    """
    if POND_JSON not in listing:
        return None
    raw = remote.get_bytes_or_none(POND_JSON)
    if raw is None:
        return None
    return BackupSpec.from_bytes(raw, remote.url)


def load_manifests(remote: Remote, listing: Mapping[str, ObjectInfo]) -> Manifests:
    """Read and fold every manifest the listing names (in parallel).

    A manifest that is missing, not JSON, of another shape or naming an unsafe key is reported
    in ``unreadable`` (with the reason), not raised.

    Raises:
        RemoteError: the store failed.
    """
    keys = sorted(k for k in listing if k.startswith(MANIFEST_DIR) and k.endswith(".json"))
    bodies = parallel_map(remote.workers, keys, remote.get_bytes_or_none)
    entries: dict[str, ManifestEntry] = {}
    unreadable: list[str] = []
    for key, raw in zip(keys, bodies, strict=True):
        try:
            objects = _parse_manifest(raw)
        except ValueError as exc:
            unreadable.append(f"{key}: {exc}")
            continue
        entries.update(objects)  # later manifests win: a re-sent object has a new fingerprint
    return Manifests(tuple(keys), entries, tuple(unreadable))


def _parse_manifest(raw: bytes | None) -> dict[str, ManifestEntry]:
    if raw is None:
        raise ValueError("vanished while being read")
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValueError("not valid JSON") from None
    objects = body.get("objects") if isinstance(body, dict) else None
    if not isinstance(objects, dict):
        raise ValueError("no objects mapping")
    out: dict[str, ManifestEntry] = {}
    for key, entry in objects.items():
        try:
            check_key(key)
        except InvalidData as exc:
            raise ValueError(exc.message) from None
        out[key] = ManifestEntry.from_json(entry)
    return out


def manifest_body(
    pond_id: str, txn_seq: int, objects: Mapping[str, ManifestEntry], *, merged: bool = False
) -> tuple[str, bytes]:
    """(key, body) of a new manifest recording ``objects``."""
    from duckpond.times import now_us
    from duckpond.tinyfs.model import new_node_id

    key = f"{MANIFEST_DIR}{new_node_id()}.json"
    body = json.dumps(
        {
            "format": MANIFEST_FORMAT,
            "pond_id": pond_id,
            "created_us": now_us(),
            "txn_seq": txn_seq,
            "merged": merged,
            "objects": {k: objects[k].to_json() for k in sorted(objects)},
        },
        separators=(",", ":"),
    ).encode()
    return key, body
