"""Build pairs.jsonl, the labeled dedupe evaluation set, from the hand-written texts.

Run from the repository root: ``python tests/data/dedupe/build_pairs.py``.
Deterministic (fixed seed); the output is committed, so the test never runs it.
"""

from __future__ import annotations

import html
import itertools
import json
import random
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
FEEDS = HERE.parent / "feeds"

#: clusters whose pairs tune thresholds; the others are held out ("test"), and
#: articles_fresh.txt was written after the thresholds were frozen ("fresh")
DEV = {"openai", "chips", "meta", "security", "cars", "cloud"}


@dataclass(frozen=True)
class Copy:
    """One copy of an article as some outlet's feed carries it."""

    title: str
    content: str | None
    summary: str | None
    link: str
    published: str
    variant: str


@dataclass(frozen=True)
class Article:
    id: str
    cluster: str
    date: datetime
    title: str
    alt: str
    paragraphs: tuple[str, ...]


def read_articles(path: Path) -> dict[str, Article]:
    articles: dict[str, Article] = {}
    text = path.read_text(encoding="utf-8")
    for block in text.split("\n=== ")[1:]:
        head, _, body = block.partition("\n")
        ident, cluster, date = (part.strip() for part in head.split("|"))
        lines = body.strip().split("\n")
        title = lines[0].removeprefix("title: ").strip()
        alt = title
        rest = lines[1:]
        if rest and rest[0].startswith("alt: "):
            alt = rest[0].removeprefix("alt: ").strip()
            rest = rest[1:]
        paragraphs = tuple(
            " ".join(p.split()) for p in "\n".join(rest).split("\n\n") if p.strip()
        )
        articles[ident] = Article(
            ident, cluster, datetime.fromisoformat(date), title, alt, paragraphs
        )
    return articles


def seed_article() -> Article:
    """The seed story (shared/seed/openai-delay-story.txt, copied here)."""
    lines = (HERE / "seed-openai-delay-story.txt").read_text(encoding="utf-8")
    rows = [line.strip() for line in lines.split("\n")]
    end = rows.index("About the Creator")
    body = [r for r in rows[2:end] if r]
    return Article(
        "seed",
        "openai",
        datetime.fromisoformat("2025-07-12T09:30:00+00:00"),
        rows[0],
        "Sam Altman confirms OpenAI's open-source model is delayed indefinitely "
        "over safety concerns",
        tuple(body),
    )


def as_html(paragraphs: list[str]) -> str:
    return "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


OUTLETS = [
    "techwire.example",
    "dailybyte.example",
    "thenewsdesk.example",
    "wire.example",
    "signalnoise.example",
    "metro-tribune.example",
]
AUTHORS = [
    ("Ramsha Riaz", "Ramsha Riaz is a tech and career content writer covering AI."),
    ("Dana Whitfield", "Dana Whitfield writes about chips, cloud and the money in AI."),
    ("Marco Bellini", "Marco Bellini is a freelance reporter based in Milan."),
]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def link(outlet: str, article: Article, tag: str) -> str:
    return f"https://{outlet}/{article.date:%Y/%m/%d}/{slug(article.title)}-{tag}"


def when(article: Article, hours: float) -> str:
    return (article.date + timedelta(hours=hours)).isoformat()


# ---------------------------------------------------------------- wrappers


def vocal(body: str, author: tuple[str, str]) -> str:
    name, bio = author
    return (
        f'{body}\n<p><a href="https://vocal.media/futurism">Subscribe to Futurism '
        f'on Vocal</a></p>\n<div class="creator"><h4>About the Creator</h4>'
        f'<p>{name}</p><p>{bio}</p></div>\n<div class="comments"><h4>Comments</h4>'
        "<p>There are no comments for this story</p><p>Be the first to respond and "
        "start the conversation.</p></div>"
    )


