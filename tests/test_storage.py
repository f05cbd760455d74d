"""Tests for feedhub.storage: sources, polls, entries, stories, errors, threads."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils.db import Database

from feedhub.exceptions import StorageError
from feedhub.storage import Storage
from feedhub.storage._applied import NAMES, up_to_date
from feedhub.storage._schema import MIGRATIONS
from feedhub.types import (
    Author,
    AuthorRef,
    Curation,
    Enclosure,
    EntryData,
    EntryIdentity,
    EntryUpdate,
    FeedData,
    FeedKind,
    Fingerprint,
    PollStatus,
    SourceConfig,
    TopicMatch,
    UpdateCounts,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
A = "https://a.example/feed"
B = "https://b.example/feed"
C = "https://c.example/feed"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def entry(
    key: str,
    *,
    story: str | None = None,
    content_hash: str = "h1",
    title: str = "Title",
    published: datetime | None = None,
    updated: datetime | None = None,
    link: str | None = None,
    topics: tuple[str, ...] = (),
    authors: tuple[str, ...] = (),
) -> EntryUpdate:
    return EntryUpdate(
        data=EntryData(
            original_id=f"urn:{key}",
            link=link,
            title=title,
            published=published,
            updated=updated,
        ),
        identity=EntryIdentity(
            key=key,
            canonical_link=link,
            content_hash=content_hash,
            story_id=story or key,
        ),
        topics=tuple(TopicMatch(topic=t, reason="source") for t in topics),
        authors=tuple(AuthorRef(slug=a.lower(), name=a) for a in authors),
    )


def poll(
    storage: Storage, source_id: int, now: datetime, *entries: EntryUpdate
) -> UpdateCounts:
    return storage.record_poll(
        source_id, now=now, status=PollStatus.OK, http_status=200, entries=entries
    )


@pytest.fixture
def storage() -> Iterator[Storage]:
    with Storage(":memory:") as db:
        yield db


@pytest.fixture
def sid(storage: Storage) -> int:
    storage.sync_sources([SourceConfig(url=A)], T0)
    return storage.get_sources()[0].id


# ---------------------------------------------------------------- sources


def test_sync_adds_renames_deactivates_and_reactivates(storage: Storage) -> None:
    storage.sync_sources([SourceConfig(url=A, name="A"), SourceConfig(url=B)], T0)
    a, b = storage.get_sources()
    assert (a.url, a.fetch_url, a.name, b.url, b.name) == (A, A, "A", B, None)
    assert a.id < b.id

    storage.sync_sources([SourceConfig(url=A, name="Renamed")], at(1))
    assert [(s.id, s.name) for s in storage.get_sources()] == [(a.id, "Renamed")]
    removed = storage.get_source(b.id)
    assert removed is not None and removed.url == B  # kept, just not listed

    storage.sync_sources([SourceConfig(url=B), SourceConfig(url=C)], at(2))
    listed = storage.get_sources()
    assert [s.url for s in listed] == [B, C]
    assert listed[0].id == b.id  # a re-added URL reactivates the same id
    assert listed[1].id > b.id
    assert storage.due_sources(at(3)) == listed


def test_inactive_source_keeps_its_entries_and_is_not_polled(
    storage: Storage, sid: int
) -> None:
    poll(storage, sid, T0, entry("k1"))
    storage.sync_sources([], at(1))
    assert storage.get_sources() == ()
    assert storage.due_sources(at(2)) == ()
    assert storage.get_entry("k1") is not None
    state = storage.source_info(sid)
    assert state is not None and state.entry_count == 1


def test_due_sources_orders_never_checked_then_oldest(storage: Storage) -> None:
    urls = [f"https://{n}.example/" for n in "abcde"]
    storage.sync_sources([SourceConfig(url=u) for u in urls], T0)
    ids = [s.id for s in storage.get_sources()]
    for source_id, next_check in zip(
        ids[1:], (at(10), at(5), at(100), at(1)), strict=True
    ):
        storage.record_poll(
            source_id, now=T0, status=PollStatus.ERROR, next_check_at=next_check
        )
    storage.sync_sources([SourceConfig(url=u) for u in urls[:4]], T0)  # drops e

    due = storage.due_sources(at(10))
    assert [s.id for s in due] == [ids[0], ids[2], ids[1]]
    assert [s.id for s in storage.due_sources(at(9))] == [ids[0], ids[2]]


def test_record_poll_ok_stores_state_and_resets_errors(
    storage: Storage, sid: int
) -> None:
    storage.record_poll(sid, now=T0, status=PollStatus.ERROR, error="boom")
    feed = FeedData(
        url=A, title="Feed A", link="https://a.example/", id="urn:a", subtitle="s"
    )
    storage.record_poll(
        sid,
        now=at(1),
        status=PollStatus.OK,
        http_status=200,
        next_check_at=at(31),
        etag='"v1"',
        last_modified="Wed, 21 Oct 2015 07:28:00 GMT",
        feed=feed,
        entries=[entry("k1")],
    )
    state = storage.get_source(sid)
    assert state is not None
    assert (state.title, state.link, state.feed_id, state.subtitle) == (
        "Feed A",
        "https://a.example/",
        "urn:a",
        "s",
    )
    assert (state.etag, state.last_modified) == (
        '"v1"',
        "Wed, 21 Oct 2015 07:28:00 GMT",
    )
    assert state.last_status is PollStatus.OK
    assert state.last_http_status == 200
    assert state.last_polled_at == at(1) == state.last_success_at
    assert state.next_check_at == at(31)
    assert (state.error_count, state.last_error, state.entry_count) == (0, None, 1)


def test_record_poll_error_counts_and_keeps_validators(
    storage: Storage, sid: int
) -> None:
    storage.record_poll(sid, now=T0, status=PollStatus.OK, etag='"v1"')
    for n in (1, 2):
        storage.record_poll(
            sid,
            now=at(n),
            status=PollStatus.ERROR,
            http_status=500,
            error=f"fetch: 500 #{n}",
            next_check_at=at(n + 10),
        )
    state = storage.get_source(sid)
    assert state is not None
    assert (state.error_count, state.last_error) == (2, "fetch: 500 #2")
    assert (state.last_status, state.last_http_status) == (PollStatus.ERROR, 500)
    assert state.etag == '"v1"'
    assert state.last_success_at == T0
    assert state.last_polled_at == at(2)
    assert state.next_check_at == at(12)


def test_record_poll_not_modified_touches_only_poll_state(
    storage: Storage, sid: int
) -> None:
    storage.record_poll(
        sid, now=T0, status=PollStatus.OK, etag='"v1"', last_modified="lm"
    )
    storage.record_poll(sid, now=at(1), status=PollStatus.ERROR, error="x")
    gen = storage.generation()
    counts = storage.record_poll(
        sid, now=at(2), status=PollStatus.NOT_MODIFIED, http_status=304
    )
    assert counts == UpdateCounts()
    state = storage.get_source(sid)
    assert state is not None
    assert (state.etag, state.last_modified) == ('"v1"', "lm")
    assert (state.last_status, state.last_http_status) == (
        PollStatus.NOT_MODIFIED,
        304,
    )
    assert (state.error_count, state.last_error) == (0, None)
    assert storage.generation() == gen
    # a 304 may carry fresh validators (RFC 9110 §15.4.5)
    storage.record_poll(
        sid, now=at(3), status=PollStatus.NOT_MODIFIED, etag='"v2"', last_modified="l2"
    )
    state = storage.get_source(sid)
    assert state is not None and (state.etag, state.last_modified) == ('"v2"', "l2")


def test_record_poll_keeps_source_feed_authors_rights_categories(
    storage: Storage, sid: int
) -> None:
    authors = (
        Author(name="Ed Itor", email="ed@a.example", uri="https://a.example/ed"),
        Author(name="Bio Person", bio="Writes things."),
    )
    feed = FeedData(
        url=A,
        title="A",
        authors=authors,
        rights="© 2026 A & Co.",
        categories=("News", "Ünïcode"),
    )

    def ok(feed: FeedData | None, status: PollStatus = PollStatus.OK) -> None:
        storage.record_poll(sid, now=T0, status=status, feed=feed)

    ok(feed)
    state = storage.get_source(sid)
    assert state is not None
    assert state.feed_authors == authors
    assert state.feed_rights == "© 2026 A & Co."
    assert state.feed_categories == ("News", "Ünïcode")
    # a poll without a parsed feed, a 304 and an error keep them
    gen = storage.generation()
    ok(None)
    ok(None, PollStatus.NOT_MODIFIED)
    storage.record_poll(sid, now=T0, status=PollStatus.ERROR, error="x")
    ok(feed)
    assert storage.get_source(sid) == state
    assert storage.generation() == gen
    # each one is credited in atom:source, so a change is a visible change
    ok(dataclasses.replace(feed, rights="© 2027 A & Co."))
    assert storage.generation() == gen + 1
    ok(dataclasses.replace(feed, rights="© 2027 A & Co.", categories=("News",)))
    assert storage.generation() == gen + 2
    ok(FeedData(url=A, title="A"))
    assert storage.generation() == gen + 3
    state = storage.get_source(sid)
    assert state is not None
    assert (state.feed_authors, state.feed_rights, state.feed_categories) == (
        (),
        None,
        (),
    )


def test_source_metadata_migration_keeps_existing_sources(tmp_path: Any) -> None:
    path = str(tmp_path / "old.sqlite")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        MIGRATIONS.apply(Database(conn), stop_before="m005_source_metadata")
        conn.execute(
            "INSERT INTO sources (url, fetch_url, title, added_at)"
            " VALUES (?, ?, 'Old', '2026-01-01T00:00:00.000000+00:00')",
            (A, A),
        )
    finally:
        conn.close()
    with Storage(path) as db:
        (state,) = db.get_sources()
        assert (state.url, state.title) == (A, "Old")
        assert (state.feed_authors, state.feed_rights, state.feed_categories) == (
            (),
            None,
            (),
        )


def test_record_poll_fetch_url_is_used_from_then_on(storage: Storage, sid: int) -> None:
    storage.record_poll(
        sid, now=T0, status=PollStatus.OK, fetch_url="https://a.example/new"
    )
    state = storage.get_source(sid)
    assert state is not None
    assert (state.url, state.fetch_url) == (A, "https://a.example/new")


def test_record_poll_rejects_bad_calls(storage: Storage, sid: int) -> None:
    with pytest.raises(KeyError):
        storage.record_poll(sid + 1, now=T0, status=PollStatus.ERROR)
    with pytest.raises(ValueError, match="storage: "):
        storage.record_poll(sid, now=T0, status=PollStatus.ERROR, entries=[entry("k")])
    with pytest.raises(ValueError, match="naive"):
        naive = datetime(2026, 1, 1)  # noqa: DTZ001
        storage.record_poll(sid, now=naive, status=PollStatus.OK)
    state = storage.get_source(sid)
    assert state is not None and state.last_polled_at is None


# ---------------------------------------------------------------- entries


def test_upsert_counts_and_first_seen_kept(storage: Storage, sid: int) -> None:
    assert poll(storage, sid, T0, entry("k1"), entry("k2")) == UpdateCounts(new=2)
    counts = poll(
        storage,
        sid,
        at(5),
        entry("k1"),
        entry("k2", content_hash="h2", title="New title"),
        entry("k3"),
    )
    assert counts == UpdateCounts(new=1, updated=1, unchanged=1)

    k1, k2, k3 = (storage.get_entry(k) for k in ("k1", "k2", "k3"))
    assert k1 is not None and k2 is not None and k3 is not None
    assert (k1.first_seen_at, k1.last_changed_at) == (T0, T0)
    assert (k2.first_seen_at, k2.last_changed_at) == (T0, at(5))
    assert (k2.data.title, k2.content_hash) == ("New title", "h2")
    assert k3.first_seen_at == at(5)
    assert storage.get_entry("missing") is None


def test_entry_data_round_trips(storage: Storage, sid: int) -> None:
    data = EntryData(
        original_id="urn:x",
        link="https://a.example/x",
        title="Ünïcode title",
        summary="<p>s</p>",
        content="<p>c</p>",
        authors=(Author(name="Ann", email="a@example.org"), Author(uri="https://u")),
        published=at(-60),
        updated=at(-30),
        categories=("one", "two"),
        enclosures=(
            Enclosure(url="https://a.example/x.mp3", type="audio/mpeg", length=9),
        ),
        origin_link="https://orig.example/x",
    )
    identity = EntryIdentity(
        key="kx", canonical_link="https://a.example/x", content_hash="h", story_id="s"
    )
    poll(storage, sid, T0, EntryUpdate(data=data, identity=identity))
    stored = storage.get_entry("kx")
    assert stored is not None
    assert stored.data == data
    assert (stored.key, stored.source_id, stored.canonical_link) == (
        "kx",
        sid,
        identity.canonical_link,
    )
    assert (stored.content_hash, stored.story_id) == ("h", "s")


def test_memberships_are_replaced(storage: Storage, sid: int) -> None:
    poll(storage, sid, T0, entry("k1", topics=("ai", "web"), authors=("Ann", "Bob")))
    first = storage.get_entry("k1")
    assert first is not None
    assert first.topics == ("ai", "web")
    assert first.authors == (AuthorRef("ann", "Ann"), AuthorRef("bob", "Bob"))

    # unchanged content, new curation: memberships still replaced
    assert poll(storage, sid, at(1), entry("k1", topics=("web",))).unchanged == 1
    second = storage.get_entry("k1")
    assert second is not None
    assert (second.topics, second.authors) == (("web",), ())
    assert storage.feed_stories(FeedKind.TOPIC, "ai", 10) == ()
    assert storage.feed_refs(FeedKind.AUTHOR) == ()


def test_set_memberships_replaces_many_and_counts_changes(
    storage: Storage, sid: int
) -> None:
    poll(storage, sid, T0, entry("k1", topics=("ai",)), entry("k2"))
    gen = storage.generation()
    changed = storage.set_memberships(
        [
            ("k1", (TopicMatch("ai", "source"),), ()),  # same as stored
            ("k2", (TopicMatch("ai", "match: 'x'"),), (AuthorRef("ann", "Ann"),)),
            ("unknown", (TopicMatch("ai", "source"),), ()),
        ]
    )
    assert changed == 1
    assert storage.generation() == gen + 1
    k2 = storage.get_entry("k2")
    assert k2 is not None and k2.topics == ("ai",)
    assert [s.key for s, _ in storage.feed_stories(FeedKind.AUTHOR, "ann", 5)] == ["k2"]
    same = ("k2", (TopicMatch("ai", "match: 'x'"),), (AuthorRef("ann", "Ann"),))
    assert storage.set_memberships([same]) == 0
    assert storage.generation() == gen + 1


def test_find_entries_by_any_reference(storage: Storage, sid: int) -> None:
    poll(
        storage,
        sid,
        T0,
        entry("k1", link="https://a.example/1"),
        entry("k2", link="https://a.example/2"),
    )
    assert [e.key for e in storage.find_entries("k1")] == ["k1"]
    assert [e.key for e in storage.find_entries("urn:k2")] == ["k2"]
    assert [e.key for e in storage.find_entries("https://a.example/2")] == ["k2"]
    assert storage.find_entries("nothing") == ()


def test_iter_entries_streams_all_pages_and_allows_writes(
    storage: Storage, sid: int
) -> None:
    keys = [f"k{i:04d}" for i in range(1203)]
    poll(storage, sid, T0, *(entry(k) for k in keys))
    seen = []
    for stored in storage.iter_entries():
        seen.append(stored.key)
        if len(seen) == 600:  # a write between pages must not deadlock
            storage.set_memberships([(keys[0], (TopicMatch("ai", "r"),), ())])
    assert seen == keys


def test_get_sources_fills_entry_count(storage: Storage) -> None:
    storage.sync_sources([SourceConfig(url=A), SourceConfig(url=B)], T0)
    a, b = storage.get_sources()
    poll(storage, a.id, T0, entry("k1"), entry("k2"))
    poll(storage, b.id, T0, entry("k3"))
    assert [s.entry_count for s in storage.get_sources()] == [2, 1]


def test_failing_record_poll_writes_nothing(storage: Storage, sid: int) -> None:
    poll(storage, sid, T0, entry("k0"))
    gen = storage.generation()
    before = storage.get_source(sid)
    # title is NOT NULL: this entry fails after the others were written
    no_title: Any = None
    bad = EntryUpdate(
        data=EntryData(original_id=None, link=None, title=no_title),
        identity=EntryIdentity(
            key="bad", canonical_link=None, content_hash="h", story_id="b"
        ),
    )
    with pytest.raises(sqlite3.IntegrityError):  # a bug, so not StorageError
        storage.record_poll(
            sid,
            now=at(1),
            status=PollStatus.OK,
            etag='"new"',
            feed=FeedData(url=A, title="changed"),
            entries=[entry("k1"), entry("k0", content_hash="h2"), bad],
        )
    assert storage.get_entry("k1") is None
    k0 = storage.get_entry("k0")
    assert k0 is not None and k0.content_hash == "h1"
    assert storage.get_source(sid) == before
    assert storage.generation() == gen
    assert storage.feed_refs(FeedKind.ALL) == (("all", "All entries", 1),)


def test_exception_mid_transaction_rolls_back(
    storage: Storage, sid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import feedhub.storage._sources as sources_module

    def explode(*args: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(sources_module, "refresh_stories", explode)
    with pytest.raises(RuntimeError, match="injected"):
        poll(storage, sid, T0, entry("k1", topics=("ai",)))
    monkeypatch.undo()
    assert storage.get_entry("k1") is None
    assert list(storage.iter_entries()) == []
    state = storage.get_source(sid)
    assert state is not None and state.last_polled_at is None
    # the connection is usable again afterwards
    assert poll(storage, sid, at(1), entry("k1")) == UpdateCounts(new=1)


# ---------------------------------------------------------------- stories


def keys_of(stories: Any) -> list[tuple[str, list[str]]]:
    return [(rep.key, [c.key for c in copies]) for rep, copies in stories]


def test_one_item_per_story_earliest_published_represents_with_pinned_id(
    storage: Storage,
) -> None:
    storage.sync_sources([SourceConfig(url=A), SourceConfig(url=B)], T0)
    a, b = (s.id for s in storage.get_sources())
    poll(storage, b, T0, entry("zz-first", story="s1", published=at(-10)))
    first = storage.feed_stories(FeedKind.ALL, "all", 10)
    assert first[0][0].published_id == "urn:zz-first"
    # a later copy with an earlier date joins: it represents the story now,
    # but the story keeps the id it was first published under
    poll(storage, a, at(5), entry("aa-later", story="s1", published=at(-100)))
    poll(storage, a, at(6), entry("solo", story="s2", published=at(1)))

    stories = storage.feed_stories(FeedKind.ALL, "all", 10)
    assert keys_of(stories) == [("solo", []), ("aa-later", ["zz-first"])]
    assert stories[1][0].source_id == a
    assert stories[1][0].published_id == "urn:zz-first"
    assert stories[1][1][0].published_id is None


def test_representative_tie_on_first_seen_broken_by_key(
    storage: Storage, sid: int
) -> None:
    poll(storage, sid, T0, entry("k2", story="s"), entry("k1", story="s"))
    assert keys_of(storage.feed_stories(FeedKind.ALL, "all", 10)) == [("k1", ["k2"])]


def test_future_dated_entry_is_not_pinned_on_top(storage: Storage, sid: int) -> None:
    poll(storage, sid, T0, entry("future", published=at(60 * 24 * 365)))
    poll(storage, sid, at(10), entry("recent", published=at(9)))
    poll(storage, sid, at(20), entry("undated"))
    poll(storage, sid, at(20), entry("updated-only", updated=at(15)))
    keys = [rep.key for rep, _ in storage.feed_stories(FeedKind.ALL, "all", 10)]
    assert keys == ["undated", "updated-only", "recent", "future"]


def test_feed_stories_selects_by_topic_author_and_limit(
    storage: Storage, sid: int
) -> None:
    poll(
        storage,
        sid,
        T0,
        entry("k1", story="s1", published=at(-9), topics=("ai",)),
        entry("k2", story="s1", published=at(-9), authors=("Ann",)),
        entry("k3", story="s3", published=at(-3), topics=("ai",), authors=("Bob",)),
        entry("k4", story="s4", published=at(-1), topics=("web",)),
    )
    assert keys_of(storage.feed_stories(FeedKind.TOPIC, "ai", 10)) == [
        ("k3", []),
        ("k1", ["k2"]),
    ]
    # the story is selected through a non-representative copy's author
    assert keys_of(storage.feed_stories(FeedKind.AUTHOR, "ann", 10)) == [("k1", ["k2"])]
    assert keys_of(storage.feed_stories(FeedKind.ALL, "all", 2)) == [
        ("k4", []),
        ("k3", []),
    ]
    assert storage.feed_stories(FeedKind.TOPIC, "nope", 10) == ()
    assert storage.feed_stories(FeedKind.ALL, "all", 0) == ()
    rep = storage.feed_stories(FeedKind.TOPIC, "web", 1)[0][0]
    assert rep.topics == ("web",)


def test_feed_refs_counts_stories(storage: Storage, sid: int) -> None:
    assert storage.feed_refs(FeedKind.ALL) == (("all", "All entries", 0),)
    assert storage.feed_refs(FeedKind.TOPIC) == ()
    poll(
        storage,
        sid,
        T0,
        entry("k1", story="s1", published=at(1), topics=("ai",), authors=("Ann",)),
        entry("k2", story="s1", topics=("ai",)),
        entry("k3", story="s3", published=at(3), topics=("web", "ai")),
    )
    poll(storage, sid, at(1), entry("k4", story="s4", authors=("ANN",)))
    assert storage.feed_refs(FeedKind.ALL) == (("all", "All entries", 3),)
    assert storage.feed_refs(FeedKind.TOPIC) == (("ai", "ai", 2), ("web", "web", 1))
    # the display name comes from the newest story
    assert storage.feed_refs(FeedKind.AUTHOR) == (("ann", "ANN", 2),)


def test_changed_story_id_moves_the_entry(storage: Storage, sid: int) -> None:
    poll(storage, sid, T0, entry("k1", story="s1"), entry("k2", story="s1"))
    poll(storage, sid, at(1), entry("k1", story="s2", content_hash="h2"))
    assert sorted(keys_of(storage.feed_stories(FeedKind.ALL, "all", 10))) == [
        ("k1", []),
        ("k2", []),
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["s0", "s1", "s2", "s3"]),
            st.integers(0, 30),
            st.none() | st.integers(-50, 80),
            st.sets(st.sampled_from(["a", "b"])),
        ),
        max_size=12,
    )
)
def test_feed_stories_matches_model(
    specs: list[tuple[str, int, int | None, set[str]]],
) -> None:
    with Storage(":memory:") as db:
        db.sync_sources([SourceConfig(url=A)], T0)
        source_id = db.get_sources()[0].id
        model: dict[str, tuple[datetime, str, datetime, set[str], datetime]] = {}
        for i, (story, seen, published, topics) in enumerate(specs):
            key = f"k{i:02d}"
            pub = None if published is None else at(published)
            poll(
                db,
                source_id,
                at(seen),
                entry(key, story=story, published=pub, topics=tuple(sorted(topics))),
            )
            sort_at = min(pub or at(seen), at(seen))
            model[key] = (at(seen), story, sort_at, topics, pub or at(seen))

        def expected(topic: str | None) -> list[tuple[str, list[str]]]:
            stories: dict[str, list[str]] = {}
            # copies in the order seen (first seen, then key)
            for key in sorted(model, key=lambda k: (model[k][0], k)):
                stories.setdefault(model[key][1], []).append(key)
            chosen = []
            for copies in stories.values():
                if topic is not None and not any(topic in model[k][3] for k in copies):
                    continue
                # representative: earliest published, then first seen, then key
                rep = min(copies, key=lambda k: (model[k][4], model[k][0], k))
                place = min(model[k][2] for k in copies)
                chosen.append((place, rep, [k for k in copies if k != rep]))
            chosen.sort(key=lambda c: c[1])
            chosen.sort(key=lambda c: c[0], reverse=True)
            return [(rep, others) for _, rep, others in chosen]

        assert keys_of(db.feed_stories(FeedKind.ALL, "all", 100)) == expected(None)
        assert keys_of(db.feed_stories(FeedKind.TOPIC, "a", 100)) == expected("a")
        assert keys_of(db.feed_stories(FeedKind.ALL, "all", 2)) == expected(None)[:2]


@pytest.mark.parametrize(
    ("kind", "slug"),
    [(FeedKind.ALL, "all"), (FeedKind.TOPIC, "ai"), (FeedKind.AUTHOR, "ann")],
)
def test_feed_page_query_is_an_index_scan(
    storage: Storage, kind: FeedKind, slug: str
) -> None:
    table = {"all": "stories", "topics": "story_topics", "authors": "story_authors"}
    where = {"all": "1", "topics": "topic = ?", "authors": "slug = ?"}
    sql = (
        f"EXPLAIN QUERY PLAN SELECT story_id FROM {table[kind]}"
        f" WHERE {where[kind]} ORDER BY sort_at DESC, rep_key LIMIT 50"
    )
    params = () if kind is FeedKind.ALL else (slug,)
    with storage._read("plan") as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(sql, params))
    assert "USING" in plan and "INDEX" in plan
    assert "TEMP B-TREE" not in plan


# ---------------------------------------------------------------- generation


def test_generation_bumps_only_on_visible_change(storage: Storage) -> None:
    g = storage.generation
    assert g() == 0
    storage.sync_sources([SourceConfig(url=A)], T0)
    sid = storage.get_sources()[0].id
    assert g() == 0  # a new source has nothing published yet
    feed = FeedData(url=A, title="A", updated=at(0))

    def ok(*entries: EntryUpdate, feed: FeedData | None = feed) -> None:
        storage.record_poll(
            sid, now=T0, status=PollStatus.OK, feed=feed, entries=entries
        )

    ok(entry("k1"))
    assert g() == 1
    ok(entry("k1"))  # same content, same metadata
    storage.record_poll(sid, now=T0, status=PollStatus.NOT_MODIFIED)
    storage.record_poll(sid, now=T0, status=PollStatus.ERROR, error="x")
    storage.set_meta("k", "v")
    storage.sync_sources([SourceConfig(url=A)], T0)
    assert g() == 1
    ok(entry("k1", content_hash="h2"))
    assert g() == 2
    ok(entry("k1", content_hash="h2"), feed=FeedData(url=A, title="A2", updated=at(0)))
    assert g() == 3
    ok(entry("k1", content_hash="h2", topics=("ai",)), feed=None)
    assert g() == 4
    storage.sync_sources([SourceConfig(url=A, name="Renamed")], T0)
    assert g() == 5


# ---------------------------------------------------------------- values


aware = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001
    max_value=datetime(9000, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    ),
)


@settings(max_examples=50, deadline=None)
@given(published=aware, now=aware, next_check=aware)
def test_datetimes_round_trip_as_aware_utc(
    published: datetime, now: datetime, next_check: datetime
) -> None:
    with Storage(":memory:") as db:
        db.sync_sources([SourceConfig(url=A)], now)
        source_id = db.get_sources()[0].id
        db.record_poll(
            source_id,
            now=now,
            status=PollStatus.OK,
            next_check_at=next_check,
            entries=[entry("k", published=published)],
        )
        stored = db.get_entry("k")
        state = db.get_source(source_id)
    assert stored is not None and state is not None
    for value, original in (
        (stored.data.published, published),
        (stored.first_seen_at, now),
        (state.next_check_at, next_check),
        (state.last_polled_at, now),
    ):
        assert value == original
        assert value is not None and value.tzinfo is UTC


@given(aware, aware)
def test_stored_text_sorts_like_time(a: datetime, b: datetime) -> None:
    from feedhub.storage._db import to_text

    assert (to_text(a) < to_text(b)) == (a < b)


def test_meta_round_trip_and_integrity(storage: Storage) -> None:
    assert storage.get_meta("k") is None
    storage.set_meta("k", "v1")
    storage.set_meta("k", "v2")
    assert storage.get_meta("k") == "v2"
    assert storage.integrity_check() == "ok"


def test_file_database_persists_and_migrates_once(tmp_path: Any) -> None:
    path = str(tmp_path / "feedhub.sqlite")
    with Storage(path) as db:
        db.sync_sources([SourceConfig(url=A)], T0)
        db.set_meta("k", "v")
    with Storage(path) as db:
        assert [s.url for s in db.get_sources()] == [A]
        assert db.get_meta("k") == "v"
        assert db.integrity_check() == "ok"
    conn = sqlite3.connect(path)
    try:
        applied = conn.execute("SELECT name FROM _sqlite_migrations").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    names = [name for (name,) in applied]
    assert names[0] == "m001_initial"
    assert "m002_polling" in names
    assert "m005_source_metadata" in names
    assert len(names) == len(set(names))
    assert mode == "wal"


# ---------------------------------------------------------------- errors


def test_unopenable_and_corrupt_files_raise_storage_error(tmp_path: Any) -> None:
    missing = str(tmp_path / "no" / "such" / "dir.sqlite")
    with pytest.raises(StorageError, match=r"^storage: open: .*dir\.sqlite\)$"):
        Storage(missing)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 512)
    with pytest.raises(StorageError, match="storage: open") as info:
        Storage(str(garbage))
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_closed_storage_raises_storage_error() -> None:
    db = Storage(":memory:")
    db.close()
    with pytest.raises(StorageError, match="closed"):
        db.get_sources()


def test_programming_errors_propagate(storage: Storage) -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        with storage._read("bad sql") as conn:
            conn.execute("SELECT * FROM no_such_table")
    assert storage.get_sources() == ()


def _batched_write(s: Storage) -> None:
    with s.batch():
        s.set_meta("k", "v")


def _bulk_write(s: Storage) -> None:
    with s.bulk():
        s.set_meta("k", "v")


PUBLIC_CALLS: dict[str, Callable[[Storage], object]] = {
    "batch": _batched_write,
    "bulk": _bulk_write,
    "sync_sources": lambda s: s.sync_sources([SourceConfig(url=B)], T0),
    "get_sources": lambda s: s.get_sources(),
    "get_source": lambda s: s.get_source(1),
    "source_info": lambda s: s.source_info(1),
    "due_sources": lambda s: s.due_sources(T0),
    "record_poll": lambda s: s.record_poll(1, now=T0, status=PollStatus.ERROR),
    "generation": lambda s: s.generation(),
    "get_entry": lambda s: s.get_entry("k1"),
    "find_entries": lambda s: s.find_entries("k1"),
    "iter_entries": lambda s: list(s.iter_entries()),
    "set_memberships": lambda s: s.set_memberships([("k1", (), ())]),
    "feed_stories": lambda s: s.feed_stories(FeedKind.ALL, "all", 10),
    "feed_refs": lambda s: s.feed_refs(FeedKind.TOPIC),
    # authors (issue 7)
    "author_summaries": lambda s: s.author_summaries(),
    # curation (issue 7)
    "set_curation": lambda s: s.set_curation([("k1", (), (), Curation())]),
    "curation_of": lambda s: s.curation_of("k1"),
    "entry_languages": lambda s: s.entry_languages(),
    "entry_flags": lambda s: s.entry_flags(),
    "story_memberships": lambda s: s.story_memberships(),
    "get_meta": lambda s: s.get_meta("k"),
    "set_meta": lambda s: s.set_meta("k", "v"),
    "integrity_check": lambda s: s.integrity_check(),
    "source_events": lambda s: s.source_events(),
    "hold_host": lambda s: s.hold_host("a.example", T0),
    "host_holds": lambda s: s.host_holds(T0),
    "reset_source": lambda s: s.reset_source(1),
    # dedupe (issue 6)
    "resolve_entries": lambda s: s.resolve_entries(1, [("k1", "https://a/x")]),
    "stories_of_links": lambda s: s.stories_of_links(["https://a/x"]),
    "near_candidates": lambda s: s.near_candidates([1, 2]),
    "purge_entries": lambda s: s.purge_entries(["k1"], T0),
    "tombstones": lambda s: s.tombstones(1),
    "set_preferred_sources": lambda s: s.set_preferred_sources([1]),
    "story_members": lambda s: s.story_members("k1"),
    "aliases_of": lambda s: s.aliases_of("k1"),
    "near_index_size": lambda s: s.near_index_size(),
    "entries_older_than": lambda s: s.entries_older_than(T0),
    "index_entries": lambda s: s.index_entries([("k1", Fingerprint((1, 2)))]),
    # publishing (issue 5)
    "take_dirty_feeds": lambda s: s.take_dirty_feeds(),
    "mark_feeds_dirty": lambda s: s.mark_feeds_dirty(["all"]),
    "unarchived_stories": lambda s: s.unarchived_stories(
        FeedKind.TOPIC, "ai", "topics/ai", 10
    ),
    "unarchived_story_ids": lambda s: s.unarchived_story_ids(
        FeedKind.ALL, "", "all", 10, oldest_first=True
    ),
    "stories_by_id": lambda s: s.stories_by_id(["s"]),
    "count_unarchived": lambda s: s.count_unarchived(FeedKind.ALL, "", "all"),
    "newest_headlines": lambda s: s.newest_headlines(FeedKind.AUTHOR),
    "archive_page_count": lambda s: s.archive_page_count("all"),
    "freeze_archive_page": lambda s: s.freeze_archive_page(
        "all", [("s", "i", "k", None)], "[]", T0
    ),
    "archived_gone": lambda s: s.archived_gone(FeedKind.ALL, "", "all"),
    "forget_archived": lambda s: s.forget_archived("all", ["s"]),
    "archive_page": lambda s: s.archive_page("all", 1),
    "archived_story_ids": lambda s: s.archived_story_ids("all", ["s"]),
    "published_entries": lambda s: s.published_entries("all"),
    "record_published": lambda s: s.record_published(
        "all", [], [("i", None, None)], T0
    ),
    "retractions": lambda s: s.retractions("all"),
    "prune_retractions": lambda s: s.prune_retractions(T0),
    "feed_hash": lambda s: s.feed_hash("all"),
    "set_feed_hash": lambda s: s.set_feed_hash("all", "h", T0),
    "latest_feed_change": lambda s: s.latest_feed_change(),
    # operations (issue 8); the copy would go beside the system's temp files
    "backup": lambda s: s.backup(f"{tempfile.gettempdir()}/feedhub-locked.db"),
    # search and named views (issue 7)
    "search_stories": lambda s: s.search_stories('"ai"', 10),
    "search_keys": lambda s: s.search_keys('"ai"'),
    "set_views": lambda s: s.set_views([]),
    # retention (issue 8)
    "finish_dirty_feeds": lambda s: s.finish_dirty_feeds(),
    "entries_over_limit": lambda s: s.entries_over_limit(1),
    "note_tombstones": lambda s: s.note_tombstones(1, [("k1", None)], T0),
    "drop_tombstones": lambda s: s.drop_tombstones(T0),
    "tombstone_count": lambda s: s.tombstone_count(),
    "missing_tombstones": lambda s: s.missing_tombstones(1),
    "auto_vacuum": lambda s: s.auto_vacuum(),
    "free_pages": lambda s: s.free_pages(),
    "incremental_vacuum": lambda s: s.incremental_vacuum(100),
    "vacuum": lambda s: s.vacuum(),
}
WRITES = ["sync_sources", "record_poll", "set_memberships", "set_meta"]
WRITES += ["set_curation"]
WRITES += ["hold_host", "reset_source"]
WRITES += ["purge_entries", "set_preferred_sources", "index_entries"]
WRITES += ["take_dirty_feeds", "mark_feeds_dirty", "freeze_archive_page"]
WRITES += ["forget_archived"]
WRITES += ["record_published", "prune_retractions", "set_feed_hash"]
WRITES += ["set_views"]
WRITES += ["finish_dirty_feeds", "drop_tombstones", "vacuum"]
WRITES += ["batch", "bulk"]


def test_locked_test_covers_every_public_method() -> None:
    public = {n for n in dir(Storage) if not n.startswith("_")} - {"close"}
    assert public == set(PUBLIC_CALLS)


def make_db(tmp_path: Any) -> str:
    path = str(tmp_path / "feedhub.sqlite")
    with Storage(path) as db:
        db.sync_sources([SourceConfig(url=A)], T0)
        poll(db, 1, T0, entry("k1", topics=("ai",)))
    return path


@pytest.mark.parametrize("method", sorted(PUBLIC_CALLS))
def test_locked_database_raises_storage_error(tmp_path: Any, method: str) -> None:
    path = make_db(tmp_path)
    db = Storage(path, busy_timeout=0.05)
    # In WAL mode readers ignore BEGIN EXCLUSIVE; exclusive *locking mode*
    # also shuts them out (https://www.sqlite.org/wal.html#noshm).
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO meta (key, value) VALUES ('lock', '1')")
        with pytest.raises(
            StorageError,
            match=r"^storage: \w+: database is locked \(.*feedhub.sqlite\)$",
        ):
            PUBLIC_CALLS[method](db)
    finally:
        holder.close()
        db.close()


@pytest.mark.parametrize("method", WRITES)
def test_writer_waits_then_fails_on_exclusive_transaction(
    tmp_path: Any, method: str
) -> None:
    path = make_db(tmp_path)
    db = Storage(path, busy_timeout=0.05)
    db.get_sources()  # this thread's connection is open and idle
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageError, match="database is locked") as info:
            PUBLIC_CALLS[method](db)
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        holder.execute("ROLLBACK")
        PUBLIC_CALLS[method](db)  # works again once the lock is gone
    finally:
        holder.close()
        db.close()


# ---------------------------------------------------------------- threads


def test_reader_and_writer_threads_share_a_file_database(tmp_path: Any) -> None:
    db = Storage(str(tmp_path / "feedhub.sqlite"))
    db.sync_sources([SourceConfig(url=A)], T0)
    source_id = db.get_sources()[0].id
    errors: list[BaseException] = []
    done = threading.Event()
    observed: list[int] = []

    def writer() -> None:
        try:
            for i in range(40):
                poll(db, source_id, at(i), entry(f"k{i:02d}", topics=("ai",)))
        except BaseException as e:  # reported to the main thread
            errors.append(e)
        finally:
            done.set()

    def reader() -> None:
        try:
            while not done.is_set():
                observed.append(db.generation())
                stories = db.feed_stories(FeedKind.TOPIC, "ai", 5)
                assert all(rep.topics == ("ai",) for rep, _ in stories)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert errors == []
        assert observed == sorted(observed)  # generation never goes backwards
        assert db.generation() == 40
        assert db.feed_refs(FeedKind.TOPIC) == (("ai", "ai", 40),)
    finally:
        db.close()


def test_the_light_migration_check_names_every_migration(tmp_path: Path) -> None:
    assert NAMES == tuple(m.name for m in MIGRATIONS._migrations)
    path = tmp_path / "feedhub.db"
    conn = sqlite3.connect(path)
    assert not up_to_date(conn)  # a new database
    with Storage(str(path)):
        pass
    assert up_to_date(conn)
    conn.execute(
        "DELETE FROM _sqlite_migrations WHERE name = ?", (NAMES[-1],)
    )  # as if written by an older feedhub
    conn.commit()
    assert not up_to_date(conn)
    conn.close()


def test_opening_an_up_to_date_database_does_not_import_sqlite_utils(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feedhub.db"
    with Storage(str(path)):
        pass
    code = (
        "import sys; from feedhub.storage import Storage\n"
        f"with Storage({str(path)!r}) as s: s.get_sources()\n"
        "print(any(m.startswith('sqlite_utils') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
