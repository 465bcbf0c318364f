"""remote: back a pond up to an S3-compatible store or a folder, verify it, restore it.

The pieces, each a plan step (reads only; what a dry run prints) and an apply step:

- :mod:`duckpond.remote.store`: the :class:`Remote` protocol and its backends, by URL scheme
  (``s3://bucket/prefix`` through boto3, ``file:///dir``), ``${env:VAR}`` option expansion,
  :func:`check_key` (no key from a remote names a place outside the folder it is joined to).
- :mod:`duckpond.remote.config`: named remotes and the auto-push setting, kept in the pond's
  settings with ``${env:VAR}`` references unexpanded (never a secret in clear).
- :mod:`duckpond.remote.objects`: the pond's side: which host files a backup holds (paths from
  :class:`duckpond.layout.PondLayout`), their keys and push order (:class:`Phase`).
- :mod:`duckpond.remote.manifest`: ``pond.json`` (:class:`BackupSpec`) and the push manifests
  (:class:`ManifestEntry`).
- :mod:`duckpond.remote.backup`: :func:`plan_push` / :func:`apply_push` / :func:`push`
  (incremental, in an order that keeps the remote a readable Delta table at every moment).
- :mod:`duckpond.remote.verification`: :func:`plan_verify` / :func:`run_verify` / :func:`verify`.
- :mod:`duckpond.remote.restoration`: :func:`plan_restore` / :func:`apply_restore` /
  :func:`restore` (nothing is left at the destination unless the pond restores whole).
- :mod:`duckpond.remote.hooks`: :func:`after_commit`, the auto push and auto mirror sync a write
  command runs after its commit.

Only the standard library is imported here; boto3 is imported when an ``s3://`` remote is opened.
"""

from duckpond.remote.backup import (
    PushPlan,
    PushRecord,
    PushReport,
    apply_push,
    last_push,
    plan_push,
    push,
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
from duckpond.remote.manifest import BackupSpec, ManifestEntry, PondMismatch
from duckpond.remote.objects import LocalObject, Phase, local_objects
from duckpond.remote.restoration import (
    RestorePlan,
    RestoreReport,
    apply_restore,
    check_file_versions,
    plan_restore,
    restore,
)
from duckpond.remote.store import (
    FileRemote,
    ObjectInfo,
    Remote,
    S3Remote,
    check_key,
    expand_env,
    open_remote,
)
from duckpond.remote.verification import VerifyPlan, VerifyReport, plan_verify, run_verify, verify

__all__ = [
    "AfterCommitReport",
    "BackupSpec",
    "FileRemote",
    "LocalObject",
    "ManifestEntry",
    "ObjectInfo",
    "Phase",
    "PondMismatch",
    "PushPlan",
    "PushRecord",
    "PushReport",
    "Remote",
    "RemoteConfig",
    "RestorePlan",
    "RestoreReport",
    "S3Remote",
    "VerifyPlan",
    "VerifyReport",
    "add_backup",
    "after_commit",
    "apply_push",
    "apply_restore",
    "auto_push_remote",
    "check_file_versions",
    "check_key",
    "expand_env",
    "get_backup",
    "last_push",
    "list_backups",
    "local_objects",
    "open_remote",
    "plan_push",
    "plan_restore",
    "plan_verify",
    "push",
    "remove_backup",
    "resolve_remote",
    "restore",
    "run_verify",
    "set_auto_push",
    "verify",
]
