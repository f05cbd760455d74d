"""Find the feeds an HTML page advertises with ``<link rel="alternate">``; pure."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

__all__ = ["FeedLink", "feed_links", "looks_like_html"]

#: feed media types in order of preference: Atom, RSS, JSON Feed, then RDF
FEED_TYPES = (
    "application/atom+xml",
    "application/rss+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
)
#: stop reading a page after this many characters: <link>s live in <head>
MAX_SCAN = 512 * 1024


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A feed advertised by a page."""

    #: absolute http(s) URL of the feed
    url: str
    #: its media type, lower-cased, e.g. "application/atom+xml"
    type: str
    #: the link's title attribute, if any
    title: str | None = None


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[dict[str, str]] = []
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        values = {name.lower(): value or "" for name, value in attrs}
        if tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"]
        elif tag == "link":
            self.links.append(values)
        elif tag == "body":
            # autodiscovery links belong in <head> (WHATWG HTML §4.6.7.1)
            self.done = True

    handle_startendtag = handle_starttag


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    """Whether a response is an HTML page rather than a feed."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        return True
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def feed_links(html: str, page_url: str) -> tuple[FeedLink, ...]:
    """Return the feeds a page links to, best first.

    Reads ``<link rel="alternate" type="…" href="…">`` (RSS Autodiscovery,
    Atom RFC 4287 §4.2.7.2 practice): Atom before RSS before JSON Feed, and in
    document order within a type. Relative hrefs resolve against ``<base>``
    or the page URL; only http(s) URLs are kept, each once.

    Args:
        html: the page, decoded.
        page_url: the URL the page came from (after redirects).
    """
    parser = _LinkParser()
    for start in range(0, min(len(html), MAX_SCAN), 8192):
        parser.feed(html[start : start + 8192])
        if parser.done:
            break
    base = urljoin(page_url, parser.base) if parser.base else page_url
    found: dict[str, FeedLink] = {}
    for attrs in parser.links:
        rels = attrs.get("rel", "").lower().split()
        kind = attrs.get("type", "").split(";")[0].strip().lower()
        href = attrs.get("href", "").strip()
        if "alternate" not in rels or kind not in FEED_TYPES or not href:
            continue
        url = urljoin(base, href)
        if urlsplit(url).scheme not in ("http", "https") or url in found:
            continue
        found[url] = FeedLink(url, kind, attrs.get("title") or None)
    return tuple(sorted(found.values(), key=lambda link: FEED_TYPES.index(link.type)))