def medium(body: str, author: tuple[str, str]) -> str:
    name, bio = author
    return (
        f"{body}\n<h4>Written by {name}</h4><p>{bio}</p>"
        f"<p>Follow {name.split()[0]} on Medium</p>\n<h3>Responses (3)</h3>"
        "<p>Great summary, thanks for writing this up.</p>"
        "<p>I disagree with the conclusion but the reporting is solid.</p>"
    )


def substack(body: str, author: tuple[str, str]) -> str:
    return (
        "<p>Thanks for reading The Weekly Circuit! Subscribe for free to receive "
        "new posts and support my work.</p>\n"
        f"{body}\n<p>Share</p><p>Leave a comment</p>"
    )


def syndicated(body: str, author: tuple[str, str]) -> str:
    return (
        f"{body}\n<p><em>This story was originally published by The Wire Service "
        "and is republished here with permission.</em></p>"
        '<p>Read more: <a href="https://wire.example/tech">Our full coverage of '
        "technology and business</a></p>"
    )


def unknown_footer(body: str, author: tuple[str, str]) -> str:
    # boilerplate no built-in rule knows: the text must still compare as one
    return (
        f"{body}\n<p>Got a tip? Email our newsroom at tips@metro-tribune.example "
        "or message us securely on Signal.</p><p>© 2025 Metro Tribune Media Group. "
        "All rights reserved. Reproduction without permission is prohibited.</p>"
    )


WRAPPERS = [vocal, medium, substack, syndicated, unknown_footer]

UK = [
    ("percent", "per cent"),
    ("organization", "organisation"),
    ("center", "centre"),
    ("analyze", "analyse"),
    ("favor", "favour"),
    ("program", "programme"),
]


def light_edit(paragraphs: list[str], rng: random.Random) -> list[str]:
    """House-style edits: UK spelling, straight quotes, one typo, a dropped line."""
    edited = []
    for p in paragraphs:
        for us, uk in UK:
            p = p.replace(us, uk)
        p = p.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
        edited.append(p)
    if len(edited) > 4:
        del edited[rng.randrange(2, len(edited) - 1)]
    i = rng.randrange(len(edited))
    edited[i] = edited[i].replace(" the ", " teh ", 1)
    return edited


EXTRA = [
    "Reporting by Jane Okafor in San Francisco; additional reporting by Li Wei in "
    "Beijing; editing by Mark Potter.",
    "This article has been updated to include a comment from the company and to "
    "correct the spelling of a name in the fourth paragraph.",
    "Our newsroom contacted the company for further comment but had not received a "
    "response by the time of publication.",
    "For more on this and other technology stories, sign up for our morning "
    "briefing, which arrives in your inbox every weekday.",
]
DATELINES = ["SAN FRANCISCO (Wire) - ", "LONDON (Wire) - ", "NEW YORK (Wire) - "]


def variants(article: Article, rng: random.Random) -> dict[str, Copy]:
    """The copies of one article that other outlets might carry."""
    paras = list(article.paragraphs)
    outlet = rng.sample(OUTLETS, 6)
    author = rng.choice(AUTHORS)
    wrap = rng.choice(WRAPPERS)
    keep = max(2, round(len(paras) * 0.6))
    extended = [rng.choice(DATELINES) + paras[0], *paras[1:], *rng.sample(EXTRA, 2)]
    copies = {
        "original": Copy(
            article.title,
            as_html(paras),
            None,
            link(outlet[0], article, "o"),
            when(article, 0),
            "original",
        ),
        "wrapped": Copy(
            article.alt,
            wrap(as_html(paras), author),
            None,
            link(outlet[1], article, "w"),
            when(article, rng.uniform(1, 8)),
            f"wrapped:{wrap.__name__}",
        ),
        "trimmed": Copy(
            rng.choice([article.title, article.alt]),
            as_html(paras[:keep]) + f"\n<p>Continue reading at {outlet[2]}</p>",
            None,
            link(outlet[2], article, "t"),
            when(article, rng.uniform(0.5, 6)),
            "trimmed",
        ),
        "extended": Copy(
            article.title,
            as_html(extended),
            None,
            link(outlet[3], article, "e"),
            when(article, rng.uniform(0.2, 3)),
            "extended",
        ),
        "edited": Copy(
            article.alt,
            as_html(light_edit(paras, rng)),
            None,
            link(outlet[4], article, "d"),
            when(article, rng.uniform(1, 12)),
            "edited",
        ),
        "excerpt": Copy(
            article.title,
            None,
            as_html([paras[0]]),
            link(outlet[5], article, "x"),
            when(article, rng.uniform(0, 2)),
            "excerpt",
        ),
    }
    return copies


