"""The politeness contract of the README, point by point, against a local server
that records every request it receives (issue 4)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from feedhub import __version__, pipeline
from feedhub.fetch import DEFAULT_USER_AGENT, Fetcher
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    PollingConfig,
    PollResult,
    PollStatus,
    SourceConfig,
    SourceEventKind,
)

T0 = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data" / "feeds"
RSS = (DATA / "seed-rss.xml").read_bytes()


def rss(ttl: int | None = None, title: str = "Hints", extra: str = "") -> bytes:
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl is not None else ""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://site.test/</link>{ttl_tag}{extra}"
        "<item><guid>1</guid><title>One</title><link>http://site.test/1</link></item>"
        "</channel></rss>"
    ).encode()


# A response: (status, headers, body)
Response = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    at: float
    path: str
    headers: dict[str, str]


@dataclass
class Recorder:
    """Serves programmable responses on 127.0.0.1 and records each request."""

    port: int = 0
    routes: dict[str, Callable[[Seen], Response]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def static(self, path: str, body: bytes, **headers: str) -> str:
        self.routes[path] = lambda seen: (200, dict(headers), body)
        return self.url(path)

    def conditional(self, path: str, body: bytes, etag: str, modified: str) -> str:
        def respond(seen: Seen) -> Response:
            validators = {"ETag": etag, "Last-Modified": modified}
            if seen.headers.get("if-none-match") == etag:
                return 304, validators, b""
            return 200, validators, body

        self.routes[path] = respond
        return self.url(path)


@pytest.fixture
def server() -> Iterator[Recorder]:
    state = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            seen = Seen(
                time.monotonic(),
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
            )
            state.requests.append(seen)
            route = state.routes.get(self.path)
            code, headers, body = (404, {}, b"") if route is None else route(seen)
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def make_config(server: Recorder, *urls: str, **polling: object) -> Config:
    settings: dict[str, object] = {
        "allow_private_networks": (f"127.0.0.1:{server.port}",),
        "workers": 1,
        "per_host_delay": 0.0,
        "timeout": 10.0,
    }
    settings.update(polling)
    return Config(
        path=None,
        database=":memory:",
        polling=PollingConfig(**settings),  # type: ignore[arg-type]
        sources=tuple(SourceConfig(url) for url in urls),
    )


@pytest.fixture
def storage() -> Iterator[Storage]:
    with Storage(":memory:") as s:
        yield s


def poll(
    storage: Storage, config: Config, now: datetime, *, force: bool = True
) -> dict[str, PollResult]:
    async def run() -> tuple[PollResult, ...]:
        async with Fetcher(config.polling) as fetcher:
            return await pipeline.poll(
                storage, config, fetcher, clock=lambda: now, force=force
            )

    return {r.url: r for r in asyncio.run(run())}


def state_of(storage: Storage, url: str):
    (state,) = [s for s in storage.get_sources() if s.url == url]
    return state


# --------------------------------------------------------------------------
# 1. Conditional requests, nothing added, one clear User-Agent
# --------------------------------------------------------------------------


def test_validators_go_back_byte_for_byte_on_every_poll(server, storage):
    etag = 'W/"a \\"quoted\\" tag"'
    modified = "Mon, 14 Jul 2025 10:00:00 GMT"
    url = server.conditional("/feed.xml", RSS, etag, modified)
    config = make_config(server, url)
    for n in range(4):
        poll(storage, config, T0 + timedelta(days=n))
    first, *rest = server.requests
    assert "if-none-match" not in first.headers
    assert len(rest) == 3
    for seen in rest:  # never a periodic unconditional re-fetch
        assert seen.headers["if-none-match"] == etag
        assert seen.headers["if-modified-since"] == modified


def test_no_query_strings_cookies_or_referrers_and_one_user_agent(server, storage):
    server.routes["/old"] = lambda seen: (
        302,
        {"Location": "/feed.xml", "Set-Cookie": "session=1; Path=/"},
        b"",
    )
    server.static("/feed.xml", RSS, **{"Set-Cookie": "tracker=2; Path=/"})
    url = server.url("/old")
    config = make_config(server, url)
    poll(storage, config, T0)
    poll(storage, config, T0 + timedelta(hours=1))
    assert server.paths() == ["/old", "/feed.xml"] * 2
    for seen in server.requests:
        assert "cookie" not in seen.headers
        assert "referer" not in seen.headers
        assert seen.headers["user-agent"] == DEFAULT_USER_AGENT
    assert DEFAULT_USER_AGENT.startswith(f"feedhub/{__version__} (+https://")


# --------------------------------------------------------------------------
# 2. A byte-identical 200 is recognized and not parsed again
# --------------------------------------------------------------------------


def test_identical_200_is_not_parsed_again(server, storage, monkeypatch):
    url = server.static("/feed.xml", RSS)  # no validators: always 200
    config = make_config(server, url)
    assert poll(storage, config, T0)[url].status is PollStatus.OK

    def parse_again(*args: object) -> None:
        raise AssertionError("parsed an unchanged body")

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "prepare_update", parse_again)
        again = poll(storage, config, T0 + timedelta(hours=1))[url]
    assert again.status is PollStatus.NOT_MODIFIED
    assert again.http_status == 200
    state = state_of(storage, url)
    assert state.last_success_at == T0 + timedelta(hours=1)
    # a changed body is parsed
    server.static("/feed.xml", RSS.replace(b"</channel>", b"<ttl>5</ttl></channel>"))
    assert poll(storage, config, T0 + timedelta(hours=2))[url].status is PollStatus.OK


# --------------------------------------------------------------------------
# 3. Next poll: interval raised by the feed's hints, within bounds, skipHours
# --------------------------------------------------------------------------


def test_next_poll_honours_ttl_max_age_and_bounds(server, storage):
    ttl = server.static("/ttl.xml", rss(ttl=180))
    max_age = server.static("/cc.xml", rss(), **{"Cache-Control": "max-age=7200"})
    huge = server.static("/huge.xml", rss(ttl=60 * 24 * 30))
    plain = server.static("/plain.xml", rss())
    config = make_config(server, ttl, max_age, huge, plain, interval=1800.0)
    poll(storage, config, T0)
    delay = {
        url: (state_of(storage, url).next_check_at - T0).total_seconds()
        for url in (ttl, max_age, huge, plain)
    }
    assert 3 * 3600 <= delay[ttl] < 3 * 3600 * 1.11
    assert 7200 <= delay[max_age] < 7200 * 1.11
    assert 86400 <= delay[huge] < 86400 * 1.11  # max_interval
    assert 1800 <= delay[plain] < 1800 * 1.11


def test_a_200_that_is_not_a_feed_keeps_its_http_status(server, storage):
    url = server.static("/page.html", b"<!doctype html><html><body>hi</body></html>")
    result = poll(storage, make_config(server, url), T0)[url]
    assert result.status is PollStatus.ERROR and "not a feed" in (result.error or "")
    assert result.http_status == 200
    assert state_of(storage, url).last_http_status == 200


def test_hints_survive_304s_and_skip_hours_are_respected(server, storage):
    # T0 is 12:00 UTC; the feed asks to skip 12:00-14:59
    body = rss(ttl=60, extra="<skipHours><hour>12</hour><hour>13</hour>"
               "<hour>14</hour></skipHours>")  # fmt: skip
    url = server.conditional("/feed.xml", body, '"v1"', "Mon, 14 Jul 2025 GMT")
    config = make_config(server, url, interval=300.0, min_interval=60.0)
    poll(storage, config, T0)
    assert state_of(storage, url).next_check_at == T0.replace(hour=15)
    poll(storage, config, T0.replace(hour=16))  # a 304 this time
    assert server.requests[-1].headers["if-none-match"] == '"v1"'
    state = state_of(storage, url)
    assert state.last_http_status == 304
    # still the feed's ttl of an hour, not the configured 5 minutes
    assert state.next_check_at - T0.replace(hour=16) >= timedelta(hours=1)


def test_per_source_interval_override(server, storage):
    url = server.static("/feed.xml", rss())
    config = make_config(server, url)
    config = replace(config, sources=(SourceConfig(url, interval=4 * 3600),))
    poll(storage, config, T0)
    assert state_of(storage, url).next_check_at - T0 >= timedelta(hours=4)


# --------------------------------------------------------------------------
# 4. Retry-After: not polled before, even by --all; source or host scope
# --------------------------------------------------------------------------


def busy(seconds: str, code: int = 429) -> Callable[[Seen], Response]:
    return lambda seen: (code, {"Retry-After": seconds}, b"")


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_holds_the_host_even_for_poll_all(server, storage, code):
    server.routes["/a.xml"] = busy("3600", code)
    other = server.static("/b.xml", rss())
    config = make_config(server, server.url("/a.xml"), retry_after_scope="host")
    poll(storage, config, T0)
    config = make_config(server, server.url("/a.xml"), other)
    config = replace(config, polling=replace(config.polling, retry_after_scope="host"))
    count = len(server.requests)
    assert poll(storage, config, T0 + timedelta(minutes=59), force=True) == {}
    assert len(server.requests) == count  # not even the other feed on the host
    results = poll(storage, config, T0 + timedelta(minutes=61), force=True)
    assert set(results) == {server.url("/a.xml"), other}


def test_retry_after_with_source_scope_holds_only_that_source(server, storage):
    server.routes["/a.xml"] = busy("600")
    other = server.static("/b.xml", rss())
    config = make_config(
        server, server.url("/a.xml"), other, retry_after_scope="source"
    )
    poll(storage, config, T0)
    held = state_of(storage, server.url("/a.xml"))
    assert held.health.retry_after_until == T0 + timedelta(seconds=600)
    assert held.next_check_at is not None
    assert held.next_check_at >= T0 + timedelta(seconds=600)
    assert set(poll(storage, config, T0 + timedelta(minutes=5))) == {other}
    assert server.url("/a.xml") in poll(storage, config, T0 + timedelta(minutes=11))


def test_retry_after_http_date_is_capped(server, storage):
    server.routes["/a.xml"] = busy("Fri, 01 Jan 2100 00:00:00 GMT", 503)
    url = server.url("/a.xml")
    config = make_config(
        server, url, retry_after_scope="source", retry_after_max=7200.0
    )
    poll(storage, config, T0)
    state = state_of(storage, url)
    assert state.health.retry_after_until == T0 + timedelta(hours=2)
    assert state.last_error is not None and "503" in state.last_error


# --------------------------------------------------------------------------
# 5. Errors back off exponentially, never stop; dead after dead_after
# --------------------------------------------------------------------------


def test_errors_back_off_keep_retrying_and_turn_dead(server, storage):
    server.routes["/feed.xml"] = lambda seen: (500, {}, b"")
    url = server.url("/feed.xml")
    config = make_config(server, url, interval=1800.0, dead_after=86400.0)
    now, delays = T0, []
    for _ in range(12):
        results = poll(storage, config, now, force=False)
        assert results[url].status is PollStatus.ERROR  # due again: retried
        state = state_of(storage, url)
        assert state.next_check_at is not None
        delays.append((state.next_check_at - now).total_seconds())
        now = state.next_check_at
    assert delays[1] > 1.8 * delays[0] and delays[2] > 1.8 * delays[1]
    assert max(delays) <= 24 * 3600 * 1.1  # the cap, plus jitter
    assert state.error_count == 12
    assert state.last_error == f"fetch: 500 Internal Server Error ({url})"
    assert state.health.dead_since is not None
    kinds = [e.kind for e in storage.source_events()]
    assert kinds == [SourceEventKind.DEAD]
    # and it comes back
    server.static("/feed.xml", rss())
    assert poll(storage, config, now)[url].status is PollStatus.OK
    assert state_of(storage, url).health.dead_since is None
    assert storage.source_events()[0].kind is SourceEventKind.REVIVED


# --------------------------------------------------------------------------
# 6. Redirects and 410
# --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 308])
def test_permanent_redirect_stored_after_three_confirmations(server, storage, code):
    server.routes["/old.xml"] = lambda seen: (code, {"Location": "/new.xml"}, b"")
    new = server.static("/new.xml", rss())
    old = server.url("/old.xml")
    config = make_config(server, old)
    for n in range(3):
        assert state_of(storage, old).fetch_url == old if n else True
        poll(storage, config, T0 + timedelta(hours=n))
    state = state_of(storage, old)
    assert state.url == old and state.fetch_url == new
    (event,) = storage.source_events()
    assert event.kind is SourceEventKind.MOVED and new in event.detail
    assert server.paths() == ["/old.xml", "/new.xml"] * 3
    poll(storage, config, T0 + timedelta(hours=4))
    assert server.paths()[-1:] == ["/new.xml"]


@pytest.mark.parametrize("code", [302, 307])
def test_temporary_redirect_followed_never_stored(server, storage, code):
    server.routes["/old.xml"] = lambda seen: (code, {"Location": "/new.xml"}, b"")
    server.static("/new.xml", rss())
    old = server.url("/old.xml")
    config = make_config(server, old)
    for n in range(4):
        assert poll(storage, config, T0 + timedelta(hours=n))[old].status in (
            PollStatus.OK,
            PollStatus.NOT_MODIFIED,
        )
    assert state_of(storage, old).fetch_url == old
    assert state_of(storage, old).health.redirect_count == 0
    assert storage.source_events() == ()


def test_410_retires_the_source(server, storage):
    server.routes["/gone.xml"] = lambda seen: (410, {}, b"")
    url = server.url("/gone.xml")
    config = make_config(server, url)
    poll(storage, config, T0)
    for n in range(1, 4):  # not even --all asks again
        assert poll(storage, config, T0 + timedelta(days=n), force=True) == {}
        assert poll(storage, config, T0 + timedelta(days=n), force=False) == {}
    assert server.paths() == ["/gone.xml"]
    state = state_of(storage, url)
    assert state.health.gone_at == T0 and state.last_http_status == 410
    (event,) = storage.source_events()
    assert event.kind is SourceEventKind.GONE and "410" in event.detail
    storage.reset_source(state.id)  # the operator's way back
    poll(storage, config, T0 + timedelta(days=5))
    assert server.paths() == ["/gone.xml"] * 2


# --------------------------------------------------------------------------
# 7. Per-host limits: spacing between requests to one host
# --------------------------------------------------------------------------


def test_requests_to_one_host_are_spaced(server, storage):
    urls = [server.static(f"/{n}.xml", rss(title=str(n))) for n in range(4)]
    config = make_config(server, *urls, per_host_delay=0.3, per_host_concurrency=4)
    poll(storage, config, T0)
    starts = sorted(seen.at for seen in server.requests)
    assert len(starts) == 4
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # a lower bound only (the fetcher sleeps at least the delay between
    # starts), with room for one request's loopback latency
    assert min(gaps) >= 0.3 * 0.5


# --------------------------------------------------------------------------
# 8. The schedule and every source's state survive restarts
# --------------------------------------------------------------------------


def test_state_survives_a_restart(server, tmp_path):
    server.routes["/busy.xml"] = busy("3600")
    ok = server.conditional("/ok.xml", rss(ttl=120), '"e"', "Mon, 14 Jul 2025 GMT")
    path = str(tmp_path / "feedhub.db")
    config = make_config(server, server.url("/busy.xml"), ok)
    with Storage(path) as storage:
        poll(storage, config, T0)
        before = {s.url: s for s in storage.get_sources()}
    with Storage(path) as storage:
        after = {s.url: s for s in storage.get_sources()}
        assert after == before
        assert storage.host_holds(T0) == {"127.0.0.1": T0 + timedelta(hours=1)}
        assert poll(storage, config, T0 + timedelta(minutes=30), force=True) == {}
        assert after[ok].etag == '"e"'
        assert after[ok].health.feed_interval == 7200


def test_a_document_that_overflows_the_stack_fails_only_its_source(
    server, storage, monkeypatch
):
    deep = server.static("/deep.xml", rss(title="deep"))
    fine = server.static("/fine.xml", rss(title="fine"))
    real = pipeline.prepare_update

    def prepare(result, *args):
        if result.url == deep:
            raise RecursionError("maximum recursion depth exceeded")
        return real(result, *args)

    monkeypatch.setattr(pipeline, "prepare_update", prepare)
    results = poll(storage, make_config(server, deep, fine), T0)
    assert results[fine].status is PollStatus.OK
    assert results[deep].status is PollStatus.ERROR
    assert results[deep].error == (
        f"parse: document nested too deeply to process ({deep})"
    )
