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
    #: worker processes for parsing; 0 means one per core but one (the main
    #: process fetches and writes), 1 means serial
    workers: int = 0
    #: minimum seconds between the starts of two requests to one host
    per_host_delay: float = 0.5
    #: longest Retry-After honoured, seconds; longer requests are cut to this
    retry_after_max: float = 86400.0
    #: what a Retry-After holds back: "source" (that feed) or "host" (every feed on it)
    retry_after_scope: str = "host"
    #: seconds of continuous failure after which a source is reported dead
    dead_after: float = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class PublishConfig:
    #: entries per published feed
    entries_per_feed: int = 50
    #: entries per RFC 5005 archive page; the subscription document holds the
    #: newest entries not yet archived (entries_per_feed up to one page more)
    archive_page_size: int = 50
    #: seconds an RFC 6721 at:deleted-entry stays in a feed after a retraction
    retraction_period: float = 30 * 86400.0
    #: WebSub hub URL; None publishes no rel="hub" and pings nobody
    hub: str | None = None
    #: directory `feedhub run` keeps up to date with every published file
    out_dir: str | None = None
    #: title of the HTML index and of the OPML
    site_title: str = "feedhub"
    #: entries of a new (or wholly re-keyed) source published as new; the
    #: rest of its backlog is stored but not published. None publishes all
    backlog_per_new_source: int | None = 10


#: fields a rule can look at; TEXT_FIELDS are searched for words and phrases
TEXT_FIELDS = ("title", "summary", "content", "categories", "author")
#: fields matched as a whole: source URL, link substring, link host, language tag
SOURCE_FIELDS = ("source", "link", "domain", "language")
#: where words are looked for when a rule names no field
DEFAULT_FIELDS = ("title", "summary", "content", "categories")


@dataclass(frozen=True, slots=True)
class Match:
    """A curation rule: every condition given must hold (an empty one always holds).

    Strings are words or phrases, matched whole-word, case-insensitive, accents
    folded, in ``fields``; a nested ``Match`` is a sub-rule, inheriting
    ``fields`` when it names none. Built by config, compiled by curate.
    """

    #: at least one item holds (when any are given)
    any: tuple[str | Match, ...] = ()
    #: every item holds
    all: tuple[str | Match, ...] = ()
    #: no item holds
    none: tuple[str | Match, ...] = ()
    #: regular expressions (Python syntax, case-insensitive, on the text as
    #: written); at least one must find a match in ``fields``
    regex: tuple[str, ...] = ()
    #: where strings and regexes are looked for: TEXT_FIELDS or one of
    #: SOURCE_FIELDS; () inherits, at the top meaning DEFAULT_FIELDS
    fields: tuple[str, ...] = ()
    #: the entry was dated at most this many seconds before feedhub first saw it
    max_age: float | None = None
    #: the config key it was read from (e.g. "topics.ai.match"), for explain
    key: str = field(default="", compare=False)


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
    #: configured source URLs the rule is limited to (each of their entries
    #: joins when there is no rule); () means every source
    include_sources: tuple[str, ...] = ()
    #: configured source URLs whose entries never join the topic
    exclude_sources: tuple[str, ...] = ()


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


class CleanAction(enum.StrEnum):
    """What a cleaning rule does with the block it matches."""

    #: remove the matching block only
    DROP = "drop"
    #: remove the matching block and everything after it
    CUT = "cut"
    #: the block heads an author bio: remove it and the blocks after it up to
    #: the next heading, keeping their text as the author's bio
    BIO = "bio"


@dataclass(frozen=True, slots=True)
class CleanRule:
    """A boilerplate rule: a pattern matched against a block's whole text."""

    #: unique name, shown by ``feedhub explain`` and used to disable it
    name: str
    #: regular expression matched (fullmatch, case-insensitive) against the
    #: block's text with whitespace collapsed
    pattern: str
    action: CleanAction = CleanAction.DROP


