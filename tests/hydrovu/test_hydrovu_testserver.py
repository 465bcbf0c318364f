"""The HydroVu-compatible test server itself: devices, protocol details and the command line."""

from __future__ import annotations

import gzip
import os
import runpy
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
    DATA_SETS,
    Device,
    HydroVuTestServer,
    data_file,
    default_devices,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"


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


def test_packaged_readings_equal_the_repository_data(tmp_path: Path) -> None:
    """The server's package data is a gzip copy of data/, regenerated identically by the script."""
    for name in DATA_SETS:
        packaged = data_file(name)
        assert packaged.name == f"{name}.csv.gz"
        assert "testing" in packaged.parts
        assert gzip.decompress(packaged.read_bytes()) == (DATA / name / f"{name}.csv").read_bytes()
    script = runpy.run_path(str(ROOT / "scripts" / "make_testing_data.py"))
    for path in script["make"](DATA, tmp_path):
        assert path.read_bytes() == data_file(path.name.removesuffix(".csv.gz")).read_bytes()
    packaged_devices = default_devices()
    repo_devices = default_devices(DATA)
    assert packaged_devices == repo_devices


def test_data_dir_without_the_data_sets_is_not_found(tmp_path: Path) -> None:
    from duckpond.errors import NotFound

    with pytest.raises(NotFound, match="neracoos_b01_water_temperature_30min"):
        default_devices(tmp_path)


@pytest.mark.slow
def test_runs_from_a_wheel_install_in_any_directory(tmp_path: Path) -> None:
    """Build the wheel, install it into a folder of its own and run the server from an empty
    directory: it must find its readings without the repository."""
    pytest.importorskip("hatchling")  # the build backend (dev extra)
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("duckpond_lake-*.whl")
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import duckpond.testing.hydrovu_server as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(site)
    proc = subprocess.Popen(
        [sys.executable, "-m", "duckpond.testing.hydrovu_server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(5)]
        assert lines[0].startswith("base_url: http://127.0.0.1:"), lines
        assert lines[3] == "location 1001: B01 (19225 timestamps, 19225 readings)"
        assert lines[4].startswith("location 1002: JFK (8706 timestamps, ")
        base_url = lines[0].split(": ", 1)[1]
        with HydroVuClient(base_url, "test-client", "test-secret", backoff_base=0.001) as hv:
            assert [loc.name for loc in hv.locations()] == ["B01", "JFK"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
