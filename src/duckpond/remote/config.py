"""Backup remotes kept in the pond's settings (rows of the control table).

Settings used (a key set to ``""`` is unset: settings are append-only records, the last wins)::

    backup.remote.<name>   JSON {"url": ..., "options": {...}}; options keep ${env:VAR} as written
    backup.auto_push       the name of the remote pushed to after every commit ("" = off)
    mirror.auto_sync       host folder kept in sync after every commit ("" = off; duckpond.mirror)

Secrets are never stored: ``secret_access_key`` and ``session_token`` must be ``${env:VAR}``
references, and :func:`add_backup` refuses anything else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from duckpond.errors import AlreadyExists, NotFound, UsageError
from duckpond.remote.store import (
    S3_OPTIONS,
    SECRET_OPTIONS,
    Remote,
    is_env_reference,
    normalize_url,
    open_remote,
)

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond

__all__ = [
    "AUTO_PUSH",
    "REMOTE_PREFIX",
    "RemoteConfig",
    "add_backup",
    "auto_push_remote",
    "get_backup",
    "list_backups",
    "remove_backup",
    "resolve_remote",
    "set_auto_push",
    "set_setting",
]

REMOTE_PREFIX: Final = "backup.remote."
AUTO_PUSH: Final = "backup.auto_push"
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """A named backup remote as stored in the settings.

    Attributes:
        name: the remote's name (``[A-Za-z0-9][A-Za-z0-9_.-]*``).
        url: ``s3://bucket/prefix`` or ``file:///dir``.
        options: as written, ``${env:VAR}`` references unexpanded (safe to print).
        auto_push: whether this remote is pushed to after every commit.
    """

    name: str
    url: str
    options: dict[str, str] = field(default_factory=dict)
    auto_push: bool = False

    def open(self) -> Remote:
        """The remote, with ``${env:VAR}`` expanded now.

        Raises:
            UsageError: an unset variable or a bad option.
        """
        return open_remote(self.url, self.options)


def set_setting(pond: Pond, key: str, value: str) -> None:
    """Record a pond setting (one control-table commit, under the write lock)."""
    pond.set_setting(key, value)


def _settings(pond: Pond) -> dict[str, str]:
    return pond.settings  # cached by the pond; set_setting drops the cache


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise UsageError(
            f"invalid remote name {name!r}: letters, digits, '_', '.', '-' (at most 64)"
        )


def check_options(url: str, options: Mapping[str, str]) -> dict[str, str]:
    """Validate options for storing: known names, secrets only as ``${env:VAR}`` references.

    Raises:
        UsageError: an unknown option, an option for a file remote, a secret in clear.
    """
    out = {str(k): str(v) for k, v in options.items()}
    if url.startswith("file:"):
        if out:
            raise UsageError("a file remote takes no options")
        return out
    unknown = set(out) - S3_OPTIONS
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(S3_OPTIONS))})"
        )
    for key in sorted(SECRET_OPTIONS & set(out)):
        if not is_env_reference(out[key]):
            raise UsageError(
                f"option {key} must be an ${{env:VAR}} reference: "
                "secrets are never stored in the pond"
            )
    return out


def add_backup(
    pond: Pond,
    name: str,
    url: str,
    options: Mapping[str, str] | None = None,
    *,
    replace: bool = False,
) -> RemoteConfig:
    """Configure a backup remote ``name`` (nothing is contacted yet).

    Args:
        pond: the pond.
        name: the remote's name.
        url: ``s3://bucket/prefix``, ``file:///dir`` or a host path (made absolute).
        options: S3 options (see :mod:`duckpond.remote.store`); ``${env:VAR}`` kept as written.
        replace: overwrite an existing remote of that name.

    Raises:
        UsageError: bad name, URL or options (secrets must be ``${env:VAR}``).
        AlreadyExists: ``name`` exists and ``replace`` is false.
    """
    _check_name(name)
    url = normalize_url(url)
    opts = check_options(url, options or {})
    key = REMOTE_PREFIX + name
    if not replace and _settings(pond).get(key):
        raise AlreadyExists(f"a backup remote named {name!r} exists", str(pond.path))
    set_setting(pond, key, json.dumps({"url": url, "options": opts}, sort_keys=True))
    return get_backup(pond, name)


def remove_backup(pond: Pond, name: str) -> None:
    """Forget the remote ``name`` (its objects stay where they are); stops its auto push.

    Raises:
        NotFound: no remote of that name.
    """
    get_backup(pond, name)
    set_setting(pond, REMOTE_PREFIX + name, "")
    if _settings(pond).get(AUTO_PUSH) == name:
        set_setting(pond, AUTO_PUSH, "")


def list_backups(pond: Pond) -> list[RemoteConfig]:
    """The configured remotes, sorted by name."""
    settings = _settings(pond)
    auto = settings.get(AUTO_PUSH) or ""
    out = []
    for key, value in sorted(settings.items()):
        if key.startswith(REMOTE_PREFIX) and value:
            name = key[len(REMOTE_PREFIX) :]
            spec = json.loads(value)
            options = dict(spec.get("options") or {})
            out.append(RemoteConfig(name, spec["url"], options, auto == name))
    return out


def get_backup(pond: Pond, name: str | None = None) -> RemoteConfig:
    """The remote ``name``, or the only one when ``name`` is ``None``.

    Raises:
        NotFound: no such remote (or none configured). UsageError: several, and no name given.
    """
    remotes = list_backups(pond)
    if name is None:
        if not remotes:
            raise NotFound("no backup remote configured (pond backup add NAME URL)", str(pond.path))
        if len(remotes) > 1:
            auto = [r for r in remotes if r.auto_push]
            if auto:
                return auto[0]
            names = ", ".join(r.name for r in remotes)
            raise UsageError(f"several backup remotes ({names}): name one")
        return remotes[0]
    for r in remotes:
        if r.name == name:
            return r
    raise NotFound(f"no backup remote named {name!r}", str(pond.path))


def resolve_remote(
    pond: Pond | None, remote: Remote | str | None, options: Mapping[str, str] | None = None
) -> Remote:
    """A :class:`Remote` from a Remote, a configured name, a URL, or ``None`` (the default).

    Raises:
        NotFound, UsageError: see :func:`get_backup` and :func:`~duckpond.remote.store.open_remote`.
    """
    if isinstance(remote, Remote):
        return remote
    if remote is not None and ("://" in remote or remote.startswith("/")):
        return open_remote(remote, options)
    if pond is None:
        raise UsageError("a remote name needs a pond")
    return get_backup(pond, remote).open()


def set_auto_push(pond: Pond, name: str | None) -> None:
    """Push to remote ``name`` after every commit (``None`` turns it off).

    Raises:
        NotFound: no remote of that name.
    """
    if name is not None:
        get_backup(pond, name)
    set_setting(pond, AUTO_PUSH, name or "")


def auto_push_remote(pond: Pond) -> RemoteConfig | None:
    """The remote to push to after each commit, if one is set."""
    name = _settings(pond).get(AUTO_PUSH) or ""
    if not name:
        return None
    try:
        return get_backup(pond, name)
    except NotFound:
        return None
