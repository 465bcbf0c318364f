"""Pond path syntax: POSIX, absolute from the pond root; names validated here, once."""

from __future__ import annotations

from duckpond.errors import InvalidPath

__all__ = ["join", "split", "validate_name"]

MAX_NAME_BYTES = 255


def validate_name(name: str, path: str | None = None) -> str:
    """Check one path component; returns it unchanged.

    Raises:
        InvalidPath: empty, ``.``/``..``, contains ``/`` or NUL, or longer than 255 UTF-8 bytes.
    """
    where = path if path is not None else name
    if not name:
        raise InvalidPath("empty name", where)
    if name in {".", ".."}:
        raise InvalidPath(f"{name!r} is not a valid name", where)
    if "/" in name or "\x00" in name:
        raise InvalidPath("a name may not contain '/' or NUL", where)
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidPath(f"name longer than {MAX_NAME_BYTES} bytes", where)
    return name


def split(path: str) -> tuple[bool, list[str]]:
    """Split a pond path into (is_absolute, components); ``.`` and empty components dropped.

    ``..`` is kept: it is resolved against the directories actually traversed (symlinks
    included), never above the root.

    Raises:
        InvalidPath: the path is empty or contains NUL.
    """
    if not isinstance(path, str) or path == "":
        raise InvalidPath("empty path", str(path))
    if "\x00" in path:
        raise InvalidPath("a path may not contain NUL", path.replace("\x00", "\\0"))
    parts = [p for p in path.split("/") if p not in {"", "."}]
    return path.startswith("/"), parts


def join(parts: tuple[str, ...] | list[str]) -> str:
    """Absolute path string of root-relative components (``()`` is ``/``)."""
    return "/" + "/".join(parts)
