"""Text and date helpers shared by the renderers. No business logic."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from feedhub.exceptions import PublishError
from feedhub.types import Author

ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
JSON_FEED_TYPE = "application/feed+json"
HTML_TYPE = "text/html"
OPML_TYPE = "text/x-opml"

#: RFC 5005 namespace (fh:complete, fh:archive)
FH_NS = "http://purl.org/syndication/history/1.0"
#: RFC 6721 namespace (at:deleted-entry)
AT_NS = "http://purl.org/atompub/tombstones/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"

UNTITLED = "Untitled"
UNKNOWN_AUTHOR = "Unknown"

# XML 1.0 §2.2 Char: tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF.
# Everything else (NUL, other C0 controls, lone surrogates, U+FFFE/U+FFFF) makes
# lxml raise, so it is dropped before any text reaches feedgen. JSON could carry
# them, but readers choke on them too, so every format gets the same text.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# RFC 4287 §3.2.3 atom:email is an addr-spec; the Appendix B schema checks ".+@.+".
EMAIL = re.compile(r".+@.+", re.DOTALL)
# RFC 4287 §4.2.7.3 type is a media type; the schema checks ".+/.+".
MEDIA_TYPE = re.compile(r".+/.+", re.DOTALL)


def clean(text: str | None) -> str:
    """Drop characters XML 1.0 forbids; None becomes ""."""
    if not text:
        return ""
    return _NOT_XML_CHAR.sub("", text)


def esc(text: str | None) -> str:
    """Clean and HTML-escape text for an element or a quoted attribute."""
    return html.escape(clean(text), quote=True)


def utc(value: datetime, what: str) -> datetime:
    """Return ``value`` in UTC; naive datetimes break the types.py contract."""
    if value.tzinfo is None:
        raise PublishError(f"publish: {what} is a naive datetime: {value!r}")
    return value.astimezone(UTC)


def rfc3339(value: datetime, what: str) -> str:
    """RFC 3339 with an explicit offset (Z), seconds precision."""
    return utc(value, what).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def author_dict(author: Author) -> dict[str, str] | None:
    """Map an author to name/email/uri, inventing the name RFC 4287 §3.2.1 requires.

    Returns None when the author carries nothing at all.
    """
    name = clean(author.name).strip()
    email = clean(author.email).strip()
    uri = clean(author.uri).strip()
    if not name:
        if not (email or uri):
            return None
        name = email.partition("@")[0].strip() or UNKNOWN_AUTHOR
    result = {"name": name}
    if EMAIL.fullmatch(email):
        result["email"] = email
    if uri:
        result["uri"] = uri
    return result
