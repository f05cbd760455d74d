"""Serve the published feeds over HTTP, read-only, from a cache of ready responses.

Routes: ``/`` (HTML index), ``/{stem}.{atom,rss,json,html}`` for ``all``,
``topics/{slug}`` and ``authors/{slug}``, RFC 5005 archive pages at
``/{stem}/archive/{n}.{ext}``, OPML at ``/opml``, ``/feeds.opml``,
``/all.opml``, ``/topics.opml``, ``/authors.opml``, and ``/healthz``.

Every document is rendered once per database generation and kept with its
identity, gzip and brotli bodies and their headers already built; a request for
a cached document is answered before routing, without touching the database
(the generation is re-read at most once per ``recheck`` seconds).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import brotli
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from feedhub import pipeline, subscribe
from feedhub.exceptions import FeedhubError
from feedhub.storage import Storage
from feedhub.types import Config, FeedKind

log = logging.getLogger(__name__)

#: compression is not worth its CPU below this size
COMPRESS_MIN_SIZE = 512
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

    def __init__(self, max_bytes: int) -> None:
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
    ) -> _Cached:
        body, media_type, updated, max_age = rendered
        digest = hashlib.sha256(body).hexdigest()[:32]
        with self._lock:
            old = self.items.get(path)
        if old is not None and f'"{digest}"' in old.etags:
            last_modified = old.last_modified
        else:
            # a changed body is newer than anything a client holds
            last_modified = max(updated, now) if old is not None else updated
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
                brotli.compress(body, quality=9),
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
        )
        size = sum(len(v.body) for v in variants.values())
        with self._lock:
            self._total += size - self._sizes.get(path, 0)
            self._sizes[path] = size
            self.items[path] = item
            self.items.move_to_end(path)
            while self._total > self._max_bytes and len(self.items) > 1:
                oldest, _ = self.items.popitem(last=False)
                self._total -= self._sizes.pop(oldest)
        return item


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


class _Generation:
    """The database generation, re-read at most once per ``recheck`` seconds."""

    def __init__(self, storage: Storage, recheck: float) -> None:
        self._storage = storage
        self._recheck = recheck
        self._value = -1
        self._checked = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> int:
        if time.monotonic() - self._checked < self._recheck:
            return self._value
        async with self._lock:
            if time.monotonic() - self._checked >= self._recheck:
                self._value = await run_in_threadpool(self._storage.generation)
                self._checked = time.monotonic()
        return self._value


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


def _not_found(request: Request) -> Response:
    return PlainTextResponse(f"no such feed: {request.url.path}\n", status_code=404)


def create_app(
    storage: Storage,
    config: Config,
    *,
    health: Callable[[], str | None] | None = None,
    clock: Callable[[], datetime] = pipeline.utcnow,
    recheck: float = 1.0,
    cache_bytes: int = 256 * 1024 * 1024,
) -> ASGIApp:
    """Build the ASGI app serving ``storage``'s feeds.

    Args:
        storage: the database (read only here).
        config: topics, base URL, entries per feed.
        health: returns None when the scheduler is alive, else why not;
            None when no scheduler runs in this process (``feedhub serve``).
        clock: current aware UTC time.
        recheck: seconds a cached response is served before the database
            generation is read again; 0 reads it on every request (tests).
        cache_bytes: most bytes of ready responses kept in memory.
    """
    cache = _Cache(cache_bytes)
    generation = _Generation(storage, recheck)

    async def cached_response(
        request: Request,
        render: Callable[[], tuple[bytes, str, datetime, int] | None],
    ) -> Response:
        current = await generation.get()
        item = cache.items.get(request.url.path)
        if item is None or item.generation != current:
            rendered = await run_in_threadpool(render)
            if rendered is None:
                return _not_found(request)
            item = cache.put(request.url.path, current, rendered, clock())
        return _Respond(item)

    async def index(request: Request) -> Response:
        def render() -> tuple[bytes, str, datetime, int]:
            now = clock()
            body = pipeline.render_index(storage, config, now)
            return body, "text/html", now, pipeline.cache_seconds(config)

        return await cached_response(request, render)

    async def opml(request: Request) -> Response:
        group = request.path_params.get("group", "feeds")
        if group not in pipeline.OPML_GROUPS:
            return _not_found(request)

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
        body = await run_in_threadpool(subscribe.sources_feed, storage, config, clock())
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

    routes = [
        Route("/", index, methods=get),
        Route("/index.html", index, methods=get),
        Route("/opml", opml, methods=get),
        Route("/{group}.opml", opml, methods=get),
        Route("/all.{ext}", all_feed, methods=get),
        Route("/all/archive/{page:int}.{ext}", all_feed, methods=get),
        Route("/topics/{slug}.{ext}", topic_feed, methods=get),
        Route("/topics/{slug}/archive/{page:int}.{ext}", topic_feed, methods=get),
        Route("/authors/{slug}.{ext}", author_feed, methods=get),
        Route("/authors/{slug}/archive/{page:int}.{ext}", author_feed, methods=get),
        Route("/healthz", healthz, methods=get),
        Route("/ops/sources.atom", ops_sources, methods=get),
    ]
    return _FastPath(Starlette(routes=routes), cache, generation)
