"""Tests for feedhub.fetch against real aiohttp.web servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import ipaddress
import socket
import ssl
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey

from feedhub.exceptions import FetchError
from feedhub.fetch import (
    DEFAULT_USER_AGENT,
    Fetcher,
    _describe,
    _retry_after,
    is_address_allowed,
)
from feedhub.types import FetchRequest, FetchResult, PollingConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FEED = b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'/>"
ALLOW = PollingConfig(allow_private_networks=True, timeout=5.0)
DATA = Path(__file__).parent / "data" / "fetch"
REFUSED_127 = (
    "refused private address 127.0.0.1 (set polling.allow_private_networks to allow)"
)


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def serve(
    routes: dict[str, Handler], host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """Serve ``routes`` (path -> handler) on ``host``, port 0; yield the base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


async def fetch(
    config: PollingConfig, url: str, etag: str | None = None, lm: str | None = None
) -> FetchResult:
    async with Fetcher(config) as fetcher:
        return await fetcher.fetch(FetchRequest(url, etag=etag, last_modified=lm))


async def fetch_error(config: PollingConfig, url: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetch(config, url)
    return info.value


def text(body: bytes = FEED, **headers: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    return handler


def redirect(status: int, location: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})

    return handler


def status(code: int, **headers: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=code, headers=headers)

    return handler


# --------------------------------------------------------------------------
# 200 and 304
# --------------------------------------------------------------------------


def test_200_returns_body_validators_and_lowercased_headers() -> None:
    seen: list[web.Request] = []

    async def feed(request: web.Request) -> web.Response:
        seen.append(request)
        return web.Response(
            body=FEED,
            headers={
                "ETag": 'W/"v1"',
                "Last-Modified": "Tue, 15 Nov 1994 12:45:26 GMT",
                "X-Custom": "yes",
                "Set-Cookie": "session=1",
            },
        )

    async def scenario() -> None:
        async with serve({"/feed": feed}) as base:
            url = f"{base}/feed?b=2&a=1"
            async with Fetcher(ALLOW) as fetcher:
                result = await fetcher.fetch(FetchRequest(url))
                # a second fetch must not send back the cookie of the first
                await fetcher.fetch(FetchRequest(url))
        assert result.status == 200
        assert result.body == FEED
        assert result.final_url == url
        assert result.etag == 'W/"v1"'
        assert result.last_modified == "Tue, 15 Nov 1994 12:45:26 GMT"
        assert result.headers["x-custom"] == "yes"
        assert all(name == name.lower() for name in result.headers)
        assert result.permanent_redirect is None
        assert not result.not_modified
        first, second = seen
        assert first.headers["User-Agent"] == DEFAULT_USER_AGENT
        assert first.headers["Accept"].startswith(
            "application/atom+xml, application/rss+xml, application/feed+json"
        )
        assert first.headers["Accept-Encoding"] == "gzip, deflate, br"
        assert first.path_qs == "/feed?b=2&a=1"
        assert "If-None-Match" not in first.headers
        assert "If-Modified-Since" not in first.headers
        for request in (first, second):
            assert "Cookie" not in request.headers
            assert "Referer" not in request.headers

    run(scenario())


def test_default_user_agent_names_feedhub() -> None:
    assert DEFAULT_USER_AGENT.startswith("feedhub/")
    assert "(+https://github.com/feedhub/feedhub)" in DEFAULT_USER_AGENT


def test_configured_user_agent_is_sent() -> None:
    agents: list[str] = []

    async def feed(request: web.Request) -> web.Response:
        agents.append(request.headers["User-Agent"])
        return web.Response(body=FEED)

    async def scenario() -> None:
        config = PollingConfig(allow_private_networks=True, user_agent="bot/2")
        async with serve({"/": feed}) as base:
            await fetch(config, base + "/")

    run(scenario())
    assert agents == ["bot/2"]


def conditional(etag: str, lm: str, **reply: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        if (
            request.headers.get("If-None-Match") == etag
            and request.headers.get("If-Modified-Since") == lm
        ):
            return web.Response(status=304, headers=reply)
        return web.Response(body=FEED, headers={"ETag": '"new"'})

    return handler


def test_304_sends_validators_verbatim_and_keeps_them() -> None:
    etag = 'W/"a b\\"c"'
    lm = "Sun, 06 Nov 1994 08:49:37 GMT"

    async def scenario() -> FetchResult:
        async with serve({"/": conditional(etag, lm)}) as base:
            return await fetch(ALLOW, base + "/", etag=etag, lm=lm)

    result = run(scenario())
    assert result.status == 304
    assert result.not_modified
    assert result.body == b""
    assert result.etag == etag
    assert result.last_modified == lm


def test_304_with_new_validators_returns_them() -> None:
    etag, lm = '"old"', "Sun, 06 Nov 1994 08:49:37 GMT"
    handler = conditional(
        etag, lm, ETag='"newer"', **{"Last-Modified": "Mon, 07 Nov 1994 08:49:37 GMT"}
    )

    async def scenario() -> FetchResult:
        async with serve({"/": handler}) as base:
            return await fetch(ALLOW, base + "/", etag=etag, lm=lm)

    result = run(scenario())
    assert result.status == 304
    assert result.etag == '"newer"'
    assert result.last_modified == "Mon, 07 Nov 1994 08:49:37 GMT"


FEED_100 = FEED * 100
# Made with brotli.compress(); read from files because brotli ships no type
# information (tests/data/fetch/feed.xml.br is FEED_100).
ENCODED = {
    "gzip": gzip.compress(FEED_100),
    "deflate": zlib.compress(FEED_100),
    "br": (DATA / "feed.xml.br").read_bytes(),
}


@pytest.mark.parametrize("encoding", sorted(ENCODED))
def test_body_is_decompressed(encoding: str) -> None:
    async def scenario() -> FetchResult:
        handler = text(ENCODED[encoding], **{"Content-Encoding": encoding})
        async with serve({"/": handler}) as base:
            return await fetch(ALLOW, base + "/")

    result = run(scenario())
    assert result.body == FEED_100
    assert result.headers["content-encoding"] == encoding


# --------------------------------------------------------------------------
# Redirects
# --------------------------------------------------------------------------


def test_permanent_chain_sets_permanent_redirect() -> None:
    routes = {
        "/a": redirect(301, "/b"),
        "/b": redirect(308, "c"),  # relative to /b -> /c
        "/c": text(),
    }

    async def scenario() -> tuple[str, FetchResult]:
        async with serve(routes) as base:
            return base, await fetch(ALLOW, base + "/a")

    base, result = run(scenario())
    assert result.status == 200
    assert result.body == FEED
    assert result.url == base + "/a"
    assert result.final_url == base + "/c"
    assert result.permanent_redirect == base + "/c"


@pytest.mark.parametrize("temporary", [302, 303, 307])
def test_temporary_hop_clears_permanent_redirect(temporary: int) -> None:
    routes = {"/a": redirect(301, "/b"), "/b": redirect(temporary, "/c"), "/c": text()}

    async def scenario() -> tuple[str, FetchResult]:
        async with serve(routes) as base:
            return base, await fetch(ALLOW, base + "/a")

    base, result = run(scenario())
    assert result.final_url == base + "/c"
    assert result.permanent_redirect is None


def test_redirect_keeps_conditional_headers_and_absolute_location() -> None:
    async def scenario() -> FetchResult:
        async with serve({"/": conditional('"e"', "x")}) as target:
            routes = {"/old": redirect(301, target + "/")}
            async with serve(routes) as base:
                return await fetch(ALLOW, base + "/old", etag='"e"', lm="x")

    result = run(scenario())
    assert result.status == 304
    assert result.permanent_redirect == result.final_url
    assert result.etag == '"e"'


def chain(length: int) -> dict[str, Handler]:
    routes = {f"/{i}": redirect(302, f"/{i + 1}") for i in range(length)}
    routes[f"/{length}"] = text()
    return routes


def test_max_redirects_followed() -> None:
    config = PollingConfig(allow_private_networks=True, max_redirects=3)

    async def scenario() -> FetchResult:
        async with serve(chain(3)) as base:
            return await fetch(config, base + "/0")

    assert run(scenario()).final_url.endswith("/3")


def test_too_many_redirects() -> None:
    config = PollingConfig(allow_private_networks=True, max_redirects=3)

    async def scenario() -> FetchError:
        async with serve(chain(4)) as base:
            return await fetch_error(config, base + "/0")

    error = run(scenario())
    assert error.message == "too many redirects"
    assert error.status == 302


def test_redirect_loop() -> None:
    routes = {"/a": redirect(302, "/b"), "/b": redirect(301, "/a")}

    async def scenario() -> FetchError:
        async with serve(routes) as base:
            return await fetch_error(ALLOW, base + "/a")

    assert run(scenario()).message == "redirect loop"


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("ftp://example.com/feed", "redirect to unsupported scheme 'ftp'"),
        ("file:///etc/passwd", "redirect to unsupported scheme 'file'"),
        ("", "redirect without Location"),
    ],
)
def test_bad_redirect_target(location: str, message: str) -> None:
    async def scenario() -> FetchError:
        async with serve({"/": redirect(302, location)}) as base:
            return await fetch_error(ALLOW, base + "/")

    assert run(scenario()).message == message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/feed", "unsupported scheme 'ftp'"),
        ("file:///etc/passwd", "unsupported scheme 'file'"),
        ("http:///nohost", "invalid URL: no host"),
    ],
)
def test_bad_url(url: str, message: str) -> None:
    error = run(fetch_error(ALLOW, url))
    assert error.message == message
    assert error.url == url


