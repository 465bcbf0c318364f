"""remote: back a pond up to an S3-compatible store or a folder, verify it, restore it.

DESIGN.md, "Backup, restore, mirror". The pieces:

- :mod:`duckpond.remote.store`: the :class:`Remote` protocol and its backends, by URL scheme
  (``s3://bucket/prefix`` through boto3, ``file:///dir``), ``${env:VAR}`` option expansion.
- :mod:`duckpond.remote.config`: named remotes and the auto-push setting, kept in the pond's
  settings with ``${env:VAR}`` references unexpanded (never a secret in clear).
- :mod:`duckpond.remote.backup`: :func:`push` (incremental, in an order that keeps the remote a
  readable Delta table at every moment), :func:`verify`, :func:`restore`.
- :mod:`duckpond.remote.hooks`: :func:`after_commit`, the auto push and auto mirror sync a write
  command runs after its commit.

Only the standard library is imported here; boto3 is imported when an ``s3://`` remote is opened.
"""

from duckpond.remote.backup import (
    LocalObject,
    PondMismatch,
    PushReport,
    RestoreReport,
    VerifyReport,
    check_file_versions,
    local_objects,
    push,
    restore,
    verify,
)
from duckpond.remote.config import (
    RemoteConfig,
    add_backup,
    auto_push_remote,
    get_backup,
    list_backups,
    remove_backup,
    resolve_remote,
    set_auto_push,
)
from duckpond.remote.hooks import AfterCommitReport, after_commit
from duckpond.remote.store import FileRemote, ObjectInfo, Remote, S3Remote, expand_env, open_remote

__all__ = [
    "AfterCommitReport",
    "FileRemote",
    "LocalObject",
    "ObjectInfo",
    "PondMismatch",
    "PushReport",
    "Remote",
    "RemoteConfig",
    "RestoreReport",
    "S3Remote",
    "VerifyReport",
    "add_backup",
    "after_commit",
    "auto_push_remote",
    "check_file_versions",
    "expand_env",
    "get_backup",
    "list_backups",
    "local_objects",
    "open_remote",
    "push",
    "remove_backup",
    "resolve_remote",
    "restore",
    "set_auto_push",
    "verify",
]
