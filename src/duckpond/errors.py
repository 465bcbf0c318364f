"""The one exception tree of DuckPond, its exit statuses, and the boundary for foreign errors.

Every error the library raises on purpose is a :class:`PondError`. Each subclass also inherits the
built-in exception it corresponds to, so callers that only know Python's own tree still catch it::

    PondError (Exception)
    ├── NotFound (FileNotFoundError)         3
    ├── NotADirectory (NotADirectoryError)   3
    ├── IsADirectory (IsADirectoryError)     3
    ├── SymlinkLoop (OSError)                3  ELOOP: too many symlinks
    ├── AlreadyExists (FileExistsError)      4
    ├── DirectoryNotEmpty (OSError)          4
    ├── ReadOnly (PermissionError)           4  dynamic node, pond opened as of a txn, EACCES
    ├── InvalidPath (ValueError)             2  bad name, `..` above the root, bad glob
    ├── UsageError (ValueError)              2  arguments that do not make sense together
    ├── NotAPond (FileNotFoundError)         5
    ├── PondLocked (BlockingIOError)         6  another writer holds the write lock
    ├── ConflictError (RuntimeError)         7  someone else committed since the transaction began
    ├── InvalidData (ValueError)             8  malformed CSV / Parquet / series chunk / config
    │   └── IntegrityError                   8  stored bytes whose sha256 no longer matches
    ├── QueryError (ValueError)              8  SQL that DataFusion rejects, or that would write
    ├── RemoteError (OSError)                9  an unreachable or failing server (HydroVu, S3)
    └── HostError (OSError)                 74  the host failed: disk full, I/O error

Every instance carries ``.path`` (the pond path or host path concerned, or ``None``) and
``str(exc)`` is a single line naming that path and the cause. ``exit_code`` is the process exit
status of the ``pond`` command for that family; :data:`EXIT_STATUSES` is the one table of them
(the CLI's ``--help`` and README.md are generated from or checked against it).

Foreign errors are translated at one boundary, :func:`translate_errors` (after httpx's
``map_httpcore_exceptions``): only the types listed in :func:`_translate` (deltalake, pyarrow, OS
errors) become the most specific :class:`PondError`, chained with ``raise ... from exc``; anything
else (a ``KeyError``, a ``TypeError``: a bug) passes through unchanged and ends the command with
status 70.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator
from enum import IntEnum

__all__ = [
    "EXIT_STATUSES",
    "AlreadyExists",
    "ConflictError",
    "DirectoryNotEmpty",
    "ExitCode",
    "HostError",
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
    "first_line",
    "is_unprintable",
    "os_error",
    "printable",
    "translate_errors",
]


class ExitCode(IntEnum):
    """Exit statuses of the ``pond`` command (sysexits.h where one fits)."""

    OK = 0
    USAGE = 2
    NOT_FOUND = 3
    EXISTS = 4
    NOT_A_POND = 5
    LOCKED = 6
    CONFLICT = 7
    INVALID_DATA = 8
    REMOTE = 9
    INTERNAL = 70
    HOST = 74
    INTERRUPTED = 130


#: What each exit status means and examples of its causes: the one source of the table printed by
#: ``pond --help`` and shown in README.md (a test checks the README against it).
EXIT_STATUSES: dict[ExitCode, tuple[str, str]] = {
    ExitCode.OK: ("success", ""),
    ExitCode.USAGE: (
        "usage error or invalid path",
        "unknown option or `--format`, no pond given, `[abc` (bad glob), `..` above the root in a "
        "glob, removing `/`, unknown factory or factory command, undefined pipeline variable, a "
        "secret option not given as `${env:VAR}`, a name or path that is not UTF-8, a new name "
        "with a control character or line break",
    ),
    ExitCode.NOT_FOUND: (
        "not found",
        "missing pond path or host file, `--at-txn` never committed, not a directory, is a "
        "directory, symlink loop, a missing `--config` or pipeline file, no backup at a `restore` "
        "URL, an unknown remote name, a version whose bytes are gone",
    ),
    ExitCode.EXISTS: (
        "exists, not empty, read-only",
        "`mkdir` of an existing name, `rm` of a non-empty directory without `-r`, `init` over "
        "files, host permission denied, `restore` into a non-empty folder, `backup push` to "
        "another pond's backup",
    ),
    ExitCode.NOT_A_POND: ("not a pond", "`--pond` names a directory without a pond"),
    ExitCode.LOCKED: (
        "locked",
        "another writer holds the write lock (fails at once, never waits)",
    ),
    ExitCode.CONFLICT: ("conflict", "another writer committed after this transaction began"),
    ExitCode.INVALID_DATA: (
        "invalid data or SQL",
        "bad or missing CSV times, ragged CSV rows, empty or non-UTF-8 CSV, a non-Parquet file as "
        "a table or series, SQL syntax errors, unknown columns and SQL that would write, an "
        "invalid factory config or pipeline, `backup verify` found a problem, a backup that does "
        "not restore whole",
    ),
    ExitCode.REMOTE: ("remote service failed", "HydroVu, S3"),
    ExitCode.INTERNAL: (
        "internal error",
        "a bug: please report it with the `DUCKPOND_LOG=debug` traceback",
    ),
    ExitCode.HOST: ("host failure", "disk full, an I/O error of the host filesystem"),
    ExitCode.INTERRUPTED: ("interrupted", "Ctrl-C"),
}


#: Characters :func:`printable` escapes: C0 and C1 controls and DEL (a newline would split a
#: listing's line, ESC starts a terminal sequence), and the Unicode line and paragraph separators.
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    code = ord(char)
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def is_unprintable(char: str) -> bool:
    """Whether :func:`printable` escapes ``char``: a control character (C0, DEL, C1), a line or
    paragraph separator (U+2028, U+2029) or a surrogate (a name that was not UTF-8)."""
    code = ord(char)
    return (
        code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029) or 0xD800 <= code <= 0xDFFF
    )


def printable(text: str) -> str:
    """``text`` safe to show on one line of a terminal: each control character, line separator
    and surrogate is written as a backslash escape (``\\n``, ``\\t``, ``\\x1b``; a byte that was
    not UTF-8, decoded by ``os.fsdecode``, as ``\\xe9``). Other text, backslashes included, is
    unchanged, so the escapes are for reading, not for parsing back."""
    if not any(is_unprintable(c) for c in text):
        return text
    return "".join(_escape(c) if is_unprintable(c) else c for c in text)


def first_line(exc: BaseException, *, limit: int = 500) -> str:
    """The first non-empty line of ``str(exc)`` (the type's name if there is none), at most
    ``limit`` characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


class PondError(Exception):
    """Root of all DuckPond errors.

    Args:
        message: the cause, without the path.
        path: the pond path (or host path) the error concerns, if any.
    """

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, path: str | None = None) -> None:
        self.message = printable(" ".join(str(message).split()))  # always one line
        self.path = path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        return f"{printable(str(self.path))}: {self.message}"


