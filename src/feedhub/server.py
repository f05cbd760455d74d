"""Serve the published feeds over HTTP, read-only, from a cache of ready responses.

Routes: ``/`` (HTML index), ``/authors/`` (HTML index of authors),
``/{stem}.{atom,rss,json,html}`` for ``all``,
``topics/{slug}``, ``feeds/{slug}`` (named views) and ``authors/{slug}``,
RFC 5005 archive pages at ``/{stem}/archive/{n}.{ext}``, saved searches at
``/search.{ext}?q=...``, OPML at ``/opml``, ``/feeds.opml``, ``/all.opml``,
``/topics.opml``, ``/views.opml``, ``/authors.opml``, ``/healthz`` and
``/metrics`` (Prometheus).

Every document is rendered once per database generation and kept with its
identity, gzip and brotli bodies and their headers already built; a request for
a cached document is answered before routing, without touching the database
(the generation is re-read at most once per ``recheck`` seconds, in the
background once known). A reloaded configuration (``LiveConfig.swap``) empties
that cache too.

Readers do not wait on the writer (issue 8): after the database changed, a
document is rendered in a worker thread, once however many readers ask; they
get the previous rendering meanwhile, or when it is at most ``stale`` seconds
old. A rendering whose bytes did not change keeps its ETag, Last-Modified and
compressed bodies.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import brotli
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from feedhub import pipeline, subscribe
from feedhub.config import parse_query
from feedhub.exceptions import FeedhubError, QueryError
from feedhub.metrics import CONTENT_TYPE, Metrics
from feedhub.storage import Storage
from feedhub.types import Config, FeedKind

log = logging.getLogger(__name__)

#: compression is not worth its CPU below this size
COMPRESS_MIN_SIZE = 512
#: brotli quality of cached bodies: measured on a 72 kB topic feed, 6 takes
#: 1.2 ms for 14,457 bytes, 9 took 12.9 ms for 14,371 (0.6% smaller), more
#: CPU than querying and rendering the feed (issue 8: the renders compete with
#: the writer and the readers for two cores)
BROTLI_QUALITY = 6
#: media types served with "; charset=utf-8"
_TEXT_TYPES = frozenset(
    {
        "application/atom+xml",
        "application/rss+xml",
        "application/feed+json",
        "text/html",
        "text/x-opml",
    }
)
_FORMATS = frozenset({"atom", "rss", "json", "html"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LiveConfig:
    """The configuration in force, swapped whole by a reload (SIGHUP).

    Readers take ``config`` once per request or poll run and use that one
    value throughout, so a swap never mixes two configurations in one answer.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        #: bumped by every swap; the server's cache is keyed on it
        self.version = 0

    @property
    def config(self) -> Config:
        """The configuration in force."""
        return self._config

    def swap(self, config: Config) -> None:
        """Put ``config`` in force (one reference assignment: atomic)."""
        self._config = config
        self.version += 1


@dataclass(frozen=True, slots=True)
class _Variant:
    #: "" (identity), "gzip" or "br"
    coding: str
    body: bytes
    etag: str
    #: raw headers of the 200 and of the 304 (RFC 9110 15.4.5: no body)
    ok_headers: list[tuple[bytes, bytes]]
    not_modified_headers: list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class _Cached:
    generation: int
    variants: dict[str, _Variant]
    etags: frozenset[str]
    last_modified: datetime
    #: ``LiveConfig.version`` it was rendered under: a document of another
    #: configuration is never served stale
    config_version: int = 0
    #: ``time.monotonic()`` just before its rendering read the database: the
    #: content is at most ``now - rendered_at`` seconds old
    rendered_at: float = 0.0


def _variant(
    coding: str,
    body: bytes,
    etag: str,
    media_type: str,
    last_modified: str,
    max_age: int,
) -> _Variant:
    content_type = media_type
    if media_type in _TEXT_TYPES:
        content_type += "; charset=utf-8"
    common = [
        (b"etag", etag.encode()),
        (b"last-modified", last_modified.encode()),
        (b"cache-control", f"public, max-age={max_age}".encode()),
        (b"vary", b"Accept-Encoding"),
    ]
    if coding:
        common.append((b"content-encoding", coding.encode()))
    ok = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *common,
    ]
    return _Variant(coding, body, etag, ok, common)


