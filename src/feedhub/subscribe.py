"""Manage subscriptions: check and discover feeds, import and export OPML, and
report the sources that need an operator's attention.

Like ``pipeline``, an imperative shell over the stages (fetch, discover, parse,
opml, publish) and storage; the decisions are in those stages.
"""

from __future__ import annotations

import asyncio
import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

from feedhub import discover, opml, parse, publish
from feedhub.exceptions import FetchError, ParseError, SourceError
from feedhub.fetch import Fetcher
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    FeedDocument,
    FetchRequest,
    FetchResult,
    PollStatus,
    PublishedEntry,
    SourceConfig,
    SourceEventKind,
    SourceInfo,
    SourceState,
    TopicConfig,
)

__all__ = [
    "CheckedFeed",
    "attention",
    "check_feed",
    "check_feeds",
    "export_opml",
    "plan_import",
    "slugify",
    "sources_feed",
    "status",
]

#: path of the operators' feed under base_url
SOURCES_FEED_PATH = "ops/sources.atom"
#: atom:updated of the operators' feed while no source needs attention
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
#: moves reported by the operators' feed, newest first
MOVED_EVENTS = 50
_CHARSET_RE = re.compile(r"charset=[\"']?([\w-]+)", re.IGNORECASE)
_META_CHARSET_RE = re.compile(rb"<meta[^>]+charset=[\"']?([\w-]+)", re.IGNORECASE)
_SLUG_RE = re.compile(r"[^a-z0-9]+")


class FetcherLike(Protocol):
    async def fetch(self, request: FetchRequest) -> FetchResult: ...


# ---------------------------------------------------------------------------
# Checking and discovering feeds
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckedFeed:
    """A URL that was fetched once and parsed as a feed."""

    #: the URL asked about
    requested: str
    #: the feed URL to configure (after autodiscovery and permanent redirects)
    url: str
    title: str | None = None
    #: the feed's site
    link: str | None = None
    entries: int = 0
    #: the HTML page the feed was discovered from, if it was
    page: str | None = None


async def check_feed(fetcher: FetcherLike, url: str) -> CheckedFeed:
    """Fetch ``url`` once; when it is an HTML page, find its feed.

    Autodiscovery tries the page's ``<link rel="alternate">`` feeds in order
    of preference (Atom, RSS, JSON Feed) and keeps the first that parses.

    Raises:
        FetchError: the URL (or every discovered feed) could not be fetched.
        ParseError: neither a feed nor a page linking to one.
    """
    result = await fetcher.fetch(FetchRequest(url))
    content_type = result.headers.get("content-type")
    if not discover.looks_like_html(result.body, content_type):
        return _checked(url, url, result, None)
    links = discover.feed_links(_decode(result.body, content_type), result.final_url)
    if not links:
        raise ParseError(url, 'no feed: the page has no <link rel="alternate"> feed')
    failure: SourceError | None = None
    for link in links:
        try:
            found = await fetcher.fetch(FetchRequest(link.url))
            return _checked(url, link.url, found, result.final_url)
        except (FetchError, ParseError) as e:
            failure = e
    assert failure is not None
    raise failure


def _checked(
    requested: str, url: str, result: FetchResult, page: str | None
) -> CheckedFeed:
    parsed = parse.parse(result.body, url=result.final_url, headers=result.headers)
    return CheckedFeed(
        requested=requested,
        url=result.permanent_redirect or url,
        title=parsed.title,
        link=parsed.link,
        entries=len(parsed.entries),
        page=page,
    )


