"""Read the ``feeds:`` section of feeds.yaml (named views).

::

    feeds:
      ai-safety-outlets:              # served at /feeds/ai-safety-outlets.atom
        title: AI safety from three outlets
        topics: [ai-safety]           # any of these topics
        authors: [ramsha-riaz]        # any of these authors (feed slugs)
        sources: [Example News, https://b.example/feed]   # names or URLs
        query: 'alignment OR "red teaming" NOT jobs'      # search language

An entry is in a view when it meets every condition the view sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from yaml.nodes import Node

from feedhub.config._query import parse_query
from feedhub.config._reader import NodeReader, child, is_null, suggest
from feedhub.config._values import url_key
from feedhub.exceptions import QueryError
from feedhub.types import SourceConfig, TopicConfig, ViewConfig

__all__ = ["read_views"]

_VIEW_KEYS = ("title", "description", "topics", "authors", "sources", "query")
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]*")


def read_views(
    reader: NodeReader,
    node: Node | None,
    topics: tuple[TopicConfig, ...],
    sources: tuple[SourceConfig, ...],
) -> tuple[ViewConfig, ...]:
    """Read ``feeds:``; absent or null gives none.

    Raises:
        ConfigError: naming the file, line and key of a bad slug, an unknown
            topic or source, an author that is not a slug, an invalid query,
            or a view without any condition.
    """
    if node is None or is_null(node):
        return ()
    views = []

    def check_slug(name_node: Node, key: str, name: str) -> None:
        # The slug becomes the path of the view's feed, /feeds/<slug>.atom.
        if not _SLUG_RE.fullmatch(name):
            raise reader.error(
                name_node, key, f"view name {name!r} cannot be used in a URL; "
                "use lower-case letters, digits and '-', starting with a letter "
                "or digit (e.g. 'ai-safety-outlets')",
            )  # fmt: skip

    for slug, value in reader.mapping(node, "feeds", None, check_slug).items():
        key = child("feeds", slug)
        values = reader.mapping(value, key, _VIEW_KEYS)
        view = ViewConfig(
            slug=slug,
            title=reader.get(values, "title", key, reader.text, slug),
            description=reader.get(
                values, "description", key, reader.optional_text, None
            ),
            topics=_topics(reader, values, key, topics),
            authors=_authors(reader, values, key),
            sources=_sources(reader, values, key, sources),
            query=reader.get(values, "query", key, _query(reader), None),
        )
        if not (view.topics or view.authors or view.sources or view.query):
            raise reader.error(
                value, key, "a view needs at least one of topics, authors, "
                "sources or query (else it is /all.atom)",
            )  # fmt: skip
        views.append(view)
    return tuple(views)


def _items(
    reader: NodeReader, values: dict[str, Node], name: str, key: str, example: str
) -> list[tuple[Node, str, str]]:
    """``(node, key, text)`` of each item of list ``name``; duplicates refused."""
    if name not in values:
        return []
    where = child(key, name)
    out: list[tuple[Node, str, str]] = []
    for i, item in enumerate(reader.sequence(values[name], where, example)):
        text = reader.text(item, child(where, i))
        if text in [t for _n, _k, t in out]:
            raise reader.error(item, child(where, i), f"{text!r} is listed twice")
        out.append((item, child(where, i), text))
    return out


def _topics(
    reader: NodeReader,
    values: dict[str, Node],
    key: str,
    topics: tuple[TopicConfig, ...],
) -> tuple[str, ...]:
    declared = [t.slug for t in topics]
    out = []
    for item, where, slug in _items(reader, values, "topics", key, "[ai-safety]"):
        if slug not in declared:
            raise reader.error(
                item, where, f"topic {slug!r} is not declared under 'topics:'"
                f"{suggest(slug, declared)} "
                f"(declared: {', '.join(declared) or 'none'})",
            )  # fmt: skip
        out.append(slug)
    return tuple(out)


def _authors(reader: NodeReader, values: dict[str, Node], key: str) -> tuple[str, ...]:
    out = []
    for item, where, slug in _items(reader, values, "authors", key, "[ramsha-riaz]"):
        if not _SLUG_RE.fullmatch(slug):
            hint = re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")
            raise reader.error(
                item, where, f"{slug!r} is not an author slug; give the slug of "
                f"the author's feed (/authors/<slug>.atom), e.g. {hint!r}",
            )  # fmt: skip
        out.append(slug)
    return tuple(out)


def _sources(
    reader: NodeReader,
    values: dict[str, Node],
    key: str,
    sources: tuple[SourceConfig, ...],
) -> tuple[str, ...]:
    """Source URLs or names, resolved to the configured source URLs."""
    by_name = {s.name: s.url for s in sources if s.name}
    by_url = {url_key(s.url): s.url for s in sources}
    out: list[str] = []
    example = "[Example News, https://b.example/feed]"
    for item, where, text in _items(reader, values, "sources", key, example):
        url = by_url.get(url_key(text)) if "://" in text else by_name.get(text)
        if url is None:
            known = [s.name or s.url for s in sources]
            raise reader.error(
                item, where, f"{text!r} is not a configured source (by URL or "
                f"name){suggest(text, known)}",
            )  # fmt: skip
        if url not in out:
            out.append(url)
    return tuple(out)


def _query(reader: NodeReader) -> Callable[[Node, str], str]:
    """A reader of ``query``: text the search language accepts."""

    def read(node: Node, key: str) -> str:
        text = reader.text(node, key)
        try:
            parse_query(text)
        except QueryError as e:
            raise reader.error(node, key, f"invalid query: {e.args[0]}") from e
        return text

    return read
