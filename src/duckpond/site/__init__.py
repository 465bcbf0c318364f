"""The static website: charts of reduced series, rendered by :func:`render_site`."""

from duckpond.site.render import (
    MIN_POINTS,
    RANGES,
    ChartSpec,
    PageSpec,
    PartFile,
    Resolution,
    SeriesRef,
    SiteReport,
    SiteSpec,
    choose_resolution,
    overlapping_parts,
    render_site,
)

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
