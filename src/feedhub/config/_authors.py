"""Read the ``authors:`` section of feeds.yaml.

```yaml
authors:
  ramsha-riaz:                  # the feed's slug: /authors/ramsha-riaz.atom
    name: Ramsha Riaz           # display name (default: the slug, capitalised)
    aliases: [R. Riaz, ramsha@example.org]   # other spellings, or emails
  reuters:
    organisation: true          # an organisation byline, not a person
    publish: true               # default: true for people, false for organisations
```
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from yaml.nodes import Node

from feedhub.config._reader import NodeReader, child, is_null
from feedhub.types import AuthorConfig

__all__ = ["alias_key", "read_authors"]

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_AUTHOR_KEYS = ("name", "aliases", "organisation", "publish")
_EMAIL = re.compile(r"[^\s@<>()]+@[^\s@<>()]+")
_WORDS = re.compile(r"[^\W_]+")
# letters that NFKD does not decompose into ASCII (as in authors.py)
_TRANSLITERATE = str.maketrans(
    {"ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "þ": "th",
     "ı": "i", "ħ": "h", "ŧ": "t"}
)  # fmt: skip


def alias_key(alias: str) -> str:
    """Return the key two spellings of one author share.

    The same comparison as ``authors.author_key`` (lower case, accents folded,
    punctuation ignored), so that the reader refuses exactly the aliases the
    authors stage would confuse; an email address compares in lower case.
    """
    text = alias.strip()
    if _EMAIL.fullmatch(text):
        return text.lower()
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(_WORDS.findall(folded.translate(_TRANSLITERATE)))


def read_authors(reader: NodeReader, node: Node | None) -> tuple[AuthorConfig, ...]:
    """Read ``authors:``; absent or null gives none.

    Raises:
        ConfigError: a slug that cannot be a URL path, an unknown key, a value
            of the wrong kind, or a name or alias claimed by two authors; the
            message names the file, the line and the key.
    """
    if node is None or is_null(node):
        return ()
    authors: list[AuthorConfig] = []
    #: alias key -> (author slug, line) of the first author claiming it
    claimed: dict[str, tuple[str, int]] = {}
    for slug, value in reader.mapping(
        node, "authors", None, _slug_checker(reader)
    ).items():
        key = child("authors", slug)
        values = reader.mapping(value, key, _AUTHOR_KEYS)
        name = reader.get(values, "name", key, reader.text, _slug_title(slug))
        none: tuple[str, ...] = ()
        aliases = reader.get(
            values, "aliases", key,
            lambda n, k: reader.texts(n, k, "['R. Riaz', 'ramsha@example.org']"), none,
        )  # fmt: skip
        organisation = reader.get(values, "organisation", key, _flag(reader), False)
        publish = reader.get(values, "publish", key, _flag(reader), not organisation)
        spellings: list[tuple[str, str, Node]] = [(slug.replace("-", " "), key, value)]
        if "name" in values:
            spellings.append((name, f"{key}.name", values["name"]))
        for i, alias in enumerate(aliases):
            spellings.append((alias, child(f"{key}.aliases", i), _item(values, i)))
        mine: set[str] = set()
        for spelling, where, at in spellings:
            k = alias_key(spelling)
            if not k:
                raise reader.error(
                    at, where, f"{spelling!r} has no letters or digits to match"
                )
            if k in claimed and k not in mine:
                other, line = claimed[k]
                raise reader.error(
                    at, where, f"{spelling!r} already names author {other!r} "
                    f"(line {line}); an alias can belong to one author only",
                )  # fmt: skip
            claimed.setdefault(k, (slug, at.start_mark.line + 1))
            mine.add(k)
        authors.append(
            AuthorConfig(
                slug=slug,
                name=name,
                aliases=aliases,
                organisation=organisation,
                publish=publish,
            )
        )
    return tuple(authors)


def _item(values: dict[str, Node], index: int) -> Node:
    """The node of alias ``index`` (for its line in an error)."""
    node = values["aliases"]
    items = node.value if isinstance(node.value, list) else []
    return items[index] if index < len(items) else node


def _flag(reader: NodeReader) -> Callable[[Node, str], bool]:
    def read(node: Node, key: str) -> bool:
        value = reader.boolean(node)
        if value is None:
            raise reader.error(node, key, "expected true or false")
        return value

    return read


def _slug_checker(reader: NodeReader) -> Callable[[Node, str, str], None]:
    def check(node: Node, key: str, name: str) -> None:
        # The slug becomes the path of the author's feed, /authors/<slug>.atom.
        if name == "index":  # /authors/index.html is the index page
            raise reader.error(
                node, key, "'index' is reserved for the authors index page"
            )
        if not _SLUG_RE.fullmatch(name):
            raise reader.error(
                node, key, f"author slug {name!r} cannot be used in a URL; use "
                "lower-case letters, digits and '-', starting with a letter or "
                "digit (e.g. 'ramsha-riaz')",
            )  # fmt: skip

    return check


def _slug_title(slug: str) -> str:
    return " ".join(part.capitalize() for part in slug.split("-"))
