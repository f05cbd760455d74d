"""Decide who wrote an entry: one identity per person across sources, no org feeds.

Pure: stdlib only, no I/O, no clock reads. A raw byline ("By RAMSHA RIAZ
(Staff Writer)", "ramsha@example.org (Ramsha Riaz)", "Jane Doe and John Roe",
"Ramsha Riaz, Reuters") becomes zero or more ``AuthorRef``; organisation
bylines ("Staff", "Reuters", the site's own name) are recognised and left out
unless the ``authors:`` section publishes them. The words that make a byline
an organisation or a role are data (the tables below), not code branches.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from feedhub.types import Author, AuthorConfig, AuthorRef, EntryData

__all__ = [
    "BUILTIN_ORGANISATIONS",
    "ORGANISATION_FIRST_WORDS",
    "ORGANISATION_LAST_WORDS",
    "RESERVED_SLUGS",
    "ROLE_WORDS",
    "VERSION",
    "AuthorRules",
    "Byline",
    "author_key",
    "author_refs",
    "author_slug",
    "compile_authors",
    "is_organisation",
    "normalize_author_name",
    "read_byline",
    "site_names",
]

#: bump when the rules below change what a stored byline files under; the
#: pipeline then re-files every stored entry once
VERSION = "2"

# --------------------------------------------------------------------------
# Data: which bylines are organisations or roles
# --------------------------------------------------------------------------

#: bylines that name no person, compared by ``author_key`` (lower case,
#: accents folded, punctuation as spaces). Newsroom functions, wire agencies
#: (a syndicated story's byline often names only the agency) and CMS defaults.
BUILTIN_ORGANISATIONS: frozenset[str] = frozenset(
    {
        # newsroom functions and CMS defaults
        "staff", "staff writer", "staff writers", "staff reporter", "admin",
        "administrator", "webmaster", "site admin", "editor", "editors",
        "editorial", "editorial team", "editorial staff", "editorial board",
        "editorial desk", "newsroom", "news desk", "newsdesk", "news team",
        "news staff", "news service", "web desk", "web team", "web editor",
        "digital team", "digital desk", "online team", "team", "guest",
        "guest author", "guest post", "guest contributor", "guest writer",
        "contributor", "contributors", "anonymous", "unknown", "author",
        "press release", "press office", "press team", "communications",
        "marketing", "sponsored", "sponsored content", "partner content",
        "wire", "wires", "wire service", "wire services", "news wire",
        "news wires", "agencies", "news agencies", "agency", "our reporter",
        "our correspondent", "correspondent", "reporter",
        # wire services and broadcasters whose name is often the whole byline
        "reuters", "thomson reuters", "associated press", "ap", "afp",
        "agence france presse", "bloomberg", "bloomberg news", "upi",
        "united press international", "dpa", "deutsche presse agentur", "efe",
        "ansa", "kyodo", "kyodo news", "xinhua", "tass", "ria novosti",
        "yonhap", "pti", "press trust of india", "ani", "ians", "pa", "pa media",
        "press association", "canadian press", "aap",
        "australian associated press", "anp", "belga", "apa", "ctk", "pap",
        "bbc", "cnn", "npr", "pbs", "cbc", "abc", "nbc", "cbs", "sky news",
    }
)  # fmt: skip

#: a byline whose first word is one of these names an organisation
#: ("The Verge", "The Editors"): no person's name starts with an article
ORGANISATION_FIRST_WORDS: frozenset[str] = frozenset({"the"})

#: a byline whose last word is one of these names an organisation ("The Verge
#: Staff", "Ars Technica Team", "BBC News", "Acme Inc"); chosen to be words
#: that are (practically) never a person's surname
ORGANISATION_LAST_WORDS: frozenset[str] = frozenset(
    {
        "staff", "team", "desk", "newsroom", "editors", "editorial", "reporters",
        "correspondents", "wire", "wires", "agencies", "news", "bureau",
        "press", "media", "magazine", "blog", "podcast", "newsletter",
        "foundation", "institute", "university", "association", "society",
        "council", "committee", "network", "labs", "studio", "studios",
        "inc", "ltd", "llc", "gmbh", "corp", "corporation", "plc",
    }
)  # fmt: skip

#: words of a job title; a byline part made only of these is a role, not a
#: name ("Jane Doe, Senior Staff Writer")
ROLE_WORDS: frozenset[str] = frozenset(
    {
        "staff", "writer", "writers", "editor", "editors", "senior", "junior",
        "chief", "managing", "deputy", "associate", "assistant", "executive",
        "contributing", "contributor", "correspondent", "reporter", "reporters",
        "columnist", "guest", "freelance", "freelancer", "special", "political",
        "foreign", "science", "tech", "technology", "business", "sports",
        "health", "culture", "features", "opinion", "intern", "producer",
        "analyst", "author", "host", "photographer", "critic", "investigative",
        "national", "international", "local", "news", "data", "video", "audio",
        "digital", "web", "online", "social", "media", "global", "economics",
        "finance", "markets", "politics", "world", "us", "uk", "eu", "europe",
        "asia", "africa", "america", "climate", "environment", "education",
        "legal", "white", "house", "washington", "bureau", "desk", "of", "and",
        "at", "large", "lead", "head", "director", "manager", "founder",
        "cofounder", "co", "ceo", "cto", "president", "fellow", "researcher",
        "scientist", "engineer", "developer", "advocate", "team", "member",
    }
)  # fmt: skip

#: slugs an author feed cannot have: ``/authors/index.html`` is the index page
RESERVED_SLUGS = frozenset({"index"})
#: name suffixes that belong to the name before them ("Martin Luther King, Jr.")
_GENERATION = frozenset({"jr", "sr", "ii", "iii", "iv"})
#: degrees and honours dropped after a comma ("Jane Doe, PhD")
_HONOURS = frozenset({"phd", "md", "mba", "msc", "ma", "ba", "bsc", "esq", "rn"})
#: host labels that say nothing about the site ("www", "feeds")
_GENERIC_LABELS = frozenset(
    {"www", "feeds", "feed", "rss", "blog", "blogs", "news", "m", "api", "co",
     "com", "org", "net", "ac", "gov", "edu"}
)  # fmt: skip

# --------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------

_EMAIL = re.compile(r"[^\s@<>()]+@[^\s@<>()]+")
# RSS 2.0 <author> is "email (Name)"; RFC 5322 §3.4 name-addr is "Name <email>"
_EMAIL_PAREN = re.compile(
    r"^\s*(?P<email>[^\s@<>()]+@[^\s@<>()]+)\s*\((?P<name>.*)\)\s*$"
)
_NAME_ANGLE = re.compile(r"^(?P<name>.*?)\s*<(?P<email>[^<>]*)>\s*$")
_BY = re.compile(
    r"^(?:(?:written|posted|words|story|text|reporting|additional\s+reporting"
    r"|published|report)\s+)?by\b\s*:?\s*",
    re.IGNORECASE,
)
_ROLE = re.compile(r"\s*\([^()]*\)[\s.,;:]*$")
# Separators between authors or between an author and an affiliation. Strong
# ones always split; list ones split only when every part reads as a name.
_STRONG = re.compile(r"\s*(?:;|\s\|\s|\s[-–—]\s|\s/\s)\s*")
_FOR = re.compile(r"\s+for\s+", re.IGNORECASE)
_LIST = re.compile(r"\s*,\s*(?:and\s+|&\s*)?|\s+(?:and|&)\s+|\s+with\s+", re.I)
_WORDS = re.compile(r"[^\W_]+")
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


def _fold(text: str) -> str:
    """Casefold, then drop accents: NFKD minus combining marks."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return decomposed.translate(_combining_marks())


