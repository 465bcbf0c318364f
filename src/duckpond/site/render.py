"""Render the static website: an index and one page of interactive time charts per page spec.

The renderer knows nothing about the pond. Its input is a :class:`SiteSpec` naming, for every page,
the charts to draw and, for every resolution, the time-partitioned Parquet parts that hold the
reduced data (``Timestamp`` plus ``<column>.avg|.min|.max|.count`` columns). The ``sitegen``
factory builds that spec from the pond; tests build it from files they write themselves.

What :func:`render_site` writes into ``out_dir``::

    index.html                      one card per page: latest value, its time, time span covered
    <slug>.html                     one per page, with its JSON config (see below)
    assets/app.js, assets/style.css the frontend (classic scripts: they also run from file://)
    assets/vendor/...               uPlot and hyparquet, vendored from npm (see VENDORED.md there)
    data/<slug>/res=<R>/<tail>      the published Parquet parts (fetched over http); <tail> is
                                    its Hive path below res=, e.g. year=2016/month=03/x.parquet
    data/<slug>/res=<R>/<tail>.js   the same bytes, base64 in a script, for pages opened from disk
    .duckpond-site.json             manifest of the files written (stale files of an older build
                                    that are not rewritten are removed on the next build)

Published parts are re-encoded, not copied byte for byte: only ``Timestamp`` and the ``.avg``,
``.min`` and ``.max`` columns that the page charts are kept (one it lacks is written as nulls;
``.count`` is dropped), the time column is normalised to ``timestamp[us, tz=UTC]`` (a time column
without a zone is taken as UTC), rows are sorted by time, and the file is written with the
SNAPPY codec (decoded by hyparquet without extra decompressors), DELTA_BINARY_PACKED timestamps,
BYTE_STREAM_SPLIT floats, no statistics and no embedded Arrow schema. So the parts the pond
exports may use any codec pyarrow reads, and a page downloads only the bytes it draws.

The page config (JSON in ``<script type="application/json" id="duckpond-config">``) holds the
titles, the charts (title, unit, series label and column), ``dataStartUs``/``dataEndUs``, the
range buttons, ``minPoints`` and, per resolution, ``{"name", "seconds", "base", "files"}`` where
each file is ``[path under base, start_us, end_us, rows, bytes]`` (``start_us``/``end_us``: first
and last bucket start in the part). ``app.js`` expands the files to objects ``{url, js, start_us,
end_us, rows, bytes}`` (``window.duckpond.config``).

Choice of resolution, shared with ``assets/app.js`` (and re-derived by the browser tests): a range
``[start, end]`` ends at the end of the latest bucket of the finest resolution and starts ``span``
earlier, clipped to the first bucket. The page uses the *coarsest* resolution that still gives at
least :data:`MIN_POINTS` buckets over the range (``end - start >= MIN_POINTS * seconds``), or the
finest resolution when none does, and it loads exactly the parts of that resolution whose time span
``[start_us, end_us + seconds)`` overlaps the range.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import jinja2
from markupsafe import Markup

from duckpond.errors import InvalidData, NotFound, UsageError

__all__ = [
    "MIN_POINTS",
    "RANGES",
    "ChartSpec",
    "PageSpec",
    "PartFile",
    "Resolution",
    "SeriesRef",
    "SiteReport",
    "SiteSpec",
    "choose_resolution",
    "overlapping_parts",
    "render_site",
]

#: A resolution is fine enough for a range when the range holds at least this many of its buckets.
MIN_POINTS = 300

#: The range buttons of every page: (key, label, span in seconds; ``None`` = all the data).
RANGES: tuple[tuple[str, str, int | None], ...] = (
    ("1w", "1 week", 7 * 86400),
    ("1m", "1 month", 30 * 86400),
    ("3m", "3 months", 91 * 86400),
    ("1y", "1 year", 365 * 86400),
    ("all", "All", None),
)
DEFAULT_RANGE = "1y"

TIME_COLUMN = "Timestamp"
STATS = ("avg", "min", "max")
MANIFEST = ".duckpond-site.json"
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RES_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PKG = Path(__file__).parent
_ASSETS = _PKG / "assets"


@dataclass(frozen=True)
class SeriesRef:
    """One line of a chart: ``column`` is the base name; the data has ``<column>.avg|.min|.max``."""

    label: str
    column: str


@dataclass(frozen=True)
class ChartSpec:
    """One chart; all its series share ``unit`` (the y axis label)."""

    title: str
    unit: str
    series: tuple[SeriesRef, ...]


@dataclass(frozen=True)
class PartFile:
    """A host Parquet file with one time partition of one resolution.

    ``start_us``/``end_us`` (first and last bucket start, µs since the epoch) and ``rows`` describe
    the part as exported; the renderer re-reads them from the data and publishes the values it
    finds, so they are only hints.
    """

    path: Path
    start_us: int
    end_us: int
    rows: int


@dataclass(frozen=True)
class Resolution:
    """A bucket width (``name`` such as ``"1h"``, ``seconds`` = 3600) and its parts."""

    name: str
    seconds: int
    files: tuple[PartFile, ...]


@dataclass(frozen=True)
class PageSpec:
    """A page of the site: ``<slug>.html`` with one chart per :class:`ChartSpec`."""

    slug: str
    title: str
    charts: tuple[ChartSpec, ...]
    resolutions: tuple[Resolution, ...]
    description: str = ""


@dataclass(frozen=True)
class SiteSpec:
    """The whole site. ``timezone_label`` names the zone of the times shown by default (UTC)."""

    title: str
    pages: tuple[PageSpec, ...]
    timezone_label: str = "UTC"


@dataclass(frozen=True)
class SiteReport:
    """What :func:`render_site` wrote: paths relative to ``out_dir`` and their total size."""

    out_dir: Path
    files: tuple[Path, ...]
    bytes: int
    pages: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# The resolution rule (mirrored in assets/app.js)


def choose_resolution(resolutions: Sequence[Resolution], start_us: int, end_us: int) -> Resolution:
    """The coarsest resolution with at least :data:`MIN_POINTS` buckets in ``[start_us, end_us]``.

    Falls back to the finest resolution when none has enough.
    """
    if not resolutions:
        raise UsageError("a page needs at least one resolution")
    ordered = sorted(resolutions, key=lambda r: r.seconds)
    span = end_us - start_us
    for res in reversed(ordered):
        if span >= MIN_POINTS * res.seconds * 1_000_000:
            return res
    return ordered[0]


class _Span(Protocol):
    @property
    def start_us(self) -> int: ...
    @property
    def end_us(self) -> int: ...


_S = TypeVar("_S", bound=_Span)


def overlapping_parts(files: Iterable[_S], seconds: int, start_us: int, end_us: int) -> list[_S]:
    """The parts whose buckets ``[start_us, end_us + seconds)`` overlap ``[start_us, end_us]``."""
    width = seconds * 1_000_000
    return [f for f in files if f.start_us < end_us and f.end_us + width > start_us]


# ---------------------------------------------------------------------------------------------
# Publishing the parts


@dataclass
class _Part:
    url: str
    js_url: str
    start_us: int
    end_us: int
    rows: int
    bytes: int
    source: Path


@dataclass
class _Latest:
    time_us: int
    value: float


@dataclass
class _PageData:
    spec: PageSpec
    resolutions: list[tuple[Resolution, list[_Part]]]
    data_start_us: int
    data_end_us: int
    latest: list[_Latest | None]  # per chart: last non-null avg of its first series


_URL_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]")


def _hive_tail(path: Path) -> list[str]:
    """The ``key=value`` directories above ``path`` (but not ``res=``) plus the file name.

    Characters that would need escaping in a URL become ``_``.
    """
    tail = [path.name]
    for parent in path.parents:
        name = parent.name
        if "=" not in name or name.startswith("res=") or name in ("", ".", ".."):
            break
        tail.insert(0, name)
    return [_URL_UNSAFE.sub("_", t) for t in tail]


def _value_columns(page: PageSpec) -> list[str]:
    cols: list[str] = []
    for chart in page.charts:
        for s in chart.series:
            for stat in STATS:
                name = f"{s.column}.{stat}"
                if name not in cols:
                    cols.append(name)
    return cols


def _read_part(path: Path, columns: list[str]) -> Any:
    """Read a part: Timestamp (us, UTC) then ``columns`` as float64 (all nulls if absent).

    Rows where every one of ``columns`` is null are dropped.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not path.is_file():
        raise NotFound("site data part does not exist", str(path))
    try:
        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        if TIME_COLUMN not in names:
            raise InvalidData(f"no {TIME_COLUMN!r} column in site data part", str(path))
        present = [c for c in columns if c in names]
        table = pf.read(columns=[TIME_COLUMN, *present])
    except (OSError, pa.ArrowException) as exc:
        raise InvalidData(f"cannot read site data part: {exc}", str(path)) from exc
    ts = table.column(TIME_COLUMN)
    if not pa.types.is_timestamp(ts.type):
        raise InvalidData(f"{TIME_COLUMN!r} is {ts.type}, not a timestamp", str(path))
    if ts.type.tz is None:
        ts = pc.assume_timezone(ts, "UTC")
    ts = ts.cast(pa.timestamp("us", tz="UTC"))
    if ts.null_count:
        raise InvalidData(f"null {TIME_COLUMN!r} in site data part", str(path))
    arrays = [ts]
    fields = [pa.field(TIME_COLUMN, pa.timestamp("us", tz="UTC"), nullable=False)]
    for col in columns:
        arr = (
            table.column(col).cast(pa.float64())
            if col in names
            else pa.nulls(table.num_rows, pa.float64())
        )
        arrays.append(arr)
        fields.append(pa.field(col, pa.float64()))
    out = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    if columns:
        # rows where no charted column has a value (e.g. another site's rows of a joined series)
        # are not this page's data: without them, spans and ranges end where its data ends
        keep = pc.is_valid(out.column(columns[0]))
        for col in columns[1:]:
            keep = pc.or_(keep, pc.is_valid(out.column(col)))
        out = out.filter(keep)
    return out.sort_by(TIME_COLUMN)


