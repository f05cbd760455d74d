"""Row 6: what one new entry costs (dedupe, topic rules, storing) as the store grows.

Drives feedhub's library directly: ``dedupe.identify``, ``curate.match_topics`` and
``Storage.record_poll``. Stores of up to 100k entries are built once through
``record_poll`` in large ``Storage.bulk()`` transactions; the 1M store copies the
100k one's texts ten times (``_replicate``, which says why that measures the same).
They are cached under bench/.work, keyed by size and STORE_VERSION.
No business logic.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import importlib
import multiprocessing
import os
import random
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import _words, corpus
from bench.report import Figure, Row

#: bump when the stored rows change, so cached stores are rebuilt
STORE_VERSION = 4
SOURCES = 1000
#: entries per build round: one ``Storage.bulk()`` transaction, one
#: ``record_poll`` per source; a store of a multiple of ROUND entries is a
#: prefix of every larger one, so a build starts from the largest cached one
ROUND = 10_000
#: the stored texts repeat after this many entries (see ``_story``): stores up
#: to TEXTS entries are written entry by entry, larger ones by ``_replicate``
TEXTS = 100_000
#: every tenth entry is a copy of the story told this many entries earlier
COPY_LAG = SOURCES + 1
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

    def prepare(self, source_id: int, data: Any, assigned: Any = None) -> Any:
        """One EntryUpdate; ``assigned`` (topics, authors) skips rule evaluation."""
        t = self.types
        extra = {}
        if self.fingerprint is not None:
            extra["fingerprint"] = self.fingerprint(data)
        if assigned is None:
            topics = self.curate.match_topics(self.rules, data)
            authors = self.author_refs(data)
        else:
            topics, authors = assigned
        return t.EntryUpdate(
            data=data,
            identity=self.dedupe.identify(source_id, data),
            topics=topics,
            authors=authors,
            **extra,
        )

    def assigned(self, i: int, data: Any) -> tuple[Any, Any]:
        """Topics and authors of stored entry ``i``, given rather than evaluated
        (store builds): one topic in turn, the author's name as its slug."""
        t = self.types
        slugs = sorted(_words.TOPICS)
        name = data.authors[0].name
        return (
            (t.TopicMatch(topic=slugs[i % len(slugs)], reason="bench"),),
            (t.AuthorRef(slug=name.lower().replace(" ", "-"), name=name),),
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


def _story(i: int) -> int:
    """The entry whose story stored entry ``i`` tells: itself, or for every
    tenth entry (a syndicated copy) the original COPY_LAG entries before it, in
    the same block of TEXTS entries and from the source before its own."""
    if i % 10 == 9 and i % TEXTS >= COPY_LAG:
        return i - COPY_LAG
    return i


def _text(n: int) -> tuple[str, str]:
    """Title and summary of text ``n``: a short article of 60-100 words."""
    rng = random.Random(n)
    title = " ".join(corpus.draw_words(rng, rng.randint(6, 10))).capitalize()
    text = " ".join(corpus.draw_words(rng, rng.randint(60, 100)))
    return title, f"<p>{text}.</p>"


def _synthetic(types: Any, i: int, text: tuple[str, str] | None = None) -> Any:
    """Stored entry ``i``: text ``_story(i) % TEXTS`` (or ``text``, that same
    text read back from the store), its own id, link, author, date, category.

    A copy links to its story's page with tracking parameters, so it keeps
    the story of that canonical link. Texts repeat every TEXTS entries; all
    else (ids, links, stories, authors, dates) is unique to ``i``.
    """
    source = i % SOURCES
    story = _story(i)
    link = f"https://www.outlet-{story % SOURCES}.example/2026/{story}"
    if story != i:
        link += f"?utm_source=outlet-{source}&utm_medium=rss"
    title, summary = text or _text(story % TEXTS)
    return types.EntryData(
        original_id=f"tag:outlet-{source}.example,2026:{i}",
        link=link,
        title=title,
        summary=summary,
        authors=(types.Author(name=f"Author {i % 997}"),),
        # later entries later: an original precedes its copies, so it is
        # the story's first copy and its representative, however built
        published=corpus.EPOCH - timedelta(days=30) + timedelta(seconds=i),
        categories=(_words.WORDS[i % len(_words.WORDS)],),
    )


def build_store(work: Path, size: int, log: Any) -> Path:
    """The store of entries 0 to ``size - 1`` (``_synthetic``), cached.

    Up to TEXTS entries, they go in through ``record_poll`` (the code path a
    poll uses; see ``_write``), starting from the largest cached store of a
    multiple of ROUND entries, which is a prefix of this one. Beyond TEXTS,
    the entries are copied from the TEXTS store (see ``_replicate``): the
    rows are the same as ``record_poll`` would write (a test checks that),
    without computing each text's fingerprint and search terms again.
    """
    path = store_path(work, size)
    if path.exists():
        # migrations added since it was built run once here, on the cached
        # file, not on every per-run copy
        with _modules()[0].Storage(str(path)):
            pass
        return path
    # per process: two runs building the same store must not share the file
    tmp = work / f"store-v{STORE_VERSION}-{size}.{os.getpid()}.building.db"
    _remove(tmp)
    start = time.perf_counter()
    try:
        if size > TEXTS:
            base = build_store(work, TEXTS, log)
            log(
                f"row 6: building a store of {size:,} entries from the one of "
                f"{TEXTS:,} (cached in {path.name})"
            )
            shutil.copyfile(base, tmp)
            _replicate(tmp, size, log, start)
        else:
            done = max(
                (n for n in _cached(work) if n < size and n % ROUND == 0), default=0
            )
            log(
                f"row 6: building a store of {size:,} entries"
                + (f" from the one of {done:,}" if done else "")
                + f" (cached in {path.name})"
            )
            if done:
                shutil.copyfile(store_path(work, done), tmp)
            _write(tmp, done, size, log, start)
    except BaseException:
        _remove(tmp)
        raise
    log(f"row 6: store of {size:,} entries built in {time.perf_counter() - start:.0f}s")
    _remove(Path(f"{tmp}-wal"))
    _remove(Path(f"{tmp}-shm"))
    os.replace(tmp, path)
    return path


def _cached(work: Path) -> list[int]:
    """Sizes of the stores cached in ``work``."""
    name = re.compile(rf"store-v{STORE_VERSION}-(\d+)\.db")
    found = (name.fullmatch(p.name) for p in work.glob(f"store-v{STORE_VERSION}-*"))
    return [int(m[1]) for m in found if m]


def _write(path: Path, done: int, size: int, log: Any, start: float) -> None:
    """Store entries ``done`` to ``size - 1`` through ``record_poll``.

    In rounds of ROUND entries, in order, each one ``Storage.bulk()``
    transaction (which indexes the round for search once at its end rather
    than row by row: a commit and per-row FTS5 work cost far more here than
    an entry) with one ``record_poll`` per source, as a poll of every source
    would. To keep the build short, topics are assigned, not evaluated, and
    story grouping is skipped: each entry keeps the story ``identify`` gave
    it (its canonical link), which groups the 10% copies with their originals
    all the same. Fingerprints are stored, so the near-duplicate index is
    full size. A worker process prepares the next round (``_Ahead``).
    """
    ingest = Ingest(str(path))
    t = ingest.types
    now = corpus.EPOCH
    with ingest.storage_mod.Storage(str(path)) as storage:
        if not done:
            storage.sync_sources([t.SourceConfig(url=u) for u in _source_urls()], now)
        states = storage.get_sources()
    _JOB.update(ingest=ingest, ids=[state.id for state in states])
    rounds = [(first, min(first + ROUND, size)) for first in range(done, size, ROUND)]
    with _Ahead(_round) as ahead, ingest.storage_mod.Storage(str(path)) as storage:
        bulk = getattr(storage, "bulk", None)
        for (_, last), prepared in zip(rounds, ahead.map(rounds), strict=True):
            with bulk("row 6 build") if bulk else contextlib.nullcontext():
                for s, updates in prepared:
                    ingest.store(storage, states[s], updates, now, False)
            elapsed = time.perf_counter() - start
            log(f"row 6: {last:,} of {size:,} stored ({elapsed:.0f}s)")


#: what the worker process of ``_Ahead`` reads (it is forked: set it before)
_JOB: dict[str, Any] = {}


class _Ahead:
    """Runs ``fn(*job)`` in one worker process, a job ahead of the caller.

    The rows of the next round or block are computed while the caller writes
    the current one, so that computing and writing share the two cores
    instead of taking turns. The worker is forked when this is entered,
    before the caller opens its own connection to the store.
    """

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        context = multiprocessing.get_context("fork")
        self.pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)

    def __enter__(self) -> _Ahead:
        self.pool.submit(int).result()  # start the worker now
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(cancel_futures=True)

    def map(self, jobs: list[tuple[int, int]]) -> Iterator[Any]:
        """Results in the order of ``jobs``; at most two jobs queued."""
        pending: collections.deque[concurrent.futures.Future[Any]] = collections.deque()
        for job in jobs:
            pending.append(self.pool.submit(self.fn, *job))
            if len(pending) > 1:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _round(first: int, last: int) -> list[tuple[int, list[Any]]]:
    """In the worker: the updates of entries ``first`` to ``last - 1``, per
    source (entry ``i`` is source ``i % SOURCES``'s)."""
    ingest: Ingest = _JOB["ingest"]
    out = []
    for s, source_id in enumerate(_JOB["ids"]):
        updates = []
        for i in range(first + (s - first) % SOURCES, last, SOURCES):
            data = _synthetic(ingest.types, i)
            updates.append(ingest.prepare(source_id, data, ingest.assigned(i, data)))
        if updates:
            out.append((s, updates))
    return out