def _decode(body: bytes, content_type: str | None) -> str:
    match = _CHARSET_RE.search(content_type or "")
    meta = None if match else _META_CHARSET_RE.search(body[:2048])
    charset = match.group(1) if match else meta.group(1).decode() if meta else "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def check_feeds(
    config: Config,
    urls: Sequence[str],
    on_done: Callable[[str], None] | None = None,
) -> list[CheckedFeed | SourceError]:
    """Check many URLs concurrently, within the polling limits; blocking.

    Returns:
        One result per URL, in order: the feed, or why it failed.
    """

    async def run() -> list[CheckedFeed | SourceError]:
        limit = asyncio.Semaphore(max(1, config.polling.concurrency))
        async with Fetcher(config.polling) as fetcher:

            async def one(url: str) -> CheckedFeed | SourceError:
                async with limit:
                    try:
                        return await check_feed(fetcher, url)
                    except (FetchError, ParseError) as e:
                        return e
                    finally:
                        if on_done is not None:
                            on_done(url)

            return list(await asyncio.gather(*(one(url) for url in urls)))

    return asyncio.run(run())


# ---------------------------------------------------------------------------
# OPML
# ---------------------------------------------------------------------------


def slugify(title: str) -> str:
    """A topic slug from a folder title: "AI & Safety" -> "ai-safety"."""
    folded = unicodedata.normalize("NFKD", title)
    ascii_only = folded.encode("ascii", "ignore").decode().lower()
    return _SLUG_RE.sub("-", ascii_only).strip("-")[:60].strip("-")


def plan_import(
    config: Config,
    subscriptions: Sequence[opml.Subscription],
    *,
    folder_topics: bool = False,
    topics: Sequence[str] = (),
) -> tuple[list[SourceConfig], list[TopicConfig], list[str]]:
    """Decide what an OPML import adds to the configuration.

    Args:
        config: the current configuration.
        subscriptions: the outlines read from the file.
        folder_topics: make enclosing outline titles (and OPML categories)
            topics of their feeds, declaring the topics that are new.
        topics: topic slugs every imported feed joins.

    Returns:
        The sources to add, the topics to declare, and the URLs skipped
        because they are already configured.
    """
    declared = {t.slug for t in config.topics}
    configured = {_url_key(s.url) for s in config.sources}
    new_topics: dict[str, TopicConfig] = {}
    for slug in topics:
        if slug not in declared:
            new_topics[slug] = TopicConfig(slug, slug)
    sources: list[SourceConfig] = []
    skipped: list[str] = []
    for sub in subscriptions:
        if _url_key(sub.url) in configured:
            skipped.append(sub.url)
            continue
        configured.add(_url_key(sub.url))
        slugs = list(topics)
        if folder_topics:
            for title in (*sub.folders, *sub.categories):
                slug = slugify(title)
                if not slug:
                    continue
                if slug not in declared and slug not in new_topics:
                    new_topics[slug] = TopicConfig(slug, title)
                if slug not in slugs:
                    slugs.append(slug)
        sources.append(SourceConfig(sub.url, sub.title, tuple(slugs)))
    return sources, list(new_topics.values()), skipped


def _url_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path or '/'}" + (
        f"?{parts.query}" if parts.query else ""
    )


def export_opml(storage: Storage, config: Config, now: datetime) -> bytes:
    """The configured sources as an OPML 2.0 subscription list.

    A source whose permanent move feedhub has confirmed is exported at its
    new URL; topics go into ``category``.
    """
    storage.sync_sources(config.sources, now)
    states = {state.url: state for state in storage.get_sources()}
    subscriptions = []
    for source in config.sources:
        state = states.get(source.url)
        subscriptions.append(
            opml.Subscription(
                url=state.fetch_url if state is not None else source.url,
                title=source.name or (state.title if state is not None else None),
                html_url=state.link if state is not None else None,
                categories=source.topics,
            )
        )
    return opml.write_opml(subscriptions, title="feedhub sources", generated_at=now)


# ---------------------------------------------------------------------------
# Source health
# ---------------------------------------------------------------------------


def status(state: SourceState, now: datetime, holds: dict[str, datetime]) -> str:
    """One word for a source's state: gone, dead, held, failing, ok, ...

    Args:
        state: the source.
        now: the current time.
        holds: hosts held by Retry-After (``Storage.host_holds``).
    """
    health = state.health
    if health.gone_at is not None:
        return "gone"
    if health.dead_since is not None:
        return "dead"
    until = held_until(state, now, holds)
    if until is not None:
        return "held"
    if state.last_status is PollStatus.ERROR:
        return "failing"
    if state.last_status is PollStatus.NOT_MODIFIED:
        return "not modified"
    if state.last_status is PollStatus.OK:
        return "ok"
    return "never polled"


