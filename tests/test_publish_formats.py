"""Tests for the twins and pages of feedhub.publish: RSS 2.0, JSON Feed 1.1, HTML
preview pages, OPML, the RFC 5005/6721 parts of Atom, and the document plan."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import pytest

from feedhub import publish
from feedhub.types import (
    Author,
    DeletedEntry,
    DocLink,
    Enclosure,
    EntryData,
    FeedKind,
    FeedRef,
    SourceInfo,
    SourceState,
    StoredEntry,
)
from tests.test_publish import (
    BAD,
    SOURCE,
    T0,
    PageParser,
    dirty,
    make_doc,
    make_entry,
)

DATA = Path(__file__).parent / "data" / "publish"
A = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
AT = "{http://purl.org/atompub/tombstones/1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"
BASE = "https://hub.example/"
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)

JING = shutil.which("jing")
needs_jing = pytest.mark.skipif(
    JING is None, reason="jing not installed (apt-get install jing; .ci/run does)"
)


def find(element: ET.Element | None, path: str) -> ET.Element:
    """``element.find(path)``, asserting both exist."""
    assert element is not None
    found = element.find(path)
    assert found is not None, path
    return found


def jing_errors(data: bytes | list[bytes], tmp_path: Path) -> str:
    """Validate with the RFC 4287 Appendix B RELAX NG schema; '' when valid.

    Several documents are checked in one run of jing (one JVM start).
    """
    docs = [data] if isinstance(data, bytes) else data
    paths = []
    for n, doc in enumerate(docs):
        path = tmp_path / f"doc-{n}.xml"
        path.write_bytes(doc)
        paths.append(str(path))
    assert JING is not None
    done = subprocess.run(
        [JING, "-c", str(DATA / "atom.rnc"), *paths],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr if done.returncode else ""


def plan_doc(ext: str, *, number=None, pages=0, complete=False, deleted=(), hub=None):
    return publish.document(
        base_url=BASE,
        stem="topics/ai",
        title="AI",
        subtitle="Artificial intelligence",
        entries=(make_entry(1), make_entry(2)),
        page=publish.Page(number, pages, complete),
        ext=ext,
        hub=hub,
        deleted=deleted,
        ttl=15,
    )


GONE = DeletedEntry(
    "tag:news.example,2026:entry-9",
    T0,
    "merged into tag:news.example,2026:entry-1",
    "https://news.example/9",
)


# --------------------------------------------------------------------------
# the document plan
# --------------------------------------------------------------------------


def test_subscription_document_links_twins_hub_and_newest_archive():
    doc = plan_doc("atom", pages=3, hub="https://hub.websub.example/")
    links = {(x.rel, x.href, x.type) for x in doc.links}
    assert links == {
        ("alternate", BASE + "topics/ai.rss", "application/rss+xml"),
        ("alternate", BASE + "topics/ai.json", "application/feed+json"),
        ("hub", "https://hub.websub.example/", None),
        ("prev-archive", BASE + "topics/ai/archive/3.atom", None),
    }
    assert doc.self_url == BASE + "topics/ai.atom"
    assert doc.home_url == BASE + "topics/ai.html"
    assert not doc.complete and not doc.archive


def test_archive_page_links_its_neighbours_in_the_same_format():
    middle = plan_doc("rss", number=2, pages=3, deleted=(GONE,), hub="https://h/")
    rels = {x.rel: x.href for x in middle.links if x.rel != "alternate"}
    assert rels == {
        "current": BASE + "topics/ai.rss",
        "prev-archive": BASE + "topics/ai/archive/1.rss",
        "next-archive": BASE + "topics/ai/archive/3.rss",
    }
    assert middle.archive and not middle.complete
    assert middle.deleted == ()  # retractions live in the subscription document
    assert middle.self_url == BASE + "topics/ai/archive/2.rss"
    # one logical feed: the same id as the subscription document (RFC 5005)
    assert middle.id == BASE + "topics/ai.atom"
    oldest = plan_doc("json", number=1, pages=1)
    assert {x.rel for x in oldest.links} == {"alternate", "current"}


def test_complete_only_without_archives():
    assert plan_doc("atom", complete=True).complete
    assert not plan_doc("atom", number=1, pages=1, complete=True).complete


def test_updated_counts_retractions():
    later = replace(GONE, when=T0 + timedelta(days=1))
    assert plan_doc("atom", deleted=(later,)).updated == later.when


def stored(key: str, story: str) -> StoredEntry:
    return StoredEntry(
        key=key,
        source_id=1,
        data=EntryData(original_id=None, link=None, title="t"),
        canonical_link=None,
        content_hash="h",
        story_id=story,
        first_seen_at=T0,
        last_changed_at=T0,
    )


def test_retractions_say_why_and_skip_entries_that_aged_out():
    published = {
        "id-kept": ("s1", "k1", None),
        "id-aged": ("s2", "k2", None),
        "id-merged": ("s3", "k3", "https://x/3"),
        "id-gone": ("s4", "k4", None),
        "id-filtered": ("s5", "k5", None),
    }
    current = {"id-kept": "s1", "id-other": "s6"}
    entries = {
        "k1": stored("k1", "s1"),
        "k2": stored("k2", "s2"),
        "k3": stored("k3", "s6"),  # now part of the story published as id-other
        "k5": stored("k5", "s5"),
    }
    out = publish.retractions(
        published, current, lambda story: story == "s2", entries.get
    )
    assert out == [
        ("id-filtered", "no longer selected for this feed", None),
        ("id-gone", "removed by its source", None),
        ("id-merged", "merged into id-other", "https://x/3"),
    ]


def test_archive_snapshot_round_trips():
    entry = make_entry(
        1,
        enclosures=(Enclosure("https://news.example/a.mp3", "audio/mpeg", 3),),
        authors=(Author("Ada", "ada@example.org", "https://ada.example/"),),
    )
    entries = (entry, make_entry(2, published=None))
    assert publish.entries_from_json(publish.entries_to_json(entries)) == entries


def test_entry_id_prefers_the_pinned_id_then_an_iri_original():
    entry = stored("abc", "s1")
    assert publish.entry_id(entry) == "urn:feedhub:entry:abc"
    guid = replace(entry, data=replace(entry.data, original_id="1234"))
    assert publish.entry_id(guid) == "urn:feedhub:entry:abc"
    iri = replace(entry, data=replace(entry.data, original_id="tag:x,2026:1"))
    assert publish.entry_id(iri) == "tag:x,2026:1"
    assert publish.entry_id(replace(iri, published_id="urn:x:pinned")) == "urn:x:pinned"


@pytest.mark.parametrize(
    "hostile",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:x",
        "vbscript:x",
        "data:,x",
        "file:///etc/passwd",
    ],
)
def test_ids_with_active_schemes_are_never_published(hostile: str) -> None:
    """Some readers follow an id when an entry has no link (#8)."""
    entry = stored("abc", "s1")
    original = replace(entry, data=replace(entry.data, original_id=hostile))
    assert publish.entry_id(original) == "urn:feedhub:entry:abc"
    assert publish.entry_id(replace(entry, published_id=hostile)) == (
        "urn:feedhub:entry:abc"
    )
    state = SourceState(
        id=1, url="https://a.example/f", fetch_url="https://a.example/f"
    )
    assert publish.source_info(replace(state, feed_id=hostile), "x").id == state.url
    assert publish.source_info(replace(state, feed_id="tag:a,2026:f"), "x").id == (
        "tag:a,2026:f"
    )


# --------------------------------------------------------------------------
# Atom: RFC 5005 and RFC 6721 parts, schema
# --------------------------------------------------------------------------


def test_atom_carries_links_complete_and_deleted_entries():
    doc = plan_doc("atom", complete=True, deleted=(GONE,), hub="https://h.example/")
    root = ET.fromstring(publish.render_atom(doc))
    rels = [(x.get("rel"), x.get("href")) for x in root.findall(f"{A}link")]
    assert ("hub", "https://h.example/") in rels
    assert ("alternate", BASE + "topics/ai.html") in rels
    assert root.find(f"{FH}complete") is not None
    assert root.find(f"{FH}archive") is None
    (gone,) = root.findall(f"{AT}deleted-entry")
    assert gone.get("ref") == GONE.ref
    assert gone.get("when") == "2026-11-20T12:00:00Z"
    assert gone.findtext(f"{AT}comment") == GONE.comment
    assert find(gone, f"{A}link").get("href") == GONE.link
    # extension elements precede the entries (RFC 4287 Appendix B grammar)
    children = [child.tag for child in root]
    assert children.index(f"{AT}deleted-entry") < children.index(f"{A}entry")
    assert not feedparser.parse(publish.render_atom(doc)).bozo


def test_atom_archive_page_is_marked():
    root = ET.fromstring(publish.render_atom(plan_doc("atom", number=1, pages=2)))
    assert root.find(f"{FH}archive") is not None
    assert root.find(f"{FH}complete") is None


def test_atom_source_keeps_feed_metadata_the_entry_lacks():
    source = replace(
        SOURCE,
        authors=(Author("Desk", "desk@news.example"),),
        rights="CC BY 4.0",
        categories=("news",),
    )
    bare = make_entry(1, authors=(), categories=(), source=source)
    own = make_entry(2, source=source)
    root = ET.fromstring(publish.render_atom(make_doc(bare, own)))
    first, second = root.findall(f"{A}entry")
    # RFC 4287 4.2.11: the source's author, rights and categories are kept
    assert first.findtext(f"{A}source/{A}author/{A}name") == "Desk"
    assert first.findtext(f"{A}source/{A}rights") == "CC BY 4.0"
    assert find(first, f"{A}source/{A}category").get("term") == "news"
    # and the entry is credited to the source's author, not to its title
    assert first.findtext(f"{A}author/{A}name") == "Desk"
    assert second.find(f"{A}source/{A}author") is None
    assert second.find(f"{A}source/{A}category") is None
    assert second.findtext(f"{A}source/{A}rights") == "CC BY 4.0"


@needs_jing
def test_every_atom_variant_is_valid_against_the_rfc_4287_schema(tmp_path):
    hostile = make_entry(
        3,
        title=dirty("Hostile title"),
        summary=dirty("<p>x</p>"),
        authors=(Author(name=dirty("Mallory")),),
        source=replace(SOURCE, authors=(Author("Desk"),), rights="r"),
    )
    docs = [
        plan_doc("atom", pages=2, deleted=(GONE,), hub="https://h.example/"),
        plan_doc("atom", complete=True),
        plan_doc("atom", number=1, pages=2),
        replace(plan_doc("atom"), entries=(hostile, make_entry(4, authors=()))),
        replace(plan_doc("atom"), entries=()),
    ]
    assert jing_errors([publish.render_atom(doc) for doc in docs], tmp_path) == ""


@needs_jing
def test_jing_check_can_fail(tmp_path):
    assert "title" in jing_errors(
        b'<feed xmlns="http://www.w3.org/2005/Atom"><id>x:y</id></feed>', tmp_path
    )


# --------------------------------------------------------------------------
# RSS 2.0
# --------------------------------------------------------------------------


def test_rss_twin_has_source_creator_guid_ttl_and_archive_links():
    doc = plan_doc("rss", pages=2, hub="https://h.example/")
    data = publish.render_rss(doc)
    root = ET.fromstring(data)
    channel = find(root, "channel")
    assert channel.findtext("title") == "AI"
    assert channel.findtext("link") == BASE + "topics/ai.html"
    assert channel.findtext("description") == "Artificial intelligence"
    assert channel.findtext("ttl") == "15"
    links = {(x.get("rel"), x.get("href")) for x in channel.findall(f"{A}link")}
    assert {
        ("self", BASE + "topics/ai.rss"),
        ("hub", "https://h.example/"),
        ("prev-archive", BASE + "topics/ai/archive/2.rss"),
        ("alternate", BASE + "topics/ai.atom"),
        ("alternate", BASE + "topics/ai.json"),
    } <= links
    first = find(channel, "item")
    assert first.findtext("guid") == "tag:news.example,2026:entry-1"
    assert find(first, "guid").get("isPermaLink") == "false"
    assert first.findtext("link") == "https://news.example/1"
    assert first.findtext(f"{DC}creator") == "Author 1"
    assert first.findtext("author") == "a1@news.example (Author 1)"
    assert find(first, "source").get("url") == SOURCE.url
    assert first.findtext("source") == "Example News"
    assert first.findtext("pubDate") == "Thu, 19 Nov 2026 12:00:00 +0000"
    parsed = feedparser.parse(data)
    assert not parsed.bozo
    assert [e.id for e in parsed.entries] == [
        "tag:news.example,2026:entry-1",
        "tag:news.example,2026:entry-2",
    ]


def test_rss_complete_and_archive_markers():
    complete = ET.fromstring(publish.render_rss(plan_doc("rss", complete=True)))
    assert complete.find(f"channel/{FH}complete") is not None
    page = ET.fromstring(publish.render_rss(plan_doc("rss", number=1, pages=1)))
    assert page.find(f"channel/{FH}archive") is not None


def test_rss_survives_hostile_characters_and_missing_authors():
    hostile = make_entry(1, title=dirty("Hostile"), authors=(), published=None)
    data = publish.render_rss(replace(plan_doc("rss"), entries=(hostile,)))
    text = data.decode("utf-8")
    assert all(char not in text for char in "\x00\x01\ufffe")
    item = find(ET.fromstring(data), "channel/item")
    assert item.findtext("title") == "Hostile"
    # the source feed's title stands in for the missing author
    assert item.findtext(f"{DC}creator") == "Example News"
    assert item.find("author") is None
    assert item.findtext("pubDate")  # falls back to atom:updated


# --------------------------------------------------------------------------
# JSON Feed 1.1
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def json_feed_schema():
    return json.loads((DATA / "jsonfeed-1.1.schema.json").read_text())


def check_json_feed(data: bytes, schema) -> dict[str, Any]:
    feed: dict[str, Any] = json.loads(data)
    jsonschema.validate(feed, schema)
    for item in feed["items"]:
        for key in ("date_published", "date_modified"):
            if key in item:
                assert RFC3339.match(item[key]), item[key]
    return feed


def test_json_feed_twin_is_valid_json_feed_1_1(json_feed_schema):
    entry = make_entry(
        1, enclosures=(Enclosure("https://news.example/a.mp3", "audio/mpeg", 9),)
    )
    doc = replace(
        plan_doc("json", pages=2, deleted=(GONE,), hub="https://h.example/"),
        entries=(entry, make_entry(2, summary=None, content=None)),
    )
    feed = check_json_feed(publish.render_json_feed(doc), json_feed_schema)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == BASE + "topics/ai.json"
    assert feed["home_page_url"] == BASE + "topics/ai.html"
    # JSON Feed's next_url is the next (older) page: RFC 5005's prev-archive
    assert feed["next_url"] == BASE + "topics/ai/archive/2.json"
    assert feed["hubs"] == [{"type": "WebSub", "url": "https://h.example/"}]
    first, second = feed["items"]
    assert first["id"] == "tag:news.example,2026:entry-1"
    assert first["authors"] == [{"name": "Author 1"}]
    assert first["date_published"] == "2026-11-19T12:00:00Z"
    assert first["attachments"] == [
        {
            "url": "https://news.example/a.mp3",
            "mime_type": "audio/mpeg",
            "size_in_bytes": 9,
        }
    ]
    assert first["_feedhub"]["source"]["feed_url"] == SOURCE.url
    assert second["content_html"] == ""
    ext = feed["_feedhub"]
    assert ext["deleted"] == [
        {
            "id": GONE.ref,
            "when": "2026-11-20T12:00:00Z",
            "comment": GONE.comment,
            "url": GONE.link,
        }
    ]
    assert ext["complete"] is False
    assert ext["links"]["prev-archive"] == BASE + "topics/ai/archive/2.json"


def test_json_schema_check_can_fail(json_feed_schema):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "x", "items": []}, json_feed_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "t",
                "items": [{"id": "1"}],  # neither content_html nor content_text
            },
            json_feed_schema,
        )


