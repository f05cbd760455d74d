"""Tests for feedhub.normalize: sanitizing, plain titles, URLs, authors, hypothesis."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedhub.normalize import MAX_TITLE_LENGTH, normalize, sanitize_html
from feedhub.types import (
    Author,
    ContentType,
    Enclosure,
    EntryData,
    FeedData,
    ParsedContent,
    ParsedEntry,
    ParsedFeed,
)

URL = "https://feed.example/blog/feed.xml"
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
DANGEROUS_TAGS = {
    "script", "style", "iframe", "svg", "math", "form", "input", "button",
    "object", "embed", "video", "audio", "source", "base", "meta", "link",
}  # fmt: skip


def entry_of(**kwargs: object) -> EntryData:
    return normalize(ParsedFeed(url=URL, entries=(ParsedEntry(**kwargs),))).entries[0]  # type: ignore[arg-type]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_safe_html(fragment: str) -> None:
    """No dangerous element, no event handler, only absolute safe URLs."""
    assert "<script" not in fragment.lower()
    assert not FORBIDDEN.search(fragment)
    collector = _Collector()
    collector.feed(fragment)
    collector.close()
    for tag, attrs in collector.tags:
        assert tag not in DANGEROUS_TAGS, fragment
        for name, value in attrs:
            assert not name.startswith("on"), fragment
            assert name not in {"style", "srcset", "poster", "action", "formaction"}
            if name in {"href", "src", "cite"}:
                assert value is not None
                parts = urlsplit(value)
                assert parts.scheme in {"http", "https", "mailto"}, value
                assert parts.scheme == "mailto" or parts.netloc, value


# --------------------------------------------------------------------------
# sanitize_html
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Hello <b>world</b></p>", "<p>Hello <b>world</b></p>"),
        ("<script>alert(1)</script><p>x</p>", "<p>x</p>"),
        (
            '<img src="a.png" onerror="alert(1)">',
            '<img src="https://base.example/d/a.png">',
        ),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="JAVASCRIPT:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        (
            '<a href="java&#x09;script:alert(1)">x</a>',
            '<a rel="noopener noreferrer">x</a>',
        ),
        (
            '<a href=" java\tscript:alert(1)">x</a>',
            '<a rel="noopener noreferrer">x</a>',
        ),
        ('<a href="vbscript:x">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="file:///etc/passwd">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<img src="data:image/png;base64,AAAA">', "<img>"),
        (
            '<a href="mailto:a@b.example">m</a>',
            '<a href="mailto:a@b.example" rel="noopener noreferrer">m</a>',
        ),  # noqa: E501
        (
            '<a href="../up">u</a>',
            '<a href="https://base.example/up" rel="noopener noreferrer">u</a>',
        ),  # noqa: E501
        (
            '<a href="//cdn.example/x">p</a>',
            '<a href="https://cdn.example/x" rel="noopener noreferrer">p</a>',
        ),  # noqa: E501
        (
            '<a href="#top" target="_blank" rel="opener">t</a>',
            '<a href="https://base.example/d/#top" rel="noopener noreferrer">t</a>',
        ),  # noqa: E501
        (
            '<blockquote cite="/src">q</blockquote>',
            '<blockquote cite="https://base.example/src">q</blockquote>',
        ),  # noqa: E501
        ('<a href="http://[::1">bad</a>', '<a rel="noopener noreferrer">bad</a>'),
        ("<svg><circle/><script>alert(1)</script>text</svg>ok", "ok"),
        ('<math><mi xlink:href="javascript:x">m</mi></math>ok', "ok"),
        ('<iframe src="https://evil.example/">fallback</iframe>ok', "ok"),
        ("<style>p{}</style><p style='color:red' class='c' id='i'>s</p>", "<p>s</p>"),
        ('<form action="/x"><input name="p"><button>Go</button></form>', "Go"),
        (
            '<video poster="javascript:x" src="/v.mp4"><source src="/v.webm"></video>',
            "",
        ),
        (
            '<img srcset="/a.png 2x" src="/b.png">',
            '<img src="https://base.example/b.png">',
        ),
        ("<!-- comment --><p>c</p>", "<p>c</p>"),
        ("<p>nul\x00 and \x1b escape &#1; ref</p>", "<p>nul and  escape  ref</p>"),
        (
            "<table><tr><td colspan=2 onclick=x>c</td></tr></table>",
            '<table><tbody><tr><td colspan="2">c</td></tr></tbody></table>',
        ),  # noqa: E501
        ("   ", ""),
        ("", ""),
    ],
)
def test_sanitize_html(html: str, expected: str) -> None:
    result = sanitize_html(html, "https://base.example/d/")
    assert result == expected
    assert_safe_html(result)


def test_sanitize_html_without_base_drops_relative_urls() -> None:
    result = sanitize_html(
        '<a href="/x">x</a><img src="https://ok.example/i.png">', None
    )
    assert (
        result
        == '<a rel="noopener noreferrer">x</a><img src="https://ok.example/i.png">'
    )


# --------------------------------------------------------------------------
# normalize: entries
# --------------------------------------------------------------------------


def test_title_html_is_stripped_and_unescaped() -> None:
    title = ParsedContent(
        "An <b>HTML</b> &amp; <script>x()</script>title", ContentType.HTML
    )
    assert entry_of(title=title).title == "An HTML & title"


def test_title_text_is_kept_literally() -> None:
    title = ParsedContent("  Why\n <div> is\tnot &amp; a tag ", ContentType.TEXT)
    assert entry_of(title=title).title == "Why <div> is not &amp; a tag"


def test_title_missing_is_empty() -> None:
    assert entry_of().title == ""
    assert entry_of(title=ParsedContent(" \x00 ", ContentType.TEXT)).title == ""


def test_title_is_capped_with_an_ellipsis() -> None:
    entry = entry_of(title=ParsedContent("word " * 1000, ContentType.TEXT))
    assert len(entry.title) <= MAX_TITLE_LENGTH
    assert entry.title.endswith("word…")


def test_text_content_is_escaped_into_paragraphs() -> None:
    content = ParsedContent(
        "a < b & c\r\nnext line\n\n\nnew <p>aragraph", ContentType.TEXT
    )
    entry = entry_of(content=(content,))
    assert (
        entry.content
        == "<p>a &lt; b &amp; c<br>next line</p><p>new &lt;p&gt;aragraph</p>"
    )


def test_best_content_is_the_longest_html() -> None:
    contents = (
        ParsedContent("a much longer plain text alternative body", ContentType.TEXT),
        ParsedContent("<p>short</p>", ContentType.HTML),
        ParsedContent("<p>longer html</p>", ContentType.HTML),
        ParsedContent("   ", ContentType.HTML),
    )
    entry = entry_of(content=contents, summary=ParsedContent("<p>s</p>"))
    assert entry.content == "<p>longer html</p>"
    assert entry.summary == "<p>s</p>"


def test_summary_only() -> None:
    entry = entry_of(summary=ParsedContent("plain & simple", ContentType.TEXT))
    assert entry.summary == "<p>plain &amp; simple</p>"
    assert entry.content is None


def test_content_that_sanitizes_to_nothing_is_none() -> None:
    entry = entry_of(content=(ParsedContent("<script>x</script>"),))
    assert entry.content is None


def test_content_base_wins_over_feed_url() -> None:
    content = ParsedContent('<img src="i.png">', base="https://cdn.example/a/")
    assert (
        entry_of(content=(content,)).content
        == '<img src="https://cdn.example/a/i.png">'
    )
    bad_base = ParsedContent('<img src="i.png">', base="javascript:alert(1)")
    assert (
        entry_of(content=(bad_base,)).content
        == '<img src="https://feed.example/blog/i.png">'
    )


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("/post/1", "https://feed.example/post/1"),
        ("  https://x.example/a b  ", "https://x.example/ab"),
        ("javascript:alert(1)", None),
        ("mailto:a@b.example", None),
        ("ftp://x.example/f", None),
        ("http://[::1", None),
        ("https://", None),
        ("", None),
        (None, None),
    ],
)
def test_links_are_absolute_http(link: str | None, expected: str | None) -> None:
    entry = entry_of(link=link, origin_link=link)
    assert entry.link == expected
    assert entry.origin_link == expected


def test_authors() -> None:
    authors = (
        Author(name="  Jane   Roe "),
        Author(name="jane@example.com (Jane Roe)"),
        Author(name="John Doe <john@example.com>", uri="/john"),
        Author(name="John Doe <john@example.com>", uri="/john"),
        Author(name="By Someone", email="mailto:s@example.com", uri="javascript:x"),
        Author(name=" ", email=" ", uri="ftp://x"),
        Author(email="only@example.com"),
        Author(email="only@example.com"),
    )
    assert entry_of(authors=authors).authors == (
        Author(name="Jane Roe", email="jane@example.com"),
        Author(
            name="John Doe", email="john@example.com", uri="https://feed.example/john"
        ),
        Author(name="By Someone", email="s@example.com"),
        Author(email="only@example.com"),
    )


def test_author_mailto_uri_is_kept() -> None:
    authors = (Author(name="M", uri="mailto:m@example.com"),)
    assert entry_of(authors=authors).authors == (
        Author(name="M", uri="mailto:m@example.com"),
    )


def test_categories() -> None:
    categories = ("AI", " ai ", "Open\n Source", "", "  ", "open source", "ML")
    assert entry_of(categories=categories).categories == ("AI", "Open Source", "ML")


def test_enclosures() -> None:
    enclosures = (
        Enclosure(url="/a.mp3", type=" audio/mpeg ", length=10),
        Enclosure(url="/a.mp3", type="audio/mpeg", length=10),
        Enclosure(url="data:audio/mpeg,xx", type="audio/mpeg"),
        Enclosure(url="https://x.example/b.mp3", type="", length=-1),
    )
    assert entry_of(enclosures=enclosures).enclosures == (
        Enclosure(url="https://feed.example/a.mp3", type="audio/mpeg", length=10),
        Enclosure(url="https://x.example/b.mp3"),
    )


def test_dates_become_utc() -> None:
    paris = timezone(timedelta(hours=2))
    entry = entry_of(
        published=datetime(2025, 7, 1, 12, 0, tzinfo=paris),
        updated=datetime(2025, 7, 1, 12, 0),  # noqa: DTZ001 - naive on purpose
    )
    assert entry.published == datetime(2025, 7, 1, 10, 0, tzinfo=UTC)
    assert entry.published is not None and entry.published.tzinfo is UTC
    assert entry.updated == datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    # Far-past dates are kept as given, only made UTC.
    old = entry_of(published=datetime(1900, 1, 1, tzinfo=UTC)).published
    assert old == datetime(1900, 1, 1, tzinfo=UTC)


def test_date_that_overflows_in_utc_is_none() -> None:
    east = timezone(timedelta(hours=5))
    assert entry_of(published=datetime(1, 1, 1, 1, 0, tzinfo=east)).published is None


def test_original_id() -> None:
    assert entry_of(id="  guid-1 \n").original_id == "guid-1"
    assert entry_of(id="  ").original_id is None
    assert entry_of(id="a\x00b").original_id == "ab"


# --------------------------------------------------------------------------
# normalize: feed
# --------------------------------------------------------------------------


def test_feed_fields() -> None:
    parsed = ParsedFeed(
        url=URL,
        id=" urn:x ",
        title="  My\x07  Feed ",
        link="/",
        subtitle=" Sub\ttitle ",
        icon="javascript:x",
        language=" en ",
        ttl=-5,
        authors=(Author(name="A"), Author(name="a")),
    )
    assert normalize(parsed) == FeedData(
        url=URL,
        id="urn:x",
        title="My Feed",
        link="https://feed.example/",
        subtitle="Sub title",
        icon=None,
        language="en",
        ttl=None,
        authors=(Author(name="A"),),
    )


def test_empty_feed() -> None:
    assert normalize(ParsedFeed(url=URL, title="  ")) == FeedData(url=URL)


# --------------------------------------------------------------------------
# hypothesis
# --------------------------------------------------------------------------

_HOSTILE = [
    "<script>", "</script>", "<SCRIPT SRC=//x>", "<img src=x onerror=alert(1)>",
    "<a href='javascript:alert(1)'>", "<a href=\"jav&#x09;ascript:x\">", "</a>",
    "<svg onload=x>", "<math>", "<iframe src=//x>", "<form action=javascript:x>",
    "<video poster=javascript:x>", "<style>", "<p style='x'>", "<!--", "-->",
    "<![CDATA[", "]]>", "&", "&amp;", "&#0;", "&#1;", "&#x80;", "&#xd800;", "<",
    ">", '"', "'", "=", " on", "onclick=", "<b>", "</b>", "<p>", "</p>", "<br/>",
    "<a href=", "/x", "data:", "vbscript:", "\x00", "\x0b", "\x85", "\ud800",
    "\ufffe", "\r\n", "<noscript>", "<template>", "<object data=x>", "<base href=x>",
    "<table><td>", "<blockquote cite=javascript:x>", "<img src=http://[::1>",
]  # fmt: skip
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()))
html_soup = st.lists(st.sampled_from(_HOSTILE) | any_text, max_size=30).map("".join)
maybe_text = st.none() | any_text | html_soup
contents = st.builds(
    ParsedContent,
    value=html_soup,
    type=st.sampled_from(ContentType),
    base=st.none() | st.sampled_from(["https://b.example/x/", "javascript:x", ""]),
)
urls = (
    st.none()
    | st.sampled_from(["/a", "https://x.example/", "javascript:x", "//h/p"])
    | any_text
)
dates = st.none() | st.datetimes(timezones=st.none() | st.timezones())
authors = st.builds(Author, name=maybe_text, email=maybe_text, uri=urls)
entries = st.builds(
    ParsedEntry,
    id=maybe_text,
    link=urls,
    origin_link=urls,
    title=st.none() | contents,
    summary=st.none() | contents,
    content=st.lists(contents, max_size=3).map(tuple),
    authors=st.lists(authors, max_size=3).map(tuple),
    published=dates,
    updated=dates,
    categories=st.lists(maybe_text.map(lambda t: t or ""), max_size=4).map(tuple),
    enclosures=st.lists(
        st.builds(
            Enclosure, url=any_text, type=maybe_text, length=st.none() | st.integers()
        )
    ).map(tuple),
)
feeds = st.builds(
    ParsedFeed,
    url=st.sampled_from([URL, "", "not a url", "https://x.example/\x00"]),
    title=maybe_text,
    link=urls,
    subtitle=maybe_text,
    icon=urls,
    id=maybe_text,
    language=maybe_text,
    ttl=st.none() | st.integers(),
    updated=dates,
    authors=st.lists(authors, max_size=3).map(tuple),
    entries=st.lists(entries, max_size=3).map(tuple),
)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple):
        return [s for v in value for s in _strings(v)]
    slots = getattr(type(value), "__slots__", ())
    return [s for name in slots for s in _strings(getattr(value, name))]


def _assert_link(url: str | None, schemes: set[str]) -> None:
    if url is not None:
        assert urlsplit(url).scheme in schemes, url


@settings(max_examples=300, deadline=None)
@given(feeds)
def test_normalize_never_raises_and_output_is_clean(parsed: ParsedFeed) -> None:
    feed = normalize(parsed)
    for text in _strings(feed):
        assert not FORBIDDEN.search(text), repr(text)
    for link in (feed.link, feed.icon):
        _assert_link(link, {"http", "https"})
    for entry in feed.entries:
        assert "\n" not in entry.title and len(entry.title) <= MAX_TITLE_LENGTH
        assert entry.title == entry.title.strip()
        for html in (entry.summary, entry.content):
            if html is not None:
                assert html.strip()
                assert_safe_html(html)
        for link in (entry.link, entry.origin_link, *(e.url for e in entry.enclosures)):
            _assert_link(link, {"http", "https"})
        for author in (*entry.authors, *feed.authors):
            _assert_link(author.uri, {"http", "https", "mailto"})
            assert author.name or author.email or author.uri
        for date in (entry.published, entry.updated):
            assert date is None or date.utcoffset() == timedelta(0)
        folded = [c.casefold() for c in entry.categories]
        assert len(folded) == len(set(folded)) and all(folded)


@settings(max_examples=300, deadline=None)
@given(html_soup, st.none() | st.sampled_from(["https://b.example/x/", "http://h/"]))
def test_sanitize_html_output_is_safe(html: str, base: str | None) -> None:
    assert_safe_html(sanitize_html(html, base))
