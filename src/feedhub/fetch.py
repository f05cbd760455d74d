"""GET one feed over HTTP with validators, a deadline, a body cap and an SSRF guard."""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import logging
import socket
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus

from yarl import URL

from feedhub import __version__
from feedhub.exceptions import FetchError
from feedhub.types import FetchRequest, FetchResult, PollingConfig

# Importing aiohttp builds two default SSL contexts (aiohttp.connector), each
# loading the system CA store: ~40 ms and ~2 MiB in every process, paid even by
# a poll with no https source (issue 4). The store is not loaded while aiohttp
# is imported; fetches over TLS pass their own verified context instead
# (``_tls_context``), built on first use. Should some other code use aiohttp's
# defaults, certificate checks fail closed, never open.
_load_ca_store = vars(ssl.SSLContext).get("set_default_verify_paths")
setattr(ssl.SSLContext, "set_default_verify_paths", lambda self: None)  # noqa: B010
try:
    import aiohttp  # noqa: E402
    from aiohttp.abc import AbstractResolver, ResolveResult  # noqa: E402
    from aiohttp.resolver import ThreadedResolver  # noqa: E402
finally:
    if _load_ca_store is None:
        delattr(ssl.SSLContext, "set_default_verify_paths")
    else:  # pragma: no cover - CPython defines it on the C base class
        setattr(ssl.SSLContext, "set_default_verify_paths", _load_ca_store)  # noqa: B010

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_USER_AGENT = f"feedhub/{__version__} (+https://github.com/feedhub/feedhub)"

# Feed types first; generic XML/JSON next, since many servers label feeds so.
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
ACCEPT_ENCODING = "gzip, deflate, br"

# RFC 9110 §15.4: the redirect statuses whose Location we follow.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# RFC 9110 §15.4.2, §15.4.9: only these say the move is permanent.
PERMANENT_STATUSES = frozenset({301, 308})
# RFC 9110 §10.2.3: Retry-After is meaningful on these.
RETRY_AFTER_STATUSES = frozenset({429, 503})

# Response header limits: aiohttp's defaults are 8190 for both.
MAX_LINE_SIZE = 8 * 1024
MAX_FIELD_SIZE = 16 * 1024
CHUNK_SIZE = 64 * 1024

# Ranges that Python's ``is_global`` misses or that embed an IPv4 address.
CGNAT = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598
UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")  # RFC 4193
LINK_LOCAL_V6 = ipaddress.IPv6Network("fe80::/10")  # RFC 4291 §2.5.6
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 §2.1

REFUSED_HINT = "(set polling.allow_private_networks to allow)"


def is_address_allowed(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    port: int,
    host: str,
    allow: bool | tuple[str, ...],
) -> bool:
    """Tell whether feedhub may connect to ``ip:port``, reached as ``host``.

    Public addresses are always allowed. Non-public ones (loopback, private,
    link-local, CGNAT, multicast, reserved, unspecified, ULA, and IPv6 forms
    embedding such an IPv4 address) are allowed only when ``allow`` is True
    or one of its entries matches: ``"host"``, ``"host:port"``, an address,
    ``"address:port"`` (``"[v6]:port"``) or a CIDR network.

    Args:
        ip: the resolved address about to be connected to.
        port: the TCP port about to be connected to.
        host: the host name from the URL (or the IP literal itself).
        allow: ``polling.allow_private_networks``.

    Returns:
        True when the connection may go ahead.
    """
    if allow is True or _is_public(ip):
        return True
    if allow is False:
        return False
    return any(_matches(entry, ip, port, host) for entry in allow)


