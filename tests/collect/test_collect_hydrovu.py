"""The hydrovu collector against the HydroVu-compatible test server, over real HTTP, no mocks.

The server serves the bundled real data (buoy B01 and JFK weather) as two locations; faults are
injected with the server's own ``inject``. Each test starts from a fresh pond.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from collect_testlib import (
    B01_CSV,
    DATA,
    ID,
    JFK_CSV,
    SECRET,
    hv_config,
    make_node,
    new_pond,
    read_csv_us,
    run_node,
    state,
    until,
)

from duckpond.errors import InvalidData, RemoteError, UsageError
from duckpond.factories import hydrovu
from duckpond.hydrovu import client as hv_client
from duckpond.testing.hydrovu_server import (
    B01_LOCATION_ID,
    JFK_LOCATION_ID,
    Device,
    HydroVuTestServer,
    default_devices,
)

PAGE = 5000
B01_ROWS, JFK_ROWS = 19_225, 8_706


@pytest.fixture(scope="module")
def devices() -> list[Device]:
    return default_devices(DATA)


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HV_TEST_ID", ID)
    monkeypatch.setenv("HV_TEST_SECRET", SECRET)


@pytest.fixture
def server(devices: list[Device]) -> Iterator[HydroVuTestServer]:
    with HydroVuTestServer(devices, page_size=PAGE, slow_s=0) as srv:
        yield srv


@pytest.fixture(scope="module")
def b01_oracle() -> pa.Table:
    return read_csv_us(B01_CSV)


@pytest.fixture(scope="module")
def jfk_oracle() -> pa.Table:
    return read_csv_us(JFK_CSV)


def assert_b01(table: pa.Table, oracle: pa.Table) -> None:
    assert table.column_names == ["Timestamp", "B01.Temperature.C"]
    table = table.sort_by("Timestamp")
    assert table.column("Timestamp").equals(oracle.column("Timestamp"))
    assert table.column("B01.Temperature.C").equals(oracle.column("WaterTemperature.C"))


def assert_jfk(table: pa.Table, oracle: pa.Table) -> None:
    """Equal to the CSV, except that rows with no reading at all are absent (none in JFK)."""
    table = table.sort_by("Timestamp")
    assert table.column("Timestamp").equals(oracle.column("Timestamp"))
    for name in oracle.column_names[1:]:
        got = table.column(f"JFK.{name}") if f"JFK.{name}" in table.column_names else None
        want = oracle.column(name)
        if got is None:  # a column with no reading at all is absent
            assert want.null_count == len(want)
            continue
        assert got.equals(want), name


def test_collect_real_devices(
    tmp_path: Path, server: HydroVuTestServer, b01_oracle: pa.Table, jfk_oracle: pa.Table
) -> None:
    pond = new_pond(tmp_path)
    make_node(pond, "hydrovu", "/collector", hv_config(server.base_url))
    report = run_node(pond, "/collector", "collect")

    assert isinstance(report, hydrovu.CollectReport)
    assert [(d.name, d.status, d.rows) for d in report.devices] == [
        ("B01", "collected", B01_ROWS),
        ("JFK", "collected", JFK_ROWS),
    ]
    assert report.names_written and report.locations_written
    b01 = report.devices[0]
    assert b01.start_s == 0
    assert b01.first_us == b01_oracle["Timestamp"][0].value
    assert b01.watermark_s == b01_oracle["Timestamp"][-1].value // 1_000_000 + 1
    assert "B01: collected, 19225 rows" in str(report)
    assert report.to_arrow().schema == hydrovu.REPORT_SCHEMA

    root = pond.root()
    series = root.resolve("/hydrovu/B01.series")
    assert series.file_type == "file:series" and len(series.versions()) == 1
    assert_b01(series.read_table(), b01_oracle)
    assert_jfk(root.resolve("/hydrovu/JFK.series").read_table(), jfk_oracle)

    names = root.resolve("/hydrovu/names.table").read_table()
    assert names.schema.names == ["kind", "id", "name"]
    params = dict(zip(names["name"].to_pylist(), names["kind"].to_pylist(), strict=True))
    assert params["Temperature"] == "parameter" and params["m/s"] == "unit"
    locations = root.resolve("/hydrovu/locations.table").read_table()
    assert locations["id"].to_pylist() == [B01_LOCATION_ID, JFK_LOCATION_ID]
    assert locations["name"].to_pylist() == ["B01", "JFK"]

    status = root.resolve("/collector").read_table()
    assert status.schema == hydrovu.STATUS_SCHEMA
    assert status["versions"].to_pylist() == [1, 1]
    assert status["next_start_s"][0].as_py() == b01.watermark_s


def test_second_run_without_new_data_writes_nothing(
    tmp_path: Path, server: HydroVuTestServer
) -> None:
    pond = new_pond(tmp_path)
    make_node(pond, "hydrovu", "/collector", hv_config(server.base_url))
    run_node(pond, "/collector", "collect")
    before = state(pond)
    requests_before = server.request_count
    report = run_node(pond, "/collector", "collect")
    assert state(pond) == before  # no data commit: same Delta version, txn_seq and oplog
    assert [d.status for d in report.devices] == ["up to date", "up to date"]
    assert not report.changed
    assert not report.names_written and not report.locations_written
    # token + friendly names + locations + one data request per device
    new = server.request_count - requests_before
    assert new["data"] == 2 and new.total() == 5
    assert pond.log()[-1].outcome == "completed"


def test_new_readings_are_appended_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    devices: list[Device],
    b01_oracle: pa.Table,
    jfk_oracle: pa.Table,
) -> None:
    """The server gains readings between runs: the second run appends only the new rows."""
    cut_b01 = 1_470_000_000  # 2016-07-31T21:20Z
    cut_jfk = 1_370_000_000  # 2013-05-31T11:33Z
    early = [until(devices[0], cut_b01), until(devices[1], cut_jfk)]
    pond = new_pond(tmp_path)
    make_node(pond, "hydrovu", "/collector", hv_config("${env:HV_TEST_URL}"))

    with HydroVuTestServer(early, page_size=PAGE) as srv:
        monkeypatch.setenv("HV_TEST_URL", srv.base_url)
        first = run_node(pond, "/collector", "collect")
    with HydroVuTestServer(devices, page_size=PAGE) as srv:
        monkeypatch.setenv("HV_TEST_URL", srv.base_url)
        second = run_node(pond, "/collector", "collect")
        third = run_node(pond, "/collector", "collect")

    n_b01 = len(early[0].timestamps)
    assert first.devices[0].rows == n_b01
    assert second.devices[0].rows == B01_ROWS - n_b01
    assert second.devices[0].start_s == first.devices[0].watermark_s
    assert second.devices[1].rows == JFK_ROWS - len(early[1].timestamps)
    assert not third.changed
    # the names and locations did not change: written once
    assert not second.names_written and not second.locations_written

    b01 = pond.root().resolve("/hydrovu/B01.series")
    assert len(b01.versions()) == 2
    table = b01.read_table()
    assert pc.count_distinct(table["Timestamp"]).as_py() == table.num_rows  # no duplicates
    assert_b01(table, b01_oracle)  # no gap
    assert_jfk(pond.root().resolve("/hydrovu/JFK.series").read_table(), jfk_oracle)


def test_max_points_per_run_resumes_without_gap(
    tmp_path: Path, server: HydroVuTestServer, b01_oracle: pa.Table
) -> None:
    pond = new_pond(tmp_path)
    devices = "  - {name: B01, id: 1001}\n"
    make_node(
        pond,
        "hydrovu",
        "/collector",
        hv_config(server.base_url, devices=devices, extra="max_points_per_run: 6000\n"),
    )
    rows = []
    for _ in range(10):
        report = run_node(pond, "/collector", "collect")
        rows.append(report.devices[0].rows)
        if not report.changed:
            break
    assert rows == [6000, 6000, 6000, B01_ROWS - 18000, 0]
    series = pond.root().resolve("/hydrovu/B01.series")
    assert len(series.versions()) == math.ceil(B01_ROWS / 6000)
    assert_b01(series.read_table(), b01_oracle)


def test_failure_midway_commits_nothing_and_next_run_resumes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    devices: list[Device],
    b01_oracle: pa.Table,
    jfk_oracle: pa.Table,
) -> None:
    early = [until(devices[0], 1_470_000_000), until(devices[1], 1_370_000_000)]
    pond = new_pond(tmp_path)
    make_node(
        pond, "hydrovu", "/collector", hv_config("${env:HV_TEST_URL}", extra="max_retries: 2\n")
    )
    with HydroVuTestServer(early, page_size=PAGE) as srv:
        monkeypatch.setenv("HV_TEST_URL", srv.base_url)
        run_node(pond, "/collector", "collect")
    before = state(pond)

    with HydroVuTestServer(devices, page_size=PAGE, slow_s=0) as srv:
        monkeypatch.setenv("HV_TEST_URL", srv.base_url)
        # API requests of the run: friendly names, locations, then B01's data pages (its new
        # readings fit in ceil(remaining / PAGE) pages); JFK's first data request is next.
        # A "slow" fault with slow_s=0 answers normally: it only counts requests off.
        b01_new = B01_ROWS - len(early[0].timestamps)
        srv.inject("slow", 2 + math.ceil(b01_new / PAGE))
        srv.inject("500", 3)  # more than max_retries: 2
        with pytest.raises(RemoteError, match=r"GET failed after 3 attempts: HTTP 500") as info:
            run_node(pond, "/collector", "collect")
        assert f"locations/{JFK_LOCATION_ID}/data" in str(info.value)  # the second device
        assert srv.faults_served["500"] == 3
        assert srv.request_count["data"] == math.ceil(b01_new / PAGE) + 3
        assert state(pond) == before  # B01's new rows were not committed either
        assert pond.log()[-1].outcome == "failed"

        report = run_node(pond, "/collector", "collect")
    assert [d.rows for d in report.devices] == [
        b01_new,
        JFK_ROWS - len(early[1].timestamps),
    ]
    for name, oracle, check in (("B01", b01_oracle, assert_b01), ("JFK", jfk_oracle, assert_jfk)):
        series = pond.root().resolve(f"/hydrovu/{name}.series")
        assert len(series.versions()) == 2
        table = series.read_table()
        assert pc.count_distinct(table["Timestamp"]).as_py() == table.num_rows
        check(table, oracle)


def test_429_and_503_are_retried(tmp_path: Path, server: HydroVuTestServer) -> None:
    pond = new_pond(tmp_path)
    make_node(pond, "hydrovu", "/collector", hv_config(server.base_url))
    server.inject("429", 2)
    server.inject("503", 1)
    report = run_node(pond, "/collector", "collect")
    assert server.faults_served["429"] == 2 and server.faults_served["503"] == 1
    assert report.retries == 3
    assert [d.rows for d in report.devices] == [B01_ROWS, JFK_ROWS]


def test_bad_credentials_leave_the_pond_unchanged(
    tmp_path: Path, server: HydroVuTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pond = new_pond(tmp_path)
    make_node(pond, "hydrovu", "/collector", hv_config(server.base_url))
    before = state(pond)
    monkeypatch.setenv("HV_TEST_SECRET", "wrong-secret-value")
    with pytest.raises(RemoteError, match="authentication failed") as info:
        run_node(pond, "/collector", "collect")
    assert "wrong-secret-value" not in str(info.value)
    assert state(pond) == before
    assert server.request_count["data"] == 0


def test_missing_environment_variable_is_a_clear_error(
    tmp_path: Path, server: HydroVuTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pond = new_pond(tmp_path)
    make_node(pond, "hydrovu", "/collector", hv_config(server.base_url))
    before = state(pond)
    monkeypatch.delenv("HV_TEST_SECRET")
    with pytest.raises(UsageError) as info:
        run_node(pond, "/collector", "collect")
    message = str(info.value)
    assert "credentials.client_secret" in message and "HV_TEST_SECRET is not set" in message
    assert message.startswith("/collector:")
    assert state(pond) == before
    assert server.request_count.total() == 0


@pytest.mark.parametrize("field", ["client_secret", "client_id"])
def test_literal_secret_is_refused_at_mknod(tmp_path: Path, field: str) -> None:
    pond = new_pond(tmp_path)
    config = hv_config("http://127.0.0.1:9/public-api/").replace(
        f"{field}: ${{env:HV_TEST_{'SECRET' if field == 'client_secret' else 'ID'}}}",
        f"{field}: s3cr3t-Literal",
    )
    before = state(pond)
    with pytest.raises(InvalidData) as info:
        make_node(pond, "hydrovu", "/collector", config)
    message = str(info.value)
    assert f"credentials.{field}: must be an environment reference" in message
    assert "s3cr3t-Literal" not in message
    assert pond.root().lookup("/collector") is None
    assert state(pond)[0] == before[0]


def test_secrets_never_reach_the_pond(tmp_path: Path, server: HydroVuTestServer) -> None:
    pond = new_pond(tmp_path)
    make_node(pond, "hydrovu", "/collector", hv_config(server.base_url))
    run_node(pond, "/collector", "collect")
    config = pond.root().resolve("/collector").latest().content or b""
    assert b"${env:HV_TEST_SECRET}" in config
    tokens = [t.encode() for t in server.issued_tokens]
    for path in (tmp_path / "pond").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data, path
            assert not any(t in data for t in tokens), path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("folder: /h\ndevices: []\n", "devices: List should have at least 1 item"),
        ("devices: [{name: A, id: 1}]\n", "folder: Field required"),
        ("folder: /h\ndevices: [{name: A.B, id: 1}]\n", "cannot be a scope"),
        ("folder: /h\ndevices: [{name: A, id: 1, scope: 'x/y'}]\n", "scope 'x/y' cannot be"),
        ("folder: /h\ndevices: [{name: A, id: 0}]\n", "devices[0].id"),
        (
            "folder: /h\ndevices: [{name: A, id: 1}, {name: B, id: 2, scope: A}]\n",
            "devices[1] has the same scope ('A') as devices[0]",
        ),
        (
            "folder: /h\ndevices: [{name: A, id: 1}, {name: B, id: 1}]\n",
            "devices[1] has the same id (1) as devices[0]",
        ),
        ("folder: /h\nbase_url: 'http://${HOST}/'\ndevices: [{name: A, id: 1}]\n", "bad reference"),
        ("folder: /h\nsecret: x\ndevices: [{name: A, id: 1}]\n", "secret: Extra inputs"),
        ("folder: /h\nmax_points_per_run: 0\ndevices: [{name: A, id: 1}]\n", "max_points_per_run"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, config: str, message: str) -> None:
    pond = new_pond(tmp_path)
    with pytest.raises(InvalidData) as info:
        make_node(pond, "hydrovu", "/collector", config)
    assert message in str(info.value)


def test_default_credentials_and_base_url() -> None:
    config = hydrovu.FACTORY.parse("folder: /h\ndevices: [{name: A, id: 1}]\n")
    assert config.credentials.client_id == "${env:HYDROVU_CLIENT_ID}"
    assert config.credentials.client_secret == "${env:HYDROVU_CLIENT_SECRET}"
    assert config.base_url == hydrovu.DEFAULT_BASE_URL == hv_client.DEFAULT_BASE_URL


def test_unknown_location_id_commits_nothing(tmp_path: Path, server: HydroVuTestServer) -> None:
    pond = new_pond(tmp_path)
    devices = "  - {name: B01, id: 1001}\n  - {name: Gone, id: 4242}\n"
    make_node(pond, "hydrovu", "/collector", hv_config(server.base_url, devices=devices))
    before = state(pond)
    with pytest.raises(InvalidData, match=r"devices\[1\] \(Gone\): location id 4242 is not"):
        run_node(pond, "/collector", "collect")
    assert state(pond) == before


def test_inactive_and_named_devices(tmp_path: Path, server: HydroVuTestServer) -> None:
    pond = new_pond(tmp_path)
    devices = (
        "  - {name: B01, id: 1001, active: false}\n"
        "  - {name: airport, id: 1002, scope: JFK, comment: ASOS KJFK}\n"
    )
    make_node(pond, "hydrovu", "/collector", hv_config(server.base_url, devices=devices))
    report = run_node(pond, "/collector", "collect")
    assert [(d.name, d.status) for d in report.devices] == [
        ("B01", "inactive"),
        ("airport", "collected"),
    ]
    assert pond.root().lookup("/hydrovu/B01.series") is None
    assert pond.root().resolve("/hydrovu/JFK.series").read_table().num_rows == JFK_ROWS

    report = run_node(pond, "/collector", "collect", "B01")  # named: collected even if inactive
    assert [(d.name, d.status, d.rows) for d in report.devices] == [
        ("B01", "collected", B01_ROWS),
        ("airport", "inactive", 0),
    ]
    with pytest.raises(UsageError, match="no device 'nope'"):
        run_node(pond, "/collector", "collect", "nope")


def test_relative_folder_and_status_before_collection(
    tmp_path: Path, server: HydroVuTestServer
) -> None:
    pond = new_pond(tmp_path)
    with pond.transaction(["mkdir"]) as tx:
        tx.root().mkdir("/sites/noyo", parents=True)
    make_node(pond, "hydrovu", "/sites/noyo/hv", hv_config(server.base_url, folder="data"))
    status = pond.root().resolve("/sites/noyo/hv").read_table()
    assert status["versions"].to_pylist() == [0, 0]
    assert status["path"].to_pylist() == [
        "/sites/noyo/data/B01.series",
        "/sites/noyo/data/JFK.series",
    ]
    run_node(pond, "/sites/noyo/hv", "collect")
    assert pond.root().resolve("/sites/noyo/data/B01.series").stat().version == 1