def _write_part(table: Any, dest: Path) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    encodings = {TIME_COLUMN: "DELTA_BINARY_PACKED"}
    encodings.update({name: "BYTE_STREAM_SPLIT" for name in table.column_names[1:]})
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
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return data


def _part_script(url: str, data: bytes) -> bytes:
    payload = base64.b64encode(data).decode("ascii")
    return f"duckpondPart({json.dumps(url)},{json.dumps(payload)});\n".encode()


def _publish_page(page: PageSpec, out_dir: Path, written: list[Path]) -> _PageData:
    import pyarrow.compute as pc

    columns = _value_columns(page)
    resolutions: list[tuple[Resolution, list[_Part]]] = []
    latest: list[_Latest | None] = [None] * len(page.charts)
    first_cols = [f"{c.series[0].column}.avg" if c.series else None for c in page.charts]
    finest = min(page.resolutions, key=lambda r: r.seconds)
    data_start: int | None = None
    data_end: int | None = None
    for res in sorted(page.resolutions, key=lambda r: r.seconds):
        if not _RES_NAME.match(res.name) or res.seconds <= 0:
            raise UsageError(f"bad resolution {res.name!r} ({res.seconds} s)", page.slug)
        parts: list[_Part] = []
        used: set[str] = set()
        for pf in res.files:
            table = _read_part(Path(pf.path), columns)
            if table.num_rows == 0:
                continue
            tail = _hive_tail(Path(pf.path))
            rel = "/".join(tail)
            n = 1
            while rel in used:  # two parts with the same tail: keep both
                n += 1
                rel = "/".join([*tail[:-1], f"{Path(tail[-1]).stem}-{n}{Path(tail[-1]).suffix}"])
            used.add(rel)
            url = f"data/{page.slug}/res={res.name}/{rel}"
            data = _write_part(table, out_dir / url)
            js_url = url + ".js"
            (out_dir / js_url).write_bytes(_part_script(url, data))
            written += [Path(url), Path(js_url)]
            ts = table.column(TIME_COLUMN)
            start_us = int(ts[0].value)
            end_us = int(ts[-1].value)
            parts.append(
                _Part(url, js_url, start_us, end_us, table.num_rows, len(data), Path(pf.path))
            )
            if res is finest:
                width = res.seconds * 1_000_000
                data_start = start_us if data_start is None else min(data_start, start_us)
                data_end = end_us + width if data_end is None else max(data_end, end_us + width)
                for i, col in enumerate(first_cols):
                    if col is None:
                        continue
                    valid = table.filter(pc.is_valid(table.column(col)))
                    if valid.num_rows == 0:
                        continue
                    t = int(valid.column(TIME_COLUMN)[-1].value)
                    cur = latest[i]
                    if cur is None or t > cur.time_us:
                        latest[i] = _Latest(t, float(valid.column(col)[-1].as_py()))
        parts.sort(key=lambda p: p.start_us)
        resolutions.append((res, parts))
    if data_start is None or data_end is None:
        data_start = data_end = 0
    return _PageData(page, resolutions, data_start, data_end, latest)