class _Cache:
    """Ready responses by path, valid while the database generation holds.

    Bounded by the bytes it holds: the oldest entries go first (archive pages
    fetched once by a backfilling reader must not pin memory forever).
    """

    def __init__(self, max_bytes: int, started: datetime | None = None) -> None:
        #: when this process began serving: nothing it first renders can be
        #: older for a client, see ``put``
        self.started = started or datetime.now(UTC)
        self.items: OrderedDict[str, _Cached] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._total = 0
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def put(
        self,
        path: str,
        generation: int,
        rendered: tuple[bytes, str, datetime, int],
        now: datetime,
        *,
        config_version: int = 0,
        rendered_at: float = 0.0,
    ) -> _Cached:
        body, media_type, updated, max_age = rendered
        digest = hashlib.sha256(body).hexdigest()[:32]
        with self._lock:
            old = self.items.get(path)
        if old is not None and old.generation > generation:
            # a slower rendering of an older snapshot finished last: never
            # replace newer content (a client holding its ETag would get a 200
            # of older content, then a 304 for the newer)
            return old
        if (
            old is not None
            and f'"{digest}"' in old.etags
            and old.config_version == config_version
        ):
            # the same bytes again (the database changed elsewhere): keep the
            # compressed bodies, ETags and Last-Modified, skip the compressing
            # (gzip 9 + brotli 9 cost more than rendering a large feed)
            item = _Cached(
                generation,
                old.variants,
                old.etags,
                old.last_modified,
                config_version,
                rendered_at,
            )
            with self._lock:
                if self.items.get(path) is old:
                    self.items[path] = item
                    self.items.move_to_end(path)
            return item
        if old is not None and f'"{digest}"' in old.etags:
            last_modified = old.last_modified
        else:
            # a changed body is newer than anything a client holds. A first
            # rendering may differ from what this feed showed before a restart
            # (an older-dated entry joined it meanwhile), so it is dated no
            # earlier than the start: an If-Modified-Since client then gets
            # one 200 per restart, never a wrong 304
            last_modified = (
                max(updated, now) if old is not None else max(updated, self.started)
            )
        when = format_datetime(last_modified.replace(microsecond=0), usegmt=True)
        # a strong ETag names one representation (RFC 9110 8.8.3): each coding
        # gets its own
        variants = {"": _variant("", body, f'"{digest}"', media_type, when, max_age)}
        if len(body) >= COMPRESS_MIN_SIZE:
            variants["gzip"] = _variant(
                "gzip",
                gzip.compress(body, compresslevel=9, mtime=0),
                f'"{digest}-gz"',
                media_type,
                when,
                max_age,
            )
            variants["br"] = _variant(
                "br",
                brotli.compress(body, quality=BROTLI_QUALITY),
                f'"{digest}-br"',
                media_type,
                when,
                max_age,
            )
        item = _Cached(
            generation,
            variants,
            frozenset(v.etag for v in variants.values()),
            last_modified,
            config_version,
            rendered_at,
        )
        size = sum(len(v.body) for v in variants.values())
        with self._lock:
            newer = self.items.get(path)
            if newer is not None and newer.generation > generation:
                return newer  # rendered meanwhile from a newer snapshot
            self._total += size - self._sizes.get(path, 0)
            self._sizes[path] = size
            self.items[path] = item
            self.items.move_to_end(path)
            while self._total > self._max_bytes and len(self.items) > 1:
                oldest, _ = self.items.popitem(last=False)
                self._total -= self._sizes.pop(oldest)
        return item

    def drop(self, path: str) -> None:
        """Forget ``path`` (its document no longer exists)."""
        with self._lock:
            if self.items.pop(path, None) is not None:
                self._total -= self._sizes.pop(path)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _codings(header: str | None) -> dict[str, float]:
    """Accept-Encoding as coding -> q (RFC 9110 12.5.3)."""
    out: dict[str, float] = {}
    if not header:
        return out
    for part in header.split(","):
        name, *params = part.strip().split(";")
        q = 1.0
        for param in params:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name.strip():
            out[name.strip().lower()] = q
    return out


def _choose(cached: _Cached, header: str | None) -> _Variant:
    codings = _codings(header)
    wildcard = codings.get("*", 0.0)
    # brotli is smaller; take it when the client accepts both equally
    best, best_q = cached.variants[""], 0.0
    for coding in ("br", "gzip"):
        q = codings.get(coding, wildcard)
        if coding in cached.variants and q > best_q:
            best, best_q = cached.variants[coding], q
    return best