# ---------------------------------------------------------------- pairs


def pair(
    kind: str, label: bool, split: str, a: Copy, b: Copy, note: str = ""
) -> dict[str, Any]:
    return {
        "kind": kind,
        "label": label,
        "split": split,
        "note": note,
        "a": a.__dict__,
        "b": b.__dict__,
    }


def seed_copies() -> list[Copy]:
    """The seed story as three platforms carry it (the repo's feed fixtures)."""
    seed_txt = (HERE / "seed-openai-delay-story.txt").read_text(encoding="utf-8")
    lines = seed_txt.split("\n")
    rss = json.loads((FEEDS / "seed-rss.expected.json").read_text(encoding="utf-8"))
    atom = json.loads((FEEDS / "seed-atom.expected.json").read_text(encoding="utf-8"))
    vocal_entry = next(e for e in rss["entries"] if "Comments" in (e["content"] or ""))
    wire_entry = atom["entries"][0]
    return [
        Copy(
            lines[0],
            seed_txt,
            None,
            "https://blog.example/altman-delay",
            "2025-07-12T09:30:00+00:00",
            "seed-text",
        ),
        Copy(
            vocal_entry["title"],
            vocal_entry["content"],
            vocal_entry["summary"],
            "https://vocal.media/futurism/sam-altman-confirms",
            "2025-07-12T09:30:00+00:00",
            "seed-vocal",
        ),
        Copy(
            wire_entry["title"],
            wire_entry["content"],
            wire_entry["summary"],
            "https://techwire.example/2025/07/12/openai-delay",
            "2025-07-12T11:05:00+00:00",
            "seed-techwire",
        ),
    ]