@dataclass(frozen=True, slots=True)
class DedupeConfig:
    """Thresholds and rules of the story grouping (the ``dedupe:`` section)."""

    #: group copies by content (MinHash/LSH) as well as by canonical link
    near_duplicates: bool = True
    #: copies published further apart than this (seconds) never merge by content
    window: float = 3 * 86400.0
    #: Jaccard similarity of word 3-shingles at or above which copies merge
    body_threshold: float = 0.5
    #: share of the shorter copy's shingles found in the longer one at or above
    #: which copies merge (trimmed or extended copies)
    containment_threshold: float = 0.8
    #: title similarity that, with containment >= ``title_containment``, merges
    title_threshold: float = 0.6
    #: containment needed alongside a similar title
    title_containment: float = 0.3
    #: shingles the shorter copy needs before its body is compared at all
    min_shingles: int = 15
    #: more query parameters to drop from links, on top of the built-in list
    tracking_params: tuple[str, ...] = ()
    #: map AMP variants (/amp, ?amp=1, AMP caches) to the canonical page
    amp: bool = True
    #: source URLs whose copy represents a story, the first listed wins
    prefer: tuple[str, ...] = ()
    #: boilerplate rules applied after the built-in ones
    clean_rules: tuple[CleanRule, ...] = ()
    #: built-in cleaning rules switched off, by name
    clean_disable: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthorConfig:
    """One person (or organisation) of the ``authors:`` section."""

    #: URL slug of the author's feed, e.g. "ramsha-riaz"
    slug: str
    #: display name
    name: str
    #: other spellings that are the same author
    aliases: tuple[str, ...] = ()
    #: an organisation byline ("Reuters", "Staff") rather than a person
    organisation: bool = False
    #: publish a feed for this author; feeds.yaml defaults it to False for
    #: organisations (``organisation: true``), True for people
    publish: bool = True


