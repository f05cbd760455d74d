"""Tests for feedhub.publish: Atom rendering, the HTML index, atomic writes."""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser

import feedparser
import pytest

from feedhub import __version__
from feedhub.exceptions import PublishError
from feedhub.publish import render_atom, render_index_html, write_atomic
from feedhub.types import (
    Author,
    Enclosure,
    FeedDocument,
    FeedKind,
    FeedRef,
    PublishedEntry,
    Related,
    SourceInfo,
)

A = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

SOURCE = SourceInfo(
    id="urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6",
    title="Example News",
    url="https://news.example/feed.atom",
    link="https://news.example/",
    updated=T0 - timedelta(hours=1),
)


def make_entry(n: int, **changes) -> PublishedEntry:
    entry = PublishedEntry(
        id=f"tag:news.example,2026:entry-{n}",
        title=f"Entry {n}",
        link=f"https://news.example/{n}",
        summary=f"<p>Summary {n}</p>",
        content=f"<p>Content {n}</p>",
        authors=(Author(name=f"Author {n}", email=f"a{n}@news.example"),),
        published=T0 - timedelta(days=n),
        updated=T0 - timedelta(hours=n),
        categories=("ai", "policy"),
        enclosures=(),
        source=SOURCE,
    )
    return replace(entry, **changes)


def make_doc(*entries: PublishedEntry, **changes) -> FeedDocument:
    doc = FeedDocument(
        id="https://hub.example/topics/ai.atom",
        title="AI",
        self_url="https://hub.example/topics/ai.atom",
        home_url="https://hub.example/",
        updated=T0,
        entries=entries,
        subtitle="Artificial intelligence news",
    )
    return replace(doc, **changes)


def parse_ok(data: bytes):
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def xml_entries(data: bytes) -> list[ET.Element]:
    return ET.fromstring(data).findall(f"{A}entry")


def links_by_rel(element: ET.Element) -> dict[str, list[dict[str, str]]]:
    result: dict[str, list[dict[str, str]]] = {}
    for link in element.findall(f"{A}link"):
        result.setdefault(link.get("rel", "alternate"), []).append(dict(link.attrib))
    return result


# --------------------------------------------------------------------------
# render_atom: feed level
# --------------------------------------------------------------------------


def test_feed_metadata_round_trips_through_feedparser():
    data = render_atom(make_doc(make_entry(1)))
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    feed = parse_ok(data).feed
    assert feed.id == "https://hub.example/topics/ai.atom"
    assert feed.title == "AI"
    assert feed.subtitle == "Artificial intelligence news"
    assert feed.updated == "2026-11-20T12:00:00+00:00"
    links = {(ln.rel, ln.href, ln.type) for ln in feed.links}
    assert links == {
        ("self", "https://hub.example/topics/ai.atom", "application/atom+xml"),
        ("alternate", "https://hub.example/", "text/html"),
    }
    assert feed.generator == "feedhub"
    assert feed.generator_detail.version == __version__


def test_feed_has_no_author_of_its_own():
    root = ET.fromstring(render_atom(make_doc(make_entry(1), make_entry(2))))
    assert root.find(f"{A}author") is None
    # RFC 4287 §4.1.1 then needs an author on every entry.
    assert all(e.find(f"{A}author") is not None for e in root.iter(f"{A}entry"))


def test_entries_keep_the_given_order():
    entries = [make_entry(n) for n in (3, 1, 2)]
    parsed = parse_ok(render_atom(make_doc(*entries)))
    assert [e.id for e in parsed.entries] == [e.id for e in entries]


def test_empty_feed_renders():
    parsed = parse_ok(render_atom(make_doc(subtitle=None)))
    assert parsed.entries == []
    assert parsed.feed.id == "https://hub.example/topics/ai.atom"
    root = ET.fromstring(render_atom(make_doc(subtitle=None)))
    assert root.find(f"{A}subtitle") is None