# --------------------------------------------------------------------------
# Status errors and Retry-After
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (404, "404 Not Found"),
        (410, "410 Gone"),
        (500, "500 Internal Server Error"),
        (204, "204 No Content"),
        (300, "300 Multiple Choices"),
    ],
)
def test_status_errors(code: int, message: str) -> None:
    async def scenario() -> tuple[str, FetchError]:
        async with serve({"/": status(code)}) as base:
            return base, await fetch_error(ALLOW, base + "/")

    base, error = run(scenario())
    assert error.message == message
    assert error.status == code
    assert error.retry_after is None
    assert str(error) == f"fetch: {message} ({base}/)"


def test_retry_after_seconds_on_429() -> None:
    async def scenario() -> FetchError:
        async with serve({"/": status(429, **{"Retry-After": "120"})}) as base:
            return await fetch_error(ALLOW, base + "/")

    error = run(scenario())
    assert error.message == "429 Too Many Requests"
    assert error.retry_after == 120.0


def test_retry_after_date_is_relative_to_response_date_on_503() -> None:
    # A server clock a day behind ours must not matter.
    date = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)
    headers = {
        "Date": format_datetime(date, usegmt=True),
        "Retry-After": format_datetime(date + timedelta(seconds=90), usegmt=True),
    }

    async def scenario() -> FetchError:
        async with serve({"/": status(503, **headers)}) as base:
            return await fetch_error(ALLOW, base + "/")

    error = run(scenario())
    assert error.status == 503
    assert error.retry_after == 90.0


