"""Assign entries to stories, re-file them when rules change, explain and purge."""

from __future__ import annotations

import json
import logging
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from feedhub import authors, clean, curate, dedupe
from feedhub.config import config_fingerprint, curation_snapshot, parse_query
from feedhub.storage import Storage
from feedhub.types import (
    AuthorRef,
    Config,
    Curation,
    DedupeConfig,
    EntryData,
    EntryUpdate,
    Fingerprint,
    SourceConfig,
    SourceState,
    StoredEntry,
    StoryMatch,
    StoryRule,
    TopicMatch,
    UpdateCounts,
)

log = logging.getLogger("feedhub.pipeline")  # one logger name for the package


def assign_stories(
    storage: Storage,
    config: Config,
    state: SourceState,
    entries: Sequence[EntryUpdate],
    now: datetime,
    *,
    shingle_cache: dict[tuple[str, str], array[int]] | None = None,
) -> tuple[EntryUpdate, ...]:
    """Decide each entry's stored key, story and backlog flag before it is stored.

    Known entries (same key, an alias, or a re-keyed id with the same link)
    keep their stored key and story; purged ones are dropped. A new entry
    joins the story of a stored copy with its canonical link (copies in the
    same document included), else of the best near-duplicate from another
    source (``dedupe.choose_story``), else founds its own.

    The poller runs it on its writer thread right before ``record_poll``
    (``record_entries``), so no other write of this process interleaves.

    ``shingle_cache`` (see ``dedupe.choose_story``) is best shared by every
    call of one poll run: the same stored copies come up as candidates for
    many sources' entries. Without one, each call uses its own.
    """
    if not entries:
        return ()
    cache = {} if shingle_cache is None else shingle_cache
    dd = config.dedupe
    known, tombstoned, has_entries = storage.resolve_entries(
        state.id, [(u.identity.key, u.identity.canonical_link) for u in entries]
    )
    kept: list[EntryUpdate] = []
    fresh: list[EntryUpdate] = []
    claimed: set[str] = set()
    for update in entries:
        key = update.identity.key
        if key in tombstoned:
            continue
        if key not in known:
            fresh.append(update)
            continue
        stored_key, story = known[key]
        if stored_key in claimed:
            continue  # two ids of one entry in one document: the first wins
        claimed.add(stored_key)
        identity = replace(update.identity, key=stored_key, story_id=story)
        alias = key if stored_key != key else None
        kept.append(replace(update, identity=identity, alias=alias))
    hidden = dedupe.backlog(
        [u.data for u in fresh],
        limit=config.publish.backlog_per_new_source,
        first_poll=not has_entries,
        all_new=not kept,
        last_success=state.last_success_at,
    )
    by_link = storage.stories_of_links(
        [u.identity.canonical_link for u in fresh if u.identity.canonical_link]
    )
    for index, update in enumerate(fresh):
        story, match = _story_for(storage, dd, update, by_link, state.id, now, cache)
        identity = replace(update.identity, story_id=story)
        if update.fingerprint is not None:
            # later entries of this run score against it from the cache
            dedupe.remember(
                cache, identity.key, identity.content_hash, update.fingerprint.shingles
            )
        update = replace(update, identity=identity, match=match, hidden=index in hidden)
        kept.append(update)
        stored = StoredEntry(
            key=identity.key,
            source_id=state.id,
            data=update.data,
            canonical_link=identity.canonical_link,
            content_hash=identity.content_hash,
            story_id=story,
            first_seen_at=now,
            last_changed_at=now,
        )
        if identity.canonical_link:
            by_link.setdefault(identity.canonical_link, stored)
    return tuple(kept)


def record_entries(
    storage: Storage,
    config: Config,
    state: SourceState,
    entries: Sequence[EntryUpdate],
    now: datetime,
    *,
    shingle_cache: dict[tuple[str, str], array[int]] | None = None,
    **kwargs: Any,
) -> UpdateCounts:
    """``assign_stories`` then ``storage.record_poll`` with the result.

    Run as one unit on the poll's writer thread, so that no other write lands
    between the story lookups and the write that relies on them.
    """
    assigned = assign_stories(
        storage, config, state, entries, now, shingle_cache=shingle_cache
    )
    assigned = _judge_age(storage, config, state, assigned, now)
    counts = storage.record_poll(state.id, now=now, entries=assigned, **kwargs)
    # tombstones this document no longer carries may expire (storage._retention)
    storage.note_tombstones(
        state.id, [(u.identity.key, u.identity.canonical_link) for u in entries], now
    )
    # a match is set on new entries only; anything but "founded" is a merge
    merged = sum(
        u.match is not None and u.match.rule is not StoryRule.FOUNDED for u in assigned
    )
    return replace(counts, merged=merged) if merged else counts


