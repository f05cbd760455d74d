"""Tests for the dedupe half of storage: keys, tombstones, LSH index, stories."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlite_utils.db import Database

from feedhub.storage import Storage
from feedhub.storage._dedupe import BUCKET_READ, entry_number
from feedhub.storage._rows import published_id
from feedhub.storage._schema import (
    m001_initial,
    m002_polling,
    m003_publishing,
    m004_dedupe,
)
from feedhub.types import (
    EntryData,
    EntryIdentity,
    EntryUpdate,
    FeedKind,
    Fingerprint,
    PollStatus,
    SourceConfig,
    StoryMatch,
    StoryRule,
)

T0 = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)
A, B = "https://a.example/feed", "https://b.example/feed"


def key(n: int) -> str:
    # real keys are sha256 hex; the index names entries by their first 64 bits
    return f"{n:016x}" + "a" * 48


def update(
    n: int,
    *,
    story: str | None = None,
    link: str | None = None,
    buckets: tuple[int, ...] = (),
    alias: str | None = None,
    hidden: bool = False,
    match: StoryMatch | None = None,
    published: datetime | None = None,
) -> EntryUpdate:
    data = EntryData(f"id-{n}", link, f"Title {n}", published=published)
    return EntryUpdate(
        data=data,
        identity=EntryIdentity(key(n), link, f"h{n}", story or f"s{n}"),
        fingerprint=Fingerprint(buckets) if buckets else None,
        match=match,
        alias=alias,
        hidden=hidden,
    )


@pytest.fixture
def storage():
    with Storage(":memory:") as s:
        s.sync_sources([SourceConfig(A), SourceConfig(B)], T0)
        yield s


def store(storage: Storage, source: int, *updates: EntryUpdate, at: datetime = T0):
    return storage.record_poll(source, now=at, status=PollStatus.OK, entries=updates)


def test_resolve_finds_keys_aliases_links_and_tombstones(storage):
    store(storage, 1, update(1, link="https://a/1"), update(2, link="https://a/2"))
    store(storage, 1, update(1, link="https://a/1", alias=key(11)))
    store(storage, 1, update(3, link="https://a/3"))
    storage.purge_entries([key(3)], T0)
    known, tombstoned, has = storage.resolve_entries(
        1,
        [
            (key(1), "https://a/1"),  # stored
            (key(11), "https://a/1"),  # alias of 1
            (key(22), "https://a/2"),  # re-keyed: same link, 2 not in the document
            (key(33), "https://a/3"),  # purged link
            (key(3), None),  # purged key
            (key(44), "https://a/4"),  # new
        ],
    )
    assert known == {
        key(1): (key(1), "s1"),
        key(11): (key(1), "s1"),
        key(22): (key(2), "s2"),
    }
    assert tombstoned == {key(33), key(3)}
    assert has
    assert storage.resolve_entries(2, [(key(9), "https://a/2")]) == (
        {},
        frozenset(),
        False,
    )


def test_a_stored_entry_present_in_the_document_is_not_claimed_by_link(storage):
    store(storage, 1, update(1, link="https://a/1"))
    known, _, _ = storage.resolve_entries(
        1, [(key(1), "https://a/1"), (key(5), "https://a/1")]
    )
    assert known == {key(1): (key(1), "s1")}


def test_near_candidates_come_back_from_the_index_most_shared_first(storage):
    store(storage, 1, update(1, buckets=(10, 20, 30)), update(2, buckets=(30, 40)))
    found = storage.near_candidates([30, 20, 99])
    assert [e.key for e in found] == [key(1), key(2)]
    assert storage.near_candidates([]) == ()
    assert storage.near_index_size() == (2, 5)
    # changed content replaces the entry's buckets
    changed = update(1, buckets=(50,))
    changed = EntryUpdate(
        changed.data,
        EntryIdentity(key(1), None, "h1-changed", "s1"),
        fingerprint=changed.fingerprint,
    )
    store(storage, 1, changed)
    assert [e.key for e in storage.near_candidates([10, 20])] == []
    assert [e.key for e in storage.near_candidates([50])] == [key(1)]
    assert storage.near_index_size() == (2, 3)


def test_near_candidates_read_a_bounded_part_of_a_crowded_bucket(storage):
    # 300 entries share bucket 7 (a boilerplate text, a common title band);
    # entry 1000 shares 7 and 8 with the new entry
    crowd = [update(n, buckets=(7,)) for n in range(1, 301)]
    store(storage, 1, *crowd, update(1000, buckets=(7, 8)))
    found = storage.near_candidates([7, 8], limit=500)
    assert found[0].key == key(1000)
    # the crowded bucket contributes its BUCKET_READ highest-numbered entries
    assert len(found) == BUCKET_READ
    assert {e.key for e in found[1:]} == {key(n) for n in range(300 - 62, 301)}
    # duplicates in the query count once
    assert [e.key for e in storage.near_candidates([8, 8], limit=5)] == [key(1000)]


def test_purge_removes_index_rows_and_tombstones_aliases(storage):
    store(storage, 1, update(1, link="https://a/1", buckets=(7,)))
    store(storage, 1, update(1, link="https://a/1", alias=key(11)))
    assert storage.purge_entries([key(1), key(999)], T0) == 1
    assert storage.tombstones(1) == tuple(sorted((key(1), key(11))))
    assert storage.near_index_size() == (0, 0)
    assert storage.feed_stories(FeedKind.ALL, "all", 10) == ()
    assert storage.purge_entries([key(1)], T0) == 0


def test_hidden_entries_are_stored_but_not_listed_unless_a_copy_is_visible(storage):
    store(storage, 1, update(1, hidden=True), update(2, story="s9", hidden=True))
    assert storage.feed_stories(FeedKind.ALL, "all", 10) == ()
    store(storage, 2, update(3, story="s9"), at=T0 + timedelta(hours=1))
    ((rep, copies),) = storage.feed_stories(FeedKind.ALL, "all", 10)
    assert rep.key == key(3) and [c.key for c in copies] == [key(2)]
    members = storage.story_members("s9")
    assert [(e.key, hidden) for e, _, hidden in members] == [
        (key(3), False),
        (key(2), True),
    ]


def test_story_members_carry_the_recorded_match(storage):
    founded = StoryMatch(StoryRule.FOUNDED, detail="new story")
    near = StoryMatch(StoryRule.NEAR_DUPLICATE, 0.91, key(1), "jaccard 0.91")
    store(storage, 1, update(1, story="s", match=founded))
    store(storage, 2, update(2, story="s", match=near), at=T0 + timedelta(hours=1))
    members = storage.story_members("s")
    assert [(e.key, m) for e, m, _ in members] == [(key(1), founded), (key(2), near)]
    assert members[0][0].published_id == f"urn:feedhub:entry:{key(1)}"
    assert storage.aliases_of(key(1)) == ()


def test_prefer_re_ranks_every_story(storage):
    early = T0 - timedelta(days=1)
    store(storage, 1, update(1, story="s", published=T0))
    store(storage, 2, update(2, story="s", published=early), at=T0 + timedelta(hours=1))
    rep = storage.feed_stories(FeedKind.ALL, "all", 10)[0][0]
    assert rep.key == key(2)
    generation = storage.generation()
    assert storage.set_preferred_sources([1]) is True
    assert storage.generation() > generation
    rep = storage.feed_stories(FeedKind.ALL, "all", 10)[0][0]
    assert rep.key == key(1)
    assert rep.published_id == published_id(key(1), "id-1")
    assert storage.set_preferred_sources([1]) is False
    assert storage.set_preferred_sources([]) is True
    assert storage.feed_stories(FeedKind.ALL, "all", 10)[0][0].key == key(2)


def test_entry_number_round_trips_hex_keys_and_hashes_others():
    assert entry_number("f" * 64) == -1
    assert entry_number("0" * 64) == 0
    assert isinstance(entry_number("k1"), int)


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("tag:a.example,2025:1", "tag:a.example,2025:1"),
        ("https://a.example/1", "https://a.example/1"),
        ("1234", f"urn:feedhub:entry:{key(1)}"),
        ("has space:x y", f"urn:feedhub:entry:{key(1)}"),
        (None, f"urn:feedhub:entry:{key(1)}"),
    ],
)
def test_published_id(original, expected):
    assert published_id(key(1), original) == expected


def test_m004_pins_the_ids_stories_were_already_published_under(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.db")
    db = Database(conn)
    m001_initial(db)
    m002_polling(db)
    m003_publishing(db)
    conn.execute(
        "INSERT INTO sources (id, url, fetch_url, added_at) VALUES (1, 'u', 'u', 't')"
    )
    conn.execute(
        "INSERT INTO entries (key, source_id, original_id, title, content_hash,"
        " story_id, first_seen_at, last_changed_at, sort_at)"
        " VALUES (?, 1, 'guid-1', 't', 'h', 's1', 't', 't', 't')",
        (key(1),),
    )
    conn.execute(
        "INSERT INTO stories (story_id, rep_key, sort_at) VALUES ('s1', ?, 't')",
        (key(1),),
    )
    m004_dedupe(db)
    rows = conn.execute("SELECT * FROM story_ids").fetchall()
    assert rows == [("s1", f"urn:feedhub:entry:{key(1)}", key(1))]
    assert conn.execute("SELECT hidden FROM entries").fetchone() == (0,)


def test_candidate_lookup_is_an_index_search_not_a_scan(storage):
    # the cost of checking an entry must not grow with the stored entries:
    # one primary-key search per bucket, never a scan of near_buckets
    sql = (
        "EXPLAIN QUERY PLAN SELECT entry, count(*) AS shared FROM near_buckets"
        " WHERE bucket IN (SELECT value FROM json_each(?))"
        " GROUP BY entry ORDER BY shared DESC, entry LIMIT 50"
    )
    with storage._read("plan") as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(sql, ("[1, 2]",)))
        assert "SEARCH near_buckets USING PRIMARY KEY (bucket=?)" in plan
        assert "SCAN near_buckets" not in plan
        link_plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT key FROM entries"
                " WHERE source_id = ? AND canonical_link = ?",
                (1, "x"),
            )
        )
        assert "USING INDEX entries_source_link" in link_plan


def test_near_candidates_say_which_came_through_a_text_bucket(storage):
    # the new entry's buckets: 10, 20 text (body, lead), 30 title
    store(
        storage,
        1,
        update(1, buckets=(10, 99)),  # shares a text bucket
        update(2, buckets=(30,)),  # shares the title bucket only
        update(3, buckets=(20, 30)),  # both
    )
    seen: dict[str, bool] = {}

    def keep(source, title, by_text):
        assert source == 1
        seen[title] = by_text
        return title != "Title 2"

    found = storage.near_candidates([10, 20, 30], text=2, keep=keep)
    assert seen == {"Title 1": True, "Title 2": False, "Title 3": True}
    assert [e.key for e in found] == [key(3), key(1)]
    # refused heads leave room: the limit counts kept candidates
    assert [e.key for e in storage.near_candidates([10, 20, 30], 1, keep=keep)] == [
        key(3)
    ]
    # without ``text`` every bucket is a text bucket
    seen.clear()
    storage.near_candidates([10, 20, 30], keep=keep)
    assert set(seen.values()) == {True}
