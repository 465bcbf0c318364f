"""Remove pond entries by path or glob (``pond rm``). History stays in the oplog."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from duckpond.errors import NotFound
from duckpond.tinyfs.glob import has_magic

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import WD

__all__ = ["remove"]


def remove(root: WD, patterns: Sequence[str], *, recursive: bool = False) -> list[str]:
    """Remove what each pattern names: a path, or every match of a glob (which must match).

    Matches are removed deepest first, so ``/d/**`` removes children before their directory. A
    symlink is removed itself, not its target.

    Args:
        root: a writable WD of an open transaction.
        patterns: pond paths or globs.
        recursive: remove non-empty directories with their contents.

    Returns:
        The paths removed, in order.

    Raises:
        NotFound: a path does not exist, or a glob matches nothing. DirectoryNotEmpty: a
        non-empty directory without ``recursive``. InvalidPath: the root.
    """
    removed: list[str] = []
    for pattern in patterns:
        if not has_magic(pattern):
            root.remove(pattern, recursive=recursive)
            removed.append(pattern)
            continue
        matches = [node.path for node in root.glob(pattern)]
        if not matches:
            raise NotFound("no match", pattern)
        for path in sorted(set(matches), key=lambda p: (-p.count("/"), p)):
            if path != "/" and root.lookup(path, follow=False) is not None:
                root.remove(path, recursive=recursive)
                removed.append(path)
    return removed
