"""Decide which topics and which authors an entry belongs to.

Pure: stdlib only, no I/O, no clock reads.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import unescape

from feedhub.types import AuthorRef, EntryData, Match, TopicConfig, TopicMatch

__all__ = [
    "TopicRules",
    "author_refs",
    "author_slug",
    "compile_rules",
    "match_topics",
    "normalize_author_name",
]


# --------------------------------------------------------------------------
# Text folding and HTML stripping
# --------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Casefold, then drop accents: NFKD minus combining marks.

    Casefold runs first because it can itself produce combining marks
    ("İ" -> "i̇"), which the NFKD pass then removes.
    """
    if text.isascii():
        # the common case, and 20x cheaper: ASCII has nothing to decompose
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return decomposed.translate(_combining_marks())


@functools.cache
def _combining_marks() -> dict[int, None]:
    """A str.translate table deleting every combining mark (built once)."""
    return {
        cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))
    }


_SKIPPED = re.compile(r"<(script|style|template)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")


def _html_text(html: str) -> str:
    """Return the text of an HTML fragment, tags removed and entities unescaped.

    A regex is enough here: content is already sanitized by normalize, and this
    text is only matched against, never shown.
    """
    if "<" not in html and "&" not in html:
        return html
    # tags separate words: "<p>AI</p><p>Safety</p>" must not read "AISafety"
    return unescape(_TAG.sub(" ", _SKIPPED.sub(" ", html)))


def _entry_texts(entry: EntryData) -> tuple[str, ...]:
    """Return the folded texts a topic rule looks at, one per field.

    Fields are kept apart so that a phrase never matches across the end of
    the title and the start of the summary.
    """
    texts = [entry.title]
    texts.extend(_html_text(html) for html in (entry.summary, entry.content) if html)
    texts.extend(entry.categories)
    return tuple(_fold(t) for t in texts if t)


# --------------------------------------------------------------------------
# Topic rules
# --------------------------------------------------------------------------


def _term_pattern(term: str) -> str | None:
    """Return the regex source for one folded word or phrase, or None if blank.

    Phrase words are joined by ``\\s+``. The guards are lookarounds rather than
    ``\\b`` so that terms beginning or ending with a non-word character
    ("C++", ".NET") still need a non-word neighbour: "C++" matches "C++ code"
    but not "C++17", "AI" does not match "Aid".
    """
    words = _fold(term).split()
    if not words:
        return None
    return r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)"


@dataclass(frozen=True, slots=True)
class _TermList:
    """One compiled list of terms: one alternation regex, one group per term."""

    #: the terms as configured, deduplicated on their folded form
    terms: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None

    def found(self, texts: Iterable[str]) -> tuple[str, ...]:
        """Return the terms that occur in any of ``texts``, in configured order."""
        if self.pattern is None:
            return ()
        hits: set[int] = set()
        for text in texts:
            for m in self.pattern.finditer(text):
                # every alternative is a group named "t<index>"
                hits.add(int((m.lastgroup or "t0")[1:]))
            if len(hits) == len(self.terms):
                break
        return tuple(t for i, t in enumerate(self.terms) if i in hits)


def _compile_terms(terms: Sequence[str]) -> _TermList:
    """Compile ``terms`` into one regex; longest first so phrases win over words."""
    kept: list[str] = []
    sources: list[str] = []
    seen: set[str] = set()
    for term in terms:
        source = _term_pattern(term)
        if source is None or source in seen:
            continue
        seen.add(source)
        kept.append(term)
        sources.append(source)
    if not kept:
        return _TermList()
    order = sorted(range(len(kept)), key=lambda i: -len(sources[i]))
    alternation = "|".join(f"(?P<t{i}>{sources[i]})" for i in order)
    return _TermList(tuple(kept), re.compile(alternation))