def build() -> list[dict[str, Any]]:
    rng = random.Random(6)
    articles = read_articles(HERE / "articles.txt")
    articles["seed"] = seed_article()
    rewrites = read_articles(HERE / "rewrites.txt")
    fresh = read_articles(HERE / "articles_fresh.txt")
    articles.update(fresh)
    rewrites.update(read_articles(HERE / "rewrites_fresh.txt"))
    copies = {ident: variants(a, rng) for ident, a in sorted(articles.items())}
    split = {
        ident: "fresh" if ident in fresh else "dev" if a.cluster in DEV else "test"
        for ident, a in articles.items()
    }
    pairs: list[dict[str, Any]] = []

    # true duplicates: every variant against the original, and two variants
    for ident, c in copies.items():
        s = split[ident]
        for name in ("wrapped", "trimmed", "extended", "edited", "excerpt"):
            pairs.append(pair(name, True, s, c["original"], c[name]))
        pairs.append(pair("wrapped-vs-trimmed", True, s, c["wrapped"], c["trimmed"]))
        pairs.append(pair("excerpt-vs-wrapped", True, s, c["excerpt"], c["wrapped"]))
    # true duplicates told by the link alone: tracking parameters, AMP, origLink
    for ident in sorted(copies)[::3]:
        c, s = copies[ident], split[ident]
        base = c["original"].link
        pairs.append(
            pair(
                "utm-link",
                True,
                s,
                c["original"],
                replace(
                    c["excerpt"],
                    link=base + "?utm_source=rss&utm_medium=feed&fbclid=x1",
                ),
            )
        )
        pairs.append(
            pair(
                "amp-link",
                True,
                s,
                c["original"],
                replace(c["excerpt"], link=base + "/amp"),
            )
        )
        pairs.append(
            pair(
                "amp-cache-link",
                True,
                s,
                c["original"],
                replace(
                    c["excerpt"],
                    link="https://www.google.com/amp/s/"
                    + base.removeprefix("https://"),
                ),
            )
        )
    # another outlet's own rewrite of the same news
    for ident, rewrite in sorted(rewrites.items()):
        paras = list(rewrite.paragraphs)
        copy = Copy(
            rewrite.title,
            as_html(paras),
            None,
            link("rewrites.example", rewrite, "r"),
            rewrite.date.isoformat(),
            "rewrite",
        )
        pairs.append(
            pair("rewrite", True, split[ident], copies[ident]["original"], copy)
        )
    # the seed story on three platforms
    for a, b in itertools.combinations(seed_copies(), 2):
        pairs.append(pair("seed-platforms", True, "dev", a, b))

    # hard negatives: different stories on the same subject, same day
    by_cluster: dict[str, list[str]] = {}
    for ident, article in sorted(articles.items()):
        by_cluster.setdefault(article.cluster, []).append(ident)
    for _cluster, members in sorted(by_cluster.items()):
        for x, y in itertools.combinations(members, 2):
            s = split[x]
            cx, cy = copies[x], copies[y]
            pairs.append(pair("same-subject", False, s, cx["original"], cy["original"]))
            # both wrapped by one platform: shared boilerplate must not merge them
            wrap = rng.choice(WRAPPERS)
            author = AUTHORS[0]
            wx = replace(
                cx["original"], content=wrap(cx["original"].content or "", author)
            )
            wy = replace(
                cy["original"], content=wrap(cy["original"].content or "", author)
            )
            pairs.append(pair("same-subject-same-platform", False, s, wx, wy))
            pairs.append(
                pair("same-subject-excerpt", False, s, cx["excerpt"], cy["original"])
            )
            pairs.append(
                pair("same-subject-wire", False, s, cx["extended"], cy["extended"])
            )
    # follow-ups that quote the first story
    followups = {
        "openai-followup": "seed",
        "euai-followup": "euai-code",
        "sharepoint-followup": "sharepoint-vuln",
        "nvidia-followup": "nvidia-value",
        "grok-followup": "grok-controversy",
        "oracle-followup": "openai-oracle",
        "energy-followup": "energy-nuclear",
    }
    for follow, first in followups.items():
        s = split[first]
        for name in ("excerpt", "trimmed", "wrapped", "edited"):
            pairs.append(
                pair(
                    "follow-up-quotes",
                    False,
                    s,
                    copies[first][name],
                    copies[follow]["original"],
                    f"{follow} quotes {first}",
                )
            )
    # easy negatives: unrelated stories from one platform
    idents = sorted(articles)
    for i in range(12):
        x, y = rng.sample(idents, 2)
        if articles[x].cluster == articles[y].cluster:
            continue
        wrap = WRAPPERS[i % len(WRAPPERS)]
        wx = replace(
            copies[x]["original"],
            content=wrap(copies[x]["original"].content or "", AUTHORS[1]),
        )
        wy = replace(
            copies[y]["original"],
            content=wrap(copies[y]["original"].content or "", AUTHORS[1]),
        )
        pairs.append(pair("unrelated-same-platform", False, split[x], wx, wy))
    for i, p in enumerate(pairs):
        p["id"] = i
    return pairs


def main() -> None:
    pairs = build()
    out = HERE / "pairs.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p, ensure_ascii=False, sort_keys=True) + "\n")
    pos = sum(p["label"] for p in pairs)
    print(f"{out}: {len(pairs)} pairs, {pos} duplicates, {len(pairs) - pos} not")


if __name__ == "__main__":
    main()
