"""clean's regex tree builder gives exactly what the html.parser one gives.

``clean._fast_tree`` handles sanitized HTML as normalize stores it; anything
else falls back to html.parser. Both paths must clean every input alike.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from feedhub import clean, normalize

RULES = clean.compile_rules()

_PIECES = st.sampled_from(
    [
        "<p>", "</p>", "<div>", "</div>", "<h3>", "</h3>", "<br>", "<br/>", "<b>",
        "</b>", "<a href='https://x.example/?a=1&b=2'>", "</a>", "<img src=x.png>",
        "<ul><li>", "</li></ul>", "<figure><figcaption>", "</figcaption></figure>",
        "<blockquote>", "</blockquote>", "<!-- c -->", "<script>x<p>y</script>",
        "&amp;", "&mdash;", "&#8212;", "&#x2014;", "&nbsp;", " & ", "&foo", " < ",
        " > ", "\n", "\r\n", "\u2028", "  ", "Share this", "Comments (3)",
        "Related:", "Read more", "About the author", "Written by Ann Lee",
        "Thanks for reading our newsletter", "Follow us on Mastodon", "Text",
        "Jane Doe", "It was a long day.", "<P CLASS=x>", "</P>", "<p\xa0x>",
    ]
)  # fmt: skip
DOCUMENTS = st.lists(_PIECES, max_size=30).map("".join)


def slow(content: str) -> tuple[str, tuple[str, ...]]:
    original = clean._fast_tree
    clean._fast_tree = lambda content: None
    try:
        return clean.clean_html(content, RULES)
    finally:
        clean._fast_tree = original


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_both_paths_clean_raw_html_alike(html: str) -> None:
    assert clean.clean_html(html, RULES) == slow(html)


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_both_paths_clean_sanitized_html_alike(html: str) -> None:
    sanitized = normalize.sanitize_html(html, "https://site.example/a/")
    assert clean.clean_html(sanitized, RULES) == slow(sanitized)


def test_sanitized_html_takes_the_fast_path() -> None:
    html = normalize.sanitize_html(
        "<p>A &amp; B &mdash; <a href='/x?a=1&b=2' title='a>b'>link</a></p>"
        "<p>Share this</p><h4>Comments</h4><p>First!</p>",
        "https://site.example/",
    )
    assert clean._fast_tree(html) is not None
    cleaned, bio = clean.clean_html(html, RULES)
    assert "Share this" not in cleaned and "First!" not in cleaned
    assert cleaned.startswith("<p>A &amp; B") and bio == ()
    assert (cleaned, bio) == slow(html)


def test_irregular_html_falls_back_to_html_parser() -> None:
    for html in ("a < b", "<p>x</p><!-- c -->", "<br/>", "AT&T", "<style>p{}</style>"):
        assert clean._fast_tree(html) is None
