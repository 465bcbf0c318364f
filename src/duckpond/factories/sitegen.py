"""``sitegen``: the static website of the pond's downsampled series (DESIGN.md, The website).

A ``sitegen`` node holds the site's config; ``pond run <node> build DIR`` writes the site into the
host folder ``DIR`` (open ``DIR/index.html`` from disk or serve ``DIR`` with any web server).

Config (YAML)::

    title: Casco Bay monitoring           # the site's title
    units: {C: "°C", pct: "%", m_s: m/s}  # display labels of unit suffixes (optional)
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
    include: /pages/*                     # optional glob of data files, or directories of them
                                          # (e.g. a ``template`` node), copied into the site as is
    temporal: [year, month]               # how the data is partitioned for the browser

Column base names follow ``<instrument>.<parameter>.<unit>`` (DESIGN.md); without ``charts``, the
columns of a page are grouped by their unit, one chart per unit, each series labelled
``<instrument> <parameter>``. Every page's data is exported with
:func:`~duckpond.factories.export.export` and rendered by :func:`duckpond.site.render_site`,
which picks a resolution per visible range.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from duckpond.errors import InvalidData, NotFound, UsageError
from duckpond.factories.registry import Command, Factory, RunContext
from duckpond.tinyfs.lineage import Lineage

if TYPE_CHECKING:
    from duckpond.factories.export import ExportManifest
    from duckpond.site.render import ChartSpec, PageSpec, SiteReport
    from duckpond.tinyfs.fs import WD, NodePath

__all__ = ["FACTORY", "SitegenConfig", "build_site"]

_AGG_SUFFIXES = (".avg", ".min", ".max", ".count")


class ChartConfig(BaseModel):
    """One chart: a title, a unit (suffix or label) and the column base names it draws."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    unit: str = ""
    columns: list[str] = Field(min_length=1)


class PageConfig(BaseModel):
    """Pages from a glob: one page per match, named and titled from the captures."""

    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(min_length=1)
    slug: str | None = None  # default: the first capture, or the matched directory's name
    title: str | None = None  # default: the slug
    description: str = ""
    columns: str = "*"
    charts: list[ChartConfig] | None = None