def _is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address can smuggle an IPv4 one: ::ffff:a.b.c.d (RFC 4291
        # §2.5.5.2), 6to4 2002:AABB:CCDD:: (RFC 3056), NAT64 (RFC 6052).
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return _is_public(embedded)
        if ip in UNIQUE_LOCAL or ip in LINK_LOCAL_V6 or ip.is_site_local:
            return False
    elif ip in CGNAT:
        return False
    # is_global alone lets multicast such as 224.0.1.1 through.
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


def _matches(entry: str, ip: IPAddress, port: int, host: str) -> bool:
    """Match one ``allow_private_networks`` exception against a connection."""
    entry = entry.strip().lower()
    entry_port: int | None = None
    if entry.startswith("[") and "]" in entry:
        # "[::1]" or "[::1]:8080"
        inside, _, rest = entry[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            entry_port = int(rest[1:])
        entry = inside
    elif entry.count(":") == 1:
        # "host:port" or "a.b.c.d:port"; bare IPv6 has several colons.
        name, _, port_text = entry.partition(":")
        if port_text.isdigit():
            entry, entry_port = name, int(port_text)
    if entry_port is not None and entry_port != port:
        return False
    ip = _unmap(ip)
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return entry.rstrip(".") == host.lower().rstrip(".")
    return ip.version == network.version and ip in network


def _unmap(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _refusal(ip: IPAddress) -> str:
    return f"refused private address {ip} {REFUSED_HINT}"


class _RefusedAddress(OSError):
    """Raised by the resolver so aiohttp carries it out as the DNS error's cause."""


class _GuardedResolver(AbstractResolver):
    """Resolve with the system resolver, then drop addresses feedhub may not use.

    Filtering here means the check runs on the address actually connected to,
    for every connection including each redirect hop, so DNS rebinding between
    a check and the connect is not possible.
    """

    def __init__(self, allow: bool | tuple[str, ...]) -> None:
        # ThreadedResolver (getaddrinfo) honours /etc/hosts and nsswitch;
        # aiohttp's DefaultResolver switches to aiodns when that is installed.
        self._inner = ThreadedResolver()
        self._allow = allow

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [
            result
            for result in results
            if is_address_allowed(
                ipaddress.ip_address(result["host"]), port, host, self._allow
            )
        ]
        if results and not allowed:
            raise _RefusedAddress(_refusal(ipaddress.ip_address(results[0]["host"])))
        return allowed

    async def close(self) -> None:
        await self._inner.close()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The verified TLS context of every https fetch; built once, on first use.

    What aiohttp's default would be: the system CA store, hostname checks,
    HTTP/1.1 offered by ALPN.
    """
    context = ssl.create_default_context()
    context.set_alpn_protocols(("http/1.1",))
    return context


class Fetcher:
    """Fetch feeds over one aiohttp session; use as ``async with Fetcher(c) as f``.

    Safe for many concurrent :meth:`fetch` calls on one event loop.
    """

    def __init__(self, config: PollingConfig) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        self._resolver: _GuardedResolver | None = None
        self._host_limits: dict[str, asyncio.Semaphore] = {}
        # loop time before which no new request may start, per host
        self._host_next: dict[str, float] = {}

    async def __aenter__(self) -> Fetcher:
        config = self._config
        # The connector does not close a resolver it was given.
        self._resolver = _GuardedResolver(config.allow_private_networks)
        connector = aiohttp.TCPConnector(
            resolver=self._resolver,
            limit=max(config.concurrency, 1),
            # Per-host limiting is done by our semaphores (by host, not by
            # host+port+TLS as aiohttp would), so it is off here.
            limit_per_host=0,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={
                "User-Agent": config.user_agent or DEFAULT_USER_AGENT,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            # A backstop only: the whole fetch runs under asyncio.timeout.
            timeout=aiohttp.ClientTimeout(total=config.timeout),
            auto_decompress=True,
            read_bufsize=CHUNK_SIZE,
            max_line_size=MAX_LINE_SIZE,
            max_field_size=MAX_FIELD_SIZE,
            trust_env=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """GET ``request.url``, conditionally, following redirects by hand.

        Args:
            request: the URL and the validators stored from the last fetch.

        Returns:
            The 200 or 304 result; a 304 keeps the stored validators unless
            it sends new ones.

        Raises:
            FetchError: on any HTTP status other than 200/304, a network or
                TLS error, the deadline, the body cap, too many redirects, a
                redirect loop, a non-http(s) URL or a refused address.
        """
        if self._session is None:
            raise RuntimeError("Fetcher.fetch() called outside 'async with'")
        timeout = self._config.timeout
        try:
            # The deadline starts once the first host slot is taken, so
            # queueing behind other fetches to the same host does not count.
            async with asyncio.timeout(None) as deadline:
                return await self._fetch(self._session, request, deadline)
        except TimeoutError as e:
            # Also aiohttp's own ServerTimeoutError, a TimeoutError subclass.
            raise FetchError(request.url, f"timed out after {timeout:g}s") from e
        except aiohttp.ClientError as e:
            raise FetchError(request.url, _describe(e)) from e

    async def _fetch(
        self,
        session: aiohttp.ClientSession,
        request: FetchRequest,
        deadline: asyncio.Timeout,
    ) -> FetchResult:
        headers: dict[str, str] = {}
        # RFC 9110 §13.1.2, §13.1.3: validators go back exactly as received.
        if request.etag is not None:
            headers["If-None-Match"] = request.etag
        if request.last_modified is not None:
            headers["If-Modified-Since"] = request.last_modified

        url = self._check_url(request.url, _parse_url(request.url))
        seen = {url}
        permanent = True
        hops = 0
        while True:
            host = url.raw_host or ""
            async with self._host_limit(host):
                await self._space(host)
                if deadline.when() is None:
                    loop = asyncio.get_running_loop()
                    deadline.reschedule(loop.time() + self._config.timeout)
                tls: ssl.SSLContext | bool = True
                if url.scheme == "https":
                    # loading the CA store blocks: off the event loop
                    tls = await asyncio.to_thread(_tls_context)
                async with session.get(
                    url, headers=headers, allow_redirects=False, ssl=tls
                ) as response:
                    status = response.status
                    if status not in REDIRECT_STATUSES:
                        return await self._result(request, response, permanent, hops)
                    location = response.headers.get("Location")
            target = self._redirect_target(request.url, url, location)
            hops += 1
            if target in seen:
                raise FetchError(request.url, "redirect loop", status=status)
            if hops > self._config.max_redirects:
                raise FetchError(request.url, "too many redirects", status=status)
            logger.debug(
                "redirect url=%s status=%s location=%s", request.url, status, target
            )
            permanent = permanent and status in PERMANENT_STATUSES
            seen.add(target)
            url = target

    async def _space(self, host: str) -> None:
        """Wait until ``per_host_delay`` has passed since the last start to host.

        Slots are reserved before sleeping, so concurrent fetches to one host
        start at least ``per_host_delay`` apart, in the order they got here.
        """
        delay = self._config.per_host_delay
        if delay <= 0:
            return
        key = host.lower().rstrip(".")
        now = asyncio.get_running_loop().time()
        start = max(now, self._host_next.get(key, now))
        self._host_next[key] = start + delay
        if start > now:
            await asyncio.sleep(start - now)

    def _host_limit(self, host: str) -> asyncio.Semaphore:
        key = host.lower().rstrip(".")
        limit = self._host_limits.get(key)
        if limit is None:
            limit = asyncio.Semaphore(max(self._config.per_host_concurrency, 1))
            self._host_limits[key] = limit
        return limit

    def _check_url(self, request_url: str, url: URL) -> URL:
        """Refuse non-http(s) URLs and private IP literals before connecting."""
        if url.scheme not in ("http", "https"):
            raise FetchError(request_url, f"unsupported scheme {url.scheme!r}")
        host = url.raw_host
        if not host:
            raise FetchError(request_url, "invalid URL: no host")
        # aiohttp skips the resolver for IP literals, so check them here.
        literal = _ip_literal(host)
        if literal is not None and not is_address_allowed(
            literal,
            url.port or 0,
            host,
            self._config.allow_private_networks,
        ):
            raise FetchError(request_url, _refusal(literal))
        return url

    def _redirect_target(self, request_url: str, url: URL, location: str | None) -> URL:
        if not location:
            raise FetchError(request_url, "redirect without Location")
        # RFC 9110 §10.2.2: a relative Location is resolved against the
        # request URL.
        try:
            target = url.join(URL(location))
        except ValueError as e:
            raise FetchError(request_url, "invalid redirect Location") from e
        if target.scheme not in ("http", "https"):
            raise FetchError(
                request_url, f"redirect to unsupported scheme {target.scheme!r}"
            )
        return self._check_url(request_url, target)

    async def _result(
        self,
        request: FetchRequest,
        response: aiohttp.ClientResponse,
        permanent: bool,
        hops: int,
    ) -> FetchResult:
        status = response.status
        headers = _headers(response.headers)
        if status not in (200, 304):
            raise FetchError(
                request.url,
                _status_text(status, response.reason),
                status=status,
                retry_after=(
                    _retry_after(
                        headers.get("retry-after"),
                        headers.get("date"),
                        datetime.now(UTC),
                    )
                    if status in RETRY_AFTER_STATUSES
                    else None
                ),
            )
        etag = headers.get("etag")
        last_modified = headers.get("last-modified")
        body = b""
        if status == 304:
            # RFC 9111 §4.3.4: a 304 without validators leaves ours as they were.
            etag = etag if etag is not None else request.etag
            if last_modified is None:
                last_modified = request.last_modified
        else:
            body = await self._read_body(request.url, response)
        final_url = str(response.url)
        logger.debug(
            "fetched url=%s status=%s bytes=%d", request.url, status, len(body)
        )
        return FetchResult(
            url=request.url,
            final_url=final_url,
            status=status,
            headers=headers,
            body=body,
            etag=etag,
            last_modified=last_modified,
            permanent_redirect=final_url if permanent and hops else None,
        )

    async def _read_body(self, url: str, response: aiohttp.ClientResponse) -> bytes:
        """Stream the decompressed body, stopping as soon as it passes the cap."""
        cap = self._config.max_body_size
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        # Content-Length counts encoded bytes; it bounds the decoded size only
        # when there is no Content-Encoding.
        if encoding == "identity" and (response.content_length or 0) > cap:
            raise FetchError(url, f"body over {cap} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(CHUNK_SIZE):
            size += len(chunk)
            if size > cap:
                raise FetchError(url, f"body over {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _parse_url(url: str) -> URL:
    try:
        return URL(url)
    except ValueError as e:
        raise FetchError(url, "invalid URL") from e


def _ip_literal(host: str) -> IPAddress | None:
    """Return the address when ``host`` is an IP literal, else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case the names; repeated fields are joined (RFC 9110 §5.3)."""
    result: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        result[key] = f"{result[key]}, {value}" if key in result else value
    return result


def _status_text(status: int, reason: str | None) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = (reason or "").strip()[:60]
    return f"{status} {phrase}".rstrip()


def _retry_after(value: str | None, date: str | None, now: datetime) -> float | None:
    """Turn a Retry-After value into seconds from now (RFC 9110 §10.2.3).

    Args:
        value: delta-seconds or an HTTP-date.
        date: the response's Date header; an HTTP-date is relative to it
            when present, so a skewed server clock does not matter.
        now: the current time, aware UTC.

    Returns:
        Non-negative seconds, or None when absent or unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    target = _http_date(value)
    if target is None:
        return None
    base = _http_date(date) if date is not None else None
    seconds = (target - (base or now)).total_seconds()
    return max(seconds, 0.0)


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # RFC 9110 §5.6.7: HTTP dates are GMT even when written "-0000".
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _describe(error: aiohttp.ClientError) -> str:
    """A short, specific reason for a network-level failure."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, _RefusedAddress):
            return str(cause)
        cause = cause.__cause__
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return f"DNS lookup failed for {error.host}"
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        cert = error.certificate_error
        reason = getattr(cert, "verify_message", None) or str(cert)
        return f"TLS certificate error for {error.host}: {reason}"
    if isinstance(error, aiohttp.ClientSSLError):
        return f"TLS error: {_os_reason(error)}"
    if isinstance(error, aiohttp.ClientConnectorError):
        if error.os_error.errno == errno.ECONNREFUSED:
            return "connection refused"
        return f"cannot connect: {_os_reason(error)}"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(error, aiohttp.ClientPayloadError):
        return "connection broken mid-body"
    if isinstance(error, aiohttp.ClientResponseError):
        # Raised while reading the response, e.g. a header over the limits.
        return f"invalid HTTP response: {error.message[:80]}"
    if isinstance(error, aiohttp.InvalidURL):
        return "invalid URL"
    if isinstance(error, aiohttp.ClientOSError):
        if error.errno == errno.ECONNRESET:
            return "connection reset"
        return f"network error: {_os_reason(error)}"
    return f"network error: {type(error).__name__}"


def _os_reason(error: OSError) -> str:
    reason = error.strerror or str(error) or type(error).__name__
    return reason[:100]
