"""Compile the ``regex:`` of topic and block rules with RE2: linear-time matching.

No business logic. Python's ``re`` backtracks without a timeout, so a rule as
plain as ``.*sponsored`` takes quadratic time on a hostile 100,000-character
field (13 s on 40 KB), and ``(a|a)*b`` exponential time. RE2 (google-re2)
runs in time linear in the text, whatever the pattern, and has no
lookarounds or backreferences, the features that need backtracking; those
are refused here with a message saying what to write instead.

Patterns keep Python's meaning: case-insensitive, ``\\w``, ``\\d`` and
``\\s`` are Unicode classes (RE2's own are ASCII), ``\\Z`` and ``\\uXXXX``
work. ``\\b`` is RE2's: a boundary next to an ASCII letter, digit or ``_``.
Both ``config`` (to refuse a bad pattern with its file and line) and
``curate`` (to run it) compile through here, so they agree on what is valid.
"""

from __future__ import annotations

import unicodedata
from typing import Protocol

import re2

__all__ = ["Regex", "compile_regex"]


class Regex(Protocol):
    """A compiled pattern (RE2's ``_Regexp``), as rules use it.

    It searches UTF-8 bytes, with Unicode semantics: a rule encodes each
    field once, not once per pattern (RE2's ``str`` API encodes on every
    call), which makes a search on a 2.5 KB text 2.4x faster (2.5 us vs 6).
    """

    @property
    def pattern(self) -> bytes:
        """The pattern as compiled (translated to RE2's syntax, UTF-8)."""

    def search(self, text: bytes) -> object | None:
        """The first match in ``text``, or None; linear in ``len(text)``."""


# Python's Unicode classes spelled for RE2 (checked code point by code point
# against Python's in tests/test_rules.py; RE2's tables may know newer
# characters). Python's \w is str.isalnum() or "_", \d is Nd, \s is isspace().
_WORD = r"\p{L}\p{N}_"
_DIGIT = r"\p{Nd}"
_SPACE = r"\t-\r\x1c-\x1f\x85\p{Z}"
_OUTSIDE = {
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "d": _DIGIT,
    "D": r"\P{Nd}",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "Z": r"\z",
}
_INSIDE = {"w": _WORD, "d": _DIGIT, "D": r"\P{Nd}", "s": _SPACE}

_LOOKAROUND = (
    "lookarounds ((?=...), (?!...), (?<=...), (?<!...)) are not supported "
    "(regexes run in linear time, with RE2); match the neighbour itself, "
    "e.g. 'sponsored(?:[^a-z]|$)' for 'sponsored(?![a-z])', or list words and "
    "phrases under any/all/none, which match whole words"
)
_BACKREFERENCE = (
    "backreferences (\\1, (?P=name)) are not supported (regexes run in "
    "linear time, with RE2); spell the repeated text out"
)
_NOT_NEEDED = (
    "{what} are not supported and not needed: RE2 never backtracks "
    "(matching takes linear time); write {instead}"
)


def compile_regex(pattern: str) -> Regex:
    """Compile a rule's regular expression (Python syntax) for linear-time search.

    Args:
        pattern: the regular expression as configured; matched ignoring case.

    Returns:
        A compiled RE2 pattern whose ``search`` of UTF-8 bytes takes time
        linear in their length.

    Raises:
        ValueError: not a regular expression, or one using a feature RE2
            lacks (lookarounds, backreferences, ...); the message says what
            to write instead.
    """
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error goes into our message, not stderr
    translated = _translate(pattern)
    if not _encodable(translated):
        raise ValueError("not a regular expression: a lone surrogate (\\ud800)")
    try:
        compiled: Regex = re2.compile(translated.encode("utf-8"), options)
    except re2.error as e:
        raise ValueError(_explain(e)) from e
    return compiled


