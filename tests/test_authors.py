"""Tests for feedhub.authors and author feeds end to end (issue 7).

The unit tests pin how bylines are read; the end-to-end tests poll two real
local feeds through the CLI, serve the result, and read it back over HTTP.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import httpx2 as httpx
import pytest
from click.testing import CliRunner
from hypothesis import example, given
from hypothesis import strategies as st

from feedhub import pipeline
from feedhub.authors import (
    BUILTIN_ORGANISATIONS,
    Byline,
    author_key,
    author_refs,
    author_slug,
    compile_authors,
    is_organisation,
    normalize_author_name,
    read_byline,
    site_names,
)
from feedhub.cli import cli
from feedhub.config import load_config
from feedhub.server import create_app
from feedhub.storage import Storage
from feedhub.types import Author, AuthorConfig, AuthorRef, EntryData
from tests.conftest import running_app
from tests.fakes import FeedServer

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
ATOM = "{http://www.w3.org/2005/Atom}"
TOMBSTONES = "{http://purl.org/atompub/tombstones/1.0}"


def entry(*names: str | None, email: str | None = None) -> EntryData:
    authors = tuple(Author(name=n, email=email) for n in names)
    return EntryData(original_id=None, link=None, title="t", authors=authors)


def refs(*names: str, **kwargs: Any) -> list[str]:
    return [r.slug for r in author_refs(entry(*names), **kwargs)]


# --------------------------------------------------------------------------
# One name
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ramsha Riaz", "Ramsha Riaz"),
        ("By Ramsha Riaz", "Ramsha Riaz"),
        ("by Ramsha Riaz", "Ramsha Riaz"),
        ("BY: Ramsha Riaz", "Ramsha Riaz"),
        ("Written by Ramsha Riaz", "Ramsha Riaz"),
        ("Byron Smith", "Byron Smith"),
        ("Ramsha Riaz (Staff Writer)", "Ramsha Riaz"),
        ("By Ramsha Riaz (Staff Writer)", "Ramsha Riaz"),
        ("ramsha@example.com (Ramsha Riaz)", "Ramsha Riaz"),
        ("Ramsha Riaz <ramsha@example.com>", "Ramsha Riaz"),
        ('"Ramsha Riaz" <ramsha@example.com>', "Ramsha Riaz"),
        ("RAMSHA RIAZ", "Ramsha Riaz"),
        ("ramsha riaz", "Ramsha Riaz"),
        ("jean-luc picard", "Jean-Luc Picard"),
        ("JOSÉ NÚÑEZ", "José Núñez"),
        ("Ronald McDonald", "Ronald McDonald"),
        ("Vincent van Gogh", "Vincent van Gogh"),
        ("  Ramsha\n   Riaz  ", "Ramsha Riaz"),
        ("— Ramsha Riaz.", "Ramsha Riaz"),
        ("李明", "李明"),
        # nothing left
        ("", None),
        ("   ", None),
        ("By ", None),
        ("...", None),
        ("ramsha@example.com", None),
        ("<ramsha@example.com>", None),
        ("ramsha@example.com ()", None),
        ("(Staff)", None),
        ("Jane Doe (Editor) (Guest).", "Jane Doe"),
    ],
)
def test_normalize_author_name(raw: str, expected: str | None) -> None:
    assert normalize_author_name(raw) == expected


@given(st.text())
@example("(")
@example("By (x) (y)")
def test_normalize_author_name_never_raises(raw: str) -> None:
    name = normalize_author_name(raw)
    if name is not None:
        assert name
        assert name == name.strip()
        assert "  " not in name


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Ramsha Riaz", "ramsha-riaz"),
        ("José Núñez", "jose-nunez"),
        ("Łukasz Øster", "lukasz-oster"),
        ("Straße", "strasse"),
        ("  --Dr. J. O'Neil--  ", "dr-j-o-neil"),
        ("ＦＵＬＬ　ＷＩＤＴＨ", "full-width"),
        ("", "unknown"),
        ("!!!", "unknown"),
    ],
)
def test_author_slug(name: str, slug: str) -> None:
    assert author_slug(name) == slug


def test_author_slug_never_takes_the_index_page() -> None:
    assert author_slug("Index") == "index-author"
    assert author_slug("Index Smith") == "index-smith"


def test_author_slug_keeps_non_latin_authors_apart() -> None:
    a, b = author_slug("李明"), author_slug("王芳")
    assert a != b
    assert a.startswith("author-") and SLUG.fullmatch(a)
    assert author_slug("李明") == a  # deterministic


@given(st.text())
def test_author_slug_is_url_safe_and_never_empty(name: str) -> None:
    assert SLUG.fullmatch(author_slug(name))


# --------------------------------------------------------------------------
# Bylines: several names, affiliations, organisations
# --------------------------------------------------------------------------

PERSON, ORG = False, True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ramsha Riaz, Reuters", [("Ramsha Riaz", PERSON), ("Reuters", ORG)]),
        ("Ramsha Riaz | Reuters", [("Ramsha Riaz", PERSON), ("Reuters", ORG)]),
        (
            "Ramsha Riaz - Associated Press",
            [("Ramsha Riaz", PERSON), ("Associated Press", ORG)],
        ),
        # what follows "for" is where they write, whatever its name
        ("Ramsha Riaz for Vox", [("Ramsha Riaz", PERSON), ("Vox", ORG)]),
        (
            "Ramsha Riaz for The Guardian",
            [("Ramsha Riaz", PERSON), ("The Guardian", ORG)],
        ),
        ("Ramsha Riaz, Staff Writer", [("Ramsha Riaz", PERSON)]),
        ("Ramsha Riaz — Senior Correspondent", [("Ramsha Riaz", PERSON)]),
        ("Ramsha Riaz, PhD", [("Ramsha Riaz", PERSON)]),
        ("Ramsha Riaz, Vox", [("Ramsha Riaz", PERSON), ("Vox", ORG)]),
        ("Reuters and AP", [("Reuters", ORG), ("Ap", ORG)]),
        ("Jane Doe and John Roe", [("Jane Doe", PERSON), ("John Roe", PERSON)]),
        ("Jane Doe & John Roe", [("Jane Doe", PERSON), ("John Roe", PERSON)]),
        (
            "Alice Smith, Bob Jones & Carol White",
            [("Alice Smith", PERSON), ("Bob Jones", PERSON), ("Carol White", PERSON)],
        ),
        (
            "Alice Smith, Bob Jones, and Carol White",
            [("Alice Smith", PERSON), ("Bob Jones", PERSON), ("Carol White", PERSON)],
        ),
        ("Jane Doe; John Roe", [("Jane Doe", PERSON), ("John Roe", PERSON)]),
        (
            "Jane Doe with additional reporting by John Roe",
            [("Jane Doe", PERSON), ("John Roe", PERSON)],
        ),
        ("Doe, Jane", [("Jane Doe", PERSON)]),
        ("Martin Luther King, Jr.", [("Martin Luther King Jr", PERSON)]),
        # parts that would be single words stay one name
        ("Jane and John Doe", [("Jane and John Doe", PERSON)]),
        ("Guardian staff and agencies", [("Guardian staff", ORG), ("Agencies", ORG)]),
        ("Agence France-Presse", [("Agence France-Presse", ORG)]),
        ("Jane Doe, Jane Doe", [("Jane Doe", PERSON)]),
        ("ramsha@example.org", []),
    ],
)
def test_read_byline(raw: str, expected: list[tuple[str, bool]]) -> None:
    assert read_byline(raw) == tuple(Byline(n, o) for n, o in expected)


@given(st.text(), st.sets(st.text(max_size=8), max_size=3))
@example("Doe, Jane", set())
@example(" and , & ;", set())
def test_read_byline_never_raises_and_yields_clean_names(
    raw: str, site: set[str]
) -> None:
    names = [b.name for b in read_byline(raw, site)]
    for name in names:
        assert name and name == name.strip() and "  " not in name
    # no name twice, however it was spelt
    assert len({author_key(n) for n in names}) == len(names)


@pytest.mark.parametrize(
    "name",
    [
        "Staff",
        "Reuters",
        "REUTERS",
        "Associated Press",
        "The Associated Press",
        "AP",
        "AFP",
        "Editorial Team",
        "The Editors",
        "Newsroom",
        "News Desk",
        "Admin",
        "admin",
        "Staff Writer",
        "Contributing Editor",
        "The Verge",
        "The Verge Staff",
        "Ars Technica Team",
        "BBC News",
        "Acme Inc",
        "Web Desk",
    ],
)
def test_organisation_bylines(name: str) -> None:
    assert is_organisation(name)


@pytest.mark.parametrize(
    "name",
    [
        "Ramsha Riaz",
        "Jane Doe",
        "José Núñez",
        "李明",
        "Madonna",
        "Emily Stafford",
        "Theo Reuter",
        "Jane Newsome",
    ],
)
def test_people_are_not_organisations(name: str) -> None:
    assert not is_organisation(name)


def test_the_builtin_list_is_folded_data() -> None:
    # compared by author_key: lower case, no punctuation, single spaces
    for name in BUILTIN_ORGANISATIONS:
        assert name == " ".join(name.split()) == name.lower()
        assert re.fullmatch(r"[a-z0-9 ]+", name), name


def test_a_one_word_byline_naming_the_site_is_an_organisation() -> None:
    site = site_names("TechCrunch", urls=["https://www.techcrunch.com/feed/"])
    assert is_organisation("TechCrunch", site)
    assert is_organisation("techcrunch", site)
    assert not is_organisation("TechCrunch")
    # by the host alone, too
    assert is_organisation("Gizmo", site_names(None, urls=["https://gizmo.example/"]))
    # a personal blog titled with its author's name keeps its author
    blog = site_names("Ramsha Riaz", urls=["https://ramshariaz.example/feed"])
    assert not is_organisation("Ramsha Riaz", blog)


def test_site_names() -> None:
    assert site_names(
        "The Verge", None, urls=["https://www.theverge.com/rss/index.xml", None]
    ) == {"the verge", "theverge"}
    assert site_names(urls=["http://127.0.0.1:8080/feed"]) == frozenset()
    assert site_names(urls=["http://[::1]:8080/feed"]) == frozenset()
    assert site_names(urls=["https://user@blog.example.co:8443/x"]) == {"example"}
    assert site_names(urls=["not a url", ""]) == frozenset()


# --------------------------------------------------------------------------
# author_refs: one feed per person
# --------------------------------------------------------------------------


def test_one_person_one_slug_across_spellings() -> None:
    spellings = [
        "By Ramsha Riaz",
        "RAMSHA RIAZ",
        "Ramsha Riaz (Staff Writer)",
        "ramsha@example.org (Ramsha Riaz)",
        "Ramsha Riaz, Reuters",
        "Ramsha Riaz <ramsha@example.org>",
        "By Ramsha Riaz for The Guardian",
    ]
    for raw in spellings:
        assert author_refs(entry(raw)) == (AuthorRef("ramsha-riaz", "Ramsha Riaz"),)


def test_several_authors_each_get_a_ref_in_order() -> None:
    assert refs("Jane Doe and John Roe") == ["jane-doe", "john-roe"]
    assert refs("Jane Doe", "John Roe, Reuters", "Jane Doe") == ["jane-doe", "john-roe"]


def test_refs_dedupe_by_slug_in_order() -> None:
    e = EntryData(
        original_id=None,
        link=None,
        title="t",
        authors=(
            Author(name="By JOSÉ NÚÑEZ"),
            Author(name=None, email="x@example.com"),
            Author(name="ramsha@example.com"),
            Author(name="Ramsha Riaz (Staff Writer)"),
            Author(name="jose nunez"),
            Author(name="Ramsha Riaz <r@example.com>"),
        ),
    )
    assert author_refs(e) == (
        AuthorRef(slug="jose-nunez", name="José Núñez"),
        AuthorRef(slug="ramsha-riaz", name="Ramsha Riaz"),
    )


def test_organisations_get_no_feed() -> None:
    assert refs("Staff", "Reuters", "Editorial Team", "Newsroom", "Admin") == []
    assert refs("Associated Press") == []
    assert refs("TechCrunch", site=site_names("TechCrunch")) == []
    assert author_refs(entry(None)) == ()


def test_configured_aliases_merge_into_one_author() -> None:
    rules = compile_authors(
        (
            AuthorConfig(
                "ramsha-riaz",
                "Ramsha Riaz",
                aliases=("R. Riaz", "ramsha@example.org", "Ramsha R."),
            ),
        )
    )
    want = (AuthorRef("ramsha-riaz", "Ramsha Riaz"),)
    assert author_refs(entry("r riaz"), rules) == want
    assert author_refs(entry("By R. RIAZ (Editor)"), rules) == want
    assert author_refs(entry("Ramsha R., Reuters"), rules) == want
    # by email: an email alone, in the name, or in the email field
    assert author_refs(entry("ramsha@example.org"), rules) == want
    assert author_refs(entry("RAMSHA@example.org (R)"), rules) == want
    assert author_refs(entry(None, email="ramsha@example.org"), rules) == want
    # unconfigured spellings are untouched
    assert refs("R. Riaz") == ["r-riaz"]


def test_configured_display_name_wins() -> None:
    rules = compile_authors((AuthorConfig("jose", "José Núñez Ortega"),))
    assert author_refs(entry("JOSE"), rules) == (
        AuthorRef("jose", "José Núñez Ortega"),
    )


def test_configured_organisations_and_unpublished_people() -> None:
    rules = compile_authors(
        (
            AuthorConfig("reuters", "Reuters", organisation=True, publish=True),
            AuthorConfig("jane-doe", "Jane Doe", publish=False),
            AuthorConfig("the-daily", "The Daily", organisation=True, publish=False),
        )
    )
    assert refs("Ramsha Riaz, Reuters", rules=rules) == ["ramsha-riaz", "reuters"]
    assert refs("Jane Doe and John Roe", rules=rules) == ["john-roe"]
    assert refs("The Daily", rules=rules) == []


def test_compiled_rules_are_cached_per_section() -> None:
    section = (AuthorConfig("a", "A"),)
    assert compile_authors(section) is compile_authors((AuthorConfig("a", "A"),))


# --------------------------------------------------------------------------
# End to end: two local sources, the CLI, the server
# --------------------------------------------------------------------------

RSS_ITEMS = [
    # (guid, title, author element)
    ("p1", "Port cranes idle", "<author>ramsha@example.org (Ramsha Riaz)</author>"),
    ("p2", "Grain prices climb", "<dc:creator>By Ramsha Riaz</dc:creator>"),
    ("p3", "Tidal power survey", "<dc:creator>Jane Doe and John Roe</dc:creator>"),
    ("p4", "Council budget vote", "<dc:creator>Staff</dc:creator>"),
    ("p5", "Rail strike called", "<dc:creator>Reuters</dc:creator>"),
    ("p6", "Gizmo turns ten", "<dc:creator>GIZMO</dc:creator>"),
    ("p7", "Harbour dredging plan", "<dc:creator>R. Riaz</dc:creator>"),
]
ATOM_ENTRIES = [
    ("l1", "Copper futures slide", ["RAMSHA RIAZ"]),
    ("l2", "Bond yields steady", ["Ramsha Riaz (Staff Writer)"]),
    ("l3", "Shipping rates fall", ["Ramsha Riaz, Reuters"]),
    ("l4", "Lithium mine approved", ["Jane Doe", "Editorial Team"]),
    ("l5", "Ferry timetable", ["Associated Press", "Newsroom"]),
    ("l6", "Site maintenance", ["Admin"]),
]
#: distinct words per entry, so that no two are near-duplicate stories
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"


def _body(i: int) -> str:
    words = WORDS.split()
    return " ".join(f"{w}{i}x{j}" for j, w in enumerate(words))


def rss_feed() -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>https://gizmo.example/{guid}</link>"
        f"<guid>https://gizmo.example/{guid}</guid>"
        f"<pubDate>Mon, 0{i + 1} Jun 2026 10:00:00 GMT</pubDate>{author}"
        f"<description>{_body(i)}</description></item>"
        for i, (guid, title, author) in enumerate(RSS_ITEMS)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Gizmo</title>'
        "<link>https://gizmo.example/</link><description>d</description>"
        f"{items}</channel></rss>"
    ).encode()


def atom_feed() -> bytes:
    entries = "".join(
        f"<entry><id>urn:ledger:{eid}</id><title>{title}</title>"
        f'<link href="https://ledger.example/{eid}"/>'
        f"<updated>2026-06-{i + 10:02d}T10:00:00Z</updated>"
        + "".join(f"<author><name>{n}</name></author>" for n in names)
        + f"<summary>{_body(100 + i)}</summary></entry>"
        for i, (eid, title, names) in enumerate(ATOM_ENTRIES)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:ledger</id>'
        "<title>The Ledger</title><updated>2026-06-20T10:00:00Z</updated>"
        f'<link rel="alternate" href="https://ledger.example/"/>{entries}</feed>'
    ).encode()


def write_config(path: Path, server: FeedServer, authors: str = "") -> None:
    gizmo = server.put("/gizmo.xml", rss_feed(), "application/rss+xml")
    ledger = server.put("/ledger.atom", atom_feed(), "application/atom+xml")
    path.write_text(
        f"""
