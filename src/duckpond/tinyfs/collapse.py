"""Version collapse: a series' small versions merged into larger chunks, history kept.

A collector appends one small version to a series every hour; read as thousands of tiny Parquet
chunks, the series would cost what its history costs. A *collapse* writes a new version of the
series whose chunk holds the rows of some existing *live* versions (its children), in order, and
supersedes them: reads of the current series use live versions only, so the same rows are read
once, from fewer, larger chunks.

What a collapse version records (``extended_attributes``, besides ``time_column``)::

    "rows": 64                      rows in this version's chunk (every series version has it)
    "level": 1                      0 for an appended version; 1 + the children's level
    "first": 17                     the version number of the first appended version it covers
    "collapses": [[17, 4, null, null], [18, 4, ["Timestamp", "v"], {"v": "int64"}], ...]
    "live": [1, 17, 33, ...]        the live versions right after it (itself included)

Each ``collapses`` entry is ``[version, rows, columns, types]``: a child, the number of its rows
(they are consecutive in the chunk, children in the order listed), and, where they differ from
the chunk's merged schema, the child's own column names and types. So any child can be read back
exactly from the chunk, which is how ``--at-txn`` of a transaction before the collapse reads what
it read then, even once the child's own bytes are gone (superseded chunks are deleted after a
grace period).

The policy (size-tiered, like a log-structured merge):

- a version with at least :data:`FULL_ROWS` rows or :data:`FULL_BYTES` bytes is *full*: never
  merged again (a bulk load is full at once);
- after a transaction appends to a series, every run of :data:`FANIN` consecutive non-full live
  versions of one level is merged into one version of the next level, and so on (a cascade), so
  a series never has ``FANIN`` consecutive live versions of one level: about 60 live versions
  for a year of hourly appends, each row rewritten about log16(versions) times;
- ``pond maintain`` merges every run of consecutive non-full live versions into chunks of up to
  :data:`FULL_ROWS` rows.

Corrections (``pond revert``, ``pond copy --replace``, ``pond rm-rows``) are the other kind of
superseding version: a *correction* holds new rows (its own content, not its children's) and
supersedes the versions it lists in ``replaces``::

    "replaces": [12, 31, 40]        the live versions whose rows it stands for (any content)
    "correction": "rm-rows"         what made it (revert, replace, rm-rows): shown, not used

A version listed in ``replaces`` stops being live (:func:`live`) but keeps its bytes: a
correction holds other rows, so ``--at-txn`` of an earlier transaction reads the superseded
version itself (its chunk is never queued for deletion, unlike a collapse's children). A later
collapse may hold a correction like any live version.

The *leaves* of a series (:func:`leaves`, its lineage: what dynamic nodes and the reduce cache
key by) are the versions with content of their own (appended versions and corrections) that the
live versions are made of: a collapse stands for its children's leaves, so a collapse changes
no leaf; a correction is a new leaf and the leaves it superseded are gone, so every cache over
the rows it changed recomputes. Versions of no rows are not leaves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa

    from duckpond.tinyfs.model import NodeVersion
    from duckpond.tinyfs.persistence import LazyHistory

__all__ = [
    "FANIN",
    "FULL_BYTES",
    "FULL_ROWS",
    "Child",
    "child_table",
    "children",
    "first",
    "is_correction",
    "leaf_positions",
    "leaves",
    "level",
    "live",
    "merge_children",
    "next_run",
    "plan_all",
    "replaced",
    "rows",
    "superseded_by",
    "superseded_numbers",
]

#: A series collapses when this many consecutive live versions of one level end it.
FANIN: Final = 16
#: A version of at least this many rows is full: never merged again.
FULL_ROWS: Final = 1_000_000
#: A version of at least this many bytes is full.
FULL_BYTES: Final = 64 << 20

COLLAPSES: Final = "collapses"
#: The extended attribute of a collapse: the version numbers live right after it (itself too),
#: so a new process folds only the versions after the last collapse, not a year of them.
LIVE: Final = "live"
#: How many of the newest versions :func:`live` searches for a recorded live set.
LIVE_SEARCH: Final = 64
#: The extended attribute of a correction: the version numbers it supersedes.
REPLACES: Final = "replaces"
#: The extended attribute naming what made a correction (``revert``, ``replace``, ``rm-rows``).
CORRECTION: Final = "correction"


@dataclass(frozen=True, slots=True)
class Child:
    """One version a collapse holds: its rows (consecutive in the chunk) and its own schema where
    it differs from the chunk's (``columns``: its column names; ``types``: name -> type)."""

    version: int
    rows: int
    columns: tuple[str, ...] | None = None
    types: dict[str, str] | None = None

    def to_json(self) -> list[Any]:
        return [self.version, self.rows, list(self.columns) if self.columns else None, self.types]

    @classmethod
    def from_json(cls, item: Sequence[Any]) -> Child:
        version, n, columns, types = [*item, None, None][:4]
        return cls(int(version), int(n), tuple(columns) if columns else None, types or None)


