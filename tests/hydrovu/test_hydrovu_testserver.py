"""The HydroVu-compatible test server itself: devices, protocol details and the command line."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from duckpond.errors import InvalidData, UsageError
from duckpond.hydrovu.client import HydroVuClient
from duckpond.testing.hydrovu_server import (
    B01_LOCATION_ID,
    Device,
    HydroVuTestServer,
    default_devices,
)

DATA = Path(__file__).resolve().parents[2] / "data"


def test_default_devices_hold_the_real_data() -> None:
    b01, jfk = default_devices(DATA)
    assert (b01.location_id, b01.name) == (B01_LOCATION_ID, "B01")
    assert len(b01.timestamps) == 19225
    assert b01.timestamps[0] == 1455494400  # 2016-02-15T00:00:00Z
    assert b01.series[0].values[:2] == (4.929, 4.887)
    assert len(jfk.timestamps) == 8706
    assert {(s.parameter, s.unit) for s in jfk.series} >= {
        ("AirTemperature", "C"),
        ("WindSpeed", "m/s"),
        ("BarometricPressure", "hPa"),
    }
    gust = next(s for s in jfk.series if s.parameter == "WindGust")
    assert sum(v is None for v in gust.values) == 7199


def test_synthetic_devices_are_deterministic() -> None:
    args = (3, "S", 0, 86_400, 900, [("Temperature", "C"), ("pH", "pH")])
    one, two = Device.synthetic(*args, seed=1), Device.synthetic(*args, seed=1)
    assert one == two
    assert len(one.timestamps) == 96
    assert Device.synthetic(*args, seed=2).series[0].values != one.series[0].values


def test_from_csv_rejects_duplicate_times(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("Timestamp,X.C\n2020-01-01T00:00:00Z,1\n2020-01-01T00:00:00Z,2\n")
    with pytest.raises(InvalidData, match="duplicate time"):
        Device.from_csv(1, "d", path)


def test_from_csv_reads_offsets_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Timestamp,X.C\n2020-01-01T01:00:00+01:00,NaN\n2020-01-01T00:30:00,2.5\n")
    device = Device.from_csv(1, "d", path)
    assert device.timestamps == (1577836800, 1577838600)  # sorted; naive = UTC
    assert device.series[0].values == (None, 2.5)
    assert (device.series[0].parameter, device.series[0].unit) == ("X", "C")


def test_duplicate_location_ids_and_bad_faults_are_rejected() -> None:
    device = Device.synthetic(1, "a", 0, 3600, 900, [("Temperature", "C")])
    with pytest.raises(UsageError):
        HydroVuTestServer([device, device])
    with HydroVuTestServer([device]) as srv, pytest.raises(UsageError):
        srv.inject("418", 1)


def test_protocol_details() -> None:
    device = Device.synthetic(5, "a", 0, 10 * 900, 900, [("Temperature", "C")])
    with HydroVuTestServer([device], page_size=4) as srv, httpx.Client() as http:
        base = srv.base_url
        assert base.endswith("/public-api/")
        # no token -> 401
        assert http.get(base + "v1/sispec/friendlynames").status_code == 401
        # a token, also with HTTP Basic client authentication
        resp = http.post(
            base + "oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("test-client", "test-secret"),
        )
        assert resp.status_code == 200
        body = resp.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] > 0
        auth = {"Authorization": f"Bearer {body['access_token']}"}
        # paging with x-isi-next-page / x-isi-start-page
        first = http.get(base + "v1/locations/5/data", params={"startTime": 0}, headers=auth)
        assert [r["timestamp"] for r in first.json()["parameters"][0]["readings"]] == [
            0,
            900,
            1800,
            2700,
        ]
        token = first.headers["x-isi-next-page"]
        second = http.get(
            base + "v1/locations/5/data",
            params={"startTime": 0},
            headers={**auth, "x-isi-start-page": token},
        )
        assert second.json()["parameters"][0]["readings"][0]["timestamp"] == 3600
        # a page token from elsewhere is refused
        bad = http.get(
            base + "v1/locations/5/data",
            params={"startTime": 0},
            headers={**auth, "x-isi-start-page": "garbage"},
        )
        assert bad.status_code == 400
        # startTime is required
        assert http.get(base + "v1/locations/5/data", headers=auth).status_code == 400
        # unsupported grant type
        assert http.post(base + "oauth/token", data={"grant_type": "password"}).status_code == 400
        assert srv.request_count["data"] == 4
        assert srv.request_count.total() == 7


def test_command_line_serves_the_bundled_data() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "duckpond.testing.hydrovu_server",
            "--port",
            "0",
            "--data-dir",
            DATA,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines[0].startswith("base_url: http://127.0.0.1:")
        assert lines[1:] == ["client_id: test-client", "client_secret: test-secret"]
        base_url = lines[0].split(": ", 1)[1]
        with HydroVuClient(base_url, "test-client", "test-secret", backoff_base=0.001) as hv:
            assert [loc.name for loc in hv.locations()] == ["B01", "JFK"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
