"""Compiled rule conditions: each says whether it holds for an entry, and why.

Part of the ``curate`` stage (pure; regexes on RE2); ``compile_match`` turns a
``types.Match`` tree into these nodes.
"""

from __future__ import annotations

import bisect
import re
import urllib.parse
from collections.abc import Iterable, Sequence

from feedhub._regex import compile_regex
from feedhub.curate._text import WORD, Texts, fold
from feedhub.types import SOURCE_FIELDS, TEXT_FIELDS, Match

__all__ = ["Node", "compile_match", "show_key"]


def _term_pattern(term: str) -> str | None:
    """Return the regex source for one folded word or phrase, or None if blank.

    Phrase words are joined by ``\\s+``. The guards are lookarounds rather than
    ``\\b`` so that terms beginning or ending with a non-word character
    ("C++", ".NET") still need a non-word neighbour: "C++" matches "C++ code"
    but not "C++17", "AI" does not match "Aid". A trailing ``*`` matches any
    word ending: "model*" matches "model", "models" and "modelling".

    These stay on Python's ``re`` (RE2 has no lookarounds), which is safe
    because the pattern is generated, never written by a user: escaped
    literals without whitespace, joined by ``\\s+``, guarded by fixed-width
    lookarounds, ending in ``(?!\\w)`` or a final ``\\w*``. A start can only be
    an occurrence of the first word; from there, each ``\\s+`` backtracks at
    most over its own run of spaces (the literal after it starts with a
    non-space, so every shorter choice fails at once), and those runs are
    disjoint across starts. So a search costs O(len(text) * len(term)): a
    100 KB text of near-misses ("a b c d e" for "a b c d e f") takes 0.07 s.
    """
    words = fold(term).split()
    if not words:
        return None
    prefix = words[-1].endswith("*") and len(words[-1]) > 1
    if prefix:
        words[-1] = words[-1][:-1]
    first = re.escape(words[0])
    # the literal comes first so that the regex engine can scan for it fast;
    # the lookbehind then checks what precedes it (fixed width: \w + word)
    body = first + rf"(?<!\w{first})"
    body += "".join(r"\s+" + re.escape(w) for w in words[1:])
    return body + (r"\w*" if prefix else r"(?!\w)")


def _quote(terms: Iterable[str]) -> str:
    return ", ".join(f"'{t}'" for t in terms)


def show_key(key: str) -> str:
    """A config key as explain shows it: "topics.ai.match.any" -> "match.any"."""
    if key.startswith("topics."):
        return key.split(".", 2)[2] if key.count(".") >= 2 else key
    return key


class Node:
    """A compiled condition: ``check`` returns (holds, why in a few words)."""

    __slots__ = ()

    def check(self, t: Texts) -> tuple[bool, str]:
        raise NotImplementedError


class _Const(Node):
    __slots__ = ("value", "why")

    def __init__(self, value: bool, why: str) -> None:
        self.value, self.why = value, why

    def check(self, t: Texts) -> tuple[bool, str]:
        return self.value, self.why


class _Words(Node):
    """Any of some words or phrases occurs in the fields."""

    __slots__ = ("always", "by_word", "fields", "miss", "needles", "patterns", "terms")

    def __init__(self, terms: Sequence[str], fields: tuple[str, ...], key: str):
        kept: list[str] = []
        sources: list[str] = []
        #: per term: its whole words, and the start of a word it ends with
        needles: list[tuple[tuple[str, ...], str | None]] = []
        for term in terms:
            source = _term_pattern(term)
            if source is None or source in sources:
                continue
            kept.append(term)
            sources.append(source)
            folded = fold(term).strip()
            words = WORD.findall(folded)
            if folded.endswith("*") and words:
                needles.append((tuple(words[:-1]), words[-1]))
            else:
                needles.append((tuple(words), None))
        self.terms = tuple(kept)
        self.patterns = tuple(re.compile(source) for source in sources)
        self.needles = tuple(needles)
        #: first whole word -> the terms that start with it (set intersection
        #: with the entry's words finds the candidates in one C call)
        by_word: dict[str, list[int]] = {}
        always: list[int] = []
        for i, (whole, _start) in enumerate(needles):
            if whole:
                by_word.setdefault(whole[0], []).append(i)
            else:
                always.append(i)  # "model*", or no word character at all
        self.by_word = {w: tuple(ids) for w, ids in by_word.items()}
        self.always = tuple(always)
        self.fields = fields
        # short: the decision log stores it for most entries and topics
        # (the key names the config line listing them; one word is shown)
        if len(kept) == 1:
            self.miss = f"{show_key(key)}: {_quote(kept)} not found"
        else:
            self.miss = f"{show_key(key)}: none found"

    def check(self, t: Texts) -> tuple[bool, str]:
        # Cheap test first: a term can only occur when each of its words is
        # one of the entry's words (a set lookup); its regex then confirms
        # and says where. Most entries miss most topics, so most stop early.
        words = t.words(self.fields)
        found = words.intersection(self.by_word)
        if not found and not self.always:
            return False, self.miss
        candidates = sorted(
            [i for w in found for i in self.by_word[w]] + list(self.always)
        )
        text, starts, names = t.folded(self.fields)
        by_field: dict[str, list[str]] = {}
        for i in candidates:
            whole, start = self.needles[i]
            if len(whole) > 1 and not all(w in words for w in whole[1:]):
                continue
            if start is not None and start not in text:
                continue
            m = self.patterns[i].search(text)
            if m is not None:
                name = names[bisect.bisect_right(starts, m.start()) - 1]
                by_field.setdefault(name, []).append(self.terms[i])
        if not by_field:
            return False, self.miss
        return True, "; ".join(f"{_quote(t)} in {f}" for f, t in by_field.items())


