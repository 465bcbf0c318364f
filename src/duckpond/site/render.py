"""Render the static website: an index, one page of interactive time charts per page spec,
Markdown content pages and an Atom feed.

The renderer knows nothing about the pond. Its input is a :class:`SiteSpec` naming, for every page,
the charts to draw and, for every resolution, the reduced data (``Timestamp`` plus
``<column>.avg|.min|.max|.count`` columns) as an Arrow table or as Parquet files. The ``sitegen``
factory builds that spec from the pond; tests build it from files they write themselves.

What :func:`render_site` writes into ``out_dir``::

    index.html                    one card per page: each series' latest value and time, the span,
                                  the newest reading and a stale warning
    <slug>.html                   one per chart page, self-contained for its first view (below),
                                  with its series' newest reading and stale warning
    <slug>.html                   one per Markdown content page (:class:`ContentPage`)
    feed.xml                      Atom feed (RFC 4287): one entry per page and newest reading
    assets/vendor/...             vendored libraries loaded on demand, with their licences
    data/<slug>/res=<R>/<block>.parquet     the published data blocks (fetched over http)
    data/<slug>/res=<R>/<block>.parquet.js  the same bytes, base64 in a script, for file:// pages
    .duckpond-site.json           the files written (a later build removes those it no longer
                                  writes)

**Blocks: partitioned by the size a view needs.** A page draws a range with the coarsest
resolution that has at least :data:`MIN_POINTS` buckets in it (:func:`choose_resolution`), so a
view drawn at resolution ``R`` spans less than ``MIN_POINTS`` buckets of the next coarser one.
Each resolution's rows are cut into epoch-aligned blocks of :func:`block_seconds` (half that span
plus a bucket, rounded up to whole buckets): any view then needs at most three blocks. The
coarsest resolution's blocks hold :data:`COARSEST_BLOCK_BUCKETS` buckets, so "All" is one to
three files for up to ``2 * COARSEST_BLOCK_BUCKETS`` buckets of data. A block file is named by
its start, ``YYYYMMDDTHHMMZ.parquet`` (UTC).

**The first view needs no request after the page.** The default view's rows are in the page
itself (Parquet, base64), as are the scripts (uPlot, hyparquet, ``app.js``) and the styles: on a
high-latency phone network each round trip costs more than these bytes (see benchmarks/
bench_site.py). Other views fetch blocks; the map (Leaflet) and the Parquet writer of the download
button are loaded from ``assets/vendor`` only when used.

**Incremental.** Every file is written only when its bytes change (:func:`~duckpond.site.files.
write_if_changed`): a build after one new day rewrites the blocks covering that day, the pages
(they show the build time) and the feed, and leaves every other block byte-identical with its
mtime. ``rebuild=True`` writes everything. Files of an earlier build that this one does not write
are removed. The :class:`SiteReport` says what was written, left unchanged and removed.
The manifest (``.duckpond-site.json``) records every file, every block (its key, rows, span,
bytes; a finest block's summary as a JSON text, parsed only when used) and per page the decimal
statistics of its finest blocks combined, over all of them and over all but the last (keyed by
a digest of their keys): a build after one more day reads one summary a page, not every block's.

Published blocks are re-encoded, not copied: only ``Timestamp`` and the ``.avg``, ``.min``,
``.max`` and ``.count`` columns that the page charts are kept (one the data lacks is written as
nulls), the time column is ``timestamp[us, tz=UTC]`` (a time column without a zone is taken as
UTC), rows where no charted column has a value are dropped, rows are sorted by time, and the file
is written with the SNAPPY codec (decoded by hyparquet without extra decompressors),
DELTA_BINARY_PACKED times and counts, BYTE_STREAM_SPLIT floats, no statistics and no embedded
Arrow schema.

The page config (JSON in ``<script type="application/json" id="duckpond-config">``) holds the
titles, the charts (title, unit, and per series label, column and decimals), the time zones,
``dataStartUs``/``dataEndUs``, the range buttons, ``minPoints`` and, per resolution,
``{"name", "seconds", "base", "files"}`` where each file is ``[path under base, start_us, end_us,
rows, bytes]`` (``start_us``/``end_us``: first and last bucket start in the block). The inline
first view is ``<script type="application/octet-stream" id="duckpond-inline">``.

Choice of resolution, shared with ``assets/app.js`` (and re-derived by the browser tests): a range
``[start, end]`` ends at the end of the latest bucket of the finest resolution and starts ``span``
earlier, clipped to the first bucket. The page uses the *coarsest* resolution that still gives at
least :data:`MIN_POINTS` buckets over the range (``end - start >= MIN_POINTS * seconds``), or the
finest resolution when none does, and it loads the blocks of that resolution whose
``[start_us, end_us + seconds)`` overlaps the range.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import jinja2
import orjson
from markupsafe import Markup

from duckpond.errors import InvalidData, NotFound, UsageError
from duckpond.site.files import remove_files, write_if_changed

__all__ = [
    "COARSEST_BLOCK_BUCKETS",
    "MIN_POINTS",
    "RANGES",
    "ChartSpec",
    "ContentPage",
    "PageSpec",
    "PartFile",
    "Resolution",
    "SeriesRef",
    "SiteReport",
    "SiteSpec",
    "Station",
    "block_seconds",
    "choose_resolution",
    "data_decimals",
    "format_value",
    "overlapping_parts",
    "render_site",
]

#: A resolution is fine enough for a range when the range holds at least this many of its buckets.
MIN_POINTS = 300

#: Buckets per block of a page's coarsest resolution.
COARSEST_BLOCK_BUCKETS = 2048

#: The range buttons of every page: (key, label, span in seconds; ``None`` = all the data).
RANGES: tuple[tuple[str, str, int | None], ...] = (
    ("1w", "1 week", 7 * 86400),
    ("1m", "1 month", 30 * 86400),
    ("3m", "3 months", 91 * 86400),
    ("1y", "1 year", 365 * 86400),
    ("all", "All", None),
)
DEFAULT_RANGE = "1y"

#: Map tiles when the site config names none (the viewer's browser fetches them when online).
DEFAULT_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILES_ATTRIBUTION = "© OpenStreetMap contributors"

TIME_COLUMN = "Timestamp"
STATS = ("avg", "min", "max")
MANIFEST = ".duckpond-site.json"
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RES_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RESERVED = {"index", "assets", "data", "feed"}
_PKG = Path(__file__).parent
_ASSETS = _PKG / "assets"
US = 1_000_000


@dataclass(frozen=True)
class SeriesRef:
    """One line of a chart: ``column`` is the base name; the data has ``<column>.avg|.min|.max``
    (and ``.count``). ``decimals``: digits after the point; ``None`` = from the data
    (:func:`data_decimals`)."""

    label: str
    column: str
    decimals: int | None = None


@dataclass(frozen=True)
class ChartSpec:
    """One chart; all its series share ``unit`` (the y axis label). ``show_unit``: whether the
    unit follows the title, the series' names and their values (``False`` when it only repeats
    the parameter: pH in pH)."""

    title: str
    unit: str
    series: tuple[SeriesRef, ...]
    show_unit: bool = True


@dataclass(frozen=True)
class PartFile:
    """A host Parquet file with some rows of one resolution.

    ``start_us``/``end_us`` (first and last bucket start, µs since the epoch) and ``rows`` describe
    the part as exported; the renderer re-reads the data, so they are only hints.
    """

    path: Path
    start_us: int
    end_us: int
    rows: int


class BlockSource(Protocol):
    """The rows of one resolution, read by time window, each window with a key.

    ``key(start, end)`` must change whenever the rows with bucket start in ``[start, end)`` may
    change (a ``temporal-reduce`` output: the keys of its segments there), and reads nothing;
    ``read(start, end)`` gives those rows (Timestamp + ``<column>.<stat>`` columns); ``span()``
    is the first and last bucket start (µs), ``None`` when there are no rows.
    """

    def span(self) -> tuple[int, int] | None: ...

    def key(self, start_us: int, end_us: int) -> str: ...

    def read(self, start_us: int, end_us: int) -> Any: ...


@dataclass(frozen=True)
class Resolution:
    """A bucket width (``name`` such as ``"1h"``, ``seconds`` = 3600) and its rows: Parquet
    ``files`` and/or an Arrow ``table`` (Timestamp + ``<column>.<stat>`` columns), or a
    :class:`BlockSource` (``source``), read block by block: a block whose key is the one the
    last build recorded, and whose files are still there, is neither read nor written again."""

    name: str
    seconds: int
    files: tuple[PartFile, ...] = ()
    table: Any = None
    source: BlockSource | None = None


@dataclass(frozen=True)
class Station:
    """Where a page's data is measured: a name, a position (WGS 84 degrees, both or neither), a
    description and the station's IANA time zone (the page's "Station time")."""

    name: str
    latitude: float | None = None
    longitude: float | None = None
    description: str = ""
    timezone: str | None = None


@dataclass(frozen=True)
class PageSpec:
    """A page of the site: ``<slug>.html`` with one chart per :class:`ChartSpec`."""

    slug: str
    title: str
    charts: tuple[ChartSpec, ...]
    resolutions: tuple[Resolution, ...]
    description: str = ""
    station: Station | None = None


@dataclass(frozen=True)
class ContentPage:
    """A page of text (About, Methods): ``html`` is the body, already rendered and safe."""

    slug: str
    title: str
    html: str
    description: str = ""
    order: int = 0


@dataclass(frozen=True)
class SiteSpec:
    """The whole site.

    ``timezone``: the stations' IANA zone offered as "Station time" (a page's station may name
    its own); ``None`` offers UTC and the viewer's zone only. ``stale_after_s``: an index card and
    its chart page warn when the newest reading of the page's series is older than this at build
    time (and at view time, by the viewer's clock); ``None`` never warns. ``base_url``: the site's
    public URL, for absolute links in the feed. ``build_time_us``: shown on every page (default:
    now). ``map_tiles``: URL template of the station map's tiles (``None``: no map, the position
    is shown as text).
    ``files``: (name, bytes) copied into the site's folder as they are (a name is one file name,
    not a page's).
    """

    title: str
    pages: tuple[PageSpec, ...]
    timezone: str | None = None
    content: tuple[ContentPage, ...] = ()
    stale_after_s: int | None = 2 * 86400
    base_url: str | None = None
    build_time_us: int | None = None
    map_tiles: str | None = DEFAULT_TILES
    map_attribution: str = DEFAULT_TILES_ATTRIBUTION
    files: tuple[tuple[str, bytes], ...] = ()


class SiteReport:
    """What :func:`render_site` did: paths relative to ``out_dir``.

    ``files`` is every file of the site (written or already there), ``bytes`` their total size;
    ``written``, ``unchanged`` and ``removed`` split the work. The path tuples are made when
    first asked for (a five-year site has ~8,000 files: their ``Path`` objects cost more than
    the build's other bookkeeping); ``names`` has them as ``/``-separated text.
    """

    def __init__(
        self,
        out_dir: Path,
        files: Sequence[str | Path],
        bytes: int,
        pages: tuple[str, ...] = (),
        written: Sequence[str | Path] = (),
        unchanged: Sequence[str | Path] = (),
        removed: Sequence[str | Path] = (),
    ) -> None:
        self.out_dir = out_dir
        self.bytes = bytes
        self.pages = pages
        #: every path as text, by part: files, written, unchanged, removed
        self.names: dict[str, tuple[str, ...]] = {
            "files": tuple(map(str, files)),
            "written": tuple(map(str, written)),
            "unchanged": tuple(map(str, unchanged)),
            "removed": tuple(map(str, removed)),
        }
        self._paths: dict[str, tuple[Path, ...]] = {}

    def _path_tuple(self, part: str) -> tuple[Path, ...]:
        found = self._paths.get(part)
        if found is None:
            found = self._paths[part] = tuple(map(Path, self.names[part]))
        return found

    @property
    def files(self) -> tuple[Path, ...]:
        return self._path_tuple("files")

    @property
    def written(self) -> tuple[Path, ...]:
        return self._path_tuple("written")

    @property
    def unchanged(self) -> tuple[Path, ...]:
        return self._path_tuple("unchanged")

    @property
    def removed(self) -> tuple[Path, ...]:
        return self._path_tuple("removed")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SiteReport):
            return NotImplemented
        return (self.out_dir, self.bytes, self.pages, self.names) == (
            other.out_dir,
            other.bytes,
            other.pages,
            other.names,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        counts = {k: len(v) for k, v in self.names.items()}
        return f"SiteReport({self.out_dir!s}, {counts}, bytes={self.bytes})"

    def summary(self) -> str:
        """One line: the folder, files written / unchanged / removed, sizes, pages."""
        from duckpond.units import format_bytes

        def blocks(names: tuple[str, ...]) -> int:
            return sum(1 for p in names if p.startswith("data/") and p.endswith(".parquet"))

        names = self.names
        out = str(self.out_dir)
        wrote = sum(os.stat(os.path.join(out, p)).st_size for p in names["written"])  # noqa: PTH116, PTH118
        line = (
            f"{self.out_dir}: wrote {len(names['written'])} files ({format_bytes(wrote)}), "
            f"unchanged {len(names['unchanged'])}, removed {len(names['removed'])}; "
            f"{len(names['files'])} files, {format_bytes(self.bytes)} in all (data blocks: "
            f"wrote {blocks(names['written'])}, unchanged {blocks(names['unchanged'])})"
        )
        return line + (f"; pages: {', '.join(self.pages)}" if self.pages else "")


# ---------------------------------------------------------------------------------------------
# The resolution rule and the blocks (mirrored in assets/app.js)


def choose_resolution(resolutions: Sequence[Resolution], start_us: int, end_us: int) -> Resolution:
    """The coarsest resolution with at least :data:`MIN_POINTS` buckets in ``[start_us, end_us]``.

    Falls back to the finest resolution when none has enough.
    """
    if not resolutions:
        raise UsageError("a page needs at least one resolution")
    ordered = sorted(resolutions, key=lambda r: r.seconds)
    span = end_us - start_us
    for res in reversed(ordered):
        if span >= MIN_POINTS * res.seconds * US:
            return res
    return ordered[0]


def block_seconds(seconds: Sequence[int]) -> dict[int, int]:
    """Block length (s) per resolution (s): any view needs at most three blocks.

    A view drawn at resolution ``w`` (not the coarsest) spans less than ``MIN_POINTS * w'`` (``w'``
    the next coarser), and the blocks it loads cover that plus one bucket; a block of at least
    half that, in whole buckets, is met at most three times. The coarsest resolution has blocks
    of :data:`COARSEST_BLOCK_BUCKETS` buckets. Blocks of a day or more are rounded up to whole
    days when the buckets divide a day, so that they start at midnight UTC.
    """
    ws = sorted(set(seconds))
    out: dict[int, int] = {}
    for i, w in enumerate(ws):
        if i + 1 < len(ws):
            reach = MIN_POINTS * ws[i + 1] + w
            block = -(-reach // (2 * w)) * w
        else:
            block = COARSEST_BLOCK_BUCKETS * w
        if block >= 86400 and 86400 % w == 0:  # whole UTC days: blocks start at midnight
            block = -(-block // 86400) * 86400
        out[w] = block
    return out


class _Span(Protocol):
    @property
    def start_us(self) -> int: ...
    @property
    def end_us(self) -> int: ...


_S = TypeVar("_S", bound=_Span)


def overlapping_parts(files: Iterable[_S], seconds: int, start_us: int, end_us: int) -> list[_S]:
    """The parts whose buckets ``[start_us, end_us + seconds)`` overlap ``[start_us, end_us]``."""
    width = seconds * US
    return [f for f in files if f.start_us < end_us and f.end_us + width > start_us]


def default_range(
    data_start_us: int, data_end_us: int, key: str = DEFAULT_RANGE
) -> tuple[int, int]:
    """The ``[start, end]`` of range button ``key`` (µs): it ends at the data's end."""
    seconds = next(s for k, _, s in RANGES if k == key)
    start = data_start_us if seconds is None else max(data_start_us, data_end_us - seconds * US)
    return start, data_end_us