def _replicate(path: Path, size: int, log: Any, start: float) -> None:
    """Add entries TEXTS to ``size - 1`` to the store of TEXTS entries at ``path``.

    Entry ``i`` has the text of entry ``i % TEXTS`` and all else of its own
    (``_synthetic``), so its rows are those of entry ``i % TEXTS`` with other
    values in the columns that do not come from the text. Those are computed
    as ``record_poll`` computes them (``dedupe.identify``, feedhub's own row
    encoding); what comes from the text alone is copied: title and summary,
    and the near-duplicate index rows (a fingerprint is a function of title
    and text) under the entry's own number. The story rows are derived from
    them as ``refresh_stories`` derives them (``_STORIES``), and the search
    index is filled by ``Storage.bulk()``, as in ``_write``. A test checks
    that every row equals that of a store written through ``record_poll``
    (tests/test_bench_tools.py), so this is the store a poll would write.

    Why the figures measured on it are those of a store of ``size`` distinct
    texts: a new entry costs what the store makes it look up and update. The
    tables and indexes hold as many rows, of the same sizes, under keys as
    random, so every B-tree has the size and depth it would have. What a new
    entry finds in the near-duplicate index (entries per bucket) and in the
    search index (postings per term) is a count over the stored texts: with
    each text stored ``size / TEXTS`` times, its expected value is the one
    ``size`` texts drawn from the same generator give (a sum of the same
    per-text chances), and the figures are means over many new entries. The
    spread differs (counts come in multiples of ``size / TEXTS``: no bucket
    holds fewer, so a cap on bucket sizes must stay well above that), and so
    does the number of distinct search terms, which stays that of TEXTS
    texts. Not quite neutral, measured: scoring near-duplicate candidates
    that are copies of one text is cheaper, as words and shingles hashed for
    the first copy are memoized (``dedupe._near._hash64``), so "story
    grouping + store" comes out lower on a copied store than on one of as
    many distinct texts: at 1M, median 5.2 vs 5.9 ms (-12%; 6 repetitions
    each, back to back); at 100k copied from 10k texts, 3.4 vs 3.6 ms (-5%).
    "dedupe + rules" is the same. Building 1M distinct texts through
    ``record_poll`` took 35 minutes on the loaded machine, this 5.

    The copying connection runs without a journal and without syncing (the
    file is scratch, deleted if the build fails) and with a 1 GiB page cache:
    each page is written once, not to the WAL and back.
    """
    storage_mod = _modules()[0]
    with storage_mod.Storage(str(path)) as storage:
        ids = [state.id for state in storage.get_sources()]
    conn = sqlite3.connect(path)
    try:
        base = {
            int(str(oid).rpartition(":")[2]): (str(key), str(title), str(summary))
            for key, oid, title, summary in conn.execute(
                "SELECT key, original_id, title, summary FROM entries"
            )
        }
        reps = {str(key) for (key,) in conn.execute("SELECT rep_key FROM stories")}
    finally:
        conn.close()
    _JOB.update(ingest=Ingest(str(path)), ids=ids, base=base, reps=reps)
    blocks = [(first, min(first + TEXTS, size)) for first in range(TEXTS, size, TEXTS)]
    with _Ahead(_block) as ahead:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -1048576")
            conn.execute("BEGIN")
            # the search index is filled afterwards, by Storage.bulk()
            (trigger,) = conn.execute(
                "SELECT sql FROM sqlite_master"
                " WHERE type = 'trigger' AND name = 'search_insert'"
            ).fetchone()
            conn.execute("DROP TRIGGER search_insert")
            # in (bucket, entry) order, so that the copies of a block go into
            # the index in bucket order
            conn.execute(
                "CREATE TEMP TABLE base_buckets AS"
                " SELECT bucket, entry FROM near_buckets ORDER BY bucket, entry"
            )
            conn.execute(
                "CREATE TEMP TABLE copies (base INTEGER PRIMARY KEY, entry INTEGER)"
            )
            conn.execute("CREATE TEMP TABLE reps (key TEXT PRIMARY KEY)")
            for (_, last), block in zip(blocks, ahead.map(blocks), strict=True):
                _copy_block(conn, block)
                elapsed = time.perf_counter() - start
                log(f"row 6: {last:,} of {size:,} stored ({elapsed:.0f}s)")
            conn.execute(str(trigger))
            conn.execute("COMMIT")
        finally:
            conn.close()
    with storage_mod.Storage(str(path)) as storage, storage.bulk("row 6 build"):
        pass  # indexes the entries added above for search
    log(f"row 6: {size:,} indexed for search ({time.perf_counter() - start:.0f}s)")