@functools.cache
def _combining_marks() -> dict[int, None]:
    """A str.translate table deleting every combining mark (built once)."""
    return {
        cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))
    }


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


def _unwrap(text: str) -> tuple[str, str | None]:
    """Split an "email (Name)" or "Name <email>" wrapper into (name, email)."""
    if m := _EMAIL_PAREN.match(text):
        return m["name"], m["email"]
    if m := _NAME_ANGLE.match(text):
        email = m["email"].strip()
        return m["name"], email if _EMAIL.fullmatch(email) else None
    return text, None


def _clean(text: str) -> str:
    """Collapse whitespace; drop a "By " prefix, trailing roles and end punctuation."""
    text = " ".join(text.split())
    # roles go before punctuation is stripped, which would eat their "(" or ")"
    text = _BY.sub("", _strip_punctuation(_strip_roles(text), trailing=False))
    return _strip_punctuation(_strip_roles(text))


def normalize_author_name(name: str) -> str | None:
    """Return the display form of a feed's author string, or None if it has none.

    Removes an "email (Name)" or "Name <email>" wrapper, a leading "By ", a
    trailing parenthesised role ("(Staff Writer)") and surrounding punctuation;
    collapses whitespace; title-cases an ALL-CAPS or all-lowercase name. It
    does not split several authors apart: see ``read_byline``.

    Args:
        name: the raw author string.

    Returns:
        e.g. "Ramsha Riaz"; None when nothing is left or only an email address.
    """
    text = _clean(_unwrap(" ".join(name.split()))[0])
    if not text or _EMAIL.fullmatch(text):
        return None
    return _fix_case(text)


