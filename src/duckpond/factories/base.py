"""What every factory shares: inputs by glob, lineage (cache keys), DataFusion plumbing, times.

Inputs
    A factory names its inputs with glob patterns (DESIGN.md, tinyfs: ``*``, ``?``, ``[...]``,
    ``**``). :func:`match_inputs` expands one against the pond, follows symlinks, skips
    directories and the factory's own node (and anything below it), and returns :class:`Match`
    objects: a stored table/series (its versions) or another dynamic node (derived feeds derived).
    Relative patterns are relative to the directory holding the dynamic node.

Lineage
    :class:`Lineage` says what a computed result depends on: ``leaves``, the set of stored file
    versions (node id, version, sha256, event-time bounds) read, and ``shape``, a digest of
    everything else (configs, which paths matched). Two reads with equal lineage give equal
    results, so results are cached in the factory object keyed by lineage; when only leaves were
    added (a series got a new version), reducers update incrementally (see
    :mod:`duckpond.factories.reduce`). Keys are content addresses (sha256), so a rolled-back
    transaction or another process's commit can never be mistaken for what was cached.

Times
    Config and export times are ISO-8601 strings (``2016-07-08T01:30:00Z``; an offset is honoured;
    a time without one, or a bare date, is UTC) or integers of µs since the epoch. Windows are
    half-open, ``[start, end)``. Resolutions are ``<n>s|m|h|d`` (seconds, minutes, hours, days).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import re
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final

import pyarrow as pa
from pydantic import AfterValidator

from duckpond.errors import InvalidData, QueryError
from duckpond.steward.query import register_table
from duckpond.tinyfs.model import FILE_SERIES, FILE_TABLE, NodeVersion
from duckpond.tinyfs.tables import conform

if TYPE_CHECKING:
    from datafusion import SessionContext

    from duckpond.tinyfs.fs import NodePath

__all__ = [
    "TIME_TYPE",
    "EmptyInputWarning",
    "FactoryNode",
    "Leaf",
    "Lineage",
    "Match",
    "NonBlank",
    "Part",
    "Window",
    "conform",
    "format_resolution",
    "match_inputs",
    "non_blank",
    "parse_resolution",
    "parse_time",
    "quote",
    "register_match",
    "register_table",
    "run_query",
    "ts_literal",
]

TIME_TYPE: Final = pa.timestamp("us", tz="UTC")
#: A half-open interval of event times ``[start, end)`` in µs since the epoch, UTC.
Window = tuple[int, int]

_RESOLUTION_RE: Final = re.compile(r"^([1-9][0-9]{0,9})(s|m|h|d)$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class EmptyInputWarning(UserWarning):
    """A factory's input pattern matched nothing, so its result is empty (said, not raised)."""


# --------------------------------------------------------------------------------------------
# Times and resolutions
# --------------------------------------------------------------------------------------------


def parse_resolution(text: str) -> int:
    """``"90m"`` -> 5400: a bucket width ``<n>s|m|h|d`` in whole seconds.

    Raises:
        ValueError: not of that form (pydantic turns it into a field error).
    """
    m = _RESOLUTION_RE.match(str(text).strip())
    if m is None:
        raise ValueError(f"resolution {text!r} is not <n>s, <n>m, <n>h or <n>d (e.g. 1h, 30m)")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def format_resolution(seconds: int) -> str:
    """Inverse of :func:`parse_resolution` in the largest unit that divides (3600 -> ``"1h"``)."""
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def parse_time(value: Any) -> int:
    """A time as integer µs since the epoch, UTC.

    Args:
        value: an ``int`` (µs since the epoch), a ``datetime`` (naive = UTC), a ``date``
            (midnight UTC) or an ISO-8601 string (``Z`` or an offset honoured; none = UTC).

    Raises:
        ValueError: anything else, or a string that is not ISO-8601.
    """
    if isinstance(value, bool):
        raise ValueError("a time must be an ISO-8601 string or µs since the epoch")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not an ISO-8601 time (e.g. 2016-07-08T01:30:00Z)"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return int((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)
    if isinstance(value, date):
        return parse_time(datetime(value.year, value.month, value.day, tzinfo=UTC))
    raise ValueError("a time must be an ISO-8601 string or µs since the epoch")


