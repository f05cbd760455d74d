"""Tests for feedhub.curate: topic rules (author names: test_authors.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from feedhub.curate import TopicRules, compile_rules, match_topics
from feedhub.types import EntryData, Match, TopicConfig, TopicMatch

#: the seed story of the project brief, kept as a fixture
STORY = Path(__file__).parent / "data" / "seed" / "openai-delay-story.txt"

AI_TOPICS = (
    TopicConfig(
        slug="ai",
        title="AI",
        match=Match(
            any=("artificial intelligence", "AI", "OpenAI", "machine learning")
        ),
    ),
    TopicConfig(
        slug="ai-safety",
        title="AI safety",
        match=Match(any=("safety", "alignment", "misuse", "regulation"), all=("AI",)),
    ),
    TopicConfig(slug="openai", title="OpenAI", match=Match(any=("OpenAI",))),
)

FOOTBALL = """\
Arsenal 2-1 Chelsea: late Saka winner settles the London derby
<p>Bukayo Saka struck in the 89th minute at the Emirates on Saturday, after
Cole Palmer had cancelled out Martin &Oslash;degaard's opener from the penalty
spot. Mikel Arteta praised his side's resilience; the aid of a deflection
helped the winner past Robert S&aacute;nchez.</p>
"""


def entry(title: str = "", content: str | None = None, **kwargs: object) -> EntryData:
    return EntryData(
        original_id=None,
        link=None,
        title=title,
        content=content,
        **kwargs,  # type: ignore[arg-type]
    )


def topic(slug: str, **match: Any) -> TopicConfig:
    return TopicConfig(slug=slug, title=slug, match=Match(**match))


def slugs(matches: tuple[TopicMatch, ...]) -> list[str]:
    return [m.topic for m in matches]


def reasons(matches: tuple[TopicMatch, ...]) -> dict[str, str]:
    return {m.topic: m.reason for m in matches}


# --------------------------------------------------------------------------
# The brief's example
# --------------------------------------------------------------------------


@pytest.fixture
def story() -> EntryData:
    title, _, body = STORY.read_text(encoding="utf-8").partition("\n")
    return entry(title=title.strip(), content=body)


def test_openai_story_lands_in_ai_ai_safety_and_openai(story: EntryData) -> None:
    matches = match_topics(compile_rules(AI_TOPICS), story)
    assert slugs(matches) == ["ai", "ai-safety", "openai"]
    why = reasons(matches)
    assert why["ai"] == "match: 'AI' in content; 'OpenAI' in title"
    assert why["ai-safety"] == (
        "match: 'safety' in title; 'misuse', 'regulation' in content; 'AI' in content"
    )
    assert why["openai"] == "match: 'OpenAI' in title"


def test_openai_story_title_alone_lacks_the_word_ai(story: EntryData) -> None:
    # the title says "OpenAI’s" and "Safety" but never "AI" on its own, so
    # ai-safety's all: ["AI"] does not hold
    title_only = entry(title=story.title)
    matches = match_topics(compile_rules(AI_TOPICS), title_only)
    assert slugs(matches) == ["ai", "openai"]
    assert reasons(matches)["ai"] == "match: 'OpenAI' in title"


def test_football_report_lands_nowhere() -> None:
    title, _, body = FOOTBALL.partition("\n")
    report = entry(title=title, summary=body, categories=("Sport", "Premier League"))
    assert match_topics(compile_rules(AI_TOPICS), report) == ()


def test_aid_is_not_ai() -> None:
    rules = compile_rules(AI_TOPICS)
    assert match_topics(rules, entry(title="Aid convoy reaches the border")) == ()
    assert match_topics(rules, entry(title="AIDS research funding rises")) == ()
    assert slugs(match_topics(rules, entry(title="Aid agencies turn to AI"))) == ["ai"]


# --------------------------------------------------------------------------
# Word matching
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "text", "hit"),
    [
        ("AI", "ai is here", True),
        ("AI", "The AI.", True),
        ("AI", "OpenAI’s model", False),
        ("OpenAI", "OpenAI’s model", True),
        ("OpenAI", "openai-compatible", True),
        ("open", "OpenAI", False),
        ("machine learning", "Machine\n  Learning rocks", True),
        ("machine learning", "machine-learning", False),
        ("machine learning", "machinelearning", False),
        # accents folded on both sides
        ("café", "CAFE society", True),
        ("cafe", "Le Café", True),
        ("Núñez", "nunez scored", True),
        # terms starting/ending with non-word characters
        ("C++", "Written in C++.", True),
        ("C++", "Written in C++17", False),
        ("C++", "Written in C", False),
        ("GPT-4", "the GPT-4 series", True),
        ("GPT-4", "GPT-4o is out", False),
        (".NET", "a .NET shop", True),
        (".NET", "an ASP.NET shop", False),
        # regex metacharacters are literal
        ("a.b", "axb", False),
        ("(beta)", "release (beta) now", True),
        # compatibility forms: the "fi" ligature
        ("final", "the ﬁnal", True),
    ],
)
def test_whole_word_case_and_accent_insensitive(
    term: str, text: str, hit: bool
) -> None:
    rules = compile_rules([topic("t", any=(term,))])
    assert bool(match_topics(rules, entry(title=text))) is hit


@given(st.text(), st.text(), st.sampled_from(["AI", "machine learning", "C++"]))
@example("<p", "</script", "AI")
@example("<script>", "&#xffffffff; &amp", "C++")
def test_any_text_never_raises_and_a_spaced_term_always_matches(
    html: str, title: str, term: str
) -> None:
    rules = compile_rules([topic("t", any=(term,))])
    match_topics(rules, entry(title=title, summary=html, content=html))
    spaced = entry(title=f"{title} {term.upper()} {title}")
    assert slugs(match_topics(rules, spaced)) == ["t"]


def test_html_is_stripped_and_entities_unescaped() -> None:
    rules = compile_rules(
        [
            topic("telco", any=("AT&T",)),
            topic("tags", any=("strong", "href", "openai")),
            topic("code", any=("alert",)),
        ]
    )
    html = (
        '<p><strong>AT&amp;T</strong> news, see <a href="https://openai.com/x">'
        "here</a></p><script>alert(1)</script><style>p{}</style>"
    )
    for field in ("summary", "content"):
        assert slugs(match_topics(rules, entry(**{field: html}))) == ["telco"]


def test_tags_separate_words() -> None:
    rules = compile_rules([topic("t", any=("AI safety",))])
    assert match_topics(rules, entry(content="<li>AI</li><li>safety</li>"))
    assert not match_topics(rules, entry(content="<p>AIsafety</p>"))


def test_categories_count_as_text() -> None:
    rules = compile_rules([topic("ml", any=("machine learning",))])
    assert slugs(match_topics(rules, entry(categories=("Machine Learning",)))) == ["ml"]


def test_a_phrase_does_not_span_two_fields() -> None:
    rules = compile_rules([topic("t", any=("open source",))])
    assert not match_topics(rules, entry(title="Meta goes open", summary="source"))
    assert not match_topics(rules, entry(categories=("open", "source")))


# --------------------------------------------------------------------------
# any / all / none
# --------------------------------------------------------------------------


def test_all_requires_every_term() -> None:
    rules = compile_rules([topic("t", all=("rust", "async"))])
    assert match_topics(rules, entry(title="Async Rust in 2025"))
    assert not match_topics(rules, entry(title="Rust 1.80 released"))
    reason = reasons(match_topics(rules, entry(title="async rust")))["t"]
    assert reason == "match: 'rust' in title; 'async' in title"


def test_all_with_overlapping_terms() -> None:
    # an alternation would find "AI safety" and hide "AI" at the same spot
    rules = compile_rules([topic("t", all=("AI", "AI safety"))])
    assert match_topics(rules, entry(title="AI safety matters"))


def test_the_reason_lists_every_term_found_by_field() -> None:
    rules = compile_rules([topic("t", any=("AI", "AI safety", "risk"))])
    matches = match_topics(rules, entry(title="AI safety matters", summary="risk"))
    assert (
        reasons(matches)["t"] == "match: 'AI', 'AI safety' in title; 'risk' in summary"
    )


def test_none_vetoes() -> None:
    rules = compile_rules([topic("t", any=("python",), none=("snake", "zoo"))])
    assert match_topics(rules, entry(title="Python 3.14 is out"))
    assert not match_topics(rules, entry(title="Python snake escapes"))
    assert not match_topics(rules, entry(title="Python", categories=("Zoo",)))


def test_none_alone_selects_everything_else() -> None:
    rules = compile_rules([topic("t", none=("sport",))])
    assert reasons(match_topics(rules, entry(title="Elections")))["t"] == (
        "match: none of 'sport'"
    )
    assert not match_topics(rules, entry(title="Sport results"))


def test_empty_match_selects_everything() -> None:
    rules = compile_rules([topic("t")])
    assert reasons(match_topics(rules, entry(title="x")))["t"] == "match: everything"


def test_blank_any_terms_match_nothing() -> None:
    # a typo in the config must not flood the topic with every entry
    rules = compile_rules([topic("t", any=("", "  "))])
    assert not match_topics(rules, entry(title="anything at all"))


def test_reason_lists_terms_once_in_configured_order() -> None:
    rules = compile_rules([topic("t", any=("safety", "OpenAI", "openai", "misuse"))])
    e = entry(title="Misuse, safety and OpenAI; OpenAI again")
    assert reasons(match_topics(rules, e))["t"] == (
        "match: 'safety', 'OpenAI', 'misuse' in title"
    )


def test_topic_without_match_is_source_only() -> None:
    rules = compile_rules([TopicConfig(slug="news", title="News")])
    assert match_topics(rules, entry(title="news news news")) == ()
    assert match_topics(rules, entry(title="x"), ["news"]) == (
        TopicMatch("news", "source"),
    )


# --------------------------------------------------------------------------
# Source topics, ordering
# --------------------------------------------------------------------------


def test_source_topics_combine_with_rule_matches() -> None:
    rules = compile_rules(AI_TOPICS)
    e = entry(title="OpenAI ships a model")
    matches = match_topics(rules, e, source_topics=["tech", "openai", "tech"])
    assert matches == (
        TopicMatch("ai", "match: 'OpenAI' in title"),
        TopicMatch("openai", "source; match: 'OpenAI' in title"),
        TopicMatch("tech", "source"),
    )


def test_results_are_ordered_by_slug_whatever_the_config_order() -> None:
    topics = [topic(s, any=("x",)) for s in ("zeta", "alpha", "mid")]
    matches = match_topics(compile_rules(topics), entry(title="x"), ["beta"])
    assert slugs(matches) == ["alpha", "beta", "mid", "zeta"]


def test_empty_rules_and_no_sources() -> None:
    assert match_topics(compile_rules([]), entry(title="AI")) == ()


def test_duplicate_slugs_are_rejected() -> None:
    with pytest.raises(ValueError, match="curate: duplicate topic slug 'ai'"):
        compile_rules([topic("ai", any=("a",)), topic("ai", any=("b",))])


def test_rules_are_immutable() -> None:
    rules = compile_rules(AI_TOPICS)
    assert isinstance(rules, TopicRules)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules._rules = ()  # type: ignore[misc]
