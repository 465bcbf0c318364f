"""Charts right for any column names: grouped by unit, never two units on one y axis.

One pond series holds columns named every way a network's data arrive (as after a join of a
CSV, a vendor export and a HydroVu device): ``<parameter>.<unit>``, vendor
``Parameter (unit) (serial)``, ``<instrument>.<parameter>.<unit>`` and names with no known unit.
It is reduced by temporal-reduce and published by sitegen with no ``charts`` config.
"""

from __future__ import annotations

import math
import re

import pyarrow as pa
import pytest
from site_testlib import READY, VALUE_LINES_JS, screenshots, serve, watch

from duckpond import Pond
from duckpond.factories import registry as reg
from duckpond.factories import resolver
from duckpond.factories.sitegen import SitegenConfig, build_site
from duckpond.site.names import (
    humanize,
    looks_like_unit,
    parse_column,
    unit_adds_nothing,
    unit_symbol,
)

US = 1_000_000
START = 1_717_200_000 * US  # 2024-06-01T00:00:00Z
N = 4 * 24 * 12  # 12 days of 15-minute readings

#: column -> (value at step i, unit symbol its chart must have or None for a chart of its own)
COLUMNS = {
    "Conductivity.uS_cm": (lambda i: 410 + 5 * math.sin(i / 40), "µS/cm"),
    "pH.pH": (lambda i: 7.6 + 0.1 * math.sin(i / 50), "pH"),
    "Temperature.C": (lambda i: 18 + 2 * math.sin(i / 96), "°C"),
    "DO.mg_L": (lambda i: 8.2 + 0.5 * math.cos(i / 96), "mg/L"),
    "Temperature (°C) (812345)": (lambda i: 17.5 + 2 * math.sin(i / 96), "°C"),
    "Specific Conductance (µS/cm) (812345)": (lambda i: 402 + 4 * math.sin(i / 40), "µS/cm"),
    "pH (pH) (812345)": (lambda i: 7.5 + 0.1 * math.sin(i / 50), "pH"),
    "Depth (m) (812345)": (lambda i: 2.31 + 0.02 * math.sin(i / 20), "m"),
    "Battery Level (%) (812345)": (lambda i: 98 - i / 200, "%"),
    "LakeA.WaterTemperature.C": (lambda i: 16.9 + 2 * math.sin(i / 96), "°C"),
    "LakeA.Turbidity.NTU": (lambda i: 3.2 + math.sin(i / 30) ** 2, "NTU"),
    "Battery": (lambda i: 12.6 - i / 5000, None),
    "LakeA.Visibility": (lambda i: 10 + i % 5, None),
}


def _value(col: str, i: int) -> float | None:
    if i % 97 == 13:  # odd cells: missing readings here and there
        return None
    return round(COLUMNS[col][0](i), 3)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("naming")
    pond = Pond.init(root / "pond", factories=resolver)
    table = pa.table(
        {
            "Timestamp": pa.array(
                [START + i * 900 * US for i in range(N)], pa.timestamp("us", "UTC")
            ),
            **{c: pa.array([_value(c, i) for i in range(N)], pa.float64()) for c in COLUMNS},
        }
    )
    with pond.transaction(["load"]) as tx:
        r = tx.root()
        r.mkdir("/raw")
        r.append_series("/raw/mixed.series", table, time_column="Timestamp")
    with pond.transaction(["reduce"]) as tx:
        tx.root().mkdir("/reduced")
        reg.mknod(
            tx.root(),
            "temporal-reduce",
            "/reduced/mixed",
            "input: /raw/mixed.series\nresolutions: [15m, 1h, 6h]\n"
            "aggregations: [avg, min, max, count]\n",
        )
    config = SitegenConfig.model_validate(
        {"title": "Mixed names", "pages": [{"pattern": "/reduced/*", "title": "Lake A"}]}
    )
    out = root / "out"
    build_site(pond.root(), config, out)
    return pond, out