@dataclass(frozen=True, slots=True)
class ViewConfig:
    """A named view of ``feeds:``, published at /feeds/{slug}.atom."""

    slug: str
    title: str
    #: entries of any of these topics (empty: no topic condition)
    topics: tuple[str, ...] = ()
    #: entries by any of these author slugs
    authors: tuple[str, ...] = ()
    #: entries from any of these source URLs
    sources: tuple[str, ...] = ()
    #: an FTS5 search query the entries must match
    query: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A checked search query (``config.parse_query``)."""

    #: normalized spelling: equal for equivalent queries (a saved search's id)
    text: str
    #: the SQLite FTS5 MATCH expression; every word quoted
    fts: str


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """``retention:``: how long entries are kept; None keeps them forever."""

    #: seconds after which an entry is purged
    max_age: float | None = None
    #: newest entries kept per source
    max_entries_per_source: int | None = None


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
    dedupe: DedupeConfig = field(default_factory=DedupeConfig)
    #: global block rule applied before topics: a blocked entry is published
    #: nowhere (no topic, author or ``all`` feed); None blocks nothing
    block: Match | None = None
    authors: tuple[AuthorConfig, ...] = ()
    #: named views (``feeds:``)
    feeds: tuple[ViewConfig, ...] = ()
    retention: RetentionConfig = field(default_factory=RetentionConfig)


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
    #: short biography, moved out of the content by a cleaning rule
    bio: str | None = None


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
    #: sy:updatePeriod as written ("hourly", "daily", "weekly", "monthly", "yearly")
    update_period: str | None = None
    #: sy:updateFrequency: updates per update_period
    update_frequency: int | None = None
    #: RSS <skipHours>: hours (0-23, GMT) in which the feed need not be polled
    skip_hours: tuple[int, ...] = ()
    #: RSS <skipDays>: day names as written ("Saturday")
    skip_days: tuple[str, ...] = ()
    #: atom:rights / RSS <copyright>, plain text
    rights: str | None = None
    #: feed-level categories (atom:category term, RSS channel <category>)
    categories: tuple[str, ...] = ()


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
    #: seconds between updates the feed announces (sy:updatePeriod/Frequency)
    update_interval: float | None = None
    #: hours (0-23, UTC) in which the feed asks not to be polled, sorted
    skip_hours: tuple[int, ...] = ()
    #: weekdays (0 = Monday, UTC) on which the feed asks not to be polled, sorted
    skip_days: tuple[int, ...] = ()
    #: atom:rights / RSS <copyright>, plain text on one line
    rights: str | None = None
    #: feed-level categories, trimmed, deduplicated case-insensitively
    categories: tuple[str, ...] = ()


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
class TopicDecision:
    """Why an entry is in or out of one topic that has rules."""

    topic: str
    selected: bool
    #: one short line, e.g. "match: 'OpenAI' in title" or "excluded source"
    reason: str


@dataclass(frozen=True, slots=True)
class Curation:
    """The decision log of one entry: block rule, then each topic with rules."""

    #: why a block rule took the entry, e.g. "block[0]: 'sponsored' in title";
    #: None when it is not blocked
    blocked: str | None = None
    #: one per topic with a rule or source limits (none when blocked)
    decisions: tuple[TopicDecision, ...] = ()
    #: the source feed's language when the entry was stored (language rules)
    language: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorRef:
    #: URL slug of the normalized name, e.g. "ramsha-riaz"
    slug: str
    #: display name, e.g. "Ramsha Riaz"
    name: str


@dataclass(frozen=True, slots=True)
class AuthorSummary:
    """One published author, as the ``/authors/`` index lists them."""

    slug: str
    #: the name on their newest story
    name: str
    #: stories in their feed
    entry_count: int
    #: when their newest story was published (else first seen)
    newest: datetime
    #: display names of the sources they write for, most entries first
    sources: tuple[str, ...] = ()
    #: an organisation byline published on purpose (``authors:``)
    organisation: bool = False


@dataclass(frozen=True, slots=True)
class EntryUpdate:
    """One entry ready to store: data + identity + curation."""

    data: EntryData
    identity: EntryIdentity
    topics: tuple[TopicMatch, ...] = ()
    authors: tuple[AuthorRef, ...] = ()
    #: near-duplicate index keys; None leaves the entry out of the index
    fingerprint: Fingerprint | None = None
    #: why the entry belongs to ``identity.story_id``
    match: StoryMatch | None = None
    #: the key the feed's id gives the entry now, when the feed re-keyed it
    #: and ``identity.key`` is the key it was first stored under
    alias: str | None = None
    #: stored but not published as new (backlog of a new or re-keyed source)
    hidden: bool = False
    #: the curation decision log; None leaves the stored one as it is
    curation: Curation | None = None


class StoryRule(enum.StrEnum):
    """How an entry came to belong to its story."""

    #: the first copy: a story of its own
    FOUNDED = "founded"
    #: same canonical link (origin link, tracking parameters removed, AMP mapped)
    CANONICAL_LINK = "canonical-link"
    #: near-duplicate text (MinHash/LSH candidates, exact similarity)
    NEAR_DUPLICATE = "near-duplicate"
    #: similar title and overlapping text within the time window
    TITLE = "title"


@dataclass(frozen=True, slots=True)
class StoryMatch:
    """Why an entry belongs to its story (what ``feedhub explain`` prints)."""

    rule: StoryRule
    #: the similarity that decided, 0..1, when a score decided
    score: float | None = None
    #: key of the stored copy it was matched with
    matched_key: str | None = None
    #: one line, e.g. "jaccard 0.91, containment 0.97, title 0.62, 3h apart"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """An entry's keys in the near-duplicate index."""

    #: LSH bucket ids (body bands, lead bands, title), signed 64-bit
    buckets: tuple[int, ...] = ()
    #: the body's word-shingle hashes, packed unsigned 64-bit (``array("Q")``
    #: bytes), computed with the buckets in the parse worker so the writer
    #: scores near-duplicates without shingling again; b"" when not computed
    shingles: bytes = field(default=b"", compare=False, repr=False)
    #: how many of the leading ``buckets`` are text (body and lead) bands, the
    #: rest being title buckets; None: not told, every bucket counts as text
    text: int | None = field(default=None, compare=False, repr=False)


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
    #: poll bookkeeping kept by the scheduler (see SourceHealth)
    health: SourceHealth = field(default_factory=lambda: SourceHealth())
    #: the feed's own authors, rights and categories, from the last successful
    #: parse; credited in atom:source (RFC 4287 4.2.11)
    feed_authors: tuple[Author, ...] = ()
    feed_rights: str | None = None
    feed_categories: tuple[str, ...] = ()


