"""Read OPML subscription lists and write the sources as OPML 2.0; pure, stdlib."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from feedhub.exceptions import ParseError

__all__ = ["Subscription", "read_opml", "write_opml"]

#: an OPML file may not declare a DTD: entities are how XML bombs are built
_DOCTYPE_RE = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Subscription:
    """One feed of a subscription list."""

    #: the feed's URL (``xmlUrl``)
    url: str
    #: ``title`` or ``text`` of the outline
    title: str | None = None
    #: the site's page (``htmlUrl``)
    html_url: str | None = None
    #: titles of the enclosing outlines, outermost first (folders)
    folders: tuple[str, ...] = ()
    #: OPML 2.0 ``category`` values, e.g. ("ai", "open-source")
    categories: tuple[str, ...] = ()


def read_opml(data: bytes, name: str = "OPML") -> tuple[Subscription, ...]:
    """Return every outline with an ``xmlUrl``, in document order, each URL once.

    Args:
        data: the file's bytes.
        name: the file name, for error messages.

    Raises:
        ParseError: not well-formed XML, a DTD, or not an ``<opml>`` document;
            its ``url`` is ``name``.
    """
    if _DOCTYPE_RE.search(data):
        raise ParseError(name, "OPML: DTDs and entities are not allowed")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise ParseError(name, f"OPML: not well-formed XML: {e}") from e
    if _local(root.tag) != "opml":
        raise ParseError(name, "OPML: the root element is not <opml>")
    body = next((c for c in root if _local(c.tag) == "body"), None)
    if body is None:
        raise ParseError(name, "OPML: no <body>")
    seen: dict[str, Subscription] = {}
    for sub in _walk(body, ()):
        seen.setdefault(sub.url, sub)
    return tuple(seen.values())


def _walk(node: ET.Element, folders: tuple[str, ...]) -> Iterator[Subscription]:
    for child in node:
        if _local(child.tag) != "outline":
            continue
        title = (child.get("title") or child.get("text") or "").strip() or None
        url = (child.get("xmlUrl") or child.get("xmlurl") or "").strip()
        if url and urlsplit(url).scheme.lower() in ("http", "https"):
            yield Subscription(
                url=url,
                title=title,
                html_url=(child.get("htmlUrl") or "").strip() or None,
                folders=folders,
                categories=_categories(child.get("category") or ""),
            )
        yield from _walk(child, folders + (title,) if title and not url else folders)


def _categories(value: str) -> tuple[str, ...]:
    """OPML 2.0 ``category``: comma-separated, slash-delimited paths."""
    names = (part.strip().strip("/").split("/")[-1] for part in value.split(","))
    return tuple(name for name in names if name)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def write_opml(
    subscriptions: Sequence[Subscription], *, title: str, generated_at: datetime
) -> bytes:
    """Render an OPML 2.0 subscription list (``type="rss"`` outlines).

    Each source's topics go into ``category`` as ``/topic`` paths, so the list
    reads back into the same topics.
    """
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{format_datetime(generated_at, usegmt=True)}</dateCreated>",
        "  </head>",
        "  <body>",
    ]
    for sub in subscriptions:
        label = sub.title or sub.url
        attrs = [
            f"type={quoteattr('rss')}",
            f"text={quoteattr(_clean(label))}",
            f"title={quoteattr(_clean(label))}",
            f"xmlUrl={quoteattr(_clean(sub.url))}",
        ]
        if sub.html_url:
            attrs.append(f"htmlUrl={quoteattr(_clean(sub.html_url))}")
        if sub.categories:
            value = ",".join(f"/{c}" for c in sub.categories)
            attrs.append(f"category={quoteattr(_clean(value))}")
        lines.append(f"    <outline {' '.join(attrs)}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")


# XML 1.0 §2.2: characters that may not appear in a document at all.
_FORBIDDEN_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(value: str) -> str:
    return _FORBIDDEN_RE.sub("", value)


def _text(value: str) -> str:
    return quoteattr(_clean(value))[1:-1]
