"""List, build and render the published feeds, their archive pages, index and OPML."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from feedhub import publish
from feedhub.storage import Storage
from feedhub.types import (
    AuthorSummary,
    Config,
    FeedDocument,
    FeedKind,
    FeedRef,
    PublishedEntry,
    SourceInfo,
    StoredEntry,
)

#: atom:updated of a feed with no entries yet; any fixed instant keeps it stable
EMPTY_FEED_UPDATED = publish.EMPTY_FEED_UPDATED

# ---------------------------------------------------------------------------
# Publishing
# ---------------------------------------------------------------------------

#: seconds readers may cache an archive page: its entries never change
ARCHIVE_MAX_AGE = 365 * 86400
#: archive pages frozen per query while catching up on a long history
_FREEZE_BATCH = 20
#: the subscription-document formats; HTML is the preview page
FEED_FORMATS = ("atom", "rss", "json")

#: ``ping(hub, urls)``: tell a WebSub hub these topic URLs changed
Pinger = Callable[[str, Sequence[str]], None]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendered document, ready to serve or write."""

    ref: FeedRef
    body: bytes
    updated: datetime
    #: media type without parameters
    media_type: str = publish.ATOM_TYPE
    #: seconds readers may cache it (Cache-Control max-age)
    max_age: int = 0


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one publish pass changed."""

    #: feed keys ("all", "topics/ai") whose subscription document changed
    changed: tuple[str, ...] = ()
    #: RFC 5005 archive pages frozen
    archived: int = 0
    #: RFC 6721 retractions recorded
    retracted: int = 0
    #: WebSub pings sent
    pinged: int = 0


def cache_seconds(config: Config) -> int:
    """Seconds a reader may cache a subscription document (max-age, RSS ttl).

    Half the shortest poll interval, between one minute and one hour: a reader
    never misses a poll's news by more than that.
    """
    intervals = [config.polling.interval]
    intervals += [s.interval for s in config.sources if s.interval]
    return int(min(3600.0, max(60.0, min(intervals) / 2)))


def feed_path(kind: FeedKind, slug: str, ext: str = "atom") -> str:
    """Return the path of a feed under base_url, e.g. ``topics/ai.atom``."""
    return publish.feed_path(kind, slug, ext)


def feed_key(ref: FeedRef) -> str:
    """The key a feed's publishing state is stored under, e.g. ``topics/ai``."""
    return publish.feed_stem(ref.kind, ref.slug)


def list_feeds(storage: Storage, config: Config) -> tuple[FeedRef, ...]:
    """Every published feed: all, each configured topic, each named view
    (``feeds:``), each author with entries.

    Each carries its entry count and newest headline.
    """
    counts = {slug: n for slug, _name, n in storage.feed_refs(FeedKind.TOPIC)}
    newest = {kind: storage.newest_headlines(kind) for kind in FeedKind}

    def ref(
        kind: FeedKind, slug: str, title: str, n: int, about: str | None
    ) -> FeedRef:
        title_link = newest[kind].get(slug)
        return FeedRef(
            kind,
            slug,
            title,
            feed_path(kind, slug),
            n,
            newest_title=title_link[0] if title_link else None,
            newest_link=title_link[1] if title_link else None,
            description=about,
        )

    total = sum(n for _s, _t, n in storage.feed_refs(FeedKind.ALL))
    refs = [ref(FeedKind.ALL, "all", "All entries", total, None)]
    for topic in config.topics:
        refs.append(
            ref(
                FeedKind.TOPIC,
                topic.slug,
                topic.title,
                counts.get(topic.slug, 0),
                topic.description,
            )
        )
    views = {slug: n for slug, _name, n in storage.feed_refs(FeedKind.VIEW)}
    for view in config.feeds:
        n = views.get(view.slug, 0)
        refs.append(ref(FeedKind.VIEW, view.slug, view.title, n, view.description))
    for slug, name, n in storage.feed_refs(FeedKind.AUTHOR):
        refs.append(ref(FeedKind.AUTHOR, slug, name, n, None))
    return tuple(refs)


