"""``sitegen``: the static website of the pond's downsampled series (README.md, "Why uPlot
and hyparquet").

A ``sitegen`` node holds the site's config; ``pond run <node> build DIR`` writes the site into the
host folder ``DIR`` (open ``DIR/index.html`` from disk or serve ``DIR`` with any web server), and
``pond run <node> build -- DIR --rebuild`` writes every file again.

Config (YAML)::

    title: Casco Bay monitoring           # the site's title
    timezone: America/New_York            # optional: the stations' IANA zone ("Station time")
    stale_after: 2d                       # index cards and chart pages warn when the newest
                                          # reading is older (<n>s|m|h|d; null: never; 2d)
    base_url: https://example.org/bay/    # optional: the public URL, for the Atom feed's links
    map_tiles: https://tile.openstreetmap.org/{z}/{x}/{y}.png   # station maps (the default);
                                          # null: no map, the position is shown as text
    map_attribution: © OpenStreetMap contributors
    units: {C: "°C", pct: "%"}            # optional: symbols of unit tokens (else built-in,
                                          # duckpond.site.names.UNITS)
    parameters:                           # optional: labels and digits of parameters
      WaterTemperature: Water temperature #   a label
      BarometricPressure: {label: Air pressure, decimals: 1}
    pages:
      - pattern: /reduced/*               # glob; each match is one page: a directory holding
                                          # res=<R>.series (a temporal-reduce node, for example)
        slug: "$0"                        # the page's file name; $0, $1 ... are the glob's captures
                                          # (default: the first capture, or the directory's name)
        title: "Site $0"                  # (default: the slug)
        description: ""                   # optional text under the title
        columns: "B01.*"                  # optional glob over column base names (default: all);
                                          # one directory can feed several pages this way
        charts:                           # optional; default: one chart per unit
          - title: Water temperature
            unit: C
            columns: [B01.WaterTemperature.C]   # base names: the data has <base>.avg|.min|.max
        station:                          # optional: the station section of the page
          name: "$0"                      # shown, and the row of `table` (by name, else id)
          table: /hydrovu/locations.table # optional: id, name, description, latitude, longitude
          latitude: 43.18                 # these override the table's (WGS 84 degrees)
          longitude: -70.43
          description: Gulf of Maine buoy
          timezone: America/New_York      # this station's zone (default: the site's)
    include: /pages/*                     # optional glob of data files, or directories of them
                                          # (e.g. a ``template`` node), copied into the site as is
    content: /content/*.md                # optional glob of Markdown files (or directories of
                                          # them): pages in the site's layout, in the navigation
                                          # (front matter: duckpond.site.content)

Columns are grouped by unit whatever their naming (``<instrument>.<parameter>.<unit>``,
``<parameter>.<unit>``, vendor ``Parameter (unit) (serial)``; see :mod:`duckpond.site.names`):
one chart per unit, a column without a known unit in a chart of its own, and a configured chart
whose columns have different units is refused. Labels come from ``parameters``, else from the
parameter's name (``WaterTemperature`` -> "Water temperature"); the instrument is added when a
chart holds several. Values are shown with the digits of the readings
(:func:`duckpond.site.render.data_decimals`) unless ``decimals`` is set. The reduced series are
read from the pond (not copied to a temporary export) and rendered by
:func:`duckpond.site.render_site`, which writes only the files whose bytes change.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from duckpond.errors import InvalidData, NotFound, UsageError
from duckpond.factories.registry import Command, Factory, RunContext
from duckpond.tinyfs.lineage import Lineage

if TYPE_CHECKING:
    from duckpond.site.names import ColumnName
    from duckpond.site.render import ChartSpec, ContentPage, PageSpec, SiteReport, Station
    from duckpond.tinyfs.fs import WD, NodePath

__all__ = ["FACTORY", "SitegenConfig", "build_site"]

_AGG_SUFFIXES = (".avg", ".min", ".max", ".count")
_RES_FILE = re.compile(r"^res=([^/]+?)\.series$")


def _check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (an IANA name such as Europe/Paris)"
        ) from None
    return value


class ChartConfig(BaseModel):
    """One chart: a title, a unit (token or symbol) and the column base names it draws."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    unit: str = ""
    columns: list[str] = Field(min_length=1)


