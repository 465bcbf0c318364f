"""``pond apply``: a pipeline as a multi-document YAML of resources, applied in one transaction.

Each YAML document is one resource, applied in file order::

    kind: mkdir                # a directory (and its parents); nothing if it exists
    path: /raw
    ---
    kind: copy                 # a host file into the pond
    from: host+csv+series://../data/jfk.csv   # host://, host+table://, host+series://,
    to: /raw/jfk.series                      # host+csv+series:// (as ``pond copy``)
    time_column: Timestamp     # optional (series; default detected)
    tz: America/New_York       # optional (CSV times without an offset; default UTC)
    ---
    kind: mknod                # a dynamic node
    factory: temporal-reduce
    path: /reduced/jfk
    config:                    # the factory's config, as a mapping
      input: /raw/jfk.series
      resolutions: [1h, 24h]

Before YAML is parsed, the text is a Jinja2 template: ``{{ name }}`` is replaced by the value given
in ``variables`` (``pond apply -v name=value``), else by the environment variable ``name``; an
undefined name is an error (``StrictUndefined``), unless a filter gives a default
(``{{ DATA | default("../data") }}``). Relative host paths are relative to the YAML file's folder
(``base_dir``).

Everything is validated before the transaction starts (document shapes, factory configs, host
files exist, no path twice); then all resources are applied in ONE transaction, so an error leaves
the pond unchanged. Parent directories of ``copy``/``mknod`` targets are created as needed.

Applying the same file again changes nothing (no commit at all when nothing changed):

- ``mkdir``: an existing directory is left alone.
- ``mknod``: an existing dynamic node with the same factory and the same config (compared as stored
  bytes, which ``apply`` writes as canonical YAML) is left alone; a different config (same kind) is
  written as a new version of the node.
- ``copy`` of data and tables: compared by sha256 with the latest version; a different file is
  written as a new version.
- ``copy`` of a series: only rows later than the series' latest event time are appended (so a
  growing CSV can be re-applied; edited old rows are not reconciled); no such rows, no change.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from duckpond.errors import InvalidData, NotFound, UsageError
from duckpond.factories.registry import FACTORIES, Registry, describe_errors

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.fs import WD

__all__ = ["ApplyChange", "ApplyReport", "CopyResource", "MkdirResource", "MknodResource", "apply"]

#: Host URL schemes of ``copy`` -> the pond file type they create (as ``pond copy``).
SCHEMES: Final = {
    "host": "file:data",
    "host+table": "file:table",
    "host+series": "file:series",
    "host+csv+series": "file:series",
}


def _abs_path(text: str) -> str:
    if not text.startswith("/"):
        raise ValueError(f"{text!r} must be an absolute pond path (starting with /)")
    return text


PondPath = Annotated[str, AfterValidator(_abs_path)]


class MkdirResource(BaseModel):
    """``kind: mkdir``: a directory and its missing parents."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["mkdir"]
    path: PondPath


class CopyResource(BaseModel):
    """``kind: copy``: a host file into the pond (``from`` is a host URL, ``to`` a pond path)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: Literal["copy"]
    source: str = Field(alias="from")
    to: PondPath
    time_column: str | None = None
    tz: str | None = None


class MknodResource(BaseModel):
    """``kind: mknod``: a dynamic node of ``factory`` with ``config``."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["mknod"]
    factory: str
    path: PondPath
    config: dict[str, Any] = Field(default_factory=dict)


Resource = Annotated[MkdirResource | CopyResource | MknodResource, Field(discriminator="kind")]
_RESOURCE: Final = TypeAdapter(Resource)


@dataclass(frozen=True)
class ApplyChange:
    """What applying one resource did: ``action`` is created, updated, appended or unchanged."""

    kind: str
    path: str
    action: str
    detail: str = ""


@dataclass(frozen=True)
class ApplyReport:
    """The outcome of :func:`apply`.

    Attributes:
        changes: one entry per resource (and per parent directory created), in order.
        txn_seq: the transaction that committed them, or ``None`` if nothing changed.
    """

    changes: tuple[ApplyChange, ...]
    txn_seq: int | None

    @property
    def changed(self) -> bool:
        return any(c.action != "unchanged" for c in self.changes)