# ---------------------------------------------------------------------------------------------
# Values


def data_decimals(values: Any) -> int:
    """Digits after the point that show ``values`` (an Arrow float array of readings) as written.

    The smallest ``d`` in 0..4 such that rounding to ``d`` decimals changes no value by more than
    1e-9 of its magnitude (readings of 1025.7 hPa -> 1; 5.0 and 0.6 °C -> 1). Values that need
    more (computed or noisy data) get four significant digits of the largest magnitude (21.37 ->
    2), at most 6. No finite value: 2.
    """
    return _decimals_of([_decimal_stats(values)])


def _decimal_stats(values: Any) -> list[float]:
    """What :func:`data_decimals` needs of ``values``, combinable over parts of the values:
    ``[finite values, largest magnitude, largest rounding error at 0..4 decimals]``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pc.drop_null(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.float64())
    arr = arr.filter(pc.is_finite(arr))
    if len(arr) == 0:
        return [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    biggest = float(pc.max(pc.abs(arr)).as_py() or 0.0)
    errs = [float(pc.max(pc.abs(pc.subtract(pc.round(arr, d), arr))).as_py()) for d in range(5)]
    return [len(arr), biggest, *errs]


def _decimals_of(parts: Sequence[Sequence[float]]) -> int:
    """:func:`data_decimals` of values whose parts have these :func:`_decimal_stats`."""
    parts = [p for p in parts if p[0]]
    if not parts:
        return 2
    biggest = max(p[1] for p in parts)
    tol = 1e-9 * max(1.0, biggest)
    for d in range(5):
        if max(p[2 + d] for p in parts) <= tol:
            return d
    mag = math.floor(math.log10(biggest)) if biggest > 0 else 0
    return min(6, max(0, 3 - mag))


def format_value(value: float | None, decimals: int | None = None) -> str:
    """A reading for people: ``decimals`` digits after the point (same rule as app.js); without
    ``decimals``, about four significant digits."""
    if value is None or not math.isfinite(value):
        return "–"
    if decimals is not None:
        text = f"{value:.{decimals}f}"
        return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text
    a = abs(value)
    if a >= 1000:
        return f"{value:.0f}"
    if a >= 100:
        return f"{value:.1f}"
    if a >= 1 or a == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt_time(us: int) -> str:
    return datetime.fromtimestamp(us / US, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fmt_day(us: int) -> str:
    return datetime.fromtimestamp(us / US, tz=UTC).strftime("%Y-%m-%d")


def _fmt_duration(us: int) -> str:
    days = us / (86_400 * US)
    if days >= 730:
        return f"{days / 365.25:.1f} years"
    if days >= 60:
        return f"{days / 30.44:.0f} months"
    if days >= 2:
        return f"{days:.0f} days"
    return f"{us / (3_600 * US):.0f} hours"


def _fmt_width(seconds: int) -> str:
    for unit, n in (("week", 604800), ("day", 86400), ("h", 3600), ("min", 60)):
        if seconds % n == 0:
            k = seconds // n
            if unit in ("week", "day"):
                return f"{k} {unit}" + ("s" if k != 1 else "")
            return f"{k} {unit}"
    return f"{seconds} s"


# ---------------------------------------------------------------------------------------------
# Reading and publishing the data


def _value_columns(page: PageSpec) -> list[str]:
    cols: list[str] = []
    for chart in page.charts:
        for s in chart.series:
            for stat in (*STATS, "count"):
                name = f"{s.column}.{stat}"
                if name not in cols:
                    cols.append(name)
    return cols


def _normalize(table: Any, columns: list[str], where: str) -> Any:
    """Timestamp (us, UTC) then ``columns`` (float64; int64 for ``.count``; nulls if absent),
    without rows where no ``.avg``/``.min``/``.max`` column has a value, sorted by time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if TIME_COLUMN not in table.column_names:
        raise InvalidData(f"no {TIME_COLUMN!r} column in site data", where)
    ts = table.column(TIME_COLUMN)
    if not pa.types.is_timestamp(ts.type):
        raise InvalidData(f"{TIME_COLUMN!r} is {ts.type}, not a timestamp", where)
    if ts.type.tz is None:
        ts = pc.assume_timezone(ts, "UTC")
    ts = ts.cast(pa.timestamp("us", tz="UTC"))
    if ts.null_count:
        raise InvalidData(f"null {TIME_COLUMN!r} in site data", where)
    arrays = [ts]
    fields = [pa.field(TIME_COLUMN, pa.timestamp("us", tz="UTC"), nullable=False)]
    for col in columns:
        typ = pa.int64() if col.endswith(".count") else pa.float64()
        try:
            arr = (
                table.column(col).cast(typ)
                if col in table.column_names
                else pa.nulls(table.num_rows, typ)
            )
        except pa.ArrowInvalid as exc:
            raise InvalidData(f"column {col!r} is not numeric: {exc}", where) from None
        arrays.append(arr)
        fields.append(pa.field(col, typ))
    out = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    values = [c for c in columns if not c.endswith(".count")]
    if values:
        # rows where no charted column has a value (e.g. another site's rows of a joined series)
        # are not this page's data: without them, spans and ranges end where its data ends
        keep = pc.is_valid(out.column(values[0]))
        for col in values[1:]:
            keep = pc.or_(keep, pc.is_valid(out.column(col)))
        out = out.filter(keep)
    return out.sort_by(TIME_COLUMN)


