"""Parse the search language people type into a safe SQLite FTS5 expression.

The language: plain words (all must occur), ``"quoted phrases"``, ``OR``,
``NOT`` (or ``-word``), ``AND`` (optional), parentheses, a trailing ``*`` for a
prefix (``regulat*``), and ``field:word`` / ``field:"a phrase"`` for one of
title, summary, content, author. Operators are upper case; ``or`` is a word.

Every word reaches FTS5 inside double quotes, so punctuation people type in
plain words (``open-source``, ``don't``, ``node.js``, ``10:30``, URLs) is
split by the tokenizer like the indexed text instead of being read as FTS5
syntax; only the operators above are ever emitted unquoted. A malformed query
raises ``QueryError`` with a short message meant for the person who typed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feedhub.exceptions import QueryError
from feedhub.types import SearchQuery

__all__ = ["FIELDS", "MAX_QUERY_LENGTH", "MAX_TERMS", "parse_query"]

#: searchable fields, as typed before a colon -> FTS5 column
FIELDS: dict[str, str] = {
    "title": "title",
    "summary": "summary",
    "content": "content",
    "author": "author",
    "authors": "author",
}
#: longest query accepted, in characters
MAX_QUERY_LENGTH = 500
#: most words and phrases in one query
MAX_TERMS = 40

_OPERATORS = ("OR", "AND", "NOT")
# a letter or digit: what the unicode61 tokenizer keeps (underscore it drops)
_WORDY = re.compile(r"[^\W_]")
_FIELD = re.compile(r"([A-Za-z]+):(.*)", re.S)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    #: FTS5 column, None for every column
    column: str | None = None
    prefix: bool = False
    #: typed in quotes (shown quoted again in the normalized text)
    phrase: bool = False


@dataclass(frozen=True, slots=True)
class _All:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Any:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Not:
    keep: _Node
    drop: _Node


_Node = _Term | _All | _Any | _Not


@dataclass(frozen=True, slots=True)
class _Token:
    #: "word", "phrase", "op", "(", ")", "-" (negation of the next atom)
    kind: str
    text: str = ""
    column: str | None = None
    prefix: bool = False


def parse_query(text: str) -> SearchQuery:
    """Check a search query and translate it for FTS5.

    Args:
        text: the query as typed.

    Returns:
        Its normalized form (stable for equivalent spellings: case, spacing,
        redundant ``AND``) and the FTS5 MATCH expression.

    Raises:
        QueryError: the query is empty, too long or malformed.
    """
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"query too long: {len(text)} characters, at most "
                         f"{MAX_QUERY_LENGTH}")  # fmt: skip
    tokens = _tokenize(text)
    if not tokens:
        raise QueryError("empty query: type a word to search for")
    parser = _Parser(tokens)
    node = parser.expression()
    if parser.pos < len(tokens):
        raise QueryError("unbalanced parentheses: a ')' has no '('")
    if parser.terms > MAX_TERMS:
        raise QueryError(f"too many words: {parser.terms}, at most {MAX_TERMS}")
    return SearchQuery(text=_show(node, top=True), fts=_fts(node))


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    column: str | None = None
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "()":
            if column is not None:
                raise QueryError(
                    f"a field applies to one word or phrase: "
                    f'write {column}:word or {column}:"some words", not '
                    f"{column}:(...)"
                )
            tokens.append(_Token(c))
            i += 1
            continue
        if c == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QueryError('unbalanced quotes: close the phrase with "')
            phrase = " ".join(text[i + 1 : end].split())
            i = end + 1
            prefix = i < n and text[i] == "*"
            i += prefix
            if not _WORDY.search(phrase):
                raise QueryError("empty phrase: put words between the quotes")
            tokens.append(_Token("phrase", phrase, column, prefix))
            column = None
            continue
        if c == "-" and column is None and i + 1 < n and text[i + 1] in '"(':
            tokens.append(_Token("-"))  # -"a phrase", -(a OR b)
            i += 1
            continue
        start = i
        while i < n and not text[i].isspace() and text[i] not in '()"':
            i += 1
        word = text[start:i]
        if word in _OPERATORS and column is None:
            tokens.append(_Token("op", word))
            continue
        if column is None and word.startswith("-") and len(word) > 1:
            # "-word" excludes, like "NOT word"; a lone "-" is punctuation
            tokens.append(_Token("-"))
            word = word.lstrip("-")
        field = _FIELD.fullmatch(word)
        if column is None and field and not _SCHEME.match(word):
            name, rest = field.group(1), field.group(2)
            if name.lower() not in FIELDS:
                raise QueryError(
                    f"unknown field {name!r} in {word!r}: use one of "
                    f"{', '.join(sorted(set(FIELDS.values())))}, or quote it to "
                    f'search for the text ("{word}")'
                )
            column = FIELDS[name.lower()]
            if not rest:
                if i >= n or text[i] != '"':
                    raise QueryError(f'{word!r} needs a word or "phrase" after it')
                continue
            word = rest
        prefix = word.endswith("*")
        word = word.rstrip("*")
        if not _WORDY.search(word):
            if prefix:
                raise QueryError("'*' needs a word before it, as in regulat*")
            if tokens and tokens[-1].kind == "-":
                tokens.pop()
            column = None
            continue  # punctuation alone: nothing to search for
        tokens.append(_Token("word", word, column, prefix))
        column = None
    return tokens


class _Parser:
    """Recursive descent over tokens: OR < AND (implicit) < NOT < atom."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.terms = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def is_op(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "op" and token.text == word

    def expression(self) -> _Node:
        items = [self.conjunction(None)]
        while self.is_op("OR"):
            self.pos += 1
            items.append(self.conjunction("OR"))
        return items[0] if len(items) == 1 else _Any(tuple(items))

    def conjunction(self, after: str | None) -> _Node:
        keep: list[_Node] = []
        drop: list[_Node] = []
        while True:
            token = self.peek()
            if token is None or token.kind == ")" or self.is_op("OR"):
                break
            if self.is_op("AND"):
                if not keep and not drop:
                    raise _needs("AND")
                self.pos += 1
                if self._at_end():
                    raise _needs("AND")
                continue
            if self.is_op("NOT"):
                if not keep:
                    raise QueryError(
                        "NOT needs something before it: write 'a NOT b' (or 'a -b')"
                    )
                self.pos += 1
                if self._at_end():
                    raise QueryError("NOT needs a word after it")
                drop.append(self.atom())
                continue
            if token.kind == "-":
                self.pos += 1
                if self._at_end():
                    raise QueryError("'-' needs a word after it")
                drop.append(self.atom())
                continue
            keep.append(self.atom())
        if not keep:
            if drop:
                raise QueryError(
                    "nothing to search for: NOT and '-' only exclude; add a word "
                    "to look for, as in 'a NOT b'"
                )
            token = self.peek()
            if after == "(" and token is not None and token.kind == ")":
                raise QueryError("empty parentheses: put words inside them")
            if after is None and token is not None and token.kind == ")":
                raise QueryError("unbalanced parentheses: a ')' has no '('")
            raise _needs("OR")
        node: _Node = keep[0] if len(keep) == 1 else _All(tuple(keep))
        if drop:
            node = _Not(node, drop[0] if len(drop) == 1 else _Any(tuple(drop)))
        return node

    def _at_end(self) -> bool:
        token = self.peek()
        return token is None or token.kind in (")", "op")

    def atom(self) -> _Node:
        token = self.peek()
        if token is None or token.kind in ("op", ")"):
            raise QueryError("a word is missing")
        self.pos += 1
        if token.kind == "(":
            return self.group()
        if token.kind == "-":
            raise QueryError("'-' needs a word after it")
        self.terms += 1
        return _Term(
            token.text.lower(), token.column, token.prefix, token.kind == "phrase"
        )

    def group(self) -> _Node:
        token = self.peek()
        if token is not None and token.kind == ")":
            raise QueryError("empty parentheses: put words inside them")
        items = [self.conjunction("(")]
        while self.is_op("OR"):
            self.pos += 1
            items.append(self.conjunction("OR"))
        token = self.peek()
        if token is None or token.kind != ")":
            raise QueryError("unbalanced parentheses: a '(' is not closed")
        self.pos += 1
        return items[0] if len(items) == 1 else _Any(tuple(items))


def _needs(op: str) -> QueryError:
    return QueryError(f"{op} needs a word on each side")


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fts(node: _Node) -> str:
    """The FTS5 expression: every term quoted, every compound parenthesized."""
    if isinstance(node, _Term):
        out = _quote(node.text) + ("*" if node.prefix else "")
        return f"{node.column} : {out}" if node.column else out
    if isinstance(node, _All):
        return "(" + " AND ".join(_fts(item) for item in node.items) + ")"
    if isinstance(node, _Any):
        return "(" + " OR ".join(_fts(item) for item in node.items) + ")"
    return f"({_fts(node.keep)} NOT {_fts(node.drop)})"


def _show(node: _Node, *, top: bool = False) -> str:
    """The normalized query in the language people type."""
    if isinstance(node, _Term):
        plain = not node.phrase and node.text.isalnum()
        out = node.text if plain else _quote(node.text)
        out += "*" if node.prefix else ""
        return f"{node.column}:{out}" if node.column else out
    if isinstance(node, _All):
        out = " ".join(_show(item) for item in node.items)
    elif isinstance(node, _Any):
        out = " OR ".join(_show(item) for item in node.items)
    else:
        out = f"{_show(node.keep)} NOT {_show(node.drop)}"
    return out if top else f"({out})"
