"""Values exchanged between feedhub's pipeline stages; stdlib only, no logic.

Flow: ``FetchRequest`` -> fetch -> ``FetchResult`` -> parse -> ``ParsedFeed`` ->
normalize -> ``FeedData`` (with ``EntryData``) -> dedupe/curate ->
storage -> ``StoredEntry`` -> curate selection -> publish -> Atom bytes.

Every datetime after ``normalize`` is timezone-aware UTC.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# --------------------------------------------------------------------------
# Configuration (built and validated by config.py)
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerConfig:
    #: interface to bind
    host: str = "127.0.0.1"
    #: TCP port; 0 picks a free one (tests)
    port: int = 8080
    #: absolute URL the server is reachable at, ending in "/"; used for rel="self"
    base_url: str = "http://127.0.0.1:8080/"


@dataclass(frozen=True, slots=True)
class PollingConfig:
    #: default seconds between polls of one source
    interval: float = 1800.0
    #: lower bound for any computed interval, seconds
    min_interval: float = 300.0
    #: upper bound for any computed interval, seconds
    max_interval: float = 86400.0
    #: total deadline of one fetch, seconds
    timeout: float = 30.0
    #: body cap in bytes, counted after decompression
    max_body_size: int = 16 * 1024 * 1024
    #: most redirects followed by one fetch
    max_redirects: int = 5
    #: concurrent fetches overall
    concurrency: int = 32
    #: concurrent fetches to one host
    per_host_concurrency: int = 2
    #: False (refuse), True (allow all) or exceptions: "host", "host:port", CIDR
    allow_private_networks: bool | tuple[str, ...] = False
    #: User-Agent header; None means feedhub's default
    user_agent: str | None = None
    #: worker processes for parsing; 0 means one per core, 1 means serial
    workers: int = 0


@dataclass(frozen=True, slots=True)
class PublishConfig:
    #: entries per published feed
    entries_per_feed: int = 50


@dataclass(frozen=True, slots=True)
class Match:
    """A topic rule: words or phrases matched whole-word, case-insensitive."""

    #: entry matches when any of these words/phrases occurs
    any: tuple[str, ...] = ()
    #: entry matches only when all of these occur (combined with ``any``)
    all: tuple[str, ...] = ()
    #: entry never matches when any of these occurs
    none: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicConfig:
    #: URL-safe slug: [a-z0-9][a-z0-9-]*
    slug: str
    #: human title of the topic feed
    title: str
    #: rule selecting entries from any source; None selects by source only
    match: Match | None = None
    #: one-line description
    description: str | None = None


@dataclass(frozen=True, slots=True)
class SourceConfig:
    #: feed URL as configured (http or https)
    url: str
    #: display name; None means the feed's own title
    name: str | None = None
    #: topics every entry of this source joins
    topics: tuple[str, ...] = ()
    #: per-source poll interval override, seconds
    interval: float | None = None


@dataclass(frozen=True, slots=True)
class Config:
    #: absolute path of the config file this came from (None when built in code)
    path: str | None
    #: absolute path of the SQLite database file, or ":memory:"
    database: str
    server: ServerConfig = field(default_factory=ServerConfig)
    polling: PollingConfig = field(default_factory=PollingConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    sources: tuple[SourceConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()


# --------------------------------------------------------------------------
# Fetch
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchRequest:
    #: URL to GET
    url: str
    #: stored validators, sent back byte for byte
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    #: URL that was requested
    url: str
    #: URL the body came from, after redirects
    final_url: str
    #: HTTP status of the final response (200 or 304)
    status: int
    #: response headers, lower-cased names
    headers: Mapping[str, str] = field(default_factory=dict)
    #: decompressed body; empty for 304
    body: bytes = b""
    #: validators to store for the next conditional request
    etag: str | None = None
    last_modified: str | None = None
    #: target of a 301/308 chain (every hop permanent), else None
    permanent_redirect: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


# --------------------------------------------------------------------------
# Parse (format-specific extraction; values still raw)
# --------------------------------------------------------------------------


class ContentType(enum.StrEnum):
    TEXT = "text"
    HTML = "html"


@dataclass(frozen=True, slots=True)
class Author:
    name: str | None = None
    email: str | None = None
    uri: str | None = None


@dataclass(frozen=True, slots=True)
class Enclosure:
    url: str
    type: str | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedContent:
    value: str
    type: ContentType = ContentType.HTML
    #: xml:base or other base URL in effect for this value
    base: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    id: str | None = None
    link: str | None = None
    #: feedburner:origLink or similar origin link
    origin_link: str | None = None
    title: ParsedContent | None = None
    summary: ParsedContent | None = None
    content: tuple[ParsedContent, ...] = ()
    authors: tuple[Author, ...] = ()
    #: UTC-aware when known
    published: datetime | None = None
    updated: datetime | None = None
    categories: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()


class FeedFormat(enum.StrEnum):
    RSS = "rss"
    ATOM = "atom"
    JSON = "json"
    RDF = "rdf"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    #: URL the document came from (after redirects); base for relative URLs
    url: str
    format: FeedFormat = FeedFormat.UNKNOWN
    id: str | None = None
    title: str | None = None
    link: str | None = None
    subtitle: str | None = None
    updated: datetime | None = None
    authors: tuple[Author, ...] = ()
    icon: str | None = None
    language: str | None = None
    #: RSS <ttl>, minutes
    ttl: int | None = None
    entries: tuple[ParsedEntry, ...] = ()
    #: survivable parser complaint (feedparser bozo), logged as a warning
    warning: str | None = None


# --------------------------------------------------------------------------
# Normalize (clean, format-agnostic)
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryData:
    #: original id (atom:id, RSS guid, JSON Feed id), stripped; None if absent
    original_id: str | None
    #: absolute http(s) link to the article
    link: str | None
    #: plain text, whitespace collapsed; "" when the feed has none
    title: str
    #: sanitized HTML
    summary: str | None = None
    #: sanitized HTML, relative URLs made absolute
    content: str | None = None
    authors: tuple[Author, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    categories: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()
    #: origin link (feedburner:origLink) when the feed gives one
    origin_link: str | None = None


@dataclass(frozen=True, slots=True)
class FeedData:
    #: URL the feed was fetched from (after redirects)
    url: str
    title: str | None = None
    #: the site's HTML page
    link: str | None = None
    #: the feed's own id (atom:id); None when it has none
    id: str | None = None
    subtitle: str | None = None
    updated: datetime | None = None
    authors: tuple[Author, ...] = ()
    icon: str | None = None
    language: str | None = None
    ttl: int | None = None
    entries: tuple[EntryData, ...] = ()


# --------------------------------------------------------------------------
# Dedupe and curate
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryIdentity:
    #: sha256(source_id + "\n" + (guid or link)), hex
    key: str
    #: canonical form of the entry's link (tracking parameters removed)
    canonical_link: str | None
    #: sha256 over the normalized fields minus volatile ones, hex
    content_hash: str
    #: story this copy belongs to (same canonical link -> same story)
    story_id: str


@dataclass(frozen=True, slots=True)
class TopicMatch:
    #: topic slug
    topic: str
    #: why: "source" or "match: 'OpenAI', 'open-source model'"
    reason: str


@dataclass(frozen=True, slots=True)
class AuthorRef:
    #: URL slug of the normalized name, e.g. "ramsha-riaz"
    slug: str
    #: display name, e.g. "Ramsha Riaz"
    name: str


@dataclass(frozen=True, slots=True)
class EntryUpdate:
    """One entry ready to store: data + identity + curation."""

    data: EntryData
    identity: EntryIdentity
    topics: tuple[TopicMatch, ...] = ()
    authors: tuple[AuthorRef, ...] = ()


# --------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------


class PollStatus(enum.StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SourceState:
    #: stable id for the life of the source (not its URL)
    id: int
    #: URL as configured
    url: str
    #: URL to fetch now (differs after a stored permanent redirect)
    fetch_url: str
    name: str | None = None
    #: the feed's own metadata, from the last successful parse
    title: str | None = None
    link: str | None = None
    feed_id: str | None = None
    subtitle: str | None = None
    feed_updated: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_status: PollStatus | None = None
    last_http_status: int | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    next_check_at: datetime | None = None
    error_count: int = 0
    last_error: str | None = None
    entry_count: int = 0


@dataclass(frozen=True, slots=True)
class StoredEntry:
    key: str
    source_id: int
    data: EntryData
    canonical_link: str | None
    content_hash: str
    story_id: str
    #: when feedhub first stored this entry
    first_seen_at: datetime
    #: when feedhub last stored a change to it
    last_changed_at: datetime
    topics: tuple[str, ...] = ()
    authors: tuple[AuthorRef, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0


# --------------------------------------------------------------------------
# Pipeline results and publishing
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollResult:
    source_id: int
    url: str
    status: PollStatus
    counts: UpdateCounts = field(default_factory=UpdateCounts)
    #: short reason when status is ERROR
    error: str | None = None
    http_status: int | None = None


class FeedKind(enum.StrEnum):
    TOPIC = "topics"
    AUTHOR = "authors"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class FeedRef:
    kind: FeedKind
    #: topic slug, author slug, or "all"
    slug: str
    title: str
    #: path under base_url, e.g. "topics/ai.atom"
    path: str
    #: entries stored in it (one per story)
    entry_count: int = 0


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The source feed credited in atom:source (RFC 4287 4.2.11)."""

    #: the source feed's id (atom:id, else its URL)
    id: str
    title: str
    #: the source feed's own URL (rel="self")
    url: str
    #: the source site's page (rel="alternate")
    link: str | None = None
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class Related:
    """Another outlet carrying the same story."""

    link: str
    source_title: str


@dataclass(frozen=True, slots=True)
class PublishedEntry:
    #: atom:id to publish: the original id when it is an absolute IRI
    id: str
    title: str
    link: str | None
    summary: str | None
    content: str | None
    authors: tuple[Author, ...]
    #: atom:published (may be None)
    published: datetime | None
    #: atom:updated, never None
    updated: datetime
    categories: tuple[str, ...]
    enclosures: tuple[Enclosure, ...]
    source: SourceInfo
    related: tuple[Related, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedDocument:
    """Everything publish needs to render one feed."""

    #: atom:id of the published feed (its self URL)
    id: str
    title: str
    #: absolute URL the feed is served at (rel="self")
    self_url: str
    #: absolute URL of the HTML index (rel="alternate")
    home_url: str
    #: newest entry's updated, or a fixed time when empty
    updated: datetime
    entries: tuple[PublishedEntry, ...] = ()
    subtitle: str | None = None
