"""The parse workers' fast paths give exactly what the plain code gives.

Each stage keeps its plain (reference) code next to a faster path used on every
entry (#4): dedupe's word bytes, packed shingles and per-bin minima
(``fingerprint``, whose buckets and shingles are stored under
``INDEX_VERSION``), normalize's ``_join`` (``urljoin``), clean's joined rule
pattern and curate's word split. These tests compare both, on generated input
and on the fixture feeds.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from feedhub import clean, normalize, parse
from feedhub.curate import _text
from feedhub.dedupe import _near
from feedhub.exceptions import ParseError
from feedhub.types import CleanAction, CleanRule, EntryData, Fingerprint

FEEDS = Path(__file__).parent / "data" / "feeds"

# characters that each take a different path: ASCII, folded by the table
# ("é", "’", "…", a no-break space, a lone combining mark), folded to upper
# case ("ℂ"), expanding ("ß", "ﬁ", "İ"), not foldable to ASCII ("ø", "½",
# CJK, a Devanagari mark), a lone surrogate
_CHARS = st.sampled_from(
    list("aZ09_ -.,'\x00\t\n")
    + list("éÉ’“”—…\xa0\u0301\u0323ℂßﬁİøŁ½中文\u0951\u093c™°")
    + ["\ud800"]
)
TEXTS = st.lists(_CHARS, max_size=40).map("".join)


def fixture_entries() -> list[EntryData]:
    """Every entry of the fixture feeds that parse, normalized."""
    entries: list[EntryData] = []
    for path in sorted(FEEDS.iterdir()):
        if path.name.endswith(".expected.json"):
            continue
        url = f"https://x.example/{path.name}"
        try:
            parsed = parse.parse(path.read_bytes(), url=url, headers={})
        except ParseError:
            continue  # some fixtures are not feeds
        feed = normalize.normalize(parsed)
        entries += [clean.clean_entry(e, clean.compile_rules()) for e in feed.entries]
    return entries


# --------------------------------------------------------------------------
# dedupe: fingerprint
# --------------------------------------------------------------------------


def reference_fingerprint(entry: EntryData) -> Fingerprint:
    """``_near.fingerprint`` as written before its fast path (plain helpers)."""
    n = _near
    tokens = n.words(n._body(entry))
    buckets: list[int] = []
    ordered = n._shingle_list(tokens)
    body = frozenset(ordered)
    if len(body) >= n.MIN_INDEXED:
        signature = n._signature(body, n.ROWS * n.BODY_BANDS, n._BODY_MIX)
        buckets += n._bands("b", signature)
    lead = (
        ordered[: n.LEAD_WORDS - n.SHINGLE + 1]
        if len(tokens) >= n.SHINGLE
        else n._shingle_list(tokens[: n.LEAD_WORDS])
    )
    if len(set(lead)) >= n.MIN_INDEXED:
        signature = n._signature(lead, n.ROWS * n.LEAD_BANDS, n._LEAD_MIX)
        buckets += n._bands("l", signature)
    normalized = sorted(n.title_words(entry.title))
    if len(normalized) >= n.MIN_TITLE_WORDS:
        buckets.append(n._signed(n._hash64("t:" + " ".join(normalized))))
        hashed = frozenset(n._hash64(word) for word in normalized)
        signature = n._signature(hashed, n.TITLE_BANDS * n.TITLE_ROWS, n._TITLE_MIX)
        buckets += n._bands("t", signature, n.TITLE_ROWS)
    return Fingerprint(buckets=tuple(buckets), shingles=array("Q", body).tobytes())


def test_index_version_is_unchanged() -> None:
    # stored near-duplicate indexes are keyed by it: the fast path must not
    # need a rebuild
    assert _near.INDEX_VERSION == "omh-3-4x16-40:8-t5-h2"


@settings(max_examples=400, deadline=None)
@given(TEXTS)
@example("ℂafé’s ﬁne İstanbul ½ 中文 e\u0301t")
@example("\ud800x\u0301")
def test_word_bytes_are_the_words(text: str) -> None:
    assert _near._word_bytes(text) == [w.encode() for w in _near.words(text)]


def test_every_table_fold_is_the_fold_of_words() -> None:
    for char, folded in _near._folds().items():
        for text in (f"ab{char}cd", f"{char}\u0301x", f"x {char}"):
            expected = [w.encode() for w in _near.words(text)]
            assert _near._word_bytes(text) == expected, repr(char)
            assert folded == folded.lower()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abcdefgh"), min_size=3, max_size=80))
def test_packed_shingles_are_the_shingle_list(words: list[str]) -> None:
    tokens = [w.encode() for w in words]
    packed, count = _near._packed_shingles(_near._word_hashes(tokens))
    assert _near._unpack(packed, count) == _near._shingle_list(words)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=120),
    st.sampled_from([(64, _near._BODY_MIX), (32, _near._LEAD_MIX), (18, 7)]),
)
def test_least_per_bin_is_the_signature(
    values: list[int], sized: tuple[int, int]
) -> None:
    # few values leave empty bins: densification is compared too
    size, mix = sized
    mixed = [(v * mix) & _near._MASK64 for v in values]
    assert _near._least_per_bin(mixed, size) == _near._signature(values, size, mix)


def test_fingerprints_of_the_fixture_feeds_are_unchanged() -> None:
    entries = fixture_entries()
    assert len(entries) > 20
    for entry in entries:
        assert _near.fingerprint(entry) == reference_fingerprint(entry)


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.lists(TEXTS, max_size=30).map(" ".join))
@example("", "")
@example("a b", "one two")
def test_fingerprints_of_generated_entries_are_unchanged(title: str, body: str) -> None:
    entry = EntryData(original_id=None, link=None, title=title, content=body)
    assert _near.fingerprint(entry) == reference_fingerprint(entry)


# --------------------------------------------------------------------------
# normalize: links joined to their base
# --------------------------------------------------------------------------

_URL_PIECES = st.sampled_from(
    ["http:", "https:", "HTTP:", "ftp:", "mailto:", "//", "///", "a.example"]
    + ["b.example:80", "[::1]", "/", "x", ";p", ";", "?", "q=1", "#", "f", ".."]
    + [".", "%20", "@", "u:p@", "javascript:"]
)
_BASES = st.sampled_from(
    ["http://a.example/d/e", "https://b.example/", "http://a.example"]
    + ["ftp://x/y", "https://a.example/p;q?r#s", "mailto:x@y.example"]
)


@settings(max_examples=500, deadline=None)
@given(_BASES, st.lists(_URL_PIECES, min_size=1, max_size=7).map("".join))
@example("https://b.example/", "https://a.example/a;b")
@example("https://b.example/", "HTTP://a.example/?")
def test_join_is_urljoin(base: str, url: str) -> None:
    try:
        own = urlsplit(url)
        expected = urljoin(base, url)
    except ValueError:
        return  # _absolute drops these before joining
    assert normalize._join(base, url, own) == expected


def reference_absolute(
    url: str | None, base: str | None, schemes: frozenset[str]
) -> str | None:
    """``normalize._absolute`` as written before its fast paths."""
    if not url:
        return None
    cleaned = normalize._SPACE_RE.sub("", normalize._clean(url))
    if not cleaned:
        return None
    try:
        own = urlsplit(cleaned)
        if own.scheme.lower() in normalize._LINK_SCHEMES and not own.netloc:
            return None
        absolute = urljoin(base, cleaned) if base else cleaned
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in schemes:
        return None
    if parts.scheme.lower() != "mailto" and not parts.netloc:
        return None
    return absolute


_LINKS = st.tuples(
    st.sampled_from(["http://", "https://", "HTTP://", "http:/", "", "mailto:"]),
    st.sampled_from(["a.example", "a-b.c", "1.2.3.4", "a.example:8080", "u@x", ""]),
    st.lists(
        st.sampled_from(list("/a;?#=&.:@!\"<>~[]\\'(|^` \x7f\x00é") + ["%2F", ".."]),
        max_size=8,
    ).map("".join),
).map("".join)


@settings(max_examples=800, deadline=None)
@given(st.one_of(_LINKS, st.lists(_URL_PIECES, max_size=7).map("".join)))
@example("http://a.example:8080/'!?")
@example("https://a.example/p?#f")
def test_absolute_links_are_unchanged(url: str) -> None:
    for base in (None, "http://a.example/d/e", "https://b.example/", "ftp://x/y"):
        for schemes in (normalize._LINK_SCHEMES, normalize._HTML_SCHEMES):
            expected = reference_absolute(url, base, schemes)
            assert normalize._absolute(url, base, schemes) == expected


def reference_clean(value: str) -> str:
    """``normalize._clean`` as written before its fast check."""
    return normalize._FORBIDDEN_RE.sub(
        "", value.replace("\r\n", "\n").replace("\r", "\n")
    )


def test_clean_removes_what_the_regex_removes_for_every_character() -> None:
    for code in [*range(0x10000), 0x10000, 0x1F600, 0x10FFFF]:
        text = f"a{chr(code)}b\r\nc"
        assert normalize._clean(text) == reference_clean(text), hex(code)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(max_codepoint=0xFFFF), max_size=30))
def test_clean_is_unchanged_on_generated_text(text: str) -> None:
    assert normalize._clean(text) == reference_clean(text)


# --------------------------------------------------------------------------
# clean: all rules as one pattern
# --------------------------------------------------------------------------

_BLOCK_TEXTS = st.lists(
    st.sampled_from(
        ["Share", "this", "article", "Comments", "(3)", "3", "Related:", "Read"]
        + ["more", "About", "the", "author", "Written", "by", "Ann", "Lee", "ſhare"]
        + ["Thanks", "for", "reading", "Follow", "us", "on", "Mastodon", "."]
    ),
    max_size=8,
).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(_BLOCK_TEXTS)
@example("Share this article")
@example("ſhare")  # re.IGNORECASE: the long s matches "s"
def test_joined_rules_match_what_some_rule_matches(text: str) -> None:
    rules = clean.compile_rules()
    either = clean._any_rule(rules)
    assert either is not None
    assert (either.fullmatch(text) is not None) == any(
        rule.pattern.fullmatch(text) for rule in rules
    )


@pytest.mark.parametrize(
    "pattern",
    [r"(a)\1", r"(a)?(?(1)a|b)", r"(?P<x>a)"],
    ids=["backreference", "conditional", "named-group-twice"],
)
def test_rules_that_cannot_be_joined_are_tried_one_by_one(pattern: str) -> None:
    extra = [CleanRule("one", pattern, CleanAction.DROP)]
    if "?P<" in pattern:
        extra.append(CleanRule("two", pattern, CleanAction.DROP))
    rules = clean.compile_rules(extra)
    assert clean._any_rule(rules) is None
    html = "<p>Keep</p><p>aa</p><p>b</p><p>a</p>"
    expected = {
        r"(a)\1": "<p>Keep</p><p>b</p><p>a</p>",
        r"(a)?(?(1)a|b)": "<p>Keep</p><p>a</p>",
        r"(?P<x>a)": "<p>Keep</p><p>aa</p><p>b</p>",
    }[pattern]
    assert clean.clean_html(html, rules) == (expected, ())


def test_cleaning_the_fixture_feeds_is_unchanged_by_the_joined_pattern(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = clean.compile_rules()
    entries = fixture_entries()
    fast = [clean.clean_entry(e, rules) for e in entries]
    monkeypatch.setattr(clean, "_any_rule", lambda rules: None)
    assert [clean.clean_entry(e, rules) for e in entries] == fast


# --------------------------------------------------------------------------
# curate: words of a folded text
# --------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(TEXTS)
@example("it’s “quoted” — and… more\x00next")
@example("naïve cafe ø")
def test_curate_words_are_the_regex_words(text: str) -> None:
    assert _text._words(text) == re.findall(r"\w+", text)
    assert _text._words(_text.fold(text)) == _text.WORD.findall(_text.fold(text))


@settings(max_examples=400, deadline=None)
@given(st.lists(TEXTS, max_size=8).map(" plain ascii words ".join))
@example("café — naïve “x” e\u0301\u0323 İ")
def test_fold_deletes_every_combining_mark(text: str) -> None:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    marks = {ord(c): None for c in decomposed if unicodedata.combining(c)}
    expected = text.lower() if text.isascii() else decomposed.translate(marks)
    assert _text.fold(text) == expected
