"""What every factory shares: inputs by glob, lineage (cache keys), the computing node.

Inputs
    A factory names its inputs with glob patterns (``*``, ``?``, ``[...]``, ``**``).
    :func:`match_inputs` expands one against the pond, follows symlinks, skips directories and the
    factory's own node (and anything below it), and returns :class:`Match` objects: a stored table
    or series or another dynamic node (derived feeds derived). Relative patterns are relative to the
    directory holding the dynamic node.

Lineage
    Every input says what it is made of (:class:`~duckpond.tinyfs.lineage.Lineage`): results are
    cached by lineage, and reducers update incrementally when only versions were added.

Times
    Config times are ISO-8601 strings or µs since the epoch (:func:`duckpond.times.parse_time`);
    windows are half-open ``[start, end)`` (:class:`duckpond.times.Window`); resolutions are
    ``<n>s|m|h|d`` (:func:`duckpond.times.parse_resolution`). SQL plumbing is :mod:`duckpond.sql`.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from duckpond.errors import InvalidData
from duckpond.times import Window
from duckpond.tinyfs.lineage import Lineage
from duckpond.tinyfs.model import FILE_SERIES, FILE_TABLE, NodeVersion
from duckpond.tinyfs.tables import Chunk

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import NodePath

__all__ = [
    "EmptyInputWarning",
    "FactoryNode",
    "Match",
    "match_inputs",
    "non_blank",
    "warn_empty",
]


class EmptyInputWarning(UserWarning):
    """A factory's input pattern matched nothing, so its result is empty (said, not raised)."""


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Match:
    """One node an input pattern matched.

    Attributes:
        nodepath: the node as reached through the pattern (with its ``path`` and ``captures``).
        file_type: ``file:table`` or ``file:series``.
        versions: a stored node's versions to read (a series' live versions, a table's latest),
            as they were when the pattern was matched; empty for a dynamic node.
        time_column: the time column if known (stored series, dynamic series), else ``None``.
    """

    nodepath: NodePath
    file_type: str
    versions: tuple[NodeVersion, ...] = ()
    time_column: str | None = None
    _lineage: Lineage | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return self.nodepath.path

    @property
    def stored(self) -> bool:
        return not self.nodepath.is_dynamic

    def lineage(self) -> Lineage:
        """A stored node: its versions; a dynamic node: what the factory says."""
        if self._lineage is None:
            if self.stored:
                # a series: its appended versions (a collapse changes what is read, not what
                # the content is made of); a table: its latest version
                kind = f"{self.file_type}:{self.time_column}"
                series = self.file_type == FILE_SERIES
                appended = self.nodepath.leaf_records() if series else list(self.versions)
                self._lineage = Lineage.stored(self.nodepath.node.node_id, kind, appended)
            else:
                self._lineage = self.nodepath.lineage()
        return self._lineage

    def schema(self) -> pa.Schema:
        """The merged schema of the input (a dynamic input is computed to know it)."""
        if self.stored:
            from duckpond.tinyfs.tables import merged_schema

            return merged_schema([self.nodepath.fs.version_schema(v) for v in self.versions])
        return self.nodepath.schema()

    def chunks(
        self, window: Window | None = None, versions: tuple[NodeVersion, ...] | None = None
    ) -> list[Chunk]:
        """The input as chunks to read (stored versions outside ``window`` skipped; a dynamic
        input's rows within ``window``). ``versions`` narrows a stored input to some versions."""
        if not self.stored:
            return self.nodepath.chunks(window=window)
        fs = self.nodepath.fs
        return [
            fs.version_chunk(v)
            for v in (self.versions if versions is None else versions)
            if window is None or window.overlaps(v.min_event_time, v.max_event_time)
        ]

    def read(self, window: Window | None = None) -> pa.Table:
        """The input's rows (within ``window`` if given, when the time column is known)."""
        if not self.stored:
            return self.nodepath.read_table(window=window)
        from duckpond.tinyfs.tables import read_chunks

        return read_chunks(
            self.chunks(window), self.schema(), time_column=self.time_column, window=window
        )


