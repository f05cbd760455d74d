"""Remove publishing-platform boilerplate from entry content by documented rules.

Pure: stdlib only, no I/O. Content is split into blocks (leaf block elements
such as ``<p>`` or ``<h4>``, or lines of loose text); each rule's pattern is
matched against a block's whole text, whitespace collapsed, ignoring case. A
rule drops the block (``drop``), drops it and everything after it (``cut``), or
moves an author bio out of the content (``bio``: the block is the bio's heading;
the blocks after it up to the next heading are the bio). Nothing else is
touched: curly quotes, typos and markup of the kept blocks stay byte for byte.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser

from feedhub.types import Author, CleanAction, CleanRule, EntryData

__all__ = ["BUILTIN_RULES", "clean_entry", "clean_html", "compile_rules"]

_D, _C, _B = CleanAction.DROP, CleanAction.CUT, CleanAction.BIO

#: The built-in rules, in the order they are tried on each block. Every
#: pattern must match a block's *whole* text, so a sentence that merely
#: mentions comments or subscribing inside an article is never removed.
BUILTIN_RULES: tuple[CleanRule, ...] = (
    # Vocal, Medium, Substack, WordPress author boxes: bio is author metadata
    CleanRule("creator-bio", r"about the (creator|author|writer)", _B),
    CleanRule("written-by", r"written by( .{1,60})?", _B),
    # comment sections: the heading and everything after it
    CleanRule("comments", r"(\d+\s+)?(comments?|responses?)(\s*\(\d+\))?", _C),
    CleanRule(
        "no-comments", r"there are no (comments|responses)( for this \w+)?\.?", _D
    ),
    CleanRule("first-to-respond", r"be the first to (respond|comment)\b.*", _D),
    CleanRule("leave-comment", r"(leave|post|add) a (comment|reply|response)\.?", _C),
    # calls to action and syndication notes
    CleanRule(
        "subscribe",
        r"(subscribe|sign up|join)( now| today| for free)? (to|for) .{1,80}",
        _D,
    ),
    CleanRule("share", r"share( this( article| story| post)?| on .{1,40})?", _D),
    CleanRule("thanks-for-reading", r"thanks for reading .{1,160}", _D),
    CleanRule("follow", r"follow (us|me|\w+) on .{1,60}", _D),
    CleanRule(
        "originally-published",
        r"(this (article|story|post) )?(was |first |originally )+"
        r"(appeared|published|posted) (on|in|at|by) .{1,160}",
        _D,
    ),
    CleanRule("appeared-first", r"the post .{1,300} appeared first on .{1,120}", _D),
    CleanRule(
        "read-more",
        r"(read|continue reading|read the (full|rest of the|original) "
        r"(story|article|post))( more)?( (at|on|here|in) .{0,100})?\W*"
        r"|read more: .{1,160}",
        _D,
    ),
    CleanRule(
        "related",
        r"(related|recommended|more from .{1,60}|you (may|might) also like|"
        r"related (stories|articles|posts|reading))\s*:?",
        _C,
    ),
)

_BLOCK_TAGS = frozenset(
    "address article aside blockquote dd details dialog div dl dt fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p "
    "pre section summary table tbody td tfoot th thead tr ul".split()
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)
#: elements that are content even without text
_MEDIA = frozenset({"img", "video", "audio", "iframe", "embed", "object", "svg"})


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    pattern: re.Pattern[str]
    action: CleanAction


def compile_rules(
    extra: Iterable[CleanRule] = (), disable: Iterable[str] = ()
) -> tuple[_Rule, ...]:
    """Compile the built-in rules (minus ``disable``) followed by ``extra``.

    Raises:
        ValueError: a pattern is not a valid regular expression.
    """
    off = set(disable)
    rules = [r for r in BUILTIN_RULES if r.name not in off] + list(extra)
    compiled = []
    for rule in rules:
        try:
            pattern = re.compile(rule.pattern, re.IGNORECASE | re.DOTALL)
        except re.error as e:
            raise ValueError(f"clean: rule {rule.name!r}: {e}") from e
        compiled.append(_Rule(rule.name, pattern, CleanAction(rule.action)))
    return tuple(compiled)


# ---------------------------------------------------------------------------
# A minimal DOM: enough to remove blocks and write the rest back unchanged.
# ---------------------------------------------------------------------------


# eq=False: nodes compare by identity; the generated __eq__ would walk whole
# subtrees (and parents) and overflow the stack on deep documents
@dataclass(slots=True, eq=False)
class _Node:
    #: None for a text node
    tag: str | None
    #: start tag as written, or the raw text
    raw: str
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)
    end: str = ""
    removed: bool = False

    def text(self) -> str:
        if self.tag is None:
            # most lines have no reference: skip unescape's call
            return html.unescape(self.raw) if "&" in self.raw else self.raw
        if self.tag == "br":
            return "\n"
        return "".join([child.text() for child in self.children if not child.removed])


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.root = _Node("#root", "")
        self.current = self.root

    def _add(self, node: _Node) -> None:
        node.parent = self.current
        self.current.children.append(node)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, self.get_starttag_text() or f"<{tag}>")
        self._add(node)
        if tag not in _VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._add(_Node(tag, self.get_starttag_text() or f"<{tag}/>"))

    def handle_endtag(self, tag: str) -> None:
        node: _Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is None or node is self.root:
            return  # a stray end tag: drop it, as a browser would
        node.end = f"</{tag}>"
        self.current = node.parent or self.root

    def _text(self, raw: str) -> None:
        # one node per line, so that lines of plain text can be removed alone
        for line in raw.splitlines(keepends=True):
            self._add(_Node(None, line))

    def handle_data(self, data: str) -> None:
        self._text(data)

    def handle_entityref(self, name: str) -> None:
        self._text(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self._text(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        pass  # comments are not content (nh3 strips them anyway)


# Sanitized HTML as nh3 serializes it (what normalize stores) is regular enough
# for a regex to split into the same tree as html.parser, at a fraction of its
# cost: every "<" opens a start or end tag with a plain name; "<" and ">" inside
# attribute values and text are escaped; every "&" starts a complete reference;
# no comments, no self-closing syntax, no script or style (whose text
# html.parser reads verbatim). Anything else takes html.parser's path.
#: a tag (as written, "/" if an end tag, its name) or a run of text
_TOKEN = re.compile(r"(<(/?)([a-zA-Z][a-zA-Z0-9]*)(?:[\t\n\r\f ][^<>]*)?>)|([^<>]+)")
_BARE_AMP = re.compile(r"&(?![a-zA-Z][a-zA-Z0-9]*;|#[0-9]+;|#[xX][0-9a-fA-F]+;)")
_RAW_TEXT = re.compile(r"<(?:script|style)\b", re.IGNORECASE)


def _fast_tree(content: str) -> _Node | None:
    """The tree ``_Builder`` would build, or None when ``content`` is not in
    the regular form above.

    Text between tags becomes one node per line, entity references included
    (html.parser reports them as nodes of their own): blocks, their text and
    the serialization come out the same.
    """
    if _RAW_TEXT.search(content) or _BARE_AMP.search(content):
        return None
    root = _Node("#root", "")
    current = root
    tags = 0
    # findall, not finditer: no match objects. Text runs hold no "<" or ">"
    # and each tag exactly one of each, so the tokens cover the whole content
    # (no "<" or ">" outside a regular tag) exactly when both counts are the
    # number of tags (checked at the end).
    for raw, end, name, text in _TOKEN.findall(content):
        if text:
            for line in text.splitlines(keepends=True):
                node = _Node(None, line, current)
                current.children.append(node)
            continue
        tags += 1
        if end:
            tag = name.lower()
            found: _Node | None = current
            while found is not None and found.tag != tag:
                found = found.parent
            if found is not None and found is not root:
                found.end = f"</{tag}>"
                current = found.parent or root
        else:
            if raw.endswith("/>"):
                return None  # html.parser reports these apart (startendtag)
            tag = name.lower()
            node = _Node(tag, raw, current)
            current.children.append(node)
            if tag not in _VOID:
                current = node
    if content.count("<") != tags or content.count(">") != tags:
        return None  # a "<" or ">" outside a regular tag
    return root


def _serialize(node: _Node) -> str:
    if node.removed:
        return ""
    if node.tag is None:
        return node.raw
    inner = "".join(_serialize(child) for child in node.children)
    if node.tag == "#root":
        return inner
    if node.tag in _VOID:
        return node.raw
    return f"{node.raw}{inner}{node.end or f'</{node.tag}>'}"


def _has_block(node: _Node) -> bool:
    return any(
        child.tag in _BLOCK_TAGS or _has_block(child)
        for child in node.children
        if child.tag is not None
    )


def _blocks(node: _Node) -> list[list[_Node]]:
    """Leaf blocks in document order; loose text is cut into lines."""
    blocks: list[list[_Node]] = []
    run: list[_Node] = []

    def flush() -> None:
        if run:
            blocks.append(list(run))
            run.clear()

    for child in node.children:
        if child.tag is not None and (child.tag in _BLOCK_TAGS or _has_block(child)):
            flush()
            if _has_block(child):
                blocks.extend(_blocks(child))
            else:
                blocks.append([child])
        else:
            run.append(child)
            if child.tag == "br" or (child.tag is None and child.raw.endswith("\n")):
                flush()
    flush()
    return blocks


def _block_text(block: Sequence[_Node]) -> str:
    return " ".join("".join([node.text() for node in block]).split())


def _is_heading(block: Sequence[_Node]) -> bool:
    return len(block) == 1 and block[0].tag in _HEADINGS


def _following(node: _Node) -> Iterable[_Node]:
    """Every node after ``node`` in document order, outside its subtree."""
    while node.parent is not None:
        siblings = node.parent.children
        yield from siblings[siblings.index(node) + 1 :]
        node = node.parent


def _prune(node: _Node) -> None:
    """Remove elements left without text or media by the removals."""
    for child in node.children:
        if child.tag is not None and not child.removed:
            _prune(child)
    if node.tag in _BLOCK_TAGS and not node.text().strip() and not _has_media(node):
        had_children = any(child.removed for child in node.children)
        if had_children:
            node.removed = True


def _has_media(node: _Node) -> bool:
    return any(
        not child.removed and (child.tag in _MEDIA or _has_media(child))
        for child in node.children
        if child.tag is not None
    )


def clean_html(content: str, rules: Sequence[_Rule]) -> tuple[str, tuple[str, ...]]:
    """Remove the blocks ``rules`` match from ``content``.

    Args:
        content: sanitized HTML, or plain text (each line is a block).
        rules: from ``compile_rules``.

    Returns:
        The cleaned content (``content`` itself when no rule matched, or when
        the document nests too deeply to walk) and the bio blocks' texts, in
        order.
    """
    if not rules or not content.strip():
        return content, ()
    try:
        return _clean_html(content, rules)
    except RecursionError:
        # hostile nesting (hundreds of levels): publish it uncleaned rather
        # than fail the whole source; it is already sanitized
        return content, ()


def _clean_html(content: str, rules: Sequence[_Rule]) -> tuple[str, tuple[str, ...]]:
    root = _fast_tree(content)
    if root is None:
        builder = _Builder()
        builder.feed(content)
        builder.close()
        root = builder.root
    blocks = _blocks(root)
    either = _any_rule(tuple(rules))
    bio: list[str] = []
    changed = False
    in_bio = False
    for block in blocks:
        if any(node.removed for node in block):
            continue
        text = _block_text(block)
        if not text:
            if in_bio:
                for node in block:
                    node.removed = True
            continue
        rule = None
        if either is None or either.fullmatch(text) is not None:
            rule = next((r for r in rules if r.pattern.fullmatch(text)), None)
        if rule is None:
            if in_bio and _is_heading(block):
                in_bio = False
            elif in_bio:
                bio.append(text)
                for node in block:
                    node.removed = True
            continue
        changed = True
        in_bio = rule.action is CleanAction.BIO
        for node in block:
            node.removed = True
        if rule.action is CleanAction.CUT:
            for node in _following(block[-1]):
                node.removed = True
            break
    if not changed:
        return content, ()
    _prune(root)
    cleaned = _serialize(root).strip()
    return cleaned, tuple(bio)


#: what may make alternatives of one pattern behave differently: numbered
#: backreferences (their numbers shift) and conditionals on a group
_NUMBERED = re.compile(r"\\[1-9]|\(\?\(")


@functools.lru_cache(maxsize=16)
def _any_rule(rules: tuple[_Rule, ...]) -> re.Pattern[str] | None:
    """One pattern that fully matches a text when any rule's pattern does.

    A block that no rule matches (nearly all of them) then costs one match
    instead of one per rule. None when the rules cannot be joined safely.
    """
    if not rules or any(_NUMBERED.search(r.pattern.pattern) for r in rules):
        return None
    flags = {r.pattern.flags for r in rules}
    if len(flags) != 1:
        return None
    joined = "|".join(f"(?:{r.pattern.pattern})" for r in rules)
    try:
        return re.compile(joined, flags.pop())
    except re.error:
        return None  # e.g. a name given to groups of two rules


def _with_bio(authors: tuple[Author, ...], bio: Sequence[str]) -> tuple[Author, ...]:
    """Attach the bio to the author it names (else the first, else a new one)."""
    if not bio:
        return authors
    lines = list(bio)
    name: str | None = None
    # Vocal and Medium put the author's name on its own line before the bio
    first = lines[0]
    if len(lines) > 1 and len(first.split()) <= 6 and not first.endswith("."):
        name = first
        lines = lines[1:]
    text = " ".join(lines)
    if not authors:
        return (Author(name=name, bio=text),)
    wanted = (name or "").casefold()
    index = next(
        (i for i, a in enumerate(authors) if a.name and a.name.casefold() == wanted),
        0,
    )
    patched = list(authors)
    if not patched[index].bio:
        patched[index] = replace(patched[index], bio=text)
    return tuple(patched)


def clean_entry(entry: EntryData, rules: Sequence[_Rule]) -> EntryData:
    """Return ``entry`` with boilerplate removed from its content and summary.

    An author bio found by a ``bio`` rule moves to the matching author's
    ``bio`` (bio is author metadata, not content).

    Args:
        entry: a normalized entry.
        rules: from ``compile_rules``.

    Returns:
        The cleaned entry; ``entry`` itself when nothing matched.
    """
    content, summary = entry.content, entry.summary
    bio: tuple[str, ...] = ()
    if content:
        content, bio = clean_html(content, rules)
    if summary:
        summary, summary_bio = clean_html(summary, rules)
        bio = bio or summary_bio
    if content == entry.content and summary == entry.summary:
        return entry
    return replace(
        entry,
        content=content or None,
        summary=summary or None,
        authors=_with_bio(entry.authors, bio),
    )