#: the rows of a block of entries: entries (column names, values sorted by
#: key), entry_topics, entry_authors, (base entry number, entry number), and
#: the keys of the entries that represent their story
Block = tuple[
    list[str],
    list[tuple[Any, ...]],
    list[tuple[str, int, str, str]],
    list[tuple[str, int, str, str]],
    list[tuple[int, int]],
    list[tuple[str]],
]


def _block(first: int, last: int) -> Block:
    """In the worker: the rows of entries ``first`` to ``last - 1`` that
    ``_replicate`` computes rather than copies."""
    ingest: Ingest = _JOB["ingest"]
    base: dict[int, tuple[str, str, str]] = _JOB["base"]
    ids: list[int] = _JOB["ids"]
    t = ingest.types
    rows = importlib.import_module("feedhub.storage._rows")
    number = importlib.import_module("feedhub.storage._dedupe").entry_number
    now = corpus.EPOCH
    now_text = now.isoformat(timespec="microseconds")
    entries: list[dict[str, Any]] = []
    topics: list[tuple[str, int, str, str]] = []
    authors: list[tuple[str, int, str, str]] = []
    copies: list[tuple[int, int]] = []
    reps: list[tuple[str]] = []
    for i in range(first, last):
        key, title, summary = base[i % TEXTS]
        source_id = ids[i % SOURCES]
        data = _synthetic(t, i, (title, summary))
        topic, author = ingest.assigned(i, data)
        update = t.EntryUpdate(
            data=data,
            identity=ingest.dedupe.identify(source_id, data),
            topics=topic,
            authors=author,
        )
        params = rows.entry_params(update, source_id)
        params["first_seen_at"] = params["last_changed_at"] = now_text
        params["sort_at"] = rows.sort_at(data, now)
        entries.append(params)
        new = params["key"]
        topics += [
            (new, n, slug, why)
            for n, (slug, why) in enumerate(rows.normalize_topics(update.topics))
        ]
        authors += [
            (new, n, slug, name)
            for n, (slug, name) in enumerate(rows.normalize_authors(update.authors))
        ]
        copies.append((number(key), number(new)))
        if key in _JOB["reps"]:
            reps.append((new,))
    entries.sort(key=lambda p: str(p["key"]))
    columns = list(entries[0])
    values = [tuple(p.values()) for p in entries]
    return columns, values, sorted(topics), sorted(authors), copies, sorted(reps)


