"""The registry of factories by name, and the library calls behind ``pond mknod``/``run``.

A :class:`Factory` is a name, a kind (``dir`` or ``file``), a one-line description, a pydantic
model of its YAML config and ``build(nodepath, config)``, which returns the object the filesystem
reads (a :class:`~duckpond.tinyfs.fs.DynamicFile` or :class:`~duckpond.tinyfs.fs.DynamicDirectory`).
Factories that act (collectors, site builders) also list :class:`Command` s for ``pond run``.

The built-in factories are modules of this package listed in :data:`BUILTIN_MODULES`; each
defines ``FACTORY`` (or ``FACTORIES``, a list). They are imported on first use of the registry.

Configs are validated when the node is created (:func:`mknod`), so a bad config never reaches the
pond: the :class:`~duckpond.errors.InvalidData` message names each bad field by its path in the
YAML (``patterns.raw``, ``inputs[1].scope``, ``resolutions[2]``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from duckpond import diagnostics
from duckpond.errors import InvalidData, UsageError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from duckpond.steward.pond import Pond
    from duckpond.tinyfs.fs import WD, NodePath

__all__ = [
    "BUILTIN_MODULES",
    "FACTORIES",
    "Command",
    "Factory",
    "Registry",
    "RunContext",
    "get_factory",
    "list_factories",
    "mknod",
    "resolver",
    "run",
]

#: Modules (under ``duckpond.factories``) whose ``FACTORY``/``FACTORIES`` are built in.
BUILTIN_MODULES: Final = (
    "sql_derived",
    "join",
    "reduce",
    "template",
    "sitegen",
    "hydrovu",
    "inbox",
)

#: The module of each built-in factory, so that reading one dynamic node imports only its
#: factory's module (importing all of them costs ~0.15 s of a process's start);
#: ``tests/factories/test_factory_registry.py`` checks it against the modules.
BUILTIN_BY_NAME: Final = {
    "sql-derived": "sql_derived",
    "timeseries-join": "join",
    "temporal-reduce": "reduce",
    "template": "template",
    "sitegen": "sitegen",
    "hydrovu": "hydrovu",
    "inbox": "inbox",
}


_log = diagnostics.get_logger("factories")

#: Version of the remembered-config entries (:meth:`Factory.load`); part of their keys.
MEMO_FORMAT: Final = 1


#: Digests of the validating source by module tuple (per process: the source cannot change
#: under a running process that already imported it).
_SOURCE_DIGESTS: dict[tuple[str, ...], str | None] = {}


def _source_digest(modules: tuple[str, ...]) -> str | None:
    """sha256 of the source files of ``modules`` (``None`` if one cannot be read)."""
    if modules in _SOURCE_DIGESTS:
        return _SOURCE_DIGESTS[modules]
    import importlib.util

    h = hashlib.sha256()
    digest: str | None
    try:
        for name in modules:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise ImportError(name)
            with open(spec.origin, "rb") as f:
                h.update(f.read())
        digest = h.hexdigest()
    except (ImportError, OSError, ValueError) as exc:
        _log.debug("configs are not remembered: source of %s unreadable (%s)", modules, exc)
        digest = None
    _SOURCE_DIGESTS[modules] = digest
    return digest


@dataclass(frozen=True)
class RunContext:
    """What a :class:`Command` gets: the pond, the node, its config and a root to work in.

    ``root`` is writable (inside one transaction) when the command declares ``writes=True``.
    """

    pond: Pond
    node: NodePath
    config: Any
    root: WD


@dataclass(frozen=True)
class Command:
    """An action of a factory, run by ``pond run <path> <name> [args]``.

    Attributes:
        name: the command word.
        func: ``func(ctx, args) -> result``; ``args`` are the extra command-line words.
        help: one line for listings.
        writes: run inside one transaction (collectors) rather than read-only (site builders).
    """

    name: str
    func: Callable[[RunContext, list[str]], Any]
    help: str = ""
    writes: bool = False


@dataclass(frozen=True)
class Factory:
    """A factory: how to validate a config and build the dynamic node's object from it.

    ``build(nodepath, config, config_bytes)`` gets the validated config (an instance of
    ``config_model``, or what ``restore`` makes of it) and the stored bytes, and returns a
    :class:`~duckpond.tinyfs.fs.DynamicFile` or :class:`~duckpond.tinyfs.fs.DynamicDirectory`.

    Attributes:
        config_model: the pydantic model, or ``"module:Class"`` (imported when a config is
            validated: a factory whose node is read from a remembered config never imports it).
        restore: the config the node uses, from the validated model's JSON dump
            (``model_dump(mode="json")``); with it, :meth:`load` remembers validated configs in
            the pond's cache. ``None``: the node uses the model.
        config_sources: the modules whose code validates a config (their source is part of a
            remembered config's key, so a changed validator validates again).
    """

    name: str
    kind: Literal["dir", "file"]
    description: str
    config_model: type[BaseModel] | str
    build: Callable[[NodePath, Any, bytes], Any]
    commands: Mapping[str, Command] = field(default_factory=dict)
    restore: Callable[[dict[str, Any]], Any] | None = None
    config_sources: tuple[str, ...] = ()

    def model(self) -> type[BaseModel]:
        """The pydantic model of the config (imported on first use if named by a string)."""
        if isinstance(self.config_model, str):
            import importlib

            module, _, name = self.config_model.partition(":")
            model: type[BaseModel] = getattr(importlib.import_module(module), name)
            return model
        return self.config_model

    def parse(self, config: str | bytes, path: str | None = None) -> Any:
        """Validate a YAML config (text or UTF-8 bytes): an instance of :attr:`config_model`,
        or what :attr:`restore` makes of its dump.

        Raises:
            InvalidData: not YAML, not a mapping, or a field is invalid; the message names every
                bad field by its path (``inputs[0].pattern: field required``).
        """
        return self._plain(self._validate(config, path))

    def load(self, config: bytes, nodepath: NodePath) -> Any:
        """:meth:`parse` the config of the dynamic node ``nodepath``, remembered between
        processes for a factory with :attr:`restore`: the validated config's dump is kept in
        the pond's cache (:mod:`duckpond.factories.cache`, entry ``<factory>/<node id>/config``)
        under a key made of the config bytes and the source of :attr:`config_sources`, so a new
        process reading the node imports neither yaml nor pydantic (~50 ms). A missing, corrupt
        or stale entry is validated again (and written).

        Raises:
            InvalidData: as :meth:`parse`.
        """
        if self.restore is None:
            return self.parse(config, nodepath.path)
        from duckpond.factories.cache import cache_of

        cache = cache_of(nodepath.fs)
        memo = self.memo(nodepath, config)
        if cache is None or memo is None:
            return self.parse(config, nodepath.path)
        entry, key = memo
        header = cache.header(entry)
        if header is not None and header.get("keys") == [key]:
            try:
                return self.restore(header["config"])
            except Exception as exc:  # noqa: BLE001 - an entry of another shape: validate again
                _log.debug("remembered config %s not used: %s", entry, exc)
        model = self._validate(config, nodepath.path)
        dump = model.model_dump(mode="json")
        import pyarrow as pa

        cache.put(entry, {"keys": [key], "factory": self.name, "config": dump}, pa.table({}))
        return self.restore(dump)

    def memo(self, nodepath: NodePath, config: bytes) -> tuple[str, str] | None:
        """The cache entry and key of the remembered config of ``nodepath`` (``None``: this
        factory does not remember configs, or its validating source cannot be read)."""
        if self.restore is None:
            return None
        digest = _source_digest(self.config_sources)
        if digest is None:
            return None
        h = hashlib.sha256(f"{MEMO_FORMAT}\0{self.name}\0{digest}\0".encode())
        h.update(config)
        return f"{self.name}/{nodepath.node.node_id}/config", h.hexdigest()

    def _plain(self, model: Any) -> Any:
        return model if self.restore is None else self.restore(model.model_dump(mode="json"))

    def _validate(self, config: str | bytes, path: str | None) -> Any:
        import yaml
        from pydantic import ValidationError

        text = config.decode("utf-8") if isinstance(config, bytes) else config
        try:
            data = yaml.safe_load(text) if text.strip() else {}
        except yaml.YAMLError as exc:
            raise InvalidData(
                f"{self.name} config is not valid YAML: {_yaml_error(exc)}", path
            ) from None
        if not isinstance(data, dict):
            raise InvalidData(f"{self.name} config must be a YAML mapping of fields", path)
        try:
            return self.model().model_validate(data)
        except ValidationError as exc:
            raise InvalidData(f"invalid {self.name} config: {describe_errors(exc)}", path) from None

    def parse_mapping(self, data: Mapping[str, Any], path: str | None = None) -> Any:
        """Like :meth:`parse` for an already-parsed mapping (``pond apply`` documents)."""
        from pydantic import ValidationError

        try:
            return self._plain(self.model().model_validate(dict(data)))
        except ValidationError as exc:
            raise InvalidData(f"invalid {self.name} config: {describe_errors(exc)}", path) from None


def describe_errors(exc: Any, prefix: str = "") -> str:
    """One line from a pydantic ``ValidationError``: ``field.path: message; ...``."""
    parts = []
    for err in exc.errors():
        loc = prefix
        for item in err.get("loc", ()):
            if isinstance(item, int):
                loc += f"[{item}]"
            elif str(item) == "[key]" or str(item).startswith(("function-", "tagged-union[")):
                continue
            else:
                loc += ("." if loc else "") + str(item)
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc or '(config)'}: {msg}")
    return "; ".join(parts)


def _yaml_error(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(problem)


class Registry(Mapping[str, Factory]):
    """Factories by name. :data:`FACTORIES` holds the built-ins; tests may build their own.

    Args:
        factories: initial factories; ``None`` loads the built-ins on first use.
    """

    def __init__(self, factories: Sequence[Factory] | None = None) -> None:
        self._factories: dict[str, Factory] = {f.name: f for f in factories or ()}
        self._complete = factories is not None  # the built-ins are loaded on first use

    def _load(self, mod_name: str) -> None:
        import importlib

        mod = importlib.import_module(f"duckpond.factories.{mod_name}")
        for f in getattr(mod, "FACTORIES", None) or [mod.FACTORY]:
            self._factories.setdefault(f.name, f)  # registered ones win over built-ins

    def _all(self) -> dict[str, Factory]:
        if not self._complete:
            for mod_name in BUILTIN_MODULES:
                self._load(mod_name)
            self._complete = True
        return self._factories

    def _one(self, name: str) -> Factory | None:
        """The factory ``name``, importing only its module when it is a built-in."""
        factory = self._factories.get(name)
        if factory is None and not self._complete and name in BUILTIN_BY_NAME:
            self._load(BUILTIN_BY_NAME[name])
            factory = self._factories.get(name)
        return factory if factory is not None else self._all().get(name)

    def __getitem__(self, name: str) -> Factory:
        factory = self._one(name)
        if factory is None:
            raise KeyError(name)
        return factory

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._all()))

    def __len__(self) -> int:
        return len(self._all())

    def register(self, factory: Factory) -> None:
        """Add (or replace) a factory."""
        self._all()[factory.name] = factory

    def with_factories(self, *extra: Factory) -> Registry:
        """A new registry: these factories plus the built-ins."""
        return Registry([*self._all().values(), *extra])

    def get(self, name: str, default: Any = None) -> Factory:
        """The factory called ``name``.

        Raises:
            UsageError: there is none (the message lists the known ones).
        """
        factory = self._one(name)
        if factory is None:
            known = ", ".join(sorted(self._all()))
            raise UsageError(f"unknown factory {name!r} (known: {known})")
        return factory

    def resolve(self, nodepath: NodePath, name: str, config: bytes) -> Any:
        """The :data:`~duckpond.tinyfs.fs.FactoryResolver`: build a stored dynamic node."""
        try:
            factory = self.get(name)
        except UsageError as exc:
            raise UsageError(exc.message, nodepath.path) from None
        return factory.build(nodepath, factory.load(config, nodepath), config)

    def resolver(self) -> Callable[[NodePath, str, bytes], Any]:
        """This registry as a resolver to pass to ``Pond.open(factories=...)``."""
        return self.resolve


#: The built-in factories (loaded on first use).
FACTORIES: Final = Registry()


def resolver(nodepath: NodePath, name: str, config: bytes) -> Any:
    """The built-in registry's resolver (also :func:`duckpond.factories.resolver`)."""
    return FACTORIES.resolve(nodepath, name, config)


def get_factory(name: str) -> Factory:
    """The built-in factory ``name``.

    Raises:
        UsageError: no such factory.
    """
    return FACTORIES.get(name)


def list_factories(registry: Registry | None = None) -> list[tuple[str, str, str]]:
    """``(name, description, kind)`` of every factory, sorted by name (``pond list-factories``)."""
    reg = FACTORIES if registry is None else registry
    return [(f.name, f.description, f.kind) for f in (reg[n] for n in reg)]


def config_bytes(text: str | bytes) -> bytes:
    """The bytes stored as a node's config (UTF-8 text as given)."""
    return text if isinstance(text, bytes) else text.encode("utf-8")


def mknod(
    root: WD,
    factory: str,
    path: str,
    config: str | bytes,
    *,
    overwrite: bool = False,
    registry: Registry | None = None,
) -> NodePath:
    """Validate ``config`` and store it as a dynamic node at ``path`` (``pond mknod``).

    Args:
        root: a writable WD (``tx.root()``) of an open transaction.
        factory: the factory name (``sql-derived``, ``timeseries-join``, ``temporal-reduce``).
        path: the new node's pond path; its parent directory must exist.
        config: the YAML config text (stored as given, UTF-8).
        overwrite: replace the config of an existing dynamic node of the same kind.
        registry: factories to use (default :data:`FACTORIES`).

    Returns:
        The new node.

    Raises:
        UsageError: unknown factory.
        InvalidData: the config is invalid (the message names the field).
        AlreadyExists: ``path`` exists (and ``overwrite`` is false or it is not such a node).
        NotFound: the parent directory is missing.
    """
    reg = FACTORIES if registry is None else registry
    try:
        fac = reg.get(factory)
    except UsageError as exc:
        raise UsageError(exc.message, path) from None
    raw = config_bytes(config)
    fac.parse(raw, path)
    return root.create_dynamic(
        path, fac.name, raw, directory=fac.kind == "dir", overwrite=overwrite
    )


def run(
    pond: Pond,
    path: str,
    command: str,
    args: Sequence[str] = (),
    *,
    registry: Registry | None = None,
) -> Any:
    """Run a command of the factory behind the dynamic node at ``path`` (``pond run``).

    A command that writes runs in one transaction recorded as ``run <path> <command> <args>``;
    others read the pond as it is.

    Returns:
        Whatever the command returns (a report object, or ``None``).

    Raises:
        NotFound: no such node. UsageError: not a dynamic node, or the factory has no such command
        (the message lists its commands).
    """
    reg = FACTORIES if registry is None else registry
    nodepath = pond.root().resolve(path)
    latest = nodepath.latest() if not nodepath.node.dynamic else None
    if latest is None or latest.factory is None:
        raise UsageError("not a dynamic node (made with mknod)", nodepath.path)
    fac = reg.get(latest.factory)
    cmd = fac.commands.get(command)
    if cmd is None:
        known = ", ".join(sorted(fac.commands)) or "none"
        raise UsageError(
            f"factory {fac.name} has no command {command!r} (commands: {known})", nodepath.path
        )
    config = fac.load(latest.content or b"", nodepath)
    if not cmd.writes:
        return cmd.func(RunContext(pond, nodepath, config, pond.root()), list(args))
    with pond.transaction(["run", path, command, *args]) as tx:
        root = tx.root()
        return cmd.func(RunContext(pond, root.resolve(path), config, root), list(args))
