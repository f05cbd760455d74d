"""Render feeds as Atom, RSS 2.0, JSON Feed, HTML and OPML; write them atomically.

The one user of feedgen. Every renderer is pure: a ``FeedDocument`` (or a list
of ``FeedRef``) in, bytes out; characters XML 1.0 forbids are dropped from
every field so one hostile entry never stops a feed.
"""

from __future__ import annotations

from feedhub.publish._atom import render_atom
from feedhub.publish._files import write_atomic
from feedhub.publish._html import (
    render_authors_html,
    render_feed_html,
    render_index_html,
)
from feedhub.publish._json import JSON_FEED_VERSION, render_json_feed
from feedhub.publish._opml import render_opml
from feedhub.publish._plan import (
    EMPTY_FEED_UPDATED,
    FORMATS,
    Page,
    archive_path,
    document,
    entries_from_json,
    entries_to_json,
    entry_id,
    feed_path,
    feed_stem,
    join,
    published_entries,
    retractions,
    source_info,
)
from feedhub.publish._rss import render_rss
from feedhub.publish._search import search_document, search_url
from feedhub.publish._text import (
    AT_NS,
    ATOM_TYPE,
    FH_NS,
    HTML_TYPE,
    JSON_FEED_TYPE,
    OPML_TYPE,
    RSS_TYPE,
)

__all__ = [
    "EMPTY_FEED_UPDATED",
    "FORMATS",
    "Page",
    "archive_path",
    "document",
    "entries_from_json",
    "entries_to_json",
    "entry_id",
    "feed_path",
    "feed_stem",
    "join",
    "published_entries",
    "retractions",
    "search_document",
    "search_url",
    "source_info",
    "ATOM_TYPE",
    "AT_NS",
    "FH_NS",
    "HTML_TYPE",
    "JSON_FEED_TYPE",
    "JSON_FEED_VERSION",
    "OPML_TYPE",
    "RSS_TYPE",
    "render_atom",
    "render_authors_html",
    "render_feed_html",
    "render_index_html",
    "render_json_feed",
    "render_opml",
    "render_rss",
    "write_atomic",
]
