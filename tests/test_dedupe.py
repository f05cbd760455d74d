"""Tests for feedhub.dedupe: canonical URLs, keys, content hashes, stories."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from urllib.parse import unquote_plus, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from feedhub.dedupe import (
    TRACKING_PARAMS,
    TRACKING_PREFIXES,
    canonical_url,
    content_hash,
    entry_key,
    identify,
)
from feedhub.types import Author, Enclosure, EntryData

HEX64 = re.compile(r"[0-9a-f]{64}")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def is_tracking(name: str, extra: frozenset[str] = frozenset()) -> bool:
    name = unquote_plus(name).lower()
    return (
        name in TRACKING_PARAMS or name in extra or name.startswith(TRACKING_PREFIXES)
    )


def query_names(url: str) -> list[str]:
    query = urlsplit(url).query
    return [pair.partition("=")[0] for pair in query.split("&") if pair]


# --------------------------------------------------------------------------
# canonical_url: examples
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # scheme and host lowercased, path case kept
        ("HTTPS://Example.COM/Path/To", "https://example.com/Path/To"),
        # default ports dropped, others kept
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:/a", "http://example.com/a"),
        # fragment dropped
        ("https://example.com/a#section-2", "https://example.com/a"),
        # empty path becomes "/", trailing "?" dropped
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a?", "https://example.com/a"),
        ("https://example.com?", "https://example.com/"),
        # query sorted by name, stable for repeated names
        ("https://e.com/?b=2&a=1", "https://e.com/?a=1&b=2"),
        ("https://e.com/?x=1&a=9&x=0", "https://e.com/?a=9&x=1&x=0"),
        # tracking params dropped, by exact name and by prefix, any case
        (
            "https://e.com/story?id=7&utm_source=rss&utm_medium=feed&fbclid=abc",
            "https://e.com/story?id=7",
        ),
        ("https://e.com/s?UTM_Campaign=x&GCLID=1&p=2", "https://e.com/s?p=2"),
        ("https://e.com/s?ref=hn&ref_src=twsrc&mc_cid=1&mc_eid=2", "https://e.com/s"),
        ("https://e.com/s?_hsenc=a&_hsmi=b&mkt_tok=c&igshid=d", "https://e.com/s"),
        ("https://e.com/s?msclkid=a&yclid=b&dclid=c", "https://e.com/s"),
        # a percent-encoded tracking name is still a tracking name
        ("https://e.com/s?utm%5Fsource=x&q=1", "https://e.com/s?q=1"),
        # names that merely contain a tracking word survive
        ("https://e.com/s?referrer=1&prefix=2", "https://e.com/s?prefix=2&referrer=1"),
        # blank values and valueless params kept; empty pairs dropped
        ("https://e.com/s?b=&&a", "https://e.com/s?a&b="),
        # escapes kept byte for byte
        ("https://e.com/a%2Fb?q=a%20b+c", "https://e.com/a%2Fb?q=a%20b+c"),
        # userinfo kept as written, host lowercased
        ("http://User:Pw@Example.com:80/", "http://User:Pw@example.com/"),
        # IPv6 literal
        ("https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        # surrounding whitespace stripped
        ("  https://e.com/a \n", "https://e.com/a"),
        # not a URL at all: returned stripped, no exception
        ("  not a url ", "not a url"),
        ("http://[::1/", "http://[::1/"),
        ("http://e.com:" + "9" * 5000 + "/", "http://e.com:" + "9" * 5000 + "/"),
        ("http://e.com:x/", "http://e.com:x/"),
        ("", ""),
    ],
)
def test_canonical_url_examples(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_extra_params_are_case_insensitive() -> None:
    url = "https://e.com/a?Session=1&id=2&src=rss"
    assert canonical_url(url, extra_params=["session", "SRC"]) == "https://e.com/a?id=2"
    # without them, they stay
    assert canonical_url(url) == "https://e.com/a?Session=1&id=2&src=rss"


def test_canonical_url_copies_of_one_link_agree() -> None:
    copies = [
        "https://www.example.com/2024/story?utm_source=twitter",
        "HTTPS://WWW.EXAMPLE.COM:443/2024/story#comments",
        "https://www.example.com/2024/story?fbclid=IwAR0",
    ]
    assert {canonical_url(u) for u in copies} == {"https://www.example.com/2024/story"}


def test_tracking_lists_hold_the_documented_names() -> None:
    documented = {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
    }
    assert documented <= TRACKING_PARAMS
    assert "utm_" in TRACKING_PREFIXES
    # compared lowercased, so the lists themselves must be lowercase
    assert all(p == p.lower() for p in TRACKING_PARAMS)
    assert all(p == p.lower() for p in TRACKING_PREFIXES)


# --------------------------------------------------------------------------
# canonical_url: properties
# --------------------------------------------------------------------------

tracking_name = st.one_of(
    st.sampled_from(sorted(TRACKING_PARAMS)),
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from(TRACKING_PREFIXES),
        st.text("abcdefghijklmnopqrstuvwxyz_", max_size=8),
    ),
).flatmap(
    # random capitalization: the match must ignore case
    lambda name: st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flags: "".join(
            c.upper() if up else c for c, up in zip(name, flags, strict=True)
        )
    )
)
plain_name = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=1,
    max_size=8,
).filter(lambda n: not is_tracking(n))
query_value = st.text("abcXYZ0189%+-._~=/:", max_size=8).map(
    lambda v: v.replace("=", "")
)
pair = st.builds(
    lambda name, value, bare: name if bare else f"{name}={value}",
    st.one_of(tracking_name, plain_name),
    query_value,
    st.booleans(),
)
url_like = st.builds(
    lambda scheme, user, host, port, path, pairs, fragment: (
        f"{scheme}://{user}{host}{port}{path}"
        + ("?" + "&".join(pairs) if pairs else "")
        + (f"#{fragment}" if fragment else "")
    ),
    st.sampled_from(["http", "https", "HTTP", "Https", "ftp"]),
    st.sampled_from(["", "user@", "U:p@"]),
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,8}\.)?[A-Za-z]{2,5}", fullmatch=True)
    | st.just("[::1]"),
    st.sampled_from(["", ":", ":80", ":443", ":8080", ":0080"]),
    st.text("abcABC019/-._~%", max_size=12).map(lambda p: "/" + p if p else ""),
    st.lists(pair, max_size=6),
    st.text("abc#?&=", max_size=5),
)


@given(st.one_of(url_like, st.text()))
@example("http:////x")
@example("0 #")
@example("? &")
@example("http:foo")
@example("//Example.com:80")
def test_canonical_url_is_idempotent_and_never_raises(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert once == once.strip()


@given(url_like)
def test_canonical_url_drops_every_tracking_param(url: str) -> None:
    result = canonical_url(url)
    assert not any(is_tracking(name) for name in query_names(result))
    assert "#" not in result
    assert not result.endswith("?")
    # everything else survives, in sorted order
    expected = sorted(
        n for n in query_names(url.partition("#")[0]) if not is_tracking(n)
    )
    assert query_names(result) == expected


@given(st.text(), st.lists(st.text(min_size=1), max_size=3))
def test_canonical_url_drops_extra_params(url: str, extra: list[str]) -> None:
    result = canonical_url(url, extra)
    try:
        urlsplit(url.strip())
    except ValueError:
        assert result == url.strip()
        return
    lowered = frozenset(e.lower() for e in extra)
    assert not any(is_tracking(n, lowered) for n in query_names(result))


# --------------------------------------------------------------------------
# entry_key
# --------------------------------------------------------------------------

PUBLISHED = datetime(2025, 7, 12, 9, 30, tzinfo=UTC)


def make_entry(**kwargs: object) -> EntryData:
    fields: dict[str, object] = {
        "original_id": "urn:uuid:1",
        "link": "https://e.com/a?utm_source=rss",
        "title": "Title",
    }
    fields.update(kwargs)
    return EntryData(**fields)  # type: ignore[arg-type]


def test_entry_key_uses_the_original_id() -> None:
    entry = make_entry()
    assert entry_key(3, entry) == sha("3\nurn:uuid:1")


def test_entry_key_falls_back_to_the_link() -> None:
    entry = make_entry(original_id=None)
    assert entry_key(3, entry) == sha("3\nhttps://e.com/a?utm_source=rss")
    assert entry_key(3, make_entry(original_id="")) == entry_key(3, entry)


def test_entry_key_depends_on_the_source() -> None:
    entry = make_entry()
    assert entry_key(1, entry) != entry_key(2, entry)


def test_entry_key_without_id_or_link_uses_title_and_published() -> None:
    entry = make_entry(original_id=None, link=None, published=PUBLISHED)
    key = entry_key(1, entry)
    assert HEX64.fullmatch(key)
    assert key == sha(f"1\nTitle\n{PUBLISHED.isoformat()}")
    # weak: a new title is a new key
    assert entry_key(1, make_entry(original_id=None, link=None, title="T2")) != key


def test_entry_key_ignores_content() -> None:
    a = make_entry(summary="one")
    b = make_entry(summary="two", title="Other")
    assert entry_key(1, a) == entry_key(1, b)


# --------------------------------------------------------------------------
# content_hash
# --------------------------------------------------------------------------

FULL = make_entry(
    summary="<p>s</p>",
    content="<p>c</p>",
    authors=(Author(name="A", email="a@e.com"),),
    published=PUBLISHED,
    updated=PUBLISHED,
    categories=("x", "y"),
    enclosures=(Enclosure(url="https://e.com/a.mp3", type="audio/mpeg", length=9),),
)


def test_content_hash_ignores_updated() -> None:
    later = datetime(2026, 1, 1, tzinfo=UTC)
    assert content_hash(FULL) == content_hash(_replace(FULL, updated=later))
    assert content_hash(FULL) == content_hash(_replace(FULL, updated=None))


@pytest.mark.parametrize(
    "change",
    [
        {"title": "New title"},
        {"link": "https://e.com/b"},
        {"summary": "<p>t</p>"},
        {"summary": None},
        {"content": "<p>d</p>"},
        {"authors": (Author(name="B"),)},
        {"authors": (Author(name="A", email="other@e.com"),)},
        {"published": datetime(2025, 7, 12, 9, 31, tzinfo=UTC)},
        {"categories": ("y", "x")},
        {"enclosures": ()},
        {"enclosures": (Enclosure(url="https://e.com/a.mp3", length=10),)},
    ],
)
def test_content_hash_covers_the_content_fields(change: dict[str, object]) -> None:
    assert content_hash(_replace(FULL, **change)) != content_hash(FULL)


def test_content_hash_is_stable() -> None:
    # a fixed value: the serialization must not change between releases,
    # or every stored entry would look updated
    entry = EntryData(original_id=None, link=None, title="t")
    assert content_hash(entry) == sha(
        '{"authors":[],"categories":[],"content":null,"enclosures":[],'
        '"link":null,"published":null,"summary":null,"title":"t"}'
    )


def test_content_hash_separates_fields() -> None:
    # a naive join would hash these two the same
    a = EntryData(original_id=None, link=None, title="ab", summary="c")
    b = EntryData(original_id=None, link=None, title="a", summary="bc")
    assert content_hash(a) != content_hash(b)


def _replace(entry: EntryData, **changes: object) -> EntryData:
    from dataclasses import replace

    return replace(entry, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# identify
# --------------------------------------------------------------------------


def test_identify_canonicalizes_the_link() -> None:
    ident = identify(5, FULL)
    assert ident.key == entry_key(5, FULL)
    assert ident.content_hash == content_hash(FULL)
    assert ident.canonical_link == "https://e.com/a"
    assert ident.story_id == sha("url\nhttps://e.com/a")


def test_identify_prefers_the_origin_link() -> None:
    entry = make_entry(
        link="https://feedproxy.example/~r/x/1",
        origin_link="https://E.com/a#top",
    )
    ident = identify(5, entry)
    assert ident.canonical_link == "https://e.com/a"
    # the same story as another source's copy of the plain link
    assert ident.story_id == identify(9, make_entry(original_id="other")).story_id


def test_identify_without_link_is_a_story_of_one() -> None:
    entry = make_entry(link=None)
    ident = identify(5, entry)
    assert ident.canonical_link is None
    assert ident.story_id == sha("key\n" + ident.key)
    assert identify(6, entry).story_id != ident.story_id


def test_identify_whitespace_link_is_no_link() -> None:
    ident = identify(5, make_entry(link="   "))
    assert ident.canonical_link is None
    assert ident.story_id == sha("key\n" + ident.key)


# --------------------------------------------------------------------------
# issue 6: AMP, origin links, duplicate guids, near-duplicates, backlog
# --------------------------------------------------------------------------

import dataclasses  # noqa: E402
from array import array  # noqa: E402

from feedhub.dedupe import (  # noqa: E402
    Features,
    backlog,
    canonical_link,
    choose_story,
    decide,
    features,
    fingerprint,
    similarity,
    title_filter,
    title_similarity,
    unamp,
)
from feedhub.types import (  # noqa: E402
    DedupeConfig,
    StoredEntry,
    StoryRule,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://www.google.com/amp/s/example.com/news/a",
            "https://example.com/news/a",
        ),
        ("https://www.google.co.uk/amp/example.com/a", "http://example.com/a"),
        (
            "https://example-com.cdn.ampproject.org/c/s/example.com/a/amp/",
            "https://example.com/a/",
        ),
        ("https://e.com/news/amp/123", "https://e.com/news/123"),
        ("https://e.com/world-123.amp", "https://e.com/world-123"),
        ("https://e.com/a.amp.html", "https://e.com/a.html"),
        ("https://amp.e.com/x?amp=1&b=2", "https://e.com/x?b=2"),
        ("https://e.com/x?outputType=amp", "https://e.com/x"),
        # no AMP marker: unchanged, even words that merely contain "amp"
        (
            "https://e.com/camping/ampere?ampersand=1",
            "https://e.com/camping/ampere?ampersand=1",
        ),
    ],
)
def test_unamp(url: str, expected: str) -> None:
    assert unamp(url) == expected


def test_canonical_link_prefers_the_origin_link_and_maps_amp() -> None:
    entry = EntryData(
        None,
        "https://feeds.feedburner.example/~r/x/~3/abc",
        "t",
        origin_link="https://News.example/a/amp?utm_source=x",
    )
    assert canonical_link(entry) == "https://news.example/a"
    assert canonical_link(entry, amp=False) == "https://news.example/a/amp"
    assert canonical_link(
        replace_link(entry, "https://n.example/a?src=rss"), ["SRC"]
    ) == ("https://n.example/a")
    assert canonical_link(EntryData(None, "  ", "t")) is None


def replace_link(entry: EntryData, link: str) -> EntryData:
    return EntryData(None, link, entry.title)


def test_entry_key_by_link_tells_shared_guids_apart() -> None:
    one = EntryData("g", "https://a/1", "t")
    two = EntryData("g", "https://a/2", "t")
    assert entry_key(1, one) == entry_key(1, two)
    assert entry_key(1, one, by_link=True) != entry_key(1, two, by_link=True)
    assert identify(1, one, by_link=True).key == sha("1\ng\nhttps://a/1")


ARTICLE = " ".join(
    f"Paragraph {i} of the long story says the company reported results in region {i}."
    for i in range(30)
)


def stored(entry: EntryData, key: str = "k" * 64) -> StoredEntry:
    t = datetime(2025, 7, 12, tzinfo=UTC)
    return StoredEntry(key, 1, entry, entry.link, "h", "story", t, t)


def test_fingerprint_is_deterministic_and_shared_by_copies() -> None:
    a = EntryData(
        None,
        "https://a/x",
        "OpenAI delays its open model indefinitely",
        content=f"<p>{ARTICLE}</p>",
    )
    b = EntryData(
        None,
        "https://b/y",
        "Another title entirely",
        content=f"<div><p>{ARTICLE}</p><p>Reporting by someone.</p></div>",
    )
    fa, fb = fingerprint(a), fingerprint(b)
    assert fa == fingerprint(a)
    assert len(fa.buckets) == 16 + 8 + 1 + 6
    assert set(fa.buckets) & set(fb.buckets)
    assert all(-(2**63) <= x < 2**63 for x in fa.buckets)
    # too short to index: only title buckets (if any)
    assert (
        fingerprint(EntryData(None, None, "Hi", content="<p>Hi there</p>")).buckets
        == ()
    )


def test_similarity_and_rules() -> None:
    full = EntryData(
        None,
        "https://a/x",
        "Chipmaker reports record quarter",
        content=f"<p>{ARTICLE}</p>",
    )
    half = EntryData(
        None,
        "https://b/y",
        "Record quarter for chipmaker",
        content=f"<p>{ARTICLE[: len(ARTICLE) // 3]}</p>",
    )
    sim = similarity(features(full), features(half))
    assert sim.containment > 0.95 and sim.jaccard < 0.5
    match = decide(sim, DedupeConfig())
    assert match is not None and match.rule is StoryRule.NEAR_DUPLICATE
    assert "containment" in match.detail
    weaker = dataclasses.replace(sim, containment=0.7, title=0.1)
    assert decide(weaker, DedupeConfig()) is None
    assert decide(weaker, DedupeConfig(containment_threshold=0.7)) is not None
    # outside the window nothing merges
    far = similarity(
        features(full, datetime(2025, 1, 1, tzinfo=UTC)),
        features(half, datetime(2025, 3, 1, tzinfo=UTC)),
    )
    assert decide(far, DedupeConfig()) is None


def test_short_texts_merge_only_on_identical_long_titles() -> None:
    seen = datetime(2025, 7, 12, tzinfo=UTC)
    a = EntryData(
        None,
        "https://a/x",
        "Linux 6.16 released with atomic writes",
        content="<p>Out now.</p>",
    )
    b = EntryData(
        None,
        "https://b/x",
        "Linux 6.16 released with atomic writes!",
        content="<p>Get it.</p>",
    )
    c = EntryData(None, "https://c/x", "Linux 6.16 released", content="<p>Get it.</p>")
    config = DedupeConfig()
    found = choose_story(b, seen, [stored(a)], config)
    assert found is not None and found[1].rule is StoryRule.TITLE
    assert found[1].matched_key == "k" * 64
    assert choose_story(c, seen, [stored(a)], config) is None
    assert (
        choose_story(b, seen, [stored(a)], DedupeConfig(near_duplicates=False)) is None
    )


def test_title_similarity_strips_suffixes_and_stop_words() -> None:
    assert title_similarity("OpenAI delays the model", "OpenAI delayed a model") == 1.0
    assert title_similarity("", "x") == 0.0
    assert title_similarity("Nvidia hits $4 trillion", "Python 3.14 released") == 0.0


def test_backlog_hides_all_but_the_newest_on_a_first_poll() -> None:
    t = datetime(2025, 7, 1, tzinfo=UTC)
    new = [
        EntryData(str(i), None, "t", published=t.replace(day=1 + i)) for i in range(5)
    ]
    assert backlog(new, limit=2, first_poll=True, all_new=True, last_success=None) == {
        0,
        1,
        2,
    }
    assert (
        backlog(new, limit=None, first_poll=True, all_new=True, last_success=None)
        == set()
    )
    assert (
        backlog(new, limit=9, first_poll=True, all_new=True, last_success=None) == set()
    )
    # a known source: only entries dated before its last poll are backlog
    hidden = backlog(
        new, limit=1, first_poll=False, all_new=True, last_success=t.replace(day=4)
    )
    assert hidden == {0, 1}
    assert (
        backlog(new, limit=1, first_poll=False, all_new=False, last_success=None)
        == set()
    )


@given(st.text(max_size=200), st.text(max_size=60))
def test_fingerprint_never_fails(content: str, title: str) -> None:
    buckets = fingerprint(EntryData(None, None, title, content=content)).buckets
    assert len(set(buckets)) <= 31


def test_choose_story_cache_reuses_shingles_without_changing_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from feedhub.dedupe import _assign

    seen = datetime(2025, 7, 12, tzinfo=UTC)
    new = EntryData(
        None, "https://n/x", "Chipmaker reports record quarter", content=ARTICLE
    )
    copies = [
        stored(
            EntryData(None, f"https://{i}/x", title, content=ARTICLE[: 400 * (i + 1)]),
            key=str(i) * 64,
        )
        for i, title in enumerate(["Other", "Record quarter", "Chipmaker news"])
    ]
    calls: list[str] = []
    real = features

    def counting(entry: EntryData, at: datetime | None = None) -> Features:
        calls.append(entry.link or "")
        return real(entry, at)

    monkeypatch.setattr(_assign, "features", counting)
    config = DedupeConfig()
    expected = choose_story(new, seen, copies, config)
    assert expected is not None and len(calls) == 4
    cache: dict[tuple[str, str], array[int]] = {}
    calls.clear()
    assert choose_story(new, seen, copies, config, cache) == expected
    assert len(calls) == 4 and set(cache) == {(c.key, "h") for c in copies}
    calls.clear()
    assert choose_story(new, seen, copies, config, cache) == expected
    assert calls == ["https://n/x"]  # only the new entry is shingled again
    # title and date come from the stored copy, not the cache
    retitled = [
        dataclasses.replace(c, data=dataclasses.replace(c.data, title="Zz"))
        for c in copies
    ]
    uncached = choose_story(new, seen, retitled, config)
    assert choose_story(new, seen, retitled, config, cache) == uncached
    # another content hash is another text: shingled afresh
    calls.clear()
    changed = dataclasses.replace(
        copies[0],
        content_hash="h2",
        data=dataclasses.replace(copies[0].data, content="Something else entirely."),
    )
    choose_story(new, seen, [changed], config, cache)
    assert calls == ["https://n/x", "https://0/x"]


def test_choose_story_cache_keeps_the_most_recently_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from feedhub.dedupe import _assign

    monkeypatch.setattr(_assign, "CACHE_SIZE", 2)
    seen = datetime(2025, 7, 12, tzinfo=UTC)
    new = EntryData(None, "https://n/x", "A title", content=ARTICLE)
    copies = [
        stored(EntryData(None, f"https://{i}/x", "T", content=ARTICLE), key=str(i))
        for i in range(3)
    ]
    cache: dict[tuple[str, str], array[int]] = {}
    choose_story(new, seen, copies, DedupeConfig(), cache)
    assert list(cache) == [("1", "h"), ("2", "h")]
    choose_story(new, seen, [copies[1], copies[0]], DedupeConfig(), cache)
    assert list(cache) == [("1", "h"), ("0", "h")]


def test_title_filter_keeps_text_matches_and_alike_titles_only() -> None:
    entry = EntryData(None, None, "OpenAI delays its open-weight model again")
    keep = title_filter(entry, DedupeConfig())
    alike = "OpenAI delays open-weight model again, citing safety"
    other = "Why the railway strike matters for commuters again"
    assert keep(other, True)  # shares a text bucket: always scored
    assert keep(alike, False)
    assert not keep(other, False)
    assert not keep("", False)
    # short texts merge on identical titles only: a threshold above 1 keeps those
    strict = title_filter(entry, DedupeConfig(title_threshold=2.0))
    assert not strict(alike, False)
    assert strict("OpenAI delays its open-weight model again", False)


def test_fingerprint_says_how_many_buckets_are_text_buckets() -> None:
    body = "<p>" + " ".join(f"word{i}" for i in range(200)) + "</p>"
    title = "OpenAI delays its open-weight model again for safety tests"
    both = fingerprint(EntryData(None, None, title, content=body))
    text_only = fingerprint(EntryData(None, None, "Short", content=body))
    title_only = fingerprint(EntryData(None, None, title, content="<p>a b</p>"))
    assert both.text is not None and both.text > 0
    assert both.text == len(text_only.buckets) == text_only.text
    assert both.buckets[: both.text] == text_only.buckets
    assert title_only.text == 0 and len(title_only.buckets) > 0
    assert both.buckets[both.text :] == title_only.buckets
