"""Tests for feedhub.clean: boilerplate rules on HTML and plain text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedhub.clean import BUILTIN_RULES, clean_entry, clean_html, compile_rules
from feedhub.types import Author, CleanAction, CleanRule, EntryData

DATA = Path(__file__).parent / "data"
SEED = DATA / "dedupe" / "seed-openai-delay-story.txt"
RULES = compile_rules()


def vocal_content() -> str:
    expected = json.loads((DATA / "feeds" / "seed-rss.expected.json").read_text())
    content: str = next(
        e["content"] for e in expected["entries"] if "Comments" in e["content"]
    )
    return content


def test_the_seed_story_on_vocal_loses_its_platform_blocks_only() -> None:
    raw = vocal_content()
    cleaned, bio = clean_html(raw, RULES)
    for gone in (
        "About the Creator",
        "Comments",
        "There are no comments for this story",
        "Be the first to respond",
        "Subscribe to Futurism on Vocal",
    ):
        assert gone not in cleaned
    assert bio == (
        "Ramsha Riaz",
        "Ramsha Riaz is a tech and career content writer specializing in AI, job "
        "trends, resume writing, and LinkedIn optimization. He shares actionable "
        "advice and insights to help professionals stay updated.",
    )
    # everything before the boilerplate is kept byte for byte: the article's
    # last paragraph, curly quotes, the author's typo, headings, markup
    cut = raw.index('<p><a href="https://vocal.media/futurism"')
    assert cleaned == raw[:cut].strip()
    assert "developrs" in cleaned and "OpenAI\u2019s" in cleaned
    assert "<h2>Industry Reaction</h2>" in cleaned


def test_the_seed_story_as_plain_text_is_cleaned_line_by_line() -> None:
    raw = SEED.read_text(encoding="utf-8")
    cleaned, bio = clean_html(raw, RULES)
    assert cleaned.endswith("integrated into every stage of AI development.")
    assert cleaned.startswith("Sam Altman Confirms Indefinite Delay")
    assert "About the Creator" not in cleaned and "Comments" not in cleaned
    assert bio[0] == "Ramsha Riaz"


def test_clean_entry_moves_the_bio_to_the_matching_author() -> None:
    entry = EntryData(
        None,
        "https://vocal.media/x",
        "t",
        content=vocal_content(),
        authors=(Author(name="Someone Else"), Author(name="Ramsha Riaz")),
    )
    cleaned = clean_entry(entry, RULES)
    assert cleaned.authors[0].bio is None
    assert (cleaned.authors[1].bio or "").startswith("Ramsha Riaz is a tech")
    assert cleaned.authors[1].name == "Ramsha Riaz"


def test_clean_entry_creates_the_author_from_the_bio_when_the_feed_has_none() -> None:
    entry = EntryData(None, None, "t", content=vocal_content())
    (author,) = clean_entry(entry, RULES).authors
    assert author.name == "Ramsha Riaz" and author.bio


def test_an_entry_without_boilerplate_is_returned_as_is() -> None:
    entry = EntryData(None, None, "t", content="<p>Nothing to see.</p>", summary="x")
    assert clean_entry(entry, RULES) is entry


def test_words_inside_a_sentence_are_never_matched() -> None:
    html = (
        "<p>Readers left 40 comments; subscribe to the idea that sharing matters.</p>"
        "<p>Comments are closed, the editor said, after the debate.</p>"
    )
    assert clean_html(html, RULES) == (html, ())


@pytest.mark.parametrize(
    ("html", "kept"),
    [
        ("<p>Story.</p><h3>Responses (3)</h3><p>Nice!</p>", "<p>Story.</p>"),
        ("<p>Story.</p><p>Share this article</p>", "<p>Story.</p>"),
        (
            "<p>Story.</p><p>The post Story appeared first on Example Blog.</p>",
            "<p>Story.</p>",
        ),
        (
            "<p>Story.</p><p><em>This story was originally published by Wire.</em></p>",
            "<p>Story.</p>",
        ),
        ("<p>Story.</p><p>Read more: Other news of the day</p>", "<p>Story.</p>"),
        ("<p>Story.</p><h4>Related stories</h4><ul><li>a</li></ul>", "<p>Story.</p>"),
        (
            "<p>Thanks for reading Circuit! Subscribe for free to receive new posts."
            "</p><p>Story.</p>",
            "<p>Story.</p>",
        ),
        ("<div><p>Story.</p><div><p>Share</p></div></div>", "<div><p>Story.</p></div>"),
    ],
)
def test_builtin_rules(html: str, kept: str) -> None:
    assert clean_html(html, RULES)[0] == kept


def test_cut_removes_everything_after_even_across_containers() -> None:
    html = (
        "<div><p>Keep.</p><section><h4>Comments</h4><p>a</p></section><p>b</p></div>"
        "<p>c</p>"
    )
    assert clean_html(html, RULES)[0] == "<div><p>Keep.</p></div>"


def test_cut_after_identical_siblings_and_deep_nesting() -> None:
    # Nodes must compare by identity: equal-looking siblings before the cut
    # point, and a deep tree, once made `list.index` pick the wrong node and
    # overflow the stack (found on the benchmark corpus).
    same = "<div><p>Same.</p></div>" * 3
    html = same + "<div><h4>Comments</h4></div><p>gone</p>"
    assert clean_html(html, RULES)[0] == same
    deep = "<div>" * 50 + "<p>Keep.</p><h4>Comments</h4><p>x</p>" + "</div>" * 50
    cleaned = clean_html(deep, RULES)[0]
    assert "Keep." in cleaned and "x</p>" not in cleaned
    # nesting too deep to walk: returned as is (already sanitized), no crash
    hostile = "<div>" * 2000 + "<h4>Comments</h4>" + "</div>" * 2000
    assert clean_html(hostile, RULES) == (hostile, ())


def test_media_only_blocks_survive_pruning() -> None:
    html = '<figure><img src="https://a/x.png"></figure><p>Share</p>'
    assert clean_html(html, RULES)[0] == '<figure><img src="https://a/x.png"></figure>'


def test_operator_rules_and_disabled_builtins() -> None:
    rules = compile_rules(
        [CleanRule("sponsor", r"sponsored by .*", CleanAction.DROP)], disable=["share"]
    )
    html = "<p>Story.</p><p>Sponsored by ACME</p><p>Share</p>"
    assert clean_html(html, rules)[0] == "<p>Story.</p><p>Share</p>"
    assert {r.name for r in BUILTIN_RULES} >= {"creator-bio", "comments", "share"}


def test_a_bad_pattern_names_its_rule() -> None:
    with pytest.raises(ValueError, match=r"^clean: rule 'oops'"):
        compile_rules([CleanRule("oops", "(")])


def test_entities_and_stray_end_tags_round_trip() -> None:
    html = "<p>A &amp; B &#8217;s</p></span><p>Share</p>"
    assert clean_html(html, RULES)[0] == "<p>A &amp; B &#8217;s</p>"


@given(st.text(max_size=300))
def test_cleaning_is_idempotent(text: str) -> None:
    once, _ = clean_html(text, RULES)
    assert clean_html(once, RULES)[0] == once