def _copy_block(conn: sqlite3.Connection, block: Block) -> None:
    """Write a block of entries (see ``_replicate``)."""
    columns, entries, topics, authors, copies, reps = block
    conn.executemany(
        f"INSERT INTO entries ({', '.join(columns)})"
        f" VALUES ({', '.join('?' for _ in columns)})",
        entries,
    )
    conn.executemany(
        "INSERT INTO entry_topics (entry_key, position, topic, reason)"
        " VALUES (?, ?, ?, ?)",
        topics,
    )
    conn.executemany(
        "INSERT INTO entry_authors (entry_key, position, slug, name)"
        " VALUES (?, ?, ?, ?)",
        authors,
    )
    conn.execute("DELETE FROM temp.copies")
    conn.executemany("INSERT INTO temp.copies (base, entry) VALUES (?, ?)", copies)
    conn.execute(
        "INSERT INTO near_entries (entry, buckets)"
        " SELECT c.entry, n.buckets FROM temp.copies AS c"
        " CROSS JOIN near_entries AS n ON n.entry = c.base ORDER BY c.entry"
    )
    conn.execute(
        "INSERT OR IGNORE INTO near_buckets (bucket, entry)"
        " SELECT b.bucket, c.entry FROM temp.base_buckets AS b"
        " CROSS JOIN temp.copies AS c ON c.base = b.entry"
    )
    conn.execute("DELETE FROM temp.reps")
    conn.executemany("INSERT INTO temp.reps (key) VALUES (?)", reps)
    for statement in _STORIES:
        conn.execute(statement)