@dataclass(frozen=True, slots=True)
class _TopicRule:
    slug: str
    any: _TermList
    #: one list per term: an alternation reports one term per position, so
    #: "AI" would hide behind "AI safety" and ``all`` would wrongly fail
    all: tuple[_TermList, ...]
    none: _TermList
    #: a rule exists (else the topic selects by source only)
    has_match: bool
    #: ``any`` was configured; when all its terms are blank nothing matches,
    #: rather than everything
    any_given: bool

    def reason(self, texts: tuple[str, ...]) -> str | None:
        """Return why the entry matches this rule, or None when it does not."""
        if self.none.found(texts):
            return None
        any_found = self.any.found(texts)
        if self.any_given and not any_found:
            return None
        all_found: list[str] = []
        for term_list in self.all:
            found = term_list.found(texts)
            if not found:
                return None
            all_found.extend(found)
        parts = []
        if any_found:
            parts.append("any: " + _quote(any_found))
        if all_found:
            parts.append("all: " + _quote(all_found))
        if not parts and self.none.terms:
            return "match: none of " + _quote(self.none.terms)
        if not parts:
            return "match: everything"
        return "match " + "; ".join(parts)


def _quote(terms: Iterable[str]) -> str:
    return ", ".join(f"'{t}'" for t in terms)


@dataclass(frozen=True, slots=True)
class TopicRules:
    """Topic rules compiled once by ``compile_rules``; immutable, opaque."""

    _rules: tuple[_TopicRule, ...] = ()


def compile_rules(topics: Sequence[TopicConfig]) -> TopicRules:
    """Compile the topics' match rules into regexes, once.

    Args:
        topics: the configured topics; those without ``match`` select by
            source only.

    Returns:
        Rules for ``match_topics``.

    Raises:
        ValueError: two topics share a slug.
    """
    rules: list[_TopicRule] = []
    seen: set[str] = set()
    for topic in topics:
        if topic.slug in seen:
            raise ValueError(f"curate: duplicate topic slug {topic.slug!r}")
        seen.add(topic.slug)
        match = topic.match or Match()
        all_lists = tuple(
            term_list
            for term_list in (_compile_terms([t]) for t in match.all)
            if term_list.terms
        )
        rules.append(
            _TopicRule(
                slug=topic.slug,
                any=_compile_terms(match.any),
                all=all_lists,
                none=_compile_terms(match.none),
                has_match=topic.match is not None,
                any_given=bool(match.any),
            )
        )
    return TopicRules(tuple(rules))


def match_topics(
    rules: TopicRules, entry: EntryData, source_topics: Sequence[str] = ()
) -> tuple[TopicMatch, ...]:
    """Return the topics ``entry`` belongs to, one per topic, ordered by slug.

    A topic with a ``match`` rule takes the entry when, over its title,
    summary, content (tags stripped) and categories, at least one ``any`` term
    occurs (when there are any), every ``all`` term occurs and no ``none`` term
    occurs. Terms match whole words, ignoring case and accents. Each slug of
    ``source_topics`` takes the entry too, reason "source".

    Args:
        rules: from ``compile_rules``.
        entry: the normalized entry.
        source_topics: topics every entry of the entry's source joins.

    Returns:
        ``TopicMatch`` values whose reason says why, e.g.
        ``"source; match any: 'OpenAI'"``.
    """
    reasons: dict[str, list[str]] = {}
    for slug in source_topics:
        reasons.setdefault(slug, ["source"])
    texts: tuple[str, ...] | None = None
    for rule in rules._rules:
        if not rule.has_match:
            continue
        if texts is None:
            texts = _entry_texts(entry)
        reason = rule.reason(texts)
        if reason is not None:
            reasons.setdefault(rule.slug, []).append(reason)
    return tuple(
        TopicMatch(topic=slug, reason="; ".join(reasons[slug]))
        for slug in sorted(reasons)
    )


# --------------------------------------------------------------------------
# Authors
# --------------------------------------------------------------------------