def format_time(us: int) -> str:
    """µs since the epoch -> ``2016-07-08T01:30:00Z`` (for messages)."""
    from datetime import timedelta

    t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return t.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Lineage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leaf:
    """One stored file version an input is made of (µs event-time bounds, ``None`` if unknown)."""

    node_id: str
    version: int
    sha256: str | None
    min_us: int | None
    max_us: int | None

    @classmethod
    def of(cls, v: NodeVersion) -> Leaf:
        return cls(v.node_id, v.version, v.sha256, v.min_event_time, v.max_event_time)


@dataclass(frozen=True, slots=True)
class Lineage:
    """What a result depends on (see the module docstring).

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
    def combine(own: str, parts: Sequence[tuple[str, Lineage]], *, time_local: bool) -> Lineage:
        """The lineage of a node computed from labelled inputs (``own``: its config key)."""
        h = hashlib.sha256(own.encode())
        leaves: set[Leaf] = set()
        local = time_local
        for label, lin in parts:
            h.update(b"\0" + label.encode() + b"\0" + lin.shape.encode())
            leaves |= lin.leaves
            local = local and lin.time_local
        return Lineage(h.hexdigest(), frozenset(leaves), local)

    @staticmethod
    def opaque() -> Lineage:
        """The lineage of something that cannot say what it depends on: never equal to another."""
        return Lineage(f"opaque:{uuid.uuid4()}", frozenset(), False)


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
    return added, (
        min(x for x in lows if x is not None),
        max(x for x in highs if x is not None) + 1,
    )


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of an input for DataFusion: a host Parquet file or an in-memory Arrow table."""

    schema: pa.Schema
    path: str | None = None
    table: pa.Table | None = None


@dataclass(eq=False)
class Match:
    """One node an input pattern matched.

    Attributes:
        np: the node as reached through the pattern (``np.path``; ``np.captures``).
        file_type: ``file:table`` or ``file:series``.
        versions: a stored node's versions to read (all of a series, the latest of a table);
            empty for a dynamic node.
        obj: the dynamic node's computed object, or ``None`` for a stored node.
        time_column: the time column if known (stored series, dynamic series), else ``None``.
    """

    np: NodePath
    file_type: str
    versions: tuple[NodeVersion, ...] = ()
    obj: Any = None
    time_column: str | None = None
    _lineage: Lineage | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return self.np.path

    @property
    def stored(self) -> bool:
        return self.obj is None

    def lineage(self) -> Lineage:
        """Stored: its versions; ours: the factory's lineage; others: :meth:`Lineage.opaque`."""
        if self._lineage is None:
            if self.stored:
                shape = f"stored:{self.np.node.node_id}:{self.file_type}:{self.time_column}"
                leaves = frozenset(Leaf.of(v) for v in self.versions)
                self._lineage = Lineage(shape, leaves, True)
            elif hasattr(self.obj, "lineage"):
                self._lineage = self.obj.lineage()
            else:
                self._lineage = Lineage.opaque()
        return self._lineage

    def schema(self) -> pa.Schema:
        """The merged schema of the input (a dynamic input is computed to know it)."""
        if self.stored:
            from duckpond.tinyfs.tables import merged_schema

            return merged_schema([_version_schema(self.np, v) for v in self.versions])
        return self.read().schema

    def read(self, window: Window | None = None) -> pa.Table:
        """The input's rows (within ``window`` if given, when the time column is known)."""
        if self.stored:
            parts = self.parts(window)
            return _materialize(parts, self.schema(), self.time_column, window)
        if window is not None and hasattr(self.obj, "read_window"):
            return self.obj.read_window(window)  # type: ignore[no-any-return]
        table: pa.Table = self.obj.read_table()
        if window is not None and self.time_column:
            table = filter_window(table, self.time_column, window)
        return table

    def parts(self, window: Window | None = None) -> list[Part]:
        """The input as Parquet files and Arrow tables, versions outside ``window`` skipped.

        Large stored versions are host Parquet paths (DataFusion reads them natively); inline
        versions are read into one Arrow table; a dynamic input is one Arrow table.
        """
        if not self.stored:
            t = self.read(window)
            return [Part(t.schema, table=t)]
        persistence = self.np.fs.persistence
        out: list[Part] = []
        small: list[pa.Table] = []
        for v in self.versions:
            if window is not None and not _overlaps(v, window):
                continue
            host = persistence.blob_path(v)
            if host is not None:
                out.append(Part(_version_schema(self.np, v), path=host))
            else:
                small.append(_read_version(self.np, v))
        if small:
            from duckpond.tinyfs.tables import merged_schema

            schema = merged_schema([t.schema for t in small])
            t = pa.concat_tables([conform(t, schema) for t in small])
            out.append(Part(schema, table=t))
        return out


