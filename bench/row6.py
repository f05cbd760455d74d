"""Row 6: what one new entry costs (dedupe, topic rules, storing) as the store grows.

Drives feedhub's library directly: ``dedupe.identify``, ``curate.match_topics`` and
``Storage.record_poll``. Stores of 10k, 100k and 1M entries are built once through
``record_poll`` in large ``Storage.bulk()`` transactions and cached under
bench/.work, keyed by size and STORE_VERSION.
No business logic.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import random
import re
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import _words, corpus
from bench.report import Figure, Row

#: bump when the stored rows change, so cached stores are rebuilt
STORE_VERSION = 3
SOURCES = 1000
#: sources stored per transaction when building a store (Storage.bulk)
BULK_SOURCES = 100
#: new entries measured per repetition: PER_SOURCE for each of BATCH // PER_SOURCE
BATCH = 400
PER_SOURCE = 40
TAG = re.compile(r"<[^>]+>")


def _modules() -> tuple[Any, Any, Any, Any]:
    """feedhub's storage, dedupe, curate and types modules.

    Raises:
        ImportError: one of them is missing (they land in parallel with this suite).
    """
    storage, dedupe, curate, types = (
        importlib.import_module(f"feedhub.{m}")
        for m in ("storage", "dedupe", "curate", "types")
    )
    return storage, dedupe, curate, types


class Ingest:
    """The pipeline's per-entry work, as far as the installed feedhub has it.

    Pure part: ``dedupe.identify``, ``dedupe.fingerprint`` (near-duplicate index
    keys, when feedhub has them), ``curate.match_topics`` and ``author_refs``.
    Storing part: ``pipeline.assign_stories`` (story grouping against the store,
    when feedhub has it) and ``Storage.record_poll``.
    """

    def __init__(self, database: str) -> None:
        self.storage_mod, self.dedupe, self.curate, self.types = _modules()
        t = self.types
        self.rules = self.curate.compile_rules(_topics(t))
        self.fingerprint = getattr(self.dedupe, "fingerprint", None)
        try:
            pipeline = importlib.import_module("feedhub.pipeline")
        except ImportError:
            pipeline = None
        self.assign = getattr(pipeline, "assign_stories", None)
        try:  # author code moved from curate into its own stage (issue 7)
            self.author_refs = importlib.import_module("feedhub.authors").author_refs
        except ImportError:
            self.author_refs = self.curate.author_refs
        self.config = t.Config(path=None, database=database, topics=_topics(t))
        self.feed = t.FeedData(url="https://bench.example/feed.xml")

    def prepare(self, source_id: int, data: Any, topics: Any = None) -> Any:
        """One EntryUpdate; ``topics`` given skips rule evaluation (store builds)."""
        t = self.types
        extra = {}
        if self.fingerprint is not None:
            extra["fingerprint"] = self.fingerprint(data)
        if topics is None:
            topics = self.curate.match_topics(self.rules, data)
            authors = self.author_refs(data)
        else:
            name = data.authors[0].name
            authors = (t.AuthorRef(slug=name.lower().replace(" ", "-"), name=name),)
        return t.EntryUpdate(
            data=data,
            identity=self.dedupe.identify(source_id, data),
            topics=topics,
            authors=authors,
            **extra,
        )

    def store(
        self, storage: Any, state: Any, updates: list[Any], now: Any, group: bool = True
    ) -> Any:
        """Group ``updates`` into stories (when ``group``) and store them."""
        if group and self.assign is not None:
            updates = list(self.assign(storage, self.config, state, updates, now))
        return storage.record_poll(
            state.id,
            now=now,
            status=self.types.PollStatus.OK,
            feed=self.feed,
            entries=updates,
        )


def _topics(types: Any) -> tuple[Any, ...]:
    return tuple(
        types.TopicConfig(slug=slug, title=title, match=types.Match(any=keywords))
        for slug, (title, keywords) in sorted(_words.TOPICS.items())
    )


def _source_urls() -> list[str]:
    return [f"https://www.outlet-{i}.example/feed.xml" for i in range(SOURCES)]


def _synthetic(types: Any, i: int) -> Any:
    """Stored entry ``i``: a short article; 10% are copies of a story elsewhere."""
    rng = random.Random(i)
    source = i % SOURCES
    story = i - 7 * SOURCES if i % 10 == 9 and i > 7 * SOURCES else i
    link = f"https://www.outlet-{story % SOURCES}.example/2026/{story}"
    if story != i:
        link += f"?utm_source=outlet-{source}&utm_medium=rss"
        rng = random.Random(story)  # the same text as the story's original
    title = " ".join(corpus.draw_words(rng, rng.randint(6, 10))).capitalize()
    text = " ".join(corpus.draw_words(rng, rng.randint(60, 100)))
    return types.EntryData(
        original_id=f"tag:outlet-{source}.example,2026:{i}",
        link=link,
        title=title,
        summary=f"<p>{text}.</p>",
        authors=(types.Author(name=f"Author {i % 997}"),),
        published=corpus.EPOCH - timedelta(seconds=i),
        categories=(_words.WORDS[i % len(_words.WORDS)],),
    )


def build_store(work: Path, size: int, log: Any) -> Path:
    """The store of ``size`` entries, written through ``Ingest`` and cached.

    Entries go in per source through ``record_poll`` (the code path a poll
    uses), BULK_SOURCES sources per ``Storage.bulk()`` transaction, which
    indexes them for search once per transaction instead of row by row: a
    commit and per-row FTS5 work cost far more here than an entry. To keep the
    build short, topics are assigned, not evaluated, and story grouping is
    skipped: each entry keeps the story ``identify`` gave it (its canonical
    link), which groups the 10% copies with their originals all the same.
    Fingerprints are stored, so the near-duplicate index is full size.
    """
    path = store_path(work, size)
    if path.exists():
        # migrations added since it was built run once here, on the cached
        # file, not on every per-run copy
        ingest_storage = _modules()[0]
        with ingest_storage.Storage(str(path)):
            pass
        return path
    # per process: two runs building the same store must not share the file
    tmp = work / f"store-v{STORE_VERSION}-{size}.{os.getpid()}.building.db"
    _remove(tmp)
    ingest = Ingest(str(tmp))
    t = ingest.types
    log(f"row 6: building a store of {size:,} entries (cached in {path.name})")
    start = time.perf_counter()
    now = corpus.EPOCH
    with ingest.storage_mod.Storage(str(tmp)) as storage:
        storage.sync_sources([t.SourceConfig(url=u) for u in _source_urls()], now)
        states = storage.get_sources()
        # Storage.bulk: a transaction per BULK_SOURCES sources, each indexed
        # for search once at its end rather than row by row
        bulk = getattr(storage, "bulk", None)
        for first in range(0, len(states), BULK_SOURCES):
            with bulk("row 6 build") if bulk else contextlib.nullcontext():
                _fill(ingest, storage, states, first, size, now)
            done = min(size, size * (first + BULK_SOURCES) // SOURCES)
            elapsed = time.perf_counter() - start
            log(f"row 6: {done:,} of {size:,} stored ({elapsed:.0f}s)")
    log(f"row 6: store of {size:,} entries built in {time.perf_counter() - start:.0f}s")
    _remove(Path(f"{tmp}-wal"))
    _remove(Path(f"{tmp}-shm"))
    os.replace(tmp, path)
    return path


def _fill(
    ingest: Ingest,
    storage: Any,
    states: Any,
    first: int,
    size: int,
    now: Any,
) -> None:
    """Store the entries of sources ``first`` to ``first + BULK_SOURCES - 1``
    (entry ``i`` belongs to source ``i % SOURCES``) through ``record_poll``."""
    t = ingest.types
    slugs = sorted(_words.TOPICS)
    for s in range(first, min(first + BULK_SOURCES, len(states))):
        state = states[s]
        chunk: list[Any] = []
        for i in range(s, size, SOURCES):
            topic = (t.TopicMatch(topic=slugs[i % len(slugs)], reason="bench"),)
            chunk.append(ingest.prepare(state.id, _synthetic(t, i), topic))
            if len(chunk) == 5000:
                ingest.store(storage, state, chunk, now, False)
                chunk = []
        if chunk:
            ingest.store(storage, state, chunk, now, False)


def store_path(work: Path, size: int) -> Path:
    """Where the store of ``size`` entries is cached."""
    return work / f"store-v{STORE_VERSION}-{size}.db"


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _new_entries(types: Any, plan: corpus.Plan, rep: int) -> list[tuple[int, Any]]:
    """BATCH realistic new entries (2-6 KB bodies) from the corpus generator."""
    out = []
    for k in range(BATCH):
        feed = k % len(plan.feeds)
        e = corpus.make_entry(
            plan, feed, 2_000_000_000 + rep * BATCH + k, 0, gen=rep + 1
        )
        link = e.link
        if k % 10 == 0:
            # a copy of a story already stored: same canonical link, tracking added
            j = k + rep * BATCH  # another stored story every repetition
            link = f"https://www.outlet-{j % SOURCES}.example/2026/{j}?utm_source=x"
        data = types.EntryData(
            original_id=e.id,
            link=link,
            title=e.title,
            summary=TAG.sub("", e.summary),
            content=e.body,
            authors=(types.Author(name=e.author),),
            published=e.published,
            updated=e.updated,
            categories=e.categories,
        )
        out.append((k // PER_SOURCE, data))
    return out


def _measure_batch(
    ingest: Ingest, storage: Any, plan: corpus.Plan, rep: int, log: Any
) -> tuple[float, float]:
    """µs per new entry for (dedupe + rules) and for (grouping + storing)."""
    states = storage.get_sources()
    batch = _new_entries(ingest.types, plan, rep)
    t0 = time.perf_counter()
    per_source: dict[int, list[Any]] = {}
    for source, data in batch:
        per_source.setdefault(source, []).append(
            ingest.prepare(states[source].id, data)
        )
    t1 = time.perf_counter()
    now = corpus.EPOCH + timedelta(hours=rep + 1)
    new = 0
    for source, updates in per_source.items():
        new += ingest.store(storage, states[source], updates, now).new
    t2 = time.perf_counter()
    if new != len(batch):
        log(f"row 6: {new} of {len(batch)} entries stored as new (the rest joined)")
    return (t1 - t0) / len(batch) * 1e6, (t2 - t1) / len(batch) * 1e6


def measure(
    work: Path, scratch_dir: Path, sizes: tuple[int, ...], reps: int, log: Any
) -> dict[int, tuple[list[float], list[float]]]:
    """Per size: µs per new entry for (dedupe + rules) and for storing.

    Repetitions go round the sizes (10k, 100k, 1M, 10k, ...), so that a change
    of machine load hits every size alike and the per-repetition growth ratio
    stays meaningful on a shared machine.
    """
    scratch = {}
    for size in sizes:
        cached = build_store(work, size, log)
        scratch[size] = scratch_dir / f"row6-{size}.db"
        _remove(scratch[size])
        shutil.copyfile(cached, scratch[size])
    plan = corpus.make_plan(corpus.CorpusSpec(feeds=50, entries=1))
    out: dict[int, tuple[list[float], list[float]]] = {s: ([], []) for s in sizes}
    try:
        for rep in range(reps):
            for size in sizes:
                ingest = Ingest(str(scratch[size]))
                with ingest.storage_mod.Storage(str(scratch[size])) as storage:
                    pure, store = _measure_batch(ingest, storage, plan, rep, log)
                out[size][0].append(pure)
                out[size][1].append(store)
                log(
                    f"row 6 @ {size:,}: rep {rep + 1}: dedupe+rules "
                    f"{pure:,.0f} µs, grouping+store {store:,.0f} µs per new entry"
                )
    finally:
        for path in scratch.values():
            _remove(path)
    return out


def rows(
    work: Path,
    scratch: Path,
    sizes: tuple[int, ...],
    reps: int,
    log: Any,
    build_limit: int | None = None,
) -> tuple[list[Row], list[str]]:
    """Row 6 for each store size; the ratio column is the cost vs the smallest.

    Args:
        build_limit: stores larger than this are measured only when already
            cached (building 1M entries through ``record_poll`` takes far
            longer than the suite's time budget); None builds every size.
    """
    try:
        _modules()
    except ImportError as e:
        return [], [f"row 6: feedhub's library API is not importable yet ({e})"]
    notes = [
        f"row 6 @ {size:,} stored: skipped, the store is not built yet (it takes "
        f"long, once): build it with `python -m bench --rows 6 --row6-sizes {size}`"
        ", later runs use the cached copy"
        for size in sizes
        if build_limit is not None
        and size > build_limit
        and not store_path(work, size).exists()
    ]
    sizes = tuple(
        size
        for size in sizes
        if build_limit is None or size <= build_limit or store_path(work, size).exists()
    )
    if not sizes:
        return [], notes
    try:
        results = measure(work, scratch, sizes, reps, log)
    except (AttributeError, TypeError) as e:
        # an API the suite was written against changed under it
        return [], [f"row 6: feedhub's library API differs from the suite's ({e!r})"]
    out = []
    base_pure, base_store = results[sizes[0]]
    for size, (pure, store) in results.items():
        label = f"@ {size:,} stored"
        for what, values, base in (
            ("dedupe + rules", pure, base_pure),
            ("story grouping + store", store, base_store),
        ):
            fig = Figure(tuple(values))
            # paired with the smallest store's figure of the same repetition
            growth = Figure(tuple(v / b for v, b in zip(values, base, strict=True)))
            out.append(
                Row(
                    "6",
                    f"new entry: {what}, µs {label}",
                    fig,
                    peer_name="n/a (ratio: vs smallest store)",
                    higher_is_better=False,
                    ratio_override=growth,
                )
            )
    return out, notes
