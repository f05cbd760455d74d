"""Serve the published feeds over HTTP, read-only, with conditional GET and gzip.

Routes: ``/`` (HTML index), ``/all.atom``, ``/topics/{slug}.atom``,
``/authors/{slug}.atom``, ``/healthz``. Rendered feeds are cached in memory
per database generation, so a poll that changes nothing costs readers nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from feedhub import pipeline
from feedhub.exceptions import FeedhubError
from feedhub.storage import Storage
from feedhub.types import Config, FeedKind

log = logging.getLogger(__name__)

ATOM_TYPE = "application/atom+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
#: gzip is not worth its CPU below this size
GZIP_MIN_SIZE = 512


@dataclass(frozen=True, slots=True)
class _Variant:
    body: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class _Cached:
    generation: int
    media_type: str
    identity: _Variant
    gzipped: _Variant | None
    last_modified: datetime
    max_age: int


class _Cache:
    """Rendered responses by path, valid while the database generation holds."""

    def __init__(self) -> None:
        self._items: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, path: str, generation: int) -> _Cached | None:
        with self._lock:
            item = self._items.get(path)
        if item is not None and item.generation == generation:
            return item
        return None

    def put(
        self,
        path: str,
        generation: int,
        body: bytes,
        media_type: str,
        updated: datetime,
        now: datetime,
        max_age: int,
    ) -> _Cached:
        digest = hashlib.sha256(body).hexdigest()[:32]
        identity = _Variant(body, f'"{digest}"')
        gzipped = None
        if len(body) >= GZIP_MIN_SIZE:
            # a strong ETag names one representation (RFC 9110 8.8.3): the gzip
            # variant gets its own
            gzipped = _Variant(gzip.compress(body, mtime=0), f'"{digest}-gz"')
        with self._lock:
            old = self._items.get(path)
            last_modified = updated
            if old is not None:
                if old.identity.etag == identity.etag:
                    last_modified = old.last_modified
                else:
                    last_modified = max(updated, now)
            item = _Cached(
                generation, media_type, identity, gzipped, last_modified, max_age
            )
            self._items[path] = item
        return item


def _accepts_gzip(header: str | None) -> bool:
    if not header:
        return False
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def _etag_matches(header: str, cached: _Cached) -> bool:
    if header.strip() == "*":
        return True
    # If-None-Match uses weak comparison (RFC 9110 13.1.2)
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    current = {cached.identity.etag}
    if cached.gzipped is not None:
        current.add(cached.gzipped.etag)
    return bool(tags & current)


def _not_modified_since(header: str, cached: _Cached) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        return False
    return cached.last_modified.replace(microsecond=0) <= since


def _respond(request: Request, cached: _Cached) -> Response:
    variant = cached.identity
    if cached.gzipped is not None and _accepts_gzip(
        request.headers.get("accept-encoding")
    ):
        variant = cached.gzipped
    headers = {
        "etag": variant.etag,
        "last-modified": format_datetime(cached.last_modified, usegmt=True),
        "cache-control": f"public, max-age={cached.max_age}",
        "vary": "Accept-Encoding",
    }
    if variant is cached.gzipped:
        headers["content-encoding"] = "gzip"
    inm = request.headers.get("if-none-match")
    ims = request.headers.get("if-modified-since")
    if (inm is not None and _etag_matches(inm, cached)) or (
        inm is None and ims is not None and _not_modified_since(ims, cached)
    ):
        # RFC 9110 15.4.5: a 304 carries the validators and no body
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["content-length"] = str(len(variant.body))
        return Response(b"", headers=headers, media_type=cached.media_type)
    return Response(variant.body, headers=headers, media_type=cached.media_type)


def create_app(
    storage: Storage,
    config: Config,
    *,
    health: Callable[[], str | None] | None = None,
    clock: Callable[[], datetime] = pipeline.utcnow,
) -> Starlette:
    """Build the ASGI app serving ``storage``'s feeds.

    Args:
        storage: the database (read only here).
        config: topics, base URL, entries per feed.
        health: returns None when the scheduler is alive, else why not;
            None when no scheduler runs in this process (``feedhub serve``).
        clock: current aware UTC time.
    """
    cache = _Cache()
    max_age = int(min(config.polling.interval, 3600) // 2)

    async def cached_response(
        request: Request,
        path: str,
        render: Callable[[], tuple[bytes, datetime]],
        media_type: str,
    ) -> Response:
        generation = await run_in_threadpool(storage.generation)
        item = cache.get(path, generation)
        if item is None:
            body, updated = await run_in_threadpool(render)
            item = cache.put(
                path, generation, body, media_type, updated, clock(), max_age
            )
        return _respond(request, item)

    async def index(request: Request) -> Response:
        def render() -> tuple[bytes, datetime]:
            now = clock()
            return pipeline.render_index(storage, config, now), now

        return await cached_response(request, "/", render, HTML_TYPE)

    async def feed(request: Request, kind: FeedKind, slug: str) -> Response:
        ref = await run_in_threadpool(pipeline.find_feed, storage, config, kind, slug)
        if ref is None:
            return PlainTextResponse(
                f"no such feed: {request.url.path}\n", status_code=404
            )

        def render() -> tuple[bytes, datetime]:
            rendered = pipeline.render_feed(storage, config, ref)
            return rendered.body, rendered.updated

        return await cached_response(request, ref.path, render, ATOM_TYPE)

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

    routes = [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/all.atom", all_feed, methods=["GET", "HEAD"]),
        Route("/topics/{slug}.atom", topic_feed, methods=["GET", "HEAD"]),
        Route("/authors/{slug}.atom", author_feed, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
    ]
    return Starlette(routes=routes)