def _judge_age(
    storage: Storage,
    config: Config,
    state: SourceState,
    entries: tuple[EntryUpdate, ...],
    now: datetime,
) -> tuple[EntryUpdate, ...]:
    """Decide ``max_age`` rules of entries seen before by their first-seen time.

    Parse workers judge every entry as first seen ``now``; an entry stored
    earlier must be judged as ``apply_rules`` judges it, by when feedhub first
    saw it, or it would leave an age-limited topic when its feed lists it
    again. Costs nothing when no rule has ``max_age``.
    """
    if not curate.uses_age(config.topics, config.block):
        return entries
    rules = curate.compile_rules(config.topics, config.block)
    source = _source_configs(config).get(state.url)
    source_topics = source.topics if source is not None else ()
    out = []
    for update in entries:
        stored = storage.get_entry(update.identity.key)
        if stored is not None and stored.first_seen_at != now:
            language = update.curation.language if update.curation else None
            context = curate.EntryContext(state.url, stored.first_seen_at, language)
            topics, curation = curate.decide(rules, update.data, source_topics, context)
            update = replace(update, topics=topics, curation=curation)
        out.append(update)
    return tuple(out)


def _story_for(
    storage: Storage,
    dd: DedupeConfig,
    update: EntryUpdate,
    by_link: dict[str, StoredEntry],
    source_id: int,
    now: datetime,
    cache: dict[tuple[str, str], array[int]],
) -> tuple[str, StoryMatch]:
    """The story a new entry joins, and why (see ``assign_stories``)."""
    link = update.identity.canonical_link
    if link and link in by_link:
        twin = by_link[link]
        return twin.story_id, StoryMatch(
            StoryRule.CANONICAL_LINK, 1.0, twin.key, f"same canonical link {link}"
        )
    buckets = update.fingerprint.buckets if update.fingerprint else ()
    if dd.near_duplicates and buckets:
        # Only copies from other sources: a source does not syndicate itself,
        # and its entries often share a template (podcast notes, release
        # announcements) that would look like near-duplicate text.
        assert update.fingerprint is not None  # buckets come from it
        worth = dedupe.title_filter(update.data, dd)
        candidates = storage.near_candidates(
            buckets,
            cached=cache,
            text=update.fingerprint.text,
            keep=lambda source, title, by_text: (
                source != source_id and worth(title, by_text)
            ),
        )
        found = dedupe.choose_story(
            update.data,
            now,
            candidates,
            dd,
            cache,
            shingles=update.fingerprint.shingles,
        )
        if found is not None:
            return found[0].story_id, found[1]
    return update.identity.story_id, StoryMatch(StoryRule.FOUNDED, detail="new story")


def _source_configs(config: Config) -> dict[str, SourceConfig]:
    return {source.url: source for source in config.sources}


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------

_RULES_META_KEY = "rules_fingerprint"
#: meta key of the curation part of the config rules were last applied with
CURATION_META_KEY = "curation_config"
#: entries re-filed per transaction (each writes only what changed)
_REFILE_BATCH = 5000
#: ``authors.VERSION`` the stored author memberships were computed with
_AUTHORS_META_KEY = "authors_version"
_NEAR_META_KEY = "near_index_version"


