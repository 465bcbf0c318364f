"""HydroVuClient against the HydroVu-compatible test server, over real HTTP on loopback.

No mocks: every test starts a :class:`HydroVuTestServer` serving the bundled real data (buoy B01
and JFK weather) or a synthetic device, and talks to it with the real client. Retries use a tiny
``backoff_base`` so the whole module runs in a few seconds.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from duckpond.errors import InvalidData, RemoteError, UsageError
from duckpond.hydrovu.client import (
    FriendlyNames,
    HydroVuClient,
    Location,
    _retry_after,
    column_name,
    sanitize_name,
)
from duckpond.testing.hydrovu_server import (
    B01_LOCATION_ID,
    JFK_LOCATION_ID,
    Device,
    HydroVuTestServer,
    default_devices,
)

DATA = Path(__file__).resolve().parents[2] / "data"
B01_CSV = DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv"
JFK_CSV = DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"
ID, SECRET = "test-client", "test-secret"
FAST = {"backoff_base": 0.001, "max_retries": 5, "timeout": 5.0}


@pytest.fixture(scope="module")
def devices() -> list[Device]:
    return default_devices(DATA)


@pytest.fixture
def server(devices: list[Device]) -> Iterator[HydroVuTestServer]:
    with HydroVuTestServer(devices, client_id=ID, client_secret=SECRET) as srv:
        yield srv


def make_client(srv: HydroVuTestServer, **kwargs: object) -> HydroVuClient:
    options: dict[str, object] = {**FAST, **kwargs}
    return HydroVuClient(srv.base_url, ID, SECRET, **options)  # type: ignore[arg-type]


def read_csv_us(path: Path) -> pa.Table:
    """The oracle: the CSV read by pyarrow, times as timestamp[us, UTC], values as float64."""
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={"Timestamp": pa.timestamp("us", tz="UTC")}
        ),
    )
    return pa.table(
        {
            name: table[name] if name == "Timestamp" else table[name].cast(pa.float64())
            for name in table.column_names
        }
    )


def fetch_all(client: HydroVuClient, location_id: int, scope: str, start_s: int = 0) -> pa.Table:
    names = client.friendly_names()
    return client.fetch_readings(location_id, start_s, names=names, scope=scope, max_points=None)


# -- token, names, locations ------------------------------------------------------------------


def test_token_is_fetched_once_and_reused(server: HydroVuTestServer) -> None:
    with make_client(server) as client:
        client.authenticate()
        assert server.request_count["token"] == 1
        client.friendly_names()
        client.locations()
        assert server.request_count["token"] == 1
        assert client.reauth_count == 0


def test_friendly_names(server: HydroVuTestServer) -> None:
    with make_client(server) as client:
        names = client.friendly_names()
    assert isinstance(names, FriendlyNames)
    assert names.parameters[server.parameter_id("Temperature")] == "Temperature"
    assert names.units[server.unit_id("C")] == "C"
    assert names.units[server.unit_id("m/s")] == "m/s"
    assert all(key.isdigit() for key in [*names.parameters, *names.units])
    table = names.to_arrow()
    assert table.column_names == ["kind", "id", "name"]
    assert table.num_rows == len(names.parameters) + len(names.units)


def test_locations_are_paged_and_typed(devices: list[Device]) -> None:
    with (
        HydroVuTestServer(devices, client_id=ID, client_secret=SECRET, page_size=1) as srv,
        make_client(srv) as client,
    ):
        locations = client.locations()
        assert srv.request_count["locations"] == 2  # one location per page
    assert [loc.id for loc in locations] == [B01_LOCATION_ID, JFK_LOCATION_ID]
    b01 = locations[0]
    assert b01.name == "B01"
    assert b01.latitude == pytest.approx(43.181)
    assert b01.longitude == pytest.approx(-70.427)
    table = Location.to_arrow(locations)
    assert table.schema.field("id").type == pa.int64()
    assert table.num_rows == 2


# -- readings -----------------------------------------------------------------------------------


def test_full_fetch_of_b01_equals_the_csv(server: HydroVuTestServer) -> None:
    with make_client(server) as client:
        table = fetch_all(client, B01_LOCATION_ID, "B01")
    expected = read_csv_us(B01_CSV)
    assert table.num_rows == 19225
    assert table.column_names == ["Timestamp", "B01.Temperature.C"]
    assert table.schema.field("Timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("B01.Temperature.C").type == pa.float64()
    assert table["Timestamp"].equals(expected["Timestamp"])
    assert table["B01.Temperature.C"].equals(expected["WaterTemperature.C"])


def test_full_fetch_of_jfk_equals_the_csv_with_nan_as_null(server: HydroVuTestServer) -> None:
    with make_client(server) as client:
        table = fetch_all(client, JFK_LOCATION_ID, "JFK")
    expected = read_csv_us(JFK_CSV)
    assert table.num_rows == expected.num_rows == 8706
    assert table["Timestamp"].equals(expected["Timestamp"])
    for name in expected.column_names[1:]:
        assert table[f"JFK.{name}"].equals(expected[name]), name
    assert table["JFK.WindGust.m_s"].null_count == 7199  # sparse by nature
    assert table["JFK.BarometricPressure.hPa"].null_count == 831


def test_paging_really_happens(devices: list[Device]) -> None:
    with (
        HydroVuTestServer(devices, client_id=ID, client_secret=SECRET, page_size=500) as srv,
        make_client(srv) as client,
    ):
        table = fetch_all(client, B01_LOCATION_ID, "B01")
        assert table.num_rows == 19225
        assert srv.request_count["data"] == -(-19225 // 500)  # 39 pages


def test_watermark_start_returns_only_later_rows(server: HydroVuTestServer) -> None:
    expected = read_csv_us(B01_CSV)
    middle_us = expected["Timestamp"][9612].value
    start_s = middle_us // 1_000_000 + 1  # the watermark: max event time + 1 s
    with make_client(server) as client:
        table = fetch_all(client, B01_LOCATION_ID, "B01", start_s=start_s)
    assert table.num_rows == 19225 - 9613
    assert table["Timestamp"].equals(expected["Timestamp"].slice(9613))
    assert table["B01.Temperature.C"].equals(expected["WaterTemperature.C"].slice(9613))


def test_end_time_is_inclusive(server: HydroVuTestServer) -> None:
    expected = read_csv_us(B01_CSV)
    end_s = expected["Timestamp"][99].value // 1_000_000
    with make_client(server) as client:
        names = client.friendly_names()
        table = client.fetch_readings(
            B01_LOCATION_ID, 0, names=names, scope="B01", max_points=None, end_time_s=end_s
        )
    assert table["Timestamp"].equals(expected["Timestamp"].slice(0, 100))


@pytest.fixture(scope="module")
def jfk_full(devices: list[Device]) -> pa.Table:
    """The whole JFK device, fetched once with the default page size."""
    with (
        HydroVuTestServer(devices, client_id=ID, client_secret=SECRET) as srv,
        make_client(srv) as client,
    ):
        return fetch_all(client, JFK_LOCATION_ID, "JFK")


@pytest.mark.parametrize(
    ("page_size", "max_points"), [(7, 20), (10, 20), (1000, 1), (250, 100_000)]
)
def test_max_points_cuts_at_whole_timestamps(
    devices: list[Device], jfk_full: pa.Table, page_size: int, max_points: int
) -> None:
    with (
        HydroVuTestServer(devices, client_id=ID, client_secret=SECRET, page_size=page_size) as srv,
        make_client(srv) as client,
    ):
        names = client.friendly_names()
        part = client.fetch_readings(
            JFK_LOCATION_ID, 0, names=names, scope="JFK", max_points=max_points
        )
        pages = srv.request_count["data"]
    want = min(max_points, jfk_full.num_rows)
    assert part.num_rows == want
    # every kept row is complete: exactly the first rows of the full fetch, all columns
    assert part.equals(jfk_full.slice(0, want).select(part.column_names))
    # it stopped fetching soon after the limit (at most one page beyond it)
    assert pages <= -(-max_points // page_size) + 1


def test_resuming_from_the_watermark_has_no_gap_and_no_duplicate(
    server: HydroVuTestServer,
) -> None:
    with make_client(server) as client:
        names = client.friendly_names()
        full = client.fetch_readings(JFK_LOCATION_ID, 0, names=names, scope="JFK", max_points=None)
        parts = []
        start_s = 0
        while True:
            part = client.fetch_readings(
                JFK_LOCATION_ID, start_s, names=names, scope="JFK", max_points=3000
            )
            if part.num_rows == 0:
                break
            parts.append(part)
            start_s = part["Timestamp"][-1].value // 1_000_000 + 1
    assert len(parts) == 3
    joined = pa.concat_tables(p.select(full.column_names) for p in parts)
    assert joined.equals(full)


def test_no_new_data_gives_an_empty_table(server: HydroVuTestServer) -> None:
    with make_client(server) as client:
        names = client.friendly_names()
        table = client.fetch_readings(
            B01_LOCATION_ID, 2_000_000_000, names=names, scope="B01", max_points=10
        )
    assert table.num_rows == 0
    assert table.schema == pa.schema([("Timestamp", pa.timestamp("us", tz="UTC"))])


def test_max_points_must_be_positive(server: HydroVuTestServer) -> None:
    with make_client(server) as client, pytest.raises(UsageError):
        client.fetch_readings(
            B01_LOCATION_ID, 0, names=FriendlyNames({}, {}), scope="B01", max_points=0
        )


# -- retries and faults -------------------------------------------------------------------------


def test_429_then_success(server: HydroVuTestServer) -> None:
    server.inject("429", 2)
    with make_client(server) as client:
        names = client.friendly_names()
        assert names.parameters
        assert client.retry_count == 2
    assert server.faults_served["429"] == 2
    assert server.request_count["friendlynames"] == 3


def test_retry_after_header_is_honoured(devices: list[Device]) -> None:
    with (
        HydroVuTestServer(devices, client_id=ID, client_secret=SECRET, retry_after_s=1) as srv,
        make_client(srv) as client,
    ):
        client.authenticate()
        srv.inject("429", 1)
        began = time.monotonic()
        client.friendly_names()
        elapsed = time.monotonic() - began
    assert elapsed >= 0.95  # backoff_base alone would have waited ~1 ms


def test_retry_after_parsing() -> None:
    import email.utils

    import httpx

    assert _retry_after(httpx.Headers({"Retry-After": "3"})) == 3.0
    assert _retry_after(httpx.Headers({"X-RateLimit-Reset": "2"})) == 2.0
    assert _retry_after(httpx.Headers({})) is None
    epoch = _retry_after(httpx.Headers({"X-RateLimit-Reset": str(int(time.time()) + 10)}))
    assert epoch is not None and 8 <= epoch <= 10
    date = email.utils.formatdate(time.time() + 20, usegmt=True)
    when = _retry_after(httpx.Headers({"Retry-After": date}))
    assert when is not None and 18 <= when <= 20
    assert _retry_after(httpx.Headers({"Retry-After": "-5"})) == 0.0


def test_500_twice_then_success(server: HydroVuTestServer) -> None:
    with make_client(server) as client:
        names = client.friendly_names()
        server.inject("500", 2)
        table = client.fetch_readings(B01_LOCATION_ID, 0, names=names, scope="B01", max_points=None)
        assert client.retry_count == 2
    assert table.num_rows == 19225
    assert server.faults_served["500"] == 2


def test_persistent_503_gives_remote_error_in_bounded_time(server: HydroVuTestServer) -> None:
    server.inject("503", 1000)
    began = time.monotonic()
    with make_client(server, max_retries=3) as client, pytest.raises(RemoteError) as info:
        client.friendly_names()
    assert time.monotonic() - began < 2.0
    assert server.request_count["friendlynames"] == 4  # 1 try + 3 retries
    message = str(info.value)
    assert "\n" not in message
    assert server.base_url + "v1/sispec/friendlynames" in message
    assert "503" in message
    assert "4 attempts" in message
    assert isinstance(info.value, OSError)


def test_slow_answer_times_out_and_is_retried(devices: list[Device]) -> None:
    with (
        HydroVuTestServer(devices, client_id=ID, client_secret=SECRET, slow_s=1.5) as srv,
        make_client(srv, timeout=0.25) as client,
    ):
        client.authenticate()
        srv.inject("slow", 1)
        began = time.monotonic()
        names = client.friendly_names()
        elapsed = time.monotonic() - began
        assert client.retry_count == 1
    assert names.parameters
    assert 0.2 <= elapsed < 1.4  # it gave up on the slow answer instead of waiting for it


def test_slow_forever_gives_remote_error(devices: list[Device]) -> None:
    with (
        HydroVuTestServer(devices, client_id=ID, client_secret=SECRET, slow_s=1.0) as srv,
        make_client(srv, timeout=0.1, max_retries=1) as client,
    ):
        client.authenticate()
        srv.inject("slow", 10)
        with pytest.raises(RemoteError, match="timed out"):
            client.friendly_names()


def test_bad_json_is_invalid_data(server: HydroVuTestServer) -> None:
    with make_client(server) as client:
        names = client.friendly_names()
        server.inject("badjson", 1)
        with pytest.raises(InvalidData, match="malformed JSON") as info:
            client.fetch_readings(B01_LOCATION_ID, 0, names=names, scope="B01", max_points=None)
    assert f"v1/locations/{B01_LOCATION_ID}/data" in str(info.value)


def test_401_mid_run_reauthenticates_and_succeeds(devices: list[Device]) -> None:
    with (
        HydroVuTestServer(devices, client_id=ID, client_secret=SECRET, page_size=2000) as srv,
        make_client(srv) as client,
    ):
        client.friendly_names()
        pages = client.iter_data_pages(B01_LOCATION_ID, 0)
        first = next(pages)
        srv.inject("401", 1)  # the token dies between two pages
        rest = list(pages)
        assert client.reauth_count == 1
        assert srv.request_count["token"] == 2
        assert client.retry_count == 0
    count = sum(len(p["parameters"][0]["readings"]) for p in [first, *rest])
    assert count == 19225


def test_401_after_a_fresh_token_is_remote_error(server: HydroVuTestServer) -> None:
    with make_client(server) as client:
        client.authenticate()
        server.inject("401", 2)
        with pytest.raises(RemoteError, match="authentication failed"):
            client.friendly_names()


def test_expired_token_is_renewed(devices: list[Device]) -> None:
    # expires_in 30 s is within the client's renewal margin: it renews before each call
    # instead of waiting for a 401
    with (
        HydroVuTestServer(devices, client_id=ID, client_secret=SECRET, token_ttl_s=30) as srv,
        make_client(srv) as client,
    ):
        client.friendly_names()
        client.friendly_names()
        assert srv.request_count["token"] == 2
        assert client.reauth_count == 1


def test_token_endpoint_errors_are_retried(server: HydroVuTestServer) -> None:
    server.inject("503", 2, target="token")
    with make_client(server) as client:
        client.friendly_names()
        assert client.retry_count == 2
    assert server.request_count["token"] == 3


def test_wrong_secret_is_authentication_failure(server: HydroVuTestServer) -> None:
    with (
        HydroVuClient(server.base_url, ID, "not-the-secret", **FAST) as client,  # type: ignore[arg-type]
        pytest.raises(RemoteError, match="authentication failed") as info,
    ):
        client.locations()
    assert "not-the-secret" not in str(info.value)
    assert "invalid_client" in str(info.value)
    assert server.request_count["token"] == 1  # not retried
    assert server.request_count["locations"] == 0


def test_unreachable_port_is_remote_error_quickly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    began = time.monotonic()
    with (
        HydroVuClient(f"http://127.0.0.1:{port}/public-api", ID, SECRET, **FAST) as client,  # type: ignore[arg-type]
        pytest.raises(RemoteError) as info,
    ):
        client.friendly_names()
    assert time.monotonic() - began < 2.0
    assert f"127.0.0.1:{port}/public-api/oauth/token" in str(info.value)
    assert "ConnectError" in str(info.value)


def test_unknown_location_is_remote_error(server: HydroVuTestServer) -> None:
    with make_client(server) as client, pytest.raises(RemoteError, match="404"):
        list(client.iter_data_pages(424242, 0))
    assert server.request_count["data"] == 1  # a 404 is not retried


def test_token_and_secret_are_never_logged(
    server: HydroVuTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.inject("429", 1)
    with make_client(server) as client:
        names = client.friendly_names()
        server.inject("401", 1)
        client.fetch_readings(B01_LOCATION_ID, 0, names=names, scope="B01", max_points=5)
        assert "secret" not in repr(client)
    tokens = server.issued_tokens
    assert len(tokens) == 2
    assert caplog.records  # something was logged...
    for secret in [SECRET, *tokens]:
        assert secret not in caplog.text  # ...but never a credential


# -- names and ids ------------------------------------------------------------------------------


def test_unknown_parameter_id_is_invalid_data(server: HydroVuTestServer) -> None:
    with make_client(server) as client:
        names = client.friendly_names()
        temperature = server.parameter_id("Temperature")
        partial = FriendlyNames(
            {k: v for k, v in names.parameters.items() if k != temperature}, names.units
        )
        with pytest.raises(InvalidData, match=f"unknown parameter id '{temperature}'"):
            client.fetch_readings(B01_LOCATION_ID, 0, names=partial, scope="B01", max_points=10)


def test_unknown_unit_id_is_invalid_data(server: HydroVuTestServer) -> None:
    with make_client(server) as client:
        names = client.friendly_names()
        c = server.unit_id("C")
        partial = FriendlyNames(names.parameters, {k: v for k, v in names.units.items() if k != c})
        with pytest.raises(InvalidData, match=f"unknown unit id '{c}'"):
            client.fetch_readings(B01_LOCATION_ID, 0, names=partial, scope="B01", max_points=10)


def test_custom_parameters_and_sanitized_names() -> None:
    device = Device.synthetic(
        7,
        "Pond",
        1_700_000_000,
        1_700_000_000 + 10 * 900,
        900,
        [("Dissolved Oxygen (concentration)", "mg/L"), ("Algae Index", "RFU")],
        custom={"Algae Index"},
    )
    with (
        HydroVuTestServer([device], client_id=ID, client_secret=SECRET) as srv,
        make_client(srv) as client,
    ):
        names = client.friendly_names()
        assert "Algae Index" not in names.parameters.values()  # custom: not in the catalogue
        table = client.fetch_readings(7, 0, names=names, scope="P1", max_points=None)
        algae = srv.parameter_id("Algae Index")
    assert table.column_names == [
        "Timestamp",
        "P1.Dissolved_Oxygen_(concentration).mg_L",
        f"P1.custom_{algae}.RFU",
    ]
    assert table.num_rows == 10
    assert table["Timestamp"][0].value == 1_700_000_000 * 1_000_000


def test_sanitize_and_column_name() -> None:
    assert sanitize_name("Dissolved Oxygen") == "Dissolved_Oxygen"
    assert sanitize_name("mg/L") == "mg_L"
    assert sanitize_name(" a . b ") == "a_b"
    assert sanitize_name("°C") == "°C"
    assert column_name("B01", "Temperature", "C") == "B01.Temperature.C"
    with pytest.raises(InvalidData):
        sanitize_name(" / ")


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        HydroVuClient("http://127.0.0.1:1/public-api/", ID, SECRET, max_retries=-1)
