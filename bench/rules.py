"""Measure topic-rule evaluation and re-filing on a 100k-entry store (issue 7).

Not a test: prints figures. Builds (once, then reuses) a store of N entries
from 100 sources with realistic titles and HTML bodies, then measures:

1. ``curate.decide`` alone over every stored entry (entries/s): 12 topics
   using every kind of condition, and 3 block rules;
2. ``pipeline.apply_rules`` after a rule change (every entry re-evaluated,
   the changed memberships and decision logs written);
3. ``pipeline.apply_rules(force=True)`` with unchanged rules (evaluation and
   comparison only, nothing to write).

Usage: ``python -m bench.rules [--entries 100000] [--db PATH]``
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from feedhub import curate, dedupe, pipeline
from feedhub.storage import Storage
from feedhub.types import (
    Author,
    Config,
    EntryData,
    EntryUpdate,
    Match,
    PollStatus,
    SourceConfig,
    TopicConfig,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_WORDS = (
    "the of and to in a is that for on with as was by at from it an be this "
    "are have which has but not were had they their been more one its also "
    "report week government company market city people year new said first "
    "data research study group team plan deal price court police school "
    "water energy power game season player club fans model system release "
    "update safety security policy law rules public health science space"
).split()
_KEYWORDS = (
    "OpenAI", "artificial intelligence", "machine learning", "AI", "alignment",
    "regulation", "misuse", "safety", "Linux", "open source", "Rust", "Python",
    "climate change", "emissions", "NASA", "rocket launch", "vaccine",
    "ransomware", "data breach", "Premier League", "striker", "election",
    "café", "Zürich", "company’s", "“record”", "Gemini", "GPT-5",
)  # fmt: skip
#: rarer: what block rules take (about 2% of entries)
_BLOCKED = ("sponsored", "we're hiring", "job opening")
_LANGS = ("en", "en-GB", "de", "fr")


def topics() -> tuple[TopicConfig, ...]:
    """A realistic rule set: every kind of condition, nested."""
    ai = ("AI", "OpenAI", "model*", "machine learning", "artificial intelligence")
    return (
        TopicConfig("ai", "AI", Match(any=ai[1:] + ("AI",))),
        TopicConfig(
            "ai-safety",
            "AI safety",
            Match(
                all=(
                    Match(any=("safety", "alignment", "misuse", "regulation")),
                    Match(any=ai),
                ),
                none=("hiring", "job opening"),
            ),
        ),
        TopicConfig("openai", "OpenAI", Match(any=("OpenAI", "ChatGPT", "Sam Altman"))),
        TopicConfig(
            "open-source",
            "Open source",
            Match(any=("open source", "Linux", "GitHub"), none=("OSINT",)),
        ),
        TopicConfig(
            "rust", "Rust", Match(all=(Match(any=("Rust",), fields=("title",)),))
        ),
        TopicConfig(
            "python",
            "Python",
            Match(any=("Python",), none=(Match(any=("snake", "zoo")),)),
        ),
        TopicConfig(
            "climate",
            "Climate",
            Match(any=("climate change", "emissions", "heatwave"), max_age=7 * 86400),
        ),
        TopicConfig("space", "Space", Match(any=("NASA", "rocket launch", "Mars"))),
        TopicConfig(
            "security",
            "Security",
            Match(
                any=("ransomware", "data breach"),
                regex=(r"cve-\d{4}-\d{4,7}", r"zero[- ]day"),
            ),
        ),
        TopicConfig(
            "football",
            "Football",
            Match(any=("Premier League", "striker"), fields=("title", "summary")),
        ),
        TopicConfig(
            "german",
            "German",
            Match(all=(Match(any=("de",), fields=("language",)),)),
        ),
        TopicConfig(
            "swiss",
            "Swiss",
            Match(
                any=("Zürich", "Geneva"),
                all=(Match(any=("ch", "example.org"), fields=("domain",)),),
            ),
            exclude_sources=("https://s0.example/feed",),
        ),
    )


def block() -> Match:
    return Match(
        any=(
            Match(any=("sponsored", "paid post"), fields=("title",), key="block[0]"),
            Match(any=("we're hiring", "job opening"), key="block[1]"),
            Match(any=("/sponsored/",), fields=("link",), key="block[2]"),
        ),
        key="block",
    )


def config(db: str) -> Config:
    sources = tuple(
        SourceConfig(f"https://s{i}.example/feed", topics=("open-source",) * (i == 7))
        for i in range(100)
    )
    return Config(
        path=None, database=db, sources=sources, topics=topics(), block=block()
    )


def _text(rng: random.Random, n: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(n)]
    for _ in range(rng.randint(0, 2)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(_KEYWORDS))
    if rng.random() < 0.003:
        words.insert(rng.randrange(len(words) + 1), rng.choice(_BLOCKED))
    return " ".join(words)


def build(db: str, entries: int) -> None:
    """Store ``entries`` entries over 100 sources, 1,000 per transaction."""
    rng = random.Random(7)
    cfg = config(db)
    with Storage(db) as storage:
        storage.sync_sources(cfg.sources, T0)
        states = storage.get_sources()
        per_source = entries // len(states)
        for state in states:
            for start in range(0, per_source, 1000):
                batch = []
                for i in range(start, min(start + 1000, per_source)):
                    body = "".join(f"<p>{_text(rng, 40)}</p>" for _ in range(6))
                    data = EntryData(
                        original_id=f"{state.url}#{i}",
                        link=f"https://s{state.id}.example/{i}",
                        title=_text(rng, 9),
                        summary=f"<p>{_text(rng, 30)}</p>",
                        content=body,
                        authors=(Author(name=f"Writer {rng.randint(1, 300)}"),),
                        published=T0 - timedelta(days=rng.randint(0, 20)),
                        categories=(rng.choice(_KEYWORDS), rng.choice(_WORDS)),
                    )
                    identity = dedupe.identify(state.id, data)
                    batch.append(EntryUpdate(data=data, identity=identity))
                storage.record_poll(
                    state.id, now=T0, status=PollStatus.OK, entries=batch
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--db", default="/tmp/feedhub-bench-rules.sqlite")
    args = parser.parse_args()
    if not os.path.exists(args.db):
        started = time.perf_counter()
        build(args.db, args.entries)
        print(f"built {args.db}: {time.perf_counter() - started:.1f} s")
    cfg = config(args.db)
    with Storage(args.db) as storage:
        stored = list(storage.iter_entries())
        langs = dict.fromkeys(range(101), "")
        rules = curate.compile_rules(cfg.topics, cfg.block)
        contexts = [
            curate.EntryContext(
                f"https://s{e.source_id}.example/feed",
                e.first_seen_at,
                _LANGS[e.source_id % len(_LANGS)] or langs[0],
            )
            for e in stored
        ]
        started, cpu = time.perf_counter(), time.process_time()
        blocked = selected = 0
        for entry, ctx in zip(stored, contexts, strict=True):
            topics, curation = curate.decide(rules, entry.data, (), ctx)
            blocked += curation.blocked is not None
            selected += len(topics)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        n = len(stored)
        print(
            f"decide: {n} entries in {took:.1f} s wall, {cpu:.1f} s CPU = "
            f"{n / cpu:,.0f} entries/s per core ({len(cfg.topics)} topics, "
            f"3 block rules; {blocked} blocked, {selected} memberships)"
        )
        del stored
        # a rule change: every entry re-evaluated, the differences written
        for label, cfg_now, force in (
            ("apply_rules, rule set A", cfg, True),
            ("apply_rules, rule set B (topic 'ai' narrowed)", _changed(cfg), False),
            ("apply_rules, nothing changed (force)", _changed(cfg), True),
        ):
            started, cpu = time.perf_counter(), time.process_time()
            changed = pipeline.apply_rules(storage, cfg_now, force=force)
            took, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"{label}: {n} entries in {took:.1f} s wall, {cpu:.1f} s CPU = "
                f"{n / took:,.0f} entries/s wall ({changed} entries changed)"
            )
        # the dry-run of going back to rule set A: evaluates, writes nothing
        started, cpu = time.perf_counter(), time.process_time()
        planned = pipeline.plan(storage, cfg, limit=10)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        moves = sum(f.appearing + f.disappearing for f in planned.feeds)
        print(
            f"plan (dry-run back to rule set A): {took:.1f} s wall, {cpu:.1f} s CPU "
            f"({len(planned.feeds)} feeds would change, {moves} stories move)"
        )
    with sqlite3.connect(args.db) as conn:
        count, total = conn.execute(
            "SELECT count(*), sum(length(log)) FROM entry_decisions"
        ).fetchone()
    print(f"decision log: {count} entries, {total / count:.0f} bytes each on average")


def _changed(cfg: Config) -> Config:
    first = cfg.topics[0]
    return replace(
        cfg, topics=(replace(first, match=Match(any=("OpenAI",))),) + cfg.topics[1:]
    )


if __name__ == "__main__":
    main()
