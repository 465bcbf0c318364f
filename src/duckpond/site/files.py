"""Writing a folder of published files incrementally: unchanged files keep their bytes and mtime.

Used by the website renderer and ``pond export``, whose folders are synced to web hosts: a file
written again with the same bytes would be sent again by ``rsync``/``aws s3 sync`` (mtime) even
though nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["remove_files", "write_if_changed"]


def write_if_changed(target: Path, data: bytes, *, rebuild: bool = False) -> bool:
    """Write ``data`` to ``target`` unless the file already holds exactly these bytes.

    The write goes to a temporary sibling (``.<name>.tmp``) that is then renamed over ``target``,
    so a reader never sees half a file; parent directories are created. An unchanged file is not
    touched (same bytes, same mtime) unless ``rebuild``. Returns whether the file was written.

    Raises:
        OSError: the folder cannot be written.
    """
    if not rebuild:
        try:
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                return False
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return True


def remove_files(folder: Path, paths: Iterable[Path]) -> None:
    """Delete ``paths`` (inside ``folder``) and the directories they leave empty.

    A path outside ``folder`` (after resolving symlinks and ``..``) is left alone.
    """
    root = folder.resolve()
    for path in paths:
        target = path.resolve()
        if root not in target.parents:
            continue
        target.unlink(missing_ok=True)
        for parent in target.parents:
            if parent == root:
                break
            try:
                parent.rmdir()
            except OSError:
                break