class SourceEventKind(enum.StrEnum):
    #: a permanent redirect was confirmed and the new URL is polled from now on
    MOVED = "moved"
    #: 410 Gone: the source is retired and no longer requested
    GONE = "gone"
    #: failing continuously for longer than ``polling.dead_after``
    DEAD = "dead"
    #: a dead source answered again
    REVIVED = "revived"


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """Something an operator should know happened to a source."""

    kind: SourceEventKind
    at: datetime
    #: one line, e.g. "moved from https://a/feed to https://b/feed"
    detail: str = ""
    source_id: int = 0


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """Per-source poll bookkeeping beyond the basic state; replaced as a whole."""

    #: sha256 of the last body stored (salted with feedhub's version)
    body_hash: str | None = None
    #: not requested before this time (Retry-After, scope "source")
    retry_after_until: datetime | None = None
    #: start of the current run of consecutive failures
    failing_since: datetime | None = None
    #: when the source was found dead (failing longer than dead_after)
    dead_since: datetime | None = None
    #: when a 410 retired the source; it is never requested again
    gone_at: datetime | None = None
    #: target of the permanent redirect seen on the last polls, not yet stored
    redirect_to: str | None = None
    #: consecutive polls that confirmed ``redirect_to``
    redirect_count: int = 0
    #: the feed's own interval hint in seconds (largest of ttl and sy:*)
    feed_interval: float | None = None
    #: hours (0-23 UTC) and weekdays (0 = Monday) the feed asks us to skip
    skip_hours: tuple[int, ...] = ()
    skip_days: tuple[int, ...] = ()
    #: events to record with this update (not read back into SourceState)
    events: tuple[SourceEvent, ...] = ()


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
    #: atom:id the entry's story is published under, pinned when the story was
    #: first stored; set on representatives returned by feed queries
    published_id: str | None = None


#: a story as feeds list it: its representative copy, then its other copies
#: (oldest first)
Story = tuple[StoredEntry, tuple[StoredEntry, ...]]


@dataclass(frozen=True, slots=True)
class UpdateCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    #: new entries that joined a story another copy had founded (dedupe merges)
    merged: int = 0


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
    #: a named view of ``feeds:`` (``/feeds/{slug}.atom``)
    VIEW = "feeds"


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
    #: the newest entry's title and link, for the HTML index
    newest_title: str | None = None
    newest_link: str | None = None
    #: the feed's one-line description (topics)
    description: str | None = None


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
    #: the source feed's authors, rights and categories (RFC 4287 4.2.11 asks
    #: for them when the entry lacks its own)
    authors: tuple[Author, ...] = ()
    rights: str | None = None
    categories: tuple[str, ...] = ()


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
    #: further feed-level links: twins (alternate), hub, RFC 5005 archive links
    links: tuple[DocLink, ...] = ()
    #: RFC 5005 section 2 fh:complete: the document holds the whole history
    complete: bool = False
    #: RFC 5005 section 4 fh:archive: this is an immutable archive page
    archive: bool = False
    #: RFC 6721 retractions carried by the document
    deleted: tuple[DeletedEntry, ...] = ()
    #: minutes a reader may cache the document (RSS <ttl>)
    ttl: int | None = None


@dataclass(frozen=True, slots=True)
class DocLink:
    """A feed-level link: rel, absolute href, media type, title."""

    rel: str
    href: str
    type: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class DeletedEntry:
    """An entry retracted from a feed (RFC 6721 at:deleted-entry)."""

    #: the atom:id the entry was published with
    ref: str
    #: when feedhub retracted it
    when: datetime
    #: why, in one line, e.g. "merged into tag:example.org,2026:42"
    comment: str | None = None
    #: the entry's link, when it had one
    link: str | None = None