def _translate(pattern: str) -> str:
    """Rewrite Python's regex syntax into RE2's, keeping its meaning.

    Raises:
        ValueError: a construct RE2 cannot run (lookaround, backreference,
            conditional, atomic group).
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            e = pattern[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            if e in table:
                out.append(table[e])
                i += 2
            elif in_class and e in "WS":
                raise ValueError(
                    f"\\{e} inside [...] is not supported; write "
                    f"(?:\\{e}|[...]) with the other characters in [...]"
                )
            elif e in "123456789" and not in_class:
                raise ValueError(_BACKREFERENCE)
            elif e == "Q":
                # RE2's quoted literal: copied as it is, up to \E
                end = pattern.find("\\E", i + 2)
                end = n if end < 0 else end + 2
                out.append(pattern[i:end])
                i = end
            elif e in "uU":
                width = 4 if e == "u" else 8
                digits = pattern[i + 2 : i + 2 + width]
                if len(digits) != width or not _is_hex(digits):
                    raise ValueError(
                        f"not a regular expression: incomplete escape \\{e}{digits}"
                    )
                out.append(f"\\x{{{digits}}}")
                i += 2 + width
            elif e == "N" and pattern.startswith("{", i + 2):
                end = pattern.find("}", i + 3)
                name = pattern[i + 3 : end] if end > 0 else ""
                try:
                    char = unicodedata.lookup(name)
                except KeyError:
                    raise ValueError(
                        f"not a regular expression: unknown character name {name!r}"
                    ) from None
                out.append(f"\\x{{{ord(char):x}}}")
                i = end + 1
            else:
                out.append(pattern[i : i + 2])
                i += 2
        elif in_class:
            if c == "]":
                in_class = False
            elif c == "[" and pattern.startswith(":", i + 1):
                # a POSIX class, [[:alpha:]]: copied whole
                end = pattern.find(":]", i + 2)
                if end > 0:
                    out.append(pattern[i : end + 2])
                    i = end + 2
                    continue
            out.append(c)
            i += 1
        elif c == "[":
            in_class = True
            out.append(c)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):
                # "[]a]": a ] right after the [ (or [^) is a literal
                out.append("\\]")
                i += 1
        elif c == "(" and pattern.startswith("?", i + 1):
            i = _group(pattern, i, out)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_hex(text: str) -> bool:
    return all(ch in "0123456789abcdefABCDEF" for ch in text)


def _group(pattern: str, i: int, out: list[str]) -> int:
    """Copy the start of a ``(?...`` group, refusing what RE2 cannot run."""
    rest = pattern[i + 2 : i + 4]
    if rest[:1] in ("=", "!") or rest in ("<=", "<!"):
        raise ValueError(_LOOKAROUND)
    if rest[:1] == ">":
        raise ValueError(
            _NOT_NEEDED.format(what="atomic groups (?>...)", instead="(?:...)")
        )
    if rest[:1] == "(":
        raise ValueError(
            "conditionals (?(1)...|...) are not supported (regexes run in "
            "linear time, with RE2); write an alternation (...|...)"
        )
    if rest == "P=":
        raise ValueError(_BACKREFERENCE)
    if rest[:1] == "#":
        # a comment, (?#...): RE2 has none, so it is dropped
        end = pattern.find(")", i)
        if end < 0:
            raise ValueError(
                "not a regular expression: missing ), unterminated comment"
            )
        return end + 1
    out.append("(?")
    return i + 2


def _explain(error: re2.error) -> str:
    """RE2's error message, with what to write instead where that helps."""
    arg = error.args[0] if error.args else ""
    message = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    if message.startswith("bad repetition operator") and message.endswith("+"):
        return _NOT_NEEDED.format(
            what="possessive repeats (a++, a*+)", instead="a+ or a*"
        )
    if "invalid perl operator: (?" in message:
        return (
            f"not a regular expression: {message}: only the flags i, m, s "
            "and U can be set inline "
            "(verbose (?x), ASCII (?a) and locale (?L) are not supported)"
        )
    if message == "pattern too large - compile failed":
        return "pattern too large: write fewer or smaller repeats, like {1,50}"
    return f"not a regular expression: {message}"