_EMAIL = re.compile(r"[^\s@<>()]+@[^\s@<>()]+")
# RSS 2.0 <author> is "email (Name)"; RFC 5322 §3.4 name-addr is "Name <email>"
_EMAIL_PAREN = re.compile(r"^\s*[^\s@<>()]+@[^\s@<>()]+\s*\((?P<name>.*)\)\s*$")
_NAME_ANGLE = re.compile(r"^(?P<name>.*?)\s*<[^<>]*>\s*$")
_BY = re.compile(r"^by\b\s*:?\s*", re.IGNORECASE)
_ROLE = re.compile(r"\s*\([^()]*\)[\s.,;:]*$")
# letters that NFKD does not decompose into ASCII
_TRANSLITERATE = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
    }
)
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def _strip_punctuation(text: str, *, trailing: bool = True) -> str:
    """Strip whitespace and Unicode punctuation (categories P*) from the ends."""

    def junk(c: str) -> bool:
        return c.isspace() or unicodedata.category(c).startswith("P")

    start, end = 0, len(text)
    while start < end and junk(text[start]):
        start += 1
    while trailing and end > start and junk(text[end - 1]):
        end -= 1
    return text[start:end]


def _strip_roles(text: str) -> str:
    """Remove trailing parenthesised roles: "Jane Doe (Editor) (Guest)"."""
    while (stripped := _ROLE.sub("", text)) != text:
        text = stripped
    return text


def _fix_case(name: str) -> str:
    """Title-case a name written all in capitals or all in lowercase."""
    if name != name.upper() and name != name.lower():
        return name  # mixed case is deliberate: "McDonald", "van Gogh"
    return re.sub(r"[^\s-]+", lambda m: m[0][:1].upper() + m[0][1:].lower(), name)


def normalize_author_name(name: str) -> str | None:
    """Return the display form of a feed's author string, or None if it has none.

    Removes an "email (Name)" or "Name <email>" wrapper, a leading "By ", a
    trailing parenthesised role ("(Staff Writer)") and surrounding punctuation;
    collapses whitespace; title-cases an ALL-CAPS or all-lowercase name.

    Args:
        name: the raw author string.

    Returns:
        e.g. "Ramsha Riaz"; None when nothing is left or only an email address.
    """
    text = " ".join(name.split())
    if m := _EMAIL_PAREN.match(text):
        text = m["name"]
    elif m := _NAME_ANGLE.match(text):
        text = m["name"]
    # roles go before punctuation is stripped, which would eat their "(" or ")"
    text = _BY.sub("", _strip_punctuation(_strip_roles(text), trailing=False))
    text = _strip_punctuation(_strip_roles(text))
    if not text or _EMAIL.fullmatch(text):
        return None
    return _fix_case(text)


def author_slug(name: str) -> str:
    """Return a URL slug for an author name: ``[a-z0-9]+`` runs joined by "-".

    Accents are folded ("José Núñez" -> "jose-nunez"). A name with letters
    but none that fold to ASCII (e.g. "李明") gets "author-" plus a hash of the
    name, so such authors do not all share one feed; a name with no letters or
    digits at all gets "unknown".

    Args:
        name: a display name, ideally from ``normalize_author_name``.

    Returns:
        A non-empty slug, safe in a URL path segment (RFC 3986 unreserved).
    """
    folded = _fold(name).translate(_TRANSLITERATE)
    slug = _NON_SLUG.sub("-", folded).strip("-")
    if slug:
        return slug
    key = " ".join(folded.split())
    if any(c.isalnum() for c in key):
        return "author-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return "unknown"


def author_refs(entry: EntryData) -> tuple[AuthorRef, ...]:
    """Return one ``AuthorRef`` per distinct author slug, in the entry's order.

    Authors without a usable name (none, or only an email) are skipped.
    """
    refs: dict[str, AuthorRef] = {}
    for author in entry.authors:
        name = normalize_author_name(author.name) if author.name else None
        if name is None:
            continue
        slug = author_slug(name)
        refs.setdefault(slug, AuthorRef(slug=slug, name=name))
    return tuple(refs.values())
