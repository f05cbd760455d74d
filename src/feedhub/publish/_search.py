"""Decide the URLs of a saved-search feed: ``search.{ext}?q=<normalized query>``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import quote

from feedhub.publish._plan import FORMATS, Page, document, join
from feedhub.types import DocLink, FeedDocument, PublishedEntry


def search_url(base_url: str, query: str, ext: str = "atom") -> str:
    """Absolute URL of one format of the search feed for a normalized query."""
    return join(base_url, f"search.{ext}?q={quote(query, safe='')}")


def search_document(
    *,
    base_url: str,
    query: str,
    title: str,
    entries: Sequence[PublishedEntry],
    ext: str,
    ttl: int | None = None,
) -> FeedDocument:
    """Build one format of a saved-search feed.

    Its atom:id is the Atom URL of the normalized query, so one search always
    is the same feed (RFC 4287 §4.2.6) whatever format or spelling a reader
    subscribed with; every link (self, twins, HTML page) carries the query.
    A search has no archive pages and no WebSub hub.
    """
    doc = document(
        base_url=base_url,
        stem="search",
        title=title,
        subtitle=f"Newest entries matching {query}",
        entries=entries,
        page=Page(None, 0),
        ext=ext,
        ttl=ttl,
    )
    links = tuple(
        DocLink("alternate", search_url(base_url, query, e), media)
        for e, media in FORMATS.items()
        if e != ext and e != "html"
    )
    if ext == "html":
        links += (DocLink("index", base_url),)
    return replace(
        doc,
        id=search_url(base_url, query),
        self_url=search_url(base_url, query, ext),
        home_url=search_url(base_url, query, "html"),
        links=links,
    )