def children(v: NodeVersion) -> list[Child]:
    """The children of a collapse version (empty for an appended version)."""
    return [Child.from_json(item) for item in v.extended_attributes.get(COLLAPSES) or ()]


def rows(v: NodeVersion) -> int | None:
    """Rows in a series version's chunk, when recorded."""
    n = v.extended_attributes.get("rows")
    return int(n) if n is not None else None


def level(v: NodeVersion) -> int:
    return int(v.extended_attributes.get("level", 0))


def first(v: NodeVersion) -> int:
    """Where a version sits in the series' logical order: its first appended version."""
    return int(v.extended_attributes.get("first", v.version))


def replaced(v: NodeVersion) -> list[int]:
    """The version numbers a correction supersedes (empty for any other version)."""
    return [int(n) for n in v.extended_attributes.get(REPLACES) or ()]


def is_correction(v: NodeVersion) -> bool:
    return REPLACES in v.extended_attributes


def superseded_by(versions: Sequence[NodeVersion]) -> dict[int, NodeVersion]:
    """Version number -> the collapse (among ``versions``) that holds it (its rows are in the
    collapse's chunk; a correction holds other rows and is not a holder here)."""
    out: dict[int, NodeVersion] = {}
    for v in versions:
        for c in children(v):
            out[c.version] = v
    return out


def superseded_numbers(attributes: Mapping[str, Any]) -> list[int]:
    """The version numbers a version with these extended attributes supersedes: a collapse's
    children, a correction's ``replaces`` (read from the raw attributes, not :class:`Child`
    objects: this runs for every version a process folds)."""
    out = [int(item[0]) for item in attributes.get(COLLAPSES) or ()]  # [version, rows, ...]
    out += [int(n) for n in attributes.get(REPLACES) or ()]
    return out


def _superseded_in(versions: Sequence[NodeVersion]) -> set[int]:
    """The version numbers some version among ``versions`` supersedes (a lazy history answers
    without building any)."""
    from duckpond.tinyfs.persistence import LazyHistory

    if isinstance(versions, LazyHistory):
        return versions.superseded()
    held: set[int] = set()
    for v in versions:
        held.update(superseded_numbers(v.extended_attributes))
    return held


def live(versions: Sequence[NodeVersion]) -> list[NodeVersion]:
    """The versions no collapse or correction among ``versions`` supersedes, in logical order:
    the union of their rows is the series' content.

    From a :class:`~duckpond.tinyfs.persistence.LazyHistory`, the live set the newest collapse
    recorded (:data:`LIVE`, among the last :data:`LIVE_SEARCH` versions) is taken as it is and
    only the versions after it are folded: the attribute texts of the ~600 collapses of a year
    are not parsed. A history without such a record is folded whole."""
    from duckpond.tinyfs.persistence import LazyHistory

    if isinstance(versions, LazyHistory):
        found = _recorded_live(versions)
        if found is not None:
            live_at, position = found
            return fold_live(live_at, versions[position + 1 :])
    return fold_live((), versions)