def test_non_utc_datetimes_are_written_in_utc():
    cet = timezone(timedelta(hours=1))
    doc = make_doc(
        make_entry(1, updated=datetime(2026, 11, 20, 13, 0, tzinfo=cet)),
        updated=datetime(2026, 11, 20, 14, 0, tzinfo=cet),
    )
    root = ET.fromstring(render_atom(doc))
    assert root.findtext(f"{A}updated") == "2026-11-20T13:00:00+00:00"
    assert root.findtext(f"{A}entry/{A}updated") == "2026-11-20T12:00:00+00:00"


@pytest.mark.parametrize(
    "doc",
    [
        make_doc(updated=datetime(2026, 11, 20, 12, 0)),  # noqa: DTZ001
        make_doc(make_entry(1, updated=datetime(2026, 11, 20))),  # noqa: DTZ001
        make_doc(make_entry(1, published=datetime(2026, 11, 20))),  # noqa: DTZ001
    ],
    ids=["feed-updated", "entry-updated", "entry-published"],
)
def test_naive_datetime_is_a_publish_error(doc):
    with pytest.raises(PublishError, match=r"^publish: .*naive"):
        render_atom(doc)


def test_feedgen_failure_is_wrapped():
    # feedgen refuses a feed without an id (RFC 4287 §4.1.1 requires one).
    with pytest.raises(PublishError, match=r"^publish: cannot render") as info:
        render_atom(make_doc(id=""))
    assert isinstance(info.value.__cause__, ValueError)


# --------------------------------------------------------------------------
# render_atom: entries
# --------------------------------------------------------------------------


def test_entry_fields_round_trip():
    entry = make_entry(
        1,
        enclosures=(Enclosure("https://news.example/1.mp3", "audio/mpeg", 1234),),
    )
    parsed = parse_ok(render_atom(make_doc(entry)))
    (got,) = parsed.entries
    assert got.id == "tag:news.example,2026:entry-1"
    assert got.title == "Entry 1"
    assert got.title_detail.type == "text/plain"
    assert got.link == "https://news.example/1"
    assert got.updated == "2026-11-20T11:00:00+00:00"
    assert got.published == "2026-11-19T12:00:00+00:00"
    assert got.summary == "<p>Summary 1</p>"
    assert got.summary_detail.type == "text/html"
    assert [c.value for c in got.content] == ["<p>Content 1</p>"]
    assert got.content[0].type == "text/html"
    assert [t.term for t in got.tags] == ["ai", "policy"]
    assert got.author_detail == {"name": "Author 1", "email": "a1@news.example"}
    (enclosure,) = got.enclosures
    assert enclosure.href == "https://news.example/1.mp3"
    assert enclosure.type == "audio/mpeg"
    assert enclosure.length == "1234"


def test_entry_links_carry_rel_type_length_and_title():
    # feedgen 1.0.0 drops these attributes on entry links (python-feedgen#135).
    entry = make_entry(
        1,
        enclosures=(
            Enclosure("https://news.example/1.mp3", "audio/mpeg", 1234),
            Enclosure("https://news.example/1.bin", "not a type", None),
        ),
        related=(Related("https://other.example/story", "Other Outlet"),),
    )
    (element,) = xml_entries(render_atom(make_doc(entry)))
    assert links_by_rel(element) == {
        "alternate": [{"href": "https://news.example/1", "rel": "alternate"}],
        "enclosure": [
            {
                "href": "https://news.example/1.mp3",
                "rel": "enclosure",
                "type": "audio/mpeg",
                "length": "1234",
            },
            {"href": "https://news.example/1.bin", "rel": "enclosure"},
        ],
        "related": [
            {
                "href": "https://other.example/story",
                "rel": "related",
                "title": "Other Outlet",
            }
        ],
    }