_normalized = functools.lru_cache(maxsize=1 << 16)(normalize_author_name)


def author_key(name: str) -> str:
    """Return the comparison key of a name: lower case, accents folded, words
    joined by single spaces ("José  NÚÑEZ." -> "jose nunez")."""
    return " ".join(_WORDS.findall(_fold(name).translate(_TRANSLITERATE)))


def author_slug(name: str) -> str:
    """Return a URL slug for an author name: ``[a-z0-9]+`` runs joined by "-".

    Accents are folded ("José Núñez" -> "jose-nunez"). A name with letters
    but none that fold to ASCII (e.g. "李明") gets "author-" plus a hash of the
    name, so such authors do not all share one feed; a name with no letters or
    digits at all gets "unknown".

    Args:
        name: a display name, ideally from ``normalize_author_name``.

    Returns:
        A non-empty slug, safe in a URL path segment (RFC 3986 unreserved),
        never one of ``RESERVED_SLUGS``.
    """
    folded = _fold(name).translate(_TRANSLITERATE)
    slug = _NON_SLUG.sub("-", folded).strip("-")
    if slug in RESERVED_SLUGS:
        return f"{slug}-author"
    if slug:
        return slug
    key = " ".join(folded.split())
    if any(c.isalnum() for c in key):
        return "author-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return "unknown"


# --------------------------------------------------------------------------
# Organisations and sites
# --------------------------------------------------------------------------


def site_names(*names: str | None, urls: Iterable[str | None] = ()) -> frozenset[str]:
    """Return the keys under which a source names itself, for ``is_organisation``.

    Args:
        names: the feed's title, the configured source name.
        urls: the site's and the feed's URLs; each host's registrable label
            counts ("https://www.theverge.com/rss" -> "theverge").
    """
    keys = {author_key(name) for name in names if name}
    for url in urls:
        host = (url or "").partition("://")[2].split("/", 1)[0].rsplit("@", 1)[-1]
        host = host.split(":", 1)[0].lower() if "[" not in host else ""
        if host.replace(".", "").isdigit():
            continue  # an IP address names no site
        labels = [
            label
            for label in host.split(".")[:-1]
            if label and label not in _GENERIC_LABELS
        ]
        if labels:
            keys.add(labels[-1])
    keys.discard("")
    return frozenset(keys)


def is_organisation(name: str, site: Iterable[str] = ()) -> bool:
    """Whether a byline names an organisation rather than a person.

    True for the built-in list (``BUILTIN_ORGANISATIONS``), a first word in
    ``ORGANISATION_FIRST_WORDS`` or a last word in ``ORGANISATION_LAST_WORDS``,
    a byline made only of ``ROLE_WORDS`` ("Staff Writer"), and a one-word
    byline that is the source's own name (see ``site_names``: "TechCrunch" on
    techcrunch.com). A site name of several words is not enough: personal
    blogs are often titled with their author's name.

    Args:
        name: a byline, ideally one name from ``read_byline``.
        site: keys from ``site_names``.
    """
    key = author_key(name)
    if not key:
        return False
    if key in BUILTIN_ORGANISATIONS:
        return True
    words = key.split()
    if words[0] in ORGANISATION_FIRST_WORDS or words[-1] in ORGANISATION_LAST_WORDS:
        return True
    if all(word in ROLE_WORDS for word in words):
        return True
    # "TechCrunch" on the site titled "Tech Crunch": compare without spaces
    return len(words) == 1 and any(key == s.replace(" ", "") for s in site)


