"""Markdown content pages (About, Methods) with YAML front matter, for the website.

A content file is UTF-8 Markdown (CommonMark, plus tables and strikethrough), optionally starting
with a YAML front matter block between two ``---`` lines::

    ---
    title: About the network     # default: the first heading, else the file name
    slug: about                  # the page's file name (default: the file name without suffix)
    order: 1                     # position in the navigation (default 0; then by title)
    description: Who we are      # optional, shown under the title
    ---
    # About the network
    ...

Content comes from the pond, so it is treated as hostile: raw HTML in the Markdown is escaped,
not passed through, and links with ``javascript:``, ``vbscript:``, ``file:`` or ``data:``
(other than images) URLs are not made links (markdown-it-py's ``validateLink``).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from duckpond.errors import InvalidData
from duckpond.site.render import ContentPage

__all__ = ["parse_content"]

_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_KEYS = {"title", "slug", "order", "description"}


def _markdown() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


def parse_content(text: bytes | str, name: str, where: str = "") -> ContentPage:
    """A :class:`~duckpond.site.render.ContentPage` from a Markdown file named ``name``.

    Raises:
        InvalidData: not UTF-8, bad front matter (not YAML, not a mapping, an unknown key, a
            wrong type), or a slug that is not file-safe; ``where`` (a pond path) is named.
    """
    where = where or name
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidData(f"content page is not UTF-8 ({exc.reason})", where) from None
    text = text.removeprefix("\ufeff")
    meta: dict[str, Any] = {}
    m = _FRONT.match(text)
    if m is not None:
        try:
            loaded = yaml.safe_load(m.group(1))
        except yaml.YAMLError as exc:
            raise InvalidData(f"front matter is not YAML: {exc}".splitlines()[0], where) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise InvalidData("front matter must be a mapping (key: value lines)", where)
        meta = loaded or {}
        unknown = sorted(str(k) for k in meta if k not in _KEYS)
        if unknown:
            raise InvalidData(
                f"front matter: unknown key(s) {', '.join(unknown)} (known: "
                f"{', '.join(sorted(_KEYS))})",
                where,
            )
        text = text[m.end() :]
    for key in ("title", "slug", "description"):
        if key in meta and not isinstance(meta[key], str):
            raise InvalidData(f"front matter: {key} must be text", where)
    order = meta.get("order", 0)
    if not isinstance(order, int) or isinstance(order, bool):
        raise InvalidData("front matter: order must be a whole number", where)
    stem = re.sub(r"\.(md|markdown)$", "", name, flags=re.I)
    slug = meta.get("slug") or re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", slug or ""):
        raise InvalidData(f"content page slug {slug!r} is not file-safe", where)
    md = _markdown()
    tokens = md.parse(text)
    title = meta.get("title")
    if not title:
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open" and i + 1 < len(tokens):
                title = tokens[i + 1].content.strip()
                break
    html = md.renderer.render(tokens, md.options, {})
    return ContentPage(
        slug=slug,
        title=title or stem,
        html=html,
        description=meta.get("description", ""),
        order=order,
    )