def test_every_author_is_kept_and_gets_a_name():
    entry = make_entry(
        1,
        authors=(
            Author(name="Ada Lovelace", uri="https://ada.example/"),
            Author(email="grace@navy.example"),
            Author(uri="https://anon.example/"),
            Author(email="not-an-address"),
            Author(),
        ),
    )
    (element,) = xml_entries(render_atom(make_doc(entry)))
    authors = [
        {child.tag.removeprefix(A): child.text for child in author}
        for author in element.findall(f"{A}author")
    ]
    assert authors == [
        {"name": "Ada Lovelace", "uri": "https://ada.example/"},
        {"name": "grace", "email": "grace@navy.example"},
        {"name": "Unknown", "uri": "https://anon.example/"},
        # RFC 4287 §3.2.3: atom:email must be an address; keep it as the name.
        {"name": "not-an-address"},
    ]
    (got,) = parse_ok(render_atom(make_doc(entry))).entries
    assert [a.get("name") for a in got.authors] == [
        "Ada Lovelace",
        "grace",
        "Unknown",
        "not-an-address",
    ]


def test_entry_without_authors_is_credited_to_its_source():
    entry = make_entry(1, authors=(Author(),))
    (got,) = parse_ok(render_atom(make_doc(entry))).entries
    assert got.author_detail == {
        "name": "Example News",
        "href": "https://news.example/",
    }


def test_entry_without_authors_or_source_title_is_unknown():
    source = replace(SOURCE, title="", link=None)
    entry = make_entry(1, authors=(), source=source)
    (element,) = xml_entries(render_atom(make_doc(entry)))
    (author,) = element.findall(f"{A}author")
    assert [(c.tag, c.text) for c in author] == [(f"{A}name", "Unknown")]


def test_atom_source_carries_the_source_feed_metadata():
    (element,) = xml_entries(render_atom(make_doc(make_entry(1))))
    source = element.find(f"{A}source")
    assert source is not None
    assert source.findtext(f"{A}id") == SOURCE.id
    assert source.findtext(f"{A}title") == "Example News"
    assert source.findtext(f"{A}updated") == "2026-11-20T11:00:00Z"
    assert links_by_rel(source) == {
        "self": [
            {
                "href": "https://news.example/feed.atom",
                "rel": "self",
                "type": "application/atom+xml",
            }
        ],
        "alternate": [
            {"href": "https://news.example/", "rel": "alternate", "type": "text/html"}
        ],
    }
    (got,) = parse_ok(render_atom(make_doc(make_entry(1)))).entries
    assert got.source.id == SOURCE.id
    assert got.source.title == "Example News"


def test_atom_source_omits_unknown_fields():
    source = SourceInfo(id="", title="", url="https://bare.example/rss")
    (element,) = xml_entries(render_atom(make_doc(make_entry(1, source=source))))
    src = element.find(f"{A}source")
    assert src is not None
    # Without an atom:id of its own the source feed is named by its URL.
    assert src.findtext(f"{A}id") == "https://bare.example/rss"
    assert src.find(f"{A}title") is None
    assert src.find(f"{A}updated") is None
    assert list(links_by_rel(src)) == ["self"]


def test_related_copies_are_linked_and_credited_in_content():
    entry = make_entry(
        1,
        related=(
            Related("https://b.example/x?a=1&b=2", "B <script>alert(1)</script>"),
            Related("https://c.example/y", "C & Sons"),
        ),
    )
    data = render_atom(make_doc(entry))
    (got,) = parse_ok(data).entries
    related = [(ln.href, ln.title) for ln in got.links if ln.rel == "related"]
    assert related == [
        ("https://b.example/x?a=1&b=2", "B <script>alert(1)</script>"),
        ("https://c.example/y", "C & Sons"),
    ]
    (element,) = xml_entries(data)
    content = element.findtext(f"{A}content")
    assert content == (
        "<p>Content 1</p><p>Also reported by: "
        '<a href="https://b.example/x?a=1&amp;b=2">'
        "B &lt;script&gt;alert(1)&lt;/script&gt;</a>, "
        '<a href="https://c.example/y">C &amp; Sons</a></p>'
    )


