"""``pond apply``: pipelines, multi-document YAML of resources applied in one transaction.

Each YAML document is one resource, applied in file order (several files: in the order given)::

    kind: mkdir                # a directory (and its parents); nothing if it exists
    path: /raw
    ---
    kind: copy                 # host files into the pond, as ``pond copy`` does
    from: host+csv+series://../data/jfk.csv   # host://, host+table://, host+series://,
    to: /raw/jfk.series                      # host+csv+series:// (a folder: recursively)
    time_column: Timestamp     # optional (series; default detected)
    tz: America/New_York       # optional (CSV times without an offset; default UTC)
    ---
    kind: mknod                # a dynamic node
    factory: temporal-reduce
    path: /reduced/jfk
    config:                    # the factory's config, as a mapping
      input: /raw/jfk.series
      resolutions: [1h, 24h]

Before YAML is parsed, the text is a Jinja2 template rendered in a sandbox
(``jinja2.sandbox.SandboxedEnvironment``: no attribute access to Python internals, so a pipeline
from someone else cannot run code). What a template sees:

- the variables given with ``variables`` (``pond apply -e NAME=VALUE``), first;
- else the environment variable ``NAME``, except names that look like secrets (containing
  ``SECRET``, ``TOKEN``, ``PASSWORD``, ``PASSWD``, ``CREDENTIAL``, ``PRIVATE``, or ending in
  ``KEY``): those are not visible, so a pipeline cannot copy a secret into the pond; configs that
  need one say ``${env:NAME}`` and the factory reads it when used.

An undefined name is an error (``StrictUndefined``) unless a filter gives a default
(``{{ DATA | default("../data") }}``). Relative host paths are relative to the YAML file's
folder (``base_dir``).

Everything is validated before the transaction starts (document shapes, factory configs, host
files exist, no path twice); then all resources are applied in ONE transaction, so an error leaves
the pond unchanged. Parent directories of ``copy``/``mknod`` targets are created as needed.

Applying the same files again changes nothing (no commit at all when nothing changed):

- ``mkdir``: an existing directory is left alone.
- ``mknod``: an existing dynamic node with the same factory and the same config (compared as stored
  bytes, which ``apply`` writes as canonical YAML) is left alone; a different config (same kind) is
  written as a new version of the node.
- ``copy``: the rules of :mod:`duckpond.ops.copy` (unchanged bytes are not copied again; a series
  gets only the rows it does not hold).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from duckpond import faults
from duckpond.errors import InvalidData, NotFound, UsageError
from duckpond.factories.registry import FACTORIES, Registry, describe_errors
from duckpond.ops.copy import CopyOptions, HostSource, check_csv_source

if TYPE_CHECKING:
    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.fs import WD

__all__ = [
    "ApplyChange",
    "ApplyReport",
    "CopyResource",
    "MkdirResource",
    "MknodResource",
    "apply",
    "apply_files",
    "visible_environment",
]

#: Environment variables whose names match this are not visible to pipeline templates.
SECRET_NAME: Final = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|KEY$", re.I)


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
    where: str
    source: HostSource | None = None
    config_bytes: bytes | None = None
    factory: Any = None


def visible_environment() -> dict[str, str]:
    """The environment variables a pipeline template sees (secret-looking names left out)."""
    return {k: v for k, v in os.environ.items() if not SECRET_NAME.search(k)}


def render(text: str, variables: Mapping[str, str] | None = None) -> str:
    """Render the pipeline template in a sandbox: ``variables``, then the visible environment.

    Raises:
        UsageError: an undefined name (the message says how to define it, or that it looks like
            a secret), a template error, or a template that tries to reach Python internals.
    """
    import jinja2
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    context = {**visible_environment(), **(variables or {})}
    try:
        return env.from_string(text).render(context)
    except jinja2.UndefinedError as exc:
        name = re.search(r"'([^']+)' is undefined", exc.message or "")
        if name and SECRET_NAME.search(name.group(1)) and name.group(1) in os.environ:
            raise UsageError(
                f"pipeline: {name.group(1)} looks like a secret and is not visible to pipelines; "
                f"write ${{env:{name.group(1)}}} in the config that needs it"
            ) from None
        raise UsageError(
            f"pipeline: {exc.message} (pass -e NAME=VALUE or set the environment variable)"
        ) from None
    except SecurityError as exc:
        raise UsageError(f"pipeline: refused by the template sandbox: {exc}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise UsageError(f"pipeline: template error on line {exc.lineno}: {exc.message}") from None


def parse(
    text: str,
    variables: Mapping[str, str] | None = None,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    registry: Registry | None = None,
    name: str = "",
    seen: dict[str, str] | None = None,
) -> list[_Planned]:
    """Render, parse and validate a pipeline (no pond access).

    Args:
        name: how messages name this pipeline (its file), when there are several.
        seen: targets already claimed by earlier pipelines of the same apply.

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

        raise InvalidData(f"{name or 'pipeline'} is not valid YAML: {_yaml_error(exc)}") from None
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    planned: list[_Planned] = []
    seen = {} if seen is None else seen
    label = f"{name}: " if name else ""
    for i, doc in enumerate(docs, start=1):
        where = f"{label}document {i}"
        if not isinstance(doc, dict):
            raise InvalidData(f"{where}: a resource must be a mapping with a kind")
        try:
            res = _RESOURCE.validate_python(doc)
        except ValidationError as exc:
            raise InvalidData(f"{where}: {describe_errors(exc)}") from None
        path = res.to if isinstance(res, CopyResource) else res.path
        where = f"{label}document {i} ({res.kind} {path})"
        if path in seen and not isinstance(res, MkdirResource):
            raise InvalidData(f"{where}: {path} is also the target of {seen[path]}")
        seen.setdefault(path, f"{label}document {i}")
        p = _Planned(i, res, where)
        if isinstance(res, CopyResource):
            try:
                p.source = HostSource.parse(res.source, base_dir=base)
                check_csv_source(p.source, CopyOptions(res.time_column, res.tz))
            except UsageError as exc:  # in a pipeline, a bad resource is invalid data
                raise InvalidData(f"{where}: from: {exc.message}", exc.path) from None
            except NotFound as exc:
                raise NotFound(f"{where}: {exc.message}", exc.path) from None
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
    """Apply one pipeline text (see the module docstring) to ``pond`` in one transaction.

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
    return _apply_planned(pond, planned, args)


def apply_files(
    pond: Pond,
    paths: Sequence[str | os.PathLike[str]],
    variables: Mapping[str, str] | None = None,
    *,
    args: tuple[str, ...] | None = None,
    registry: Registry | None = None,
    dry_run: bool = False,
) -> ApplyReport:
    """Apply the pipelines in host files, all in ONE transaction, in the order given.

    Relative host paths of each start at its own folder; a pond path may be the target of one
    document only, across all the files. ``dry_run``: report the changes, commit nothing
    (``txn_seq`` of the report is ``None``).

    Raises:
        NotFound: no such file. Otherwise as :func:`apply`.
    """
    planned: list[_Planned] = []
    seen: dict[str, str] = {}
    for path in paths:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound("no such pipeline file", str(file)) from None
        except UnicodeDecodeError:
            raise InvalidData("a pipeline must be UTF-8 text", str(file)) from None
        label = str(file) if len(paths) > 1 else ""
        planned += parse(
            text,
            variables,
            base_dir=file.resolve().parent,
            registry=registry,
            name=label,
            seen=seen,
        )
    recorded = args if args is not None else ("apply", *(a for p in paths for a in ("-f", str(p))))
    return _apply_planned(pond, planned, recorded, dry_run=dry_run)


def apply_file(
    pond: Pond,
    path: str | os.PathLike[str],
    variables: Mapping[str, str] | None = None,
    *,
    args: tuple[str, ...] | None = None,
    registry: Registry | None = None,
) -> ApplyReport:
    """:func:`apply_files` of one file."""
    return apply_files(pond, [path], variables, args=args, registry=registry)


def _apply_planned(
    pond: Pond, planned: list[_Planned], args: tuple[str, ...], *, dry_run: bool = False
) -> ApplyReport:
    changes: list[ApplyChange] = []
    with pond.transaction(args, dry_run=dry_run) as tx:
        root = tx.root()
        for p in planned:
            changes.extend(_apply_one(root, p))
            faults.point("apply-resource-done")
        committed = (tx.staged_count > 0 or pond.fs.dirty) and not dry_run
        seq = tx.seq
    return ApplyReport(tuple(changes), seq if committed else None)


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
    from duckpond.tinyfs.model import FileType

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
            kind = FileType.DIR_DYNAMIC if p.factory.kind == "dir" else FileType.FILE_DYNAMIC
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
    assert isinstance(res, CopyResource) and p.source is not None
    from duckpond.ops.copy import copy_in

    out = _parents(root, res.to)
    options = CopyOptions(res.time_column, res.tz)
    copied = copy_in(root, [p.source], res.to, options, as_target=True)
    return [*out, *(ApplyChange("copy", c.path, c.action, c.detail) for c in copied)]