def charts_of(out) -> list[dict]:
    import json

    text = (out / "mixed.html").read_text(encoding="utf-8")
    found = re.search(r'id="duckpond-config">(.*?)</script>', text, re.S)
    assert found
    return json.loads(found.group(1))["charts"]


def test_column_names_are_read_each_way() -> None:
    for col, (_, unit) in COLUMNS.items():
        assert parse_column(col).unit == unit, col
    assert parse_column("Temperature (°C) (812345)").instrument == "812345"
    assert parse_column("B01.Temperature (°C) (812345)").instrument == "B01 812345"
    assert parse_column("JFK.Visibility").instrument == "JFK"
    # a token the site's units map names is a unit, shown as the map says
    assert parse_column("Flow.gpm", {"gpm": "US gal/min"}).unit == "US gal/min"
    assert unit_symbol("degC") == unit_symbol("°C") == unit_symbol("C") == "°C"
    assert unit_symbol("uS_cm") == unit_symbol("µS/cm") == unit_symbol("μS/cm") == "µS/cm"
    assert unit_symbol("m_s") == unit_symbol("mps") == "m/s"
    assert unit_symbol("mbar") != unit_symbol("hPa")  # kept as written
    assert unit_adds_nothing("pH", ["pH"]) and unit_adds_nothing("", ["Battery"])
    assert not unit_adds_nothing("pH", ["pH", "Acidity"]) and not unit_adds_nothing("m", ["Depth"])
    assert humanize("WaterTemperature") == "Water temperature"
    assert humanize("Specific Conductance") == "Specific conductance"
    assert humanize("pH") == "pH" and humanize("NO3N") == "NO3N"
    assert humanize("WaterTemperature", {"WaterTemperature": "Surface water"}) == "Surface water"


#: two-part names: (instrument, parameter, unit symbol)
TWO_PART = {
    # <parameter>.<unit> whose unit is a common token (in the table since the follow-up audit)
    "Flow.gpm": (None, "Flow", "gal/min"),
    "Level.ft": (None, "Level", "ft"),
    "Turbidity.NTU": (None, "Turbidity", "NTU"),
    "DO.mgL": (None, "DO", "mg/L"),
    "Discharge.cfs": (None, "Discharge", "ft³/s"),
    "Pressure.psi": (None, "Pressure", "psi"),
    "Flow.lpm": (None, "Flow", "L/min"),
    "Chlorophyll.ugL": (None, "Chlorophyll", "µg/L"),
    "PAR.umol_m2_s": (None, "PAR", "µmol/m²/s"),
    # ... or a token spelled from unit symbols, not in the table: shown as written
    "Flow.gal_s": (None, "Flow", "gal/s"),
    "Inflow.m3_h": (None, "Inflow", "m3/h"),
    "Dose.mg_kg_d": (None, "Dose", "mg_kg_d"),
    "Energy.kWh": (None, "Energy", "kWh"),
    # <instrument>.<parameter> with no unit keeps working
    "JFK.Visibility": ("JFK", "Visibility", None),
    "B01.Battery": ("B01", "Battery", None),
    "Sonde.DO": ("Sonde", "DO", None),
    "Sonde.Temp": ("Sonde", "Temp", None),
    "Sonde.Sal": ("Sonde", "Sal", None),
    "Logger.Vin": ("Logger", "Vin", None),
    "Met.Ws": ("Met", "Ws", None),
    "Met.rain": ("Met", "rain", None),
    "Met.hum": ("Met", "hum", None),
    "Lab.Mg": ("Lab", "Mg", None),
    "Lab.N": ("Lab", "N", None),
    "Sonde.ORP": ("Sonde", "ORP", None),
    # a unit that names its parameter; tokens that say "no unit"
    "B01.pH": ("B01", "pH", "pH"),
    "pH.pH": (None, "pH", "pH"),
    "Ratio.unitless": (None, "Ratio", None),
}


