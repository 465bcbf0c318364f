"""``template``: Jinja2 templates rendered once per pattern match (a dynamic directory).

The proof of concept wrote one Observable Framework page per site and parameter from templates;
this factory does the same for any text: extra pages for the website (``sitegen``'s ``include``),
Markdown for Observable Framework, reports.

Config (YAML)::

    pattern: /reduced/*          # glob; one output file per match
    name: "$0.md"                # output name; $0, $1 ... are the glob's captures
    template: |                  # Jinja2 (https://jinja.palletsprojects.com), StrictUndefined
      # {{ name }}
      Covers {{ start }} to {{ end }}; series: {{ children | join(", ") }}

Variables: ``path`` and ``name`` of the match, ``captures`` (list), ``children`` (entry names if
the match is a directory), ``file_type``, and ``start``/``end`` (ISO-8601 UTC of its event-time
bounds when it is a series, else empty). Outputs are ``file:data`` (UTF-8 text), read-only,
computed on read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from duckpond.errors import InvalidData
from duckpond.factories.registry import Factory
from duckpond.tinyfs.lineage import Lineage

if TYPE_CHECKING:
    from duckpond.tinyfs.fs import NodePath

__all__ = ["FACTORY", "TemplateConfig"]


class TemplateConfig(BaseModel):
    """Config of ``template`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(min_length=1)
    name: str = Field(min_length=1)
    template: str = Field(min_length=1)

    @field_validator("template")
    @classmethod
    def _compiles(cls, value: str) -> str:
        import jinja2

        try:
            jinja2.Environment(undefined=jinja2.StrictUndefined).parse(value)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"Jinja2 syntax error at line {exc.lineno}: {exc.message}") from None
        return value


def _iso(us: int | None) -> str:
    if us is None:
        return ""
    return dt.datetime.fromtimestamp(us / 1e6, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Rendered:
    file_type = "file:data"

    def __init__(self, template: Any, context: dict[str, Any], where: str) -> None:
        self._template = template
        self._context = context
        self._where = where

    def read_bytes(self) -> bytes:
        import jinja2

        try:
            return str(self._template.render(**self._context)).encode("utf-8")
        except jinja2.TemplateError as exc:
            raise InvalidData(f"template: {exc}", self._where) from None

    def lineage(self) -> Lineage:
        return Lineage.opaque()


class _TemplateDir:
    def __init__(self, node: NodePath, config: TemplateConfig) -> None:
        self._node = node
        self._config = config

    def lineage(self) -> Lineage:
        return Lineage.opaque()

    def entries(self) -> Iterable[tuple[str, _Rendered]]:
        import jinja2

        from duckpond.tinyfs.fs import WD
        from duckpond.tinyfs.glob import substitute

        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        template = env.from_string(self._config.template)
        root = self._node.fs.root()
        seen: dict[str, str] = {}
        for m in root.glob(self._config.pattern):
            if m.path == self._node.path or m.path.startswith(self._node.path + "/"):
                continue
            name = substitute(self._config.name, m.captures)
            if name in seen:
                raise InvalidData(
                    f"template: {m.path} and {seen[name]} both render to {name!r}", self._node.path
                )
            seen[name] = m.path
            stat = m.stat()
            children = [c.name for c in WD(root.fs, m).list(".")] if m.is_dir else []
            context = {
                "path": m.path,
                "name": m.name,
                "captures": list(m.captures),
                "children": children,
                "file_type": stat.file_type,
                "start": _iso(stat.min_event_time),
                "end": _iso(stat.max_event_time),
            }
            yield name, _Rendered(template, context, f"{self._node.path}/{name}")


FACTORY = Factory(
    name="template",
    kind="dir",
    description="Jinja2 template rendered once per glob match (one text file each)",
    config_model=TemplateConfig,
    build=lambda np, config, raw: _TemplateDir(np, config),
)