def _overlaps(v: NodeVersion, window: Window) -> bool:
    if v.min_event_time is None or v.max_event_time is None:
        return True
    return v.max_event_time >= window[0] and v.min_event_time < window[1]


def _version_schema(np: NodePath, v: NodeVersion) -> pa.Schema:
    import pyarrow.parquet as pq

    host = np.fs.persistence.blob_path(v)
    if host is not None:
        return _footer_schema(host)
    return pq.read_schema(pa.BufferReader(np.fs.persistence.open_blob(v).read()))


_FOOTERS: dict[str, pa.Schema] = {}


def _footer_schema(host: str) -> pa.Schema:
    # Large files are content-addressed (sha256=<hex>): a path's schema can never change.
    schema = _FOOTERS.get(host)
    if schema is None:
        import pyarrow.parquet as pq

        schema = pq.read_schema(host).remove_metadata()
        if len(_FOOTERS) > 4096:
            _FOOTERS.clear()
        _FOOTERS[host] = schema
    return schema


def _read_version(np: NodePath, v: NodeVersion) -> pa.Table:
    import pyarrow.parquet as pq

    with np.fs.persistence.open_blob(v) as f:
        return pq.read_table(pa.BufferReader(f.read())).replace_schema_metadata(None)


def non_blank(text: str) -> str:
    """Pydantic validator: ``text`` must not be empty or blank."""
    if not text.strip():
        raise ValueError("must not be empty")
    return text


#: A config string that must not be empty or blank (pydantic annotated type).
NonBlank = Annotated[str, AfterValidator(non_blank)]


def filter_window(table: pa.Table, time_column: str, window: Window) -> pa.Table:
    """Rows with ``window[0] <= time < window[1]``."""
    import pyarrow.compute as pc

    col = table.column(time_column)
    if col.type != TIME_TYPE:
        col = col.cast(TIME_TYPE)
    lo = pa.scalar(window[0], TIME_TYPE)
    hi = pa.scalar(window[1], TIME_TYPE)
    return table.filter(pc.and_(pc.greater_equal(col, lo), pc.less(col, hi)))


def _materialize(
    parts: list[Part], schema: pa.Schema, time_column: str | None, window: Window | None
) -> pa.Table:
    import pyarrow.parquet as pq

    tables = []
    for p in parts:
        t = p.table if p.table is not None else pq.read_table(p.path).replace_schema_metadata(None)
        tables.append(conform(t, schema))
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    if window is not None and time_column:
        table = filter_window(table, time_column, window)
    return table


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
    for np in found:
        if np.parts[:n] == owner.parts:
            continue
        if np.is_symlink:
            np = WD(fs, fs.root().here).resolve(np.path)
        if np.is_dir:
            continue
        file_type = np.file_type
        if file_type not in {FILE_TABLE, FILE_SERIES}:
            raise InvalidData(
                f"{what} ({pattern}) matches {np.path}, a {file_type}; a table or series is needed",
                owner.path,
            )
        if np.is_dynamic:
            obj = fs.dynamic_object(np)
            tc = getattr(obj, "time_column", None) if file_type == FILE_SERIES else None
            out.append(Match(np, file_type, (), obj, tc))
        else:
            history = np.versions()
            versions = tuple(history) if file_type == FILE_SERIES else (history[-1],)
            tc = versions[-1].time_column if file_type == FILE_SERIES else None
            out.append(Match(np, file_type, versions, None, tc))
    return out


def warn_empty(owner: str, what: str, pattern: str) -> None:
    """Say (as an :class:`EmptyInputWarning`) that an input matched nothing."""
    warnings.warn(
        EmptyInputWarning(f"{owner}: {what} ({pattern}) matches nothing; the result is empty"),
        stacklevel=3,
    )