class NotFound(PondError, FileNotFoundError):
    """A path, version, node or transaction does not exist."""

    exit_code = ExitCode.NOT_FOUND


class AlreadyExists(PondError, FileExistsError):
    """Creating something whose name is taken."""

    exit_code = ExitCode.EXISTS


class NotADirectory(PondError, NotADirectoryError):
    """A file or symlink was used where a directory is needed."""

    exit_code = ExitCode.NOT_FOUND


class IsADirectory(PondError, IsADirectoryError):
    """A directory was used where a file is needed."""

    exit_code = ExitCode.NOT_FOUND


class DirectoryNotEmpty(PondError, OSError):
    """Removing a non-empty directory without the recursive option."""

    exit_code = ExitCode.EXISTS


class InvalidPath(PondError, ValueError):
    """A malformed name, path or glob pattern, or a path that escapes the root."""

    exit_code = ExitCode.USAGE


class SymlinkLoop(PondError, OSError):
    """Symlink resolution exceeded the depth limit (ELOOP)."""

    exit_code = ExitCode.NOT_FOUND


class ReadOnly(PondError, PermissionError):
    """Writing a dynamic node, a pond opened as of an older transaction, or a host file the
    process may not write (EACCES)."""

    exit_code = ExitCode.EXISTS


class NotAPond(PondError, FileNotFoundError):
    """The directory is not a pond (no data or control table)."""

    exit_code = ExitCode.NOT_A_POND


class PondLocked(PondError, BlockingIOError):
    """Another process holds the pond's write lock."""

    exit_code = ExitCode.LOCKED


class ConflictError(PondError, RuntimeError):
    """Another writer committed after this transaction began; nothing was committed."""

    exit_code = ExitCode.CONFLICT


class InvalidData(PondError, ValueError):
    """Input data that cannot be used: malformed CSV/Parquet/YAML, no usable time column, ..."""

    exit_code = ExitCode.INVALID_DATA


class IntegrityError(InvalidData):
    """Stored bytes whose sha256 no longer matches what the oplog recorded."""