class SitegenConfig(BaseModel):
    """Config of ``sitegen`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    pages: list[PageConfig] = Field(min_length=1)
    units: dict[str, str] = Field(default_factory=dict)
    include: str | None = None
    temporal: list[str] = Field(default_factory=lambda: ["year", "month"])


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


def _default_charts(bases: Sequence[str], units: dict[str, str]) -> list[ChartSpec]:
    from duckpond.site.render import ChartSpec, SeriesRef

    by_unit: dict[str, list[str]] = {}
    for base in bases:
        unit = base.rsplit(".", 1)[1] if base.count(".") >= 2 else ""
        by_unit.setdefault(unit, []).append(base)
    charts = []
    for unit, cols in by_unit.items():
        params = dict.fromkeys(c.split(".")[-2] if c.count(".") >= 2 else c for c in cols)
        series = tuple(SeriesRef(label=_label(c), column=c) for c in cols)
        charts.append(ChartSpec(title=", ".join(params), unit=units.get(unit, unit), series=series))
    return charts


def _label(base: str) -> str:
    parts = base.split(".")
    return " ".join(parts[:-1]) if len(parts) >= 3 else base


def _page(
    match: NodePath,
    manifest: ExportManifest,
    cfg: PageConfig,
    units: dict[str, str],
) -> PageSpec:
    import fnmatch

    from duckpond.site.render import ChartSpec, PageSpec, SeriesRef
    from duckpond.tinyfs.glob import substitute

    default = match.captures[0] if match.captures else match.name
    slug = _slug(substitute(cfg.slug, match.captures) if cfg.slug else default, match.path)
    title = substitute(cfg.title, match.captures) if cfg.title else slug
    names = manifest.names()
    if len(names) != 1:
        raise InvalidData(f"sitegen: expected one reduced series here, found {names}", match.path)
    resolutions = manifest.site_resolutions(names[0])
    if not resolutions:
        raise InvalidData("sitegen: no res=<R>.series below this page's directory", match.path)
    columns = manifest.resolutions(names[0])[0].columns
    wanted = substitute(cfg.columns, match.captures)
    bases = [b for b in _base_columns(columns) if fnmatch.fnmatchcase(b, wanted)]
    if not bases:
        raise InvalidData(f"sitegen: no column matches {wanted!r} for page {slug!r}", match.path)
    if cfg.charts is None:
        charts = _default_charts(bases, units)
    else:
        charts = []
        for chart in cfg.charts:
            missing = [c for c in chart.columns if c not in bases]
            if missing:
                raise InvalidData(
                    f"sitegen: chart {chart.title!r} names columns not in the data: {missing}",
                    match.path,
                )
            charts.append(
                ChartSpec(
                    title=chart.title,
                    unit=units.get(chart.unit, chart.unit),
                    series=tuple(SeriesRef(label=_label(c), column=c) for c in chart.columns),
                )
            )
    return PageSpec(
        slug=slug,
        title=title,
        charts=tuple(charts),
        resolutions=resolutions,
        description=substitute(cfg.description, match.captures) if cfg.description else "",
    )


def build_site(root: WD, config: SitegenConfig, out_dir: str | Path) -> SiteReport:
    """Export every page's reduced series and render the static site into ``out_dir``.

    Args:
        root: the pond's root (read-only is enough).
        config: the site config.
        out_dir: host folder; files this function wrote before and no longer writes are removed.

    Returns:
        The renderer's report (files and bytes written).

    Raises:
        NotFound: a page pattern matches nothing. InvalidData: a page has no reduced series, or a
        chart names a column the data lacks. UsageError: two pages get the same slug.
    """
    from duckpond.factories.export import export
    from duckpond.site.render import SiteSpec, render_site

    out = Path(out_dir)
    pages: list[PageSpec] = []
    exported: dict[str, ExportManifest] = {}  # one export per directory, however many pages
    with tempfile.TemporaryDirectory(prefix="duckpond-site-") as tmp:
        for cfg in config.pages:
            matches = [m for m in root.glob(cfg.pattern) if m.is_dir]
            if not matches:
                raise NotFound(f"sitegen: no directory matches {cfg.pattern!r}")
            for m in matches:
                manifest = exported.get(m.path)
                if manifest is None:
                    manifest = export(
                        root,
                        [f"{m.path}/res=*.series"],
                        Path(tmp) / str(len(exported)),
                        temporal=config.temporal,
                    )
                    exported[m.path] = manifest
                pages.append(_page(m, manifest, cfg, config.units))
        slugs = [p.slug for p in pages]
        dupes = sorted({s for s in slugs if slugs.count(s) > 1})
        if dupes:
            raise UsageError(f"sitegen: several pages are named {', '.join(dupes)}")
        report = render_site(SiteSpec(title=config.title, pages=tuple(pages)), out)
    if config.include:
        from duckpond.tinyfs.fs import WD

        for np in root.glob(config.include):
            files = WD(root.fs, np).list(".") if np.is_dir else [np]
            for f in files:
                if not f.is_dir:
                    (out / f.name).write_bytes(f.read_bytes())
    return report


def _run_build(ctx: RunContext, args: list[str]) -> SiteReport:
    if len(args) != 1:
        raise UsageError("usage: pond run <sitegen node> build DIR", ctx.node.path)
    return build_site(ctx.root, ctx.config, args[0])


FACTORY = Factory(
    name="sitegen",
    kind="file",
    description="static website of reduced series: pond run <node> build DIR",
    config_model=SitegenConfig,
    build=lambda np, config, raw: _SiteNode(raw),
    commands={"build": Command("build", _run_build, help="write the static site into DIR")},
)
