"""Pond path syntax: POSIX, absolute from the pond root; names validated here, once.

A name is a non-empty UTF-8 string of at most 255 bytes without ``/``, other than ``.`` and
``..``, with no control character (C0, DEL, C1) and no line or paragraph separator: every
listing prints one path per line, and a newline or an escape sequence in a name would forge lines
or colour a terminal. New names are checked (:func:`validate_name`); a path that is not UTF-8 (a
command-line argument or a host file name in bytes that do not decode: Python keeps them as lone
surrogates) is refused wherever it is used (:func:`split`). Names stored before these rules are
still found and shown with their control characters escaped
(:func:`duckpond.errors.printable`).
"""

from __future__ import annotations

from duckpond.errors import InvalidPath, is_unprintable

__all__ = ["check_utf8", "join", "split", "validate_name", "validate_target"]

MAX_NAME_BYTES = 255


def validate_name(name: str, path: str | None = None) -> str:
    """Check one path component; returns it unchanged.

    Raises:
        InvalidPath: empty, ``.``/``..``, contains ``/`` or NUL, is not UTF-8, holds a control
            character or line separator, or is longer than 255 UTF-8 bytes.
    """
    where = path if path is not None else name
    check_utf8(name, where)
    if not name:
        raise InvalidPath("empty name", where)
    if name in {".", ".."}:
        raise InvalidPath(f"{name!r} is not a valid name", where)
    if "/" in name or "\x00" in name:
        raise InvalidPath("a name may not contain '/' or NUL", where)
    if any(is_unprintable(c) for c in name):
        raise InvalidPath("a name may not contain control characters or line breaks", where)
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidPath(f"name longer than {MAX_NAME_BYTES} bytes", where)
    return name


def check_utf8(text: str, path: str | None = None) -> str:
    """Check that ``text`` (a path, name or pattern) is UTF-8; returns it unchanged.

    Raises:
        InvalidPath: it holds a lone surrogate: bytes that were not UTF-8, decoded with
            ``surrogateescape`` (a command-line argument, a host file name).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPath("not valid UTF-8", text if path is None else path) from None
    return text


def split(path: str) -> tuple[bool, list[str]]:
    """Split a pond path into (is_absolute, components); ``.`` and empty components dropped.

    ``..`` is kept: it is resolved against the directories actually traversed (symlinks
    included), never above the root.

    Raises:
        InvalidPath: the path is empty, contains NUL or is not UTF-8.
    """
    if not isinstance(path, str) or path == "":
        raise InvalidPath("empty path", str(path))
    check_utf8(path)
    if "\x00" in path:
        raise InvalidPath("a path may not contain NUL", path.replace("\x00", "\\0"))
    parts = [p for p in path.split("/") if p not in {"", "."}]
    return path.startswith("/"), parts


def validate_target(target: str) -> str:
    """Check a symlink's target: a pond path (``..`` allowed) of valid names; returns it.

    Raises:
        InvalidPath: empty, or a component :func:`validate_name` refuses.
    """
    for part in split(target)[1]:
        if part != "..":
            validate_name(part, target)
    return target


def join(parts: tuple[str, ...] | list[str]) -> str:
    """Absolute path string of root-relative components (``()`` is ``/``)."""
    return "/" + "/".join(parts)