# ---------------------------------------------------------------------------------------------
# Pages


def format_value(value: float | None) -> str:
    """A reading for people: about four significant digits (same rule as app.js)."""
    if value is None or not math.isfinite(value):
        return "–"
    a = abs(value)
    if a >= 1000:
        return f"{value:.0f}"
    if a >= 100:
        return f"{value:.1f}"
    if a >= 1 or a == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _fmt_time(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _fmt_day(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=UTC).strftime("%Y-%m-%d")


def _fmt_duration(us: int) -> str:
    days = us / 86_400_000_000
    if days >= 730:
        return f"{days / 365.25:.1f} years"
    if days >= 60:
        return f"{days / 30.44:.0f} months"
    if days >= 2:
        return f"{days:.0f} days"
    return f"{us / 3_600_000_000:.0f} hours"


def _script_json(obj: object) -> str:
    """JSON safe to embed in <script type="application/json">."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page_config(site: SiteSpec, pd: _PageData) -> dict[str, Any]:
    page = pd.spec
    return {
        "site": site.title,
        "title": page.title,
        "slug": page.slug,
        "timezoneLabel": site.timezone_label,
        "minPoints": MIN_POINTS,
        "dataStartUs": pd.data_start_us,
        "dataEndUs": pd.data_end_us,
        "defaultRange": DEFAULT_RANGE,
        "ranges": [{"key": k, "label": label, "seconds": s} for k, label, s in RANGES],
        "charts": [
            {
                "title": c.title,
                "unit": c.unit,
                "series": [{"label": s.label, "column": s.column} for s in c.series],
            }
            for c in page.charts
        ],
        # compact: one row [path under base, start_us, end_us, rows, bytes] per part (a 10-year
        # site has hundreds of parts, and this config is in every page download)
        "resolutions": [
            {
                "name": res.name,
                "seconds": res.seconds,
                "base": f"data/{page.slug}/res={res.name}/",
                "files": [
                    [
                        p.url.removeprefix(f"data/{page.slug}/res={res.name}/"),
                        p.start_us,
                        p.end_us,
                        p.rows,
                        p.bytes,
                    ]
                    for p in parts
                ],
            }
            for res, parts in pd.resolutions
        ],
    }


def _environment() -> jinja2.Environment:
    """The page templates' environment: sandboxed, because the values come from the pond."""
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=jinja2.PackageLoader("duckpond.site", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["value"] = format_value
    env.filters["time"] = _fmt_time
    return env


def _copy_assets(out_dir: Path, written: list[Path]) -> dict[str, str]:
    """Copy app.js, style.css and the vendored files; return their URLs with a content hash."""
    urls: dict[str, str] = {}
    for src in sorted(_ASSETS.rglob("*")):
        if not src.is_file() or src.name.startswith("."):
            continue
        rel = src.relative_to(_ASSETS)
        dest = out_dir / "assets" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        written.append(Path("assets") / rel)
        digest = hashlib.sha256(src.read_bytes()).hexdigest()[:10]
        urls[rel.as_posix()] = f"assets/{rel.as_posix()}?v={digest}"
    return urls


def _check_spec(spec: SiteSpec) -> None:
    seen: set[str] = set()
    for page in spec.pages:
        if not _SLUG.match(page.slug) or page.slug.lower() in ("index", "assets", "data"):
            raise UsageError(f"bad page slug {page.slug!r}")
        if page.slug in seen:
            raise UsageError(f"two pages with the slug {page.slug!r}")
        seen.add(page.slug)
        if not page.resolutions:
            raise UsageError("a page needs at least one resolution", page.slug)
        names = [r.name for r in page.resolutions]
        if len(set(names)) != len(names):
            raise UsageError(f"two resolutions with the same name in {names}", page.slug)


def _remove_stale(out_dir: Path, written: list[Path]) -> None:
    manifest = out_dir / MANIFEST
    try:
        previous = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    keep = {p.as_posix() for p in written}
    root = out_dir.resolve()
    for rel in previous:
        if not isinstance(rel, str) or rel in keep:
            continue
        target = (out_dir / rel).resolve()
        if root not in target.parents:
            continue  # never step outside the site
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        for parent in target.parents:
            if parent == root:
                break
            try:
                parent.rmdir()
            except OSError:
                break


def render_site(spec: SiteSpec, out_dir: Path) -> SiteReport:
    """Write the whole static site for ``spec`` into ``out_dir`` (created if missing).

    Files of an earlier build in ``out_dir`` that this build does not write again are removed
    (those listed in its ``.duckpond-site.json``); other files there are left alone. Index cards
    take the latest value, its time and the time span from the finest resolution of each page.

    Returns:
        A :class:`SiteReport`: every file written (relative to ``out_dir``) and their total bytes.

    Raises:
        UsageError: an invalid spec (bad or duplicate slug, page without resolutions).
        NotFound: a part file that does not exist.
        InvalidData: a part that is not Parquet or has no usable ``Timestamp`` column.
    """
    _check_spec(spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    assets = _copy_assets(out_dir, written)
    pages = [_publish_page(page, out_dir, written) for page in spec.pages]

    env = _environment()
    common = {"site": spec, "assets": assets, "tz": spec.timezone_label}
    cards = []
    for pd in pages:
        charts = []
        for chart, latest in zip(pd.spec.charts, pd.latest, strict=True):
            charts.append(
                {
                    "title": chart.title,
                    "unit": chart.unit,
                    "label": chart.series[0].label if chart.series else "",
                    "value": format_value(latest.value) if latest else "–",
                    "time": _fmt_time(latest.time_us) if latest else "",
                }
            )
        has_data = pd.data_end_us > pd.data_start_us
        cards.append(
            {
                "href": f"{pd.spec.slug}.html",
                "title": pd.spec.title,
                "description": pd.spec.description,
                "charts": charts,
                "span": (
                    f"{_fmt_day(pd.data_start_us)} – {_fmt_day(pd.data_end_us - 1)}"
                    f" ({_fmt_duration(pd.data_end_us - pd.data_start_us)})"
                    if has_data
                    else "no data"
                ),
            }
        )
    html = env.get_template("index.html").render(cards=cards, **common)
    (out_dir / "index.html").write_text(html, encoding="utf-8")
    written.append(Path("index.html"))
    tmpl = env.get_template("page.html")
    for pd in pages:
        cfg = _script_json(_page_config(spec, pd))
        html = tmpl.render(
            page=pd.spec,
            config=Markup(cfg),
            ranges=RANGES,
            default_range=DEFAULT_RANGE,
            **common,
        )
        (out_dir / f"{pd.spec.slug}.html").write_text(html, encoding="utf-8")
        written.append(Path(f"{pd.spec.slug}.html"))

    _remove_stale(out_dir, written)
    files = sorted(set(written))
    (out_dir / MANIFEST).write_text(
        json.dumps({"files": [p.as_posix() for p in files]}, indent=0) + "\n"
    )
    total = sum((out_dir / p).stat().st_size for p in files)
    return SiteReport(out_dir, tuple(files), total, tuple(p.spec.slug for p in pages))