@dataclass
class _Planned:
    index: int
    resource: Any
    host: Path | None = None
    scheme: str | None = None
    config_bytes: bytes | None = None
    factory: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def render(text: str, variables: Mapping[str, str] | None = None) -> str:
    """Substitute ``{{ name }}`` from ``variables``, then the environment (Jinja2, strict).

    Raises:
        UsageError: an undefined name (the message says how to define it) or a template error.
    """
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    context = {**os.environ, **(variables or {})}
    try:
        return env.from_string(text).render(context)
    except jinja2.UndefinedError as exc:
        raise UsageError(
            f"pipeline: {exc.message} (pass -v NAME=VALUE or set the environment variable)"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise UsageError(f"pipeline: template error on line {exc.lineno}: {exc.message}") from None


def parse(
    text: str,
    variables: Mapping[str, str] | None = None,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    registry: Registry | None = None,
) -> list[_Planned]:
    """Render, parse and validate a pipeline (no pond access).

    Raises:
        UsageError: template errors. InvalidData: YAML errors, bad documents (the message names
        the document number and the field), unknown factories, invalid configs, a path given twice.
        NotFound: a host file that does not exist.
    """
    import yaml

    reg = FACTORIES if registry is None else registry
    rendered = render(text, variables)
    try:
        docs = [d for d in yaml.safe_load_all(rendered) if d is not None]
    except yaml.YAMLError as exc:
        from duckpond.factories.registry import _yaml_error

        raise InvalidData(f"pipeline is not valid YAML: {_yaml_error(exc)}") from None
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    planned: list[_Planned] = []
    seen: dict[str, int] = {}
    for i, doc in enumerate(docs, start=1):
        where = f"document {i}"
        if not isinstance(doc, dict):
            raise InvalidData(f"{where}: a resource must be a mapping with a kind")
        try:
            res = _RESOURCE.validate_python(doc)
        except ValidationError as exc:
            raise InvalidData(f"{where}: {describe_errors(exc)}") from None
        path = res.to if isinstance(res, CopyResource) else res.path
        where = f"document {i} ({res.kind} {path})"
        if path in seen and not isinstance(res, MkdirResource):
            raise InvalidData(f"{where}: {path} is also the target of document {seen[path]}")
        seen.setdefault(path, i)
        p = _Planned(i, res)
        if isinstance(res, CopyResource):
            scheme, sep, rest = res.source.partition("://")
            if not sep or scheme not in SCHEMES:
                known = ", ".join(f"{s}://" for s in SCHEMES)
                raise InvalidData(f"{where}: from: {res.source!r} is not a host URL ({known})")
            host = Path(rest)
            host = host if host.is_absolute() else base / host
            if not host.is_file():
                raise NotFound(f"{where}: no such host file", str(host))
            if scheme != "host+csv+series" and res.tz is not None:
                raise InvalidData(f"{where}: tz applies to host+csv+series:// sources")
            if SCHEMES[scheme] != "file:series" and res.time_column is not None:
                raise InvalidData(f"{where}: time_column applies to series sources")
            p.host, p.scheme = host, scheme
        elif isinstance(res, MknodResource):
            try:
                factory = reg.get(res.factory)
            except UsageError as exc:
                raise InvalidData(f"{where}: factory: {exc.message}") from None
            try:
                factory.parse_mapping(res.config)
            except InvalidData as exc:
                raise InvalidData(f"{where}: {exc.message}") from None
            p.factory = factory
            p.config_bytes = yaml.safe_dump(
                res.config, sort_keys=False, allow_unicode=True, default_flow_style=False
            ).encode("utf-8")
        planned.append(p)
    return planned


def apply(
    pond: Pond,
    text: str,
    variables: Mapping[str, str] | None = None,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    args: tuple[str, ...] = ("apply",),
    registry: Registry | None = None,
) -> ApplyReport:
    """Apply a pipeline (see the module docstring) to ``pond`` in one transaction.

    Args:
        pond: the pond to change.
        text: the multi-document YAML (a Jinja2 template).
        variables: values for ``{{ name }}`` (taking precedence over the environment).
        base_dir: folder that relative host paths are relative to (default: the working dir).
        args: the command line recorded with the transaction.
        registry: factories to use (default: the built-ins).

    Returns:
        What changed, and the transaction's txn_seq (``None`` when nothing changed: no commit).

    Raises:
        UsageError, InvalidData, NotFound: see :func:`parse` (raised before any change); errors
        while applying (e.g. a path that exists as something else: AlreadyExists) abort the
        transaction, leaving the pond unchanged.
    """
    planned = parse(text, variables, base_dir=base_dir, registry=registry)
    changes: list[ApplyChange] = []
    with pond.transaction(args) as tx:
        root = tx.root()
        for p in planned:
            changes.extend(_apply_one(root, p))
        committed = tx.staged_count > 0 or pond.fs.dirty
        seq = tx.seq
    return ApplyReport(tuple(changes), seq if committed else None)


def apply_file(
    pond: Pond,
    path: str | os.PathLike[str],
    variables: Mapping[str, str] | None = None,
    *,
    args: tuple[str, ...] | None = None,
    registry: Registry | None = None,
) -> ApplyReport:
    """:func:`apply` the pipeline in a host file; relative host paths start at its folder.

    Raises:
        NotFound: no such file. Otherwise as :func:`apply`.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound("no such pipeline file", str(file)) from None
    return apply(
        pond,
        text,
        variables,
        base_dir=file.resolve().parent,
        args=args if args is not None else ("apply", "-f", str(file)),
        registry=registry,
    )


def _parents(root: WD, path: str) -> list[ApplyChange]:
    parts = path.strip("/").split("/")[:-1]
    out = []
    cur = ""
    for part in parts:
        cur += "/" + part
        if root.lookup(cur) is None:
            root.mkdir(cur)
            out.append(ApplyChange("mkdir", cur, "created", "parent"))
    return out


def _apply_one(root: WD, p: _Planned) -> list[ApplyChange]:
    from duckpond.errors import AlreadyExists

    res = p.resource
    where = f"document {p.index} ({res.kind})"
    if isinstance(res, MkdirResource):
        existing = root.lookup(res.path)
        if existing is not None:
            if not existing.is_dir:
                raise AlreadyExists(f"{where}: exists and is not a directory", res.path)
            return [ApplyChange("mkdir", res.path, "unchanged")]
        out = _parents(root, res.path)
        root.mkdir(res.path)
        return [*out, ApplyChange("mkdir", res.path, "created")]
    if isinstance(res, MknodResource):
        out = _parents(root, res.path)
        existing = root.lookup(res.path, follow=False)
        assert p.config_bytes is not None
        if existing is not None:
            latest = existing.latest() if existing.is_dynamic else None
            if latest is None or latest.factory is None:
                raise AlreadyExists(f"{where}: exists and is not a dynamic node", res.path)
            if latest.factory == p.factory.name and latest.content == p.config_bytes:
                return [*out, ApplyChange("mknod", res.path, "unchanged")]
            kind = "dir:dynamic" if p.factory.kind == "dir" else "file:dynamic"
            if existing.node.file_type != kind:
                raise AlreadyExists(
                    f"{where}: exists as a {existing.node.file_type}; remove it first", res.path
                )
            root.create_dynamic(
                res.path,
                p.factory.name,
                p.config_bytes,
                directory=p.factory.kind == "dir",
                overwrite=True,
            )
            return [*out, ApplyChange("mknod", res.path, "updated", p.factory.name)]
        root.create_dynamic(
            res.path, p.factory.name, p.config_bytes, directory=p.factory.kind == "dir"
        )
        return [*out, ApplyChange("mknod", res.path, "created", p.factory.name)]
    assert isinstance(res, CopyResource) and p.host is not None and p.scheme is not None
    out = _parents(root, res.to)
    return [*out, _copy(root, res, p.host, p.scheme, where)]


def _copy(root: WD, res: CopyResource, host: Path, scheme: str, where: str) -> ApplyChange:
    from duckpond.errors import AlreadyExists

    file_type = SCHEMES[scheme]
    existing = root.lookup(res.to)
    if existing is not None and (existing.is_dir or existing.is_dynamic):
        raise AlreadyExists(f"{where}: exists and is not a stored file", res.to)
    if existing is not None and existing.file_type != file_type:
        raise AlreadyExists(f"{where}: exists as a {existing.file_type}, not {file_type}", res.to)
    if file_type != "file:series":
        if existing is not None:
            with open(host, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            if existing.latest().sha256 == digest:
                return ApplyChange("copy", res.to, "unchanged")
        with open(host, "rb") as f:
            root.write_file(res.to, f, file_type=file_type)
        return ApplyChange("copy", res.to, "updated" if existing else "created", str(host))
    table, tc = _read_series(host, scheme, res)
    if existing is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        from duckpond.timeseries import TIME_TYPE

        hi = existing.stat().max_event_time
        if hi is not None:
            table = table.filter(pc.greater(table.column(tc), pa.scalar(hi, TIME_TYPE)))
        if table.num_rows == 0:
            return ApplyChange("copy", res.to, "unchanged")
        root.append_series(res.to, table, time_column=tc)
        return ApplyChange("copy", res.to, "appended", f"{table.num_rows} rows")
    root.append_series(res.to, table, time_column=tc)
    return ApplyChange("copy", res.to, "created", f"{table.num_rows} rows")


def _read_series(host: Path, scheme: str, res: CopyResource) -> tuple[Any, str]:
    from duckpond.timeseries import normalize_series, read_csv_series

    if scheme == "host+csv+series":
        return read_csv_series(host, time_column=res.time_column, tz=res.tz, path=str(host))
    import pyarrow.parquet as pq

    from duckpond.errors import translate_errors

    with translate_errors(str(host), what="reading Parquet"):
        table = pq.read_table(host)
    return normalize_series(table, res.time_column, path=str(host))