def find_feed(
    storage: Storage, config: Config, kind: FeedKind, slug: str
) -> FeedRef | None:
    """Return the feed of that kind and slug, or None when it does not exist."""
    if kind is FeedKind.ALL:
        return FeedRef(FeedKind.ALL, "all", "All entries", "all.atom")
    if kind is FeedKind.TOPIC:
        for topic in config.topics:
            if topic.slug == slug:
                return FeedRef(
                    kind,
                    slug,
                    topic.title,
                    feed_path(kind, slug),
                    description=topic.description,
                )
        return None
    if kind is FeedKind.VIEW:
        view = next((v for v in config.feeds if v.slug == slug), None)
        if view is None:
            return None
        path = feed_path(kind, slug)
        return FeedRef(kind, slug, view.title, path, description=view.description)
    for author_slug, name, n in storage.feed_refs(FeedKind.AUTHOR):
        if author_slug == slug:
            return FeedRef(kind, slug, name, feed_path(kind, slug), n)
    if storage.retractions(f"{kind.value}/{slug}"):
        # every entry was retracted: keep serving the feed so that its
        # subscribers learn it (RFC 6721) until the retractions expire
        return FeedRef(kind, slug, _slug_title(slug), feed_path(kind, slug))
    return None


def _slug_title(slug: str) -> str:
    return " ".join(part.capitalize() for part in slug.split("-"))


def _source_lookup(storage: Storage) -> Callable[[int], SourceInfo]:
    cache: dict[int, SourceInfo] = {}

    def source(source_id: int) -> SourceInfo:
        if source_id not in cache:
            cache[source_id] = publish.source_info(
                storage.get_source(source_id), f"urn:feedhub:source:{source_id}"
            )
        return cache[source_id]

    return source


@dataclass(frozen=True, slots=True)
class _Current:
    stories: tuple[tuple[StoredEntry, tuple[StoredEntry, ...]], ...]
    entries: tuple[PublishedEntry, ...]
    pages: int
    complete: bool


def _current(
    storage: Storage,
    config: Config,
    ref: FeedRef,
    source: Callable[[int], SourceInfo] | None = None,
) -> _Current:
    """The subscription document's stories: every one not yet archived.

    Between ``entries_per_feed`` and ``entries_per_feed + archive_page_size - 1``
    once the feed has history; a page is frozen when a full one is older.
    """
    key = feed_key(ref)
    limit = config.publish.entries_per_feed + config.publish.archive_page_size - 1
    stories = storage.unarchived_stories(ref.kind, ref.slug, key, limit + 1)
    overflow = len(stories) > limit
    stories = stories[:limit]
    pages = storage.archive_page_count(key)
    entries = publish.published_entries(stories, source or _source_lookup(storage))
    # RFC 5005 §2: complete only when nothing was ever archived or cut off
    return _Current(stories, entries, pages, not overflow and pages == 0)


