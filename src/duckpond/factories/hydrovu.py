"""``hydrovu``: collect readings from the HydroVu (In-Situ cloud) API into the pond.

Config (YAML)::

    folder: /hydrovu                  # pond folder to write into (relative: to the node's folder)
    devices:
      - name: B01                     # a label, unique in this config
        id: 1001                      # the HydroVu location id
        scope: B01                    # column prefix and series name (default: name)
        comment: NERACOOS buoy B01    # free text
        active: true                  # false: kept in the config but not collected
      - name: JFK
        id: 1002
    credentials:                      # environment references only, never the secrets
      client_id: ${env:HYDROVU_CLIENT_ID}          # the defaults
      client_secret: ${env:HYDROVU_CLIENT_SECRET}
    base_url: https://www.hydrovu.com/public-api/  # default; may hold ${env:VAR} references
    max_points_per_run: 100000        # most timestamps collected per device per run
    timeout_s: 30                     # per HTTP request, seconds
    max_retries: 5                    # per request, on 429 / 5xx / timeouts
    backoff_s: 0.5                    # first retry wait, seconds (doubles each retry)

Secrets
    ``credentials.client_id`` and ``credentials.client_secret`` must each be exactly one reference
    ``${env:NAME}``; anything else is refused when the node is made (``pond mknod``), with an
    error naming the field and never echoing the value, because the config is stored in the pond
    in clear. The references are expanded from the environment when ``collect`` runs; an unset
    variable is a :class:`~duckpond.errors.UsageError` naming the field and the variable.
    ``base_url`` may also contain references (``http://127.0.0.1:${env:HV_PORT}/public-api/``).

``pond run <node> collect [device ...]``
    One transaction (all or nothing). With no arguments every active device is collected; device
    names restrict the run to those (inactive ones included, if named).

    1. OAuth2 client credentials, then ``GET v1/sispec/friendlynames`` and ``GET
       v1/locations/list`` (see :mod:`duckpond.hydrovu.client`, which follows docs/design.md,
       "HydroVu API, as used").
    2. ``<folder>/names.table`` (:meth:`FriendlyNames.to_arrow`: ``kind, id, name``) and
       ``<folder>/locations.table`` (:meth:`Location.to_arrow`: ``id, name, description,
       latitude, longitude``) get a new version only when their content changed.
    3. For each device, in config order: watermark = the max event time of
       ``<folder>/<scope>.series`` (µs, UTC) floored to whole seconds, + 1 s; 0 (the epoch) when
       the series does not exist. Readings from the watermark on are fetched (paged, at most
       ``max_points_per_run`` timestamps) and appended as ONE new version of the series:
       ``Timestamp: timestamp[us, tz=UTC]`` and one ``float64`` column per parameter,
       ``<scope>.<parameter>.<unit>`` (:func:`duckpond.hydrovu.client.column_name`). No new
       readings: nothing is written for that device.

    A run that finds nothing new writes nothing at all, so the transaction commits nothing (the
    data table keeps its version). A run that fails part way (the server keeps failing, bad
    credentials, malformed JSON, an unknown parameter id) raises and commits nothing; since the
    watermark is read from the pond, the next run starts where the last committed one ended: no
    gap, no duplicate. A configured device whose id is not among the locations the credentials
    can read is :class:`~duckpond.errors.InvalidData` (set ``active: false`` to retire one).

    Returns a :class:`CollectReport` (one :class:`DeviceReport` per device).

Reading the node
    The node is a dynamic ``file:table``: the collection status, one row per configured device
    (see :data:`STATUS_SCHEMA`), computed from the stored series' metadata (no data is read).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

import pyarrow as pa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from duckpond.errors import InvalidData, InvalidPath, NotADirectory, NotFound, UsageError
from duckpond.factories.base import FactoryNode, non_blank
from duckpond.factories.config import NonBlank
from duckpond.factories.registry import Command, Factory, RunContext
from duckpond.times import Window
from duckpond.timeseries import TIME_TYPE
from duckpond.tinyfs.model import FILE_SERIES, FILE_TABLE

if TYPE_CHECKING:
    from duckpond.hydrovu.client import HydroVuClient
    from duckpond.tinyfs.fs import WD, NodePath

__all__ = [
    "DEFAULT_BASE_URL",
    "FACTORY",
    "REPORT_SCHEMA",
    "STATUS_SCHEMA",
    "CollectReport",
    "Credentials",
    "DeviceConfig",
    "DeviceReport",
    "HydroVuConfig",
    "HydroVuNode",
    "PondPath",
    "check_env_refs",
    "collect",
    "expand_env",
    "lookup",
    "make_client",
    "resolve_folder",
    "write_table_if_changed",
]

DEFAULT_BASE_URL: Final = "https://www.hydrovu.com/public-api/"
"""The production API root (equal to :data:`duckpond.hydrovu.client.DEFAULT_BASE_URL`; repeated
here so that parsing a config does not import the HTTP client)."""

NAMES_TABLE: Final = "names.table"
LOCATIONS_TABLE: Final = "locations.table"
_US_PER_S: Final = 1_000_000

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_ANY_REF = re.compile(r"\$\{[^}]*\}?")
_BAD_SCOPE = re.compile(r"[./\s\x00]")


# --------------------------------------------------------------------------------------------
# Environment references (shared with the inbox factory)
# --------------------------------------------------------------------------------------------


def check_env_refs(text: str) -> str:
    """Check that every ``${...}`` in ``text`` is a well-formed ``${env:NAME}`` reference.

    Raises:
        ValueError: a malformed reference (pydantic turns it into a field error).
    """
    for m in _ANY_REF.finditer(text):
        if not _ENV_REF.fullmatch(m.group(0)):
            raise ValueError(
                f"bad reference {m.group(0)!r}: write ${{env:NAME}} (NAME: letters, digits, _)"
            )
    return text


def expand_env(text: str, field: str, path: str | None = None) -> str:
    """Replace every ``${env:NAME}`` in ``text`` by the environment variable ``NAME``.

    Args:
        text: the configured value.
        field: the config field, named in errors (``credentials.client_secret``).
        path: the node's pond path, named in errors.

    Raises:
        UsageError: a referenced variable is not set (or is empty).
    """

    def one(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if not value:
            raise UsageError(
                f"{field}: environment variable {m.group(1)} is not set "
                f"(the config refers to it as ${{env:{m.group(1)}}})",
                path,
            )
        return value

    return _ENV_REF.sub(one, text)


def _env_ref_only(text: str) -> str:
    if not _ENV_REF.fullmatch(text.strip()):
        # Never echo the value: it may be the secret itself.
        raise ValueError(
            "must be an environment reference such as ${env:HYDROVU_CLIENT_SECRET}, not the "
            "value itself (the config is stored in the pond in clear)"
        )
    return text.strip()


def _pond_path(text: str) -> str:
    from duckpond.tinyfs import paths

    non_blank(text)
    try:
        paths.split(text)
    except InvalidPath as exc:
        raise ValueError(f"not a valid pond path: {exc.message}") from None
    return text


EnvRef = Annotated[str, AfterValidator(_env_ref_only)]
PondPath = Annotated[str, AfterValidator(_pond_path)]
UrlWithRefs = Annotated[str, AfterValidator(non_blank), AfterValidator(check_env_refs)]


def resolve_folder(node: NodePath, folder: str) -> str:
    """The absolute pond path of ``folder``: a relative one starts at the node's directory;
    ``.`` and ``..`` are resolved by name (``..`` stops at the root)."""
    from duckpond.tinyfs import paths

    absolute, parts = paths.split(folder)
    out: list[str] = [] if absolute else list(node.parts[:-1])
    for part in parts:
        if part == "..":
            if out:
                out.pop()
        elif part not in ("", "."):
            out.append(part)
    return paths.join(tuple(out))


def lookup(root: WD, path: str) -> NodePath | None:
    """The node at ``path``, or ``None`` if it or a parent directory does not exist."""
    try:
        return root.lookup(path)
    except (NotFound, NotADirectory):
        return None


def write_table_if_changed(root: WD, path: str, table: pa.Table) -> bool:
    """Write ``table`` as a new version of the ``file:table`` at ``path`` unless it is unchanged.

    Returns:
        True if a version was written (the table was missing or its content differs).
    """
    existing = lookup(root, path)
    if existing is not None:
        try:
            old = existing.read_table()
        except InvalidData:
            old = None
        if old is not None and old.replace_schema_metadata(None).equals(
            table.replace_schema_metadata(None)
        ):
            return False
    root.write_file(path, table, file_type=FILE_TABLE)
    return True


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------


class Credentials(BaseModel):
    """OAuth2 client credentials, as ``${env:NAME}`` references (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    client_id: EnvRef = "${env:HYDROVU_CLIENT_ID}"
    client_secret: EnvRef = "${env:HYDROVU_CLIENT_SECRET}"


class DeviceConfig(BaseModel):
    """One HydroVu location to collect.

    Attributes:
        name: a label, unique within the config (``pond run <node> collect <name>``).
        id: the HydroVu location id (``GET v1/locations/list``).
        scope: the column prefix and the series name ``<folder>/<scope>.series``; default
            ``name``. No ``.``, ``/``, blanks: a column must stay ``<scope>.<param>.<unit>``.
        comment: free text.
        active: collected by a plain ``collect`` run.
    """

    model_config = ConfigDict(extra="forbid")

    name: NonBlank
    id: int = Field(gt=0)
    scope: str | None = None
    comment: str = ""
    active: bool = True

    @property
    def effective_scope(self) -> str:
        """``scope``, or ``name`` when no scope is set."""
        return self.scope if self.scope is not None else self.name

    @model_validator(mode="after")
    def _check_scope(self) -> DeviceConfig:
        scope = self.effective_scope
        what = "scope" if self.scope is not None else "name (the default scope)"
        if not scope or _BAD_SCOPE.search(scope) or scope in {".", ".."}:
            raise ValueError(
                f"{what} {scope!r} cannot be a scope: it names the series file and prefixes the "
                "columns, so it must be non-empty without '.', '/' or blanks"
                + ("" if self.scope is not None else "; set scope")
            )
        return self


class HydroVuConfig(BaseModel):
    """Config of ``hydrovu`` (see the module docstring). Times in seconds where named ``_s``."""

    model_config = ConfigDict(extra="forbid")

    folder: PondPath
    devices: list[DeviceConfig] = Field(min_length=1)
    credentials: Credentials = Field(default_factory=Credentials)
    base_url: UrlWithRefs = DEFAULT_BASE_URL
    max_points_per_run: int = Field(default=100_000, ge=1)
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_s: float = Field(default=0.5, ge=0)

    @model_validator(mode="after")
    def _unique(self) -> HydroVuConfig:
        for what in ("name", "id", "scope"):
            seen: dict[Any, int] = {}
            for i, device in enumerate(self.devices):
                value = device.effective_scope if what == "scope" else getattr(device, what)
                if value in seen:
                    raise ValueError(
                        f"devices[{i}] has the same {what} ({value!r}) as devices[{seen[value]}]"
                    )
                seen[value] = i
        return self


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceReport:
    """What one run did for one device. Times: µs since the epoch (UTC) or seconds (``_s``).

    Attributes:
        name: the device name. scope: its scope. location_id: the HydroVu location id.
        path: the series' pond path.
        status: ``collected`` (a version was appended), ``up to date`` (nothing new) or
            ``inactive`` (not collected).
        rows: timestamps appended.
        start_s: the watermark the fetch started from (seconds since the epoch, UTC).
        first_us, last_us: the first and last appended time, or ``None``.
        watermark_s: where the next run starts (last time + 1 s), or ``start_s`` if nothing new.
        more: ``max_points_per_run`` was reached; the next run continues.
    """

    name: str
    scope: str
    location_id: int
    path: str
    status: str
    rows: int = 0
    start_s: int | None = None
    first_us: int | None = None
    last_us: int | None = None
    watermark_s: int | None = None
    more: bool = False


REPORT_SCHEMA: Final = pa.schema(
    [
        ("device", pa.string()),
        ("scope", pa.string()),
        ("location_id", pa.int64()),
        ("path", pa.string()),
        ("status", pa.string()),
        ("rows", pa.int64()),
        ("first", TIME_TYPE),
        ("last", TIME_TYPE),
        ("watermark_s", pa.int64()),
        ("more", pa.bool_()),
    ]
)
"""Schema of :meth:`CollectReport.to_arrow`."""


@dataclass(frozen=True)
class CollectReport:
    """The result of ``pond run <node> collect``.

    Attributes:
        node: the hydrovu node's path. folder: where it wrote.
        devices: one report per device considered, in config order.
        names_written, locations_written: the catalogue tables got a new version.
        requests: HTTP requests sent (token requests and retries included).
        retries: requests retried after a 429, 5xx or timeout.
    """

    node: str
    folder: str
    devices: tuple[DeviceReport, ...]
    names_written: bool
    locations_written: bool
    requests: int
    retries: int

    @property
    def rows(self) -> int:
        """Timestamps appended over all devices."""
        return sum(d.rows for d in self.devices)

    @property
    def changed(self) -> bool:
        """Whether the run wrote anything."""
        return self.rows > 0 or self.names_written or self.locations_written

    def to_arrow(self) -> pa.Table:
        """One row per device (:data:`REPORT_SCHEMA`)."""
        rows = [
            {
                "device": d.name,
                "scope": d.scope,
                "location_id": d.location_id,
                "path": d.path,
                "status": d.status,
                "rows": d.rows,
                "first": d.first_us,
                "last": d.last_us,
                "watermark_s": d.watermark_s,
                "more": d.more,
            }
            for d in self.devices
        ]
        return pa.Table.from_pylist(rows, schema=REPORT_SCHEMA)

    def __str__(self) -> str:
        from duckpond.times import format_time

        lines = []
        for d in self.devices:
            span = ""
            if d.first_us is not None and d.last_us is not None:
                span = f" {format_time(d.first_us)} .. {format_time(d.last_us)}"
            more = " (more to collect)" if d.more else ""
            lines.append(f"{d.name}: {d.status}, {d.rows} rows -> {d.path}{span}{more}")
        tables = [
            n
            for n, w in (
                (NAMES_TABLE, self.names_written),
                (LOCATIONS_TABLE, self.locations_written),
            )
            if w
        ]
        lines.append(
            f"{self.rows} rows from {sum(d.status != 'inactive' for d in self.devices)} devices"
            + (f"; updated {', '.join(tables)}" if tables else "")
            + f"; {self.requests} requests ({self.retries} retries)"
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def _watermark_s(root: WD, path: str) -> int:
    """Seconds since the epoch (UTC) to fetch from: max event time + 1 s, or 0."""
    node = lookup(root, path)
    if node is None:
        return 0
    if node.file_type != FILE_SERIES:
        raise InvalidData(f"is a {node.file_type}; the collector needs a series here", path)
    hi = node.stat().max_event_time
    return 0 if hi is None else hi // _US_PER_S + 1


def make_client(config: HydroVuConfig, path: str | None = None) -> HydroVuClient:
    """A :class:`~duckpond.hydrovu.client.HydroVuClient` with the credentials expanded.

    Raises:
        UsageError: a referenced environment variable is not set.
    """
    from duckpond.hydrovu.client import HydroVuClient

    client_id = expand_env(config.credentials.client_id, "credentials.client_id", path)
    secret = expand_env(config.credentials.client_secret, "credentials.client_secret", path)
    base_url = expand_env(config.base_url, "base_url", path)
    return HydroVuClient(
        base_url,
        client_id,
        secret,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
        backoff_base=config.backoff_s,
    )


def collect(ctx: RunContext, args: list[str]) -> CollectReport:
    """``pond run <node> collect [device ...]``: see the module docstring.

    Raises:
        UsageError: an unknown device name, or an unset environment variable.
        RemoteError: authentication failed, or the server is unreachable or keeps failing.
        InvalidData: malformed JSON, an unknown parameter id, a device id the credentials cannot
            see, or a non-series at a device's series path.
    """
    config: HydroVuConfig = ctx.config
    node = ctx.node.path
    by_name = {d.name: d for d in config.devices}
    unknown = [a for a in args if a not in by_name]
    if unknown:
        raise UsageError(f"no device {unknown[0]!r} (devices: {', '.join(by_name)})", node)
    wanted = set(args)
    folder = resolve_folder(ctx.node, config.folder)
    prefix = folder.rstrip("/")  # "" for the root
    root = ctx.root
    reports: list[DeviceReport] = []
    from duckpond.hydrovu.client import Location

    with make_client(config, node) as hv:
        names = hv.friendly_names()
        locations = hv.locations()
        known_ids = {loc.id for loc in locations}
        root.mkdir(folder, parents=True, exist_ok=True)
        names_written = write_table_if_changed(root, f"{prefix}/{NAMES_TABLE}", names.to_arrow())
        locations_written = write_table_if_changed(
            root, f"{prefix}/{LOCATIONS_TABLE}", Location.to_arrow(locations)
        )
        for i, device in enumerate(config.devices):
            scope = device.effective_scope
            path = f"{prefix}/{scope}.series"
            selected = device.name in wanted if wanted else device.active
            if not selected:
                reports.append(DeviceReport(device.name, scope, device.id, path, "inactive"))
                continue
            if device.id not in known_ids:
                raise InvalidData(
                    f"devices[{i}] ({device.name}): location id {device.id} is not among the "
                    f"{len(locations)} locations these credentials can read",
                    node,
                )
            start_s = _watermark_s(root, path)
            table = hv.fetch_readings(
                device.id,
                start_s,
                names=names,
                scope=scope,
                max_points=config.max_points_per_run,
            )
            rows = table.num_rows
            if rows == 0:
                reports.append(
                    DeviceReport(
                        device.name,
                        scope,
                        device.id,
                        path,
                        "up to date",
                        start_s=start_s,
                        watermark_s=start_s,
                    )
                )
                continue
            root.append_series(path, table, time_column="Timestamp")
            ts = table.column("Timestamp")
            first_us = ts[0].value
            last_us = ts[rows - 1].value
            reports.append(
                DeviceReport(
                    device.name,
                    scope,
                    device.id,
                    path,
                    "collected",
                    rows=rows,
                    start_s=start_s,
                    first_us=first_us,
                    last_us=last_us,
                    watermark_s=last_us // _US_PER_S + 1,
                    more=rows >= config.max_points_per_run,
                )
            )
        return CollectReport(
            node,
            folder,
            tuple(reports),
            names_written,
            locations_written,
            hv.request_count,
            hv.retry_count,
        )


# --------------------------------------------------------------------------------------------
# The node
# --------------------------------------------------------------------------------------------

STATUS_SCHEMA: Final = pa.schema(
    [
        ("device", pa.string()),
        ("location_id", pa.int64()),
        ("scope", pa.string()),
        ("active", pa.bool_()),
        ("path", pa.string()),
        ("versions", pa.int64()),
        ("first", TIME_TYPE),
        ("last", TIME_TYPE),
        ("next_start_s", pa.int64()),
        ("comment", pa.string()),
    ]
)
"""What reading a ``hydrovu`` node gives: one row per configured device. ``first``/``last`` are
the stored series' event-time bounds, ``next_start_s`` the next run's watermark (seconds since
the epoch, UTC); null/0 before the first collection."""


class HydroVuNode(FactoryNode):
    """The dynamic ``file:table`` of a ``hydrovu`` node: the collection status."""

    config: HydroVuConfig
    file_type = FILE_TABLE
    time_column = None

    def __init__(self, nodepath: NodePath, config: Any, raw: bytes) -> None:
        super().__init__(nodepath, config, raw, "hydrovu")

    def read_table(self, window: Window | None = None) -> pa.Table:
        """The status table (:data:`STATUS_SCHEMA`), from the series' stored metadata only."""
        self.refresh_config()
        folder = resolve_folder(self.nodepath, self.config.folder)
        prefix = folder.rstrip("/")  # "" for the root
        root = self.nodepath.fs.root()
        rows = []
        for device in self.config.devices:
            path = f"{prefix}/{device.effective_scope}.series"
            node = lookup(root, path)
            st = node.stat() if node is not None and node.file_type == FILE_SERIES else None
            hi = st.max_event_time if st is not None else None
            rows.append(
                {
                    "device": device.name,
                    "location_id": device.id,
                    "scope": device.effective_scope,
                    "active": device.active,
                    "path": path,
                    "versions": st.version if st is not None else 0,
                    "first": st.min_event_time if st is not None else None,
                    "last": hi,
                    "next_start_s": 0 if hi is None else hi // _US_PER_S + 1,
                    "comment": device.comment,
                }
            )
        return pa.Table.from_pylist(rows, schema=STATUS_SCHEMA)


FACTORY = Factory(
    name="hydrovu",
    kind="file",
    description="collects HydroVu device readings into series (pond run <node> collect)",
    config_model=HydroVuConfig,
    build=HydroVuNode,
    commands={
        "collect": Command(
            "collect",
            collect,
            help="fetch new readings of each active device (or the named ones) from HydroVu",
            writes=True,
        )
    },
)
