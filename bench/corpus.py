"""Deterministic generator of a realistic feed corpus with syndication ground truth.

``generate(spec, out_dir)`` writes N feeds x M entries under ``out_dir/feeds/``: a mix
of RSS 2.0 (``content:encoded``, ``dc:creator``, categories), Atom 1.0 (html and xhtml
content, ``xml:base`` with relative links) and JSON Feed 1.1. Article bodies are 2 to
6 KB of news-page HTML. About 10% of stories are syndicated into 2 to 4 feeds under
other titles and links and with lightly edited bodies; ``truth.json`` lists every copy.
The same spec always gives the same bytes: every value comes from a ``random.Random``
seeded by the spec seed and the position of what it generates, never from the clock.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from bench import _words

#: bump when the output changes, so cached corpora are rebuilt
VERSION = 3
#: every date is relative to this instant, never to the clock
EPOCH = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
#: share of feeds in each format; Atom is split between html and xhtml content
FORMATS = (("rss", 50), ("atom-html", 20), ("atom-xhtml", 15), ("json", 15))
EXTENSIONS = {
    "rss": ".rss",
    "atom-html": ".atom",
    "atom-xhtml": ".atom",
    "json": ".json",
}
#: Content-Type served per extension (RSS has no registered type; this is common use)
CONTENT_TYPES = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/feed+json",
}


@dataclass(frozen=True, slots=True)
class CorpusSpec:
    #: number of feeds
    feeds: int = 1000
    #: entries per feed
    entries: int = 20
    seed: int = 1
    #: share of stories published in 2 to 4 feeds
    syndicated: float = 0.10

    @property
    def name(self) -> str:
        return f"corpus-v{VERSION}-{self.feeds}x{self.entries}-s{self.seed}"


@dataclass(frozen=True, slots=True)
class FeedPlan:
    index: int
    #: path relative to the corpus root, e.g. "feeds/f00001.rss"
    path: str
    format: str
    title: str
    #: the outlet's web host; links point there (RFC 2606 .example names)
    host: str
    authors: tuple[str, ...]
    #: (story number, copy number) per entry; copy 0 is the original
    slots: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Plan:
    spec: CorpusSpec
    feeds: tuple[FeedPlan, ...]
    #: story number -> feed index of every copy, original first (syndicated only)
    syndicated: dict[int, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    link: str
    title: str
    summary: str
    #: HTML with named entities and absolute links
    body: str
    author: str
    categories: tuple[str, ...]
    published: datetime
    updated: datetime


@functools.cache
def vocabulary() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Words and Zipf cumulative weights: common English words, then a long tail.

    Real text draws from thousands of words with a Zipf distribution (the top 100
    make about half of all tokens); a small uniform vocabulary would make unrelated
    articles share word shingles and look like near-duplicates.
    """
    rng = random.Random(20261101)
    words = list(_words.WORDS)
    seen = set(words)
    while len(words) < 8000:
        word = "".join(rng.choices(_words.SYLLABLES, k=rng.choice((2, 2, 3, 3, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    cum, total = [], 0.0
    for rank in range(1, len(words) + 1):
        total += 1 / rank
        cum.append(total)
    return tuple(words), tuple(cum)


def draw_words(rng: random.Random, k: int) -> list[str]:
    """``k`` words drawn from the Zipf vocabulary."""
    vocab, cum = vocabulary()
    return rng.choices(vocab, cum_weights=cum, k=k)


def _tail_word(rng: random.Random) -> str:
    """A rarer word (rank 150 and beyond), as names and nouns in headlines are."""
    vocab, _ = vocabulary()
    # log-uniform rank: rarer words are individually rarer, yet many are used
    return vocab[int(150 * (len(vocab) / 150) ** rng.random()) - 1]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _rng(spec: CorpusSpec, *parts: int) -> random.Random:
    seed = spec.seed
    for part in parts:
        seed = seed * 1_000_003 + part
    return random.Random(seed)


def make_plan(spec: CorpusSpec) -> Plan:
    """Decide every feed's format, outlet, authors and which story fills each slot."""
    rng = random.Random(spec.seed)
    pool = sorted(
        {f"{a} {b}" for a in _words.FIRST_NAMES for b in _words.LAST_NAMES},
    )
    rng.shuffle(pool)
    # Authors are shared across feeds: far fewer of them than feeds, and each feed
    # draws from the same pool (wire reporters, columnists writing for several sites).
    pool = pool[: max(8, min(len(pool), spec.feeds // 4))]
    names = [name for name, _ in FORMATS]
    weights = [weight for _, weight in FORMATS]
    n, m = spec.feeds, spec.entries
    grid: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    syndicated: dict[int, tuple[int, ...]] = {}
    story = 0
    if n >= 2 and m >= 1:
        # stories U with 10% in ~3 copies fill T slots: U * (0.9 + 0.1 * 3) = T
        target = round(spec.syndicated * n * m / (1 + 2 * spec.syndicated))
        for _ in range(target):
            copies = min(rng.randint(2, 4), n)
            chosen = [i for i in rng.sample(range(n), copies) if len(grid[i]) < m - 1]
            if len(chosen) < 2:
                continue
            for c, i in enumerate(chosen):
                grid[i].append((story, c))
            syndicated[story] = tuple(chosen)
            story += 1
    for i in range(n):
        while len(grid[i]) < m:
            grid[i].append((story, 0))
            story += 1
    feeds = []
    for i in range(n):
        frng = _rng(spec, 1, i)
        fmt = frng.choices(names, weights)[0]
        outlet = f"{_words.OUTLETS[i % len(_words.OUTLETS)]} {i + 1}"
        feeds.append(
            FeedPlan(
                index=i,
                path=f"feeds/f{i + 1:05d}{EXTENSIONS[fmt]}",
                format=fmt,
                title=outlet,
                host=f"www.{_slug(outlet)}.example",
                authors=tuple(frng.sample(pool, min(len(pool), frng.randint(2, 5)))),
                slots=tuple(grid[i]),
            )
        )
    return Plan(spec=spec, feeds=tuple(feeds), syndicated=syndicated)


def _sentence(rng: random.Random, keyword: str, host: str) -> str:
    words = draw_words(rng, rng.randint(8, 20))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), keyword)
    if rng.random() < 0.25:
        i = rng.randrange(len(words))
        href = f"https://{host}/{_slug(words[i])}/{rng.randint(100, 99999)}"
        words[i] = f'<a href="{href}">{words[i]}</a>'
    if rng.random() < 0.35:
        words.insert(
            rng.randrange(1, len(words) + 1), rng.choice(list(_words.ENTITIES))
        )
    if rng.random() < 0.1:
        i = rng.randrange(len(words))
        words[i] = f"<em>{words[i]}</em>"
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice((".", ".", ".", "?", "&hellip;"))


def _body(rng: random.Random, keyword: str, host: str, story: int) -> list[str]:
    """Blocks of a 2 to 6 KB news article, as a CMS renders it."""
    target = rng.randint(2048, 6144)
    blocks: list[str] = []
    size = 0
    n = 0
    while size < target:
        n += 1
        kind = rng.random()
        if kind < 0.62 or n == 1:
            sents = " ".join(
                _sentence(rng, keyword, host) for _ in range(rng.randint(2, 5))
            )
            block = f"<p>{sents}</p>"
        elif kind < 0.74:
            name = f"{rng.choice(_words.FIRST_NAMES)} {rng.choice(_words.LAST_NAMES)}"
            block = (
                f'<figure><img src="https://cdn.{host}/img/{story}-{n}.jpg" '
                f'alt="{" ".join(draw_words(rng, 5))}" width="800" '
                f'height="450" loading="lazy" /><figcaption>'
                f"{_sentence(rng, keyword, host)} Photo: {escape(name)}"
                f"</figcaption></figure>"
            )
        elif kind < 0.82:
            heading = " ".join(draw_words(rng, rng.randint(3, 7)))
            block = f"<h2>{heading.capitalize()}</h2>"
        elif kind < 0.9:
            quote = _sentence(rng, keyword, host)
            block = f"<blockquote><p>&ldquo;{quote}&rdquo;</p></blockquote>"
        elif kind < 0.96:
            items = "".join(
                f"<li>{_sentence(rng, keyword, host)}</li>"
                for _ in range(rng.randint(2, 4))
            )
            block = f"<ul>{items}</ul>"
        elif kind < 0.98:
            block = (
                f'<p><iframe src="https://video.{host}/embed/{story}-{n}" '
                f'width="640" height="360" allowfullscreen="allowfullscreen">'
                f"</iframe></p>"
            )
        else:
            # tracking pixels are everywhere in real feeds; sanitizers meet them
            block = (
                f'<p><img src="https://stats.{host}/pixel.gif?a={story}" '
                f'width="1" height="1" alt="" /></p>'
            )
        blocks.append(block)
        size += len(block)
    return blocks


def _title(rng: random.Random, keyword: str) -> str:
    fields = {
        "kw": keyword,
        "Kw": keyword[0].upper() + keyword[1:],
        "verb": rng.choice(_words.VERBS),
        "verb2": rng.choice(_words.VERBS),
        "noun": _tail_word(rng),
        "noun2": f"{_tail_word(rng)} {_tail_word(rng)}",
        "Noun": f"{_tail_word(rng).capitalize()} {_tail_word(rng)}",
    }
    return rng.choice(_words.TITLE_TEMPLATES).format(**fields)


def make_entry(plan: Plan, feed: int, story: int, copy: int, gen: int = 0) -> Entry:
    """The entry of ``story`` as feed ``feed`` publishes it (copy 0 is the original).

    ``gen`` > 0 makes a fresh story for a mutation round (see ``mutate``).
    """
    spec = plan.spec
    srng = _rng(spec, 2, story, gen)
    topics = sorted(_words.TOPICS)
    topic = srng.choice(topics)
    keyword = srng.choice(_words.TOPICS[topic][1])
    origin_feed = plan.syndicated.get(story, (feed,))[0] if gen == 0 else feed
    origin = plan.feeds[origin_feed]
    title = _title(srng, keyword)
    day = EPOCH - timedelta(seconds=srng.randint(0, 30 * 86400))
    if gen:
        day = EPOCH + timedelta(hours=gen, seconds=srng.randint(0, 3000))
    slug = _slug(title)[:60]
    link = f"https://{origin.host}/{day:%Y/%m/%d}/{slug}-{story}"
    blocks = _body(srng, keyword, origin.host, story)
    author = srng.choice(origin.authors)
    extra = [_tail_word(srng), _tail_word(srng)]
    categories = (_words.TOPICS[topic][0], *extra)
    published = day
    if copy:
        crng = _rng(spec, 3, story, copy)
        own = plan.feeds[feed]
        published = day + timedelta(seconds=copy * crng.randint(300, 6 * 3600))
        title = crng.choice(
            (
                f"{title} | {own.title}",
                f"{own.title}: {title}",
                f"UPDATED: {title}",
                f"{title}, sources say",
                f"{title} (report)",
            )
        )
        if crng.random() < 0.5:
            link += f"?utm_source={_slug(own.title)}&utm_medium=rss&utm_campaign=wire"
        else:
            link = f"https://{own.host}/syndicated/{day:%Y/%m}/{slug}?ref=rss"
        # light edits: a word swapped, the last block dropped, a credit line added
        i = crng.randrange(len(blocks))
        blocks[i] = blocks[i].replace(" the ", " this ", 1)
        if len(blocks) > 3 and crng.random() < 0.5:
            blocks.pop()
        credit = f"This story originally appeared in {escape(origin.title)}."
        blocks.append(f"<p><em>{credit}</em></p>")
        author = crng.choice((author, author, *own.authors))
    body = "".join(blocks)
    summary = re.sub(r"<[^>]+>", "", blocks[0])[:280]
    own_host = plan.feeds[feed].host
    n = f"{story}-{copy}" if not gen else f"g{gen}-{story}"
    entry_id = {
        "rss": link if (story + copy) % 3 else f"tag:{own_host},2026:{n}",
        "json": link if story % 2 else f"{own_host}/{n}",
    }.get(plan.feeds[feed].format, f"tag:{own_host},2026-11:entry/{n}")
    return Entry(
        id=entry_id,
        link=link,
        title=title,
        summary=summary,
        body=body,
        author=author,
        categories=categories,
        published=published,
        updated=published + timedelta(minutes=(story * 7) % 90),
    )


def feed_entries(plan: Plan, feed: int, gen: int = 0, fresh: int = 0) -> list[Entry]:
    """Entries of one feed, newest first; ``fresh`` new stories for round ``gen``."""
    fp = plan.feeds[feed]
    entries = [make_entry(plan, feed, s, c) for s, c in fp.slots]
    base = 1_000_000_000 + feed * 1000
    new = [make_entry(plan, feed, base + k, 0, gen) for k in range(fresh)]
    entries.sort(key=lambda e: (e.published, e.id), reverse=True)
    return (new + entries)[: len(fp.slots)]


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _render_rss(fp: FeedPlan, entries: list[Entry]) -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>{escape(fp.title)}</title>\n<link>https://{fp.host}/</link>\n"
        f"<description>Latest news from {escape(fp.title)}</description>\n"
        "<language>en</language>\n<ttl>30</ttl>\n"
        f"<lastBuildDate>{format_datetime(entries[0].updated, usegmt=True)}"
        "</lastBuildDate>\n"
    ]
    for e in entries:
        perma = "true" if e.id == e.link else "false"
        cats = "".join(f"<category>{escape(c)}</category>" for c in e.categories)
        out.append(
            f"<item>\n<title>{escape(e.title)}</title>\n<link>{escape(e.link)}</link>\n"
            f'<guid isPermaLink="{perma}">{escape(e.id)}</guid>\n'
            f"<pubDate>{format_datetime(e.published, usegmt=True)}</pubDate>\n"
            f"<dc:creator>{escape(e.author)}</dc:creator>\n{cats}\n"
            f"<description>{escape(e.summary)}</description>\n"
            f"<content:encoded><![CDATA[{e.body}]]></content:encoded>\n</item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return "".join(out)


def _render_atom(fp: FeedPlan, entries: list[Entry], xhtml: bool) -> str:
    base = f"https://{fp.host}/"
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{base}" xml:lang="en">\n'
        f"<id>tag:{fp.host},2026:feed</id>\n<title>{escape(fp.title)}</title>\n"
        f"<updated>{_iso(entries[0].updated)}</updated>\n"
        '<link rel="alternate" type="text/html" href="/"/>\n'
    ]
    for e in entries:
        # RFC 4287 §2 / XML Base: links on the outlet's own host become relative and
        # resolve against xml:base, as many CMSes emit them
        body = e.body.replace(base, "/")
        link = e.link.replace(base, "/")
        if xhtml:
            # named HTML entities are undefined in XHTML content (XML 1.0 §4.6)
            for named, numeric in _words.ENTITIES.items():
                body = body.replace(named, numeric)
            content = (
                '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
                f"{body}</div></content>"
            )
        else:
            content = f'<content type="html">{escape(body)}</content>'
        cats = "".join(f"<category term={quoteattr(c)}/>" for c in e.categories)
        out.append(
            f"<entry>\n<id>{escape(e.id)}</id>\n<title>{escape(e.title)}</title>\n"
            f'<link rel="alternate" type="text/html" href={quoteattr(link)}/>\n'
            f"<published>{_iso(e.published)}</published>\n"
            f"<updated>{_iso(e.updated)}</updated>\n"
            f"<author><name>{escape(e.author)}</name></author>\n{cats}\n"
            f'<summary type="text">{escape(e.summary)}</summary>\n{content}\n'
            "</entry>\n"
        )
    out.append("</feed>\n")
    return "".join(out)


def _render_json(fp: FeedPlan, entries: list[Entry]) -> str:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": fp.title,
        "home_page_url": f"https://{fp.host}/",
        "language": "en",
        "authors": [{"name": a} for a in fp.authors],
        "items": [
            {
                "id": e.id,
                "url": e.link,
                "title": e.title,
                "content_html": e.body,
                "summary": e.summary,
                "date_published": _iso(e.published),
                "date_modified": _iso(e.updated),
                "authors": [{"name": e.author}],
                "tags": list(e.categories),
            }
            for e in entries
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def render_feed(plan: Plan, feed: int, gen: int = 0, fresh: int = 0) -> bytes:
    """The bytes of one feed file."""
    fp = plan.feeds[feed]
    entries = feed_entries(plan, feed, gen, fresh)
    if fp.format == "rss":
        text = _render_rss(fp, entries)
    elif fp.format == "json":
        text = _render_json(fp, entries)
    else:
        text = _render_atom(fp, entries, xhtml=fp.format == "atom-xhtml")
    return text.encode("utf-8")


def iter_files(plan: Plan) -> Iterator[tuple[str, bytes]]:
    """Every file of the corpus as (relative path, bytes), manifest and truth last."""
    for fp in plan.feeds:
        yield fp.path, render_feed(plan, fp.index)
    manifest = {
        "version": VERSION,
        "spec": {
            "feeds": plan.spec.feeds,
            "entries": plan.spec.entries,
            "seed": plan.spec.seed,
        },
        "feeds": [
            {
                "path": fp.path,
                "format": fp.format,
                "title": fp.title,
                "authors": list(fp.authors),
            }
            for fp in plan.feeds
        ],
    }
    yield "manifest.json", json.dumps(manifest, indent=1).encode()
    yield "truth.json", json.dumps(truth(plan), indent=1).encode()


def truth(plan: Plan) -> dict[str, object]:
    """Ground truth of syndication: every copy of every syndicated story."""
    stories = []
    for story, feeds in sorted(plan.syndicated.items()):
        copies = []
        for c, f in enumerate(feeds):
            e = make_entry(plan, f, story, c)
            copies.append(
                {
                    "feed": plan.feeds[f].path,
                    "id": e.id,
                    "link": e.link,
                    "title": e.title,
                }
            )
        stories.append({"story": story, "copies": copies})
    total = sum(len(fp.slots) for fp in plan.feeds)
    return {"entries": total, "syndicated_stories": len(stories), "stories": stories}


def write_atomic(path: Path, data: bytes, mtime: float | None = None) -> None:
    """Replace ``path`` by rename, so a hard-linked original stays untouched."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.replace(tmp, path)


def generate(spec: CorpusSpec, out_dir: Path) -> Plan:
    """Write the corpus to ``out_dir`` (created) and return its plan."""
    plan = make_plan(spec)
    (out_dir / "feeds").mkdir(parents=True, exist_ok=True)
    # a fixed mtime keeps Last-Modified/ETag reproducible across regenerations
    mtime = EPOCH.timestamp()
    for rel, data in iter_files(plan):
        write_atomic(out_dir / rel, data, mtime)
    return plan


def mutate(plan: Plan, root: Path, gen: int, fraction: float = 0.1) -> list[str]:
    """Publish 2 new entries in ``fraction`` of the feeds under ``root``.

    Each changed file gets an mtime one minute later per round, so a server's
    Last-Modified and ETag change even within the same second (nginx derives its
    ETag from mtime and size).

    Returns:
        The relative paths changed.
    """
    rng = _rng(plan.spec, 4, gen)
    count = max(1, round(len(plan.feeds) * fraction))
    chosen = sorted(rng.sample(range(len(plan.feeds)), count))
    mtime = EPOCH.timestamp() + 60 * gen
    for i in chosen:
        write_atomic(root / plan.feeds[i].path, render_feed(plan, i, gen, 2), mtime)
    return [plan.feeds[i].path for i in chosen]
