"""Render the HTML index of every feed and one readable preview page per feed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from feedhub import __version__
from feedhub.publish._atom import prepared_entries
from feedhub.publish._text import (
    ATOM_TYPE,
    JSON_FEED_TYPE,
    RSS_TYPE,
    esc,
    utc,
)
from feedhub.types import AuthorSummary, DocLink, FeedDocument, FeedKind, FeedRef

SECTIONS = (
    (FeedKind.ALL, "All", "all"),
    (FeedKind.TOPIC, "Topics", "topics"),
    (FeedKind.VIEW, "Views", "views"),
    (FeedKind.AUTHOR, "Authors", "authors"),
)

#: subscribe buttons: label, extension, media type
FORMATS = (
    ("Atom", "atom", ATOM_TYPE),
    ("RSS", "rss", RSS_TYPE),
    ("JSON", "json", JSON_FEED_TYPE),
)

_CSS = """\
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;\
padding:0 1rem;color:#222;background:#fff}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
ul{list-style:none;padding:0}li{padding:.4rem 0;border-bottom:1px solid #eee}
.meta,.count,.newest{color:#666;font-size:.9rem}\n.newest,.about{display:block}
.sub a{display:inline-block;margin:.1rem .3rem .1rem 0;padding:0 .4rem;\
border:1px solid #c60;border-radius:.3rem;color:#c60;font-size:.8rem;\
text-decoration:none}
article{border-bottom:1px solid #eee;padding:.6rem 0}article h2{margin:.2rem 0}
nav.pages a{margin-right:1rem}footer{margin-top:2rem;color:#666;font-size:.9rem}
@media(prefers-color-scheme:dark){body{color:#ddd;background:#111}a{color:#8cf}\
li,article{border-color:#333}.sub a{color:#fa6;border-color:#fa6}}"""


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _stem(path: str) -> str:
    return path.rsplit(".", 1)[0]


def _page(title: str, head: Sequence[str], body: str, generated_at: datetime) -> bytes:
    when = utc(generated_at, "generated_at").replace(microsecond=0)
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="feedhub {esc(__version__)}">',
        f"<title>{esc(title)}</title>",
        *head,
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        body,
        f'<footer><p>Updated <time datetime="{when.isoformat()}">'
        f"{when:%Y-%m-%d %H:%M} UTC</time> by feedhub.</p></footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def _buttons(base_url: str, path: str) -> str:
    stem = _stem(path)
    links = [
        f'<a href="{esc(_url(base_url, f"{stem}.{ext}"))}" type="{kind}">{label}</a>'
        for label, ext, kind in FORMATS
    ]
    return f'<span class="sub">{" ".join(links)}</span>'


def render_index_html(
    feeds: Sequence[FeedRef],
    *,
    base_url: str,
    title: str,
    generated_at: datetime,
) -> bytes:
    """Render the HTML5 index page listing every published feed.

    Feeds are grouped by kind (All, Topics, Views, Authors), in the given order
    within a group, each with its entry count, newest headline, preview page and
    subscribe links (Atom, RSS, JSON Feed); each Atom feed also gets an
    autodiscovery ``<link rel="alternate">`` in ``<head>``, and each group an
    OPML link. No JavaScript.

    Raises:
        PublishError: ``generated_at`` is naive.
    """
    # Only feeds are announced in <head>: readers autodiscover any alternate.
    head: list[str] = []
    sections = []
    for kind, label, group in SECTIONS:
        refs = [ref for ref in feeds if ref.kind == kind]
        if not refs:
            continue
        items = []
        for ref in refs:
            name = esc(ref.title) or esc(ref.slug)
            atom = esc(_url(base_url, ref.path))
            head.append(
                f'<link rel="alternate" type="{ATOM_TYPE}" title="{name}" '
                f'href="{atom}">'
            )
            noun = "entry" if ref.entry_count == 1 else "entries"
            preview = esc(_url(base_url, _stem(ref.path) + ".html"))
            newest = ""
            if ref.newest_title:
                headline = esc(ref.newest_title)
                if ref.newest_link:
                    headline = f'<a href="{esc(ref.newest_link)}">{headline}</a>'
                newest = f'<span class="newest">Newest: {headline}</span>'
            about = (
                f'<span class="about">{esc(ref.description)}</span>'
                if ref.description
                else ""
            )
            items.append(
                f'<li><a href="{preview}">{name}</a>'
                f' <span class="count">{ref.entry_count} {noun}</span> '
                f"{_buttons(base_url, ref.path)}{about}{newest}</li>"
            )
        opml = esc(_url(base_url, f"{group}.opml"))
        subscribe = (
            ""
            if kind is FeedKind.ALL
            else f'<p class="meta"><a href="{opml}">Subscribe to all '
            f"{label.lower()} (OPML)</a></p>\n"
        )
        sections.append(
            f'<section id="{kind.value}">\n<h2>{label}</h2>\n{subscribe}<ul>\n'
            + "\n".join(items)
            + "\n</ul>\n</section>"
        )
    body = "\n".join(sections) if sections else "<p>No feeds yet.</p>"
    all_opml = esc(_url(base_url, "feeds.opml"))
    authors = esc(_url(base_url, "authors/"))
    main = (
        f"<header><h1>{esc(title)}</h1>\n"
        f'<p class="meta"><a href="{all_opml}">Subscribe to every feed at once '
        f'(OPML)</a> · <a href="{authors}">All authors</a></p></header>\n'
        f"<main>\n{body}\n</main>"
    )
    return _page(title, head, main, generated_at)


def _link(links: Sequence[DocLink], rel: str) -> str | None:
    for link in links:
        if link.rel == rel:
            return link.href
    return None


def render_feed_html(doc: FeedDocument, *, generated_at: datetime) -> bytes:
    """Render a readable HTML page of one feed (or archive page).

    ``doc.self_url`` is the page's own URL; ``doc.links`` give the feed's
    Atom/RSS/JSON twins (rel ``alternate``, announced for autodiscovery and
    offered as subscribe links) and the ``.html`` archive neighbours
    (``prev-archive``: older, ``next-archive``: newer, ``current``).
    Entry HTML was sanitized with an allowlist at ingest.
    """
    head = []
    buttons = []
    for link in doc.links:
        if link.rel == "alternate" and link.type:
            head.append(
                f'<link rel="alternate" type="{esc(link.type)}" '
                f'title="{esc(doc.title)}" href="{esc(link.href)}">'
            )
            label = next((f[0] for f in FORMATS if f[2] == link.type), link.type)
            buttons.append(
                f'<a href="{esc(link.href)}" type="{esc(link.type)}">{label}</a>'
            )
    articles = []
    for item in prepared_entries(doc):
        entry = item.entry
        title = esc(item.title)
        if item.link:
            title = f'<a href="{esc(item.link)}">{title}</a>'
        when = utc(entry.published or entry.updated, "entry.published")
        by = ", ".join(esc(a["name"]) for a in item.authors)
        source = esc(item.source.title or item.source.url)
        if item.source.link:
            source = f'<a href="{esc(item.source.link)}">{source}</a>'
        body = item.summary or item.content or ""
        articles.append(
            f'<article>\n<h2>{title}</h2>\n<p class="meta">{by} · {source} · '
            f'<time datetime="{when.replace(microsecond=0).isoformat()}">'
            f"{when:%Y-%m-%d %H:%M} UTC</time></p>\n{body}\n</article>"
        )
    nav = []
    for rel, label in (
        ("current", "Latest"),
        ("next-archive", "Newer"),
        ("prev-archive", "Older"),
    ):
        href = _link(doc.links, rel)
        if href:
            nav.append(f'<a href="{esc(href)}" rel="{rel}">{label}</a>')
    index = _link(doc.links, "index") or doc.home_url
    subtitle = f"<p>{esc(doc.subtitle)}</p>\n" if doc.subtitle else ""
    main = (
        f'<header><p class="meta"><a href="{esc(index)}">All feeds</a></p>\n'
        f"<h1>{esc(doc.title)}</h1>\n{subtitle}"
        f'<p class="sub">Subscribe: {" ".join(buttons)}</p></header>\n'
        "<main>\n"
        + ("\n".join(articles) if articles else "<p>No entries yet.</p>")
        + "\n</main>\n"
        + (f'<nav class="pages">{" ".join(nav)}</nav>' if nav else "")
    )
    return _page(doc.title, head, main, generated_at)


#: sources named per author on the authors index before "and N more"
_SOURCES_SHOWN = 3


def render_authors_html(
    authors: Sequence[AuthorSummary],
    *,
    base_url: str,
    title: str,
    generated_at: datetime,
) -> bytes:
    """Render the ``/authors/`` page: every published author, in the given order.

    Each author gets their entry count, the sources they write for, the date
    of their newest entry, a link to their preview page and subscribe links
    (Atom, RSS, JSON Feed). Only the OPML of all author feeds is announced in
    ``<head>``: one autodiscovery link per author would swamp a reader.

    Raises:
        PublishError: ``generated_at`` is naive.
    """
    opml = esc(_url(base_url, "authors.opml"))
    head = [
        f'<link rel="alternate" type="text/x-opml" title="{esc(title)}: authors" '
        f'href="{opml}">'
    ]
    items = []
    for author in authors:
        path = f"authors/{author.slug}.atom"
        preview = esc(_url(base_url, f"authors/{author.slug}.html"))
        noun = "entry" if author.entry_count == 1 else "entries"
        shown = ", ".join(esc(s) for s in author.sources[:_SOURCES_SHOWN])
        more = len(author.sources) - _SOURCES_SHOWN
        if more > 0:
            shown += f" and {more} more"
        writes = f'<span class="about">Writes for {shown}</span>' if shown else ""
        kind = ""
        if author.organisation:
            kind = ' <span class="meta">(organisation)</span>'
        newest = utc(author.newest, "author.newest").replace(microsecond=0)
        items.append(
            f'<li id="{esc(author.slug)}"><a href="{preview}">{esc(author.name)}</a>'
            f'{kind} <span class="count">{author.entry_count} {noun}</span> '
            f"{_buttons(base_url, path)}{writes}"
            f'<span class="newest">Newest: <time datetime="{newest.isoformat()}">'
            f"{newest:%Y-%m-%d}</time></span></li>"
        )
    body = (
        "<ul>\n" + "\n".join(items) + "\n</ul>" if items else "<p>No authors yet.</p>"
    )
    count = len(authors)
    main = (
        f'<header><p class="meta"><a href="{esc(_url(base_url, ""))}">All feeds</a>'
        f"</p>\n<h1>Authors</h1>\n"
        f'<p class="meta">{count} author{"" if count == 1 else "s"}, most '
        f'entries first · <a href="{opml}">Subscribe to all authors (OPML)</a>'
        "</p></header>\n"
        f'<main>\n<section id="authors">\n{body}\n</section>\n</main>'
    )
    return _page(f"{title}: authors", head, main, generated_at)
