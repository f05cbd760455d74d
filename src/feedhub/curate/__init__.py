"""Decide which topics an entry belongs to, and say why.

Topic rules (``types.Match`` trees from feeds.yaml) are compiled once into
regexes and small condition nodes (``_nodes``); ``decide`` runs block rules,
then each topic's rule, and returns the decision log ``feedhub explain``
prints. Pure: no I/O, no clock reads (time comes in ``EntryContext``);
``regex:`` conditions run on RE2 (``feedhub._regex``), in time linear in the
text, since the text comes from any feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from feedhub.curate._nodes import Node, compile_match
from feedhub.curate._text import MAX_FIELD_CHARS, EntryContext, Texts
from feedhub.types import (
    DEFAULT_FIELDS,
    Curation,
    EntryData,
    Match,
    TopicConfig,
    TopicDecision,
    TopicMatch,
)

__all__ = [
    "MAX_FIELD_CHARS",
    "EntryContext",
    "TopicRules",
    "compile_rules",
    "decide",
    "match_topics",
    "uses_age",
]


@dataclass(frozen=True, slots=True)
class _TopicRule:
    slug: str
    #: None: the topic has no rule (sources and source limits decide)
    node: Node | None
    include: frozenset[str]
    exclude: frozenset[str]

    @property
    def logged(self) -> bool:
        """Whether decisions on this topic are worth storing."""
        return self.node is not None or bool(self.include or self.exclude)


@dataclass(frozen=True, slots=True)
class TopicRules:
    """Topic and block rules compiled once by ``compile_rules``; opaque."""

    _rules: tuple[_TopicRule, ...] = ()
    _block: tuple[tuple[str, Node], ...] = ()


def compile_rules(
    topics: Sequence[TopicConfig], block: Match | None = None
) -> TopicRules:
    """Compile the topics' rules and the block rule into regexes, once.

    Args:
        topics: the configured topics; those without ``match`` select by
            source only.
        block: the global block rule (``Config.block``): each ``any`` item is
            one block rule, named by its key in explanations.

    Returns:
        Rules for ``decide`` and ``match_topics``.

    Raises:
        ValueError: two topics share a slug, or a rule is invalid (a bad
            regular expression, fields mixed wrongly).
    """
    rules: list[_TopicRule] = []
    seen: set[str] = set()
    for topic in topics:
        if topic.slug in seen:
            raise ValueError(f"curate: duplicate topic slug {topic.slug!r}")
        seen.add(topic.slug)
        key = f"topics.{topic.slug}.match"
        node = None
        if topic.match is not None:
            node = compile_match(topic.match, DEFAULT_FIELDS, key)
        rules.append(
            _TopicRule(
                topic.slug,
                node,
                frozenset(topic.include_sources),
                frozenset(topic.exclude_sources),
            )
        )
    blocks: list[tuple[str, Node]] = []
    if block is not None:
        key = block.key or "block"
        if block == Match(any=block.any):
            # a list of block rules, each named by its key
            for i, item in enumerate(block.any):
                rule = item if isinstance(item, Match) else Match(any=(item,))
                where = rule.key or f"{key}[{i}]"
                blocks.append((where, compile_match(rule, DEFAULT_FIELDS, where)))
        else:
            blocks.append((key, compile_match(block, DEFAULT_FIELDS, key)))
    return TopicRules(tuple(rules), tuple(blocks))


def decide(
    rules: TopicRules,
    entry: EntryData,
    source_topics: Sequence[str] = (),
    context: EntryContext | None = None,
) -> tuple[tuple[TopicMatch, ...], Curation]:
    """Decide an entry's topics, and say why it is in or out of each.

    Block rules run first: a blocked entry joins no topic, not even its
    source's. Then, per topic: a source in ``exclude_sources`` keeps it out;
    ``include_sources`` limits the rule to those sources (and, with no rule,
    takes every entry of theirs); the rule decides the rest. Each slug of
    ``source_topics`` takes the entry too, reason "source".

    Args:
        rules: from ``compile_rules``.
        entry: the normalized entry.
        source_topics: topics every entry of the entry's source joins.
        context: the entry's source URL, first-seen time and language.

    Returns:
        The topics (ordered by slug), and the decision log: the block rule
        that took the entry, or one decision per topic with rules.
    """
    ctx = context or EntryContext()
    t = Texts(entry, ctx)
    for name, node in rules._block:
        holds, why = node.check(t)
        if holds:
            return (), Curation(blocked=f"{name}: {why}", language=ctx.language)
    reasons: dict[str, list[str]] = {}
    for slug in source_topics:
        reasons.setdefault(slug, ["source"])
    decisions: list[TopicDecision] = []
    src = ctx.source_url
    for rule in rules._rules:
        if not rule.logged:
            continue
        holds, why = True, ""
        if src in rule.exclude:
            holds, why = False, "source in exclude_sources"
            reasons.pop(rule.slug, None)
        elif rule.include and src not in rule.include:
            holds, why = False, "source not in include_sources"
        elif rule.node is None:
            why = "source in include_sources"
        else:
            holds, why = rule.node.check(t)
            if holds:
                why = "match: " + why if why else "match"
        if holds:
            reasons.setdefault(rule.slug, []).append(why)
        elif rule.slug in reasons:
            # assigned by its source: in, whatever the rule says
            why = f"source (rule: {why})"
            holds = True
        decisions.append(TopicDecision(rule.slug, holds, why))
    matches = tuple(
        TopicMatch(topic=slug, reason="; ".join(reasons[slug]))
        for slug in sorted(reasons)
    )
    decisions.sort(key=lambda d: d.topic)
    return matches, Curation(decisions=tuple(decisions), language=ctx.language)


def uses_age(topics: Sequence[TopicConfig], block: Match | None = None) -> bool:
    """Whether any rule has ``max_age`` (its outcome depends on first-seen)."""

    def aged(item: str | Match | None) -> bool:
        if not isinstance(item, Match):
            return False
        if item.max_age is not None:
            return True
        return any(aged(i) for i in (*item.any, *item.all, *item.none))

    return aged(block) or any(aged(t.match) for t in topics)


def match_topics(
    rules: TopicRules,
    entry: EntryData,
    source_topics: Sequence[str] = (),
    context: EntryContext | None = None,
) -> tuple[TopicMatch, ...]:
    """Return the topics ``entry`` belongs to, one per topic, ordered by slug.

    ``decide`` without the decision log; see there.
    """
    return decide(rules, entry, source_topics, context)[0]
