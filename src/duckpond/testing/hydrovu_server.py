"""A HydroVu-compatible API server on loopback, serving real bundled readings.

Part of DuckPond's test and demo kit (:mod:`duckpond.testing`): the HydroVu collector and
:mod:`duckpond.hydrovu.client` are tested against this server over real HTTP instead of a mocked
client. It implements the subset of
``https://www.hydrovu.com/public-api/`` that docs/design.md ("HydroVu API, as used")
describes:

- ``POST oauth/token``: OAuth2 client credentials (form fields or HTTP Basic) ->
  ``{access_token, token_type: "Bearer", expires_in}``; wrong credentials -> 401
  ``{"error": "invalid_client"}``; another grant type -> 400 ``unsupported_grant_type``.
- ``GET v1/sispec/friendlynames`` -> ``{parameters: {id: name}, units: {id: name}}``.
- ``GET v1/locations/list`` -> ``[{id, name, description, gps: {latitude, longitude}}]``,
  ``page_size`` locations per page.
- ``GET v1/locations/{id}/data?startTime=<unix s>[&endTime=<unix s>]`` -> ``{locationId,
  parameters: [{parameterId, unitId, customParameter, readings: [{timestamp, value}]}]}`` for the
  readings with ``startTime <= timestamp <= endTime`` (seconds since the epoch, UTC), ``page_size``
  timestamps per page, ascending. A timestamp is never split between pages. A parameter appears in
  a page only if it has a reading there; missing values (NaN/empty CSV cells) are absent readings.
- Paging: when more follows, the response carries an opaque ``x-isi-next-page`` header; the client
  sends it back as ``x-isi-start-page``.
- API calls without a valid, unexpired ``Authorization: Bearer`` token -> 401.

Parameter and unit ids are strings of digits. Names in a built-in catalogue (the In-Situ
parameters and units DuckPond's data use) have fixed small ids; any other name gets
``100000 + crc32(name) % 900000``, so ids are stable across runs and across device lists.
Custom parameters (``Series.custom``) are reported with ``customParameter: true`` and are left out
of the friendly-names catalogue, as HydroVu does for user-defined parameters.

Fault injection (:meth:`HydroVuTestServer.inject`) makes the next *n* matching requests fail in
one of these ways: ``"429"`` (with ``Retry-After`` and ``X-RateLimit-Reset`` set to
``retry_after_s``), ``"500"``, ``"503"``, ``"slow"`` (the answer is delayed by ``slow_s`` seconds,
longer than a test client's timeout), ``"badjson"`` (200 with a truncated JSON body) and ``"401"``
(401, and the token the request carried is revoked as if it had expired).

Run it by hand (``--help`` for options)::

    python -m duckpond.testing.hydrovu_server --port 8765

The readings it serves by default ship with the package (``duckpond/testing/data/*.csv.gz``, gzip
copies of the repository's ``data/`` sets, written by ``scripts/make_testing_data.py``), so it runs
from a wheel install in any directory; ``--data-dir DIR`` serves another copy of the two sets.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import contextlib
import csv
import gzip
import itertools
import json
import logging
import math
import os
import random
import re
import secrets
import sys
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from duckpond.errors import InvalidData, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "B01_LOCATION_ID",
    "DATA_SETS",
    "FAULT_KINDS",
    "JFK_LOCATION_ID",
    "Device",
    "HydroVuTestServer",
    "Series",
    "data_file",
    "default_devices",
    "main",
]

log = logging.getLogger("duckpond.testing.hydrovu_server")

FAULT_KINDS = frozenset({"429", "500", "503", "slow", "badjson", "401"})
"""The kinds of failure :meth:`HydroVuTestServer.inject` can inject."""

B01_LOCATION_ID = 1001
"""Location id of the NERACOOS buoy B01 device in :func:`default_devices`."""
JFK_LOCATION_ID = 1002
"""Location id of the JFK airport weather device in :func:`default_devices`."""

PREFIX = "/public-api/"

# The built-in catalogue: names with fixed ids (ids are positions, from 1). Only append.
_PARAMETERS = (
    "Temperature",
    "Pressure",
    "Depth",
    "Level",
    "Actual Conductivity",
    "Specific Conductivity",
    "Salinity",
    "Total Dissolved Solids",
    "pH",
    "ORP",
    "Dissolved Oxygen (concentration)",
    "Dissolved Oxygen (% saturation)",
    "Turbidity",
    "Chlorophyll-a Fluorescence",
    "Battery Level",
    "AirTemperature",
    "DewPoint",
    "RelativeHumidity",
    "WindDirection",
    "WindSpeed",
    "WindGust",
    "Precipitation",
    "BarometricPressure",
    "Visibility",
)
_UNITS = (
    "C",
    "F",
    "psi",
    "kPa",
    "hPa",
    "mbar",
    "m",
    "ft",
    "mm",
    "km",
    "µS/cm",
    "mS/cm",
    "PSU",
    "ppt",
    "mg/L",
    "% sat",
    "pH",
    "mV",
    "NTU",
    "RFU",
    "µg/L",
    "%",
    "pct",
    "V",
    "deg",
    "m/s",
)


# ---------------------------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One parameter of a device: a value (or ``None``, no reading) per device timestamp.

    Attributes:
        parameter: the parameter's friendly name, e.g. ``"Temperature"``.
        unit: the unit's friendly name, e.g. ``"C"``.
        values: one entry per :attr:`Device.timestamps` entry; ``None`` means no reading.
        custom: a user-defined parameter: ``customParameter: true`` and not in the catalogue.
    """

    parameter: str
    unit: str
    values: tuple[float | None, ...]
    custom: bool = False


