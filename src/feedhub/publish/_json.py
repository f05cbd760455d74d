"""Render a FeedDocument as JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""

from __future__ import annotations

import json
from typing import Any

from feedhub import __version__
from feedhub.publish._atom import prepared_entries
from feedhub.publish._entry import CleanEntry
from feedhub.publish._text import UNTITLED, clean, rfc3339
from feedhub.types import FeedDocument

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
#: JSON Feed extensions are objects whose key starts with "_" and that say
#: where they are documented ("about").
EXTENSION_ABOUT = "https://github.com/feedhub/feedhub#json-feed-extension"


def _author(author: dict[str, str]) -> dict[str, str]:
    out = {"name": author["name"]}
    if "uri" in author:
        out["url"] = author["uri"]
    return out


def _item(item: CleanEntry) -> dict[str, Any]:
    entry = item.entry
    out: dict[str, Any] = {"id": item.id}
    if item.link:
        out["url"] = item.link
    out["title"] = item.title
    # JSON Feed 1.1: content_html or content_text must be present.
    out["content_html"] = item.content or item.summary or ""
    if item.summary:
        out["summary"] = item.summary
    if entry.published is not None:
        out["date_published"] = rfc3339(entry.published, "entry.published")
    out["date_modified"] = rfc3339(entry.updated, "entry.updated")
    out["authors"] = [_author(a) for a in item.authors]
    if item.categories:
        out["tags"] = list(item.categories)
    attachments = []
    for link in item.links:
        if link["rel"] != "enclosure":
            continue
        attachment: dict[str, Any] = {
            "url": link["href"],
            "mime_type": link.get("type", "application/octet-stream"),
        }
        if "length" in link:
            attachment["size_in_bytes"] = int(link["length"])
        attachments.append(attachment)
    if attachments:
        out["attachments"] = attachments
    src = item.source
    source: dict[str, Any] = {"id": src.id, "title": src.title, "feed_url": src.url}
    if src.link:
        source["home_page_url"] = src.link
    related = [
        {"url": link["href"], "title": link.get("title", "")}
        for link in item.links
        if link["rel"] == "related"
    ]
    extension: dict[str, Any] = {"about": EXTENSION_ABOUT, "source": source}
    if related:
        extension["related"] = related
    out["_feedhub"] = extension
    return out


def render_json_feed(doc: FeedDocument) -> bytes:
    """Render a feed document as JSON Feed 1.1.

    ``doc.links`` give ``next_url`` (rel ``prev-archive``: the next, older
    page) and ``hubs`` (rel ``hub``); the RFC 5005/6721 state goes in the
    ``_feedhub`` extension object (``complete``, ``archive``, ``deleted``).

    Returns:
        The feed as UTF-8 JSON, keys in a fixed order.
    """
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": clean(doc.title).strip() or UNTITLED,
        "home_page_url": clean(doc.home_url),
        "feed_url": clean(doc.self_url),
    }
    if subtitle := clean(doc.subtitle).strip():
        feed["description"] = subtitle
    for link in doc.links:
        if link.rel == "prev-archive":
            feed["next_url"] = clean(link.href)
    hubs = [
        {"type": "WebSub", "url": clean(x.href)} for x in doc.links if x.rel == "hub"
    ]
    if hubs:
        feed["hubs"] = hubs
    feed["items"] = [_item(item) for item in prepared_entries(doc)]
    extension: dict[str, Any] = {
        "about": EXTENSION_ABOUT,
        "generator": f"feedhub {__version__}",
        "updated": rfc3339(doc.updated, "feed.updated"),
        "complete": doc.complete,
        "archive": doc.archive,
    }
    links = {x.rel: clean(x.href) for x in doc.links if x.rel != "alternate"}
    if links:
        extension["links"] = links
    if doc.deleted:
        extension["deleted"] = [
            {
                "id": clean(d.ref),
                "when": rfc3339(d.when, "deleted.when"),
                **({"comment": clean(d.comment)} if d.comment else {}),
                **({"url": clean(d.link)} if d.link else {}),
            }
            for d in doc.deleted
        ]
    feed["_feedhub"] = extension
    text = json.dumps(feed, ensure_ascii=False, separators=(",", ":"))
    # lone surrogates cannot be encoded; clean() already removed them
    return text.encode("utf-8")