# The derived story rows of a block, as ``refresh_stories`` makes them for
# these stories: a story is represented by the copy that represents its
# base story (the earliest published, the original), listed at that copy's
# time (its earliest, as all its copies come later), under that copy's id
# (a tag: IRI), with the topics and authors of all its copies.
_STORIES = (
    """
    INSERT INTO stories (story_id, rep_key, sort_at)
    SELECT e.story_id, e.key, e.sort_at
    FROM temp.reps AS r CROSS JOIN entries AS e ON e.key = r.key
    ORDER BY e.story_id
    """,
    """
    INSERT INTO story_ids (story_id, published_id, founder_key)
    SELECT e.story_id, e.original_id, e.key
    FROM temp.reps AS r CROSS JOIN entries AS e ON e.key = r.key
    ORDER BY e.story_id
    """,
    """
    INSERT INTO story_topics (topic, story_id, sort_at, rep_key)
    SELECT DISTINCT t.topic, s.story_id, s.sort_at, s.rep_key
    FROM temp.reps AS r CROSS JOIN entries AS re ON re.key = r.key
    CROSS JOIN stories AS s ON s.story_id = re.story_id
    CROSS JOIN entries AS e ON e.story_id = s.story_id
    CROSS JOIN entry_topics AS t ON t.entry_key = e.key
    WHERE e.blocked = 0
    """,
    """
    INSERT INTO story_authors (slug, story_id, name, sort_at, rep_key)
    SELECT a.slug, s.story_id, min(a.name), s.sort_at, s.rep_key
    FROM temp.reps AS r CROSS JOIN entries AS re ON re.key = r.key
    CROSS JOIN stories AS s ON s.story_id = re.story_id
    CROSS JOIN entries AS e ON e.story_id = s.story_id
    CROSS JOIN entry_authors AS a ON a.entry_key = e.key
    WHERE e.blocked = 0
    GROUP BY s.story_id, a.slug
    """,
)


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
) -> tuple[list[Row], list[str]]:
    """Row 6 for each store size; the ratio column is the cost vs the smallest.

    A store missing from the cache is built first (the 1M one from the 100k).
    """
    try:
        _modules()
    except ImportError as e:
        return [], [f"row 6: feedhub's library API is not importable yet ({e})"]
    if not sizes:
        return [], []
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
    return out, []