@dataclass(frozen=True)
class Device:
    """A HydroVu location with its readings.

    Attributes:
        location_id: the HydroVu location id.
        name: the location name.
        timestamps: reading times in whole seconds since the Unix epoch (UTC), ascending, unique.
        series: the parameters, each aligned with ``timestamps``.
        description: free text for ``v1/locations/list``.
        latitude: decimal degrees north, or ``None``.
        longitude: decimal degrees east, or ``None``.
    """

    location_id: int
    name: str
    timestamps: tuple[int, ...]
    series: tuple[Series, ...]
    description: str = ""
    latitude: float | None = None
    longitude: float | None = None

    def __post_init__(self) -> None:
        for s in self.series:
            if len(s.values) != len(self.timestamps):
                raise UsageError(
                    f"device {self.name}: series {s.parameter}.{s.unit} has {len(s.values)} "
                    f"values for {len(self.timestamps)} timestamps"
                )
        if any(b <= a for a, b in itertools.pairwise(self.timestamps)):
            raise UsageError(f"device {self.name}: timestamps must be ascending and unique")

    @property
    def reading_count(self) -> int:
        """Number of readings (non-missing values) over all series."""
        return sum(v is not None for s in self.series for v in s.values)

    @classmethod
    def from_csv(
        cls,
        location_id: int,
        name: str,
        csv_path: str | os.PathLike[str],
        columns: Mapping[str, tuple[str, str]] | None = None,
        *,
        time_column: str = "Timestamp",
        description: str = "",
        latitude: float | None = None,
        longitude: float | None = None,
    ) -> Device:
        """A device serving the readings of a wide CSV file.

        Args:
            location_id: the HydroVu location id to serve it as.
            name: the location name.
            csv_path: a CSV with a header row, an ISO-8601 time column and value columns
                (gzip-compressed if the name ends ``.gz``). Times must be whole seconds; an
                offset (``Z``, ``+01:00``) is honoured and a time without one is taken as UTC.
            columns: CSV column -> (parameter name, unit name) for the columns to serve, in
                order. ``None`` serves every other column, splitting its name at the last ``.``
                (``"WaterTemperature.C"`` -> ``("WaterTemperature", "C")``).
            time_column: the name of the time column.
            description: location description.
            latitude: decimal degrees north.
            longitude: decimal degrees east.

        Empty cells and ``NaN`` are missing readings. Rows are sorted by time.

        Raises:
            InvalidData: a bad time or number, a duplicate time, or a missing column.
        """
        path = Path(csv_path)
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                raise InvalidData("empty CSV file", str(path)) from None
            if time_column not in header:
                raise InvalidData(f"no time column {time_column!r}", str(path))
            if columns is None:
                columns = {col: _split_column(col, path) for col in header if col != time_column}
            missing = [col for col in columns if col not in header]
            if missing:
                raise InvalidData(f"no column {missing[0]!r}", str(path))
            t_idx = header.index(time_column)
            idxs = [header.index(col) for col in columns]
            rows: list[tuple[int, list[float | None]]] = []
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                ts = _parse_time(row[t_idx], path, line_no)
                rows.append((ts, [_parse_value(row[i], path, line_no) for i in idxs]))
        rows.sort(key=lambda r: r[0])
        for (a, _), (b, _) in itertools.pairwise(rows):
            if a == b:
                raise InvalidData(f"duplicate time {_iso(a)}", str(path))
        timestamps = tuple(r[0] for r in rows)
        series = tuple(
            Series(param, unit, tuple(r[1][k] for r in rows))
            for k, (param, unit) in enumerate(columns.values())
        )
        return cls(location_id, name, timestamps, series, description, latitude, longitude)

    @classmethod
    def synthetic(
        cls,
        location_id: int,
        name: str,
        start_s: int,
        end_s: int,
        step_s: int,
        params: Sequence[tuple[str, str]],
        *,
        seed: int = 0,
        custom: Collection[str] = (),
        description: str = "",
        latitude: float | None = None,
        longitude: float | None = None,
    ) -> Device:
        """A device with deterministic synthetic readings, for benchmarks and edge cases.

        Parameter *k* has the value ``10 + 5k + 4 sin(2π t / 1 day + k) + 2 sin(2π t / 365.25
        days) + N(0, 0.1)``, rounded to 0.001, where the noise comes from a generator seeded by
        ``(seed, location_id, k)``: the same arguments always give the same readings.

        Args:
            location_id: the HydroVu location id.
            name: the location name.
            start_s: first timestamp, seconds since the Unix epoch (UTC), inclusive.
            end_s: end, seconds since the epoch (UTC), exclusive.
            step_s: seconds between readings (> 0), e.g. 900 for 15 minutes.
            params: (parameter name, unit name) per parameter.
            seed: varies the noise.
            custom: parameter names to report as custom (user-defined) parameters.
            description: location description.
            latitude: decimal degrees north.
            longitude: decimal degrees east.
        """
        if step_s <= 0:
            raise UsageError(f"step_s must be > 0, not {step_s}")
        timestamps = tuple(range(int(start_s), int(end_s), int(step_s)))
        day = 86_400.0
        year = 365.25 * day
        series = []
        for k, (param, unit) in enumerate(params):
            rng = random.Random(f"{seed}:{location_id}:{k}")
            values = tuple(
                round(
                    10
                    + 5 * k
                    + 4 * math.sin(2 * math.pi * t / day + k)
                    + 2 * math.sin(2 * math.pi * t / year)
                    + rng.gauss(0.0, 0.1),
                    3,
                )
                for t in timestamps
            )
            series.append(Series(param, unit, values, custom=param in custom))
        return cls(location_id, name, timestamps, tuple(series), description, latitude, longitude)