@dataclass(frozen=True, slots=True)
class Byline:
    """One name read from a byline."""

    #: display form, e.g. "Ramsha Riaz"
    name: str
    #: an organisation byline (see ``is_organisation``)
    organisation: bool = False


def _is_role(part: str) -> bool:
    words = author_key(part).split()
    return bool(words) and all(word in ROLE_WORDS for word in words)


def _words(part: str) -> int:
    return len(author_key(part).split())


def _split_list(chunk: str, site: frozenset[str]) -> list[tuple[str, bool]]:
    """Split "A, B & C" into ``(name, affiliation)`` pairs when the parts read
    as names; a one-word part after a full name is where they write ("Jane
    Doe, Vox"), not a person."""
    parts = [p for p in (_strip_punctuation(x) for x in _LIST.split(chunk)) if p]
    kept: list[str] = []
    for part in parts:
        key = author_key(part)
        if key in _GENERATION and kept:
            kept[-1] = f"{kept[-1]} {part}"
        elif key in _HONOURS or (kept and _is_role(part)):
            continue  # "Jane Doe, PhD", "Jane Doe, Senior Writer"
        else:
            kept.append(part)
    if len(kept) <= 1:
        return [(part, False) for part in kept]
    if _words(kept[0]) >= 2:
        return [(p, i > 0 and _words(p) == 1) for i, p in enumerate(kept)]
    if len(kept) == 2 and _words(kept[1]) == 1 and "," in chunk:
        return [(f"{kept[1]} {kept[0]}", False)]  # "Doe, Jane": catalogue form
    if all(_words(p) >= 2 or is_organisation(p, site) for p in kept):
        return [(part, False) for part in kept]  # "Reuters and AP"
    return [(chunk, False)]  # "Jane and John Doe", "Ernst & Young": one byline


def read_byline(raw: str, site: Iterable[str] = ()) -> tuple[Byline, ...]:
    """Read every name out of one author string, marking organisations.

    Handles "By ", "email (Name)", "Name <email>", trailing roles, "Jane Doe,
    Staff Writer", "Jane Doe | Reuters", "Jane Doe for The Guardian" and
    "Jane Doe, Vox" (what follows "for", or a one-word part after a full name,
    is an outlet: an organisation), "Jane Doe and John Roe", "A, B & C" and
    "Doe, Jane". Parts that would each be a single word ("Jane and John Doe")
    are kept together as one name.

    Args:
        raw: the author string as the feed gave it.
        site: keys from ``site_names``.

    Returns:
        The names in byline order, without repeats.
    """
    return _read_byline(raw, frozenset(site))


# Bylines repeat across a source's entries (re-filing 100k entries reads a
# few thousand distinct ones): memoize, bounded.
@functools.lru_cache(maxsize=1 << 16)
def _read_byline(raw: str, sites: frozenset[str]) -> tuple[Byline, ...]:
    text = _clean(_unwrap(" ".join(raw.split()))[0])
    if not text or _EMAIL.fullmatch(text):
        return ()
    names: list[Byline] = []
    if author_key(text) in BUILTIN_ORGANISATIONS:
        chunks = [(text, True)]  # "Agence France-Presse" stays whole
    else:
        chunks = []
        for strong in _STRONG.split(text):
            person, *affiliations = _FOR.split(strong)
            chunks.append((person, False))
            chunks += [(a, True) for a in affiliations]
    for chunk, affiliation in chunks:
        chunk = _clean(chunk)
        if not chunk:
            continue
        for part, outlet in _split_list(chunk, sites):
            name = _clean(part)
            if not name or _EMAIL.fullmatch(name):
                continue
            if names and _is_role(name):
                continue  # "Jane Doe - Senior Writer"
            organisation = affiliation or outlet or is_organisation(name, sites)
            names.append(Byline(_fix_case(name), organisation))
    seen: set[str] = set()
    unique = []
    for byline in names:
        if author_key(byline.name) not in seen:
            seen.add(author_key(byline.name))
            unique.append(byline)
    return tuple(unique)


