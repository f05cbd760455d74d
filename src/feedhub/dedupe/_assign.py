"""Story decisions: which stored story a new copy joins, which backlog is hidden.

Pure: the caller fetches the candidates (same canonical link, shared LSH
bucket) from storage; this module scores them and says why.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from feedhub.dedupe._near import Features, features, title_similarity, title_words
from feedhub.types import (
    DedupeConfig,
    EntryData,
    StoredEntry,
    StoryMatch,
    StoryRule,
)

__all__ = [
    "CACHE_SIZE",
    "Similarity",
    "backlog",
    "choose_story",
    "decide",
    "remember",
    "similarity",
    "title_filter",
]

#: most stored copies whose shingles a ``choose_story`` cache keeps: a first
#: poll scores the copies it has just stored again and again; at about 4 KB a
#: copy (packed 64-bit hashes) this is ~8 MB. Measured on the bench's first
#: poll (1,000 feeds x 20 entries, 2 reps each): 4,096 gave 0.72x reader's
#: entries/s at 124 MiB peak PSS, 2,048 0.70x at 113 MiB, 1,024 0.68x at 108
#: MiB (since unlike titles no longer bring candidates, a smaller cache costs
#: little speed)
CACHE_SIZE = 2048


@dataclass(frozen=True, slots=True)
class Similarity:
    """How alike two copies are."""

    #: |A ∩ B| / |A ∪ B| over word 3-shingles
    jaccard: float
    #: |A ∩ B| / min(|A|, |B|): 1.0 when one text contains the other
    containment: float
    #: shingles of the shorter text
    shorter: int
    #: Jaccard similarity of the titles' words
    title: float
    #: hours between the two copies' dates; None when one has no date
    hours_apart: float | None

    def describe(self) -> str:
        apart = "undated" if self.hours_apart is None else f"{self.hours_apart:.0f}h"
        return (
            f"jaccard {self.jaccard:.2f}, containment {self.containment:.2f}, "
            f"title {self.title:.2f}, {apart} apart"
        )


def similarity(a: Features, b: Features) -> Similarity:
    """Score two copies exactly (no sketch error)."""
    return _score(
        a.shingles, b.shingles, title_similarity(a.title, b.title), a.at, b.at
    )


def _score(
    mine: frozenset[int],
    theirs: Collection[int],
    title: float,
    mine_at: datetime | None,
    their_at: datetime | None,
) -> Similarity:
    """``similarity`` from its parts; ``theirs`` holds distinct values (a set,
    or an array packed from one), so no set of them need be built."""
    common = len(mine.intersection(theirs))
    union = len(mine) + len(theirs) - common
    shorter = min(len(mine), len(theirs))
    hours = None
    if mine_at is not None and their_at is not None:
        hours = abs((mine_at - their_at).total_seconds()) / 3600
    return Similarity(
        jaccard=common / union if union else 0.0,
        containment=common / shorter if shorter else 0.0,
        shorter=shorter,
        title=title,
        hours_apart=hours,
    )


def decide(sim: Similarity, config: DedupeConfig) -> StoryMatch | None:
    """Apply the documented merge rules to one scored pair.

    In order, within ``config.window`` (undated copies count as inside), for
    texts whose shorter one has at least ``min_shingles`` shingles:

    1. ``jaccard >= body_threshold``: the same text, give or take edits.
    2. ``containment >= containment_threshold``: a trimmed or extended copy,
       or an excerpt.
    3. ``title >= title_threshold`` and ``containment >= title_containment``:
       the same story, retitled and rewritten more.

    Texts too short to compare merge only on identical titles (after
    ``title_words``, which ``fingerprint`` indexes from five words up).

    Returns:
        The match, or None when the pair is not one story.
    """
    if sim.hours_apart is not None and sim.hours_apart * 3600 > config.window:
        return None
    detail = sim.describe()
    if sim.shorter >= config.min_shingles:
        if sim.jaccard >= config.body_threshold:
            return StoryMatch(StoryRule.NEAR_DUPLICATE, sim.jaccard, detail=detail)
        if sim.containment >= config.containment_threshold:
            return StoryMatch(StoryRule.NEAR_DUPLICATE, sim.containment, detail=detail)
        if (
            sim.title >= config.title_threshold
            and sim.containment >= config.title_containment
        ):
            return StoryMatch(StoryRule.TITLE, sim.title, detail=detail)
        return None
    if sim.title >= 1.0:
        return StoryMatch(StoryRule.TITLE, sim.title, detail=detail + ", short texts")
    return None


def _strength(match: StoryMatch) -> tuple[int, float]:
    order = {StoryRule.NEAR_DUPLICATE: 2, StoryRule.TITLE: 1}
    return order.get(match.rule, 0), match.score or 0.0


def choose_story(
    entry: EntryData,
    first_seen: datetime,
    candidates: Sequence[StoredEntry],
    config: DedupeConfig,
    cache: dict[tuple[str, str], array[int]] | None = None,
    *,
    shingles: bytes = b"",
) -> tuple[StoredEntry, StoryMatch] | None:
    """Pick the stored copy a new entry is a near-duplicate of, if any.

    Args:
        entry: the new (cleaned) entry.
        first_seen: when it is being stored (its date when it has none).
        candidates: stored copies sharing an LSH bucket with it. A candidate
            whose shingles ``cache`` holds is scored from them, so it may come
            without its summary and content (``Storage.near_candidates``
            with ``cached``).
        config: thresholds.
        cache: the candidates' shingles by (key, content hash), filled and
            trimmed to the ``CACHE_SIZE`` most recently used here; pass one
            (empty) dict to every call of a poll run, and ``remember`` each
            new entry in it. The result is the same without it.
        shingles: the entry's own body shingles as its ``Fingerprint``
            carries them (computed again when empty).

    Returns:
        The best-matching candidate and the match (``matched_key`` set), or
        None. Text rules beat the title rule; then the higher score wins.
    """
    if not candidates or not config.near_duplicates:
        return None
    mine = (
        features(entry, first_seen)
        if not shingles
        else Features(
            shingles=frozenset(array("Q", shingles)),
            title=entry.title,
            at=entry.published or entry.updated or first_seen,
        )
    )
    # every candidate's shingles first, the cache trimmed after: trimming
    # midway could drop a candidate that came without its text
    scored = [_stored_shingles(candidate, cache) for candidate in candidates]
    if cache is not None:
        _trim(cache)
    my_words = title_words(mine.title)
    best: tuple[StoredEntry, StoryMatch] | None = None
    for candidate, theirs in zip(candidates, scored, strict=True):
        data = candidate.data
        their_words = title_words(data.title)
        title = (
            len(my_words & their_words) / len(my_words | their_words)
            if my_words and their_words
            else 0.0
        )  # title_similarity, with this entry's words computed once
        at = data.published or data.updated or candidate.first_seen_at
        match = decide(_score(mine.shingles, theirs, title, mine.at, at), config)
        if match is None:
            continue
        if best is None or _strength(match) > _strength(best[1]):
            best = (candidate, match)
    if best is None:
        return None
    candidate, match = best
    return candidate, StoryMatch(
        match.rule, match.score, matched_key=candidate.key, detail=match.detail
    )


def title_filter(entry: EntryData, config: DedupeConfig) -> Callable[[str, bool], bool]:
    """Say which near-duplicate candidates of ``entry`` are worth scoring,
    given a candidate's title and whether it shares a text bucket, before
    its text is loaded (for ``Storage.near_candidates``'s ``keep``).

    A candidate sharing a text (body or lead) bucket is. One found through
    title buckets only can merge only by a title rule, which needs title
    similarity of at least ``title_threshold`` (1.0 for short texts), so
    below that it is left out: titles with a few words in common (a
    headline template, "Why ... matters for ...") fill title buckets with
    thousands of unrelated entries, and loading and shingling their texts
    cost a first poll most of its dedupe time. (A pair of similar texts
    whose text buckets all differ is missed, as LSH misses it anyway.)
    """
    mine = title_words(entry.title)
    need = min(config.title_threshold, 1.0)

    def keep(title: str, by_text: bool) -> bool:
        if by_text:
            return True
        theirs = title_words(title)
        if not mine or not theirs:
            return False
        return len(mine & theirs) / len(mine | theirs) >= need

    return keep


def remember(
    cache: dict[tuple[str, str], array[int]],
    key: str,
    content_hash: str,
    shingles: bytes,
) -> None:
    """Put a just-stored entry's shingles (its ``Fingerprint.shingles``) in a
    ``choose_story`` cache: in a first poll most candidates are entries of
    the same run, which then never need their text loaded and shingled."""
    if not shingles:
        return
    ref = (key, content_hash)
    cache.pop(ref, None)
    cache[ref] = array("Q", shingles)
    _trim(cache)


def _trim(cache: dict[tuple[str, str], array[int]]) -> None:
    while len(cache) > CACHE_SIZE:
        del cache[next(iter(cache))]  # dicts keep insertion order: oldest first


def _stored_shingles(
    stored: StoredEntry, cache: dict[tuple[str, str], array[int]] | None
) -> Collection[int]:
    """The body shingles of a stored copy, from ``cache`` if there.

    The content hash covers the summary and content the shingles come from,
    so a changed copy misses. The caller trims the cache (``_trim``).
    """
    if cache is None:
        return features(stored.data).shingles
    ref = (stored.key, stored.content_hash)
    packed = cache.pop(ref, None)
    if packed is None:
        # packed unsigned 64-bit hashes: 8 bytes a shingle against ~60 for a
        # frozenset of ints; scored as they are, without a set rebuilt
        packed = array("Q", features(stored.data).shingles)
    cache[ref] = packed  # re-inserted last: the most recently used
    return packed


def backlog(
    new: Sequence[EntryData],
    *,
    limit: int | None,
    first_poll: bool,
    all_new: bool,
    last_success: datetime | None,
) -> frozenset[int]:
    """Say which new entries are backlog, stored but not published as new.

    On a source's first poll every entry is backlog; when a known source
    sends nothing but new entries (it re-keyed them all), the backlog is the
    entries dated before its last successful poll, and undated ones. The
    newest ``limit`` of the backlog are published anyway.

    Args:
        new: the new entries, in feed order.
        limit: ``publish.backlog_per_new_source``; None publishes everything.
        first_poll: the source has nothing stored yet.
        all_new: no entry of the document was already stored.
        last_success: the source's last successful poll.

    Returns:
        Indexes into ``new`` of the entries to hide.
    """
    if limit is None or not (first_poll or all_new) or len(new) <= limit:
        return frozenset()
    if first_poll:
        candidates = list(range(len(new)))
    else:
        candidates = [
            i
            for i, entry in enumerate(new)
            if last_success is None
            or (entry.published or entry.updated) is None
            or (entry.published or entry.updated or last_success) < last_success
        ]

    def newest_first(i: int) -> tuple[int, float, int]:
        when = new[i].published or new[i].updated
        # dated before undated, newer first, then feed order
        return (0 if when else 1, -(when.timestamp() if when else 0.0), i)

    ranked = sorted(candidates, key=newest_first)
    return frozenset(ranked[limit:])
