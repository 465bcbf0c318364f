"""Lineage: what a computed result depends on, so that equal lineage means an equal result.

A stored table or series is made of file versions (:class:`Leaf`: node id, version, sha256,
event-time bounds). A dynamic node's lineage combines its own config with the lineage of its
inputs (:meth:`Lineage.combine`). Two reads with equal lineage give equal results, so results are
cached by lineage; when only leaves were added (a series got a new version), a consumer can update
incrementally (:func:`added_window`). Keys are content addresses (the first
:data:`DIGEST_KEY_CHARS` hex digits of the sha256: what a summarized history keeps of a version
whose chunk is gone, ``steward.maintenance``), so a rolled-back transaction or another process's
commit can never be mistaken for what was cached.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NamedTuple

from duckpond.times import Window

if TYPE_CHECKING:
    from duckpond.tinyfs.model import NodeVersion

__all__ = [
    "DIGEST_KEY_CHARS",
    "LEAF_FIELDS",
    "Leaf",
    "Lineage",
    "added_window",
    "combined_shape",
    "stored_shape",
]


#: Hex digits of a version's sha256 a :class:`Leaf` keeps (64 bits): the summarized oplog row
#: of a collapsed version whose chunk file is gone keeps only these, so a leaf is the same before
#: and after its history is summarized (``duckpond.steward.maintenance.compact_oplog``).
DIGEST_KEY_CHARS: Final = 16

#: The :class:`NodeVersion` fields a :class:`Leaf` is made of, in order.
LEAF_FIELDS: Final = ("node_id", "version", "sha256", "min_event_time", "max_event_time")


class Leaf(NamedTuple):
    """One stored file version an input is made of (µs event-time bounds, ``None`` if unknown).

    A named tuple, not a dataclass: a derived series over five years of daily appends has ~11,000
    leaves, made and hashed by every process that reads it (a third of the cost)."""

    node_id: str
    version: int
    #: the first :data:`DIGEST_KEY_CHARS` hex digits of the version's sha256
    sha256: str | None
    min_us: int | None
    max_us: int | None

    @classmethod
    def of(cls, v: NodeVersion) -> Leaf:
        return cls.from_fields(v.node_id, v.version, v.sha256, v.min_event_time, v.max_event_time)

    @classmethod
    def from_fields(
        cls, node_id: str, version: int, sha256: str | None, min_us: int | None, max_us: int | None
    ) -> Leaf:
        """The leaf of a version with these :data:`LEAF_FIELDS` (a full or summarized sha256)."""
        return cls(node_id, version, sha256 and sha256[:DIGEST_KEY_CHARS], min_us, max_us)


@dataclass(frozen=True, slots=True)
class Lineage:
    """What a result depends on.

    Attributes:
        shape: digest of configs and of which nodes matched which pattern.
        leaves: the stored file versions read.
        time_local: every output row at time t depends only on input rows at time t, so a change
            confined to a time window changes the output only in that window.
    """

    shape: str
    leaves: frozenset[Leaf]
    time_local: bool

    @staticmethod
    def stored(node_id: str, kind: str, versions: Iterable[NodeVersion | Leaf]) -> Lineage:
        """The lineage of a stored file: its versions, or their leaves (``kind`` distinguishes
        how it is read)."""
        leaves = frozenset(v if isinstance(v, Leaf) else Leaf.of(v) for v in versions)
        return Lineage(stored_shape(node_id, kind), leaves, True)

    @staticmethod
    def combine(own: str, parts: Sequence[tuple[str, Lineage]], *, time_local: bool) -> Lineage:
        """The lineage of a node computed from labelled inputs (``own``: its config key)."""
        leaves: set[Leaf] = set()
        local = time_local
        for _, lin in parts:
            leaves |= lin.leaves
            local = local and lin.time_local
        shape = combined_shape(own, [(label, lin.shape) for label, lin in parts])
        return Lineage(shape, frozenset(leaves), local)

    @staticmethod
    def opaque() -> Lineage:
        """The lineage of something that cannot say what it depends on: never equal to another."""
        return Lineage(f"opaque:{uuid.uuid4()}", frozenset(), False)


def stored_shape(node_id: str, kind: str) -> str:
    """The :attr:`Lineage.shape` of a stored file (:meth:`Lineage.stored`), known without its
    leaves."""
    return f"stored:{node_id}:{kind}"


def combined_shape(own: str, parts: Sequence[tuple[str, str]]) -> str:
    """The :attr:`Lineage.shape` :meth:`Lineage.combine` gives for ``(label, shape)`` parts,
    known without their leaves."""
    h = hashlib.sha256(own.encode())
    for label, shape in parts:
        h.update(b"\0" + label.encode() + b"\0" + shape.encode())
    return h.hexdigest()


def added_window(old: Lineage, new: Lineage) -> tuple[frozenset[Leaf], Window | None] | None:
    """If ``new`` only adds leaves to ``old`` (same shape), the added leaves and their window.

    Returns:
        ``None`` when ``new`` is not an extension of ``old``; else ``(added, window)`` where
        ``window`` is the half-open event-time span of the added leaves (``None`` when nothing was
        added or a bound is unknown, in which case a windowed update is not possible).
    """
    if old.shape != new.shape or not old.leaves <= new.leaves:
        return None
    added = new.leaves - old.leaves
    if not added:
        return frozenset(), None
    lows = [leaf.min_us for leaf in added]
    highs = [leaf.max_us for leaf in added]
    if any(x is None for x in lows) or any(x is None for x in highs):
        return added, None
    return added, Window(
        min(x for x in lows if x is not None), max(x for x in highs if x is not None) + 1
    )
