"""Render a FeedDocument as RFC 4287 Atom with feedgen, plus RFC 5005/6721 parts."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from feedhub import __version__
from feedhub.exceptions import PublishError
from feedhub.publish._entry import CleanEntry, prepare
from feedhub.publish._text import (
    AT_NS,
    ATOM_TYPE,
    FH_NS,
    UNTITLED,
    author_dict,
    clean,
    rfc3339,
    utc,
)
from feedhub.types import FeedDocument

logger = logging.getLogger(__name__)


def _person(parent: Any, tag: str, person: dict[str, str]) -> None:
    element = xml_elem(tag, parent)
    for key in ("name", "email", "uri"):
        if key in person:
            xml_elem(key, element).text = person[key]


class _AtomEntryExtras:
    """feedgen entry extension writing what feedgen 1.0 gets wrong or leaves out.

    - atom:link: feedgen 1.0.0 writes only ``href`` for entry links, dropping
      rel/type/title/length (lkiesow/python-feedgen#135), which would turn
      enclosures and related links into alternates (RFC 4287 §4.2.7.2). The
      links feedgen wrote are replaced by complete ones.
    - atom:source (RFC 4287 §4.2.11): feedgen's ``FeedEntry.source`` writes
      only a title and one link; this writes id, title, updated and links, and
      the source feed's authors, rights and categories when the entry lacks them.

    feedgen builds un-namespaced elements under a root carrying ``xmlns``, so
    these are un-namespaced too. No business logic.
    """

    def __init__(self, item: CleanEntry) -> None:
        self._item = item

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_atom(self, entry: Any) -> Any:
        item = self._item
        for element in entry.findall("link"):
            entry.remove(element)
        for link in item.links:
            xml_elem("link", entry, **link)
        src = item.source
        source = xml_elem("source", entry)
        if not item.own_authors:
            # §4.2.11: SHOULD keep the source feed's authors the entry lacks.
            for person in filter(None, map(author_dict, src.authors)):
                _person(source, "author", person)
        if not item.categories:
            for term in src.categories:
                xml_elem("category", source, term=term)
        xml_elem("id", source).text = src.id
        xml_elem("link", source, rel="self", type=ATOM_TYPE, href=src.url)
        if src.link:
            xml_elem("link", source, rel="alternate", type="text/html", href=src.link)
        if src.rights:
            xml_elem("rights", source).text = src.rights
        if src.title:
            xml_elem("title", source).text = src.title
        if src.updated is not None:
            xml_elem("updated", source).text = rfc3339(src.updated, "source.updated")
        return entry


class _AtomFeedExtras:
    """feedgen feed extension: any-rel links, fh:complete/fh:archive, deletions.

    feedgen's ``link`` refuses rels outside RFC 4287's five (hub, prev-archive
    ...), and it has no RFC 5005 or RFC 6721 support. Elements go before the
    first entry: the RFC 4287 schema puts extension elements there.
    """

    def __init__(self, doc: FeedDocument) -> None:
        self._doc = doc

    def extend_ns(self) -> dict[str, str]:
        ns = {}
        if self._doc.complete or self._doc.archive:
            ns["fh"] = FH_NS
        if self._doc.deleted:
            ns["at"] = AT_NS
        return ns

    def extend_atom(self, feed: Any) -> Any:
        doc = self._doc
        for link in doc.links:
            attrs = {"rel": link.rel, "href": clean(link.href)}
            if link.type:
                attrs["type"] = link.type
            if link.title:
                attrs["title"] = clean(link.title)
            xml_elem("link", feed, **attrs)
        if doc.complete:
            xml_elem(f"{{{FH_NS}}}complete", feed)
        if doc.archive:
            xml_elem(f"{{{FH_NS}}}archive", feed)
        for deleted in doc.deleted:
            # RFC 6721 §3: ref is the atom:id, when an RFC 3339 date.
            element = xml_elem(
                f"{{{AT_NS}}}deleted-entry",
                feed,
                ref=clean(deleted.ref),
                when=rfc3339(deleted.when, "deleted.when"),
            )
            if deleted.link:
                xml_elem("link", element, rel="alternate", href=clean(deleted.link))
            if deleted.comment:
                xml_elem(f"{{{AT_NS}}}comment", element).text = clean(deleted.comment)
        return feed


def _feed_entry(item: CleanEntry) -> FeedEntry:
    entry = item.entry
    fe = FeedEntry()
    fe.id(item.id)
    fe.title(item.title)
    fe.updated(utc(entry.updated, "entry.updated"))
    if entry.published is not None:
        fe.published(utc(entry.published, "entry.published"))
    fe.author([dict(a) for a in item.authors])
    if item.categories:
        fe.category([{"term": t} for t in item.categories])
    if item.links:
        # Given to feedgen too: it checks for an alternate link (§4.1.2).
        fe.link([dict(data) for data in item.links])
    if item.summary is not None:
        fe.summary(item.summary, type="html")
    if item.content is not None:
        fe.content(item.content, type="html")
    fe.register_extension(
        "feedhub_extras",
        functools.partial(_AtomEntryExtras, item),
        atom=True,
        rss=False,
    )
    return fe


def prepared_entries(doc: FeedDocument) -> Sequence[CleanEntry]:
    """The document's entries cleaned, skipping (and logging) id-less ones."""
    items = []
    for entry in doc.entries:
        item = prepare(entry, UNTITLED)
        if item is None:
            logger.warning(
                "publish: skipped entry without id source=%s", entry.source.url
            )
            continue
        items.append(item)
    return items


def render_atom(doc: FeedDocument) -> bytes:
    """Render a feed document as an RFC 4287 Atom feed.

    Entries keep the order of ``doc.entries``. Characters XML 1.0 forbids are
    dropped from every text field, so one hostile entry cannot break the feed.
    ``doc.links`` (hub, twins, RFC 5005 archive links), ``complete``, ``archive``
    and ``deleted`` (RFC 6721) are written when set.

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
            "feedhub_feed",
            functools.partial(_AtomFeedExtras, doc),
            None,
            atom=True,
            rss=False,
        )
        fg.id(clean(doc.id))
        fg.title(clean(doc.title).strip() or UNTITLED)
        fg.updated(utc(doc.updated, "feed.updated"))
        fg.link(href=clean(doc.self_url), rel="self", type=ATOM_TYPE)
        fg.link(href=clean(doc.home_url), rel="alternate", type="text/html")
        if subtitle := clean(doc.subtitle).strip():
            fg.subtitle(subtitle)
        fg.generator("feedhub", version=__version__)
        for item in prepared_entries(doc):
            # feedgen prepends by default; keep the caller's order.
            fg.add_entry(_feed_entry(item), order="append")
        data: bytes = fg.atom_str(pretty=False, encoding="UTF-8", xml_declaration=True)
    except (ValueError, TypeError) as e:
        # feedgen validates with ValueError; lxml raises ValueError/TypeError.
        raise PublishError(f"publish: cannot render {doc.self_url}: {e}") from e
    return data