def _etag_matches(header: str, cached: _Cached) -> bool:
    if header.strip() == "*":
        return True
    # If-None-Match uses weak comparison (RFC 9110 13.1.2)
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return bool(tags & cached.etags)


def _not_modified_since(header: str, cached: _Cached) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        return False
    return cached.last_modified.replace(microsecond=0) <= since


async def _send_cached(scope: Scope, send: Send, cached: _Cached) -> None:
    variant = _choose(cached, _header(scope, b"accept-encoding"))
    inm = _header(scope, b"if-none-match")
    ims = _header(scope, b"if-modified-since")
    # RFC 9110 13.2.2: If-Modified-Since only counts without If-None-Match
    if (inm is not None and _etag_matches(inm, cached)) or (
        inm is None and ims is not None and _not_modified_since(ims, cached)
    ):
        await send(
            {
                "type": "http.response.start",
                "status": 304,
                "headers": variant.not_modified_headers,
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": variant.ok_headers}
    )
    body = b"" if scope["method"] == "HEAD" else variant.body
    await send({"type": "http.response.body", "body": body})


class _Respond(Response):
    """A Starlette response that sends a cached entry (after a cache miss)."""

    def __init__(self, cached: _Cached) -> None:
        super().__init__()
        self._cached = cached

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send_cached(scope, send, self._cached)


Render = Callable[[], tuple[bytes, str, datetime, int] | None]


class _Renders:
    """Renders documents off the event loop, at most one at a time per document.

    While the database changes (a large poll bumps the generation every few
    milliseconds) every cached document goes out of date every ``recheck``
    seconds. Readers then get the previous rendering rather than wait: when a
    fresh one is already being rendered, or when the previous one is at most
    ``stale`` seconds old (one is then started in the background). Only the
    first reader after a change with nothing recent enough waits, and readers
    arriving meanwhile join its rendering instead of starting their own
    (issue 8: sixteen readers used to render the same feed side by side while
    the writer competed for the same GIL).
    """

    def __init__(
        self,
        cache: _Cache,
        clock: Callable[[], datetime],
        live: LiveConfig,
        stale: float,
    ) -> None:
        self._cache = cache
        self._clock = clock
        self._live = live
        self._stale = stale
        #: key -> (generation, rendering task) in flight
        self._running: dict[str, tuple[int, asyncio.Task[_Cached | None]]] = {}

    async def get(self, key: str, current: int, render: Render) -> _Cached | None:
        """Return ``key``'s document as of ``current`` or a bounded-stale one.

        Returns:
            The cached document, or None when ``render`` found no such document.
        """
        # read before the handler's ``live.config`` could change (a swap
        # assigns the config, then bumps the version)
        version = self._live.version
        item = self._cache.items.get(key)
        if item is not None and item.generation == current:
            return item
        running = self._running.get(key)
        loop = asyncio.get_running_loop()
        if running is not None and running[1].get_loop() is not loop:
            running = None  # another event loop's (test clients start one each)
        if item is not None and item.config_version == version:
            if running is not None:
                return item
            if time.monotonic() - item.rendered_at <= self._stale:
                self._start(key, current, render, version, background=True)
                return item
        if running is not None and running[0] == current:
            task = running[1]
        else:
            task = self._start(key, current, render, version)
        # a reader that goes away must not cancel the others' rendering
        return await asyncio.shield(task)

    def _start(
        self,
        key: str,
        current: int,
        render: Render,
        version: int,
        *,
        background: bool = False,
    ) -> asyncio.Task[_Cached | None]:
        task = asyncio.get_running_loop().create_task(
            self._render(key, current, render, version)
        )
        self._running[key] = (current, task)
        task.add_done_callback(lambda done: self._done(key, done, background))
        return task

    def _done(
        self, key: str, task: asyncio.Task[_Cached | None], background: bool
    ) -> None:
        if key in self._running and self._running[key][1] is task:
            del self._running[key]
        # retrieving the exception keeps asyncio from reporting it again; a
        # reader waiting on the rendering gets it raised (a 500, or a 400 for
        # a bad search); a background one only has this log
        error = None if task.cancelled() else task.exception()
        if error is not None and background:
            log.warning("render failed", extra={"path": key}, exc_info=error)

    async def _render(
        self, key: str, current: int, render: Render, version: int
    ) -> _Cached | None:
        return await run_in_threadpool(
            self._render_and_put, key, current, render, version
        )

    def _render_and_put(
        self, key: str, current: int, render: Render, version: int
    ) -> _Cached | None:
        # in a worker thread, compressing included: on the event loop a large
        # document's gzip and brotli bodies (milliseconds each; both release
        # the GIL) would hold up every reader served from the cache meanwhile
        started = time.monotonic()
        rendered = render()
        if rendered is None:
            self._cache.drop(key)
            return None
        return self._cache.put(
            key,
            current,
            rendered,
            self._clock(),
            config_version=version,
            rendered_at=started,
        )


class _Generation:
    """The database generation, re-read at most once per ``recheck`` seconds.

    The value handed out changes whenever the database generation or the
    configuration's version does: either can change what a page shows.
    """

    def __init__(self, storage: Storage, recheck: float, live: LiveConfig) -> None:
        self._storage = storage
        self._recheck = recheck
        self._live = live
        self._database = -1
        self._seen = (-1, -1)
        self._value = -1
        self._checked = float("-inf")
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None

    def _current(self) -> int:
        seen = (self._database, self._live.version)
        if seen != self._seen:
            self._seen = seen
            self._value += 1
        return self._value

    async def get(self) -> int:
        if time.monotonic() - self._checked < self._recheck:
            return self._current()
        if self._recheck > 0 and self._checked > float("-inf"):
            # Re-read in the background and answer with the value in hand:
            # it is at most ``recheck`` plus one read old either way, and the
            # readers arriving meanwhile do not all queue behind a database
            # read that, during a large poll, waits for the GIL (issue 8).
            refresh = self._refresh
            loop = asyncio.get_running_loop()
            if refresh is None or refresh.done() or refresh.get_loop() is not loop:
                self._refresh = loop.create_task(self._read())
                self._refresh.add_done_callback(_log_failure)
            return self._current()
        async with self._lock:
            if time.monotonic() - self._checked >= self._recheck:
                await self._read()
        return self._current()

    async def _read(self) -> None:
        self._database = await run_in_threadpool(self._storage.generation)
        self._checked = time.monotonic()


def _log_failure(task: asyncio.Task[None]) -> None:
    """Retrieve and log a background task's failure (nobody awaits it)."""
    error = None if task.cancelled() else task.exception()
    if error is not None:
        log.warning("generation read failed", exc_info=error)


def route_group(path: str) -> str:
    """A request path's group for the request counter (bounded label values)."""
    if path in ("/", "/index.html"):
        return "index"
    if path in ("/healthz", "/metrics"):
        return path[1:]
    if path.startswith("/ops/"):
        return "ops"
    if path == "/opml" or path.endswith(".opml"):
        return "opml"
    if "/archive/" in path:
        return "archive"
    if path.rpartition(".")[2] in _FORMATS:
        return "feed"
    return "other"


class _CountRequests:
    """ASGI wrapper counting every answered request by route group and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = [500]

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, counting_send)
        finally:
            self._metrics.request(route_group(scope["path"]), status[0])


def source_gauges(storage: Storage, now: datetime) -> tuple[dict[str, int], int]:
    """Configured sources by status word, and how many are due for a poll."""
    states = storage.get_sources()
    holds = storage.host_holds(now)
    by_status = Counter(subscribe.status(state, now, holds) for state in states)
    due = sum(
        state.health.gone_at is None
        and subscribe.held_until(state, now, holds) is None
        and (state.next_check_at is None or state.next_check_at <= now)
        for state in states
    )
    return dict(by_status), due


class _FastPath:
    """ASGI wrapper answering cached GET/HEAD before Starlette routes anything."""

    def __init__(self, app: ASGIApp, cache: _Cache, generation: _Generation) -> None:
        self._app = app
        self._cache = cache
        self._generation = generation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            cached = self._cache.items.get(scope["path"])
            if cached is not None and cached.generation == (
                await self._generation.get()
            ):
                await _send_cached(scope, send, cached)
                return
        await self._app(scope, receive, send)


def _bad_request(error: Exception) -> Response:
    """A 400 naming the reader's mistake; the text echoes their query, so
    browsers are told not to sniff it as HTML."""
    return PlainTextResponse(
        f"{error}\n",
        status_code=400,
        headers={"x-content-type-options": "nosniff", "cache-control": "no-store"},
    )


def _not_found(request: Request) -> Response:
    return PlainTextResponse(f"no such feed: {request.url.path}\n", status_code=404)


def create_app(
    storage: Storage,
    config: Config | LiveConfig,
    *,
    health: Callable[[], str | None] | None = None,
    clock: Callable[[], datetime] = pipeline.utcnow,
    recheck: float = 1.0,
    cache_bytes: int = 256 * 1024 * 1024,
    metrics: Metrics | None = None,
    gauge_every: float = 10.0,
    stale: float | None = None,
) -> ASGIApp:
    """Build the ASGI app serving ``storage``'s feeds.

    Args:
        storage: the database (read only here).
        config: topics, base URL, entries per feed; a ``LiveConfig`` when a
            reload may swap it (``feedhub run``). Handlers read
            ``live.config`` once per request.
        health: returns None when the scheduler is alive, else why not;
            None when no scheduler runs in this process (``feedhub serve``).
        clock: current aware UTC time.
        recheck: seconds a cached response is served before the database
            generation is read again; 0 reads it on every request (tests).
        cache_bytes: most bytes of ready responses kept in memory.
        metrics: where requests are counted and what ``/metrics`` shows; a
            fresh one (requests and process only) when None.
        gauge_every: seconds ``/metrics`` reuses its database gauges (sources
            by status, due) before reading the sources again; keeps scrapes
            cheap on large databases.
        stale: seconds a document's previous rendering may still be served,
            while a fresh one renders in the background, after the database
            changed; None: ``recheck`` (so content is at most about twice
            ``recheck`` old, and ``recheck=0`` serves every change at once).
            0 makes the first request after a change wait for the fresh
            rendering (requests arriving meanwhile still get the previous one
            rather than waiting too). Never across a reload.
    """
    live = config if isinstance(config, LiveConfig) else LiveConfig(config)
    metrics = metrics or Metrics()
    cache = _Cache(cache_bytes)
    generation = _Generation(storage, recheck, live)
    renders = _Renders(cache, clock, live, recheck if stale is None else stale)

    async def cached_response(
        request: Request,
        render: Callable[[], tuple[bytes, str, datetime, int] | None],
        key: str | None = None,
    ) -> Response:
        # ``key`` names a document the path alone does not (a search's query);
        # the fast path only looks paths up, so it never answers for one
        key = key or request.url.path
        item = await renders.get(key, await generation.get(), render)
        if item is None:
            return _not_found(request)
        return _Respond(item)

    async def html_page(
        request: Request, page: Callable[[Storage, Config, datetime], bytes]
    ) -> Response:
        config = live.config

        def render() -> tuple[bytes, str, datetime, int]:
            now = clock()
            body = page(storage, config, now)
            return body, "text/html", now, pipeline.cache_seconds(config)

        return await cached_response(request, render)

    async def index(request: Request) -> Response:
        return await html_page(request, pipeline.render_index)

    async def authors_index(request: Request) -> Response:
        return await html_page(request, pipeline.render_authors_index)

    async def opml(request: Request) -> Response:
        group = request.path_params.get("group", "feeds")
        if group not in pipeline.OPML_GROUPS:
            return _not_found(request)
        config = live.config

        def render() -> tuple[bytes, str, datetime, int]:
            now = clock()
            body = pipeline.render_opml(storage, config, group, now)
            return body, "text/x-opml", now, pipeline.cache_seconds(config)

        return await cached_response(request, render)

    async def feed(request: Request, kind: FeedKind, slug: str) -> Response:
        ext = request.path_params["ext"]
        page = request.path_params.get("page")
        if ext not in _FORMATS:
            return _not_found(request)
        config = live.config

        def render() -> tuple[bytes, str, datetime, int] | None:
            ref = pipeline.find_feed(storage, config, kind, slug)
            if ref is None:
                return None
            if page is None:
                rendered = pipeline.render_feed(storage, config, ref, ext)
            else:
                found = pipeline.render_archive(storage, config, ref, page, ext)
                if found is None:
                    return None
                rendered = found
            return (
                rendered.body,
                rendered.media_type,
                rendered.updated,
                rendered.max_age,
            )

        return await cached_response(request, render)

    async def all_feed(request: Request) -> Response:
        return await feed(request, FeedKind.ALL, "all")

    async def topic_feed(request: Request) -> Response:
        return await feed(request, FeedKind.TOPIC, request.path_params["slug"])

    async def author_feed(request: Request) -> Response:
        return await feed(request, FeedKind.AUTHOR, request.path_params["slug"])

    async def view_feed(request: Request) -> Response:
        return await feed(request, FeedKind.VIEW, request.path_params["slug"])

    async def search(request: Request) -> Response:
        # Issue 7: a saved search, /search.atom?q=...; a bad query is the
        # reader's mistake (400 with the reason), never a server error
        ext = request.path_params["ext"]
        if ext not in _FORMATS:
            return _not_found(request)
        config = live.config
        try:
            query = parse_query(request.query_params.get("q", ""))
        except QueryError as e:
            return _bad_request(e)

        def render() -> tuple[bytes, str, datetime, int]:
            found = pipeline.render_search(storage, config, query, ext)
            return found.body, found.media_type, found.updated, found.max_age

        try:
            return await cached_response(
                request, render, key=f"/search.{ext}?q={query.text}"
            )
        except QueryError as e:
            return _bad_request(e)

    async def healthz(request: Request) -> Response:
        checks = {"database": "ok", "scheduler": "not running (serve only)"}
        healthy = True
        try:
            await run_in_threadpool(storage.generation)
        except FeedhubError as e:
            checks["database"] = str(e)
            healthy = False
        if health is not None:
            problem = health()
            checks["scheduler"] = problem or "ok"
            healthy = healthy and problem is None
        checks["status"] = "ok" if healthy else "unhealthy"
        return JSONResponse(checks, status_code=200 if healthy else 503)

    get = ["GET", "HEAD"]

    async def ops_sources(request: Request) -> Response:
        # Issue 4: rendered on each request, since source health changes
        # without bumping the generation that the feed cache is keyed on.
        body = await run_in_threadpool(
            subscribe.sources_feed, storage, live.config, clock()
        )
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"etag": etag, "cache-control": "no-cache"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if request.method == "HEAD":
            headers["content-length"] = str(len(body))
            body = b""
        return Response(
            body, headers=headers, media_type="application/atom+xml; charset=utf-8"
        )

    gauges: list[Any] = [float("-inf"), None]  # [read at, (by status, due)]

    async def metrics_page(request: Request) -> Response:
        # never from the feed cache; the database is read at most once per
        # gauge_every seconds, the rest is counters in memory
        if time.monotonic() - gauges[0] >= gauge_every:
            try:
                gauges[1] = await run_in_threadpool(source_gauges, storage, clock())
            except FeedhubError:
                log.warning("metrics: cannot read sources", exc_info=True)
                gauges[1] = None
            gauges[0] = time.monotonic()
        by_status, due = gauges[1] or (None, None)
        body = metrics.render(by_status, due)
        return Response(
            b"" if request.method == "HEAD" else body,
            headers={"cache-control": "no-store"},
            media_type=CONTENT_TYPE,
        )

    # Handlers read ``live.config`` (not a captured Config): a SIGHUP reload
    # swaps it while the server runs.
    routes = [
        Route("/", index, methods=get),
        Route("/index.html", index, methods=get),
        Route("/opml", opml, methods=get),
        Route("/{group}.opml", opml, methods=get),
        Route("/all.{ext}", all_feed, methods=get),
        Route("/all/archive/{page:int}.{ext}", all_feed, methods=get),
        Route("/topics/{slug}.{ext}", topic_feed, methods=get),
        Route("/topics/{slug}/archive/{page:int}.{ext}", topic_feed, methods=get),
        # before the author feeds, which "/authors/index.html" would also match
        Route("/authors/", authors_index, methods=get),
        Route("/authors/index.html", authors_index, methods=get),
        Route("/authors/{slug}.{ext}", author_feed, methods=get),
        Route("/authors/{slug}/archive/{page:int}.{ext}", author_feed, methods=get),
        Route("/feeds/{slug}.{ext}", view_feed, methods=get),
        Route("/feeds/{slug}/archive/{page:int}.{ext}", view_feed, methods=get),
        Route("/search.{ext}", search, methods=get),
        Route("/healthz", healthz, methods=get),
        Route("/ops/sources.atom", ops_sources, methods=get),
        Route("/metrics", metrics_page, methods=get),
    ]
    return _CountRequests(
        _FastPath(Starlette(routes=routes), cache, generation), metrics
    )
