"""Search feeds and named views: wire the query language, the index and publish."""

from __future__ import annotations

from collections.abc import Callable, Collection

from feedhub import publish
from feedhub.config import parse_query
from feedhub.pipeline._publishing import (
    Rendered,
    _render,
    _source_lookup,
    cache_seconds,
)
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    FeedKind,
    FeedRef,
    PublishedEntry,
    SearchQuery,
    SourceInfo,
    StoredEntry,
    Story,
    ViewConfig,
)


def find_view(config: Config, slug: str) -> ViewConfig | None:
    """Return the named view ``slug`` of ``feeds:``, or None."""
    return next((view for view in config.feeds if view.slug == slug), None)


def view_stories(storage: Storage, slug: str, limit: int) -> tuple[Story, ...]:
    """The newest stories of a named view, as ``feed_stories`` gives a topic's.

    Reflects the views last stored by ``apply_views`` (what is published).
    """
    return storage.feed_stories(FeedKind.VIEW, slug, limit)


def view_selector(
    storage: Storage, view: ViewConfig
) -> Callable[[StoredEntry, Collection[str], Collection[str]], bool]:
    """Return a test of whether an entry belongs to ``view``, for a dry run.

    The test takes the entry, the topic slugs and the author slugs it has (or
    would have under the rules being planned) and applies the view's
    conditions as ``refresh_views`` does: every condition the view sets must
    hold. The search query is run once, here, against the stored index.

    A story is in the view when any of its copies passes the test.
    """
    ids = {state.url: state.id for state in storage.get_sources()}
    sources = {ids[url] for url in view.sources if url in ids}
    matching = (
        frozenset(storage.search_keys(parse_query(view.query).fts))
        if view.query
        else None
    )

    def selects(
        entry: StoredEntry, topics: Collection[str], authors: Collection[str]
    ) -> bool:
        return (
            (not view.topics or any(t in topics for t in view.topics))
            and (not view.authors or any(a in authors for a in view.authors))
            and (not view.sources or entry.source_id in sources)
            and (matching is None or entry.key in matching)
        )

    return selects


def search_stories(
    storage: Storage, query: str | SearchQuery, limit: int
) -> tuple[Story, ...]:
    """The newest stories with a copy matching ``query``, newest first.

    Raises:
        QueryError: the query is malformed.
    """
    parsed = parse_query(query) if isinstance(query, str) else query
    return storage.search_stories(parsed.fts, limit)


def search_entries(
    storage: Storage,
    config: Config,
    query: str | SearchQuery,
    limit: int,
    source: Callable[[int], SourceInfo] | None = None,
) -> tuple[PublishedEntry, ...]:
    """The newest matches as published entries (one per story, sources credited).

    Raises:
        QueryError: the query is malformed.
    """
    stories = search_stories(storage, query, limit)
    return publish.published_entries(stories, source or _source_lookup(storage))


def render_search(
    storage: Storage, config: Config, query: SearchQuery, ext: str = "atom"
) -> Rendered:
    """Render the saved-search feed of ``query`` in one format.

    Holds the newest ``publish.entries_per_feed`` matching stories; its id and
    self link carry the normalized query, so equivalent spellings are one feed.

    Raises:
        QueryError: the index refused the query.
    """
    entries = search_entries(storage, config, query, config.publish.entries_per_feed)
    doc = publish.search_document(
        base_url=config.server.base_url,
        query=query.text,
        title=f"{config.publish.site_title} search: {query.text}",
        entries=entries,
        ext=ext,
        ttl=max(1, cache_seconds(config) // 60),
    )
    ref = FeedRef(FeedKind.ALL, "search", doc.title, f"search.{ext}")
    return Rendered(
        ref, _render(doc, ext), doc.updated, publish.FORMATS[ext], cache_seconds(config)
    )