class _Regex(Node):
    """Any of some regular expressions finds a match in the fields' raw text.

    The expressions come from feeds.yaml and the text from any feed, so they
    run on RE2 (``feedhub._regex``), in time linear in the text: with
    Python's backtracking ``re``, ``.*sponsored`` took 44 s on one 200 KB
    entry (see #7).
    """

    __slots__ = ("fields", "miss", "patterns", "sources")

    def __init__(self, patterns: Sequence[str], fields: tuple[str, ...], key: str):
        try:
            self.patterns = tuple(compile_regex(p) for p in patterns)
        except ValueError as e:
            raise ValueError(f"curate: {key}: {e}") from e
        #: the patterns as configured (the compiled ones are translated)
        self.sources = tuple(patterns)
        self.fields = fields
        self.miss = f"{show_key(key)}: no match"

    def check(self, t: Texts) -> tuple[bool, str]:
        for pattern, source in zip(self.patterns, self.sources, strict=True):
            for name in self.fields:
                for text in _utf8_texts(t, name):
                    if pattern.search(text) is not None:
                        return True, f"regex '{source}' in {name}"
        return False, self.miss


def _utf8_texts(t: Texts, name: str) -> tuple[bytes, ...]:
    """A field's texts as RE2 searches them (text fields: encoded once)."""
    if name in TEXT_FIELDS:
        return t.utf8(name)
    return tuple(
        text.encode("utf-8", "surrogatepass") for text in _source_texts(t, name)
    )


def _source_texts(t: Texts, name: str) -> tuple[str, ...]:
    if name == "source":
        return (t.ctx.source_url,)
    if name in ("link", "domain"):
        link = t.entry.link or ""
        return (_host(link),) if name == "domain" else (link,)
    if name == "language":
        return (t.ctx.language,) if t.ctx.language else ()
    return t.raw(name)


def _host(link: str) -> str:
    try:
        return (urllib.parse.urlsplit(link).hostname or "").lower()
    except ValueError:
        return ""


class _Source(Node):
    """The entry comes from one of some sources, link or domain, or language."""

    __slots__ = ("field", "miss", "terms")

    def __init__(self, terms: Sequence[str], field: str, key: str) -> None:
        self.field = field
        self.terms = tuple(t.strip() for t in terms if t.strip())
        self.miss = f"{show_key(key)}: not a listed {field}"

    def check(self, t: Texts) -> tuple[bool, str]:
        field = self.field
        if field == "source":
            url = t.ctx.source_url
            for term in self.terms:
                if term == url:
                    return True, f"source '{term}'"
        elif field == "domain":
            host = _host(t.entry.link or "")
            for term in self.terms:
                want = term.lower().strip(".")
                if host == want or host.endswith("." + want):
                    return True, f"domain '{term}'"
        elif field == "link":
            link = (t.entry.link or "").casefold()
            for term in self.terms:
                if term.casefold() in link:
                    return True, f"link contains '{term}'"
        else:
            lang = (t.ctx.language or "").lower().replace("_", "-")
            for term in self.terms:
                want = term.lower().replace("_", "-")
                if lang == want or lang.startswith(want + "-"):
                    return True, f"language '{term}'"
        return False, self.miss


