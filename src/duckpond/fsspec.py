"""The pond as an fsspec filesystem, registered as ``pond``: Python's data tools read pond paths.

Registered through the ``fsspec.specs`` entry point (pyproject.toml), so ``pond://`` URLs work
wherever fsspec URLs do, with the pond directory given as the storage option ``pond_dir`` (default
``$POND``; fsspec reserves an option named like the protocol)::

    import pandas as pd
    df = pd.read_parquet("pond:///buoy/b01.series", storage_options={"pond_dir": "/data/pond"})

    import fsspec, duckdb
    fs = fsspec.filesystem("pond", pond_dir="/data/pond")
    duckdb.register_filesystem(fs)
    duckdb.sql("SELECT count(*) FROM 'pond:///buoy/b01.series/*.parquet'")

What the pond's entries are, seen through fsspec (the protocol is the one of
``fsspec.spec.AbstractFileSystem``: https://filesystem-spec.readthedocs.io):

- a directory (stored or dynamic) is a directory;
- a data file is a file holding its bytes (the latest version);
- a table is a file holding its Parquet bytes (a dynamic table: its content rendered as Parquet);
- a series is a *directory* of Parquet files, one per live version
  (:meth:`duckpond.tinyfs.fs.NodePath.live_versions`: after a collapse, few), named
  ``v<version, 6 digits>.parquet``; their union is the series. Versions of one series may differ
  in columns (a column added later is missing in earlier files): readers that take the first
  file's schema need ``schema=`` or a unifying option (pyarrow ``dataset(..., schema=)``, DuckDB
  ``union_by_name``, polars ``missing_columns="insert"``). A dynamic series is a directory
  holding one file, ``computed.parquet``;
- a symlink is what it points to.

Times inside the Parquet files are ``timestamp[us, tz=UTC]``. ``info()`` also gives
``pond_type`` (the :class:`~duckpond.tinyfs.model.FileType`), ``version`` and ``txn_seq``.

Reading follows the pond: each call sees the latest committed state (one ``stat`` of the data
table's log tells whether another commit happened since the last call), or, with ``at_txn``,
the pond as it was right after that transaction (read-only: time travel like ``--at-txn``).
Objects are not cached by fsspec (``cachable = False``).

Writing: ``open(path, "wb")`` (``pipe``, ``df.to_parquet``) writes a data file, or a table when
the name ends with ``.table`` or names an existing table (its bytes must be Parquet with flat,
named columns), as one pond transaction when the file is closed; missing parent directories are
created in it. Within ``with fs.transaction:`` every file written is committed together, as one
pond transaction, when the block ends (nothing if it raises). Bytes equal to the latest version's
make no new version. A series is not written through fsspec (``pond copy`` appends to series),
nor is a dynamic node or a directory. ``mkdir``/``makedirs`` are one transaction each.

Errors are :mod:`duckpond.errors` (each also the built-in fsspec callers expect:
``FileNotFoundError``, ``IsADirectoryError``, ``PermissionError`` for a read-only pond, ...).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from fsspec.spec import AbstractFileSystem
from fsspec.transaction import Transaction as FsspecTransaction
from fsspec.utils import stringify_path

from duckpond.errors import (
    InvalidData,
    IsADirectory,
    NotADirectory,
    NotFound,
    ReadOnly,
    UsageError,
)
from duckpond.tinyfs.model import FileType

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.fs import WD, NodePath
    from duckpond.tinyfs.model import NodeVersion

__all__ = ["COMPUTED_NAME", "PondFileSystem", "chunk_name"]

#: The one file of a dynamic series' directory.
COMPUTED_NAME: Final = "computed.parquet"
#: Writes are spooled in memory up to this size, then to a temporary host file.
SPOOL_BYTES: Final = 16 << 20


def chunk_name(version: int) -> str:
    """The file name of a series version: ``v000012.parquet``."""
    return f"v{version:06d}.parquet"


@dataclass(frozen=True, slots=True)
class _Entry:
    """What one fsspec path is: a pond node, or one live version of a series (``chunk``)."""

    path: str
    nodepath: NodePath
    chunk: NodeVersion | None = None
    computed: bool = False  # the rendered content of a dynamic series

    @property
    def is_dir(self) -> bool:
        if self.chunk is not None or self.computed:
            return False
        return self.nodepath.is_dir or self.nodepath.file_type == FileType.SERIES


class PondFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """fsspec filesystem over the pond at ``pond_dir`` (see the module docstring).

    Args:
        pond_dir: the pond directory (default: ``$POND``).
        at_txn: read the pond as it was right after transaction ``at_txn`` (read-only).

    Raises:
        UsageError: no pond given. NotAPond (on first use): no pond there. NotFound: ``at_txn``
        was never committed.
    """

    protocol: ClassVar[tuple[str, ...]] = ("pond",)
    root_marker: ClassVar[str] = "/"
    cachable: ClassVar[bool] = False

    def __init__(
        self,
        pond_dir: str | os.PathLike[str] | None = None,
        at_txn: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        path = pond_dir if pond_dir is not None else os.environ.get("POND")
        if not path:
            raise UsageError("no pond given: pass pond_dir=PATH (a storage option) or set POND")
        self.pond_path = os.fspath(path)
        self.at_txn = None if at_txn is None else int(at_txn)
        self._pond: Pond | None = None
        self._rendered: dict[str, bytes] = {}

    # -- the pond -----------------------------------------------------------------------------

    @property
    def pond(self) -> Pond:
        """The pond read (opened on first use, again after :meth:`invalidate_cache`)."""
        if self._pond is not None and self.at_txn is None and self._moved_on(self._pond):
            self.invalidate_cache()
        if self._pond is None:
            from duckpond.steward.pond import Pond

            self._pond = Pond.open(self.pond_path, at_txn=self.at_txn)
        return self._pond

    @staticmethod
    def _moved_on(pond: Pond) -> bool:
        """Whether the pond's data table has a newer commit than ``pond`` reads (one stat)."""
        log = pond.layout.data / "_delta_log"
        return (log / f"{pond.data_version + 1:020d}.json").exists()

    def invalidate_cache(self, path: str | None = None) -> None:
        """Read the pond's latest state from now on (and render dynamic nodes again)."""
        self._pond = None
        self._rendered.clear()
        super().invalidate_cache(path)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """``pond:///a/b/`` -> ``/a/b``; paths are absolute from the pond's root."""
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = stringify_path(path)
        if text.startswith("pond://"):
            text = text[len("pond://") :]
        elif text.startswith("pond::"):
            text = text[len("pond::") :]
        return ("/" + text.lstrip("/")).rstrip("/") or "/"

    def _locate(self, path: str) -> _Entry:
        """The entry at ``path`` (symlinks followed).

        Raises:
            NotFound, NotADirectory, SymlinkLoop.
        """
        path = self._strip_protocol(path)
        root = self.pond.root()
        try:
            nodepath = root.lookup(path)
        except (NotFound, NotADirectory):
            nodepath = None
        if nodepath is not None:
            return _Entry(path, nodepath)
        parent, _, name = path.rpartition("/")
        try:
            series = root.lookup(parent or "/")
        except (NotFound, NotADirectory):
            series = None
        if series is not None and not series.is_dir and series.file_type == FileType.SERIES:
            if series.is_dynamic:
                if name == COMPUTED_NAME:
                    return _Entry(path, series, computed=True)
            else:
                for v in series.live_versions():
                    if chunk_name(v.version) == name:
                        return _Entry(path, series, chunk=v)
        raise NotFound("no such file or directory", path)

    def _children(self, entry: _Entry) -> list[_Entry]:
        nodepath = entry.nodepath
        if nodepath.is_dir:
            from duckpond.errors import PondError
            from duckpond.tinyfs.fs import WD

            out = []
            for child in WD(nodepath.fs, nodepath).list("."):
                path = _join(entry.path, child.name)
                if child.is_symlink:
                    try:
                        child = self.pond.root().resolve(path)
                    except PondError:  # a dangling symlink or a loop: not listed
                        continue
                out.append(_Entry(path, child))
            return out
        if nodepath.is_dynamic:
            return [_Entry(_join(entry.path, COMPUTED_NAME), nodepath, computed=True)]
        return [
            _Entry(_join(entry.path, chunk_name(v.version)), nodepath, chunk=v)
            for v in nodepath.live_versions()
        ]

    def _info(self, entry: _Entry) -> dict[str, Any]:
        nodepath = entry.nodepath
        if entry.chunk is not None:
            v = entry.chunk
            return _details(entry.path, "file", v.size or 0, FileType.SERIES, v.version, v.txn_seq)
        kind = "directory" if entry.is_dir else "file"
        if nodepath.is_dynamic:
            size = 0 if entry.is_dir else len(self._render(entry))
            return _details(entry.path, kind, size, nodepath.file_type, None, None)
        latest = nodepath.latest()
        size = 0 if entry.is_dir else latest.size or 0
        return _details(entry.path, kind, size, nodepath.file_type, latest.version, latest.txn_seq)

    def _render(self, entry: _Entry) -> bytes:
        """The Parquet bytes of a dynamic table or series (computed once per object)."""
        data = self._rendered.get(entry.path)
        if data is None:
            data = entry.nodepath.read_bytes()
            self._rendered[entry.path] = data
        return data

    # -- the fsspec protocol ------------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """Entries of a directory or series (a file lists itself), sorted by name."""
        entry = self._locate(path)
        entries = self._children(entry) if entry.is_dir else [entry]
        if not detail:
            return [e.path for e in entries]
        return [self._info(e) for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """``name``, ``size`` (bytes), ``type`` (``file``/``directory``), ``pond_type``,
        ``version``, ``txn_seq``."""
        return self._info(self._locate(path))

    def exists(self, path: str, **kwargs: Any) -> bool:
        try:
            self._locate(path)
        except (NotFound, NotADirectory):
            return False
        return True

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        path = self._strip_protocol(path)
        if "r" in mode:
            return self._open_read(self._locate(path))
        if mode not in {"wb", "xb"}:
            raise UsageError(f"mode {mode!r} is not supported (use rb or wb)", path)
        if self.at_txn is not None:
            raise ReadOnly("a pond read as of an older transaction is read-only", path)
        if mode == "xb" and self.exists(path):
            raise FileExistsError(path)
        return PondWriteFile(self, path, autocommit=autocommit)

    def _open_read(self, entry: _Entry) -> Any:
        nodepath = entry.nodepath
        if entry.is_dir:
            raise IsADirectory("is a directory (a series: of Parquet files)", entry.path)
        if entry.computed or nodepath.is_dynamic:
            return io.BytesIO(self._render(entry))
        v = entry.chunk
        if v is None:
            return _Owned(nodepath.open())
        persistence = nodepath.fs.persistence
        if v.content is None and not persistence.has_blob(v):
            # its own bytes are gone (a later collapse holds its rows): read it back from there
            import pyarrow as pa
            import pyarrow.parquet as pq

            sink = pa.BufferOutputStream()
            pq.write_table(nodepath.fs.version_chunk(v).read(), sink)
            return io.BytesIO(sink.getvalue().to_pybytes())
        return _Owned(persistence.open_blob(v))

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        with self._open(path, "rb") as f:
            if start is not None:
                f.seek(start if start >= 0 else max(0, f.seek(0, 2) + start))
            if end is None:
                return bytes(f.read())
            if end < 0:
                end = f.seek(0, 2) + end
                f.seek(start or 0)
            return bytes(f.read(max(0, end - (start or 0))))

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Create a directory (and its parents, unless ``create_parents=False``): one transaction.

        Raises:
            AlreadyExists: it exists (and parents are not being created). ReadOnly, PondLocked.
        """
        path = self._strip_protocol(path)
        with self._pond_transaction(["fsspec", "mkdir", path]) as root:
            root.mkdir(path, parents=create_parents, exist_ok=create_parents)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        if self.exists(path):
            if exist_ok:
                return
            raise FileExistsError(path)
        self.mkdir(path, create_parents=True)

    def modified(self, path: str) -> Any:
        """When the entry's latest version was written (a timezone-aware UTC ``datetime``); for a
        dynamic node, the pond's last commit."""
        import datetime as dt

        entry = self._locate(path)
        if entry.chunk is not None:
            us = entry.chunk.timestamp
        elif entry.nodepath.is_dynamic:  # computed on read: it may change with any commit
            committed = [r.started for r in self.pond.log() if r.data_version is not None]
            us = committed[-1] if committed else 0
        else:
            us = entry.nodepath.latest().timestamp
        return dt.datetime.fromtimestamp(us / 1e6, dt.UTC)

    # -- writing ------------------------------------------------------------------------------

    @property
    def transaction_type(self) -> type[FsspecTransaction]:
        return _OneCommit

    def _pond_transaction(self, args: list[str]) -> Any:
        import contextlib

        @contextlib.contextmanager
        def run() -> Any:
            if self.at_txn is not None:
                raise ReadOnly("a pond read as of an older transaction is read-only", args[-1])
            from duckpond.steward.pond import Pond

            pond = Pond.open(self.pond_path)
            try:
                with pond.transaction(args) as tx:
                    yield tx.root()
            finally:
                self.invalidate_cache()

        return run()

    def commit_files(self, files: Iterable[PondWriteFile]) -> None:
        """Write ``files`` (closed, not yet committed) in one pond transaction."""
        files = list(files)
        if not files:
            return
        try:
            with self._pond_transaction(["fsspec", "write", *(f.path for f in files)]) as root:
                for f in files:
                    _write_one(root, f.path, f.buffer)
        finally:
            for f in files:
                f.discard()


class PondWriteFile(io.RawIOBase):
    """A file being written through :class:`PondFileSystem`; committed when closed (or, inside
    ``with fs.transaction:``, with the others when the block ends)."""

    def __init__(self, fs: PondFileSystem, path: str, *, autocommit: bool = True) -> None:
        super().__init__()
        self.fs = fs
        self.path = path
        self.autocommit = autocommit
        # closed by commit_files or discard (the file outlives this object's close())
        self.buffer: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return int(self.buffer.write(data))

    def tell(self) -> int:
        return int(self.buffer.tell())

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        if self.autocommit:
            self.fs.commit_files([self])

    def commit(self) -> None:
        self.fs.commit_files([self])

    def discard(self) -> None:
        self.buffer.close()


class _OneCommit(FsspecTransaction):  # type: ignore[misc]  # fsspec is untyped
    """``with fs.transaction:``: every file written in the block, in one pond transaction."""

    def complete(self, commit: bool = True) -> None:
        files = list(self.files)
        self.files.clear()
        try:
            if commit:
                self.fs.commit_files(files)
            else:
                for f in files:
                    f.discard()
        finally:
            self.fs._intrans = False
            self.fs._transaction = None


class _Owned:
    """A host file handed to a reader that may never close it (pyarrow's dataset discovery):
    closed when it is garbage-collected, like fsspec's own buffered files, without a
    ``ResourceWarning``."""

    def __init__(self, f: Any) -> None:
        self._f = f

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __iter__(self) -> Any:
        return iter(self._f)

    def __enter__(self) -> _Owned:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def __del__(self) -> None:
        try:
            self._f.close()
        except (OSError, ValueError):
            pass


def _write_one(root: WD, path: str, buffer: Any) -> None:
    """One file written through fsspec, by the copy rules (docs/design.md, "Copy rules")."""
    from duckpond.tinyfs import paths as tpaths

    buffer.seek(0)
    parent = tpaths.join(tpaths.split(path)[1][:-1])
    if not root.exists(parent):  # missing parents are created (object-store style)
        root.mkdir(parent, parents=True, exist_ok=True)
    existing = root.lookup(path)
    if existing is not None:
        if existing.is_dir:
            raise IsADirectory("is a directory", existing.path)
        if existing.is_dynamic:
            raise ReadOnly("a dynamic node is computed on read and cannot be written", path)
    file_type = existing.file_type if existing is not None else None
    if file_type is None:
        file_type = FileType.TABLE if path.endswith(".table") else FileType.DATA
        if path.endswith(".series"):
            raise UsageError(
                "a series is not written through fsspec (use pond copy host+series://)", path
            )
    if file_type == FileType.SERIES:
        raise UsageError(
            "a series is not written through fsspec (use pond copy host+series://)", path
        )
    if existing is not None:
        digest = hashlib.sha256()
        for block in iter(lambda: buffer.read(1 << 20), b""):
            digest.update(block)
        buffer.seek(0)
        if existing.latest().sha256 == digest.hexdigest():
            return  # the same bytes: no new version
    if file_type == FileType.TABLE:
        from duckpond.tinyfs.tables import check_columns, check_parquet

        footer = check_parquet(buffer, path)
        check_columns(footer.schema.to_arrow_schema(), path)
        buffer.seek(0)
    elif file_type != FileType.DATA:
        raise InvalidData(f"is a {file_type}: not written through fsspec", path)
    root.write_file(path, buffer, file_type=file_type)


def _details(
    path: str,
    kind: str,
    size: int,
    pond_type: str,
    version: int | None,
    txn_seq: int | None,
) -> dict[str, Any]:
    return {
        "name": path,
        "size": size,
        "type": kind,
        "pond_type": str(pond_type),
        "version": version,
        "txn_seq": txn_seq,
    }


def _join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name