@pytest.mark.parametrize("name", sorted(TWO_PART))
def test_two_part_names_with_a_unit_the_table_may_lack(name: str) -> None:
    """``<parameter>.<unit>`` when the last part looks like a unit, else
    ``<instrument>.<parameter>`` (names.py's docstring states the rule)."""
    read = parse_column(name)
    assert (read.instrument, read.parameter, read.unit) == TWO_PART[name]
    assert looks_like_unit(name.split(".")[1]) == (read.unit is not None)


def test_unlisted_units_get_their_own_chart_titled_by_parameter() -> None:
    """``Flow.gpm`` is charted as "Flow" in gal/min (not "Gpm (Flow)"), and two different units
    (gal/min, ft³/s, L/min) never share a chart."""
    from duckpond.factories.sitegen import _default_charts

    config = SitegenConfig.model_validate({"title": "t", "pages": [{"pattern": "/x"}]})
    bases = ["Flow.gpm", "Pump.Flow.gpm", "Discharge.cfs", "Flow.lpm", "Level.ft", "DO.mgL"]
    charts = _default_charts(bases, config)
    by_unit = {c.unit: [s.column for s in c.series] for c in charts}
    assert by_unit == {
        "gal/min": ["Flow.gpm", "Pump.Flow.gpm"],
        "ft³/s": ["Discharge.cfs"],
        "L/min": ["Flow.lpm"],
        "ft": ["Level.ft"],
        "mg/L": ["DO.mgL"],
    }
    titles = [c.title for c in charts]
    assert titles == ["Flow", "Discharge", "Flow", "Level", "Dissolved oxygen"]


def test_no_chart_mixes_units(site) -> None:
    _, out = site
    charts = charts_of(out)
    seen_units: dict[str, int] = {}
    covered = []
    for chart in charts:
        units = {COLUMNS[s["column"]][1] for s in chart["series"]}
        assert len(units) == 1, chart  # one unit per y axis
        unit = units.pop()
        assert chart["unit"] == (unit or "")
        if unit is None:
            assert len(chart["series"]) == 1  # no known unit: a chart of its own
        else:
            assert unit not in seen_units, unit  # and one chart per unit
            seen_units[unit] = len(chart["series"])
        covered += [s["column"] for s in chart["series"]]
    assert sorted(covered) == sorted(COLUMNS)
    assert seen_units == {"µS/cm": 2, "pH": 2, "°C": 3, "mg/L": 1, "m": 1, "%": 1, "NTU": 1}
    titles = {c["title"] for c in charts}
    assert "Conductivity, Specific conductance" in titles
    assert "Battery" in titles and "Visibility (LakeA)" in titles
    labels = {s["column"]: s["label"] for c in charts for s in c["series"]}
    # several instruments on one chart: each label says which
    assert labels["LakeA.WaterTemperature.C"] == "Water temperature (LakeA)"
    assert labels["Temperature (°C) (812345)"] == "Temperature (812345)"
    assert labels["Temperature.C"] == "Temperature"
    digits = {s["column"]: s["decimals"] for c in charts for s in c["series"]}
    assert digits["Conductivity.uS_cm"] == 3 and digits["LakeA.Visibility"] == 0