def rebuild_near_index(storage: Storage, config: Config, *, force: bool = False) -> int:
    """Index stored entries for near-duplicate search when the scheme changed.

    Entries stored before the index existed (or under another
    ``dedupe.INDEX_VERSION``) are cleaned and fingerprinted again; their
    stored content is left as it is. Runs once, before the first poll that
    needs it; about 0.5 ms per entry.

    Returns:
        How many entries were indexed.
    """
    if not force and storage.get_meta(_NEAR_META_KEY) == dedupe.INDEX_VERSION:
        return 0
    dd = config.dedupe
    rules = clean.compile_rules(dd.clean_rules, dd.clean_disable)
    done = 0
    batch: list[tuple[str, Fingerprint]] = []
    for stored in storage.iter_entries():
        batch.append(
            (stored.key, dedupe.fingerprint(clean.clean_entry(stored.data, rules)))
        )
        if len(batch) >= 1000:
            storage.index_entries(batch)
            done += len(batch)
            batch = []
    storage.index_entries(batch)
    done += len(batch)
    storage.set_meta(_NEAR_META_KEY, dedupe.INDEX_VERSION)
    if done:
        log.info("near-duplicate index rebuilt: %d entries", done)
    return done


def apply_prefer(storage: Storage, config: Config) -> bool:
    """Store ``dedupe.prefer`` as source ids; representatives change with it.

    Returns:
        True when the preference changed (every story was re-ranked).
    """
    wanted: list[int] = []
    if config.dedupe.prefer:  # most configs prefer none: no sources to load
        ids = {state.url: state.id for state in storage.get_sources()}
        wanted = [ids[url] for url in config.dedupe.prefer if url in ids]
    return storage.set_preferred_sources(wanted)


#: an entry filed again: (key, topics, authors, decision log)
Refiled = tuple[str, tuple[TopicMatch, ...], tuple[AuthorRef, ...], Curation]


def refiler(storage: Storage, config: Config) -> Callable[[StoredEntry], Refiled]:
    """Return what files a stored entry under ``config``'s topic and author
    rules; ``apply_rules`` stores its results, ``feedhub plan`` compares them.

    Rules are compiled and the sources looked up once, here.
    """
    rules = curate.compile_rules(config.topics, config.block)
    author_rules = authors.compile_authors(config.authors)
    states = storage.get_sources()
    # a byline naming the source itself is an organisation (authors.site_names)
    sites = {
        state.id: authors.site_names(state.title, urls=(state.link, state.fetch_url))
        for state in states
    }
    configured = _source_configs(config)  # once: not once per source
    topics_by_source = {state.id: configured.get(state.url) for state in states}
    # topic rules may look at the source and the feed's language (curate.decide)
    urls = {state.id: state.url for state in states}
    languages = storage.entry_languages()

    def refile(stored: StoredEntry) -> Refiled:
        source = topics_by_source.get(stored.source_id)
        source_topics = source.topics if source is not None else ()
        context = curate.EntryContext(
            urls.get(stored.source_id, ""),
            stored.first_seen_at,
            languages.get(stored.key),
        )
        topics, curation = curate.decide(rules, stored.data, source_topics, context)
        refs = authors.author_refs(
            stored.data, author_rules, sites.get(stored.source_id, ())
        )
        return stored.key, topics, refs, curation

    return refile


def apply_views(storage: Storage, config: Config) -> bool:
    """Store the named views of ``feeds:``; the stories of changed ones are rebuilt.

    Returns:
        True when a view was added, changed or removed.
    """
    return storage.set_views(
        [
            (view, parse_query(view.query).fts if view.query else None)
            for view in config.feeds
        ]
    )


def apply_rules(storage: Storage, config: Config, *, force: bool = False) -> int:
    """Re-evaluate topic and author membership of every stored entry when the
    curation part of the config changed since the database last used it.

    Also stores ``dedupe.prefer``, which picks story representatives, and
    indexes stored entries for near-duplicate search when that is needed.

    Returns:
        How many entries changed membership.
    """
    apply_prefer(storage, config)
    # named views (feeds:) are stored like rules: their stories follow them
    apply_views(storage, config)
    rebuild_near_index(storage, config)
    fingerprint = config_fingerprint(config)
    # new byline rules re-file too, as a changed authors: section does
    authors_current = storage.get_meta(_AUTHORS_META_KEY) == authors.VERSION
    if (
        not force
        and authors_current
        and storage.get_meta(_RULES_META_KEY) == fingerprint
    ):
        return 0
    refile = refiler(storage, config)
    changed = 0
    batch: list[Refiled] = []
    for stored in storage.iter_entries():
        batch.append(refile(stored))
        if len(batch) >= _REFILE_BATCH:
            changed += storage.set_curation(batch)
            batch = []
    if batch:
        changed += storage.set_curation(batch)
    # what the database now follows: feedhub plan compares the config with it
    storage.set_meta(CURATION_META_KEY, json.dumps(curation_snapshot(config)))
    storage.set_meta(_RULES_META_KEY, fingerprint)
    storage.set_meta(_AUTHORS_META_KEY, authors.VERSION)
    if changed:
        log.info("rules changed: %d entries re-filed", changed)
    return changed


