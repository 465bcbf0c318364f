"""The main job end to end: real CSVs -> pond -> temporal-reduce -> sitegen -> Chromium.

Values the page reports for a bucket must equal the pond's reduced series.
"""

from __future__ import annotations

import json
import re

import pyarrow.compute as pc
import pytest
from site_testlib import DATA, serve, watch

from duckpond import Pond
from duckpond.errors import InvalidData, NotFound
from duckpond.factories import registry as reg
from duckpond.factories import sitegen, template
from duckpond.formats import read_csv_series

REGISTRY = reg.FACTORIES.with_factories(sitegen.FACTORY, template.FACTORY)

SITE = """
title: DuckPond test site
units: {C: "°C", pct: "%"}
pages:
  - pattern: /reduced/*
    slug: "$0"
    title: "Station $0"
include: /pages/*
"""


@pytest.fixture(scope="module")
def pond_with_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("pondsite")
    pond = Pond.init(root / "pond", factories=REGISTRY.resolver())
    with pond.transaction(["load"]) as tx:
        r = tx.root()
        r.mkdir("/raw")
        r.mkdir("/reduced")
        for name, csv in [
            (
                "b01",
                DATA
                / "neracoos_b01_water_temperature_30min"
                / "neracoos_b01_water_temperature_30min.csv",
            ),
            ("jfk", DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"),
        ]:
            table, tc = read_csv_series(csv)
            prefix = name.upper()
            table = table.rename_columns(
                [c if c == tc else f"{prefix}.{c}" for c in table.column_names]
            )
            r.append_series(f"/raw/{name}.series", table, time_column=tc)
            cfg = f"input: /raw/{name}.series\nresolutions: [1h, 6h, 24h]\n"
            reg.mknod(r, "temporal-reduce", f"/reduced/{name}", cfg, registry=REGISTRY)
        r.mkdir("/pages")
        reg.mknod(
            r,
            "template",
            "/pages/notes",
            "pattern: /reduced/*\n"
            'name: "$0.md"\n'
            "template: \"# {{ name }}: {{ children | join(', ') }}\"\n",
            registry=REGISTRY,
        )
        reg.mknod(r, "sitegen", "/site", SITE, registry=REGISTRY)
    out = root / "out"
    report = reg.run(pond, "/site", "build", [str(out)], registry=REGISTRY)
    return pond, out, report


def page_config(html_path):
    found = re.search(
        r'<script type="application/json" id="duckpond-config">(.*?)</script>',
        html_path.read_text(),
        re.S,
    )
    return json.dumps(json.loads(found.group(1)), ensure_ascii=False)


def test_build_writes_pages_and_data(pond_with_site):
    _, out, _ = pond_with_site
    assert (out / "index.html").exists()
    assert (out / "b01.html").exists() and (out / "jfk.html").exists()
    assert (out / "b01.md").read_text().startswith("# b01: res=1h.series, ")
    text = page_config(out / "jfk.html")
    assert "JFK.AirTemperature.C" in text and "°C" in text


def test_build_is_read_only(pond_with_site):
    pond, _, _ = pond_with_site
    assert [t.args[:3] for t in pond.log()][-1] == ("load",)


def test_bad_site_configs(tmp_path):
    pond = Pond.init(tmp_path / "p", factories=REGISTRY.resolver())
    with pond.transaction(["x"]) as tx:
        with pytest.raises(InvalidData, match="pages"):
            reg.mknod(tx.root(), "sitegen", "/s", "title: x\npages: []\n", registry=REGISTRY)
        with pytest.raises(InvalidData, match="template"):
            reg.mknod(
                tx.root(),
                "template",
                "/t",
                "pattern: /x\nname: a\ntemplate: '{{ x'\n",
                registry=REGISTRY,
            )
        reg.mknod(
            tx.root(),
            "sitegen",
            "/s",
            "title: x\npages: [{pattern: /nothing/*}]\n",
            registry=REGISTRY,
        )
    with pytest.raises(NotFound, match="nothing"):
        reg.run(pond, "/s", "build", [str(tmp_path / "o")], registry=REGISTRY)


@pytest.mark.browser
def test_site_from_pond_in_chromium(browser, pond_with_site):
    pond, out, _ = pond_with_site
    reduced = pond.root().resolve("/reduced/b01/res=24h.series").read_table()
    with serve(out) as server:
        ctx = browser.new_context()
        try:
            page = ctx.new_page()
            w = watch(page)
            page.goto(f"{server.url}/b01.html#all")
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=20000)
            state = page.evaluate("window.duckpond.state")
            assert state["resolution"] == "24h" and state["points"] > 0
            ts = reduced.column("Timestamp").cast("int64")
            t = ts[len(ts) // 2].as_py()
            row = reduced.filter(pc.equal(ts, t)).to_pylist()[0]
            got = page.evaluate(f"window.duckpond.valueAt(0, 0, {t} + 1)")
            want = {k: row[f"B01.WaterTemperature.C.{k}"] for k in ("avg", "min", "max")}
            assert got == {"time": t, **want}
            page.goto(f"{server.url}/index.html")
            assert page.locator("a[href='b01.html']").count() >= 1
            w.assert_clean()
        finally:
            ctx.close()


def test_pages_filtered_by_column_glob(pond_with_site, tmp_path):
    from duckpond.factories.sitegen import SitegenConfig, build_site

    pond, _, _ = pond_with_site
    config = SitegenConfig.model_validate(
        {
            "title": "Parameters",
            "pages": [
                {"pattern": "/reduced/jfk", "slug": "temperatures", "columns": "*.*Temperature.C"},
                {"pattern": "/reduced/*", "slug": "$0-all"},
            ],
        }
    )
    build_site(pond.root(), config, tmp_path / "site")
    html = page_config(tmp_path / "site" / "temperatures.html")
    assert "JFK.AirTemperature.C" in html and "DewPoint" not in html
    assert "RelativeHumidity" not in html
    assert (tmp_path / "site" / "b01-all.html").exists()
    with pytest.raises(InvalidData, match="no column matches"):
        build_site(
            pond.root(),
            SitegenConfig.model_validate(
                {"title": "x", "pages": [{"pattern": "/reduced/jfk", "columns": "nope.*"}]}
            ),
            tmp_path / "site2",
        )


def test_rows_without_page_data_are_left_out(tmp_path):
    """A page cut from a joined series must not span the other site's rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from duckpond.site import (
        ChartSpec,
        PageSpec,
        PartFile,
        Resolution,
        SeriesRef,
        SiteSpec,
        render_site,
    )

    hour = 3_600_000_000
    part = tmp_path / "res=1h" / "year=2020" / "part.parquet"
    part.parent.mkdir(parents=True)
    n = 10
    values = [None] * 4 + [float(i) for i in range(4, n)]  # the first 4 rows are another site's
    pq.write_table(
        pa.table(
            {
                "Timestamp": pa.array([i * hour for i in range(n)], pa.timestamp("us", "UTC")),
                "S.T.C.avg": values,
                "S.T.C.min": values,
                "S.T.C.max": values,
            }
        ),
        part,
    )
    page = PageSpec(
        slug="s",
        title="S",
        charts=(ChartSpec("T", "C", (SeriesRef("S T", "S.T.C"),)),),
        resolutions=(Resolution("1h", 3600, (PartFile(part, 0, (n - 1) * hour, n),)),),
    )
    render_site(SiteSpec("t", (page,)), tmp_path / "out")
    config = json.loads(page_config(tmp_path / "out" / "s.html"))
    assert config["dataStartUs"] == 4 * hour
    assert config["dataEndUs"] == n * hour