database: feedhub.db
server: {{host: 127.0.0.1, port: 0, base_url: "http://127.0.0.1/"}}
polling:
  allow_private_networks: ["127.0.0.1:{server.port}"]
  workers: 1
sources:
  - url: {gizmo}
  - url: {ledger}
    name: Ledger Daily
{authors}
""",
        encoding="utf-8",
    )


def run_poll(config: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(config), "poll", "--all"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output


@pytest.fixture
def site(tmp_path: Path, feed_server: FeedServer) -> Iterator[dict[str, Any]]:
    config = tmp_path / "feeds.yaml"
    write_config(config, feed_server)
    run_poll(config)
    yield {"config": config, "server": feed_server}


def serve(config_path: Path, sock: socket.socket) -> Any:
    """Serve the database of ``config_path``; yields a GET helper."""
    config = load_config(config_path)
    storage = Storage(config.database)
    return storage, running_app(create_app(storage, config, recheck=0), sock)


def titles(body: bytes) -> set[str]:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.bozo_exception
    return {e.title for e in parsed.entries}


def test_each_person_gets_one_feed_across_sources(site, free_socket):
    storage, app = serve(site["config"], free_socket)
    with storage, app as url:
        ramsha = httpx.get(url + "authors/ramsha-riaz.atom", timeout=10)
        assert ramsha.status_code == 200
        assert titles(ramsha.content) == {
            "Port cranes idle",
            "Grain prices climb",
            "Copper futures slide",
            "Bond yields steady",
            "Shipping rates fall",
        }
        jane = httpx.get(url + "authors/jane-doe.atom", timeout=10).content
        assert titles(jane) == {"Tidal power survey", "Lithium mine approved"}
        john = httpx.get(url + "authors/john-roe.rss", timeout=10).content
        assert titles(john) == {"Tidal power survey"}
        # an unconfigured alias is its own author, for now
        assert titles(httpx.get(url + "authors/r-riaz.atom", timeout=10).content) == {
            "Harbour dredging plan"
        }
        for org in (
            "staff",
            "reuters",
            "gizmo",
            "editorial-team",
            "associated-press",
            "newsroom",
            "admin",
        ):
            response = httpx.get(url + f"authors/{org}.atom", timeout=10)
            assert response.status_code == 404, org
        # organisation bylines still leave the entry in the all feed
        everything = titles(httpx.get(url + "all.atom", timeout=10).content)
        assert {"Council budget vote", "Ferry timetable"} <= everything


class IndexParser:
    """The authors listed on /authors/ with their counts and sources."""

    ITEM = re.compile(
        r'<li id="(?P<slug>[^"]+)"><a href="[^"]+">(?P<name>[^<]+)</a>'
        r'(?P<org> <span class="meta">\(organisation\)</span>)?'
        r' <span class="count">(?P<n>\d+) entr(?:y|ies)</span>'
        r'.*?(?:<span class="about">Writes for (?P<sources>[^<]+)</span>)?'
        r'<span class="newest">'
    )

    @classmethod
    def parse(cls, html: str) -> list[tuple[str, str, int, str, bool]]:
        return [
            (
                m["slug"],
                m["name"],
                int(m["n"]),
                m["sources"] or "",
                m["org"] is not None,
            )
            for m in cls.ITEM.finditer(html)
        ]


def test_authors_index_page(site, free_socket):
    storage, app = serve(site["config"], free_socket)
    with storage, app as url:
        page = httpx.get(url + "authors/", timeout=10)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        listed = IndexParser.parse(page.text)
        # most entries first, then the most recent
        assert listed[0] == (
            "ramsha-riaz",
            "Ramsha Riaz",
            5,
            "Ledger Daily, Gizmo",
            False,
        )
        assert [row[0] for row in listed] == [
            "ramsha-riaz",
            "jane-doe",
            "r-riaz",
            "john-roe",
        ]
        assert listed[1][2:4] == (2, "Gizmo, Ledger Daily")
        html = page.text
        for ext in ("atom", "rss", "json"):
            assert f'href="http://127.0.0.1/authors/ramsha-riaz.{ext}"' in html
        assert 'href="http://127.0.0.1/authors/ramsha-riaz.html"' in html
        assert 'href="http://127.0.0.1/authors.opml"' in html
        # the same page at index.html, cached with a strong ETag
        same = httpx.get(url + "authors/index.html", timeout=10)
        assert same.content == page.content
        etag = page.headers["etag"]
        again = httpx.get(url + "authors/", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        # linked from the front page
        front = httpx.get(url, timeout=10).text
        assert 'href="http://127.0.0.1/authors/"' in front


AUTHORS = """
authors:
  ramsha-riaz:
    name: Ramsha Riaz
    aliases: [R. Riaz]
  reuters:
    name: Reuters
    organisation: true
    publish: true
  john-roe:
    publish: false