def test_related_without_content_extends_the_summary():
    entry = make_entry(1, content=None, related=(Related("https://b.example/x", "B"),))
    (element,) = xml_entries(render_atom(make_doc(entry)))
    assert element.findtext(f"{A}summary") == "<p>Summary 1</p>"
    assert element.findtext(f"{A}content") == (
        '<p>Summary 1</p><p>Also reported by: <a href="https://b.example/x">B</a></p>'
    )


def test_unusable_links_are_dropped():
    entry = make_entry(
        1,
        published=None,
        categories=("", "  "),
        enclosures=(Enclosure("\x00"),),
        related=(Related("", "Nowhere"), Related("https://d.example/z", " ")),
    )
    (element,) = xml_entries(render_atom(make_doc(entry)))
    assert element.find(f"{A}published") is None
    assert element.find(f"{A}category") is None
    assert links_by_rel(element) == {
        "alternate": [{"href": "https://news.example/1", "rel": "alternate"}],
        "related": [{"href": "https://d.example/z", "rel": "related"}],
    }
    # An outlet without a name is credited by its link.
    assert element.findtext(f"{A}content") == (
        "<p>Content 1</p><p>Also reported by: "
        '<a href="https://d.example/z">https://d.example/z</a></p>'
    )


def test_related_without_any_link_adds_no_paragraph():
    entry = make_entry(1, related=(Related("\x01", "Ghost"),))
    (element,) = xml_entries(render_atom(make_doc(entry)))
    assert element.findtext(f"{A}content") == "<p>Content 1</p>"
    assert "related" not in links_by_rel(element)


def test_no_related_means_no_credit_paragraph():
    (element,) = xml_entries(render_atom(make_doc(make_entry(1, content=None))))
    assert element.find(f"{A}content") is None
    assert b"Also reported by" not in render_atom(make_doc(make_entry(1)))


def test_entry_without_link_gets_content():
    # RFC 4287 §4.1.2: no rel="alternate" link means atom:content is required.
    entry = make_entry(1, link=None, content=None)
    (element,) = xml_entries(render_atom(make_doc(entry)))
    assert "alternate" not in links_by_rel(element)
    content = element.find(f"{A}content")
    assert content is not None
    assert content.text == "<p>Summary 1</p>"
    assert content.get("type") == "html"


def test_entry_without_link_summary_or_content_gets_empty_content():
    entry = make_entry(1, link=None, content=None, summary=None)
    (element,) = xml_entries(render_atom(make_doc(entry)))
    assert element.find(f"{A}summary") is None
    content = element.find(f"{A}content")
    assert content is not None
    assert not content.text


def test_untitled_entry_gets_a_title():
    (got,) = parse_ok(render_atom(make_doc(make_entry(1, title="  ")))).entries
    assert got.title == "Untitled"


def test_entry_without_id_uses_its_link_or_is_skipped(caplog):
    entries = (
        make_entry(1, id="\x00"),
        make_entry(2, id="", link=None),
        make_entry(3),
    )
    parsed = parse_ok(render_atom(make_doc(*entries)))
    assert [e.id for e in parsed.entries] == [
        "https://news.example/1",
        "tag:news.example,2026:entry-3",
    ]
    assert "skipped entry without id" in caplog.text


# --------------------------------------------------------------------------
# render_atom: characters XML 1.0 forbids
# --------------------------------------------------------------------------

BAD = "\x00\x01\x08\x0b\x0c\x1f\ud800\udfff\ufffe\uffff"


def dirty(text: str) -> str:
    return text[:3] + BAD + text[3:]


