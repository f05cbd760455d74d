"""Precision and recall of story grouping on the labeled pairs in tests/data/dedupe.

Thresholds (``DedupeConfig`` defaults) were tuned on the ``dev`` split; the
``test`` split (other subjects) was held out from that choice, and ``fresh``
was written after the thresholds were frozen. The bar (precision 0.98, recall
0.90) holds for dev, test and the whole set; ``fresh`` is too small (69 pairs,
one error is 2%) to assert on alone. See tests/data/dedupe/README.md.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feedhub import clean, dedupe, pipeline
from feedhub.storage import Storage
from feedhub.types import (
    DedupeConfig,
    EntryData,
    EntryUpdate,
    PollStatus,
    SourceConfig,
    StoredEntry,
)

PAIRS = Path(__file__).parent / "data" / "dedupe" / "pairs.jsonl"
NOW = datetime(2025, 8, 1, tzinfo=UTC)


def load() -> list[dict[str, Any]]:
    with PAIRS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def entry(copy: dict[str, Any]) -> EntryData:
    return EntryData(
        original_id=None,
        link=copy["link"],
        title=copy["title"],
        summary=copy["summary"],
        content=copy["content"],
        published=datetime.fromisoformat(copy["published"]).astimezone(UTC),
    )


def prepare(copy: dict[str, Any], source_id: int, config: DedupeConfig) -> EntryUpdate:
    """What prepare_update does to an entry, minus parse and normalize."""
    rules = clean.compile_rules(config.clean_rules, config.clean_disable)
    data = clean.clean_entry(entry(copy), rules)
    return EntryUpdate(
        data=data,
        identity=dedupe.identify(source_id, data, extra_params=config.tracking_params),
        fingerprint=dedupe.fingerprint(data),
    )


def merged(pair: dict[str, Any], config: DedupeConfig) -> bool:
    """Would ingest put the pair's second copy into the first one's story?

    The same decisions as ``pipeline.assign_stories``: same canonical link, or
    an LSH candidate (a shared bucket) that ``choose_story`` accepts.
    """
    a, b = prepare(pair["a"], 1, config), prepare(pair["b"], 2, config)
    if a.identity.canonical_link == b.identity.canonical_link:
        return True
    assert a.fingerprint is not None and b.fingerprint is not None
    if not set(a.fingerprint.buckets) & set(b.fingerprint.buckets):
        return False
    stored = StoredEntry(
        key=a.identity.key,
        source_id=1,
        data=a.data,
        canonical_link=a.identity.canonical_link,
        content_hash=a.identity.content_hash,
        story_id=a.identity.story_id,
        first_seen_at=NOW,
        last_changed_at=NOW,
    )
    return dedupe.choose_story(b.data, NOW, [stored], config) is not None


def scores(
    pairs: list[dict[str, Any]], config: DedupeConfig
) -> tuple[float, float, Counter[str]]:
    tp = fp = fn = 0
    misses: Counter[str] = Counter()
    for pair in pairs:
        got = merged(pair, config)
        if got and pair["label"]:
            tp += 1
        elif got:
            fp += 1
            misses[f"false merge: {pair['kind']}"] += 1
        elif pair["label"]:
            fn += 1
            misses[f"missed: {pair['kind']}"] += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, misses


def test_the_set_is_large_and_varied() -> None:
    pairs = load()
    assert len(pairs) >= 300
    kinds = Counter((p["kind"], p["label"]) for p in pairs)
    assert sum(n for (_, label), n in kinds.items() if not label) >= 100
    assert {"rewrite", "excerpt", "wrapped", "follow-up-quotes"} <= {
        kind for kind, _ in kinds
    }
    assert {p["split"] for p in pairs} == {"dev", "test", "fresh"}


@pytest.mark.parametrize("split", ["dev", "test", "all"])
def test_precision_and_recall(split: str) -> None:
    pairs = [p for p in load() if split in ("all", p["split"])]
    precision, recall, misses = scores(pairs, DedupeConfig())
    report = f"{split}: precision {precision:.3f} recall {recall:.3f} {dict(misses)}"
    assert precision >= 0.98, report
    assert recall >= 0.90, report


def test_without_cleaning_shared_boilerplate_would_do_harm() -> None:
    # the cleaning rules earn their place: switched off, recall or precision drops
    pairs = load()
    builtin = [rule.name for rule in clean.BUILTIN_RULES]
    bare = DedupeConfig(clean_disable=tuple(builtin))
    with_rules = scores(pairs, DedupeConfig())
    without = scores(pairs, bare)
    assert without[:2] != with_rules[:2]
    assert min(without[:2]) < min(with_rules[:2])


@pytest.mark.parametrize("shared_cache", [False, True])
def test_ingest_path_agrees_with_the_pure_evaluation(shared_cache: bool) -> None:
    # a sample through the real ingest (assign_stories + storage), one
    # database per pair so the pairs cannot see each other; a shingle cache
    # shared by every call (as by a poll run) must not change one decision
    config = pipeline_config()
    sample = load()[::9]
    cache: dict[tuple[str, str], array[int]] | None = {} if shared_cache else None
    # with the cache, a second round meets every candidate cached
    for _ in range(2 if shared_cache else 1):
        for pair in sample:
            with Storage(":memory:") as storage:
                storage.sync_sources(
                    [
                        SourceConfig("https://a.example/f"),
                        SourceConfig("https://b.example/f"),
                    ],
                    NOW,
                )
                a_state, b_state = storage.get_sources()
                stories = []
                for state, copy, source_id in (
                    (a_state, pair["a"], 1),
                    (b_state, pair["b"], 2),
                ):
                    update = prepare(copy, state.id, config.dedupe)
                    (assigned,) = pipeline.assign_stories(
                        storage, config, state, [update], NOW, shingle_cache=cache
                    )
                    storage.record_poll(
                        state.id, now=NOW, status=PollStatus.OK, entries=[assigned]
                    )
                    stories.append(assigned.identity.story_id)
                    assert source_id in (1, 2)
                expected = merged(pair, config.dedupe)
                assert (stories[0] == stories[1]) == expected, pair["id"]
    assert cache is None or len(cache) > 0


def pipeline_config() -> Any:
    from feedhub.types import Config

    return Config(path=None, database=":memory:")
