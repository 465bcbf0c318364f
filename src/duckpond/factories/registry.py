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

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

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
    ``config_model``) and the stored bytes, and returns a
    :class:`~duckpond.tinyfs.fs.DynamicFile` or :class:`~duckpond.tinyfs.fs.DynamicDirectory`.
    """

    name: str
    kind: Literal["dir", "file"]
    description: str
    config_model: type[BaseModel]
    build: Callable[[NodePath, Any, bytes], Any]
    commands: Mapping[str, Command] = field(default_factory=dict)

    def parse(self, config: str | bytes, path: str | None = None) -> Any:
        """Validate a YAML config (text or UTF-8 bytes) into :attr:`config_model`.

        Raises:
            InvalidData: not YAML, not a mapping, or a field is invalid; the message names every
                bad field by its path (``inputs[0].pattern: field required``).
        """
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
            return self.config_model.model_validate(data)
        except ValidationError as exc:
            raise InvalidData(f"invalid {self.name} config: {describe_errors(exc)}", path) from None

    def parse_mapping(self, data: Mapping[str, Any], path: str | None = None) -> Any:
        """Like :meth:`parse` for an already-parsed mapping (``pond apply`` documents)."""
        from pydantic import ValidationError

        try:
            return self.config_model.model_validate(dict(data))
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
        return factory.build(nodepath, factory.parse(config, nodepath.path), config)

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
    config = fac.parse(latest.content or b"", nodepath.path)
    if not cmd.writes:
        return cmd.func(RunContext(pond, nodepath, config, pond.root()), list(args))
    with pond.transaction(["run", path, command, *args]) as tx:
        root = tx.root()
        return cmd.func(RunContext(pond, root.resolve(path), config, root), list(args))