def test_forbidden_characters_are_removed_from_every_field():
    source = SourceInfo(
        id=dirty("urn:source:1"),
        title=dirty("Source One"),
        url=dirty("https://one.example/feed"),
        link=dirty("https://one.example/"),
        updated=T0,
    )
    hostile = PublishedEntry(
        id=dirty("tag:one.example,2026:1"),
        title=dirty("Hostile title"),
        link=dirty("https://one.example/1"),
        summary=dirty("<p>summary</p>"),
        content=dirty("<p>content</p>"),
        authors=(
            Author(
                name=dirty("Mallory"),
                email=dirty("mallory@one.example"),
                uri=dirty("https://one.example/m"),
            ),
        ),
        published=T0,
        updated=T0,
        categories=(dirty("security"),),
        enclosures=(
            Enclosure(dirty("https://one.example/a.mp3"), dirty("audio/mpeg"), 9),
        ),
        source=source,
        related=(Related(dirty("https://two.example/1"), dirty("Two")),),
    )
    doc = FeedDocument(
        id=dirty("https://hub.example/all.atom"),
        title=dirty("All news"),
        self_url=dirty("https://hub.example/all.atom"),
        home_url=dirty("https://hub.example/"),
        updated=T0,
        entries=(hostile, make_entry(2)),
        subtitle=dirty("Everything"),
    )
    data = render_atom(doc)
    parsed = parse_ok(data)
    assert parsed.feed.title == "All news"
    assert parsed.feed.subtitle == "Everything"
    assert [e.id for e in parsed.entries] == [
        "tag:one.example,2026:1",
        "tag:news.example,2026:entry-2",
    ]
    got = parsed.entries[0]
    assert got.title == "Hostile title"
    assert got.link == "https://one.example/1"
    assert got.summary == "<p>summary</p>"
    assert got.author_detail == {
        "name": "Mallory",
        "email": "mallory@one.example",
        "href": "https://one.example/m",
    }
    assert got.tags[0].term == "security"
    assert got.enclosures[0].type == "audio/mpeg"
    assert got.source.id == "urn:source:1"
    assert got.source.title == "Source One"
    text = data.decode("utf-8")
    for char in "\x00\x01\x08\x0b\x0c\x1f\ufffe\uffff":
        assert char not in text
    # The surrogates could not even be encoded; tab, LF and CR are allowed.
    assert "Also reported by" in got.content[0].value


def test_allowed_whitespace_and_astral_characters_survive():
    title = "tab\there \u00e9\u4e2d \U0001f600"
    (got,) = parse_ok(render_atom(make_doc(make_entry(1, title=title)))).entries
    assert got.title == title


# --------------------------------------------------------------------------
# render_index_html
# --------------------------------------------------------------------------


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.head_links: list[dict[str, str | None]] = []
        self.anchors: list[dict[str, str | None]] = []
        self.h2: list[str] = []
        self.title = ""
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "link" and "head" in self.stack:
            self.head_links.append(attributes)
        elif tag == "a":
            self.anchors.append(attributes)
        if tag not in {"link", "meta"}:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "title":
            self.title += data
        if self.stack and self.stack[-1] == "h2":
            self.h2.append(data)
        self.text.append(data)


FEEDS = (
    FeedRef(FeedKind.AUTHOR, "ada", "Ada Lovelace", "authors/ada.atom", 1),
    FeedRef(FeedKind.TOPIC, "ai", "AI", "topics/ai.atom", 42),
    FeedRef(FeedKind.ALL, "all", "Everything", "all.atom", 120),
    FeedRef(FeedKind.TOPIC, "xss", "<script>alert('x')</script>", "topics/xss.atom"),
)


def render_page(
    feeds=FEEDS, *, base_url="https://hub.example/", title="My hub", generated_at=T0
) -> tuple[str, PageParser]:
    page = render_index_html(
        feeds, base_url=base_url, title=title, generated_at=generated_at
    ).decode("utf-8")
    parser = PageParser()
    parser.feed(page)
    parser.close()
    assert parser.stack == []
    return page, parser