# --------------------------------------------------------------------------
# Configured authors
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorRules:
    """The ``authors:`` section, compiled for lookups (see ``compile_authors``)."""

    #: ``author_key`` of each configured name and alias -> its author
    by_key: Mapping[str, AuthorConfig] = field(default_factory=dict)
    #: lower-cased email aliases -> their author
    by_email: Mapping[str, AuthorConfig] = field(default_factory=dict)


@functools.lru_cache(maxsize=8)
def compile_authors(configs: tuple[AuthorConfig, ...] = ()) -> AuthorRules:
    """Index the configured authors by the keys of their names and aliases.

    Aliases containing "@" match an author's email address. The config reader
    has already refused an alias claimed by two authors; should two still meet
    here (built in code), the first author listed keeps it. Cached: the poller
    asks once per source, with the same ``Config.authors`` tuple.
    """
    by_key: dict[str, AuthorConfig] = {}
    by_email: dict[str, AuthorConfig] = {}
    for config in configs:
        for alias in (config.name, config.slug.replace("-", " "), *config.aliases):
            if "@" in alias and _EMAIL.fullmatch(alias.strip()):
                by_email.setdefault(alias.strip().lower(), config)
                continue
            # the same key as the config reader's duplicate check
            key = author_key(alias)
            if key:
                by_key.setdefault(key, config)
    return AuthorRules(by_key=by_key, by_email=by_email)


def _emails(author: Author) -> list[str]:
    found = [author.email] if author.email else []
    if author.name:
        found += _EMAIL.findall(author.name)
    return [e.strip("<>()").lower() for e in found]


def _ref(config: AuthorConfig) -> AuthorRef | None:
    return AuthorRef(slug=config.slug, name=config.name) if config.publish else None


def _refs_of(
    author: Author, rules: AuthorRules, site: frozenset[str]
) -> list[AuthorRef | None]:
    """The published refs of one atom:author (None marks one left unpublished)."""
    for email in _emails(author):
        if email in rules.by_email:
            return [_ref(rules.by_email[email])]
    if not author.name:
        return []
    whole = _normalized(author.name)
    if whole is not None and author_key(whole) in rules.by_key:
        return [_ref(rules.by_key[author_key(whole)])]
    refs: list[AuthorRef | None] = []
    for byline in read_byline(author.name, site):
        config = rules.by_key.get(author_key(byline.name))
        if config is not None:
            refs.append(_ref(config))
        elif byline.organisation:
            refs.append(None)
        else:
            refs.append(AuthorRef(slug=author_slug(byline.name), name=byline.name))
    return refs


def author_refs(
    entry: EntryData,
    rules: AuthorRules | None = None,
    site: Iterable[str] = (),
) -> tuple[AuthorRef, ...]:
    """Return the author feeds an entry belongs to: one ``AuthorRef`` per slug.

    Each atom:author (or RSS author, dc:creator) may name several people;
    each person gets a ref, in byline order. Configured authors (``rules``)
    are matched by email, then by the whole byline, then by each name in it,
    and file under their configured slug and display name. Organisations and
    authors configured with ``publish: false`` get none. Authors without a
    usable name (none, or only an unconfigured email) are skipped.

    Args:
        entry: the entry.
        rules: from ``compile_authors``; None means no ``authors:`` section.
        site: keys from ``site_names`` for the entry's source.
    """
    compiled = rules if rules is not None else _NO_RULES
    sites = frozenset(site)
    refs: dict[str, AuthorRef] = {}
    for author in entry.authors:
        for ref in _refs_of(author, compiled, sites):
            if ref is not None:
                refs.setdefault(ref.slug, ref)
    return tuple(refs.values())


_NO_RULES = AuthorRules()
