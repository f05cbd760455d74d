"""Parse, normalize, clean, identify and curate one fetched body (parse workers)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from feedhub import clean, curate, dedupe, normalize, parse
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
) -> _Prepared:
    """Parse, normalize, clean, identify, fingerprint and curate one fetched body.

    Pure CPU work, run in a worker process when there is more than one core.
    Entries sharing an id but not a link are told apart by their link.

    Raises:
        ParseError: the body is not a feed.
    """
    config = dedupe_config or DedupeConfig()
    parsed = parse.parse(result.body, url=result.final_url, headers=result.headers)
    feed = normalize.normalize(parsed)
    cleaning = clean.compile_rules(config.clean_rules, config.clean_disable)
    entries = [clean.clean_entry(entry, cleaning) for entry in feed.entries]
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
        updates[identity.key] = EntryUpdate(
            data=entry,
            identity=identity,
            topics=curate.match_topics(rules, entry, source_topics),
            authors=curate.author_refs(entry),
            fingerprint=dedupe.fingerprint(entry) if config.near_duplicates else None,
        )
    cleaned = replace(feed, entries=tuple(entries))
    return _Prepared(cleaned, tuple(updates.values()), parsed.warning)