def _recorded_live(versions: LazyHistory) -> tuple[list[NodeVersion], int] | None:
    """The live versions the newest collapse recorded and that collapse's position, or
    ``None`` (no record among the newest versions, or one that does not match the history)."""
    n = len(versions)
    for position in range(n - 1, max(-1, n - 1 - LIVE_SEARCH), -1):
        recorded = versions.attributes_at(position).get(LIVE)
        if recorded is None:
            continue
        try:
            wanted = {int(x) for x in recorded}
        except (TypeError, ValueError):
            return None
        numbers = versions.numbers()[: position + 1]
        positions = [i for i, num in enumerate(numbers) if num in wanted]
        if {numbers[i] for i in positions} != wanted:
            return None  # not this history's (never expected): fold it whole
        kept = versions.select(positions)
        return sorted(kept, key=lambda v: (first(v), v.version)), position
    return None


def fold_live(
    live_before: Sequence[NodeVersion], added: Sequence[NodeVersion]
) -> list[NodeVersion]:
    """``live(history + added)`` from ``live_before == live(history)``: a version can only
    supersede versions older than itself, so the added ones remove what they hold and join.

    When ``added`` is a :class:`~duckpond.tinyfs.persistence.LazyHistory` (as the Delta backend
    gives), only the versions that stay live are built: a new process reading a series with a
    year of hourly versions builds ~30, not ~9,000."""
    from duckpond.tinyfs.persistence import LazyHistory

    held = _superseded_in(added)
    numbers = added.numbers() if isinstance(added, LazyHistory) else [v.version for v in added]
    kept = [v for v in live_before if v.version not in held]
    kept += [added[i] for i, n in enumerate(numbers) if n not in held]
    return sorted(kept, key=lambda v: (first(v), v.version))


def leaves(versions: Sequence[NodeVersion]) -> list[NodeVersion]:
    """The versions with content of their own (appended versions, corrections) that the live
    versions are made of, collapses expanded to their children; versions of no rows left out.
    Ordered by version number (see :func:`leaf_positions`)."""
    from duckpond.tinyfs.persistence import LazyHistory

    wanted = leaf_positions(versions)
    if isinstance(versions, LazyHistory):
        return versions.select(wanted)
    return [versions[i] for i in wanted]


def leaf_positions(versions: Sequence[NodeVersion]) -> list[int]:
    """Where the :func:`leaves` are in ``versions``, ordered by version number. A
    :class:`~duckpond.tinyfs.persistence.LazyHistory` is walked by its version numbers and
    attributes only, nothing built (the lineage of a derived series is computed by every
    process that reads it)."""
    from duckpond.tinyfs.persistence import LazyHistory

    held = _superseded_in(versions)
    if isinstance(versions, LazyHistory):
        numbers, attributes = versions.numbers(), versions.attributes()
    else:
        numbers = [v.version for v in versions]
        attributes = [v.extended_attributes for v in versions]
    position = {n: i for i, n in enumerate(numbers)}
    out: dict[int, int] = {}
    stack = [i for i, n in enumerate(numbers) if n not in held]  # the live versions
    while stack:
        i = stack.pop()
        attrs = attributes[i]
        held_here = attrs.get(COLLAPSES)
        if held_here:
            stack.extend(position[n] for n in (int(c[0]) for c in held_here) if n in position)
        elif attrs.get("rows") != 0:  # no recorded row count counts as rows
            out[numbers[i]] = i
    return [out[n] for n in sorted(out)]


def _full(v: NodeVersion) -> bool:
    n = rows(v)
    return (n is not None and n >= FULL_ROWS) or (v.size or 0) >= FULL_BYTES


