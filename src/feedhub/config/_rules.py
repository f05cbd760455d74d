"""Read topic and block rules of feeds.yaml (``topics.*.match``, ``block``).

A rule is a list (any of these words) or a mapping whose conditions must all
hold: ``any``/``all``/``none`` lists (of words, phrases or nested rules),
``regex``, ``max_age`` and field keys (``title: [...]``, ``source: [...]``)
that look in one field only. See ``types.Match`` for what each part means.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from feedhub._regex import compile_regex
from feedhub.config._reader import NodeReader, child, describe, is_null, suggest
from feedhub.config._values import url_key
from feedhub.types import (
    SOURCE_FIELDS,
    TEXT_FIELDS,
    Config,
    Match,
    SourceConfig,
    TopicConfig,
)

__all__ = [
    "MAX_REGEX_LENGTH",
    "curation_snapshot",
    "match_json",
    "read_block",
    "read_match",
    "read_source_refs",
]

#: longest regular expression accepted. RE2 matches in time linear in the
#: text whatever the pattern; this bounds the compiled program (the other
#: factor of its cost) and keeps rules readable: lists of words and phrases
#: go under any/all/none, which match whole words
MAX_REGEX_LENGTH = 300
_LIST_KEYS = ("any", "all", "none")
_RULE_KEYS = (*_LIST_KEYS, "regex", "max_age", *TEXT_FIELDS, *SOURCE_FIELDS)
_FIELD_RULE_KEYS = (*_LIST_KEYS, "regex")
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*\.?")

#: resolves a source reference (URL or name) to its configured URL, or None
Resolver = Callable[[str], str | None]


def source_resolver(sources: Sequence[SourceConfig]) -> Resolver:
    """Return a lookup of configured sources by URL (normalized) or name.

    The tables are built at the first lookup: every topic's rule reader gets
    a resolver, and most rules never name a source (normalizing ten thousand
    URLs per topic cost a 10,000-source config a third of a second).
    """
    by_name: dict[str, str] = {}
    by_url: dict[str, str] = {}

    def resolve(text: str) -> str | None:
        if not by_url and sources:
            by_name.update((s.name, s.url) for s in sources if s.name)
            by_url.update((url_key(s.url), s.url) for s in sources)
        if "://" in text:
            try:
                return by_url.get(url_key(text))
            except (ValueError, KeyError):
                return None
        return by_name.get(text)

    return resolve


class _RuleReader:
    """Reads one rule tree; knows the configured sources for ``source:``."""

    def __init__(self, reader: NodeReader, sources: Sequence[SourceConfig]) -> None:
        self.r = reader
        self.sources = sources
        self.resolve = source_resolver(sources)

    def rule(self, node: Node, key: str, field: str | None = None) -> Match:
        """A mapping of conditions (all must hold); ``field`` scopes its words."""
        allowed = _RULE_KEYS if field is None else _FIELD_RULE_KEYS
        values = self.r.mapping(node, key, allowed)
        if len(values) == 1 and field is None:
            ((name, value),) = values.items()
            if name in TEXT_FIELDS or name in SOURCE_FIELDS:
                # {title: [..]} alone: the field rule itself, one level less
                return self.field(value, child(key, name), name)
        if field is not None:
            for name in values:
                if name not in _FIELD_RULE_KEYS:  # pragma: no cover - refused above
                    raise self.r.error(node, child(key, name), "a field in a field")
        lists: dict[str, tuple[str | Match, ...]] = {}
        for name in _LIST_KEYS:
            if name in values:
                lists[name] = self.items(values[name], child(key, name), field)
        all_items = list(lists.get("all", ()))
        for name in (*TEXT_FIELDS, *SOURCE_FIELDS):
            if name in values:
                all_items.append(self.field(values[name], child(key, name), name))
        regex: tuple[str, ...] = ()
        if "regex" in values:
            regex = self.regexes(values["regex"], child(key, "regex"))
        max_age = None
        if "max_age" in values:
            max_age = self.r.duration(values["max_age"], child(key, "max_age"))
        return Match(
            any=lists.get("any", ()),
            all=tuple(all_items),
            none=lists.get("none", ()),
            regex=regex,
            fields=(field,) if field else (),
            max_age=max_age,
            key=key,
        )

    def items(self, node: Node, key: str, field: str | None) -> tuple[str | Match, ...]:
        """An any/all/none list: words or phrases, and nested rules."""
        example = "['OpenAI', {title: [model]}]"
        out: list[str | Match] = []
        for i, item in enumerate(self.r.sequence(node, key, example)):
            where = child(key, i)
            if isinstance(item, MappingNode):
                out.append(self.rule(item, where, field))
            elif isinstance(item, SequenceNode):
                raise self.r.error(
                    item, where, "a list inside a list; write {any: [...]} or "
                    "{all: [...]} to say how its items combine",
                )  # fmt: skip
            else:
                out.append(self.term(item, where, field))
        return tuple(out)

    def field(self, node: Node, key: str, field: str) -> Match:
        """``title: words``, ``title: [..]`` or ``title: {any: .., regex: ..}``."""
        if isinstance(node, MappingNode):
            return self.rule(node, key, field)
        if isinstance(node, SequenceNode):
            return Match(any=self.items(node, key, field), fields=(field,), key=key)
        return Match(any=(self.term(node, key, field),), fields=(field,), key=key)

    def term(self, node: Node, key: str, field: str | None) -> str:
        text = self.r.text(node, key)
        if field == "source":
            url = self.resolve(text)
            if url is None:
                known = [s.name or s.url for s in self.sources]
                raise self.r.error(
                    node, key, f"{text!r} is not a configured source (by URL or "
                    f"name){suggest(text, known)}",
                )  # fmt: skip
            return url
        if field == "language" and not _LANGUAGE.fullmatch(text):
            raise self.r.error(
                node, key, f"{text!r} is not a language tag like 'en' or 'pt-BR'"
            )
        if field == "domain" and not _HOST.fullmatch(text):
            raise self.r.error(
                node, key, f"{text!r} is not a domain name like 'example.org'"
            )
        return text

    def regexes(self, node: Node, key: str) -> tuple[str, ...]:
        if isinstance(node, SequenceNode):
            return tuple(
                self.regex(item, child(key, i)) for i, item in enumerate(node.value)
            )
        return (self.regex(node, key),)

    def regex(self, node: Node, key: str) -> str:
        pattern = self.r.text(node, key)
        if len(pattern) > MAX_REGEX_LENGTH:
            raise self.r.error(
                node, key, f"regular expression longer than {MAX_REGEX_LENGTH} "
                "characters; split it, or use words and phrases",
            )  # fmt: skip
        try:
            # compiled as curate will run it (RE2, linear time): what it
            # refuses is refused here, with the file and line
            compile_regex(pattern)
        except ValueError as e:
            raise self.r.error(node, key, str(e)) from e
        return pattern


def read_match(
    reader: NodeReader, node: Node, key: str, sources: Sequence[SourceConfig]
) -> Match | None:
    """Read ``topics.<slug>.match``: a list of words, or a rule mapping."""
    if is_null(node):
        return None
    rules = _RuleReader(reader, sources)
    if isinstance(node, SequenceNode):
        match = Match(any=rules.items(node, key, None), key=key)
    elif isinstance(node, MappingNode):
        match = rules.rule(node, key)
    else:
        raise reader.error(
            node, key, f"expected a mapping like {{any: [OpenAI]}} or a list "
            f"like [OpenAI], got {describe(node)}",
        )  # fmt: skip
    if not (match.any or match.all or match.regex or match.max_age is not None):
        raise reader.error(
            node, key, "needs a condition besides 'none', e.g. a word or phrase "
            "under 'any' or 'all'",
        )  # fmt: skip
    return match


def read_block(
    reader: NodeReader, node: Node | None, sources: Sequence[SourceConfig] = ()
) -> Match | None:
    """Read the global ``block`` rules; absent or null blocks nothing.

    ``block`` is a list of rules (an entry matching any one is blocked) or a
    single rule mapping. A plain word or phrase in the list blocks entries
    containing it.
    """
    if node is None or is_null(node):
        return None
    rules = _RuleReader(reader, sources)
    if isinstance(node, MappingNode):
        return rules.rule(node, "block")
    items: list[str | Match] = []
    for i, item in enumerate(
        reader.sequence(node, "block", "[{title: [sponsored]}, {categories: [jobs]}]")
    ):
        where = child("block", i)
        if isinstance(item, MappingNode):
            items.append(rules.rule(item, where))
        elif isinstance(item, ScalarNode):
            items.append(Match(any=(rules.term(item, where, None),), key=where))
        else:
            raise reader.error(item, where, "expected a rule mapping or a word")
    return Match(any=tuple(items), key="block") if items else None


def read_source_refs(
    reader: NodeReader, node: Node, key: str, sources: Sequence[SourceConfig]
) -> tuple[str, ...]:
    """Read ``include_sources`` / ``exclude_sources``: URLs or names."""
    rules = _RuleReader(reader, sources)
    items = reader.sequence(node, key, "[https://a.example/feed, Example News]")
    urls = tuple(
        rules.term(item, child(key, i), "source") for i, item in enumerate(items)
    )
    return tuple(dict.fromkeys(urls))


# --------------------------------------------------------------------------
# Snapshot (fingerprint, feedhub plan)
# --------------------------------------------------------------------------


def match_json(match: Match | str) -> Any:
    """A rule as plain JSON data: only the parts that are set."""
    if isinstance(match, str):
        return match
    out: dict[str, Any] = {}
    for name in _LIST_KEYS:
        items = getattr(match, name)
        if items:
            out[name] = [match_json(i) for i in items]
    if match.regex:
        out["regex"] = list(match.regex)
    if match.fields:
        out["fields"] = list(match.fields)
    if match.max_age is not None:
        out["max_age"] = match.max_age
    return out


def curation_snapshot(config: Config) -> dict[str, Any]:
    """The part of ``config`` that decides topics, as JSON data (sorted).

    Stored when rules are applied, so that ``feedhub plan`` can say which
    rules changed since.
    """
    topics = {
        t.slug: {
            "match": None if t.match is None else match_json(t.match),
            "include_sources": sorted(t.include_sources),
            "exclude_sources": sorted(t.exclude_sources),
        }
        for t in config.topics
    }
    return {
        "topics": dict(sorted(topics.items())),
        "sources": {s.url: sorted(s.topics) for s in sorted(config.sources, key=_url)},
        "block": None if config.block is None else match_json(config.block),
    }


def _url(source: SourceConfig) -> str:
    return source.url


def topic_rules_json(topic: TopicConfig) -> str:
    """One topic's rules as canonical JSON text (for comparisons)."""
    return json.dumps(
        [
            None if topic.match is None else match_json(topic.match),
            sorted(topic.include_sources),
            sorted(topic.exclude_sources),
        ],
        sort_keys=True,
        ensure_ascii=False,
    )
