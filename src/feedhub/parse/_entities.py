"""Defuse XML DOCTYPE declarations before a parser sees them; private to parse.

No business logic. feedparser keeps every "flat" internal entity it finds and its
loose parser expands them without a limit, so a 64 KB entity referenced a thousand
times turns a small document into a 64 MB string; expat's own amplification guard
only sends the document to that loose parser. Here the DOCTYPE is rebuilt from its
internal general entities only, after their total expansion has been bounded.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

#: largest expansion of any one entity, in characters
MAX_ENTITY_LENGTH = 64 * 1024
#: largest total expansion of all references in the document, in characters
MAX_TOTAL_EXPANSION = 1024 * 1024
#: deepest nesting of entity references inside entity values
MAX_DEPTH = 8

# XML 1.0 §4.6: these five are predefined and expand to one character.
_PREDEFINED = frozenset({"lt", "gt", "amp", "apos", "quot"})
# A simplified XML Name (XML 1.0 §2.3); non-ASCII name characters count too.
_NAME = r"[A-Za-z_:\u0080-\uffff][\w.:\-\u0080-\uffff]*"
_NAME_RE = re.compile(_NAME)
_REFERENCE_RE = re.compile(rf"&({_NAME});")
_CHAR_REF_RE = re.compile(r"&#(?:[0-9]+|x[0-9A-Fa-f]+);")
_NUMERIC_REF_RE = re.compile(r"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));")
# UTF-32 first: its little-endian BOM starts with UTF-16's.
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_WIDE_PREFIXES = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
_ROOT_RE = re.compile(r"<[A-Za-z_:]")
_SPACE_RE = re.compile(r"[ \t\r\n]*")
_QUOTED_RE = re.compile(r"\"[^\"]*\"|'[^']*'")


class EntityError(ValueError):
    """The DOCTYPE is malformed or its entities would expand too far."""


@dataclass(frozen=True, slots=True)
class _Doctype:
    #: offsets of the whole ``<!DOCTYPE …>`` declaration in the text
    start: int
    end: int
    #: the root element name it declares
    name: str
    #: internal general entities, name -> literal value, in declaration order
    entities: dict[str, str]


def defuse(body: bytes) -> bytes:
    """Return ``body`` with a safe DOCTYPE, or unchanged when it has none.

    The rebuilt DOCTYPE keeps the root name and the internal general entities,
    one per line (the layout feedparser's ``replace_doctype`` recognises). External
    DTD subsets, external and parameter entities, and every other declaration are
    dropped, so nothing is ever fetched.

    Args:
        body: the raw document.

    Returns:
        The document, re-encoded in its own encoding when it changed.

    Raises:
        EntityError: malformed DOCTYPE, reference cycle, nesting deeper than
            ``MAX_DEPTH``, or an expansion over the bounds.
    """
    codec, bom = _codec(body)
    try:
        text = body[len(bom) :].decode(codec)
    except UnicodeDecodeError:
        codec, bom = "latin-1", b""
        text = body.decode(codec)
    # Only the prolog may hold a DOCTYPE (XML 1.0 §2.8); the same characters in
    # a CDATA section further down are content.
    root = _ROOT_RE.search(text)
    start = text.find("<!DOCTYPE", 0, root.start() if root else len(text))
    if start < 0:
        return body
    doctype = _parse_doctype(text, start)
    lengths = _expanded_lengths(doctype.entities)
    counts = Counter(_REFERENCE_RE.findall(text, doctype.end))
    total = sum(lengths.get(name, 0) * count for name, count in counts.items())
    if total > MAX_TOTAL_EXPANSION:
        raise EntityError(
            f"entity expansion over {MAX_TOTAL_EXPANSION} characters ({total})"
        )
    decls = "".join(
        f'<!ENTITY {name} "{value}">\n' for name, value in doctype.entities.items()
    )
    subset = f" [\n{decls}]" if decls else ""
    replacement = f"<!DOCTYPE {doctype.name}{subset}>"
    new = text[: doctype.start] + replacement + text[doctype.end :]
    if new == text:
        return body
    return bom + new.encode(codec)


def drop_bad_char_refs(body: bytes) -> bytes:
    """Remove character references to code points that are no character.

    XML 1.0 §4.1 requires a reference to match Char; feedparser's loose parser
    builds ``&#xD800;`` (a surrogate) or ``&#x110000;`` with ``chr()`` and an
    encode that raise, so one such reference used to fail the whole feed.
    normalize drops surrogates anyway, so removing them loses nothing.

    Args:
        body: the raw document.

    Returns:
        The document, re-encoded in its own encoding when it changed.
    """
    codec, bom = _codec(body)
    try:
        text = body[len(bom) :].decode(codec)
    except UnicodeDecodeError:
        codec, bom = "latin-1", b""
        text = body.decode(codec)
    if "&#" not in text:
        return body
    new = _NUMERIC_REF_RE.sub(_valid_char_ref, text)
    return body if new == text else bom + new.encode(codec)


def _valid_char_ref(match: re.Match[str]) -> str:
    """The reference itself when it names a code point, else ""."""
    hex_digits, digits = match.groups()
    if len((hex_digits or digits).lstrip("0")) > 8:
        return ""  # far past U+10FFFF (and int() limits on long strings)
    code = int(hex_digits, 16) if hex_digits else int(digits)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return ""
    return match.group()


def _codec(body: bytes) -> tuple[str, bytes]:
    """Guess a codec good enough to find markup, and the BOM (XML 1.0 App. F)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, bom
    for prefix, codec in _WIDE_PREFIXES:
        if body.startswith(prefix):
            return codec, b""
    # Every ASCII-compatible encoding keeps markup bytes as they are, and latin-1
    # maps bytes 1:1 so the document round-trips unchanged.
    return "latin-1", b""


class _Scanner:
    """A cursor over the DOCTYPE declaration."""

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def skip_space(self) -> None:
        match = _SPACE_RE.match(self.text, self.pos)
        assert match is not None  # the pattern matches the empty string
        self.pos = match.end()

    def name(self) -> str:
        match = _NAME_RE.match(self.text, self.pos)
        if match is None:
            raise EntityError(f"malformed DOCTYPE: name expected at {self.pos}")
        self.pos = match.end()
        return match.group()

    def quoted(self) -> str:
        match = _QUOTED_RE.match(self.text, self.pos)
        if match is None:
            raise EntityError(
                f"malformed DOCTYPE: quoted string expected at {self.pos}"
            )
        self.pos = match.end()
        return match.group()[1:-1]

    def startswith(self, prefix: str | tuple[str, ...]) -> bool:
        return self.text.startswith(prefix, self.pos)

    def skip_past(self, terminator: str) -> None:
        end = self.text.find(terminator, self.pos)
        if end < 0:
            raise EntityError(f"malformed DOCTYPE: {terminator!r} missing")
        self.pos = end + len(terminator)

    def external_id(self) -> bool:
        """Skip ``SYSTEM "…"`` or ``PUBLIC "…" "…"``; True when there was one."""
        if self.startswith("SYSTEM"):
            self.pos += len("SYSTEM")
            self.skip_space()
            self.quoted()
            return True
        if self.startswith("PUBLIC"):
            self.pos += len("PUBLIC")
            self.skip_space()
            self.quoted()
            self.skip_space()
            # HTML's "<!DOCTYPE html PUBLIC "…">" omits the system literal.
            if self.startswith(('"', "'")):
                self.quoted()
            return True
        return False

    def declaration(self) -> None:
        """Skip one ``<!ELEMENT``/``<!ATTLIST``/``<!NOTATION`` declaration."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == ">":
                self.pos += 1
                return
            if char in "\"'":
                self.quoted()
            else:
                self.pos += 1
        raise EntityError("malformed DOCTYPE: declaration not closed")


def _parse_doctype(text: str, start: int) -> _Doctype:
    """Read ``<!DOCTYPE name ExternalID? [subset]? >`` (XML 1.0 §2.8)."""
    scan = _Scanner(text, start + len("<!DOCTYPE"))
    scan.skip_space()
    name = scan.name()
    scan.skip_space()
    scan.external_id()
    scan.skip_space()
    entities: dict[str, str] = {}
    if scan.startswith("["):
        scan.pos += 1
        _read_subset(scan, entities)
        scan.skip_space()
    if not scan.startswith(">"):
        raise EntityError(f"malformed DOCTYPE: '>' expected at {scan.pos}")
    return _Doctype(start=start, end=scan.pos + 1, name=name, entities=entities)


def _read_subset(scan: _Scanner, entities: dict[str, str]) -> None:
    """Collect internal general entities from the internal subset up to ``]``."""
    while True:
        scan.skip_space()
        if scan.pos >= len(scan.text):
            raise EntityError("malformed DOCTYPE: internal subset not closed")
        if scan.startswith("]"):
            scan.pos += 1
            return
        if scan.startswith("<!--"):
            scan.skip_past("-->")
        elif scan.startswith("<?"):
            scan.skip_past("?>")
        elif scan.startswith("<!ENTITY"):
            scan.pos += len("<!ENTITY")
            _read_entity(scan, entities)
        elif scan.startswith("<!"):
            scan.declaration()
        elif scan.startswith("%"):
            # A parameter-entity reference; parameter entities are never kept.
            scan.pos += 1
            scan.name()
            if not scan.startswith(";"):
                raise EntityError("malformed DOCTYPE: ';' expected")
            scan.pos += 1
        else:
            raise EntityError(f"malformed DOCTYPE: unexpected text at {scan.pos}")


def _read_entity(scan: _Scanner, entities: dict[str, str]) -> None:
    """Read one ``<!ENTITY`` declaration; keep it if internal and general."""
    scan.skip_space()
    parameter = scan.startswith("%")
    if parameter:
        scan.pos += 1
        scan.skip_space()
    name = scan.name()
    scan.skip_space()
    if scan.external_id():
        # External entities (and NDATA) are dropped: their references are left
        # undefined, which the parsers report instead of fetching anything.
        scan.declaration()
        return
    value = scan.quoted()
    scan.skip_space()
    if not scan.startswith(">"):
        raise EntityError(f"malformed DOCTYPE: '>' expected at {scan.pos}")
    scan.pos += 1
    # XML 1.0 §4.2: the first declaration of an entity is binding.
    if not parameter and name not in entities and '"' not in value:
        entities[name] = value


def _expanded_lengths(entities: dict[str, str]) -> dict[str, int]:
    """Length of each entity once fully expanded; nested references included."""
    lengths: dict[str, int] = {}
    depths: dict[str, int] = {}

    def expand(name: str, stack: tuple[str, ...]) -> int:
        if name in lengths:
            return lengths[name]
        if name in stack:
            raise EntityError(f"entity reference cycle: {' -> '.join(stack)}")
        value = _CHAR_REF_RE.sub("#", entities[name])
        length = len(_REFERENCE_RE.sub("", value))
        depth = 1
        for ref in _REFERENCE_RE.findall(value):
            if ref in _PREDEFINED or ref not in entities:
                length += 1
                continue
            length += expand(ref, (*stack, name))
            depth = max(depth, depths[ref] + 1)
            if depth > MAX_DEPTH:
                raise EntityError(f"entity nesting deeper than {MAX_DEPTH} ({name})")
            if length > MAX_ENTITY_LENGTH:
                break
        if length > MAX_ENTITY_LENGTH:
            raise EntityError(
                f"entity expansion over {MAX_ENTITY_LENGTH} characters "
                f"in one entity ({name})"
            )
        lengths[name] = length
        depths[name] = depth
        return length

    for entity in entities:
        expand(entity, ())
    return lengths