def test_json_feed_drops_hostile_characters(json_feed_schema):
    doc = replace(plan_doc("json"), entries=(make_entry(1, title=dirty("Bad")),))
    data = publish.render_json_feed(doc)
    feed = check_json_feed(data, json_feed_schema)
    assert feed["items"][0]["title"] == "Bad"
    assert all(char not in data.decode("utf-8") for char in BAD if char.isprintable())


# --------------------------------------------------------------------------
# HTML preview page and OPML
# --------------------------------------------------------------------------


def parse_page(data: bytes) -> PageParser:
    parser = PageParser()
    parser.feed(data.decode("utf-8"))
    parser.close()
    assert parser.stack == []
    return parser


def test_feed_preview_page_lists_entries_and_offers_every_twin():
    doc = plan_doc("html", number=2, pages=3)
    page = publish.render_feed_html(doc, generated_at=T0)
    parser = parse_page(page)
    assert "script" not in parser.tags
    assert parser.title == "AI (archive 2)"
    assert {(x["type"], x["href"]) for x in parser.head_links} == {
        ("application/atom+xml", BASE + "topics/ai/archive/2.atom"),
        ("application/rss+xml", BASE + "topics/ai/archive/2.rss"),
        ("application/feed+json", BASE + "topics/ai/archive/2.json"),
    }
    hrefs = [a["href"] for a in parser.anchors]
    assert "https://news.example/1" in hrefs and "https://news.example/2" in hrefs
    assert BASE + "topics/ai/archive/1.html" in hrefs  # older
    assert BASE + "topics/ai/archive/3.html" in hrefs  # newer
    assert BASE + "topics/ai.html" in hrefs  # latest
    assert "Entry 1" in parser.text and "Entry 2" in parser.text
    assert "Author 1 · " in " ".join(parser.text)