def test_index_lists_feeds_grouped_by_kind():
    page, parser = render_page()
    assert page.startswith("<!DOCTYPE html>\n")
    assert parser.title == "My hub"
    assert parser.h2 == ["All", "Topics", "Authors"]
    hrefs = [a["href"] for a in parser.anchors]
    for stem in ("all", "topics/ai", "topics/xss", "authors/ada"):
        # preview page first, then the subscribe buttons
        at = hrefs.index(f"https://hub.example/{stem}.html")
        assert hrefs[at + 1 : at + 4] == [
            f"https://hub.example/{stem}.{ext}" for ext in ("atom", "rss", "json")
        ]
    for group in ("feeds", "topics", "authors"):
        assert f"https://hub.example/{group}.opml" in hrefs
    text = " ".join(parser.text)
    assert "120 entries" in text
    assert "42 entries" in text
    assert "1 entry" in text
    assert "script" not in parser.tags


def test_index_has_one_autodiscovery_link_per_feed():
    _, parser = render_page()
    assert sorted(
        (link["rel"], link["type"], link["title"], link["href"])
        for link in parser.head_links
    ) == sorted(
        (
            "alternate",
            "application/atom+xml",
            ref.title,
            "https://hub.example/" + ref.path,
        )
        for ref in FEEDS
    )


def test_index_escapes_titles():
    page, parser = render_page(title="Hub <b>&</b>")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert parser.title == "Hub <b>&</b>"
    assert "b" not in parser.tags


def test_index_shows_generation_time_and_has_no_scripts_or_assets():
    page, parser = render_page(
        generated_at=datetime(2026, 11, 20, 13, 30, 5, 123, tzinfo=UTC)
    )
    assert '<time datetime="2026-11-20T13:30:05+00:00">2026-11-20 13:30 UTC</time>' in (
        page
    )
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    assert all(link["type"] == "application/atom+xml" for link in parser.head_links)


def test_index_joins_base_url_and_path():
    ref = FeedRef(FeedKind.TOPIC, "ai", "AI", "/topics/ai.atom", 1)
    _, parser = render_page((ref,), base_url="https://hub.example/feeds")
    assert "https://hub.example/feeds/topics/ai.atom" in [
        a["href"] for a in parser.anchors
    ]
    assert "https://hub.example/feeds/topics/ai.html" in [
        a["href"] for a in parser.anchors
    ]


def test_index_without_feeds():
    page, parser = render_page(())
    assert parser.head_links == []
    assert parser.h2 == []
    assert "No feeds yet." in page


def test_index_refuses_naive_time():
    with pytest.raises(PublishError, match="^publish: generated_at"):
        render_index_html(
            FEEDS,
            base_url="https://hub.example/",
            title="x",
            generated_at=datetime(2026, 11, 20),  # noqa: DTZ001
        )


# --------------------------------------------------------------------------
# write_atomic
# --------------------------------------------------------------------------


def test_write_atomic_writes_then_skips_identical_bytes(tmp_path):
    target = tmp_path / "topics" / "ai.atom"
    assert write_atomic(target, b"one") is True
    assert target.read_bytes() == b"one"
    before = os.stat(target)
    assert write_atomic(str(target), b"one") is False
    after = os.stat(target)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in target.parent.iterdir()) == ["ai.atom"]


def test_write_atomic_replaces_changed_bytes(tmp_path):
    target = tmp_path / "all.atom"
    target.write_bytes(b"old")
    assert write_atomic(target, b"new") is True
    assert target.read_bytes() == b"new"
    # Same length, different bytes: still rewritten.
    assert write_atomic(target, b"NEW") is True
    assert target.read_bytes() == b"NEW"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.atom"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_write_atomic_mode(tmp_path):
    fresh = tmp_path / "fresh.atom"
    write_atomic(fresh, b"x")
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o644
    kept = tmp_path / "kept.atom"
    kept.write_bytes(b"old")
    os.chmod(kept, 0o640)
    write_atomic(kept, b"new")
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o640


def test_write_atomic_failure_is_a_publish_error_and_leaves_no_temp(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    with pytest.raises(PublishError, match="^publish: cannot write") as info:
        write_atomic(target, b"data")
    assert isinstance(info.value.__cause__, OSError)
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
