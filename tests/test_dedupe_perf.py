"""The writer's fast paths for story grouping give the same answers as the slow ones.

Shingles travel in ``Fingerprint.shingles`` from the parse worker; new entries
are remembered in the poll run's shingle cache; ``near_candidates`` loads the
text only of candidates the cache does not hold; the index is written per batch.
"""

from __future__ import annotations

import dataclasses
from array import array
from datetime import UTC, datetime

import pytest

from feedhub import dedupe
from feedhub.dedupe import _assign
from feedhub.storage import Storage
from feedhub.types import (
    DedupeConfig,
    EntryData,
    EntryIdentity,
    EntryUpdate,
    Fingerprint,
    PollStatus,
    SourceConfig,
    StoredEntry,
)

T0 = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)
ARTICLE = " ".join(
    f"Paragraph {i} of the long story says the company reported results in region {i}."
    for i in range(30)
)


def key(n: int) -> str:
    return f"{n:016x}" + "b" * 48


def entry(n: int, content: str = ARTICLE, title: str = "") -> EntryData:
    return EntryData(
        f"id-{n}",
        f"https://{n}.example/x",
        title or f"Chipmaker reports record quarter {n}",
        content=f"<p>{content}</p>",
        summary="<p>A summary.</p>",
        published=T0,
    )


def update(n: int, data: EntryData) -> EntryUpdate:
    return EntryUpdate(
        data=data,
        identity=EntryIdentity(key(n), data.link, f"h{n}", f"s{n}"),
        fingerprint=dedupe.fingerprint(data),
    )


@pytest.fixture
def storage():
    with Storage(":memory:") as s:
        s.sync_sources([SourceConfig("https://a.example/f")], T0)
        yield s


def test_fingerprint_carries_the_shingles_features_computes() -> None:
    data = entry(1)
    packed = array("Q", dedupe.fingerprint(data).shingles)
    assert len(packed) == len(set(packed))
    assert frozenset(packed) == dedupe.features(data).shingles
    # not part of equality: two fingerprints with the same buckets are equal
    assert dedupe.fingerprint(data) == Fingerprint(dedupe.fingerprint(data).buckets)


def test_fingerprint_of_short_texts_still_matches_shingling() -> None:
    for text in ("", "one", "one two", "one two three", " ".join(["w"] * 45)):
        data = EntryData(None, None, "T", content=text)
        fp = dedupe.fingerprint(data)
        assert frozenset(array("Q", fp.shingles)) == dedupe.features(data).shingles


def test_choose_story_with_shipped_shingles_and_remembered_copies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = DedupeConfig()
    new = entry(9, ARTICLE[:-40] + " An edit.", "Chipmaker record quarter")
    copies = [
        StoredEntry(
            key(i), 2, entry(i, ARTICLE[: 500 * (i + 1)]), None, "h", "s", T0, T0
        )
        for i in range(3)
    ]
    expected = dedupe.choose_story(new, T0, copies, config)
    assert expected is not None
    calls: list[str] = []
    real = dedupe.features

    def counting(data: EntryData, at: datetime | None = None) -> dedupe.Features:
        calls.append(data.original_id or "")
        return real(data, at)

    monkeypatch.setattr(_assign, "features", counting)
    cache: dict[tuple[str, str], array[int]] = {}
    for copy in copies:
        dedupe.remember(cache, copy.key, "h", dedupe.fingerprint(copy.data).shingles)
    # heads only: with every candidate cached, no text is needed at all
    heads = [
        dataclasses.replace(c, data=dataclasses.replace(c.data, content=None))
        for c in copies
    ]
    shingles = dedupe.fingerprint(new).shingles
    found = dedupe.choose_story(new, T0, heads, config, cache, shingles=shingles)
    assert calls == []
    assert found is not None
    assert (found[0].key, found[1]) == (expected[0].key, expected[1])


def test_remember_keeps_the_cache_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_assign, "CACHE_SIZE", 2)
    cache: dict[tuple[str, str], array[int]] = {}
    for n in range(3):
        dedupe.remember(cache, key(n), "h", dedupe.fingerprint(entry(n)).shingles)
    dedupe.remember(cache, key(5), "h", b"")  # nothing to remember
    assert list(cache) == [(key(1), "h"), (key(2), "h")]


def test_near_candidates_load_text_only_for_what_the_cache_lacks(storage) -> None:
    updates = [update(n, entry(n)) for n in range(3)]
    storage.record_poll(1, now=T0, status=PollStatus.OK, entries=updates)
    buckets = updates[0].fingerprint.buckets  # type: ignore[union-attr]
    full = storage.near_candidates(buckets)
    assert [c.key for c in full] == [key(0), key(1), key(2)]
    assert all(c.data.content for c in full)
    light = storage.near_candidates(buckets, cached={(key(1), "h1")})
    assert [c.key for c in light] == [c.key for c in full]
    assert light[1].data.content is None and light[1].data.summary is None
    for got, want in zip(light, full, strict=True):
        assert (got.data.title, got.data.published, got.content_hash) == (
            want.data.title,
            want.data.published,
            want.content_hash,
        )
        assert (got.story_id, got.source_id, got.first_seen_at) == (
            want.story_id,
            want.source_id,
            want.first_seen_at,
        )
    assert light[0] == full[0] and light[2] == full[2]
    # a stale cache entry (another content hash) is loaded in full
    stale = storage.near_candidates(buckets, cached={(key(1), "old")})
    assert stale == full


def test_index_written_per_batch_replaces_and_keeps_the_last(storage) -> None:
    storage.index_entries(
        [(key(1), Fingerprint((1, 2))), (key(2), Fingerprint((2, 3)))]
    )
    assert storage.near_index_size() == (2, 4)
    # the same entry twice in one batch: the last fingerprint wins
    storage.index_entries([(key(1), Fingerprint((7,))), (key(1), Fingerprint((8, 9)))])
    assert storage.near_index_size() == (2, 4)