# --------------------------------------------------------------------------------------------
# DataFusion
# --------------------------------------------------------------------------------------------


def quote(name: str) -> str:
    """A SQL identifier in double quotes (``"a.b"``; embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def ts_literal(us: int) -> str:
    """A SQL literal of type timestamp[us, UTC] for ``us`` µs since the epoch."""
    return f"arrow_cast({int(us)}, 'Timestamp(Microsecond, Some(\"UTC\"))')"


def session() -> SessionContext:
    from duckpond.steward.query import session as _session

    return _session()


def register_parts(
    ctx: SessionContext,
    name: str,
    parts: Sequence[Part],
    schema: pa.Schema,
    *,
    time_column: str | None = None,
    window: Window | None = None,
) -> None:
    """Register ``parts`` (all of ``schema``) as one table ``name``, rows within ``window``.

    Parts whose schema is exactly ``schema`` are read by DataFusion in place (Parquet by path);
    otherwise all are read with pyarrow, aligned to ``schema`` and registered from memory.
    """
    where = ""
    if window is not None and time_column is not None:
        tc = quote(time_column)
        where = f" WHERE {tc} >= {ts_literal(window[0])} AND {tc} < {ts_literal(window[1])}"
    if not parts or any(p.schema.remove_metadata() != schema for p in parts):
        table = _materialize(list(parts), schema, time_column, window)
        register_table(ctx, name, table)
        return
    if len(parts) == 1 and parts[0].path is not None and not where:
        ctx.register_parquet(name, parts[0].path, file_extension="")
        return
    selects = []
    for i, p in enumerate(parts):
        part_name = f"{name}\x1f{i}"
        if p.path is not None:
            ctx.register_parquet(part_name, p.path, file_extension="")
        else:
            assert p.table is not None
            register_table(ctx, part_name, p.table)
        selects.append(f"SELECT * FROM {quote(part_name)}{where}")
    ctx.register_view(name, ctx.sql(" UNION ALL ".join(selects)))


def register_match(
    ctx: SessionContext, name: str, matches: Sequence[Match], *, window: Window | None = None
) -> pa.Schema:
    """Register the union (columns by name) of ``matches`` as table ``name``.

    Returns:
        The merged schema of the registered table.

    Raises:
        InvalidData: the matches have incompatible column types.
    """
    from duckpond.tinyfs.tables import merged_schema

    if len(matches) == 1:
        m = matches[0]
        if m.stored:
            schema = m.schema()
            register_parts(
                ctx, name, m.parts(window), schema, time_column=m.time_column, window=window
            )
            return schema
        table = m.read(window)
        register_table(ctx, name, table)
        return table.schema
    tables = [m.read(window) for m in matches]
    try:
        schema = merged_schema([t.schema for t in tables])
    except InvalidData as exc:
        paths = ", ".join(m.path for m in matches)
        raise InvalidData(
            f"{name}: the matches ({paths}) have incompatible columns: {exc}"
        ) from exc
    register_table(ctx, name, pa.concat_tables([conform(t, schema) for t in tables]))
    return schema


def run_query(ctx: SessionContext, sql: str, path: str, *, what: str = "SQL") -> pa.Table:
    """Run ``sql``; DataFusion errors become one-line :class:`QueryError` naming ``path``.

    Returns:
        The result with nanosecond timestamps cast to µs (``date_bin`` returns ns).
    """
    from duckpond.steward.query import to_microseconds

    try:
        result = ctx.sql(sql).to_arrow_table()
    except Exception as exc:  # DataFusion raises plain Exception subclasses
        raise QueryError(f"{what}: {_clean(str(exc))}", path) from exc
    return to_microseconds(result)


def _clean(text: str) -> str:
    line = " ".join(text.split())
    for marker in ("DataFusion error: ", "Error during planning: ", "Execution error: "):
        line = line.replace(marker, "")
    return line[:400]


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
        self.config = factory.parse(latest.content, self.path)
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

    def read_bytes(self) -> bytes:
        """The content as Parquet bytes (tables and series)."""
        from duckpond.tinyfs.tables import parquet_bytes

        return parquet_bytes(self.read_table())  # type: ignore[attr-defined]