def test_retry_after_ignored_on_other_statuses() -> None:
    async def scenario() -> FetchError:
        async with serve({"/": status(500, **{"Retry-After": "60"})}) as base:
            return await fetch_error(ALLOW, base + "/")

    assert run(scenario()).retry_after is None


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        (None, None, None),
        ("0", None, 0.0),
        (" 30 ", None, 30.0),
        ("soon", None, None),
        ("-5", None, None),
        ("Wed, 01 May 2024 12:02:00 GMT", None, 120.0),  # relative to now
        ("Wed, 01 May 2024 12:02:00 -0000", None, 120.0),
        ("Wed, 01 May 2024 11:00:00 GMT", None, 0.0),  # in the past
        ("Wed, 01 May 2024 12:02:00 GMT", "Wed, 01 May 2024 12:01:00 GMT", 60.0),
        ("Wed, 01 May 2024 12:02:00 GMT", "garbage", 120.0),
    ],
)
def test_retry_after_parsing(
    value: str | None, date: str | None, expected: float | None
) -> None:
    assert _retry_after(value, date, NOW) == expected


# --------------------------------------------------------------------------
# Deadline
# --------------------------------------------------------------------------


async def trickle(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.content_length = 100
    await response.prepare(request)
    for _ in range(100):
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await response.write(b"x")
        await asyncio.sleep(1.0)
    return response


def test_trickling_server_cannot_stretch_the_deadline() -> None:
    config = PollingConfig(allow_private_networks=True, timeout=1.5)

    async def scenario() -> tuple[FetchError, float]:
        async with serve({"/": trickle}) as base:
            start = time.monotonic()
            error = await fetch_error(config, base + "/")
            return error, time.monotonic() - start

    error, elapsed = run(scenario())
    assert error.message == "timed out after 1.5s"
    assert error.status is None
    assert 1.4 < elapsed < 3.0


def test_deadline_covers_redirect_hops() -> None:
    config = PollingConfig(allow_private_networks=True, timeout=1.5)

    async def slow_redirect(request: web.Request) -> web.Response:
        await asyncio.sleep(0.9)
        return web.Response(status=302, headers={"Location": "/slow2"})

    async def slow_feed(request: web.Request) -> web.Response:
        await asyncio.sleep(0.9)
        return web.Response(body=FEED)

    async def scenario() -> tuple[FetchError, float]:
        async with serve({"/slow1": slow_redirect, "/slow2": slow_feed}) as base:
            start = time.monotonic()
            error = await fetch_error(config, base + "/slow1")
            return error, time.monotonic() - start

    error, elapsed = run(scenario())
    assert error.message == "timed out after 1.5s"
    assert elapsed < 2.5


@contextlib.asynccontextmanager
async def raw_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A bare TCP server for misbehaviour aiohttp.web will not produce."""

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            await handle(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def test_server_that_never_answers_times_out() -> None:
    config = PollingConfig(allow_private_networks=True, timeout=1.0)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await reader.read()  # until the client gives up and closes

    async def scenario() -> tuple[FetchError, float]:
        async with raw_server(silent) as base:
            start = time.monotonic()
            error = await fetch_error(config, base + "/")
            return error, time.monotonic() - start

    error, elapsed = run(scenario())
    assert error.message == "timed out after 1s"
    assert elapsed < 3.0


# --------------------------------------------------------------------------
# Body cap and header limits
# --------------------------------------------------------------------------

CAP = 1024 * 1024


def capped() -> PollingConfig:
    return PollingConfig(allow_private_networks=True, max_body_size=CAP, timeout=10)


def streamed(body: bytes, **headers: str) -> Handler:
    """Send ``body`` chunked, so there is no Content-Length to check first."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 65536):
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            await response.write(body[start : start + 65536])
        return response

    return handler


def test_body_at_cap_is_accepted() -> None:
    async def scenario() -> FetchResult:
        async with serve({"/": streamed(b"x" * CAP)}) as base:
            return await fetch(capped(), base + "/")

    assert len(run(scenario()).body) == CAP


def test_streamed_body_over_cap() -> None:
    async def scenario() -> FetchError:
        async with serve({"/": streamed(b"x" * (CAP + 1))}) as base:
            return await fetch_error(capped(), base + "/")

    assert run(scenario()).message == f"body over {CAP} bytes"


def test_content_length_over_cap_fails_before_reading() -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        # Declares 100 MiB, sends 1 KiB, then stalls: reading would time out.
        response = web.StreamResponse()
        response.content_length = 100 * CAP
        await response.prepare(request)
        await response.write(b"x" * 1024)
        for _ in range(50):
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            await asyncio.sleep(0.2)
        return response

    async def scenario() -> tuple[FetchError, float]:
        async with serve({"/": huge}) as base:
            start = time.monotonic()
            error = await fetch_error(capped(), base + "/")
            return error, time.monotonic() - start

    error, elapsed = run(scenario())
    assert error.message == f"body over {CAP} bytes"
    assert elapsed < 3.0


def bomb(encoding: str) -> bytes:
    """50 MiB of zeros, compressed to a few KiB (gzip) or 89 bytes (brotli)."""
    if encoding == "gzip":
        return gzip.compress(bytes(50 * 1024 * 1024), 9)
    return (DATA / "zeros-50mib.br").read_bytes()


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_decompression_bomb(encoding: str) -> None:
    payload = bomb(encoding)
    assert len(payload) < CAP  # so only the decompressed size can trip the cap

    async def scenario() -> tuple[FetchError, float, int]:
        async with serve(
            {"/": text(payload, **{"Content-Encoding": encoding})}
        ) as base:
            tracemalloc.start()
            try:
                start = time.monotonic()
                error = await fetch_error(capped(), base + "/")
                elapsed = time.monotonic() - start
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            return error, elapsed, peak

    error, elapsed, peak = run(scenario())
    assert error.message == f"body over {CAP} bytes"
    assert elapsed < 5.0
    # Inflating the whole bomb would peak over 50 MiB; streaming stays near 1.5.
    assert peak < 8 * 1024 * 1024


def test_megabyte_header_fails_cleanly() -> None:
    async def scenario() -> FetchError:
        handler = text(FEED, **{"X-Big": "a" * 1_000_000})
        async with serve({"/": handler}) as base:
            return await fetch_error(ALLOW, base + "/")

    error = run(scenario())
    assert error.message.startswith("invalid HTTP response: ")
    assert error.status is None
    assert len(error.message) < 120


def test_header_under_field_limit_is_accepted() -> None:
    async def scenario() -> FetchResult:
        async with serve({"/": text(FEED, **{"X-Big": "a" * 12_000})}) as base:
            return await fetch(ALLOW, base + "/")

    assert len(run(scenario()).headers["x-big"]) == 12_000


# --------------------------------------------------------------------------
# SSRF guard
# --------------------------------------------------------------------------


def counting(hits: list[str]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=FEED)

    return handler


def test_loopback_literal_refused_by_default() -> None:
    hits: list[str] = []

    async def scenario() -> FetchError:
        async with serve({"/": counting(hits)}) as base:
            return await fetch_error(PollingConfig(), base + "/")

    error = run(scenario())
    assert error.message == REFUSED_127
    assert error.status is None
    assert hits == []


@pytest.mark.parametrize(
    "host", ["[::ffff:127.0.0.1]", "[::1]", "0.0.0.0", "10.1.2.3", "[fd00::1]"]
)
def test_private_literals_refused_without_connecting(host: str) -> None:
    error = run(fetch_error(PollingConfig(), f"http://{host}:1/"))
    assert error.message.startswith("refused private address ")


def test_hostname_resolving_to_loopback_refused() -> None:
    hits: list[str] = []

    async def scenario() -> FetchError:
        async with serve({"/": counting(hits)}) as base:
            url = f"http://localhost:{port_of(base)}/"
            return await fetch_error(PollingConfig(), url)

    error = run(scenario())
    assert error.message.startswith("refused private address ")
    assert error.message.endswith("(set polling.allow_private_networks to allow)")
    assert hits == []


def test_private_allowed_with_true() -> None:
    hits: list[str] = []

    async def scenario() -> None:
        async with serve({"/": counting(hits)}) as base:
            await fetch(PollingConfig(allow_private_networks=True), base + "/")
            url = f"http://localhost:{port_of(base)}/"
            await fetch(PollingConfig(allow_private_networks=True), url)

    run(scenario())
    assert hits == ["/", "/"]


def test_exception_for_exact_host_and_port() -> None:
    hits: list[str] = []

    async def scenario() -> FetchError:
        async with serve({"/": counting(hits)}) as base:
            port = port_of(base)
            allowed = PollingConfig(allow_private_networks=(f"127.0.0.1:{port}",))
            await fetch(allowed, base + "/")
            other = PollingConfig(allow_private_networks=(f"127.0.0.1:{port + 1}",))
            return await fetch_error(other, base + "/")

    assert run(scenario()).message == REFUSED_127
    assert hits == ["/"]


def test_exception_by_hostname_goes_through_resolver() -> None:
    hits: list[str] = []

    async def scenario() -> None:
        async with serve({"/": counting(hits)}) as base:
            config = PollingConfig(allow_private_networks=("localhost",))
            await fetch(config, f"http://localhost:{port_of(base)}/")

    run(scenario())
    assert hits == ["/"]


def test_redirect_to_other_loopback_address_refused() -> None:
    hits: list[str] = []

    async def scenario() -> FetchError:
        async with serve({"/": counting(hits)}, host="127.0.0.2") as inner:
            port = port_of(inner)
            async with serve({"/": redirect(302, inner + "/")}) as outer:
                config = PollingConfig(
                    allow_private_networks=(f"127.0.0.1:{port_of(outer)}",)
                )
                error = await fetch_error(config, outer + "/")
                # positive control: the same redirect is followed when allowed
                ok = PollingConfig(
                    allow_private_networks=(f"127.0.0.1:{port_of(outer)}", inner[7:])
                )
                assert (await fetch(ok, outer + "/")).final_url == inner + "/"
                assert port
                return error

    error = run(scenario())
    assert error.message == (
        "refused private address 127.0.0.2 "
        "(set polling.allow_private_networks to allow)"
    )
    assert hits == ["/"]


def test_redirect_to_localhost_refused_at_resolution() -> None:
    hits: list[str] = []

    async def scenario() -> FetchError:
        async with serve({"/": counting(hits)}) as inner:
            target = f"http://localhost:{port_of(inner)}/"
            async with serve({"/": redirect(301, target)}) as outer:
                config = PollingConfig(
                    allow_private_networks=(f"127.0.0.1:{port_of(outer)}",)
                )
                return await fetch_error(config, outer + "/")

    error = run(scenario())
    assert error.message.startswith("refused private address ")
    assert hits == []


PRIVATE = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.255",
    "224.0.0.1",
    "224.0.1.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "0.0.0.0",
    "192.0.2.1",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%1",
    "fec0::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:100.64.0.1",
    "2002:7f00:1::",
    "2002:a00:1::",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.0",
    "172.32.0.1",
    "2001:4860:4860::8888",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", PRIVATE)
def test_private_ranges_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not is_address_allowed(ip, 80, "example.com", False)
    assert not is_address_allowed(ip, 80, "example.com", ())
    assert not is_address_allowed(ip, 80, "example.com", ("example.org", "1.2.3.4"))
    assert is_address_allowed(ip, 80, "example.com", True)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert is_address_allowed(ip, 443, "example.com", False)


V4 = ipaddress.IPv4Address("127.0.0.1")
MAPPED = ipaddress.IPv6Address("::ffff:127.0.0.1")
V6 = ipaddress.IPv6Address("::1")


@pytest.mark.parametrize(
    ("ip", "port", "host", "entry", "allowed"),
    [
        (V4, 8081, "127.0.0.1", "127.0.0.1:8081", True),
        (V4, 8082, "127.0.0.1", "127.0.0.1:8081", False),
        (V4, 8082, "127.0.0.1", "127.0.0.1", True),
        (V4, 80, "localhost", "127.0.0.0/8", True),
        (V4, 80, "localhost", "10.0.0.0/8", False),
        (V4, 80, "localhost", "127.0.0.1/32", True),
        (ipaddress.IPv4Address("127.0.0.2"), 80, "x", "127.0.0.1/32", False),
        (V4, 80, "localhost", "localhost", True),
        (V4, 80, "LocalHost.", "localhost", True),
        (V4, 80, "localhost", "LOCALHOST:80", True),
        (V4, 81, "localhost", "localhost:80", False),
        (V4, 80, "other", "localhost", False),
        (MAPPED, 8081, "x", "127.0.0.1:8081", True),
        (MAPPED, 80, "x", "127.0.0.0/8", True),
        (MAPPED, 80, "x", "10.0.0.0/8", False),
        (V6, 80, "x", "::1", True),
        (V6, 80, "x", "[::1]:80", True),
        (V6, 81, "x", "[::1]:80", False),
        (V6, 80, "x", "[::1]", True),
        (V6, 80, "x", "::/127", True),
        (V6, 80, "x", "127.0.0.1", False),
        (V4, 80, "x", "::1", False),
        (ipaddress.IPv6Address("fd00::5"), 80, "x", "fc00::/7", True),
    ],
)
def test_allow_exceptions(ip, port, host, entry, allowed) -> None:
    assert is_address_allowed(ip, port, host, (entry,)) is allowed
    # an unrelated entry before it changes nothing
    assert is_address_allowed(ip, port, host, ("nothing.example", entry)) is allowed


# --------------------------------------------------------------------------
# Network errors
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connection_refused() -> None:
    error = run(fetch_error(ALLOW, f"http://127.0.0.1:{free_port()}/"))
    assert error.message == "connection refused"
    assert error.status is None


def test_connection_reset_mid_body() -> None:
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        await writer.drain()
        writer.transport.abort()

    async def scenario() -> FetchError:
        async with raw_server(half) as base:
            return await fetch_error(ALLOW, base + "/")

    assert run(scenario()).message == "connection broken mid-body"


def test_garbage_response() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()

    async def scenario() -> FetchError:
        async with raw_server(garbage) as base:
            return await fetch_error(ALLOW, base + "/")

    assert run(scenario()).message.startswith("invalid HTTP response: ")


def test_disconnect_before_response() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await reader.readuntil(b"\r\n\r\n")

    async def scenario() -> FetchError:
        async with raw_server(hang_up) as base:
            return await fetch_error(ALLOW, base + "/")

    assert run(scenario()).message == "server disconnected"


def test_tls_error() -> None:
    async def scenario() -> FetchError:
        async with serve({"/": text()}) as base:
            return await fetch_error(ALLOW, base.replace("http:", "https:") + "/")

    assert run(scenario()).message.startswith("TLS error: ")


def test_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_such_host(*args: object, **kwargs: object) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def scenario() -> FetchError:
        # Never ask a real DNS server: fail the lookup on this loop.
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
        return await fetch_error(ALLOW, "http://feed.example/")

    error = run(scenario())
    assert error.message == "DNS lookup failed for feed.example"


def test_programming_errors_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object, **kwargs: object) -> Any:
        raise ZeroDivisionError

    async def scenario() -> None:
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", broken)
        with pytest.raises(ZeroDivisionError):
            await fetch(ALLOW, "http://feed.example/")

    run(scenario())