def test_feed_preview_page_escapes_text():
    entry = make_entry(1, title="<script>alert(1)</script>")
    doc = replace(plan_doc("html"), entries=(entry,), title="A & B")
    page = publish.render_feed_html(doc, generated_at=T0).decode()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert parse_page(page.encode()).title == "A & B"


def test_opml_lists_every_feed():
    feeds = (
        FeedRef(FeedKind.ALL, "all", "All entries", "all.atom", 3),
        FeedRef(FeedKind.TOPIC, "ai", "AI & ML", "topics/ai.atom", 2),
    )
    data = publish.render_opml(feeds, base_url=BASE, title="hub", generated_at=T0)
    root = ET.fromstring(data)
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "hub"
    outlines = [o.attrib for o in root.iter("outline")]
    assert outlines == [
        {
            "type": "rss",
            "text": "All entries",
            "title": "All entries",
            "xmlUrl": BASE + "all.atom",
            "htmlUrl": BASE + "all.html",
        },
        {
            "type": "rss",
            "text": "AI & ML",
            "title": "AI & ML",
            "xmlUrl": BASE + "topics/ai.atom",
            "htmlUrl": BASE + "topics/ai.html",
        },
    ]


def test_index_shows_newest_headline_and_description():
    ref = FeedRef(
        FeedKind.TOPIC,
        "ai",
        "AI",
        "topics/ai.atom",
        2,
        newest_title="Big <news>",
        newest_link="https://news.example/1",
        description="All about AI",
    )
    page = publish.render_index_html(
        (ref,),
        base_url=BASE,
        title="hub",
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parser = parse_page(page)
    text = " ".join(parser.text)
    assert "Newest:" in text and "Big <news>" in text
    assert "All about AI" in text
    assert "https://news.example/1" in [a["href"] for a in parser.anchors]


def test_doclink_and_source_defaults_stay_compatible():
    # FeedDocument and SourceInfo gained fields with defaults only
    assert DocLink("hub", "https://h/").type is None
    assert SourceInfo(id="x", title="t", url="u").authors == ()
