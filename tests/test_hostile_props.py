"""Property test (issue 8): generated hostile RSS, Atom and JSON feeds go through
parse, normalize, clean, curate and publish; every published format stays
well-formed, bounded in size relative to the input, and free of active content."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedhub import curate, publish
from feedhub.exceptions import ParseError
from feedhub.pipeline import prepare_update
from feedhub.types import (
    FetchResult,
    Match,
    SourceInfo,
    StoredEntry,
    TopicConfig,
)
from tests import hostile_server as hs

NOW = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)
URL = "http://feeds.example/hostile.xml"
BASE = "http://feedhub.example/"
VECTORS = tuple(
    line
    for line in (Path(__file__).parent / "data" / "hostile" / "script.html")
    .read_text(encoding="utf-8")
    .splitlines()
    if line
)
RULES = curate.compile_rules(
    (TopicConfig("t", "T", Match(any=("script", "alert", "a"))),)
)
#: published bytes allowed per input byte (escaping, several formats' copies
#: are per format, summary and content both carried), plus a fixed allowance
RATIO, ALLOWANCE = 12, 64 * 1024

SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------- strategies

#: any code point, surrogates and controls included
any_char = st.characters(codec=None, categories=None)
hostile_bits = st.one_of(
    st.sampled_from(VECTORS),
    st.sampled_from(
        [
            "<",
            ">",
            "&",
            '"',
            "'",
            "&#0;",
            "&#xD800;",
            "&#x110000;",
            "&amp;#1;",
            "]]>",
            "<![CDATA[",
            "-->",
            "<!--",
            "\x00",
            "\x0b",
            "\x85",
            "\ud800",
            "\ufffe",
            "\u202e",
            "<script>",
            "</script>",
            "<svg/onload=alert(1)>",
            "<a href='javascript:alert(1)'>",
            'style="x:expression(alert(1))"',
            "<img srcset='javascript:x 1x'>",
        ]
    ),
    st.text(any_char, max_size=30),
)
hostile_text = st.lists(hostile_bits, max_size=8).map("".join)
big_text = st.one_of(
    hostile_text,
    st.tuples(hostile_text, st.integers(1, 20_000)).map(
        lambda t: t[0] * 3 + "x" * t[1]
    ),
)
bad_url = st.one_of(
    st.sampled_from(
        [
            "javascript:alert(1)",
            " JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "java\x00script:alert(1)",
            "vbscript:msgbox(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "//evil.example/x",
            "http://",
            "http://[::1",
            "relative/path",
            "http://ok.example/a b",
            "https://ok.example/ok",
        ]
    ),
    st.text(any_char, max_size=20),
    st.text(any_char, max_size=10).map(lambda t: "javascript:" + t),
)
date_text = st.one_of(
    st.sampled_from(
        [
            "Sat, 01 Jan 0000 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 -1400",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-14:00",
            "2025-07-14T10:00:00Z",
            "Mon, 14 Jul 2025 10:00:00 GMT",
        ]
    ),
    st.text(any_char, max_size=20),
)


@st.composite
def entries(draw: st.DrawFn) -> dict[str, str]:
    return {
        "id": draw(st.one_of(hostile_text, bad_url)),
        "title": draw(big_text),
        "link": draw(bad_url),
        "html": draw(big_text),
        "text": draw(hostile_text),
        "author": draw(hostile_text),
        "author_url": draw(bad_url),
        "category": draw(hostile_text),
        "enclosure": draw(bad_url),
        "base": draw(bad_url),
        "date": draw(date_text),
    }


feeds = st.fixed_dictionaries(
    {
        "format": st.sampled_from(["rss", "atom", "json"]),
        "title": hostile_text,
        "link": bad_url,
        "icon": bad_url,
        "cdata": st.booleans(),
        "entries": st.lists(entries(), max_size=5),
    }
)

# ---------------------------------------------------------------- documents

Feed = dict[str, Any]


def x(text: str) -> str:
    """Escape for XML text or a double-quoted attribute; controls stay raw."""
    return escape(text, {'"': "&quot;"})


def html_field(text: str, cdata: bool) -> str:
    if cdata:
        return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    return x(text)


def rss(feed: Feed) -> str:
    items = "".join(
        f"<item><guid>{x(e['id'])}</guid><title>{x(e['title'])}</title>"
        f"<link>{x(e['link'])}</link>"
        f"<description>{html_field(e['html'], feed['cdata'])}</description>"
        f"<content:encoded>{html_field(e['text'], feed['cdata'])}</content:encoded>"
        f"<dc:creator>{x(e['author'])}</dc:creator><category>{x(e['category'])}"
        f'</category><enclosure url="{x(e["enclosure"])}" type="audio/mpeg" '
        f'length="1"/><pubDate>{x(e["date"])}</pubDate></item>'
        for e in feed["entries"]
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{x(feed['title'])}</title><link>{x(feed['link'])}</link>"
        f"<description>{x(feed['title'])}</description>"
        f"<image><url>{x(feed['icon'])}</url></image>{items}</channel></rss>"
    )


def atom(feed: Feed) -> str:
    items = "".join(
        f'<entry xml:base="{x(e["base"])}"><id>{x(e["id"])}</id>'
        f'<title type="html">{x(e["title"])}</title><link href="{x(e["link"])}"/>'
        f'<link rel="enclosure" href="{x(e["enclosure"])}"/>'
        f"<author><name>{x(e['author'])}</name><uri>{x(e['author_url'])}</uri>"
        f'</author><category term="{x(e["category"])}"/>'
        f"<updated>{x(e['date'])}</updated>"
        f'<summary type="text">{x(e["text"])}</summary>'
        f'<content type="html" xml:base="{x(e["base"])}">{x(e["html"])}</content>'
        "</entry>"
        for e in feed["entries"]
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f'<title type="html">{x(feed["title"])}</title>'
        f'<link href="{x(feed["link"])}"/><icon>{x(feed["icon"])}</icon>'
        f"<logo>{x(feed['icon'])}</logo>{items}</feed>"
    )


def jsonfeed(feed: Feed) -> str:
    items = [
        {
            "id": e["id"],
            "url": e["link"],
            "external_url": e["base"],
            "title": e["title"],
            "content_html": e["html"],
            "content_text": e["text"],
            "summary": e["text"],
            "image": e["enclosure"],
            "date_published": e["date"],
            "authors": [{"name": e["author"], "url": e["author_url"]}],
            "tags": [e["category"]],
            "attachments": [{"url": e["enclosure"], "mime_type": "audio/mpeg"}],
        }
        for e in feed["entries"]
    ]
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": feed["title"],
            "home_page_url": feed["link"],
            "icon": feed["icon"],
            "items": items,
        }
    )


def document_bytes(feed: Feed) -> tuple[bytes, str]:
    if feed["format"] == "json":
        # json.dumps escapes lone surrogates as \\ud800, which is valid JSON
        return jsonfeed(feed).encode("ascii"), "application/feed+json"
    text = rss(feed) if feed["format"] == "rss" else atom(feed)
    # lone surrogates become invalid UTF-8 bytes: hostile too
    return text.encode("utf-8", "surrogatepass"), "application/xml"


# ---------------------------------------------------------------- the property


def publish_all_formats(body: bytes, content_type: str) -> dict[str, bytes]:
    """Run a body through the pipeline's pure stages; render every format."""
    result = FetchResult(URL, URL, 200, {"content-type": content_type}, body)
    prepared = prepare_update(result, 1, ("t",), RULES)
    info = SourceInfo(
        id=prepared.feed.id or URL,
        title=prepared.feed.title or URL,
        url=URL,
        link=prepared.feed.link,
        authors=prepared.feed.authors,
        rights=prepared.feed.rights,
        categories=prepared.feed.categories,
    )
    stories = [
        (
            StoredEntry(
                key=u.identity.key,
                source_id=1,
                data=u.data,
                canonical_link=u.identity.canonical_link,
                content_hash=u.identity.content_hash,
                story_id=u.identity.story_id,
                first_seen_at=NOW,
                last_changed_at=NOW,
                topics=tuple(t.topic for t in u.topics),
                authors=u.authors,
            ),
            (),
        )
        for u in prepared.entries
    ]
    published = publish.published_entries(stories, lambda _id: info)
    rendered: dict[str, bytes] = {}
    for ext in ("atom", "rss", "json", "html"):
        doc = publish.document(
            base_url=BASE,
            stem="topics/t",
            title=prepared.feed.title or "T",
            subtitle=prepared.feed.subtitle,
            entries=published,
            page=publish.Page(None, 0, True),
            ext=ext,
        )
        if ext == "atom":
            rendered[ext] = publish.render_atom(doc)
        elif ext == "rss":
            rendered[ext] = publish.render_rss(doc)
        elif ext == "json":
            rendered[ext] = publish.render_json_feed(doc)
        else:
            rendered[ext] = publish.render_feed_html(doc, generated_at=NOW)
    return rendered


@SETTINGS
@given(feeds)
def test_hostile_feeds_publish_well_formed_bounded_and_script_free(feed) -> None:
    body, content_type = document_bytes(feed)
    try:
        rendered = publish_all_formats(body, content_type)
    except ParseError:
        return  # refusing a document is a fine answer; crashing is not
    for ext, out in rendered.items():
        if ext in ("atom", "rss"):
            ET.fromstring(out)  # well-formed, or this raises
        problems = hs.problems(ext, out)
        assert not problems, (ext, problems)
        assert len(out) <= RATIO * len(body) + ALLOWANCE, (ext, len(out), len(body))


def test_the_property_sees_the_attacks() -> None:
    """The generated feeds really carry attacks to the published side: without
    sanitizing (here, a raw JSON Feed item rendered as is), the checks flag them."""
    raw = json.dumps({"items": [{"content_html": v} for v in VECTORS]}).encode()
    assert len(hs.json_problems(raw)) >= len(VECTORS) - 1
