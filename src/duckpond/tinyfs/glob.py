"""The glob engine: pattern compilation, matching and expansion, independent of storage.

Syntax (docs/design.md, "Globs"), close to POSIX ``glob(7)`` and Python's :mod:`glob` with
``recursive=True``:

- ``*`` matches any run of characters within one path component (possibly empty), ``?`` exactly
  one character, ``[...]`` one character of a class: ranges ``a-z``, negation with a leading ``!``
  or ``^``, a ``]`` right after the opening bracket (or after the negation) is literal, ``-`` first
  or last is literal. There is no backslash escaping: write ``[*]`` for a literal ``*``.
- ``**`` alone as a component matches zero or more whole components and recurses even as the last
  component: ``/a/**`` is ``/a`` itself and every entry below it. ``a**b`` is an error.
- Every wildcard yields one *capture*, in order of appearance: ``*`` the substring it matched (each
  ``*`` matches as few characters as possible, leftmost first), ``?`` and ``[...]`` the character,
  ``**`` the matched components joined by ``/`` (``""`` for zero). :func:`substitute` puts them in
  output templates as ``$0``, ``$1``, ... .
- Names beginning with ``.`` are hidden: ``*``, ``?`` and ``[...]`` do not match them and ``**``
  does not enter or yield them, unless ``include_hidden`` or the pattern component itself starts
  with a literal ``.``.
- ``.`` components are dropped and ``..`` components are resolved lexically when compiling (so
  ``/a/*/../b`` is ``/a/b``); ``..`` above the root is an error.
- A trailing ``/`` lists: ``/d/`` is the contents of every directory ``/d`` matches; ``/d`` is the
  entry itself. The pattern ``/`` is the contents of the root.
- Intermediate components only descend into directories (kinds ``"dir"`` and ``"symlink_dir"``).
  ``**`` only descends into real directories (``"dir"``): it yields a ``"symlink_dir"`` as an entry
  but never looks inside one, so symlink loops cannot make it recurse forever; a literal or
  single-component wildcard goes through one (``/ln/*``). ``**`` on a file matches nothing.

Differences from Python's :func:`glob.glob`: the trailing-slash listing; results are deduplicated
and sorted by path components; ``**`` does not follow symlinks; a bare ``**`` includes the start
directory; ``**`` under a file matches nothing; ``[^...]`` negates; ``..`` is lexical; an unclosed
``[`` is an error rather than a literal.

The module knows nothing about storage: :func:`expand` walks any tree through two callbacks,
``lookup`` (one child by exact name, used for literal components) and ``children`` (a listing,
used for wildcard components).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeAlias, TypeVar

from duckpond.errors import InvalidPath
from duckpond.tinyfs.paths import check_utf8

__all__ = [
    "DIR_KINDS",
    "Children",
    "Component",
    "GlobMatch",
    "GlobPattern",
    "Kind",
    "Lookup",
    "compile_component",
    "compile_glob",
    "expand",
    "has_magic",
    "match_component",
    "substitute",
]


def has_magic(pattern: str) -> bool:
    """Whether a path holds glob wildcards (``*``, ``?``, ``[``): a pattern, not a plain path."""
    return any(c in "*?[" for c in pattern)


N = TypeVar("N")

Kind: TypeAlias = str
"""``"dir"``, ``"file"``, ``"symlink_dir"`` (a symlink to a directory) or ``"symlink"``."""

DIR_KINDS = frozenset({"dir", "symlink_dir"})
"""Kinds an intermediate component may descend into."""

Lookup: TypeAlias = Callable[[N, str], tuple[N, Kind] | None]
"""``lookup(dir_node, name)``: the child named exactly ``name`` and its kind, or ``None``."""

Children: TypeAlias = Callable[[N], Iterable[tuple[str, N, Kind]]]
"""``children(dir_node)``: every ``(name, node, kind)`` of a directory, in any order."""

_MAGIC = frozenset("*?[")


@dataclass(frozen=True)
class Component:
    """One compiled path component of a pattern.

    Attributes:
        text: the component as written (for an anchored prefix, the name itself).
        kind: ``"literal"`` (no wildcard), ``"wildcard"`` (``*``, ``?``, ``[...]``) or
            ``"globstar"`` (exactly ``**``).
        literals: the literal text around the wildcards, ``len(literals) == captures + 1``;
            ``literals[0] + cap[0] + literals[1] + ... + literals[-1]`` is the matched name.
        regex: the compiled full-match regex with one group per wildcard (wildcard kind only).
    """

    text: str
    kind: Literal["literal", "wildcard", "globstar"]
    literals: tuple[str, ...]
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def captures(self) -> int:
        """How many captures a match of this component yields."""
        if self.kind == "globstar":
            return 1
        return len(self.literals) - 1

    @property
    def hidden_ok(self) -> bool:
        """True when the component starts with a literal ``.`` and so may match hidden names."""
        return self.kind == "literal" or (bool(self.literals[0]) and self.literals[0][0] == ".")

    @classmethod
    def literal(cls, name: str) -> Component:
        """A component that matches exactly ``name``, even if it contains ``*``, ``?`` or ``[``."""
        return cls(name, "literal", (name,))


@dataclass(frozen=True)
class GlobPattern:
    """A compiled glob pattern (see the module docstring for the semantics).

    Attributes:
        components: the components after dropping ``.`` and resolving ``..`` lexically.
        absolute: the pattern began with ``/``.
        trailing_slash: the pattern ended with ``/``: list the contents of each match.
        parents: for a relative pattern, how many leading ``..`` remain (they climb above the
            start directory); always 0 for an absolute pattern. See :meth:`anchor`.
    """

    components: tuple[Component, ...]
    absolute: bool
    trailing_slash: bool
    parents: int = 0

    def is_literal(self) -> bool:
        """True when no component has a wildcard (the pattern names at most one entry)."""
        return all(c.kind == "literal" for c in self.components)

    @property
    def captures(self) -> int:
        """How many captures each match yields."""
        return sum(c.captures for c in self.components)

    def anchor(self, base_parts: Sequence[str]) -> GlobPattern:
        """The absolute pattern equivalent to this one taken relative to ``base_parts``.

        Args:
            base_parts: the components of the directory a relative pattern starts from.

        Returns:
            ``self`` if already absolute, else an absolute pattern whose first components are the
            (literal) ``base_parts`` less the ``parents`` that ``..`` climbed.

        Raises:
            InvalidPath: the leading ``..`` climb above the root.
        """
        if self.absolute:
            return self
        if self.parents > len(base_parts):
            raise InvalidPath("'..' goes above the root", str(self))
        kept = tuple(base_parts)[: len(base_parts) - self.parents]
        prefix = tuple(Component.literal(name) for name in kept)
        return GlobPattern(prefix + self.components, True, self.trailing_slash)

    def __str__(self) -> str:
        body = "/".join([".."] * self.parents + [c.text for c in self.components])
        text = ("/" if self.absolute else "") + body
        if self.trailing_slash and body:
            text += "/"
        return text or ("./" if self.trailing_slash else ".")


@dataclass(frozen=True)
class GlobMatch(Generic[N]):
    """One result of :func:`expand`.

    Attributes:
        parts: path components from the root, e.g. ``("a", "b.csv")``; ``()`` is the root.
        node: the node the callbacks returned (for ``"symlink_dir"``, whatever they return for it).
        kind: the entry's kind, see :data:`Kind`.
        captures: one string per wildcard of the pattern, in order.
    """

    parts: tuple[str, ...]
    node: N
    kind: Kind
    captures: tuple[str, ...]

    @property
    def path(self) -> str:
        """The absolute path, ``"/" + "/".join(parts)``."""
        return "/" + "/".join(self.parts)


def compile_glob(pattern: str) -> GlobPattern:
    """Compile a glob pattern.

    Args:
        pattern: e.g. ``"/data/**/site_*.series"``; relative patterns are relative to the start
            directory given to :func:`expand`.

    Returns:
        The compiled pattern (cached: compiling the same text twice is cheap).

    Raises:
        InvalidPath: empty pattern, NUL, not UTF-8, an unclosed ``[``, a reversed range
            ``[z-a]``, ``**`` mixed with other characters in one component, ``..`` above the
            root of an absolute pattern. ``.path`` is the pattern.
    """
    if not isinstance(pattern, str) or pattern == "":
        raise InvalidPath("empty glob pattern", str(pattern))
    if "\x00" in pattern:
        raise InvalidPath("a glob pattern may not contain NUL", pattern.replace("\x00", "\\0"))
    check_utf8(pattern)
    return _compile_glob(pattern)


@functools.lru_cache(maxsize=512)
def _compile_glob(pattern: str) -> GlobPattern:
    absolute = pattern.startswith("/")
    components: list[Component] = []
    parents = 0
    for part in pattern.split("/"):
        if part in {"", "."}:
            continue
        if part == "..":
            if components:
                components.pop()
            elif absolute:
                raise InvalidPath("'..' goes above the root", pattern)
            else:
                parents += 1
            continue
        try:
            components.append(_compile_component(part))
        except ValueError as exc:
            raise InvalidPath(str(exc), pattern) from None
    return GlobPattern(tuple(components), absolute, pattern.endswith("/"), parents)


@functools.lru_cache(maxsize=1024)
def _compile_component(text: str) -> Component:
    """Parse one component into literals and a regex; raises ValueError on bad syntax."""
    if text == "**":
        return Component(text, "globstar", ("", ""))
    if not _MAGIC & set(text):
        return Component(text, "literal", (text,))
    literals: list[str] = []
    regex: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "*?[":
            if c == "*" and i + 1 < n and text[i + 1] == "*":
                raise ValueError(f"'**' must be a whole component, not part of {text!r}")
            if c == "[":
                group, i = _parse_class(text, i)
            else:
                group, i = ("(.*?)" if c == "*" else "(.)"), i + 1
            literals.append("".join(buf))
            regex.append(re.escape("".join(buf)) + group)
            buf = []
        else:
            buf.append(c)
            i += 1
    literals.append("".join(buf))
    regex.append(re.escape("".join(buf)))
    return Component(text, "wildcard", tuple(literals), re.compile("".join(regex), re.DOTALL))


def _parse_class(text: str, start: int) -> tuple[str, int]:
    """Parse ``[...]`` at ``text[start]``; returns the regex group and the index after ``]``."""
    j = start + 1
    negate = j < len(text) and text[j] in "!^"
    if negate:
        j += 1
    first = j
    if j < len(text) and text[j] == "]":
        j += 1
    end = text.find("]", j)
    if end < 0:
        raise ValueError(f"unclosed '[' in {text!r}")
    body = text[first:end]
    items: list[str] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            lo, hi = body[k], body[k + 2]
            if lo > hi:
                raise ValueError(f"reversed range '{lo}-{hi}' in {text!r}")
            items.append(f"{re.escape(lo)}-{re.escape(hi)}")
            k += 3
        else:
            items.append(re.escape(body[k]))
            k += 1
    return f"([{'^' if negate else ''}{''.join(items)}])", end + 1


def compile_component(text: str) -> Component:
    """Compile one path component (no ``/``); ``.`` and ``..`` are plain literals here.

    Args:
        text: e.g. ``"site_*_?.csv"`` or ``"**"``.

    Returns:
        The compiled component (cached).

    Raises:
        InvalidPath: bad syntax (see :func:`compile_glob`), or ``/`` or NUL in ``text``.
    """
    if "/" in text or "\x00" in text:
        raise InvalidPath("a component may not contain '/' or NUL", text.replace("\x00", "\\0"))
    try:
        return _compile_component(text)
    except ValueError as exc:
        raise InvalidPath(str(exc), text) from None


def match_component(component: Component | str, name: str) -> tuple[str, ...] | None:
    """Match one name against one component.

    This is pure pattern matching: the hidden-name rule is applied by :func:`expand`, not here.

    Args:
        component: a compiled :class:`Component` or the component's text.
        name: a directory entry name.

    Returns:
        The captures (``()`` for a literal, ``(name,)`` for ``**``), or ``None`` if no match.

    Raises:
        InvalidPath: ``component`` is a string with bad syntax.
    """
    if isinstance(component, str):
        component = compile_component(component)
    if component.kind == "literal":
        return () if name == component.text else None
    if component.kind == "globstar":
        return (name,)
    assert component.regex is not None
    m = component.regex.fullmatch(name)
    return None if m is None else m.groups()


def expand(
    pattern: GlobPattern,
    start: N,
    start_parts: tuple[str, ...],
    lookup: Lookup[N],
    children: Children[N],
    *,
    include_hidden: bool = False,
    root: N | None = None,
) -> Iterator[GlobMatch[N]]:
    """Every entry the pattern matches, deduplicated by path and sorted by path components.

    Literal components go through ``lookup`` (no listing); wildcard components and ``**`` list
    with ``children``. A path reached several ways (through ``**``) appears once, with the
    captures of the first way found when exploring ``**`` zero components first and children in
    name order. The start directory is assumed to be of kind ``"dir"``.

    Args:
        pattern: from :func:`compile_glob`.
        start: the directory node relative patterns start from (the root for absolute ones,
            unless ``root`` is given).
        start_parts: the components of ``start``'s path from the root (``()`` for the root).
        lookup: child of a directory by exact name, see :data:`Lookup`. For a ``"symlink_dir"``
            the returned node must be accepted by ``lookup`` and ``children`` as a directory.
        children: all children of a directory, see :data:`Children`.
        include_hidden: let wildcards and ``**`` match names beginning with ``.``.
        root: the root node. Needed for an absolute pattern when ``start`` is not the root, and
            for a relative pattern whose leading ``..`` climb above ``start``.

    Yields:
        :class:`GlobMatch` records, sorted by ``parts``.

    Raises:
        InvalidPath: the pattern climbs above the root, or needs ``root`` and none was given.
    """
    if pattern.parents:
        pattern = pattern.anchor(start_parts)
    if pattern.absolute and start_parts:
        if root is None:
            raise InvalidPath("an absolute pattern needs the root node to start from", str(pattern))
        start, start_parts = root, ()
    walker = _Walker(pattern, lookup, children, include_hidden)
    walker.walk(0, start, "dir", tuple(start_parts), ())
    for parts in sorted(walker.found):
        yield walker.found[parts]


class _Walker(Generic[N]):
    """Depth-first expansion; each (component index, path) state is explored once."""

    def __init__(
        self,
        pattern: GlobPattern,
        lookup: Lookup[N],
        children: Children[N],
        include_hidden: bool,
    ) -> None:
        self.comps = pattern.components
        self.trailing_slash = pattern.trailing_slash
        self.lookup = lookup
        self.children = children
        self.include_hidden = include_hidden
        self.found: dict[tuple[str, ...], GlobMatch[N]] = {}
        self.seen: set[tuple[bool, int, tuple[str, ...]]] = set()

    def _listing(self, node: N, hidden_ok: bool) -> list[tuple[str, N, Kind]]:
        entries = sorted(self.children(node), key=lambda e: e[0])
        if hidden_ok or self.include_hidden:
            return entries
        return [e for e in entries if not e[0].startswith(".")]

    def _emit(self, parts: tuple[str, ...], node: N, kind: Kind, caps: tuple[str, ...]) -> None:
        if parts not in self.found:
            self.found[parts] = GlobMatch(parts, node, kind, caps)

    def walk(
        self, i: int, node: N, kind: Kind, parts: tuple[str, ...], caps: tuple[str, ...]
    ) -> None:
        """Match components ``i:`` below ``node`` (reached at ``parts`` with captures ``caps``)."""
        key = (False, i, parts)
        if key in self.seen:
            return
        self.seen.add(key)
        if i == len(self.comps):
            if not self.trailing_slash:
                self._emit(parts, node, kind, caps)
            elif kind in DIR_KINDS:
                for name, child, ckind in self._listing(node, False):
                    self._emit((*parts, name), child, ckind, caps)
            return
        if kind not in DIR_KINDS:
            return
        comp = self.comps[i]
        if comp.kind == "globstar":
            self.globstar(i, node, kind, parts, caps, ())
        elif comp.kind == "literal":
            hit = self.lookup(node, comp.text)
            if hit is not None:
                self.walk(i + 1, hit[0], hit[1], (*parts, comp.text), caps)
        else:
            assert comp.regex is not None
            for name, child, ckind in self._listing(node, comp.hidden_ok):
                m = comp.regex.fullmatch(name)
                if m is not None:
                    self.walk(i + 1, child, ckind, (*parts, name), caps + m.groups())

    def globstar(
        self,
        i: int,
        node: N,
        kind: Kind,
        parts: tuple[str, ...],
        caps: tuple[str, ...],
        consumed: tuple[str, ...],
    ) -> None:
        """``**`` at component ``i`` has consumed ``consumed`` so far and stands at ``node``."""
        key = (True, i, parts)
        if key in self.seen:
            return
        self.seen.add(key)
        self.walk(i + 1, node, kind, parts, (*caps, "/".join(consumed)))
        for name, child, ckind in self._listing(node, False):
            if ckind == "dir":
                self.globstar(i, child, ckind, (*parts, name), caps, (*consumed, name))
            elif i + 1 == len(self.comps):
                # Files and symlinks are leaves for **: matched only when nothing follows it,
                # so nothing is ever looked up inside a symlink_dir that ** stepped on.
                path = (*consumed, name)
                self.walk(i + 1, child, ckind, (*parts, name), (*caps, "/".join(path)))


_SUBST = re.compile(r"\$(?:(\d+)|\{(\d+)\}|(\$)|(.|$))", re.DOTALL)


def substitute(template: str, captures: Sequence[str]) -> str:
    """Replace ``$0``, ``$1``, ... and ``${0}`` in ``template`` with captures.

    ``$12`` is capture 12; write ``${1}2`` for capture 1 followed by ``2``. ``$$`` is a literal
    ``$``.

    Args:
        template: an output pattern such as ``"/out/$0/$1.series"``.
        captures: from :attr:`GlobMatch.captures`.

    Returns:
        The template with every reference replaced.

    Raises:
        InvalidPath: an index out of range, or a ``$`` not followed by a digit, ``{digits}`` or
            ``$``. ``.path`` is the template.
    """

    def replace(m: re.Match[str]) -> str:
        if m.group(3) is not None:
            return "$"
        if m.group(4) is not None:
            raise InvalidPath("'$' must be followed by a capture index, '{index}' or '$'", template)
        index = int(m.group(1) or m.group(2))
        if index >= len(captures):
            raise InvalidPath(
                f"${index} is out of range: the pattern has {len(captures)} capture(s)", template
            )
        return captures[index]

    return _SUBST.sub(replace, template)