def test_fetch_outside_context_manager_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        run(Fetcher(ALLOW).fetch(FetchRequest("http://example.com/")))


# --------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------


class Gauge:
    """Counts requests in flight, per server and overall."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.by_host: dict[str, int] = {}
        self.peak_by_host: dict[str, int] = {}

    def handler(self, name: str) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            self.now += 1
            self.by_host[name] = self.by_host.get(name, 0) + 1
            self.peak = max(self.peak, self.now)
            self.peak_by_host[name] = max(
                self.peak_by_host.get(name, 0), self.by_host[name]
            )
            await asyncio.sleep(0.15)
            self.now -= 1
            self.by_host[name] -= 1
            return web.Response(body=FEED)

        return handle


def test_per_host_concurrency_limit() -> None:
    gauge = Gauge()
    config = PollingConfig(
        allow_private_networks=True, per_host_delay=0, per_host_concurrency=2
    )

    async def scenario() -> list[FetchResult]:
        async with serve({"/{n}": gauge.handler("a")}) as base:
            async with Fetcher(config) as fetcher:
                return await asyncio.gather(
                    *(fetcher.fetch(FetchRequest(f"{base}/{n}")) for n in range(6))
                )

    results = run(scenario())
    assert [r.status for r in results] == [200] * 6
    assert gauge.peak == 2


def test_hosts_are_limited_independently() -> None:
    gauge = Gauge()
    config = PollingConfig(
        allow_private_networks=True, per_host_delay=0, per_host_concurrency=1
    )

    async def scenario() -> None:
        async with (
            serve({"/{n}": gauge.handler("a")}) as one,
            serve({"/{n}": gauge.handler("b")}, host="127.0.0.2") as two,
            Fetcher(config) as fetcher,
        ):
            urls = [f"{base}/{n}" for base in (one, two) for n in range(3)]
            await asyncio.gather(*(fetcher.fetch(FetchRequest(u)) for u in urls))

    run(scenario())
    assert gauge.peak_by_host == {"a": 1, "b": 1}
    assert gauge.peak == 2


# --------------------------------------------------------------------------
# Error descriptions that a local server cannot easily provoke
# --------------------------------------------------------------------------


def expired_certificate() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    # set by the ssl module on a real verification failure
    error.verify_message = "certificate has expired"
    return error


KEY = ConnectionKey("feed.example", 443, True, True, None, None, None)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            aiohttp.ClientConnectorCertificateError(KEY, expired_certificate()),
            "TLS certificate error for feed.example: certificate has expired",
        ),
        (
            aiohttp.ClientConnectorError(
                KEY, OSError(errno.EHOSTUNREACH, "No route to host")
            ),
            "cannot connect: No route to host",
        ),
        (
            aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer"),
            "connection reset",
        ),
        (
            aiohttp.ClientOSError(errno.EPIPE, "Broken pipe"),
            "network error: Broken pipe",
        ),
        (aiohttp.InvalidURL("http://[x"), "invalid URL"),
        (aiohttp.ClientError(), "network error: ClientError"),
    ],
)
def test_describe_network_errors(error: aiohttp.ClientError, message: str) -> None:
    assert _describe(error) == message


def test_unknown_status_uses_server_reason() -> None:
    async def odd(request: web.Request) -> web.Response:
        return web.Response(status=599, reason="Network Connect Timeout")

    async def scenario() -> FetchError:
        async with serve({"/": odd}) as base:
            return await fetch_error(ALLOW, base + "/")

    error = run(scenario())
    assert error.message == "599 Network Connect Timeout"
    assert error.status == 599


def test_unparsable_url() -> None:
    error = run(fetch_error(ALLOW, "http://[::1/feed"))
    assert error.message == "invalid URL"


def test_unparsable_redirect_location() -> None:
    async def scenario() -> FetchError:
        async with serve({"/": redirect(302, "http://[::1/feed")}) as base:
            return await fetch_error(ALLOW, base + "/")

    assert run(scenario()).message == "invalid redirect Location"


def test_entry_with_non_numeric_port_is_a_host_name() -> None:
    assert not is_address_allowed(V4, 80, "localhost", ("localhost:http",))
    assert is_address_allowed(V4, 80, "localhost:http", ("localhost:http",))


def test_fetcher_can_be_reopened_and_closed_twice() -> None:
    async def scenario() -> None:
        fetcher = Fetcher(ALLOW)
        async with serve({"/": text()}) as base:
            for _ in range(2):
                async with fetcher:
                    result = await fetcher.fetch(FetchRequest(base + "/"))
                    assert result.body == FEED
        await fetcher.__aexit__(None, None, None)
        with pytest.raises(RuntimeError):
            await fetcher.fetch(FetchRequest("http://example.com/"))

    run(scenario())