class StationConfig(BaseModel):
    """A page's station: name, position, description, time zone; or a row of a locations table."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    table: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    description: str | None = None
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)


class PageConfig(BaseModel):
    """Pages from a glob: one page per match, named and titled from the captures."""

    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(min_length=1)
    slug: str | None = None  # default: the first capture, or the matched directory's name
    title: str | None = None  # default: the slug
    description: str = ""
    columns: str = "*"
    charts: list[ChartConfig] | None = None
    station: StationConfig | None = None


class ParameterConfig(BaseModel):
    """How a parameter is shown: its label and digits after the point."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1)
    decimals: int | None = Field(default=None, ge=0, le=10)


class SitegenConfig(BaseModel):
    """Config of ``sitegen`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    pages: list[PageConfig] = Field(min_length=1)
    units: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, str | ParameterConfig] = Field(default_factory=dict)
    include: str | None = None
    content: str | None = None
    timezone: str | None = None
    stale_after: str | None = "2d"
    base_url: str | None = None
    map_tiles: str | None = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_attribution: str = "© OpenStreetMap contributors"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("stale_after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            from duckpond.times import parse_resolution

            parse_resolution(value)
        return value

    @field_validator("map_tiles")
    @classmethod
    def _tiles(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError("map_tiles must be an http(s) URL template with {z}, {x} and {y}")
        return value

    def labels(self) -> dict[str, str]:
        """Parameter name -> label, of the parameters given one."""
        out: dict[str, str] = {}
        for k, v in self.parameters.items():
            label = v if isinstance(v, str) else v.label
            if label:
                out[k] = label
        return out

    def decimals(self) -> dict[str, int]:
        """Parameter name -> digits after the point, of the parameters given them."""
        return {
            k: v.decimals
            for k, v in self.parameters.items()
            if not isinstance(v, str) and v.decimals is not None
        }


class _SiteNode:
    """The stored node reads as a data file: its own config (the site is built by ``run``)."""

    file_type = "file:data"

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def read_bytes(self) -> bytes:
        return self._raw

    def lineage(self) -> Lineage:
        return Lineage.opaque()


def _slug(text: str, where: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    if not slug:
        raise InvalidData(f"page slug {text!r} is empty once made file-safe", where)
    return slug


def _base_columns(columns: Sequence[str]) -> list[str]:
    bases: dict[str, None] = {}
    for c in columns:
        for suffix in _AGG_SUFFIXES:
            if c.endswith(suffix):
                bases.setdefault(c[: -len(suffix)], None)
    return list(bases)


def _series_label(name: ColumnName, labels: dict[str, str], with_instrument: bool) -> str:
    from duckpond.site.names import humanize

    label = humanize(name.parameter, labels)
    if with_instrument and name.instrument:
        label += f" ({name.instrument})"
    return label


def _default_charts(bases: Sequence[str], config: SitegenConfig) -> list[ChartSpec]:
    from duckpond.site.names import group_by_unit, humanize, parse_column, unit_adds_nothing
    from duckpond.site.render import ChartSpec, SeriesRef

    labels = config.labels()
    decimals = config.decimals()
    names = [parse_column(b, config.units) for b in bases]
    charts = []
    for group in group_by_unit(names):
        several = len({n.instrument for n in group}) > 1
        params = dict.fromkeys(humanize(n.parameter, labels) for n in group)
        title = ", ".join(params)
        if group[0].unit is None and group[0].instrument:
            title += f" ({group[0].instrument})"
        series = tuple(
            SeriesRef(
                label=_series_label(n, labels, several),
                column=n.base,
                decimals=decimals.get(n.parameter),
            )
            for n in group
        )
        unit = group[0].unit or ""
        shown = not unit_adds_nothing(unit, [humanize(n.parameter, labels) for n in group])
        charts.append(ChartSpec(title=title, unit=unit, series=series, show_unit=shown))
    return charts


def _configured_chart(
    chart: ChartConfig, bases: Sequence[str], config: SitegenConfig, where: str
) -> ChartSpec:
    from duckpond.site.names import humanize, parse_column, unit_adds_nothing, unit_symbol
    from duckpond.site.render import ChartSpec, SeriesRef

    missing = [c for c in chart.columns if c not in bases]
    if missing:
        raise InvalidData(
            f"sitegen: chart {chart.title!r} names columns not in the data: {missing}", where
        )
    names = [parse_column(c, config.units) for c in chart.columns]
    units = sorted({n.unit for n in names if n.unit is not None})
    if len(units) > 1:
        raise InvalidData(
            f"sitegen: chart {chart.title!r} mixes units {', '.join(units)}: two units never "
            "share a y axis (make one chart per unit)",
            where,
        )
    unit = unit_symbol(chart.unit, config.units) or chart.unit if chart.unit else ""
    if not unit and units:
        unit = units[0]
    labels = config.labels()
    decimals = config.decimals()
    several = len({n.instrument for n in names}) > 1
    return ChartSpec(
        title=chart.title,
        unit=unit,
        series=tuple(
            SeriesRef(_series_label(n, labels, several), n.base, decimals.get(n.parameter))
            for n in names
        ),
        show_unit=not unit_adds_nothing(unit, [humanize(n.parameter, labels) for n in names]),
    )


def _reduced(root: WD, match: NodePath) -> list[tuple[str, int, Any]]:
    """(resolution name, seconds, rows) of the ``res=<R>.series`` below ``match``: the rows of a
    ``temporal-reduce`` output as :class:`~duckpond.factories.reduce.ReducedBlocks` (read block
    by block, only where they changed), of any other series as a table."""
    from duckpond.factories.export import read_timestamped
    from duckpond.times import parse_resolution
    from duckpond.tinyfs.fs import WD as _WD

    found = []
    owner = root.fs.dynamic_object(match) if match.is_dynamic else None
    by_key = getattr(owner, "blocks", None)
    # a temporal-reduce: every resolution read block by block, by key (one look at its inputs)
    blocks = by_key() if by_key is not None else {}
    for child in _WD(root.fs, match).list("."):
        m = _RES_FILE.match(child.name)
        if m is None or child.is_dir:
            continue
        try:
            seconds = parse_resolution(m.group(1))
        except ValueError:
            continue
        if m.group(1) in blocks:
            found.append((m.group(1), seconds, blocks[m.group(1)]))
        else:
            found.append((m.group(1), seconds, read_timestamped(child, "sitegen")))
    return sorted(found, key=lambda r: r[1])


def _station(root: WD, cfg: StationConfig, captures: Sequence[str], where: str) -> Station:
    from duckpond.site.render import Station
    from duckpond.tinyfs.glob import substitute

    name = substitute(cfg.name, captures)
    row: dict[str, Any] = {}
    if cfg.table:
        table_path = substitute(cfg.table, captures)
        try:
            table = root.resolve(table_path).read_table()
        except NotFound:
            raise NotFound(f"sitegen: station table {table_path} does not exist", where) from None
        rows = table.to_pylist()
        matched = [r for r in rows if str(r.get("name")) == name] or [
            r for r in rows if str(r.get("id")) == name
        ]
        if not matched:
            raise InvalidData(f"sitegen: no station named {name!r} in {table_path}", where)
        row = matched[0]

    def num(key: str, given: float | None) -> float | None:
        value = given if given is not None else row.get(key)
        return float(value) if value is not None else None

    lat, lon = num("latitude", cfg.latitude), num("longitude", cfg.longitude)
    if (lat is None) != (lon is None):
        raise InvalidData(
            f"sitegen: station {name!r} has only one of latitude and longitude", where
        )
    description = cfg.description if cfg.description is not None else row.get("description")
    return Station(
        name=name,
        latitude=lat,
        longitude=lon,
        description=substitute(description, captures) if description else "",
        timezone=cfg.timezone,
    )


def _page(
    root: WD,
    match: NodePath,
    reduced: list[tuple[str, int, Any]],
    cfg: PageConfig,
    config: SitegenConfig,
) -> PageSpec:
    import pyarrow as pa

    from duckpond.site.render import PageSpec, Resolution
    from duckpond.tinyfs.glob import substitute

    default = match.captures[0] if match.captures else match.name
    slug = _slug(substitute(cfg.slug, match.captures) if cfg.slug else default, match.path)
    title = substitute(cfg.title, match.captures) if cfg.title else slug
    if not reduced:
        raise InvalidData("sitegen: no res=<R>.series below this page's directory", match.path)
    columns = reduced[0][2].column_names
    wanted = substitute(cfg.columns, match.captures)
    bases = [b for b in _base_columns(columns) if fnmatch.fnmatchcase(b, wanted)]
    if not bases:
        raise InvalidData(f"sitegen: no column matches {wanted!r} for page {slug!r}", match.path)
    if cfg.charts is None:
        charts = _default_charts(bases, config)
    else:
        charts = [_configured_chart(c, bases, config, match.path) for c in cfg.charts]
    keep = {
        f"{s.column}.{a}" for c in charts for s in c.series for a in ("avg", "min", "max", "count")
    }
    resolutions = tuple(
        Resolution(
            name=name,
            seconds=seconds,
            table=table.select(["Timestamp", *[c for c in table.column_names if c in keep]]),
        )
        if isinstance(table, pa.Table)
        else Resolution(name=name, seconds=seconds, source=table)
        for name, seconds, table in reduced
    )
    return PageSpec(
        slug=slug,
        title=title,
        charts=tuple(charts),
        resolutions=resolutions,
        description=substitute(cfg.description, match.captures) if cfg.description else "",
        station=_station(root, cfg.station, match.captures, match.path) if cfg.station else None,
    )


def _files_of(root: WD, pattern: str) -> list[NodePath]:
    from duckpond.tinyfs.fs import WD as _WD

    out = []
    for np in root.glob(pattern):
        for f in _WD(root.fs, np).list(".") if np.is_dir else [np]:
            if not f.is_dir:
                out.append(f)
    return out


def _content(root: WD, pattern: str) -> list[ContentPage]:
    from duckpond.site.content import parse_content

    return [parse_content(f.read_bytes(), f.name, f.path) for f in _files_of(root, pattern)]


def build_site(
    root: WD, config: SitegenConfig, out_dir: str | Path, *, rebuild: bool = False
) -> SiteReport:
    """Read every page's reduced series and render the static site into ``out_dir``.

    Args:
        root: the pond's root (read-only is enough).
        config: the site config.
        out_dir: host folder; files this function wrote before and no longer writes are removed.
        rebuild: write every file, even those whose bytes are already there.

    Returns:
        The renderer's report (files written, left unchanged and removed; bytes).

    Raises:
        NotFound: a page pattern matches nothing, or a station table does not exist.
        InvalidData: a page has no reduced series, a chart names a column the data lacks or
            mixes units, a station is not in its table, a content page is not valid.
        UsageError: two pages get the same slug.
    """
    from duckpond.site.render import SiteSpec, render_site
    from duckpond.times import parse_resolution

    out = Path(out_dir)
    pages: list[PageSpec] = []
    reduced: dict[str, list[tuple[str, int, Any]]] = {}  # read once per directory
    for cfg in config.pages:
        matches = [m for m in root.glob(cfg.pattern) if m.is_dir]
        if not matches:
            raise NotFound(f"sitegen: no directory matches {cfg.pattern!r}")
        for m in matches:
            if m.path not in reduced:
                reduced[m.path] = _reduced(root, m)
            pages.append(_page(root, m, reduced[m.path], cfg, config))
    slugs = [p.slug for p in pages]
    content = _content(root, config.content) if config.content else []
    slugs += [c.slug for c in content]
    dupes = sorted({s for s in slugs if slugs.count(s) > 1})
    if dupes:
        raise UsageError(f"sitegen: several pages are named {', '.join(dupes)}")
    spec = SiteSpec(
        title=config.title,
        pages=tuple(pages),
        timezone=config.timezone,
        content=tuple(content),
        stale_after_s=parse_resolution(config.stale_after) if config.stale_after else None,
        base_url=config.base_url,
        map_tiles=config.map_tiles,
        map_attribution=config.map_attribution,
        files=tuple((f.name, f.read_bytes()) for f in _files_of(root, config.include))
        if config.include
        else (),
    )
    return render_site(spec, out, rebuild=rebuild)


def _run_build(ctx: RunContext, args: list[str]) -> SiteReport:
    rebuild = "--rebuild" in args
    rest = [a for a in args if a != "--rebuild"]
    if len(rest) != 1:
        raise UsageError("usage: pond run <sitegen node> build [--] DIR [--rebuild]", ctx.node.path)
    return build_site(ctx.root, ctx.config, rest[0], rebuild=rebuild)


FACTORY = Factory(
    name="sitegen",
    kind="file",
    description="static website of reduced series: pond run <node> build DIR [--rebuild]",
    config_model=SitegenConfig,
    build=lambda np, config, raw: _SiteNode(raw),
    commands={
        "build": Command(
            "build", _run_build, help="write the static site into DIR (--rebuild: every file)"
        )
    },
)