class _MaxAge(Node):
    """The entry was dated at most ``seconds`` before feedhub first saw it."""

    __slots__ = ("key", "seconds")

    def __init__(self, seconds: float, key: str) -> None:
        self.seconds, self.key = seconds, show_key(key)

    def check(self, t: Texts) -> tuple[bool, str]:
        date = t.entry.published or t.entry.updated
        seen = t.ctx.seen_at
        if date is None or seen is None:
            return True, "undated"
        age = (seen - date).total_seconds()
        if age <= self.seconds:
            return True, f"{_days(age)} old when seen"
        return False, (
            f"{self.key}: {_days(age)} old when seen (limit {_days(self.seconds)})"
        )


def _days(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds >= 86400:
        return f"{seconds / 86400:.0f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 60:.0f}m"


class _All(Node):
    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[Node]) -> None:
        self.parts = tuple(parts)

    def check(self, t: Texts) -> tuple[bool, str]:
        whys: list[str] = []
        vetoes: list[str] = []
        for part in self.parts:
            holds, why = part.check(t)
            if not holds:
                return False, why
            # "nothing of ..." only says something when nothing else does
            found = vetoes if isinstance(part, _Not) else whys
            if why and why not in found:
                found.append(why)
        return True, "; ".join(whys or vetoes)


class _Any(Node):
    __slots__ = ("miss", "parts")

    def __init__(self, parts: Sequence[Node], key: str) -> None:
        self.parts = tuple(parts)
        self.miss = f"{show_key(key)}: none holds"

    def check(self, t: Texts) -> tuple[bool, str]:
        for part in self.parts:
            holds, why = part.check(t)
            if holds:
                return True, why
        if len(self.parts) == 1:
            return self.parts[0].check(t)
        return False, self.miss


class _Not(Node):
    __slots__ = ("key", "part")

    def __init__(self, part: Node, key: str) -> None:
        self.part, self.key = part, show_key(key)

    def check(self, t: Texts) -> tuple[bool, str]:
        holds, why = self.part.check(t)
        if holds:
            return False, f"{self.key}: {why}"
        part = self.part
        if isinstance(part, _Words) and 0 < len(part.terms) <= 3:
            return True, f"none of {_quote(part.terms)}"
        return True, f"nothing of {self.key}"


def _items(
    items: Sequence[str | Match], fields: tuple[str, ...], key: str
) -> list[Node]:
    """Compile a list of ``any``/``none`` items: the words as one node."""
    words = [i for i in items if isinstance(i, str)]
    nodes: list[Node] = []
    if words:
        nodes.append(_terms(words, fields, key))
    for i, item in enumerate(items):
        if isinstance(item, Match):
            nodes.append(compile_match(item, fields, f"{key}[{i}]"))
    return nodes


def _terms(words: Sequence[str], fields: tuple[str, ...], key: str) -> Node:
    if len(fields) == 1 and fields[0] in SOURCE_FIELDS:
        return _Source(words, fields[0], key)
    bad = [f for f in fields if f not in TEXT_FIELDS]
    if bad:
        raise ValueError(f"curate: {key}: cannot mix {bad[0]!r} with other fields")
    return _Words(words, fields, key)


def compile_match(match: Match, fields: tuple[str, ...], key: str) -> Node:
    """Compile one rule; an empty one always holds."""
    key = match.key or key
    fields = match.fields or fields
    parts: list[Node] = []
    if match.any:
        # "title: [a, b]" is a field's list of words: named by the field alone
        bare = match.fields and match == Match(any=match.any, fields=match.fields)
        where = key if bare else f"{key}.any"
        nodes = _items(match.any, fields, where)
        parts.append(nodes[0] if len(nodes) == 1 else _Any(nodes, where))
    for i, item in enumerate(match.all):
        where = f"{key}.all[{i}]"
        parts.append(
            _terms([item], fields, where)
            if isinstance(item, str)
            else compile_match(item, fields, where)
        )
    if match.none:
        nodes = _items(match.none, fields, f"{key}.none")
        part = nodes[0] if len(nodes) == 1 else _Any(nodes, f"{key}.none")
        parts.append(_Not(part, f"{key}.none"))
    if match.regex:
        parts.append(_Regex(match.regex, fields, f"{key}.regex"))
    if match.max_age is not None:
        parts.append(_MaxAge(match.max_age, f"{key}.max_age"))
    if not parts:
        return _Const(True, "everything")
    return parts[0] if len(parts) == 1 else _All(parts)
