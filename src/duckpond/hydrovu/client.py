"""A robust client for the HydroVu (In-Situ cloud) public API.

The API (``https://www.hydrovu.com/public-api/``, as docs/design.md, "HydroVu API,
as used" records it):

- ``POST oauth/token``: OAuth2 client credentials (form fields ``grant_type=client_credentials``,
  ``client_id``, ``client_secret``, ``scope="read:locations read:data"``) ->
  ``{access_token, token_type, expires_in}``. Every other call sends
  ``Authorization: Bearer <token>``.
- ``GET v1/sispec/friendlynames`` -> ``{parameters: {id: name}, units: {id: name}}``; ids are
  strings.
- ``GET v1/locations/list`` -> ``[{id, name, description, gps: {latitude, longitude}}]``, paged.
- ``GET v1/locations/{id}/data?startTime=<unix s>[&endTime=<unix s>]`` ->
  ``{locationId, parameters: [{parameterId, unitId, customParameter,
  readings: [{timestamp (unix s), value}]}]}``, paged.
- Paging: a response that has more pages carries the header ``x-isi-next-page``; the client sends
  its value back as the request header ``x-isi-start-page`` and stops when a response has none.

Times: the API speaks whole **seconds** since the Unix epoch (UTC). Everything this module returns
to the pond is ``timestamp[us, tz=UTC]`` (docs/design.md: "Naming and times").

Robustness (issue 6):

- 429, 5xx, timeouts and connection errors are retried with exponential backoff
  (``backoff_base * 2**(n-1)`` seconds plus up to ``backoff_base`` of jitter), at most
  ``max_retries`` times. A ``Retry-After`` header (seconds or an HTTP date) or an
  ``X-RateLimit-Reset`` header (seconds to wait, or a Unix time in seconds when it is larger than
  10^9) replaces the computed wait; every wait is capped at ``max_wait`` seconds. When the retries
  are used up the call raises :class:`~duckpond.errors.RemoteError` naming the URL and the last
  cause, in one line.
- A 401 on an API call fetches a new token once and repeats the call at once; a second 401 is a
  :class:`~duckpond.errors.RemoteError`. The token is also renewed shortly before ``expires_in``.
- The token endpoint answering 400 or 401 (bad client id or secret) is
  ``RemoteError("authentication failed ...")`` and is never retried.
- Any other 4xx is a :class:`~duckpond.errors.RemoteError` at once (it would not get better).
- A body that is not JSON, or JSON of the wrong shape, is :class:`~duckpond.errors.InvalidData`
  (not retried: a server that sends garbage once usually sends it again).
- The token and the client secret are never logged and never appear in an error message.

Column naming (:func:`column_name`): ``<scope>.<parameter>.<unit>``, e.g. ``B01.Temperature.C``.
Parameter and unit names from the API contain spaces, slashes and sometimes dots
("Dissolved Oxygen", "mg/L"); :func:`sanitize_name` replaces every run of whitespace, ``.`` and
``/`` with a single ``_`` and strips ``_`` at both ends ("Dissolved_Oxygen", "mg_L"), so that a
column name always has exactly the three dot-separated parts and needs no quoting beyond what SQL
needs for the dots. Other characters (``°``, ``µ``, ``%``) are kept.

Custom parameters: HydroVu lets users define their own parameters, whose ids are not in the
friendly-names catalogue. A ``customParameter: true`` entry whose parameter id is unknown is named
``custom_<id>``, and its unit, if unknown, ``unit_<id>``. For a standard parameter an unknown
parameter or unit id is :class:`~duckpond.errors.InvalidData` naming the id: the catalogue is
stale or the data is corrupt, and guessing a name would fork the column forever.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import pyarrow as pa
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from duckpond.errors import InvalidData, RemoteError, UsageError
from duckpond.formats.names import sanitize_name

__all__ = [
    "DEFAULT_BASE_URL",
    "SCOPES",
    "FriendlyNames",
    "HydroVuClient",
    "Location",
    "column_name",
    "sanitize_name",
]

log = logging.getLogger("duckpond.hydrovu")

DEFAULT_BASE_URL = "https://www.hydrovu.com/public-api/"
"""The production API root. Paths in this module are relative to it."""

SCOPES = "read:locations read:data"
"""The OAuth2 scopes the client asks for (space-separated, as OAuth2 wants)."""

NEXT_PAGE_HEADER = "x-isi-next-page"
START_PAGE_HEADER = "x-isi-start-page"

_US_PER_S = 1_000_000
_TOKEN_RENEW_MARGIN_S = 30.0  # renew the token this long before the server says it expires
_EPOCH_THRESHOLD = 1_000_000_000  # X-RateLimit-Reset above this is a Unix time, not a delta


# ---------------------------------------------------------------------------------------------
# Typed records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FriendlyNames:
    """The id -> name catalogue of ``GET v1/sispec/friendlynames``.

    Attributes:
        parameters: parameter id (a string of digits, as the API sends it) -> name,
            e.g. ``{"1": "Temperature"}``.
        units: unit id -> name, e.g. ``{"1": "C"}``.
    """

    parameters: dict[str, str]
    units: dict[str, str]

    def to_arrow(self) -> pa.Table:
        """The catalogue as one table, for keeping it in the pond.

        Returns:
            Schema ``kind: string ("parameter" | "unit"), id: string, name: string``, parameters
            first, each kind sorted by numeric id (ids that are not numbers last, by text).
        """
        kinds: list[str] = []
        ids: list[str] = []
        names: list[str] = []
        for kind, mapping in (("parameter", self.parameters), ("unit", self.units)):
            for key in sorted(mapping, key=_id_sort_key):
                kinds.append(kind)
                ids.append(key)
                names.append(mapping[key])
        return pa.table(
            {
                "kind": pa.array(kinds, pa.string()),
                "id": pa.array(ids, pa.string()),
                "name": pa.array(names, pa.string()),
            }
        )


@dataclass(frozen=True)
class Location:
    """One HydroVu location (a device site) from ``GET v1/locations/list``.

    Attributes:
        id: the location id, used in ``v1/locations/{id}/data``.
        name: the location's name in HydroVu.
        description: free text ("" when the API sends none).
        latitude: decimal degrees north (WGS 84), or ``None`` when the location has no GPS fix.
        longitude: decimal degrees east (WGS 84), or ``None``.
    """

    id: int
    name: str
    description: str
    latitude: float | None
    longitude: float | None

    @staticmethod
    def to_arrow(locations: list[Location]) -> pa.Table:
        """Locations as a table, for keeping them in the pond.

        Returns:
            Schema ``id: int64, name: string, description: string, latitude: float64,
            longitude: float64`` (coordinates nullable), in the given order.
        """
        return pa.table(
            {
                "id": pa.array([loc.id for loc in locations], pa.int64()),
                "name": pa.array([loc.name for loc in locations], pa.string()),
                "description": pa.array([loc.description for loc in locations], pa.string()),
                "latitude": pa.array([loc.latitude for loc in locations], pa.float64()),
                "longitude": pa.array([loc.longitude for loc in locations], pa.float64()),
            }
        )


def column_name(scope: str, parameter: str, unit: str) -> str:
    """The pond column name ``<scope>.<parameter>.<unit>`` (docs/design.md: "Naming and times").

    ``parameter`` and ``unit`` are sanitized with :func:`sanitize_name`; ``scope`` is the user's
    own configuration and is used as given. ``column_name("B01", "Temperature", "C")`` is
    ``"B01.Temperature.C"``.
    """
    return f"{scope}.{sanitize_name(parameter)}.{sanitize_name(unit)}"


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` (s) is what the server asked for, if anything."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after


class HydroVuClient:
    """A synchronous HydroVu API client with OAuth2, paging and bounded retries.

    Use it as a context manager (or call :meth:`close`) so the connection pool is released::

        with HydroVuClient(DEFAULT_BASE_URL, client_id, client_secret) as hv:
            names = hv.friendly_names()
            table = hv.fetch_readings(123, start_s, names=names, scope="B01", max_points=10_000)

    Args:
        base_url: the API root, ending in ``public-api/`` (a missing trailing ``/`` is added);
            :data:`DEFAULT_BASE_URL` for production, ``HydroVuTestServer.base_url`` in tests.
        client_id: the OAuth2 client id (HydroVu: Settings -> API credentials).
        client_secret: the OAuth2 client secret. Kept private; never logged.
        timeout: seconds allowed for each of connect, read, write and pool acquisition of one
            HTTP request. A request that takes longer counts as a (retryable) timeout.
        max_retries: how many times one request is retried after a retryable failure (so at most
            ``max_retries + 1`` attempts). 0 disables retries.
        backoff_base: the first backoff wait in seconds; it doubles on each further retry.
        max_wait: the cap, in seconds, on any single wait, including one a ``Retry-After`` or
            ``X-RateLimit-Reset`` header asks for.

    Attributes:
        request_count: HTTP requests sent so far (token requests included, failures included).
        retry_count: retries performed so far (re-authentications after a 401 not included).
        reauth_count: tokens fetched again after a 401 or because the old one expired.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 30,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        max_wait: float = 60.0,
    ) -> None:
        if max_retries < 0:
            raise UsageError(f"max_retries must be >= 0, not {max_retries}")
        if timeout <= 0:
            raise UsageError(f"timeout must be > 0 seconds, not {timeout}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._client_id = client_id
        self._client_secret = client_secret
        self._max_retries = max_retries
        self._backoff_base = max(0.0, backoff_base)
        self._max_wait = max(0.0, max_wait)
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
        self._token: str | None = None
        self._token_expires_at = 0.0  # time.monotonic() deadline
        self.request_count = 0
        self.retry_count = 0
        self.reauth_count = 0

    def __repr__(self) -> str:  # never shows the secret or the token
        return f"HydroVuClient({self.base_url!r}, client_id={self._client_id!r})"

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool. The client cannot be used afterwards."""
        self._http.close()

    def __enter__(self) -> HydroVuClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- authentication -------------------------------------------------------------------------

    def authenticate(self) -> None:
        """Fetch a new access token now (API calls otherwise do it on first use).

        Raises:
            RemoteError: the credentials were rejected ("authentication failed ..."), or the
                token endpoint is unreachable or kept failing.
            InvalidData: the token response is not JSON or has no ``access_token``.
        """
        url = self.base_url + "oauth/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "scope": SCOPES,
        }

        def send() -> httpx.Response:
            resp = self._send("POST", url, data=form)
            if resp.status_code in (400, 401):
                raise RemoteError(
                    f"authentication failed: HTTP {resp.status_code}{_oauth_error(resp)}; "
                    "check the client id and secret",
                    url,
                )
            return resp

        resp = self._with_retries("POST", url, send)
        body = _parse_json(resp, url)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise InvalidData("token response has no access_token", url)
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._token = token
        self._token_expires_at = time.monotonic() + max(0.0, lifetime - _TOKEN_RENEW_MARGIN_S)
        log.debug("obtained a HydroVu access token valid for %.0f s", lifetime)

    def _bearer(self) -> str:
        if self._token is None or time.monotonic() >= self._token_expires_at:
            if self._token is not None:
                self.reauth_count += 1
            self.authenticate()
        assert self._token is not None
        return f"Bearer {self._token}"

    # -- HTTP plumbing --------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One HTTP request; transport failures, 429 and 5xx become :class:`_Transient`."""
        self.request_count += 1
        try:
            resp = self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {_first_line(exc)}") from exc
        log.debug("%s %s -> %d", method, url, resp.status_code)
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Transient(
                f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip(),
                _retry_after(resp.headers),
            )
        return resp

    def _with_retries(
        self, method: str, url: str, attempt: Callable[[], httpx.Response]
    ) -> httpx.Response:
        """Run ``attempt()`` until it returns, retrying :class:`_Transient` with backoff."""
        retrying = Retrying(
            stop=stop_after_attempt(self._max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            result: httpx.Response = retrying(attempt)
        except _Transient as exc:
            attempts = self._max_retries + 1
            raise RemoteError(
                f"{method} failed after {attempts} attempt{'s' if attempts != 1 else ''}: "
                f"{exc.cause}",
                url,
            ) from exc
        return result

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self._max_wait)
        backoff = self._backoff_base * 2.0 ** (state.attempt_number - 1)
        return float(min(backoff + random.uniform(0, self._backoff_base), self._max_wait))

    def _before_sleep(self, state: RetryCallState) -> None:
        self.retry_count += 1
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.info("HydroVu request failed (%s); retry %d in %.2f s", exc, state.attempt_number, wait)

    def _get(
        self, path: str, *, params: Mapping[str, Any] | None = None, start_page: str | None = None
    ) -> httpx.Response:
        """GET an API path with the bearer token, retries and one re-authentication on 401."""
        url = self.base_url + path

        def attempt() -> httpx.Response:
            for first_try in (True, False):
                headers = {"Authorization": self._bearer(), "Accept": "application/json"}
                if start_page is not None:
                    headers[START_PAGE_HEADER] = start_page
                resp = self._send("GET", url, params=params, headers=headers)
                if resp.status_code != 401:
                    break
                if not first_try:
                    raise RemoteError(
                        "authentication failed: HTTP 401 again with a fresh token", url
                    )
                log.info("HydroVu answered 401; fetching a new token")
                self._token = None
                self.reauth_count += 1
            if resp.status_code >= 400:
                raise RemoteError(
                    f"HTTP {resp.status_code} {resp.reason_phrase}{_api_message(resp)}", url
                )
            return resp

        return self._with_retries("GET", url, attempt)

    def _get_pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Yield the parsed JSON body of each page of a paged GET."""
        start_page: str | None = None
        seen: set[str] = set()
        while True:
            resp = self._get(path, params=params, start_page=start_page)
            yield _parse_json(resp, self.base_url + path)
            start_page = resp.headers.get(NEXT_PAGE_HEADER) or None
            if start_page is None:
                return
            if start_page in seen:  # a server bug would otherwise loop forever
                raise InvalidData(
                    f"server repeated the page token {start_page!r}", self.base_url + path
                )
            seen.add(start_page)

    # -- the API --------------------------------------------------------------------------------

    def friendly_names(self) -> FriendlyNames:
        """The parameter and unit catalogue (``GET v1/sispec/friendlynames``).

        Raises:
            RemoteError: the server is unreachable, keeps failing or rejects the credentials.
            InvalidData: the body is not ``{parameters: {id: name}, units: {id: name}}``.
        """
        url = self.base_url + "v1/sispec/friendlynames"
        body = _parse_json(self._get("v1/sispec/friendlynames"), url)
        if not isinstance(body, dict):
            raise InvalidData("friendly names: expected a JSON object", url)
        return FriendlyNames(
            parameters=_id_map(body.get("parameters"), "parameters", url),
            units=_id_map(body.get("units"), "units", url),
        )

    def locations(self) -> list[Location]:
        """All locations the credentials can read (``GET v1/locations/list``, every page).

        Returns:
            The locations in the order the server lists them.

        Raises:
            RemoteError: the server is unreachable, keeps failing or rejects the credentials.
            InvalidData: a page is not a JSON list of location objects.
        """
        url = self.base_url + "v1/locations/list"
        out: list[Location] = []
        for page in self._get_pages("v1/locations/list"):
            if not isinstance(page, list):
                raise InvalidData("locations: expected a JSON list", url)
            out.extend(_location(item, url) for item in page)
        return out

    def iter_data_pages(
        self, location_id: int, start_time_s: int, end_time_s: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The raw pages of ``GET v1/locations/{id}/data``, following ``x-isi-next-page``.

        Args:
            location_id: the HydroVu location id.
            start_time_s: the first time wanted, in whole seconds since the Unix epoch (UTC),
                inclusive (``startTime``).
            end_time_s: the last time wanted, in seconds since the epoch (UTC), inclusive
                (``endTime``); ``None`` for "up to now".

        Yields:
            Each page's JSON object, ``{locationId, parameters: [...]}``, unvalidated beyond
            being an object. Pages are fetched lazily: stop iterating to stop fetching.

        Raises:
            RemoteError: the server is unreachable, keeps failing or rejects the credentials.
            InvalidData: a page is not a JSON object.
        """
        path = f"v1/locations/{int(location_id)}/data"
        params: dict[str, int] = {"startTime": int(start_time_s)}
        if end_time_s is not None:
            params["endTime"] = int(end_time_s)
        for page in self._get_pages(path, params):
            if not isinstance(page, dict):
                raise InvalidData("location data: expected a JSON object", self.base_url + path)
            yield page

    def fetch_readings(
        self,
        location_id: int,
        start_time_s: int,
        *,
        names: FriendlyNames,
        scope: str,
        max_points: int | None,
        end_time_s: int | None = None,
    ) -> pa.Table:
        """The readings of one location from ``start_time_s`` on, as one wide Arrow table.

        Pages are fetched in order until the data ends or more than ``max_points`` distinct
        timestamps have arrived; the result then keeps the first ``max_points`` timestamps. Since
        pages come in ascending time order, every kept timestamp is complete (a timestamp is never
        cut between parameters), and the next run can resume from ``max(Timestamp) + 1 s``
        without a gap or a duplicate.

        Args:
            location_id: the HydroVu location id.
            start_time_s: first time wanted, whole seconds since the Unix epoch (UTC), inclusive.
                For incremental collection: the watermark, max event time + 1 s.
            names: the catalogue from :meth:`friendly_names`.
            scope: the column prefix configured for the device (e.g. ``"B01"``).
            max_points: the most rows (timestamps) to return, or ``None`` for all.
            end_time_s: last time wanted, seconds since the epoch (UTC), inclusive; ``None`` for
                no limit.

        Returns:
            A table with ``Timestamp: timestamp[us, tz=UTC]`` (sorted ascending, unique, never
            null) and one nullable ``float64`` column per parameter and unit that has at least one
            kept reading, named ``<scope>.<parameter>.<unit>`` (see :func:`column_name`), value
            columns sorted by name. Rows are the union of all parameters' timestamps (a reading
            whose value is null counts as absent); a parameter without a reading at a timestamp
            is null there. If a page repeats a reading for the
            same column and timestamp, the first one wins. No readings: zero rows and only the
            ``Timestamp`` column.

        Raises:
            UsageError: ``max_points`` is less than 1.
            RemoteError: the server is unreachable, keeps failing or rejects the credentials.
            InvalidData: malformed JSON, or a parameter or unit id missing from ``names``
                (for a standard parameter; see the module docs for custom parameters).
        """
        if max_points is not None and max_points < 1:
            raise UsageError(f"max_points must be >= 1 or None, not {max_points}")
        url = f"{self.base_url}v1/locations/{int(location_id)}/data"
        columns: dict[str, dict[int, float]] = {}
        timestamps: set[int] = set()
        for page in self.iter_data_pages(location_id, start_time_s, end_time_s):
            for name, readings in _page_columns(page, names, scope, url):
                column = columns.setdefault(name, {})
                for ts, value in readings:
                    if value is not None:  # a null value is no reading
                        timestamps.add(ts)
                        column.setdefault(ts, value)
            if max_points is not None and len(timestamps) > max_points:
                break

        ordered = sorted(timestamps)
        if max_points is not None:
            ordered = ordered[:max_points]
        arrays: dict[str, pa.Array] = {
            "Timestamp": pa.array([ts * _US_PER_S for ts in ordered], pa.timestamp("us", tz="UTC"))
        }
        for name in sorted(columns):
            values = columns[name]
            column_values = [values.get(ts) for ts in ordered]
            if any(v is not None for v in column_values):
                arrays[name] = pa.array(column_values, pa.float64())
        return pa.table(arrays)


# ---------------------------------------------------------------------------------------------
# Parsing helpers
# ---------------------------------------------------------------------------------------------


def _page_columns(
    page: dict[str, Any], names: FriendlyNames, scope: str, url: str
) -> Iterator[tuple[str, list[tuple[int, float | None]]]]:
    """Validate one data page; yield (column name, [(timestamp s, value or None)])."""
    params = page.get("parameters")
    if params is None:
        return
    if not isinstance(params, list):
        raise InvalidData("location data: 'parameters' is not a list", url)
    for entry in params:
        if not isinstance(entry, dict):
            raise InvalidData("location data: a parameter entry is not an object", url)
        pid = _id_text(entry.get("parameterId"), "parameterId", url)
        uid = _id_text(entry.get("unitId"), "unitId", url)
        custom = entry.get("customParameter") is True
        pname = names.parameters.get(pid)
        if pname is None:
            if not custom:
                raise InvalidData(f"unknown parameter id {pid!r} (not in friendly names)", url)
            pname = f"custom_{pid}"
        uname = names.units.get(uid)
        if uname is None:
            if not custom:
                raise InvalidData(
                    f"unknown unit id {uid!r} for parameter {pid!r} (not in friendly names)", url
                )
            uname = f"unit_{uid}"
        readings = entry.get("readings") or []
        if not isinstance(readings, list):
            raise InvalidData(f"location data: readings of parameter {pid!r} is not a list", url)
        rows: list[tuple[int, float | None]] = []
        for reading in readings:
            if not isinstance(reading, dict):
                raise InvalidData(
                    f"location data: a reading of parameter {pid!r} is malformed", url
                )
            ts = reading.get("timestamp")
            value = reading.get("value")
            if isinstance(ts, bool) or not isinstance(ts, int | float) or ts != int(ts):
                raise InvalidData(
                    f"location data: parameter {pid!r} has a bad timestamp {ts!r} "
                    "(expected whole seconds since the epoch)",
                    url,
                )
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise InvalidData(
                    f"location data: parameter {pid!r} has a non-numeric value {value!r}", url
                )
            rows.append((int(ts), None if value is None else float(value)))
        yield column_name(scope, pname, uname), rows


def _parse_json(resp: httpx.Response, url: str) -> Any:
    try:
        return json.loads(resp.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidData(f"malformed JSON from the server: {_first_line(exc)}", url) from exc


def _id_text(value: Any, field: str, url: str) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidData(f"location data: bad {field} {value!r}", url)


def _id_map(value: Any, field: str, url: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidData(f"friendly names: '{field}' is not an object", url)
    out: dict[str, str] = {}
    for key, name in value.items():
        if not isinstance(name, str):
            raise InvalidData(f"friendly names: {field} id {key!r} has no text name", url)
        out[str(key)] = name
    return out


def _location(item: Any, url: str) -> Location:
    if not isinstance(item, dict):
        raise InvalidData("locations: an entry is not an object", url)
    raw_id = item.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str):
        raise InvalidData(f"locations: bad id {raw_id!r}", url)
    try:
        loc_id = int(raw_id)
    except ValueError as exc:
        raise InvalidData(f"locations: bad id {raw_id!r}", url) from exc
    raw_gps = item.get("gps")
    gps: dict[str, Any] = raw_gps if isinstance(raw_gps, dict) else {}
    return Location(
        id=loc_id,
        name=str(item.get("name") or ""),
        description=str(item.get("description") or ""),
        latitude=_opt_float(gps.get("latitude")),
        longitude=_opt_float(gps.get("longitude")),
    )


def _opt_float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _id_sort_key(key: str) -> tuple[int, int, str]:
    return (0, int(key), key) if key.isdigit() else (1, 0, key)


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asks us to wait, from ``Retry-After`` or ``X-RateLimit-Reset``."""
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    value = headers.get("x-ratelimit-reset")
    if value:
        try:
            reset = float(value)
        except ValueError:
            return None
        if reset > _EPOCH_THRESHOLD:
            reset -= time.time()
        return max(0.0, reset)
    return None


def _oauth_error(resp: httpx.Response) -> str:
    """`` (invalid_client: ...)`` from an OAuth2 error body, or ``""``."""
    try:
        body = json.loads(resp.content)
    except ValueError:
        return ""
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return ""
    desc = body.get("error_description")
    detail = f"{body['error']}: {desc}" if isinstance(desc, str) and desc else body["error"]
    return f" ({' '.join(detail.split())[:200]})"


def _api_message(resp: httpx.Response) -> str:
    try:
        body = json.loads(resp.content)
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return f": {' '.join(body[key].split())[:200]}"
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
