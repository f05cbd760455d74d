"""Entry text for rules: fields extracted, HTML stripped, case and accents folded.

No business logic; part of the ``curate`` stage (pure, stdlib only).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from html import unescape

from feedhub.types import EntryData

__all__ = ["MAX_FIELD_CHARS", "WORD", "EntryContext", "Texts", "fold"]

# --------------------------------------------------------------------------
# Text folding and HTML stripping
# --------------------------------------------------------------------------


def fold(text: str) -> str:
    """Casefold, then drop accents: NFKD minus combining marks.

    Casefold runs first because it can itself produce combining marks
    ("İ" -> "i̇"), which the NFKD pass then removes.
    """
    if text.isascii():
        # the common case, and 20x cheaper: ASCII has nothing to decompose
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    if decomposed.isascii():
        return decomposed
    # str.translate costs a dict lookup per character; English text has only
    # a few non-ASCII characters (curly quotes, dashes, an accent), so delete
    # just the distinct marks among them unless there are many (other scripts)
    non_ascii = len(decomposed) - len(decomposed.encode("ascii", "ignore"))
    if non_ascii * 20 < len(decomposed):
        # UTF-8 sequences are made of bytes >= 0x80 only: deleting the ASCII
        # bytes leaves the non-ASCII characters whole
        encoded = decomposed.encode("utf-8", "surrogatepass")
        high = encoded.translate(None, _ASCII).decode("utf-8", "surrogatepass")
        marks = _combining_marks()
        for char in set(high):
            if ord(char) in marks:
                decomposed = decomposed.replace(char, "")
        return decomposed
    return decomposed.translate(_combining_marks())


_ASCII = bytes(range(128))


@functools.cache
def _combining_marks() -> dict[int, None]:
    """A str.translate table deleting every combining mark (built once)."""
    return {
        cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))
    }


_SKIPPED = re.compile(r"<(script|style|template)\b.*?</\1\s*>", re.I | re.S)
# "<" is never inside a tag of sanitized HTML (normalize escapes it, even in
# attribute values), so [^<>] changes nothing there, and keeps the scan linear
# on any text: with [^>], "<<<<..." costs quadratic time (0.3 s on 20 KB)
_TAG = re.compile(r"<[^<>]*>")


def _html_text(html: str) -> str:
    """Return the text of an HTML fragment, tags removed and entities unescaped.

    A regex is enough here: content is already sanitized by normalize, and this
    text is only matched against, never shown.
    """
    if "<" not in html and "&" not in html:
        return html
    # tags separate words: "<p>AI</p><p>Safety</p>" must not read "AISafety"
    return unescape(_TAG.sub(" ", _SKIPPED.sub(" ", html)))


# --------------------------------------------------------------------------
# An entry's texts
# --------------------------------------------------------------------------

#: characters of one field a rule looks at; bounds the cost of any regex
MAX_FIELD_CHARS = 100_000
WORD = re.compile(r"\w+")
#: separates the fields (and categories) of one text: no phrase or word
#: boundary crosses it, since it is neither a word character nor a space
_SEP = "\x00"


#: a bytes.translate table: ASCII bytes that are not ``\w`` -> space
_SEPARATORS = bytes(
    b if chr(b).isalnum() or b == ord("_") or b >= 128 else ord(" ") for b in range(256)
)


def _words(text: str) -> list[str]:
    """``WORD.findall(text)``, faster on (nearly) ASCII text.

    ``\\w`` runs are what is left between non-word characters: on ASCII,
    a byte translation and ``split`` find them without a regex. Non-ASCII
    characters that are not word characters either (curly quotes, dashes,
    a folded text's usual non-ASCII) become spaces first; any other (a
    letter of another script) and the regex does the whole text.
    """
    if not text.isascii():
        # the distinct non-ASCII characters: UTF-8 sequences are made of
        # bytes >= 0x80 only, so deleting the ASCII bytes keeps them whole
        encoded = text.encode("utf-8", "surrogatepass")
        high = encoded.translate(None, _ASCII).decode("utf-8", "surrogatepass")
        for char in set(high):
            if WORD.match(char):
                return WORD.findall(text)
            text = text.replace(char, " ")
    return text.encode("ascii").translate(_SEPARATORS).decode("ascii").split()


@dataclass(frozen=True, slots=True)
class EntryContext:
    """What a rule may know about an entry besides its data."""

    #: configured URL of the entry's source
    source_url: str = ""
    #: when feedhub first stored the entry (``max_age``); None: age unknown
    seen_at: datetime | None = None
    #: the source feed's language tag, e.g. "en-GB"
    language: str | None = None


class Texts:
    """One entry's texts, extracted and folded on first use, then reused."""

    __slots__ = ("ctx", "entry", "fold", "_folded", "_raw", "_utf8", "_words")

    def __init__(self, entry: EntryData, ctx: EntryContext) -> None:
        self.entry = entry
        self.ctx = ctx
        self._raw: dict[str, tuple[str, ...]] = {}
        self._utf8: dict[str, tuple[bytes, ...]] = {}
        self.fold: dict[str, tuple[str, ...]] = {}
        self._folded: dict[tuple[str, ...], tuple[str, list[int], list[str]]] = {}
        self._words: dict[tuple[str, ...], frozenset[str]] = {}

    def words(self, fields: tuple[str, ...]) -> frozenset[str]:
        """The distinct folded words (``\\w+`` runs) of ``fields``."""
        found = self._words.get(fields)
        if found is None:
            found = frozenset(_words(self.folded(fields)[0]))
            self._words[fields] = found
        return found

    def raw(self, name: str) -> tuple[str, ...]:
        """The texts of one field as written (HTML reduced to its text)."""
        found = self._raw.get(name)
        if found is None:
            e = self.entry
            if name == "title":
                found = (e.title,)
            elif name == "summary":
                found = (_html_text(e.summary),) if e.summary else ()
            elif name == "content":
                found = (_html_text(e.content),) if e.content else ()
            elif name == "categories":
                found = e.categories
            elif name == "author":
                found = tuple(a.name for a in e.authors if a.name)
            else:
                raise ValueError(f"curate: {name!r} is not a text field")
            found = tuple(t[:MAX_FIELD_CHARS] for t in found if t)
            self._raw[name] = found
        return found

    def utf8(self, name: str) -> tuple[bytes, ...]:
        """``raw(name)`` encoded as UTF-8, once: what RE2 searches (regex rules)."""
        found = self._utf8.get(name)
        if found is None:
            found = tuple(
                text.encode("utf-8", "surrogatepass") for text in self.raw(name)
            )
            self._utf8[name] = found
        return found

    def folded_field(self, name: str) -> tuple[str, ...]:
        """The folded texts of one field (each field is folded once)."""
        found = self.fold.get(name)
        if found is None:
            found = tuple(fold(text) for text in self.raw(name))
            self.fold[name] = found
        return found

    def folded(self, fields: tuple[str, ...]) -> tuple[str, list[int], list[str]]:
        """The folded texts of ``fields`` joined by ``_SEP``, with each part's
        start offset and field name (to say where a word was found)."""
        found = self._folded.get(fields)
        if found is None:
            parts: list[str] = []
            starts: list[int] = []
            names: list[str] = []
            offset = 0
            for name in fields:
                for folded in self.folded_field(name):
                    parts.append(folded)
                    starts.append(offset)
                    names.append(name)
                    offset += len(folded) + 1
            found = (_SEP.join(parts), starts, names)
            self._folded[fields] = found
        return found