class QueryError(PondError, ValueError):
    """SQL that the query engine rejects (syntax, unknown column, type error, a write)."""

    exit_code = ExitCode.INVALID_DATA


class RemoteError(PondError, OSError):
    """A remote service (HydroVu, S3) is unreachable or keeps failing."""

    exit_code = ExitCode.REMOTE


class UsageError(PondError, ValueError):
    """Arguments that are individually valid but do not make sense together."""

    exit_code = ExitCode.USAGE


class HostError(PondError, OSError):
    """The host filesystem failed: no space left, quota exceeded, an I/O error."""

    exit_code = ExitCode.HOST


@contextlib.contextmanager
def translate_errors(path: str | None = None, *, what: str = "") -> Iterator[None]:
    """Translate the foreign exceptions this module knows into :class:`PondError` subclasses.

    Known: deltalake's ``CommitFailedError`` (:class:`ConflictError`), ``TableNotFoundError``
    (:class:`NotAPond`) and other ``DeltaError`` s (:class:`InvalidData`: the stored table is not
    what it should be); pyarrow's ``ArrowInvalid``/``ArrowTypeError``/``ArrowNotImplementedError``
    (:class:`InvalidData`); ``UnicodeDecodeError`` (:class:`InvalidData`); ``UnicodeEncodeError``
    (:class:`InvalidPath`: a host path that is not UTF-8 given to deltalake); ``OSError`` by errno
    (missing: :class:`NotFound`, EACCES: :class:`ReadOnly`, ENOSPC/EIO/...: :class:`HostError`).
    :class:`PondError` passes through; anything else is re-raised unchanged (a bug).

    Args:
        path: the path to attach to the translated error (an ``OSError``'s own filename wins).
        what: a short prefix for the message, e.g. ``"reading parquet"``.
    """
    try:
        yield
    except PondError:
        raise
    except Exception as exc:
        translated = _translate(exc, path, what)
        if translated is None:
            raise
        raise translated from exc


def _translate(exc: Exception, path: str | None, what: str) -> PondError | None:
    prefix = f"{what}: " if what else ""
    # only modules already imported can have raised their errors: no import on an error path
    delta = sys.modules.get("deltalake.exceptions")
    if delta is not None and isinstance(exc, delta.DeltaError):
        if isinstance(exc, delta.CommitFailedError):
            cause = f"{prefix}another writer committed first ({first_line(exc)})"
            return ConflictError(cause, path)
        if isinstance(exc, delta.TableNotFoundError):
            return NotAPond(f"{prefix}{first_line(exc)}", path)
        return InvalidData(f"{prefix}{first_line(exc)}", path)
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(
        exc, pa.ArrowInvalid | pa.ArrowTypeError | pa.ArrowNotImplementedError
    ):
        return InvalidData(prefix + first_line(exc), path)
    if isinstance(exc, UnicodeDecodeError):
        return InvalidData(prefix + "not valid UTF-8 text", path)
    if isinstance(exc, UnicodeEncodeError):  # a path or name with bytes that were not UTF-8
        return InvalidPath(prefix + "not valid UTF-8", path)
    if isinstance(exc, OSError):
        return os_error(exc, path, what)
    return None


#: errno values that mean the host itself failed (not the caller's mistake).
_HOST_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE, errno.ENFILE, errno.EFBIG}
)


def os_error(exc: OSError, path: str | None = None, what: str = "") -> PondError:
    """The :class:`PondError` for a host ``OSError`` (its own filename wins over ``path``).

    Missing files are :class:`NotFound`, a file where a directory is needed
    :class:`NotADirectory` (and the reverse :class:`IsADirectory`), EACCES/EPERM :class:`ReadOnly`,
    an existing file :class:`AlreadyExists`, no space / quota / I/O errors :class:`HostError`;
    anything else :class:`HostError` too (the host refused; the cause is in the message).
    """
    prefix = f"{what}: " if what else ""
    where = str(exc.filename) if exc.filename is not None else path
    cause = prefix + (exc.strerror or first_line(exc))
    if isinstance(exc, FileNotFoundError):
        return NotFound(cause, where)
    if isinstance(exc, NotADirectoryError):
        return NotADirectory(cause, where)
    if isinstance(exc, IsADirectoryError):
        return IsADirectory(cause, where)
    if isinstance(exc, FileExistsError):
        return AlreadyExists(cause, where)
    if isinstance(exc, PermissionError):
        return ReadOnly(cause, where)
    if exc.errno == errno.ELOOP:
        return SymlinkLoop(cause, where)
    return HostError(cause, where)