def held_until(
    state: SourceState, now: datetime, holds: dict[str, datetime]
) -> datetime | None:
    """When a Retry-After hold on the source or its host ends, if one is on."""
    candidates = [holds.get((urlsplit(state.fetch_url).hostname or "").rstrip("."))]
    candidates.append(state.health.retry_after_until)
    active = [c for c in candidates if c is not None and c > now]
    return max(active) if active else None


def attention(
    state: SourceState, now: datetime, holds: dict[str, datetime]
) -> tuple[str, datetime] | None:
    """Why and since when a source needs an operator, or None if it does not."""
    health = state.health
    if health.gone_at is not None:
        return "gone", health.gone_at
    if health.dead_since is not None:
        return "dead", health.dead_since
    if state.last_status is PollStatus.ERROR:
        return "failing", health.failing_since or state.last_polled_at or now
    return None


def sources_feed(storage: Storage, config: Config, now: datetime) -> bytes:
    """The Atom feed of sources needing attention (failing, moved, gone, dead).

    One entry per incident: its id names the source, the kind and when it
    began, so a reader shows a new entry when a source starts failing again.
    """
    base = config.server.base_url
    holds = storage.host_holds(now)
    states = {state.id: state for state in storage.get_sources()}
    entries: list[PublishedEntry] = []
    for state in states.values():
        reason = attention(state, now, holds)
        if reason is None:
            continue
        kind, since = reason
        entries.append(_entry(state, kind, since, _details(state, kind, now, holds)))
    for event in storage.source_events(MOVED_EVENTS):
        moved = states.get(event.source_id)
        if event.kind is SourceEventKind.MOVED and moved is not None:
            entries.append(_entry(moved, "moved", event.at, event.detail))
    entries.sort(key=lambda e: e.updated, reverse=True)
    # a fixed instant when empty, so the document (and its ETag) is stable
    updated = max((e.updated for e in entries), default=EMPTY_FEED_UPDATED)
    return publish.render_atom(
        FeedDocument(
            id=base + SOURCES_FEED_PATH,
            title="feedhub: sources needing attention",
            self_url=base + SOURCES_FEED_PATH,
            home_url=base,
            updated=updated,
            entries=tuple(entries),
            subtitle="Failing, moved, gone and dead sources of this aggregator.",
        )
    )


def _name(state: SourceState) -> str:
    return state.name or state.title or state.url


def _details(
    state: SourceState, kind: str, now: datetime, holds: dict[str, datetime]
) -> str:
    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"

    lines = [
        f"{_name(state)} is {kind}.",
        f"URL: {state.fetch_url}",
        f"Last error: {state.last_error or '-'}",
        f"Last HTTP status: {state.last_http_status or '-'}",
        f"Consecutive errors: {state.error_count}",
        f"Last success: {when(state.last_success_at)}",
    ]
    if kind != "gone":
        until = held_until(state, now, holds)
        lines.append(f"Next poll: {when(until or state.next_check_at)}")
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def _entry(state: SourceState, kind: str, since: datetime, text: str) -> PublishedEntry:
    stamp = since.strftime("%Y%m%dT%H%M%S%fZ")
    detail = text if text.startswith("<p>") else f"<p>{html.escape(text)}</p>"
    return PublishedEntry(
        id=f"urn:feedhub:source:{state.id}:{kind}:{stamp}",
        title=f"{kind.capitalize()}: {_name(state)}",
        link=state.fetch_url,
        summary=detail,
        content=None,
        authors=(),
        published=since,
        updated=since,
        categories=(kind,),
        enclosures=(),
        source=SourceInfo(
            id=state.feed_id or state.fetch_url,
            title=_name(state),
            url=state.fetch_url,
            link=state.link,
        ),
    )
