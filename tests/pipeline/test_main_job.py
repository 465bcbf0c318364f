"""The main job, end to end on real input: bundled CSVs, HydroVu devices served over real HTTP by
the HydroVu-compatible test server, LakeTech exports in an inbox -> one pond -> join -> reduce ->
website. The live sources carry the same real readings as the CSVs, so adding them must leave
every downsampled value as it was.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pyarrow as pa
import pytest

from duckpond import Pond
from duckpond.factories import registry, resolver
from duckpond.factories.base import EmptyInputWarning
from duckpond.pipeline import apply_file
from duckpond.testing.hydrovu_server import HydroVuTestServer, default_devices

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("mainjob")
    pond = Pond.init(root / "pond", factories=resolver)
    apply_file(pond, EXAMPLES / "pipeline.yaml")
    offline = {
        res: pond.root().resolve(f"/reduced/all/res={res}.series").read_table()
        for res in ("1h", "24h")
    }
    with HydroVuTestServer(default_devices(REPO / "data"), page_size=2000) as server:
        mp = pytest.MonkeyPatch()
        mp.setenv("HYDROVU_BASE_URL", server.base_url)
        mp.setenv("HYDROVU_CLIENT_ID", server.client_id)
        mp.setenv("HYDROVU_CLIENT_SECRET", server.client_secret)
        mp.setenv("LAKETECH_INBOX", str(REPO / "data" / "laketech_sample"))
        try:
            apply_file(pond, EXAMPLES / "sources.yaml")
            collected = registry.run(pond, "/sources/hydrovu", "collect")
            ingested = registry.run(pond, "/sources/laketech", "ingest")
            again = registry.run(pond, "/sources/hydrovu", "collect")
        finally:
            mp.undo()
    apply_file(pond, EXAMPLES / "site.yaml")
    site = root / "site"
    report = registry.run(pond, "/site", "build", [str(site)])
    return pond, offline, collected, ingested, again, site, report


def test_live_sources_landed(main_job):
    pond, _, collected, ingested, again, *_ = main_job
    assert collected.rows == 19225 + 8706
    assert again.rows == 0 and not again.changed  # nothing new: nothing written
    r = pond.root()
    b01 = r.resolve("/hydrovu/B01.series").read_table()
    assert b01.num_rows == 19225
    assert r.resolve("/hydrovu/JFK.series").read_table().num_rows == 8706
    assert [m.path for m in r.glob("/laketech/*.series")]
    assert ingested is not None


def test_adding_live_sources_leaves_downsampled_values_unchanged(main_job):
    pond, offline, *_ = main_job
    for res, before in offline.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error", EmptyInputWarning)
            after = pond.root().resolve(f"/reduced/all/res={res}.series").read_table()
        assert after.num_rows == before.num_rows
        assert after.schema.names == before.schema.names
        for name in before.schema.names:
            a, b = after.column(name), before.column(name)
            if pa.types.is_floating(b.type):
                for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True):
                    assert (x is None and y is None) or x == pytest.approx(y, rel=1e-9), name
            else:
                assert a.equals(b), name


def test_site_pages(main_job):
    *_, site, report = main_job
    for page in ("index", "B01", "JFK", "temperature"):
        assert (site / f"{page}.html").exists(), page
    assert report.bytes > 0
