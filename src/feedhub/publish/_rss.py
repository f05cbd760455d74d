"""Render a FeedDocument as RSS 2.0 with feedgen (the Atom document's twin)."""

from __future__ import annotations

import functools
import logging
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from feedhub import __version__
from feedhub.exceptions import PublishError
from feedhub.publish._atom import prepared_entries
from feedhub.publish._entry import CleanEntry
from feedhub.publish._text import (
    ATOM_NS,
    DC_NS,
    FH_NS,
    RSS_TYPE,
    UNTITLED,
    clean,
    utc,
)
from feedhub.types import FeedDocument

logger = logging.getLogger(__name__)


class _RssItemExtras:
    """feedgen item extension: ``dc:creator`` per author.

    RSS 2.0 ``<author>`` must be an e-mail address, so feedgen writes nothing for
    a name alone; newsboat, sfeed and most readers show ``dc:creator``.
    No business logic.
    """

    def __init__(self, item: CleanEntry) -> None:
        self._item = item

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_rss(self, element: Any) -> Any:
        for author in self._item.authors:
            xml_elem(f"{{{DC_NS}}}creator", element).text = author["name"]
        return element


class _RssChannelExtras:
    """feedgen channel extension: atom:link of any rel, and fh:complete/archive.

    RFC 5005 Appendix B: RSS 2.0 feeds carry the archive links as atom:link and
    the fh elements as channel children. feedgen writes only rel="self".
    """

    def __init__(self, doc: FeedDocument) -> None:
        self._doc = doc

    def extend_ns(self) -> dict[str, str]:
        ns = {"dc": DC_NS}
        if self._doc.complete or self._doc.archive:
            ns["fh"] = FH_NS
        return ns

    def extend_rss(self, rss: Any) -> Any:
        channel = rss.find("channel")
        doc = self._doc
        for link in doc.links:
            attrs = {"rel": link.rel, "href": clean(link.href)}
            if link.type:
                attrs["type"] = link.type
            if link.title:
                attrs["title"] = clean(link.title)
            xml_elem(f"{{{ATOM_NS}}}link", channel, **attrs)
        if doc.complete:
            xml_elem(f"{{{FH_NS}}}complete", channel)
        if doc.archive:
            xml_elem(f"{{{FH_NS}}}archive", channel)
        return rss


def _item(item: CleanEntry) -> FeedEntry:
    entry = item.entry
    fe = FeedEntry()
    fe.title(item.title)
    # A guid that is no URL is not a permalink (RSS 2.0 <guid isPermaLink>).
    fe.guid(item.id, permalink=item.id == item.link and bool(item.link))
    if item.link:
        fe.link(href=item.link)
    if item.summary is not None or item.content is not None:
        fe.description(item.summary if item.summary is not None else item.content)
    if item.content is not None and item.summary is not None:
        fe.content(item.content)
    # RSS has a single date; the original publication date when known.
    fe.pubDate(utc(entry.published or entry.updated, "entry.published"))
    emails = [a for a in item.authors if "email" in a]
    if emails:
        fe.author([dict(a) for a in emails])
    if item.categories:
        fe.category([{"term": t} for t in item.categories])
    for enclosure in (link for link in item.links if link["rel"] == "enclosure"):
        # RSS 2.0 allows one enclosure per item, with url, length and type.
        fe.enclosure(
            enclosure["href"],
            enclosure.get("length", "0"),
            enclosure.get("type", "application/octet-stream"),
        )
        break
    fe.source(url=item.source.url, title=item.source.title or item.source.url)
    fe.register_extension(
        "feedhub_rss",
        functools.partial(_RssItemExtras, item),
        atom=False,
        rss=True,
    )
    return fe


def render_rss(doc: FeedDocument) -> bytes:
    """Render a feed document as RSS 2.0, with ``<source url>`` on every item.

    Args:
        doc: the feed and its entries, newest first.

    Returns:
        The feed as UTF-8 bytes with an XML declaration.

    Raises:
        PublishError: a datetime is naive, or feedgen/lxml refused the document.
    """
    try:
        fg = FeedGenerator()
        fg.register_extension(
            "feedhub_channel",
            functools.partial(_RssChannelExtras, doc),
            None,
            atom=False,
            rss=True,
        )
        title = clean(doc.title).strip() or UNTITLED
        fg.title(title)
        # feedgen takes the channel <link> from the last link given
        fg.link(href=clean(doc.self_url), rel="self", type=RSS_TYPE)
        fg.link(href=clean(doc.home_url), rel="alternate")
        fg.description(clean(doc.subtitle).strip() or title)
        fg.lastBuildDate(utc(doc.updated, "feed.updated"))
        fg.generator(f"feedhub {__version__}")
        if doc.ttl:
            fg.ttl(doc.ttl)
        for item in prepared_entries(doc):
            fg.add_entry(_item(item), order="append")
        data: bytes = fg.rss_str(pretty=False, encoding="UTF-8", xml_declaration=True)
    except (ValueError, TypeError) as e:
        raise PublishError(f"publish: cannot render {doc.self_url}: {e}") from e
    return data
