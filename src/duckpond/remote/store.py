"""Object stores a backup goes to: the :class:`Remote` protocol and its two backends.

A remote is a flat namespace of keys (POSIX-style, ``/``-separated, relative to the remote's
root) holding immutable byte objects. Backends are chosen by URL scheme (:func:`open_remote`)::

    s3://bucket/prefix      any S3-compatible store, through boto3 (:class:`S3Remote`)
    file:///abs/dir         a host folder (:class:`FileRemote`); a bare absolute path works too

Only a small core is backend-specific (``list_objects``, ``put_file``, ``put_bytes``, ``get_file``,
``get_bytes``, ``delete``, ``content_md5``); everything else (push, verify, restore) is written
once above it in :mod:`duckpond.remote.backup` (push), :mod:`~duckpond.remote.verification`
and :mod:`~duckpond.remote.restoration`.

Option values may hold ``${env:VAR}`` references; they are expanded only when the remote is
opened (:func:`expand_env`), so what is stored in the pond's settings never holds a secret.

S3 options (all optional; the usual AWS environment variables and config files apply when an
option is absent, e.g. ``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``):

====================  ========================================================================
endpoint_url          e.g. ``http://127.0.0.1:9000`` (MinIO, moto, R2); path-style addressing
region                e.g. ``us-east-1`` (default ``us-east-1`` when an endpoint is given)
access_key_id         the access key id
secret_access_key     the secret key: must be an ``${env:VAR}`` reference when stored
session_token         a session token: must be an ``${env:VAR}`` reference when stored
addressing_style      ``path`` or ``virtual`` (default: ``path`` with an endpoint, else auto)
max_attempts          attempts per request, retries included (default 4)
====================  ========================================================================
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from duckpond.errors import InvalidData, NotFound, PondError, RemoteError, UsageError

__all__ = [
    "S3_OPTIONS",
    "SECRET_OPTIONS",
    "FileRemote",
    "ObjectInfo",
    "Remote",
    "S3Remote",
    "Sink",
    "check_key",
    "expand_env",
    "open_remote",
]

#: Options an ``s3://`` remote accepts.
S3_OPTIONS: Final = frozenset(
    {
        "endpoint_url",
        "region",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "addressing_style",
        "max_attempts",
    }
)
#: Options whose stored value must be an ``${env:VAR}`` reference, never the secret itself.
SECRET_OPTIONS: Final = frozenset({"secret_access_key", "session_token"})

_ENV_REF: Final = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
#: Characters no key may hold: backslash (a separator on some hosts), NUL and other controls.
_BAD_KEY_CHARS: Final = re.compile(r"[\\\x00-\x1f\x7f]")
_DRIVE: Final = re.compile(r"^[A-Za-z]:")
#: Longest key accepted (S3's own limit is 1024 bytes).
MAX_KEY_BYTES: Final = 1024
_CHUNK: Final = 1 << 20
#: Objects from this size on go up in parts (S3 multipart upload).
MULTIPART_THRESHOLD: Final = 64 << 20


class Sink(Protocol):
    """Where :meth:`Remote.get_file` writes: anything with ``write(bytes)``."""

    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object as a remote listing reports it.

    Attributes:
        size: length in bytes.
        fingerprint: changes whenever the object is rewritten: the S3 ETag, or
            ``"<size>:<mtime_ns>"`` for a folder.
    """

    size: int
    fingerprint: str