def _read_part(path: Path, columns: list[str]) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise NotFound("site data part does not exist", str(path))
    try:
        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        if TIME_COLUMN not in names:
            raise InvalidData(f"no {TIME_COLUMN!r} column in site data part", str(path))
        table = pf.read(columns=[TIME_COLUMN, *[c for c in columns if c in names]])
    except (OSError, pa.ArrowException) as exc:
        raise InvalidData(f"cannot read site data part: {exc}", str(path)) from exc
    return _normalize(table, columns, str(path))


def _resolution_table(res: Resolution, columns: list[str], where: str) -> Any:
    import pyarrow as pa

    tables = [_read_part(Path(pf.path), columns) for pf in res.files]
    if res.table is not None:
        tables.append(_normalize(res.table, columns, f"{where} res={res.name}"))
    if not tables:
        return _normalize(
            pa.table({TIME_COLUMN: pa.array([], pa.timestamp("us", tz="UTC"))}), columns, where
        )
    return pa.concat_tables(tables).sort_by(TIME_COLUMN)


def _encode(table: Any) -> bytes:
    """The published Parquet bytes of ``table`` (deterministic for the same pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    encodings = {
        name: ("DELTA_BINARY_PACKED" if name.endswith(".count") else "BYTE_STREAM_SPLIT")
        for name in table.column_names[1:]
    }
    encodings[TIME_COLUMN] = "DELTA_BINARY_PACKED"
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="snappy",
        use_dictionary=False,
        column_encoding=encodings,
        write_statistics=False,
        store_schema=False,
        row_group_size=1 << 20,
    )
    data: bytes = sink.getvalue().to_pybytes()
    return data


def _part_script(url: str, data: bytes) -> bytes:
    payload = base64.b64encode(data).decode("ascii")
    return f"duckpondPart({json.dumps(url)},{json.dumps(payload)});\n".encode()


def _block_name(start_us: int) -> str:
    # time.strftime of gmtime: the same text as datetime's, a third of the time (thousands of
    # blocks a build)
    return time.strftime("%Y%m%dT%H%MZ", time.gmtime(start_us // US)) + ".parquet"


def _blocks(table: Any, block_us: int) -> list[tuple[int, Any]]:
    """(block start µs, rows) for each epoch-aligned block of ``block_us`` holding rows."""
    ts = table.column(TIME_COLUMN).cast("int64").to_pylist()
    out: list[tuple[int, Any]] = []
    begin = 0
    while begin < len(ts):
        block = ts[begin] // block_us
        stop = begin
        while stop < len(ts) and ts[stop] // block_us == block:
            stop += 1
        out.append((block * block_us, table.slice(begin, stop - begin)))
        begin = stop
    return out


@dataclass
class _Block:
    url: str
    start_us: int
    end_us: int
    rows: int
    bytes: int


@dataclass
class _Latest:
    time_us: int
    value: float
    count: int | None


@dataclass
class _PageData:
    spec: PageSpec
    resolutions: list[tuple[Resolution, int, list[_Block]]]  # resolution, block seconds, blocks
    data_start_us: int
    data_end_us: int
    latest: dict[str, _Latest | None]  # per series column: last non-null avg (finest resolution)
    decimals: dict[str, int]  # per series column
    inline: tuple[str, int, int, bytes] | None  # resolution, range start, end, Parquet bytes


#: Version of what a block record (:class:`_Build`) stands for: the published encoding and the
#: summaries; a change makes every recorded block be read and written again.
BLOCK_FORMAT = 1


@dataclass
class _Build:
    """What a build knows of the last one, and records for the next: per block of a
    :class:`BlockSource` its key, rows, span, bytes and (finest resolution) summaries."""

    out_dir: Path
    rebuild: bool
    previous: dict[str, Any]  # block url -> record of the last build
    records: dict[str, Any] = field(default_factory=dict)  # this build's
    kept: dict[str, int] = field(default_factory=dict)  # files left as they are -> bytes
    # page slug -> the decimal statistics of its finest blocks combined (see _page_decimals)
    previous_pages: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, Any] = field(default_factory=dict)


def _publish_page(page: PageSpec, outputs: dict[str, bytes], build: _Build) -> _PageData:
    columns = _value_columns(page)
    ordered = sorted(page.resolutions, key=lambda r: r.seconds)
    blocks_s = block_seconds([r.seconds for r in ordered])
    tables: dict[str, Any] = {}
    published: list[tuple[Resolution, int, list[_Block]]] = []
    finest_records: list[dict[str, Any]] | None = None
    for i, res in enumerate(ordered):
        if not _RES_NAME.match(res.name) or res.seconds <= 0:
            raise UsageError(f"bad resolution {res.name!r} ({res.seconds} s)", page.slug)
        base = f"data/{page.slug}/res={res.name}/"
        block_us = blocks_s[res.seconds] * US
        if res.source is not None and res.table is None and not res.files:
            blocks, records = _source_blocks(
                page, res.source, columns, base, block_us, outputs, build, summarize=i == 0
            )
            if i == 0:
                finest_records = records
            published.append((res, blocks_s[res.seconds], blocks))
            continue
        table = _resolution_table(res, columns, page.slug)
        tables[res.name] = table
        blocks = []
        for start, rows in _blocks(table, block_us):
            url = base + _block_name(start)
            data = _encode(rows)
            outputs[url] = data
            outputs[url + ".js"] = _part_script(url, data)
            ts = rows.column(TIME_COLUMN)
            blocks.append(
                _Block(url, int(ts[0].value), int(ts[-1].value), rows.num_rows, len(data))
            )
        published.append((res, blocks_s[res.seconds], blocks))

    finest = ordered[0]
    if finest_records is None:
        latest, decimals, data_start, data_end = _page_stats(page, tables[finest.name], finest)
    else:
        latest, decimals, data_start, data_end = _page_stats_of(page, finest_records, finest, build)
    inline = None
    if data_end > data_start:
        import pyarrow.compute as pc

        start, end = default_range(data_start, data_end)
        res = choose_resolution(ordered, start, end)
        t = tables.get(res.name)
        if t is None:
            assert res.source is not None
            t = _normalize(
                res.source.read(start - res.seconds * US + 1, end),
                columns,
                f"{page.slug} res={res.name}",
            )
        ts = t.column(TIME_COLUMN).cast("int64")
        mask = pc.and_(pc.greater(pc.add(ts, res.seconds * US), start), pc.less(ts, end))
        inline = (res.name, start, end, _encode(t.filter(mask)))
    return _PageData(page, published, data_start, data_end, latest, decimals, inline)


def _source_blocks(
    page: PageSpec,
    source: BlockSource,
    columns: list[str],
    base: str,
    block_us: int,
    outputs: dict[str, bytes],
    build: _Build,
    *,
    summarize: bool,
) -> tuple[list[_Block], list[dict[str, Any]]]:
    """The blocks of a resolution read from a :class:`BlockSource`: a block whose key and files
    are those the last build recorded is kept as it is, unread; the others are read, encoded
    and recorded (with their summaries if ``summarize``: the page's finest resolution)."""
    span = source.span()
    if span is None:
        return [], []
    salt = json.dumps([BLOCK_FORMAT, block_us, columns, summarize]).encode()
    blocks: list[_Block] = []
    records: list[dict[str, Any]] = []
    start = span[0] // block_us * block_us
    while start <= span[1]:
        url = base + _block_name(start)
        key = hashlib.sha256(salt + source.key(start, start + block_us).encode()).hexdigest()
        rec: dict[str, Any] = build.previous.get(url) or {}
        if build.rebuild or not _intact(build.out_dir, url, rec, key, summarize):
            rows = _normalize(source.read(start, start + block_us), columns, url)
            rec = {"key": key, "rows": rows.num_rows}
            if rows.num_rows:
                data = _encode(rows)
                script = _part_script(url, data)
                outputs[url] = data
                outputs[url + ".js"] = script
                ts = rows.column(TIME_COLUMN)
                rec.update(
                    start_us=int(ts[0].value),
                    end_us=int(ts[-1].value),
                    bytes=len(data),
                    js_bytes=len(script),
                )
                if summarize:
                    # a JSON text in the manifest: read as one string, parsed when used
                    rec["summary"] = orjson.dumps(_block_summary(page, rows)).decode()
        elif rec["rows"]:
            build.kept[url] = rec["bytes"]
            build.kept[url + ".js"] = rec["js_bytes"]
        build.records[url] = rec
        if rec["rows"]:
            blocks.append(_Block(url, rec["start_us"], rec["end_us"], rec["rows"], rec["bytes"]))
            records.append(rec)
        start += block_us
    return blocks, records


def _intact(out_dir: Path, url: str, rec: Any, key: str, summarize: bool) -> bool:
    """Whether the last build's record of block ``url`` has this key and its files are there
    with the sizes it wrote (an empty block has no files)."""
    if not isinstance(rec, dict) or rec.get("key") != key or not isinstance(rec.get("rows"), int):
        return False
    if not rec["rows"]:
        return True
    path = os.path.join(out_dir, url)  # noqa: PTH118 - str paths: thousands of blocks a build
    try:
        return (
            os.stat(path).st_size == rec["bytes"]  # noqa: PTH116
            and os.stat(path + ".js").st_size == rec["js_bytes"]  # noqa: PTH116
            and isinstance(rec["start_us"], int)
            and isinstance(rec["end_us"], int)
            and (not summarize or isinstance(rec["summary"], (str, dict)))
        )
    except (OSError, KeyError, TypeError):
        return False


def _block_summary(page: PageSpec, rows: Any) -> dict[str, Any]:
    """What the page needs of a block of its finest resolution: per series its last value
    (time, avg, count) and the :func:`_decimal_stats` of its min/max (and of its avg)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    latest: dict[str, Any] = {}
    decimals: dict[str, Any] = {}
    for chart in page.charts:
        for s in chart.series:
            avg = rows.column(f"{s.column}.avg")
            valid = rows.filter(pc.is_valid(avg))
            latest[s.column] = None
            if valid.num_rows:
                latest[s.column] = [
                    int(valid.column(TIME_COLUMN)[-1].value),
                    float(valid.column(f"{s.column}.avg")[-1].as_py()),
                    valid.column(f"{s.column}.count")[-1].as_py(),
                ]
            readings = pa.chunked_array(
                [*rows.column(f"{s.column}.min").chunks, *rows.column(f"{s.column}.max").chunks],
                pa.float64(),
            )
            decimals[s.column] = {
                "readings": int(pc.count(readings).as_py()),
                "minmax": _decimal_stats(readings),
                "avg": _decimal_stats(avg),
            }
    return {"latest": latest, "decimals": decimals}


def _page_stats(
    page: PageSpec, ftable: Any, finest: Resolution
) -> tuple[dict[str, _Latest | None], dict[str, int], int, int]:
    """Latest values, decimals and the data's span from the finest resolution's rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    latest: dict[str, _Latest | None] = {}
    decimals: dict[str, int] = {}
    for chart in page.charts:
        for s in chart.series:
            avg = ftable.column(f"{s.column}.avg")
            valid = ftable.filter(pc.is_valid(avg))
            if valid.num_rows:
                count = valid.column(f"{s.column}.count")[-1].as_py()
                latest[s.column] = _Latest(
                    int(valid.column(TIME_COLUMN)[-1].value),
                    float(valid.column(f"{s.column}.avg")[-1].as_py()),
                    count,
                )
            else:
                latest[s.column] = None
            if s.decimals is not None:
                decimals[s.column] = s.decimals
            else:
                readings = pa.chunked_array(
                    [
                        *ftable.column(f"{s.column}.min").chunks,
                        *ftable.column(f"{s.column}.max").chunks,
                    ],
                    pa.float64(),
                )
                if pc.count(readings).as_py() == 0:
                    readings = avg
                decimals[s.column] = data_decimals(readings)
    if ftable.num_rows:
        fts = ftable.column(TIME_COLUMN)
        return latest, decimals, int(fts[0].value), int(fts[-1].value) + finest.seconds * US
    return latest, decimals, 0, 0


def _page_stats_of(
    page: PageSpec, records: list[dict[str, Any]], finest: Resolution, build: _Build
) -> tuple[dict[str, _Latest | None], dict[str, int], int, int]:
    """:func:`_page_stats` from the records of the finest resolution's blocks (time order):
    the latest values from the last blocks holding one, the decimals by
    :func:`_page_decimals`."""
    parsed: dict[int, dict[str, Any]] = {}

    def summary(i: int) -> dict[str, Any]:
        found = parsed.get(i)
        if found is None:
            found = parsed[i] = _summary(records[i])
        return found

    latest: dict[str, _Latest | None] = {}
    for chart in page.charts:
        for s in chart.series:
            found = next(
                (
                    summary(i)["latest"][s.column]
                    for i in reversed(range(len(records)))
                    if summary(i)["latest"][s.column] is not None
                ),
                None,
            )
            latest[s.column] = _Latest(int(found[0]), float(found[1]), found[2]) if found else None
    decimals = _page_decimals(page, records, summary, build)
    if not records:
        return latest, decimals, 0, 0
    return latest, decimals, records[0]["start_us"], records[-1]["end_us"] + finest.seconds * US


def _summary(rec: dict[str, Any]) -> dict[str, Any]:
    """A block record's summary (a JSON text; a dict in manifests of earlier builds)."""
    found = rec["summary"]
    return orjson.loads(found) if isinstance(found, str) else found  # type: ignore[no-any-return]


#: The form of a page's combined decimal statistics in the manifest (``pages``).
_DECIMALS_FORMAT = "decimals-1"


def _page_decimals(
    page: PageSpec, records: list[dict[str, Any]], summary: Any, build: _Build
) -> dict[str, int]:
    """Per series, :func:`_decimals_of` the decimal statistics of every finest block.

    Those statistics combine (counts add, maxima take the larger), so the manifest keeps, per
    page, their combination over all its blocks and over all but the last, each with a digest
    of the blocks' keys: after an append only the last block changed (or a new one began), and
    this build combines what the last one recorded with the last block's statistics instead of
    parsing every block's summary (1,620 of them for six pages of five years). Anything else
    (late data in an earlier block, a record that does not check) combines every block."""
    columns = list(
        dict.fromkeys(s.column for c in page.charts for s in c.series if s.decimals is None)
    )
    keys = [str(r["key"]) for r in records]
    digest_all = _keys_digest(keys)
    digest_prefix = _keys_digest(keys[:-1])
    combined = None
    for kept in _previous_combinations(build.previous_pages.get(page.slug)):
        if kept[0] == digest_prefix and set(kept[1]) == set(columns):
            combined = kept[1]
            break
    if combined is None or not records:
        combined = {c: _no_decimals() for c in columns}
        for i in range(len(records) - 1):
            _add_decimals(combined, summary(i), columns)
    prefix = {
        c: {k: list(v) if isinstance(v, list) else v for k, v in d.items()}
        for c, d in combined.items()
    }
    if records:
        _add_decimals(combined, summary(len(records) - 1), columns)
    build.pages[page.slug] = {
        "format": _DECIMALS_FORMAT,
        "prefix": [digest_prefix, prefix],
        "all": [digest_all, combined],
    }
    out = {
        s.column: s.decimals
        for chart in page.charts
        for s in chart.series
        if s.decimals is not None
    }
    for c in columns:
        d = combined[c]
        out[c] = _decimals_of([d["minmax"] if d["readings"] else d["avg"]])
    return out


def _keys_digest(keys: list[str]) -> str:
    return hashlib.sha256("\n".join([_DECIMALS_FORMAT, *keys]).encode()).hexdigest()


def _no_decimals() -> dict[str, Any]:
    return {
        "readings": 0,
        "minmax": [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "avg": [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    }


def _add_decimals(combined: dict[str, Any], summary: dict[str, Any], columns: list[str]) -> None:
    """Combine one block's decimal statistics into ``combined`` (per column)."""
    for c in columns:
        part = summary["decimals"][c]
        into = combined[c]
        into["readings"] += int(part["readings"])
        for which in ("minmax", "avg"):
            into[which] = _combine_decimal_stats(into[which], part[which])


def _combine_decimal_stats(a: list[Any], b: list[Any]) -> list[Any]:
    """Two :func:`_decimal_stats` as one (what :func:`_decimals_of` makes of both)."""
    if not b[0]:
        return a
    if not a[0]:
        return list(b)
    return [a[0] + b[0], *(max(x, y) for x, y in zip(a[1:], b[1:], strict=True))]


def _previous_combinations(found: Any) -> list[tuple[str, dict[str, Any]]]:
    """The combinations the last build recorded for a page, those that check (the manifest
    is a file in the output folder: anything may be in it)."""
    if not isinstance(found, dict) or found.get("format") != _DECIMALS_FORMAT:
        return []
    out = []
    for name in ("all", "prefix"):
        item = found.get(name)
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[1], dict):
            continue
        digest, combos = item
        try:
            ok = isinstance(digest, str) and all(
                isinstance(d["readings"], int)
                and all(
                    len(d[w]) == 7 and all(isinstance(x, (int, float)) for x in d[w])
                    for w in ("minmax", "avg")
                )
                for d in combos.values()
            )
        except (TypeError, ValueError, KeyError, AttributeError):
            continue
        if ok:
            out.append((digest, {c: dict(d) for c, d in combos.items()}))
    return out


# ---------------------------------------------------------------------------------------------
# Pages


def _script_json(obj: object) -> str:
    """JSON safe to embed in <script type="application/json">."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _zones(site: SiteSpec, page: PageSpec) -> dict[str, str | None]:
    station = page.station.timezone if page.station and page.station.timezone else None
    return {"station": station or site.timezone}


def _page_config(site: SiteSpec, pd: _PageData) -> dict[str, Any]:
    page = pd.spec
    return {
        "site": site.title,
        "title": page.title,
        "slug": page.slug,
        "stationZone": _zones(site, page)["station"],
        "stationName": page.station.name if page.station else None,
        "minPoints": MIN_POINTS,
        "dataStartUs": pd.data_start_us,
        "dataEndUs": pd.data_end_us,
        "defaultRange": DEFAULT_RANGE,
        "ranges": [{"key": k, "label": label, "seconds": s} for k, label, s in RANGES],
        "charts": [
            {
                "title": c.title,
                "unit": c.unit,
                "showUnit": c.show_unit and bool(c.unit),
                "series": [
                    {"label": s.label, "column": s.column, "decimals": pd.decimals[s.column]}
                    for s in c.series
                ],
            }
            for c in page.charts
        ],
        "map": (
            {
                "lat": page.station.latitude,
                "lon": page.station.longitude,
                "tiles": site.map_tiles,
                "attribution": site.map_attribution,
            }
            if page.station
            and page.station.latitude is not None
            and page.station.longitude is not None
            and site.map_tiles
            else None
        ),
        # compact: one row [path under base, start_us, end_us, rows, bytes] per block
        "resolutions": [
            {
                "name": res.name,
                "seconds": res.seconds,
                "blockSeconds": block_s,
                "base": f"data/{page.slug}/res={res.name}/",
                "files": [
                    [
                        b.url.removeprefix(f"data/{page.slug}/res={res.name}/"),
                        b.start_us,
                        b.end_us,
                        b.rows,
                        b.bytes,
                    ]
                    for b in blocks
                ],
            }
            for res, block_s, blocks in pd.resolutions
        ],
    }


def _environment() -> jinja2.Environment:
    """The page templates' environment: sandboxed, because the values come from the pond."""
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=jinja2.PackageLoader("duckpond.site", "templates"),
        autoescape=jinja2.select_autoescape(("html", "xml"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["time"] = _fmt_time
    return env


def _inline_text(*names: str) -> Markup:
    """Package assets joined, to inline in a page (refused if one would end the element)."""
    parts = []
    for name in names:
        text = (_ASSETS / name).read_text(encoding="utf-8")
        if re.search(r"</(script|style)", text, re.IGNORECASE):
            raise UsageError(f"asset {name} cannot be inlined: it contains a closing tag")
        parts.append(text)
    return Markup("\n".join(parts))


def _vendor_files(outputs: dict[str, bytes]) -> dict[str, str]:
    """Vendored files served for on-demand loading; returns their URLs with a content hash."""
    urls: dict[str, str] = {}
    for src in sorted((_ASSETS / "vendor").iterdir()):
        if not src.is_file() or src.name.startswith("."):
            continue
        data = src.read_bytes()
        rel = f"assets/vendor/{src.name}"
        outputs[rel] = data
        urls[src.name] = f"{rel}?v={hashlib.sha256(data).hexdigest()[:10]}"
    return urls


def _check_spec(spec: SiteSpec) -> None:
    seen: set[str] = set()
    for slug in [p.slug for p in spec.pages] + [c.slug for c in spec.content]:
        if not _SLUG.match(slug) or slug.lower() in _RESERVED:
            raise UsageError(f"bad page slug {slug!r}")
        if slug in seen:
            raise UsageError(f"two pages with the slug {slug!r}")
        seen.add(slug)
    for page in spec.pages:
        if not page.resolutions:
            raise UsageError("a page needs at least one resolution", page.slug)
        names = [r.name for r in page.resolutions]
        if len(set(names)) != len(names):
            raise UsageError(f"two resolutions with the same name in {names}", page.slug)
        seconds = [r.seconds for r in page.resolutions]
        if len(set(seconds)) != len(seconds):
            raise UsageError(f"two resolutions of the same width in {names}", page.slug)
    for name, _ in spec.files:
        if not _SLUG.match(name) or name in seen or name.removesuffix(".html") in seen:
            raise UsageError(f"bad or clashing name of an included file {name!r}")
        if name in ("index.html", "feed.xml", MANIFEST):
            raise UsageError(f"an included file may not be named {name!r}")
    for zone in [spec.timezone] + [p.station.timezone for p in spec.pages if p.station]:
        if zone is not None:
            _check_zone(zone)


def _check_zone(zone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {zone!r} (an IANA name such as Europe/Paris)"
        ) from None


def _card(site: SiteSpec, pd: _PageData, build_us: int) -> dict[str, Any]:
    page = pd.spec
    series = []
    finest = min(page.resolutions, key=lambda r: r.seconds)
    for chart in page.charts:
        for s in chart.series:
            latest = pd.latest[s.column]
            series.append(
                {
                    "label": s.label,
                    "chart": chart.title,
                    "unit": chart.unit if chart.show_unit else "",
                    "value": format_value(latest.value, pd.decimals[s.column]) if latest else "–",
                    "time": _fmt_time(latest.time_us) if latest else "",
                    "day": _fmt_time(latest.time_us)[:10] if latest else "",
                    "clock": _fmt_time(latest.time_us)[11:] if latest else "",
                    "iso": _iso(latest.time_us) if latest else "",
                    "width": _fmt_width(finest.seconds),
                }
            )
    times = [x.time_us for x in pd.latest.values() if x is not None]
    newest = max(times) if times else None
    newest_end = newest + finest.seconds * US if newest is not None else None
    has_data = pd.data_end_us > pd.data_start_us
    stale = (
        site.stale_after_s is not None
        and newest_end is not None
        and build_us - newest_end > site.stale_after_s * US
    )
    return {
        "href": f"{page.slug}.html",
        "slug": page.slug,
        "title": page.title,
        "description": page.description,
        "station": page.station.name if page.station else "",
        "series": series,
        "newest": _fmt_time(newest_end) if newest_end is not None else "",
        "newest_iso": _iso(newest_end) if newest_end is not None else "",
        "newest_us": newest_end,
        "stale": stale,
        "span": (
            f"{_fmt_day(pd.data_start_us)} – {_fmt_day(pd.data_end_us - 1)}"
            f" ({_fmt_duration(pd.data_end_us - pd.data_start_us)})"
            if has_data
            else "no data"
        ),
    }


def _feed(site: SiteSpec, cards: list[dict[str, Any]], env: jinja2.Environment) -> bytes:
    entries = []
    for card in cards:
        if card["newest_us"] is None:
            continue
        key = f"duckpond:{site.title}:{card['slug']}:{card['newest_us']}"
        values = "; ".join(
            f"{s['label']}: {s['value']} {s['unit']}".strip()
            + (f" ({s['time']})" if s["time"] else "")
            for s in card["series"]
        )
        entries.append(
            {
                "id": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, key)}",
                "title": f"{card['title']}: data to {card['newest']}",
                "updated": card["newest_iso"],
                "href": card["href"],
                "summary": values,
            }
        )
    entries.sort(key=lambda e: e["updated"], reverse=True)
    updated = entries[0]["updated"] if entries else _iso(0)
    site_id = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'duckpond:' + site.title)}"
    text = env.get_template("feed.xml").render(
        site=site, entries=entries, updated=updated, feed_id=site_id, base=site.base_url
    )
    return text.encode("utf-8")


