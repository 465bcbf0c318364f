"""tinyfs: the filesystem abstraction (FS, WD, NodePath, nodes, glob, Persistence protocol)."""

from duckpond.tinyfs.fs import FS, WD, DynamicDirectory, DynamicFile, Node, NodePath, Stat
from duckpond.tinyfs.model import (
    DIR_DYNAMIC,
    DIR_PHYSICAL,
    FILE_DATA,
    FILE_DYNAMIC,
    FILE_SERIES,
    FILE_TABLE,
    SYMLINK,
    DirEntry,
    NodeVersion,
)
from duckpond.tinyfs.persistence import INLINE_LIMIT, MemoryPersistence, Persistence

__all__ = [
    "DIR_DYNAMIC",
    "DIR_PHYSICAL",
    "FILE_DATA",
    "FILE_DYNAMIC",
    "FILE_SERIES",
    "FILE_TABLE",
    "FS",
    "INLINE_LIMIT",
    "SYMLINK",
    "WD",
    "DirEntry",
    "DynamicDirectory",
    "DynamicFile",
    "MemoryPersistence",
    "Node",
    "NodePath",
    "NodeVersion",
    "Persistence",
    "Stat",
]