@pytest.mark.browser
@pytest.mark.slow
def test_each_chart_draws_its_own_unit(browser, site) -> None:
    _, out = site
    charts = charts_of(out)
    with serve(out) as server:
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        try:
            page = ctx.new_page()
            w = watch(page)
            page.goto(f"{server.url}/mixed.html#range=all")
            page.wait_for_function(READY)
            state = page.evaluate("window.duckpond.state")
            assert state["resolution"] == "15m" and state["error"] is None
            for ci, chart in enumerate(charts):
                labels = page.evaluate(f"window.duckpond.plots[{ci}].axes.map(a => a.label)")
                assert labels == ["Time (UTC)", chart["unit"] or chart["title"]]
                # the y range is that of its own values (conductivity never squashes pH)
                lo, hi = page.evaluate(
                    f"(u => [u.scales.y.min, u.scales.y.max])(window.duckpond.plots[{ci}])"
                )
                cols = [s["column"] for s in chart["series"]]
                values = [v for c in cols for i in range(N) if (v := _value(c, i)) is not None]
                assert lo <= min(values) and max(values) <= hi
                assert hi - lo < 3 * (max(values) - min(values)) + 1, (chart["title"], lo, hi)
            w.assert_clean()
        finally:
            ctx.close()
        screenshots(browser, f"{server.url}/mixed.html#range=all", "test-naming-mixed")


@pytest.mark.browser
def test_a_unit_that_repeats_its_parameter_is_not_repeated(browser, site) -> None:
    """The pH chart reads "pH", not "pH (pH)", in its title, legend, read-out and table (its y
    axis is still labelled pH); a chart whose unit says more keeps it everywhere."""
    _, out = site
    charts = charts_of(out)
    ph = next(i for i, c in enumerate(charts) if c["unit"] == "pH")
    cond = next(i for i, c in enumerate(charts) if c["unit"] == "µS/cm")
    with serve(out) as server:
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        try:
            page = ctx.new_page()
            w = watch(page)
            page.goto(f"{server.url}/mixed.html#range=all")
            page.wait_for_function(READY)

            def texts(ci: int, css: str) -> list[str]:
                return page.locator(f".chart[data-chart='{ci}'] {css}").all_inner_texts()

            assert texts(ph, "h2") == ["pH"]
            assert texts(ph, ".legend-item") == ["pH", "pH (812345)"]
            label = page.get_attribute(f".chart[data-chart='{ph}'] .plot", "aria-label")
            assert label == "Chart of pH; the table of values below describes it"
            axis = page.evaluate(f"window.duckpond.plots[{ph}].axes[1].label")
            assert axis == "pH"
            page.locator(f".chart[data-chart='{ph}'] details.values").evaluate("d => d.open = true")
            cells = texts(ph, "tbody td:not(:last-child)")
            assert cells and all(re.fullmatch(r"\d+\.\d+", c) for c in cells), cells
            # a unit that says more is kept
            assert texts(cond, "h2") == ["Conductivity, Specific conductance (µS/cm)"]
            assert texts(cond, ".legend-item") == [
                "Conductivity (µS/cm)",
                "Specific conductance (812345) (µS/cm)",
            ]
            page.locator(f".chart[data-chart='{cond}'] details.values").evaluate(
                "d => d.open = true"
            )
            cells = texts(cond, "tbody td:not(:last-child)")
            assert cells and all(c.endswith(" µS/cm") for c in cells), cells
            w.assert_clean()
        finally:
            ctx.close()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert re.search(r'class="number">7\.\d+</span></td>', index)  # the pH value, no "pH" after
    assert '<span class="unit">µS/cm</span>' in index


@pytest.mark.browser
def test_phone_index_keeps_long_units_with_their_numbers(browser, site) -> None:
    """At 320 px the index card of 13 series (µS/cm, mg/L, long vendor names) keeps every number
    on the line of its unit, with no sideways scroll."""
    _, out = site
    with serve(out) as server:
        ctx = browser.new_context(viewport={"width": 320, "height": 640})
        try:
            page = ctx.new_page()
            w = watch(page)
            page.goto(f"{server.url}/index.html")
            page.wait_for_function(READY)
            rows = page.evaluate(VALUE_LINES_JS)
            assert len(rows) == len(COLUMNS) and "µS/cm" in {r[2] for r in rows}
            assert [r[:3] for r in rows if not r[3]] == []
            assert page.evaluate("document.documentElement.scrollWidth") <= 320
            w.assert_clean()
        finally:
            ctx.close()