def _document(
    storage: Storage, config: Config, ref: FeedRef, ext: str, cur: _Current
) -> FeedDocument:
    key = feed_key(ref)
    return publish.document(
        base_url=config.server.base_url,
        stem=key,
        title=ref.title,
        subtitle=ref.description,
        entries=cur.entries,
        page=publish.Page(None, cur.pages, cur.complete),
        ext=ext,
        hub=config.publish.hub,
        deleted=storage.retractions(key),
        ttl=max(1, cache_seconds(config) // 60),
    )


def build_document(
    storage: Storage, config: Config, ref: FeedRef, ext: str = "atom"
) -> FeedDocument:
    """Select a feed's newest unarchived stories and build one format's document."""
    return _document(storage, config, ref, ext, _current(storage, config, ref))


def build_archive(
    storage: Storage, config: Config, ref: FeedRef, number: int, ext: str = "atom"
) -> FeedDocument | None:
    """Build RFC 5005 archive page ``number`` of a feed; None when it does not exist."""
    key = feed_key(ref)
    page = storage.archive_page(key, number)
    if page is None:
        return None
    entries = publish.entries_from_json(page[1])
    pages = storage.archive_page_count(key)
    return _archive_document(config, ref, number, pages, entries, ext)


def _archive_document(
    config: Config,
    ref: FeedRef,
    number: int,
    pages: int,
    entries: Sequence[PublishedEntry],
    ext: str,
) -> FeedDocument:
    return publish.document(
        base_url=config.server.base_url,
        stem=feed_key(ref),
        title=ref.title,
        subtitle=ref.description,
        entries=entries,
        page=publish.Page(number, pages),
        ext=ext,
    )


def _render(doc: FeedDocument, ext: str) -> bytes:
    if ext == "atom":
        return publish.render_atom(doc)
    if ext == "rss":
        return publish.render_rss(doc)
    if ext == "json":
        return publish.render_json_feed(doc)
    # the page's time is its newest entry's, so unchanged pages stay unchanged
    return publish.render_feed_html(doc, generated_at=doc.updated)


def render_feed(
    storage: Storage, config: Config, ref: FeedRef, ext: str = "atom"
) -> Rendered:
    """Render one format (atom, rss, json, html) of a feed's subscription document."""
    doc = build_document(storage, config, ref, ext)
    return Rendered(
        ref, _render(doc, ext), doc.updated, publish.FORMATS[ext], cache_seconds(config)
    )


def render_archive(
    storage: Storage, config: Config, ref: FeedRef, number: int, ext: str = "atom"
) -> Rendered | None:
    """Render one format of archive page ``number``; None when there is none."""
    doc = build_archive(storage, config, ref, number, ext)
    if doc is None:
        return None
    return Rendered(
        ref, _render(doc, ext), doc.updated, publish.FORMATS[ext], ARCHIVE_MAX_AGE
    )


def _site_time(storage: Storage, now: datetime) -> datetime:
    # the last time a feed changed, so an unchanged site renders identically
    return storage.latest_feed_change() or now


def render_index(storage: Storage, config: Config, now: datetime) -> bytes:
    """Render the HTML index page listing every feed."""
    return publish.render_index_html(
        list_feeds(storage, config),
        base_url=config.server.base_url,
        title=config.publish.site_title,
        generated_at=_site_time(storage, now),
    )


def author_index(storage: Storage, config: Config) -> tuple[AuthorSummary, ...]:
    """Every published author, most entries first, then the most recent, then
    by name; organisations published on purpose (``authors:``) are marked."""
    organisations = {a.slug for a in config.authors if a.organisation}
    summaries = [
        replace(a, organisation=a.slug in organisations)
        for a in storage.author_summaries()
    ]
    summaries.sort(key=lambda a: (a.name.casefold(), a.slug))
    summaries.sort(key=lambda a: (a.entry_count, a.newest), reverse=True)
    return tuple(summaries)


def render_authors_index(storage: Storage, config: Config, now: datetime) -> bytes:
    """Render the HTML ``/authors/`` page (see ``author_index``)."""
    return publish.render_authors_html(
        author_index(storage, config),
        base_url=config.server.base_url,
        title=config.publish.site_title,
        generated_at=_site_time(storage, now),
    )


#: OPML files: name -> the feed kinds they list
OPML_GROUPS: dict[str, tuple[FeedKind, ...]] = {
    "feeds": (FeedKind.ALL, FeedKind.TOPIC, FeedKind.VIEW, FeedKind.AUTHOR),
    "all": (FeedKind.ALL,),
    "topics": (FeedKind.TOPIC,),
    "authors": (FeedKind.AUTHOR,),
    "views": (FeedKind.VIEW,),
}


def render_opml(storage: Storage, config: Config, group: str, now: datetime) -> bytes:
    """Render the OPML subscription list of one group (see ``OPML_GROUPS``)."""
    kinds = OPML_GROUPS[group]
    refs = [r for r in list_feeds(storage, config) if r.kind in kinds]
    suffix = "" if group == "feeds" else f": {group}"
    return publish.render_opml(
        refs,
        base_url=config.server.base_url,
        title=f"{config.publish.site_title}{suffix}",
        generated_at=_site_time(storage, now),
    )
