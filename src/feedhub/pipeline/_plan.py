"""Dry-run of a rule change: which entries each published feed would gain or lose.

``plan`` files every stored entry under the current config, exactly as
``apply_rules`` would, and compares the outcome, story by story, with what
the database publishes now. It writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedhub.config import curation_snapshot, parse_query
from feedhub.pipeline._stories import CURATION_META_KEY, refiler
from feedhub.storage import Storage
from feedhub.types import Config, StoredEntry, ViewConfig

__all__ = ["FeedPlan", "Plan", "PlannedEntry", "plan"]


@dataclass(frozen=True, slots=True)
class PlannedEntry:
    """A story that would appear in or disappear from a feed."""

    story_id: str
    #: the copy shown: the earliest seen copy that counts
    key: str
    title: str
    link: str | None
    #: the story's place in feeds (ISO-8601), newest first in lists
    sort_at: str


@dataclass(frozen=True, slots=True)
class FeedPlan:
    """The change one published feed would see."""

    #: feed key: "all", "topics/ai", "authors/jane-doe", "feeds/<view>"
    feed: str
    title: str
    #: stories that would appear / disappear, newest first (up to the limit)
    appear: tuple[PlannedEntry, ...] = ()
    disappear: tuple[PlannedEntry, ...] = ()
    #: how many would appear / disappear in all
    appearing: int = 0
    disappearing: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    """What applying the current config's rules would change."""

    #: one line per rule difference from what the database last applied
    rule_changes: tuple[str, ...]
    #: False when the database has no record of the rules it applied
    known: bool
    #: feeds that would change, "all" first, then by key
    feeds: tuple[FeedPlan, ...]
    #: entries examined
    entries: int


def _rule_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    if old is None:
        return ["no record of the rules last applied (stored by feedhub >= this one)"]
    lines: list[str] = []
    old_topics, new_topics = old.get("topics", {}), new["topics"]
    for slug in sorted(set(old_topics) | set(new_topics)):
        if slug not in old_topics:
            lines.append(f"topic {slug}: added")
        elif slug not in new_topics:
            lines.append(f"topic {slug}: removed")
        else:
            for part in ("match", "include_sources", "exclude_sources"):
                if old_topics[slug].get(part) != new_topics[slug][part]:
                    lines.append(f"topic {slug}: {part} changed")
    if old.get("block") != new["block"]:
        lines.append("block: changed")
    old_src, new_src = old.get("sources", {}), new["sources"]
    for url in sorted(set(old_src) | set(new_src)):
        if old_src.get(url) != new_src.get(url):
            lines.append(
                f"source {url}: topics {old_src.get(url)} -> {new_src.get(url)}"
            )
    return lines


def _planned(entry: StoredEntry) -> PlannedEntry:
    # sorted as storage._rows.sort_at: the entry's own date, never after
    # first seen
    own = entry.data.published or entry.data.updated or entry.first_seen_at
    sort_at = min(own, entry.first_seen_at).isoformat()
    return PlannedEntry(
        entry.story_id, entry.key, entry.data.title, entry.data.link, sort_at
    )


#: what a named view looks at in one copy: story, source URL, topics, authors
_Copy = tuple[str, str, set[str], set[str]]


def plan(storage: Storage, config: Config, *, limit: int | None = None) -> Plan:
    """Compare the feeds ``config``'s rules would publish with the current ones.

    Args:
        storage: the database; only read.
        config: the configuration to try (the file as edited).
        limit: most entries listed per feed and direction (newest first);
            None lists all. Counts are never cut.

    Returns:
        The rule differences and, per feed that would change, the stories
        that would appear and disappear.
    """
    stored_text = storage.get_meta(CURATION_META_KEY)
    old_rules = json.loads(stored_text) if stored_text else None
    changes = _rule_changes(old_rules, curation_snapshot(config))
    before = storage.story_memberships()
    hidden, _blocked = storage.entry_flags()
    refile = refiler(storage, config)
    urls = {state.id: state.url for state in storage.get_sources()}
    # per story: whether a visible copy lists it, and the feeds of its copies
    listed: set[str] = set()
    after: dict[str, set[str]] = {"all": set()}
    # per story: its earliest seen copy, as listed (not the whole entry:
    # 100k stored contents would not fit comfortably in memory)
    shown: dict[str, tuple[datetime, str, PlannedEntry]] = {}
    copies: dict[str, _Copy] = {}
    count = 0
    for stored in storage.iter_entries():
        count += 1
        key, topics, refs, curation = refile(stored)
        if curation.blocked is not None:
            continue
        story = stored.story_id
        if key not in hidden:
            listed.add(story)
        first = shown.get(story)
        if first is None or (stored.first_seen_at, key) < first[:2]:
            shown[story] = (stored.first_seen_at, key, _planned(stored))
        for match in topics:
            after.setdefault(f"topics/{match.topic}", set()).add(story)
        for ref in refs:
            after.setdefault(f"authors/{ref.slug}", set()).add(story)
        if config.feeds:
            copies[key] = (
                story,
                urls.get(stored.source_id, ""),
                {m.topic for m in topics},
                {r.slug for r in refs},
            )
    after["all"] = set(listed)
    for feed, stories in after.items():
        if feed != "all":
            stories &= listed
    for view in config.feeds:
        stories = _view_stories(storage, view, copies)
        after[f"feeds/{view.slug}"] = stories & listed
    titles = {f"topics/{t.slug}": t.title for t in config.topics}
    titles.update({f"feeds/{v.slug}": v.title for v in config.feeds})
    titles["all"] = "All entries"
    feeds: list[FeedPlan] = []
    lookup = _Lookup(storage, shown)
    for feed in sorted(set(before) | set(after), key=lambda f: (f != "all", f)):
        old, new = before.get(feed, set()), after.get(feed, set())
        if old == new:
            continue
        feeds.append(
            FeedPlan(
                feed,
                titles.get(feed, feed.partition("/")[2] or feed),
                lookup.entries(new - old, limit),
                lookup.entries(old - new, limit),
                len(new - old),
                len(old - new),
            )
        )
    return Plan(tuple(changes), old_rules is not None, tuple(feeds), count)


def _view_stories(
    storage: Storage, view: ViewConfig, copies: dict[str, _Copy]
) -> set[str]:
    """The stories of a named view under the new rules.

    A copy is in a view when it meets every condition the view sets (as
    storage._views defines them); a story when any of its copies is.
    """
    matching = None
    if view.query:
        matching = set(storage.search_keys(parse_query(view.query).fts))
    stories: set[str] = set()
    for key, (story, url, topics, authors) in copies.items():
        if view.topics and not topics & set(view.topics):
            continue
        if view.authors and not authors & set(view.authors):
            continue
        if view.sources and url not in view.sources:
            continue
        if matching is not None and key not in matching:
            continue
        stories.add(story)
    return stories


class _Lookup:
    """Turns story ids into ``PlannedEntry`` values, newest first."""

    def __init__(
        self, storage: Storage, shown: dict[str, tuple[datetime, str, PlannedEntry]]
    ) -> None:
        self.storage = storage
        self.shown = shown

    def entries(
        self, stories: Iterable[str], limit: int | None
    ) -> tuple[PlannedEntry, ...]:
        found: list[PlannedEntry] = []
        for story in stories:
            if story in self.shown:
                found.append(self.shown[story][2])
                continue
            # a story with no copy left under the new rules (all blocked)
            members = self.storage.story_members(story)
            if members:
                found.append(_planned(members[0][0]))
        found.sort(key=lambda p: (p.sort_at, p.key), reverse=True)
        return tuple(found if limit is None else found[:limit])