def next_run(live_versions: Sequence[NodeVersion], fanin: int = FANIN) -> list[NodeVersion] | None:
    """The live versions to merge now (see the module docstring), or ``None``: the first
    ``fanin`` versions of the first run of ``fanin`` or more consecutive non-full versions of
    one level among ``live_versions`` (:func:`live`, in logical order).

    Only the next step is planned: after merging, plan again until it says ``None`` (then no
    level has ``fanin`` consecutive versions anywhere, however many one transaction appended).
    """
    run: list[NodeVersion] = []
    for v in live_versions:
        if _full(v):
            run = []
            continue
        if run and level(v) != level(run[0]):
            run = []
        run.append(v)
        if len(run) == fanin:
            return run
    return None


def plan_all(
    versions: Sequence[NodeVersion], target_rows: int = FULL_ROWS
) -> list[list[NodeVersion]]:
    """Runs of consecutive non-full live versions to merge, each up to ``target_rows`` rows
    (``pond maintain``). A run of one version is left alone."""
    runs: list[list[NodeVersion]] = []
    run: list[NodeVersion] = []
    total = 0
    for v in live(versions):
        n = rows(v) or 0
        if _full(v) or (run and total + n > target_rows):
            if len(run) > 1:
                runs.append(run)
            run, total = ([], 0) if _full(v) else ([v], n)
            continue
        run.append(v)
        total += n
    if len(run) > 1:
        runs.append(run)
    return runs


def merge_children(
    tables: Sequence[tuple[NodeVersion, pa.Table]],
) -> tuple[pa.Table, list[Child]]:
    """The chunk of a collapse: the children's rows in order, conformed to their merged schema;
    and the children's entries (their own columns and types where they differ).

    Raises:
        InvalidData: the children's column types cannot be merged.
    """
    import pyarrow as pa

    from duckpond.tinyfs.tables import conform, merged_schema

    schema = merged_schema([t.schema for _, t in tables])
    out: list[Child] = []
    parts = []
    for v, t in tables:
        own = t.schema.remove_metadata()
        columns = tuple(own.names) if own.names != schema.names else None
        types = {f.name: str(f.type) for f in own if schema.field(f.name).type != f.type} or None
        out.append(Child(v.version, t.num_rows, columns, types))
        parts.append(conform(t, schema))
    return pa.concat_tables(parts), out


def child_table(chunk: pa.Table, entries: Sequence[Child], version: int) -> pa.Table:
    """The rows of child ``version`` read back from its collapse's chunk, with its own schema.

    Raises:
        KeyError: ``version`` is not a child of this collapse.
    """
    import pyarrow as pa

    offset = 0
    for c in entries:
        if c.version == version:
            t = chunk.slice(offset, c.rows)
            if c.columns is not None:
                t = t.select(list(c.columns))
            if c.types:
                fields = [
                    f.with_type(_type_from_str(c.types[f.name])) if f.name in c.types else f
                    for f in t.schema
                ]
                t = t.cast(pa.schema(fields))
            return t
        offset += c.rows
    raise KeyError(version)


def _type_from_str(text: str) -> pa.DataType:
    """An Arrow type from its ``str()`` (the types a CSV or Parquet series column can have)."""
    import pyarrow as pa

    simple = {
        "int8": pa.int8(),
        "int16": pa.int16(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "uint8": pa.uint8(),
        "uint16": pa.uint16(),
        "uint32": pa.uint32(),
        "uint64": pa.uint64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "halffloat": pa.float16(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "large_string": pa.large_string(),
        "binary": pa.binary(),
        "date32[day]": pa.date32(),
        "null": pa.null(),
    }
    if text in simple:
        return simple[text]
    if text.startswith("timestamp["):
        inner = text[len("timestamp[") : -1]
        unit, _, tz = inner.partition(", tz=")
        return pa.timestamp(unit, tz or None)
    raise ValueError(f"cannot restore a column of type {text}")