def non_blank(text: str) -> str:
    """Pydantic validator: ``text`` must not be empty or blank."""
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def match_inputs(owner: NodePath, pattern: str, *, what: str) -> list[Match]:
    """Expand ``pattern`` to the tables and series it matches, in path order.

    Directories are skipped; so are the owner itself and nodes below it (a pattern like
    ``/derived/*`` in ``/derived/x.series`` does not read ``x`` itself). Symlinks are followed.

    Args:
        owner: the dynamic node whose input this is (relative patterns start at its directory).
        pattern: the glob.
        what: how errors name the input, e.g. ``"patterns.raw"``.

    Raises:
        InvalidData: a match is a data file (SQL needs a table or series); a bad pattern.
    """
    from duckpond.errors import InvalidPath
    from duckpond.tinyfs.fs import WD

    fs = owner.fs
    root = fs.root()
    if not pattern.startswith("/"):
        parent = "/" + "/".join(owner.parts[:-1])
        pattern = parent.rstrip("/") + "/" + pattern
    try:
        found = list(root.glob(pattern))
    except InvalidPath as exc:
        raise InvalidData(f"{what}: bad pattern {pattern!r}: {exc.message}", owner.path) from exc
    out = []
    n = len(owner.parts)
    for nodepath in found:
        if nodepath.parts[:n] == owner.parts:
            continue
        if nodepath.is_symlink:
            nodepath = WD(fs, fs.root().here).resolve(nodepath.path)
        if nodepath.is_dir:
            continue
        file_type = nodepath.file_type
        if file_type not in {FILE_TABLE, FILE_SERIES}:
            raise InvalidData(
                f"{what} ({pattern}) matches {nodepath.path}, a {file_type}; a table or series "
                "is needed",
                owner.path,
            )
        if nodepath.is_dynamic:
            tc = nodepath.time_column() if file_type == FILE_SERIES else None
            out.append(Match(nodepath, file_type, (), tc))
        else:
            versions = tuple(nodepath.live_versions())
            tc = nodepath.time_column() if file_type == FILE_SERIES else None
            out.append(Match(nodepath, file_type, versions, tc))
    return out


def warn_empty(owner: str, what: str, pattern: str) -> None:
    """Say (as an :class:`EmptyInputWarning`) that an input matched nothing."""
    warnings.warn(
        EmptyInputWarning(f"{owner}: {what} ({pattern}) matches nothing; the result is empty"),
        stacklevel=3,
    )


# --------------------------------------------------------------------------------------------
# The common object behind each dynamic node
# --------------------------------------------------------------------------------------------

_COMPUTING: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "duckpond_factories_computing", default=()
)


class FactoryNode:
    """Base of the objects factories return: the node, its validated config, cycle detection.

    Args:
        nodepath: the dynamic node (as first reached).
        config: the validated config model.
        config_bytes: the stored config, to notice a newer version of the node.
        factory: the factory's name.
    """

    def __init__(self, nodepath: NodePath, config: Any, config_bytes: bytes, factory: str) -> None:
        self.nodepath = nodepath
        self.config = config
        self.config_bytes = config_bytes
        self.factory = factory

    @property
    def path(self) -> str:
        return self.nodepath.path

    @property
    def node_id(self) -> str:
        return self.nodepath.node.node_id

    def own_key(self) -> str:
        """The part of the lineage that is this node: its id, factory and config digest."""
        digest = hashlib.sha256(self.config_bytes).hexdigest()
        return f"{self.node_id}:{self.factory}:{digest}"

    def refresh_config(self) -> bool:
        """Re-read the config if the node has a newer version; True if it changed.

        The FS caches dynamic objects per process; a config overwritten by another process (and
        seen after a refresh) must still take effect.
        """
        latest = self.nodepath.fs.latest(self.nodepath.node)
        if latest is None or latest.content is None or latest.content == self.config_bytes:
            return False
        from duckpond.errors import UsageError
        from duckpond.factories.registry import FACTORIES

        if latest.factory is not None and latest.factory != self.factory:
            raise UsageError(
                f"the node became a {latest.factory} (it was a {self.factory} when this process "
                "first read it); open the pond again",
                self.path,
            )
        factory = FACTORIES.get(self.factory)
        self.config = factory.load(latest.content, self.nodepath)
        self.config_bytes = latest.content
        self.reset()
        return True

    def reset(self) -> None:
        """Drop cached results (after a config change)."""

    @contextlib.contextmanager
    def computing(self) -> Iterator[None]:
        """Mark this node as being computed; re-entering it is a cycle (InvalidData)."""
        stack = _COMPUTING.get()
        if any(node_id == self.node_id for node_id, _ in stack):
            chain = " -> ".join([p for _, p in stack] + [self.path])
            raise InvalidData(f"inputs form a cycle: {chain}", self.path)
        token = _COMPUTING.set((*stack, (self.node_id, self.path)))
        try:
            yield
        finally:
            _COMPUTING.reset(token)

    def lineage(self) -> Lineage:
        """What the content depends on; a factory that cannot say returns an opaque lineage."""
        return Lineage.opaque()

    def read_table(self, window: Window | None = None) -> pa.Table:
        """The content of a table or series (overridden by factories that make one)."""
        raise InvalidData(f"a {self.factory} node is not a table or series", self.path)

    def read_bytes(self) -> bytes:
        """The content as Parquet bytes (tables and series)."""
        from duckpond.tinyfs.tables import parquet_bytes

        return parquet_bytes(self.read_table())