DATA_SETS: tuple[str, ...] = ("neracoos_b01_water_temperature_30min", "jfk_weather_2013_hourly")
"""The two bundled data sets the default devices serve."""


def data_file(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The CSV of bundled data set ``name``.

    Args:
        name: one of :data:`DATA_SETS`.
        data_dir: ``None`` for the copy shipped in this package (``duckpond/testing/data``), or a
            folder holding ``<name>/<name>.csv`` (the repository's ``data/``), ``<name>.csv`` or
            ``<name>.csv.gz``.

    Raises:
        NotFound: the folder holds none of these.
    """
    from duckpond.errors import NotFound

    if data_dir is None:
        from importlib.resources import files

        packaged = files("duckpond.testing") / "data" / f"{name}.csv.gz"
        return Path(str(packaged))
    root = Path(data_dir)
    for candidate in (root / name / f"{name}.csv", root / f"{name}.csv", root / f"{name}.csv.gz"):
        if candidate.is_file():
            return candidate
    raise NotFound(f"no {name}.csv (nor {name}/{name}.csv, {name}.csv.gz) in it", str(root))


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[Any]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", newline="", encoding="utf-8") as fh:
            yield fh
    else:
        with open(path, newline="", encoding="utf-8") as fh:
            yield fh


def default_devices(data_dir: str | os.PathLike[str] | None = None) -> list[Device]:
    """The two real devices built from DuckPond's bundled data sets.

    - B01 (location :data:`B01_LOCATION_ID`): NERACOOS buoy B01, Gulf of Maine, sea water
      temperature every 30 min, 2016-02-15 .. 2017-03-22, 19,225 readings of
      ``Temperature`` in ``C`` (from ``neracoos_b01_water_temperature_30min``).
    - JFK (location :data:`JFK_LOCATION_ID`): hourly ASOS weather at JFK airport, 2013, ten
      parameters (from ``jfk_weather_2013_hourly``); NaN cells are absent readings.

    Parameter and unit names are those of the CSV column names (``WindSpeed.m_s`` is served as
    unit ``m/s``), so the client's ``<scope>.<parameter>.<unit>`` columns with scope ``B01``/``JFK``
    come back as ``B01.Temperature.C`` and ``JFK.<CSV column>``.

    Args:
        data_dir: where the two data sets are (:func:`data_file`); ``None``: the copies shipped
            in this package.
    """
    b01 = Device.from_csv(
        B01_LOCATION_ID,
        "B01",
        data_file(DATA_SETS[0], data_dir),
        {"WaterTemperature.C": ("Temperature", "C")},
        description="NERACOOS buoy B01, Western Maine Shelf: SBE37 water temperature",
        latitude=43.181,
        longitude=-70.427,
    )
    jfk_csv = data_file(DATA_SETS[1], data_dir)
    with _open_text(jfk_csv) as fh:
        header = next(csv.reader(fh))
    jfk_columns = {}
    for col in header[1:]:
        param, unit = _split_column(col, jfk_csv)
        jfk_columns[col] = (param, "m/s" if unit == "m_s" else unit)
    jfk = Device.from_csv(
        JFK_LOCATION_ID,
        "JFK",
        jfk_csv,
        jfk_columns,
        description="ASOS station KJFK, John F. Kennedy International Airport: hourly weather",
        latitude=40.6398,
        longitude=-73.7789,
    )
    return [b01, jfk]


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    kind: str
    remaining: int
    target: str


@dataclass
class _DeviceIndex:
    device: Device
    # per series: (parameterId, unitId, custom)
    ids: list[tuple[str, str, bool]] = field(default_factory=list)


class HydroVuTestServer:
    """A HydroVu-compatible HTTP server on loopback, in a background thread.

    Use it as a context manager; :attr:`base_url` is ready inside the ``with`` block::

        with HydroVuTestServer(default_devices(data_dir)) as server:
            with HydroVuClient(server.base_url, "test-client", "test-secret") as hv:
                ...

    Args:
        devices: the locations to serve (location ids must be unique).
        client_id: the OAuth2 client id the token endpoint accepts.
        client_secret: the matching secret.
        page_size: timestamps per data page, and locations per ``v1/locations/list`` page.
        host: the address to listen on (loopback by default).
        port: the port; 0 picks a free one.
        token_ttl_s: the lifetime of issued tokens in seconds (``expires_in``).
        slow_s: how long a ``"slow"`` fault delays its answer, in seconds.
        retry_after_s: the ``Retry-After`` / ``X-RateLimit-Reset`` value (seconds) of a ``"429"``.

    Raises:
        UsageError: duplicate location ids, a bad page size, or an id collision in the catalogue.
    """

    def __init__(
        self,
        devices: Sequence[Device],
        *,
        client_id: str = "test-client",
        client_secret: str = "test-secret",
        page_size: int = 1000,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl_s: float = 3600.0,
        slow_s: float = 2.0,
        retry_after_s: int = 0,
    ) -> None:
        if page_size < 1:
            raise UsageError(f"page_size must be >= 1, not {page_size}")
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.token_ttl_s = token_ttl_s
        self.slow_s = slow_s
        self.retry_after_s = retry_after_s
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._issued: list[str] = []
        self._faults: deque[_Fault] = deque()
        self._requests: Counter[str] = Counter()
        self._faults_served: Counter[str] = Counter()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

        self.parameters: dict[str, str] = {}
        """The friendly-names catalogue served: parameter id -> name (custom ones excluded)."""
        self.units: dict[str, str] = {}
        """The friendly-names catalogue served: unit id -> name."""
        self._devices: dict[int, _DeviceIndex] = {}
        for device in devices:
            if device.location_id in self._devices:
                raise UsageError(f"duplicate location id {device.location_id}")
            index = _DeviceIndex(device)
            for s in device.series:
                pid = _catalogue_id(s.parameter, _PARAMETERS)
                uid = _catalogue_id(s.unit, _UNITS)
                if not s.custom:
                    self._register(self.parameters, pid, s.parameter)
                self._register(self.units, uid, s.unit)
                index.ids.append((pid, uid, s.custom))
            self._devices[device.location_id] = index

    @staticmethod
    def _register(table: dict[str, str], key: str, name: str) -> None:
        if table.setdefault(key, name) != name:
            raise UsageError(f"catalogue id {key} collides: {table[key]!r} and {name!r}")

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> HydroVuTestServer:
        """Bind and start serving in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.state = self
        self._httpd = httpd
        self._stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"hydrovu-test-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; delayed (``"slow"``) answers are abandoned."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> HydroVuTestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for the command line)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    # -- introspection --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (valid once started)."""
        if self._httpd is None:
            return self._port
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The API root, ``http://<host>:<port>/public-api/`` (valid once started)."""
        return f"http://{self._host}:{self.port}{PREFIX}"

    @property
    def request_count(self) -> Counter[str]:
        """Requests received so far by kind, faulted ones included: ``"token"``,
        ``"friendlynames"``, ``"locations"``, ``"data"`` and ``"other"``. A copy;
        ``.total()`` is the sum."""
        with self._lock:
            return Counter(self._requests)

    @property
    def faults_served(self) -> Counter[str]:
        """Injected faults answered so far, by kind. A copy."""
        with self._lock:
            return Counter(self._faults_served)

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token issued so far, oldest first (for tests that check leaks)."""
        with self._lock:
            return list(self._issued)

    @property
    def devices(self) -> list[Device]:
        """The devices served, in the order given."""
        return [index.device for index in self._devices.values()]

    def parameter_id(self, name: str) -> str:
        """The id the server uses for parameter ``name`` (custom parameters included)."""
        return _catalogue_id(name, _PARAMETERS)

    def unit_id(self, name: str) -> str:
        """The id the server uses for unit ``name``."""
        return _catalogue_id(name, _UNITS)

    # -- fault injection ------------------------------------------------------------------------

    def inject(
        self, kind: str, count: int = 1, *, target: Literal["api", "token", "any"] = "api"
    ) -> None:
        """Make the next ``count`` matching requests fail with ``kind``.

        Args:
            kind: one of :data:`FAULT_KINDS`: ``"429"``, ``"500"``, ``"503"``, ``"slow"``,
                ``"badjson"``, ``"401"``.
            count: how many requests it affects.
            target: which requests: ``"api"`` (the ``v1/...`` calls, the default), ``"token"``
                (the token endpoint) or ``"any"``.

        Faults queue up in the order injected: ``inject("500", 2); inject("429")`` fails the
        next two matching requests with 500 and the third with 429.
        """
        if kind not in FAULT_KINDS:
            raise UsageError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if target not in ("api", "token", "any"):
            raise UsageError(f"unknown fault target {target!r}")
        if count > 0:
            with self._lock:
                self._faults.append(_Fault(kind, count, target))

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

    def revoke_tokens(self) -> None:
        """Invalidate every issued token, as if they had all expired."""
        with self._lock:
            self._tokens.clear()

    # -- request handling (called from handler threads) -----------------------------------------

    def _take_fault(self, kind_of_request: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                if fault.target == "any" or fault.target == kind_of_request:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    self._faults_served[fault.kind] += 1
                    return fault.kind
        return None

    def _count(self, kind: str) -> None:
        with self._lock:
            self._requests[kind] += 1

    def _issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_s
            self._issued.append(token)
        return token

    def _token_valid(self, token: str | None) -> bool:
        if token is None:
            return False
        with self._lock:
            expiry = self._tokens.get(token)
            if expiry is None:
                return False
            if time.monotonic() >= expiry:
                del self._tokens[token]
                return False
            return True

    def _revoke(self, token: str | None) -> None:
        if token is not None:
            with self._lock:
                self._tokens.pop(token, None)

    def _locations_page(self, start: int) -> tuple[list[dict[str, Any]], int | None]:
        indexes = list(self._devices.values())
        stop = start + self.page_size
        page = [
            {
                "id": idx.device.location_id,
                "name": idx.device.name,
                "description": idx.device.description,
                "gps": {"latitude": idx.device.latitude, "longitude": idx.device.longitude},
            }
            for idx in indexes[start:stop]
        ]
        return page, (stop if stop < len(indexes) else None)

    def _data_page(
        self, location_id: int, start_s: int, end_s: int | None
    ) -> tuple[dict[str, Any], int | None] | None:
        """One data page from ``start_s``; returns (body, next start time) or None if unknown."""
        index = self._devices.get(location_id)
        if index is None:
            return None
        device = index.device
        ts = device.timestamps
        lo = bisect.bisect_left(ts, start_s)
        end = len(ts) if end_s is None else bisect.bisect_right(ts, end_s)
        hi = min(lo + self.page_size, end)
        parameters = []
        for s, (pid, uid, custom) in zip(device.series, index.ids, strict=True):
            values = s.values
            readings = [
                {"timestamp": ts[i], "value": values[i]}
                for i in range(lo, hi)
                if values[i] is not None
            ]
            if readings:
                parameters.append(
                    {
                        "parameterId": pid,
                        "unitId": uid,
                        "customParameter": custom,
                        "readings": readings,
                    }
                )
        body = {"locationId": location_id, "parameters": parameters}
        return body, (ts[hi] if hi < end else None)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: HydroVuTestServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return  # the client went away (e.g. it timed out on a "slow" answer)
        log.exception("HydroVu test server: error handling a request from %s", client_address)


_DATA_PATH = re.compile(r"v1/locations/(\d+)/data")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HydroVuTestServer/1"
    timeout = 10  # seconds an idle keep-alive connection is kept
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # -- plumbing -------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._safely(self._get)

    def do_POST(self) -> None:
        self._safely(self._post)

    def _safely(self, handler: Any) -> None:
        try:
            handler()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _send(
        self,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
        *,
        raw: bytes | None = None,
    ) -> None:
        data = raw if raw is not None else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, {"message": message}, headers)

    def _route(self) -> tuple[str, str, dict[str, list[str]]]:
        split = urlsplit(self.path)
        if not split.path.startswith(PREFIX):
            return "other", split.path, {}
        rest = split.path[len(PREFIX) :]
        query = parse_qs(split.query)
        if rest == "oauth/token":
            return "token", rest, query
        if rest == "v1/sispec/friendlynames":
            return "friendlynames", rest, query
        if rest == "v1/locations/list":
            return "locations", rest, query
        if _DATA_PATH.fullmatch(rest):
            return "data", rest, query
        return "other", rest, query

    def _apply_fault(self, target: str) -> bool:
        """Answer an injected fault if one is due; True if the request is finished."""
        state = self.server.state
        kind = state._take_fault(target)
        if kind is None:
            return False
        if kind == "slow":
            if state._stopping.wait(state.slow_s):
                self.close_connection = True
                return True
            return False  # then answer normally, too late for a client with a short timeout
        if kind == "429":
            wait = str(state.retry_after_s)
            headers = {
                "Retry-After": wait,
                "X-RateLimit-Limit": "1",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": wait,
            }
            self._error(429, "Too Many Requests", headers)
        elif kind in ("500", "503"):
            status = int(kind)
            self._error(status, HTTPStatus(status).phrase)
        elif kind == "badjson":
            self._send(200, None, raw=b'{"locationId": 1, "parameters": [{"parameterId": "1", ')
        elif kind == "401":
            state._revoke(self._bearer())
            self._error(401, "token expired", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return True

    def _bearer(self) -> str | None:
        value = self.headers.get("Authorization", "")
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    # -- endpoints ------------------------------------------------------------------------------

    def _post(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        kind, _, _ = self._route()
        state = self.server.state
        state._count(kind)
        if kind != "token":
            self._error(404, "not found")
            return
        if self._apply_fault("token"):
            return
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = self.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(basic[6:].strip()).decode()
                client_id, _, client_secret = decoded.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = client_secret = None
        if form.get("grant_type") != "client_credentials":
            self._send(400, {"error": "unsupported_grant_type"})
            return
        if client_id != state.client_id or client_secret != state.client_secret:
            self._send(
                401,
                {"error": "invalid_client", "error_description": "Bad client credentials"},
            )
            return
        token = state._issue_token()
        self._send(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": int(state.token_ttl_s),
                "scope": form.get("scope", "read:locations read:data"),
            },
            {"Cache-Control": "no-store"},
        )

    def _get(self) -> None:
        kind, rest, query = self._route()
        state = self.server.state
        state._count(kind)
        if kind in ("other", "token"):
            self._error(404 if kind == "other" else 405, "not found")
            return
        if self._apply_fault("api"):
            return
        if not state._token_valid(self._bearer()):
            self._error(401, "Unauthorized", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return
        if kind == "friendlynames":
            self._send(200, {"parameters": state.parameters, "units": state.units})
            return
        start_page = self.headers.get("x-isi-start-page")
        if kind == "locations":
            start = _decode_page(start_page, "loc") if start_page else 0
            if start is None:
                self._error(400, "invalid x-isi-start-page")
                return
            page, nxt = state._locations_page(start)
            self._send(200, page, _next_header("loc", nxt))
            return
        match = _DATA_PATH.fullmatch(rest)
        assert match is not None
        location_id = int(match.group(1))
        try:
            start_s = int(query["startTime"][0])
            end_s = int(query["endTime"][0]) if "endTime" in query else None
        except (KeyError, ValueError):
            self._error(400, "startTime (unix seconds) is required; endTime is optional")
            return
        if start_page:
            resume = _decode_page(start_page, f"data{location_id}")
            if resume is None:
                self._error(400, "invalid x-isi-start-page")
                return
            start_s = max(start_s, resume)
        result = state._data_page(location_id, start_s, end_s)
        if result is None:
            self._error(404, f"location {location_id} not found")
            return
        body, nxt = result
        self._send(200, body, _next_header(f"data{location_id}", nxt))


def _next_header(scope: str, value: int | None) -> dict[str, str]:
    if value is None:
        return {}
    token = base64.urlsafe_b64encode(f"{scope}:{value}".encode()).decode().rstrip("=")
    return {"x-isi-next-page": token}


def _decode_page(token: str, scope: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        got_scope, _, value = text.partition(":")
        return int(value) if got_scope == scope else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _catalogue_id(name: str, builtin: Sequence[str]) -> str:
    try:
        return str(builtin.index(name) + 1)
    except ValueError:
        return str(100_000 + zlib.crc32(name.encode()) % 900_000)


def _split_column(column: str, path: Path) -> tuple[str, str]:
    param, dot, unit = column.rpartition(".")
    if not dot or not param or not unit:
        raise InvalidData(
            f"column {column!r} is not <parameter>.<unit>; pass columns= explicitly", str(path)
        )
    return param, unit


def _parse_time(text: str, path: Path, line_no: int) -> int:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidData(f"line {line_no}: bad time {text!r}", str(path)) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = when.timestamp()
    if seconds != int(seconds):
        raise InvalidData(f"line {line_no}: time {text!r} is not whole seconds", str(path))
    return int(seconds)


def _parse_value(text: str, path: Path, line_no: int) -> float | None:
    text = text.strip()
    if not text or text.lower() == "nan":
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidData(f"line {line_no}: bad number {text!r}", str(path)) from None
    return None if math.isnan(value) else value


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the test server in the foreground with :func:`default_devices` until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m duckpond.testing.hydrovu_server",
        description="A HydroVu-compatible API server on loopback serving DuckPond's bundled "
        "B01 buoy and JFK weather readings.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder holding the two data sets (<name>/<name>.csv, as the repository's data/; "
        "default: the copies shipped in the package)",
    )
    parser.add_argument("--page-size", type=int, default=1000, help="timestamps per data page")
    parser.add_argument("--client-id", default="test-client")
    parser.add_argument("--client-secret", default="test-secret")
    args = parser.parse_args(argv)
    data_dir = args.data_dir
    try:
        devices = default_devices(data_dir)
    except OSError as exc:
        where = data_dir or "the package"
        print(f"error: cannot read the data sets in {where}: {exc}", file=sys.stderr)
        return 2
    except (InvalidData, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = HydroVuTestServer(
        devices,
        client_id=args.client_id,
        client_secret=args.client_secret,
        page_size=args.page_size,
        host=args.host,
        port=args.port,
    )
    server.start()
    print(f"base_url: {server.base_url}", flush=True)
    print(f"client_id: {server.client_id}", flush=True)
    print(f"client_secret: {server.client_secret}", flush=True)
    for device in server.devices:
        print(
            f"location {device.location_id}: {device.name} ({len(device.timestamps)} timestamps, "
            f"{device.reading_count} readings)",
            flush=True,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
