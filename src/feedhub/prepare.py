"""Parse, normalize, clean, identify and curate one fetched body (parse workers).

A top-level module, not part of ``feedhub.pipeline``: a worker process imports
only this and the stages it calls (about half the memory and start-up of the
whole pipeline, which pulls in aiohttp, SQLite and the publishers).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from feedhub import authors, clean, curate, dedupe, normalize, parse
from feedhub.types import DedupeConfig, EntryUpdate, FeedData, FetchResult


@dataclass(frozen=True, slots=True)
class _Prepared:
    feed: FeedData
    entries: tuple[EntryUpdate, ...]
    warning: str | None


def prepare_update(
    result: FetchResult,
    source_id: int,
    source_topics: tuple[str, ...],
    rules: curate.TopicRules,
    dedupe_config: DedupeConfig | None = None,
    author_rules: authors.AuthorRules | None = None,
    context: curate.EntryContext | None = None,
) -> _Prepared:
    """Parse, normalize, clean, identify, fingerprint and curate one fetched body.

    Pure CPU work, run in a worker process when there is more than one core.
    Entries sharing an id but not a link are told apart by their link.
    A byline naming the feed itself ("TechCrunch" on techcrunch.com) is an
    organisation (see ``authors.site_names``).

    Raises:
        ParseError: the body is not a feed.
    """
    config = dedupe_config or DedupeConfig()
    parsed = parse.parse(result.body, url=result.final_url, headers=result.headers)
    feed = normalize.normalize(parsed)
    cleaning = clean.compile_rules(config.clean_rules, config.clean_disable)
    site = authors.site_names(feed.title, urls=(feed.link, result.final_url))
    entries = [clean.clean_entry(entry, cleaning) for entry in feed.entries]
    # rules may look at the feed's language (``language:`` conditions)
    ctx = replace(context or curate.EntryContext(), language=feed.language)
    links_of: dict[str, set[str | None]] = {}
    for entry in entries:
        if entry.original_id:
            links_of.setdefault(entry.original_id, set()).add(entry.link)
    updates: dict[str, EntryUpdate] = {}
    for entry in entries:
        shared = entry.original_id is not None and len(links_of[entry.original_id]) > 1
        identity = dedupe.identify(
            source_id,
            entry,
            extra_params=config.tracking_params,
            amp=config.amp,
            by_link=shared,
        )
        if identity.key in updates:
            # the same id and link twice in one document: the first (newest) wins
            continue
        topics, curation = curate.decide(rules, entry, source_topics, ctx)
        updates[identity.key] = EntryUpdate(
            data=entry,
            identity=identity,
            topics=topics,
            curation=curation,
            authors=authors.author_refs(entry, author_rules, site),
            fingerprint=dedupe.fingerprint(entry) if config.near_duplicates else None,
        )
    cleaned = replace(feed, entries=tuple(entries))
    return _Prepared(cleaned, tuple(updates.values()), parsed.warning)