def purge(
    storage: Storage,
    config: Config,
    refs: Sequence[str] = (),
    *,
    older_than: float | None = None,
    now: datetime,
) -> int:
    """Delete entries for good, leaving tombstones so they are never ingested again.

    Args:
        storage: the database.
        config: for the link canonicalization rules (refs may be any variant).
        refs: entry keys, guids or links (see ``explain``).
        older_than: also purge entries first seen and dated more than this
            many seconds before ``now``.
        now: the current time.

    Returns:
        How many entries were deleted.
    """
    keys = {found.key for ref in refs for found in explain(storage, config, ref)}
    if older_than is not None:
        keys.update(storage.entries_older_than(now - timedelta(seconds=older_than)))
    return storage.purge_entries(sorted(keys), now) if keys else 0


# ---------------------------------------------------------------------------
# Explain
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExplainedCopy:
    """One copy of a story, as ``feedhub explain`` shows it."""

    entry: StoredEntry
    #: the source's display name
    source: str
    #: why it joined the story; None for entries stored before dedupe recorded it
    match: StoryMatch | None
    #: backlog of a new or re-keyed source: stored, not published as new
    hidden: bool
    representative: bool
    #: other keys a re-keyed feed gave it
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    """Which story an entry belongs to, and why."""

    #: the entry the reference named
    key: str
    story_id: str
    #: atom:id the story is published under; None while it is not listed
    published_id: str | None
    #: how the representative was chosen
    representative_rule: str
    copies: tuple[ExplainedCopy, ...]
    #: the entry's topics now
    topics: tuple[str, ...] = ()
    #: why it is in or out of each topic with rules, or blocked; None for
    #: entries not curated since the decision log exists
    curation: Curation | None = None


def explain(storage: Storage, config: Config, ref: str) -> tuple[Explanation, ...]:
    """Say which story each entry named by ``ref`` belongs to and why.

    Args:
        storage: the database.
        config: for ``dedupe.prefer`` and the link canonicalization rules.
        ref: an entry key, original id (guid), link, or any URL whose
            canonical form is an entry's canonical link.

    Returns:
        One explanation per matching entry (several sources may carry the
        link); empty when nothing matches.
    """
    found = storage.find_entries(ref)
    if not found:
        canonical = dedupe.canonical_link(
            EntryData(original_id=None, link=ref, title=""),
            config.dedupe.tracking_params,
            amp=config.dedupe.amp,
        )
        if canonical:
            found = storage.find_entries(canonical)
    names: dict[int, str] = {}
    ranks = {url: i for i, url in enumerate(config.dedupe.prefer)}

    def name(source_id: int) -> str:
        if source_id not in names:
            state = storage.get_source(source_id)
            names[source_id] = (
                (state.name or state.title or state.url) if state else str(source_id)
            )
        return names[source_id]

    result = []
    for entry in found:
        members = storage.story_members(entry.story_id)
        copies = tuple(
            ExplainedCopy(
                entry=member,
                source=name(member.source_id),
                match=match,
                hidden=hidden,
                representative=member.published_id is not None,
                aliases=storage.aliases_of(member.key),
            )
            for member, match, hidden in members
        )
        rep = next((c for c in copies if c.representative), None)
        rule = "not published: every copy is backlog"
        if rep is not None:
            state = storage.get_source(rep.entry.source_id)
            url = state.url if state else ""
            rule = (
                f"preferred source (dedupe.prefer #{ranks[url] + 1})"
                if url in ranks
                else "earliest published copy"
            )
        result.append(
            Explanation(
                key=entry.key,
                story_id=entry.story_id,
                published_id=rep.entry.published_id if rep else None,
                representative_rule=rule,
                copies=copies,
                topics=entry.topics,
                curation=storage.curation_of(entry.key),
            )
        )
    return tuple(result)
