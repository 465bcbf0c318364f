"""The one exception tree of DuckPond.

Every error the library raises on purpose is a :class:`PondError`. Each subclass also inherits the
built-in exception it corresponds to, so callers that only know Python's own tree still catch it::

    PondError (Exception)
    ├── NotFound (FileNotFoundError)
    ├── AlreadyExists (FileExistsError)
    ├── NotADirectory (NotADirectoryError)
    ├── IsADirectory (IsADirectoryError)
    ├── DirectoryNotEmpty (OSError)
    ├── InvalidPath (ValueError)            bad name, `..` above the root, bad glob
    ├── SymlinkLoop (OSError)               ELOOP: too many symlinks
    ├── ReadOnly (PermissionError)          writing a dynamic node, or a pond opened as of a txn
    ├── NotAPond (FileNotFoundError)
    ├── PondLocked (BlockingIOError)        another writer holds the write lock
    ├── ConflictError (RuntimeError)        someone else committed since the transaction began
    ├── InvalidData (ValueError)            malformed CSV / Parquet / series chunk / config
    │   └── IntegrityError                  a stored blob whose sha256 no longer matches
    ├── QueryError (ValueError)             SQL that DataFusion rejects
    ├── RemoteError (OSError)               an unreachable or failing server (HydroVu, S3)
    └── UsageError (ValueError)             an invalid combination of arguments

Every instance carries ``.path`` (the pond path or host path concerned, or ``None``) and
``str(exc)`` is a single line naming that path and the cause. :attr:`PondError.exit_code` is the
process exit status the ``pond`` command uses for that family (documented in README.md).

Foreign errors (deltalake, DataFusion, pyarrow, OS) are translated at one boundary,
:func:`translate_errors`, and chained with ``raise ... from exc``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = [
    "AlreadyExists",
    "ConflictError",
    "DirectoryNotEmpty",
    "IntegrityError",
    "InvalidData",
    "InvalidPath",
    "IsADirectory",
    "NotADirectory",
    "NotAPond",
    "NotFound",
    "PondError",
    "PondLocked",
    "QueryError",
    "ReadOnly",
    "RemoteError",
    "SymlinkLoop",
    "UsageError",
    "translate_errors",
]


class PondError(Exception):
    """Root of all DuckPond errors.

    Args:
        message: the cause, without the path.
        path: the pond path (or host path) the error concerns, if any.
    """

    exit_code = 70  # internal error (EX_SOFTWARE) unless a subclass says otherwise

    def __init__(self, message: str, path: str | None = None) -> None:
        self.message = " ".join(str(message).split())  # always one line
        self.path = path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        return f"{self.path}: {self.message}"


class NotFound(PondError, FileNotFoundError):
    """A path, version, node or transaction does not exist."""

    exit_code = 3


class AlreadyExists(PondError, FileExistsError):
    """Creating something whose name is taken."""

    exit_code = 4


class NotADirectory(PondError, NotADirectoryError):
    """A file or symlink was used where a directory is needed."""

    exit_code = 3


class IsADirectory(PondError, IsADirectoryError):
    """A directory was used where a file is needed."""

    exit_code = 3


class DirectoryNotEmpty(PondError, OSError):
    """Removing a non-empty directory without the recursive option."""

    exit_code = 4


class InvalidPath(PondError, ValueError):
    """A malformed name, path or glob pattern, or a path that escapes the root."""

    exit_code = 2


class SymlinkLoop(PondError, OSError):
    """Symlink resolution exceeded the depth limit (ELOOP)."""

    exit_code = 3


class ReadOnly(PondError, PermissionError):
    """Writing to a dynamic node, or to a pond opened read-only / as of an older transaction."""

    exit_code = 4


class NotAPond(PondError, FileNotFoundError):
    """The directory is not a pond (no data or control table)."""

    exit_code = 5


class PondLocked(PondError, BlockingIOError):
    """Another process holds the pond's write lock."""

    exit_code = 6


class ConflictError(PondError, RuntimeError):
    """Another writer committed after this transaction began; nothing was committed."""

    exit_code = 7


class InvalidData(PondError, ValueError):
    """Input data that cannot be used: malformed CSV/Parquet/YAML, no usable time column, ..."""

    exit_code = 8


class IntegrityError(InvalidData):
    """Stored bytes whose sha256 no longer matches what the oplog recorded."""


class QueryError(PondError, ValueError):
    """SQL that the query engine rejects (syntax, unknown column, type error)."""

    exit_code = 8


class RemoteError(PondError, OSError):
    """A remote service (HydroVu, S3) is unreachable or keeps failing."""

    exit_code = 9


class UsageError(PondError, ValueError):
    """Arguments that are individually valid but do not make sense together."""

    exit_code = 2


@contextlib.contextmanager
def translate_errors(path: str | None = None, *, what: str = "") -> Iterator[None]:
    """Translate foreign exceptions raised in the block into :class:`PondError` subclasses.

    deltalake's ``CommitFailedError`` becomes :class:`ConflictError`; DataFusion errors become
    :class:`QueryError`; pyarrow ``ArrowInvalid`` becomes :class:`InvalidData`; ``OSError`` becomes
    :class:`NotFound` or a generic :class:`PondError`. PondErrors pass through unchanged.

    Args:
        path: the path to attach to the translated error.
        what: a short prefix for the message, e.g. ``"reading parquet"``.
    """
    try:
        yield
    except PondError:
        raise
    except Exception as exc:
        raise _translate(exc, path, what) from exc


def _translate(exc: Exception, path: str | None, what: str) -> PondError:
    prefix = f"{what}: " if what else ""
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if name == "CommitFailedError":
        return ConflictError(f"{prefix}another writer committed first ({first})", path)
    if (
        module.startswith("datafusion")
        or name in {"DataFusionError", "SqlError"}
        or ("DataFusion error" in str(exc) or "SQL error" in str(exc))
    ):
        return QueryError(prefix + _compact_datafusion(str(exc)), path)
    if name in {"ArrowInvalid", "ArrowTypeError", "ArrowNotImplementedError"}:
        return InvalidData(prefix + first, path)
    if isinstance(exc, FileNotFoundError):
        return NotFound(prefix + (exc.strerror or first), path or exc.filename)
    if isinstance(exc, UnicodeDecodeError):
        return InvalidData(prefix + "not valid UTF-8 text", path)
    if isinstance(exc, OSError):
        return PondError(prefix + (exc.strerror or first), path)
    return PondError(f"{prefix}{name}: {first}", path)


def _compact_datafusion(text: str) -> str:
    """DataFusion messages nest 'DataFusion error: Error during planning: ...'; keep the cause."""
    line = " ".join(text.split())
    for marker in ("DataFusion error: ", "Execution error: "):
        if line.startswith(marker):
            line = line[len(marker) :]
    return line[:500]