def expand_env(value: str, *, what: str = "option") -> str:
    """Replace every ``${env:VAR}`` in ``value`` with the environment variable's value.

    Raises:
        UsageError: a referenced variable is not set.
    """

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise UsageError(f"{what} refers to ${{env:{name}}}, but {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


def check_key(key: str, url: str | None = None) -> str:
    """``key`` if it is a safe relative object key, else raise.

    A key is ``/``-separated parts relative to the remote's root. Refused, because joining
    such a key to a host folder could name a place outside it: an empty key, a leading ``/``,
    an empty, ``.`` or ``..`` part, a backslash, a drive letter (``C:``), NUL or another
    control character, more than :data:`MAX_KEY_BYTES` bytes.

    Raises:
        InvalidData: the key is unsafe (the message shows it with ``repr``).
    """
    parts = key.split("/")
    if (
        not key
        or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES
        or _BAD_KEY_CHARS.search(key)
        or _DRIVE.match(key)
        or any(p in {"", ".", ".."} for p in parts)
    ):
        shown = repr(key) if len(key) <= 120 else repr(key[:100]) + "..."
        raise InvalidData(f"unsafe object key {shown} (refused)", url)
    return key


def is_env_reference(value: str) -> bool:
    """Whether ``value`` takes its content from the environment (holds an ``${env:VAR}``)."""
    return bool(_ENV_REF.search(value))


class Remote(ABC):
    """An object store holding one backup. Keys are relative to the remote's root.

    Subclasses implement the abstract methods; all of them translate the store's errors into
    :class:`~duckpond.errors.RemoteError` (or :class:`~duckpond.errors.NotFound` for a missing
    key) naming the remote's URL.

    Attributes:
        url: the remote's URL, without credentials (safe to print).
        workers: how many transfers to run at once.
    """

    url: str
    workers: int = 4

    # -- the required core ------------------------------------------------------------------

    @abstractmethod
    def list_objects(self, prefix: str = "") -> dict[str, ObjectInfo]:
        """Every object whose key starts with ``prefix``: key -> :class:`ObjectInfo`."""

    @abstractmethod
    def put_file(self, key: str, path: Path) -> ObjectInfo:
        """Store the host file ``path`` as ``key`` (atomically: all or nothing)."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        """Store ``data`` as ``key`` (atomically)."""

    @abstractmethod
    def get_file(self, key: str, sink: Sink) -> int:
        """Copy object ``key`` into the binary stream ``sink``; returns the bytes copied.

        Raises:
            NotFound: no such key.
        """

    @abstractmethod
    def delete(self, keys: list[str]) -> None:
        """Remove objects (missing ones are ignored)."""

    @abstractmethod
    def content_md5(self, key: str, info: ObjectInfo) -> str | None:
        """The MD5 (hex) of an object's content if the store gives it cheaply, else ``None``.

        S3 gives it as the ETag of an object uploaded in one part; a folder hashes the file.
        """

    # -- derived ----------------------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        """The whole content of ``key``.

        Raises:
            NotFound: no such key.
        """
        import io

        sink = io.BytesIO()
        self.get_file(key, sink)
        return sink.getvalue()

    def get_bytes_or_none(self, key: str) -> bytes | None:
        """Like :meth:`get_bytes`, ``None`` if the key does not exist."""
        try:
            return self.get_bytes(key)
        except NotFound:
            return None

    def delta_uri(self, key: str) -> str:
        """The URL a Delta Lake reader opens for the table stored under ``key``."""
        return f"{self.url.rstrip('/')}/{key}"

    def delta_storage_options(self) -> dict[str, str]:
        """``storage_options`` for ``deltalake.DeltaTable(self.delta_uri("data"), ...)``."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


# --------------------------------------------------------------------------------------------
# file:// - a host folder
# --------------------------------------------------------------------------------------------


class FileRemote(Remote):
    """A backup in a host folder: ``<root>/<key>``; writes go through a temporary file + rename.

    Args:
        root: the folder (created on first write).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()
        self.workers = 4

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key, self.url).split("/"))

    def _info(self, path: Path) -> ObjectInfo:
        st = path.stat()
        return ObjectInfo(st.st_size, f"{st.st_size}:{st.st_mtime_ns}")

    def list_objects(self, prefix: str = "") -> dict[str, ObjectInfo]:
        out: dict[str, ObjectInfo] = {}
        if not self.root.is_dir():
            return out
        try:
            for dirpath, dirnames, filenames in os.walk(self.root):
                dirnames.sort()
                rel_dir = Path(dirpath).relative_to(self.root).as_posix()
                base = "" if rel_dir == "." else rel_dir + "/"
                for name in filenames:
                    if name.startswith(".tmp-"):
                        continue
                    key = base + name
                    if key.startswith(prefix):
                        with contextlib.suppress(FileNotFoundError):
                            out[key] = self._info(Path(dirpath) / name)
        except OSError as exc:
            raise RemoteError(f"listing the folder failed: {exc}", self.url) from exc
        return out

    def _write(self, key: str, fill: Any) -> ObjectInfo:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    fill(f)
                Path(tmp).replace(path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    Path(tmp).unlink()
            return self._info(path)
        except OSError as exc:
            raise RemoteError(f"writing {key} failed: {exc.strerror or exc}", self.url) from exc

    def put_file(self, key: str, path: Path) -> ObjectInfo:
        with open(path, "rb") as src:  # a vanished source raises FileNotFoundError as is
            return self._write(key, lambda f: shutil.copyfileobj(src, f, _CHUNK))

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        return self._write(key, lambda f: f.write(data))

    def get_file(self, key: str, sink: Sink) -> int:
        path = self._path(key)
        try:
            with open(path, "rb") as src:
                n = 0
                while chunk := src.read(_CHUNK):
                    sink.write(chunk)
                    n += len(chunk)
                return n
        except FileNotFoundError:
            raise NotFound(f"no object {key}", self.url) from None
        except OSError as exc:
            raise RemoteError(f"reading {key} failed: {exc.strerror or exc}", self.url) from exc

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                self._path(key).unlink()

    def content_md5(self, key: str, info: ObjectInfo) -> str | None:
        try:
            with open(self._path(key), "rb") as f:
                return hashlib.file_digest(f, "md5").hexdigest()
        except FileNotFoundError:
            return None


# --------------------------------------------------------------------------------------------
# s3:// - any S3-compatible store through boto3
# --------------------------------------------------------------------------------------------


class S3Remote(Remote):
    """A backup under ``s3://bucket/prefix`` (AWS S3, MinIO, R2, moto, ...).

    Args:
        bucket: the bucket (it must exist; creating buckets is the store owner's business).
        prefix: the key prefix, without leading or trailing ``/`` (may be empty).
        options: expanded options (see the module docstring).
    """

    def __init__(self, bucket: str, prefix: str, options: Mapping[str, str]) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.workers = 8
        self.options = dict(options)
        endpoint = options.get("endpoint_url") or None
        region = options.get("region") or (
            "us-east-1" if endpoint and not os.environ.get("AWS_REGION") else None
        )
        style = options.get("addressing_style") or ("path" if endpoint else "auto")
        if style not in {"path", "virtual", "auto"}:
            raise UsageError(f"addressing_style must be path or virtual, not {style!r}", self.url)
        try:
            attempts = int(options.get("max_attempts") or 4)
        except ValueError:
            raise UsageError("max_attempts must be an integer", self.url) from None
        config = Config(
            region_name=region,
            retries={"max_attempts": attempts, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=max(10, self.workers * 2),
            s3={"addressing_style": style},
            # the newer default (a CRC trailer on every upload) breaks many S3-compatible stores
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session(
            aws_access_key_id=options.get("access_key_id") or None,
            aws_secret_access_key=options.get("secret_access_key") or None,
            aws_session_token=options.get("session_token") or None,
            region_name=region,
        )
        with _boto_errors(self.url, "connecting"):
            self.client = session.client("s3", endpoint_url=endpoint, config=config)
        self._session = session
        self._endpoint = endpoint or self.client.meta.endpoint_url
        self._region = self.client.meta.region_name

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def list_objects(self, prefix: str = "") -> dict[str, ObjectInfo]:
        out: dict[str, ObjectInfo] = {}
        base = f"{self.prefix}/" if self.prefix else ""
        with _boto_errors(self.url, "listing"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + prefix
            )
            for page in pages:
                for obj in page.get("Contents", ()):
                    key = obj["Key"][len(base) :]
                    out[key] = ObjectInfo(int(obj["Size"]), str(obj["ETag"]).strip('"'))
        return out

    def put_file(self, key: str, path: Path) -> ObjectInfo:
        with open(path, "rb") as f:  # a vanished source raises FileNotFoundError as is
            size = os.fstat(f.fileno()).st_size
            with _boto_errors(self.url, f"uploading {key}"):
                if size >= MULTIPART_THRESHOLD:
                    from boto3.s3.transfer import TransferConfig

                    self.client.upload_fileobj(
                        f,
                        self.bucket,
                        self._key(key),
                        Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD),
                    )
                    head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
                    return ObjectInfo(int(head["ContentLength"]), str(head["ETag"]).strip('"'))
                r = self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=f)
        return ObjectInfo(size, str(r["ETag"]).strip('"'))

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        with _boto_errors(self.url, f"uploading {key}"):
            r = self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return ObjectInfo(len(data), str(r["ETag"]).strip('"'))

    def get_file(self, key: str, sink: Sink) -> int:
        with _boto_errors(self.url, f"downloading {key}", key=key):
            r = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = r["Body"]
            n = 0
            for chunk in body.iter_chunks(_CHUNK):
                sink.write(chunk)
                n += len(chunk)
            return n

    def delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            batch = [{"Key": self._key(k)} for k in keys[i : i + 1000]]
            with _boto_errors(self.url, "deleting"):
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )

    def content_md5(self, key: str, info: ObjectInfo) -> str | None:
        etag = info.fingerprint
        if len(etag) == 32 and all(c in "0123456789abcdef" for c in etag):
            return etag
        return None  # a multipart or encrypted object: the ETag is not an MD5

    def delta_storage_options(self) -> dict[str, str]:
        """Options for deltalake (object_store): endpoint, region, credentials, plain HTTP."""
        out: dict[str, str] = {}
        if self._endpoint:
            out["AWS_ENDPOINT_URL"] = self._endpoint
            if self._endpoint.startswith("http://"):
                out["AWS_ALLOW_HTTP"] = "true"
        if self._region:
            out["AWS_REGION"] = self._region
        creds = self._session.get_credentials()
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            out["AWS_ACCESS_KEY_ID"] = frozen.access_key
            out["AWS_SECRET_ACCESS_KEY"] = frozen.secret_key
            if frozen.token:
                out["AWS_SESSION_TOKEN"] = frozen.token
        if self.options.get("addressing_style") == "virtual":
            out["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "true"
        return out


@contextlib.contextmanager
def _boto_errors(url: str, what: str, *, key: str | None = None) -> Iterator[None]:
    """Translate botocore errors into RemoteError / NotFound (one line, naming the remote)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except PondError:
        raise
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = str(err.get("Message", "") or code)
        if code in {"NoSuchKey", "404", "NotFound"} and key is not None:
            raise NotFound(f"no object {key}", url) from exc
        if code == "NoSuchBucket":
            raise RemoteError(f"{what}: the bucket does not exist", url) from exc
        if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}:
            raise RemoteError(
                f"{what}: access denied ({code}); check the credentials", url
            ) from exc
        raise RemoteError(f"{what}: {code}: {message}", url) from exc
    except BotoCoreError as exc:
        raise RemoteError(f"{what}: {exc}", url) from exc
    except OSError as exc:
        raise RemoteError(f"{what}: {exc.strerror or exc}", url) from exc


# --------------------------------------------------------------------------------------------
# opening by URL
# --------------------------------------------------------------------------------------------


def normalize_url(url: str) -> str:
    """``s3://bucket/prefix`` or ``file:///abs/dir`` (a bare host path becomes a file URL).

    Raises:
        UsageError: another scheme, no bucket, or a relative file URL.
    """
    url = url.strip()
    if "://" not in url:
        return Path(url).expanduser().resolve().as_uri()
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise UsageError(f"no bucket in {url!r} (use s3://bucket/prefix)")
        if parsed.username or parsed.password:
            raise UsageError("credentials do not belong in the URL: use ${env:VAR} options")
        return f"s3://{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
    if parsed.scheme == "file":
        if parsed.netloc not in {"", "localhost"} or not parsed.path.startswith("/"):
            raise UsageError(f"a file URL needs an absolute path: file:///dir, not {url!r}")
        return url
    raise UsageError(f"unsupported remote {url!r}: use s3://bucket/prefix or file:///dir")


def open_remote(url: str, options: Mapping[str, str] | None = None) -> Remote:
    """The remote at ``url``, options expanded (``${env:VAR}``) just now.

    Args:
        url: ``s3://bucket/prefix``, ``file:///dir`` or a host path.
        options: see the module docstring; a ``file`` remote takes none.

    Raises:
        UsageError: bad URL, unknown option, unset environment variable.
    """
    url = normalize_url(url)
    options = dict(options or {})
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        if options:
            raise UsageError(f"a file remote takes no options (got {', '.join(sorted(options))})")
        return FileRemote(Path(urllib.parse.unquote(parsed.path)))
    unknown = set(options) - S3_OPTIONS
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(sorted(unknown))} for an s3 remote "
            f"(known: {', '.join(sorted(S3_OPTIONS))})"
        )
    expanded = {k: expand_env(str(v), what=f"option {k}") for k, v in options.items()}
    return S3Remote(parsed.netloc, parsed.path, expanded)