def _station_view(station: Station | None) -> dict[str, Any] | None:
    if station is None:
        return None
    position = ""
    if station.latitude is not None and station.longitude is not None:
        lat, lon = station.latitude, station.longitude
        ns = "N" if lat >= 0 else "S"
        ew = "E" if lon >= 0 else "W"
        position = f"{abs(lat):.4f}° {ns}, {abs(lon):.4f}° {ew}"
    osm = (
        f"https://www.openstreetmap.org/?mlat={station.latitude}&mlon={station.longitude}"
        f"#map=12/{station.latitude}/{station.longitude}"
        if position
        else ""
    )
    return {
        "name": station.name,
        "description": station.description,
        "position": position,
        "osm": osm,
        "timezone": station.timezone,
    }


def render_site(spec: SiteSpec, out_dir: Path, *, rebuild: bool = False) -> SiteReport:
    """Write the whole static site for ``spec`` into ``out_dir`` (created if missing).

    Each file is written only if its bytes change (or ``rebuild``); files of an earlier build in
    ``out_dir`` that this build does not write are removed (those listed in its
    ``.duckpond-site.json``); other files there are left alone.

    Returns:
        A :class:`SiteReport`: every file of the site (relative to ``out_dir``), their total
        bytes, and which were written, left unchanged and removed.

    Raises:
        UsageError: an invalid spec (bad or duplicate slug, page without resolutions, unknown
            time zone).
        NotFound: a part file that does not exist.
        InvalidData: a part that is not Parquet or has no usable ``Timestamp`` column.
    """
    _check_spec(spec)
    out_dir = Path(out_dir)
    build_us = spec.build_time_us if spec.build_time_us is not None else time.time_ns() // 1000
    outputs: dict[str, bytes] = {}
    vendor = _vendor_files(outputs)
    previous = _previous_manifest(out_dir)
    blocks = previous.get("blocks")
    build = _Build(out_dir, rebuild, blocks if isinstance(blocks, dict) and not rebuild else {})
    kept_pages = previous.get("pages")
    if isinstance(kept_pages, dict) and not rebuild:
        build.previous_pages = kept_pages
    pages = [_publish_page(page, outputs, build) for page in spec.pages]

    env = _environment()
    nav = [
        {"href": f"{c.slug}.html", "title": c.title}
        for c in sorted(spec.content, key=lambda c: (c.order, c.title))
    ]
    common = {
        "site": spec,
        "nav": nav,
        "built": _fmt_time(build_us),
        "built_iso": _iso(build_us),
        "css": _inline_text("vendor/uPlot.min.css", "style.css"),
    }
    cards = [_card(spec, pd, build_us) for pd in pages]
    outputs["index.html"] = (
        env.get_template("index.html")
        .render(
            cards=cards,
            stale_after_s=spec.stale_after_s,
            stale_label=_fmt_width(spec.stale_after_s) if spec.stale_after_s else "",
            index_js=_inline_text("fresh.js", "index.js"),
            **common,
        )
        .encode("utf-8")
    )
    outputs["feed.xml"] = _feed(spec, cards, env)
    tmpl = env.get_template("page.html")
    chart_js = _inline_text(
        "vendor/uPlot.iife.min.js", "vendor/hyparquet.iife.min.js", "fresh.js", "app.js"
    )
    card_of = {card["slug"]: card for card in cards}
    for pd in pages:
        config = _page_config(spec, pd)
        config["vendor"] = {
            "writer": vendor.get("hyparquet-writer.iife.min.js"),
            "leaflet": vendor.get("leaflet.js"),
            "leafletCss": vendor.get("leaflet.css"),
        }
        inline = None
        if pd.inline is not None:
            res_name, start, end, data = pd.inline
            inline = {
                "res": res_name,
                "start": start,
                "end": end,
                "data": base64.b64encode(data).decode("ascii"),
            }
        zones = _zones(spec, pd.spec)
        outputs[f"{pd.spec.slug}.html"] = tmpl.render(
            page=pd.spec,
            station=_station_view(pd.spec.station),
            station_zone=zones["station"],
            config=Markup(_script_json(config)),
            inline=inline,
            ranges=RANGES,
            default_range=DEFAULT_RANGE,
            chart_js=chart_js,
            card=card_of[pd.spec.slug],
            stale_after_s=spec.stale_after_s,
            stale_label=_fmt_width(spec.stale_after_s) if spec.stale_after_s else "",
            **common,
        ).encode("utf-8")
    ctmpl = env.get_template("content.html")
    for c in spec.content:
        outputs[f"{c.slug}.html"] = ctmpl.render(content=c, body=Markup(c.html), **common).encode(
            "utf-8"
        )
    for name, data in spec.files:
        outputs[name] = data
    slugs = tuple(p.spec.slug for p in pages)
    files = previous.get("files")
    return _write_outputs(out_dir, outputs, rebuild, slugs, build, files)