"""


def test_changing_authors_refiles_stored_entries(site, free_socket):
    config = site["config"]
    with Storage(load_config(config).database) as storage:
        before = pipeline.author_index(storage, load_config(config))
    assert "r-riaz" in {a.slug for a in before}
    write_config(config, site["server"], AUTHORS)
    run_poll(config)  # unchanged sources: only the config changed
    storage, app = serve(config, free_socket)
    with storage, app as url:
        ramsha = titles(httpx.get(url + "authors/ramsha-riaz.atom").content)
        assert "Harbour dredging plan" in ramsha and len(ramsha) == 6
        reuters = titles(httpx.get(url + "authors/reuters.atom").content)
        assert reuters == {"Rail strike called", "Shipping rates fall"}
        # John Roe is no longer published; his last feed says why (RFC 6721)
        # and R. Riaz's entry moved to Ramsha Riaz's feed
        for slug, link in (
            ("john-roe", "https://gizmo.example/p3"),
            ("r-riaz", "https://gizmo.example/p7"),
        ):
            response = httpx.get(url + f"authors/{slug}.atom")
            assert response.status_code == 200, slug
            root = ET.fromstring(response.content)
            assert root.findall(f"{ATOM}entry") == []
            deleted = root.findall(f"{TOMBSTONES}deleted-entry")
            assert len(deleted) == 1, slug
            deleted_link = deleted[0].find(f"{ATOM}link")
            assert deleted_link is not None, slug
            assert deleted_link.get("href") == link
        listed = IndexParser.parse(httpx.get(url + "authors/").text)
        by_slug = {row[0]: row for row in listed}
        assert set(by_slug) == {"ramsha-riaz", "jane-doe", "reuters"}
        assert by_slug["ramsha-riaz"][2] == 6
        assert by_slug["reuters"][4] is True  # marked as an organisation
    # back again: the entries return to where they were
    write_config(config, site["server"])
    run_poll(config)
    with Storage(load_config(config).database) as storage:
        after = pipeline.author_index(storage, load_config(config))
    assert [(a.slug, a.entry_count) for a in after] == [
        (a.slug, a.entry_count) for a in before
    ]


def test_static_export_writes_the_authors_index(site, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["--config", str(site["config"]), "publish", "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    page = (out / "authors" / "index.html").read_text(encoding="utf-8")
    assert [row[0] for row in IndexParser.parse(page)][0] == "ramsha-riaz"
    assert (out / "authors" / "ramsha-riaz.atom").exists()
    assert not (out / "authors" / "reuters.atom").exists()