def _previous_manifest(out_dir: Path) -> dict[str, Any]:
    """The manifest of the last build into ``out_dir`` (empty if missing or unreadable)."""
    try:
        found = orjson.loads((out_dir / MANIFEST).read_bytes())
    except (OSError, ValueError):  # orjson.JSONDecodeError is a ValueError
        return {}
    return found if isinstance(found, dict) else {}


def _write_outputs(
    out_dir: Path,
    outputs: dict[str, bytes],
    rebuild: bool,
    pages: tuple[str, ...],
    build: _Build,
    previous: Any,
) -> SiteReport:
    """Write ``outputs`` (those whose bytes changed), remove the files of the last build
    (``previous``: its manifest's list) that this one neither writes nor keeps, and write the
    manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    unchanged: list[str] = list(build.kept)
    for rel in sorted(outputs):
        target = out_dir / rel
        (written if write_if_changed(target, outputs[rel], rebuild=rebuild) else unchanged).append(
            rel
        )
    everything = set(outputs) | set(build.kept)
    previous = previous if isinstance(previous, list) else []
    stale = sorted({rel for rel in previous if isinstance(rel, str) and rel not in everything})
    remove_files(out_dir, [out_dir / p for p in stale])
    files = sorted(everything)
    listing = {"files": files, "blocks": build.records, "pages": build.pages}
    write_if_changed(
        # it records every block (2.2 MB for a five-year site, mostly floats): orjson reads and
        # writes it ~5x and ~15x faster than json; keys in the order the build makes them
        out_dir / MANIFEST,
        orjson.dumps(listing) + b"\n",
        rebuild=rebuild,
    )
    total = sum(len(b) for b in outputs.values()) + sum(build.kept.values())
    return SiteReport(out_dir, files, total, pages, written, sorted(unchanged), stale)
