"""Parse durations, sizes, URLs and host names for feeds.yaml. No business logic."""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from types import MappingProxyType
from urllib.parse import urlsplit

__all__ = [
    "format_duration",
    "network_exception",
    "parse_duration",
    "parse_size",
    "url_key",
    "url_problem",
]

_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION_RE = re.compile(
    rf"(?:{_NUMBER}d)?\s*(?:{_NUMBER}h)?\s*(?:{_NUMBER}m)?\s*(?:{_NUMBER}s)?"
)
_DURATION_UNITS = (86400, 3600, 60, 1)
_SIZE_RE = re.compile(rf"{_NUMBER}\s*([a-z]*)")
_SIZE_UNITS = MappingProxyType({
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
})  # fmt: skip
# RFC 1123 §2.1 host name labels.
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def parse_duration(text: str | int | float) -> float:
    """Convert a duration such as ``"90s"``, ``"1h30m"`` or ``45`` to seconds.

    Units are ``d``, ``h``, ``m`` and ``s``, largest first; a bare number is seconds.

    Raises:
        ValueError: the duration is malformed, negative or not finite.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration")
    if isinstance(text, int | float):
        if not 0 <= text < float("inf"):
            raise ValueError(f"{text!r} is not a duration of zero or more seconds")
        return float(text)
    value = text.strip().lower()
    if re.fullmatch(_NUMBER, value):
        return float(value)
    match = _DURATION_RE.fullmatch(value)
    if not value or match is None:
        raise ValueError(
            f"{text!r} is not a duration; write e.g. 90s, 30m, 1h, 1d, 1h30m "
            "or a number of seconds"
        )
    return float(
        sum(
            Decimal(part) * unit
            for part, unit in zip(match.groups(), _DURATION_UNITS, strict=True)
            if part is not None
        )
    )


def format_duration(seconds: float) -> str:
    """Format seconds the way durations are written in feeds.yaml, e.g. 1h30m."""
    parts, rest = [], seconds
    for unit, size in zip("dhm", _DURATION_UNITS, strict=False):
        if rest >= size:
            count, rest = divmod(rest, size)
            parts.append(f"{count:g}{unit}")
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)


def parse_size(text: str | int) -> int:
    """Convert a size such as ``"16MiB"``, ``"1GB"`` or ``1000`` to bytes.

    KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB powers of 1024 (IEC 80000-13);
    a bare number is bytes. Units are case-insensitive.

    Raises:
        ValueError: the size is malformed, negative or not a whole number of bytes.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text!r} is not a size of zero or more bytes")
        return text
    match = _SIZE_RE.fullmatch(text.strip().lower())
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise ValueError(
            f"{text!r} is not a size; write e.g. 16MiB, 512KiB, 1GB or a number of "
            "bytes (units: B, KB, MB, GB, TB = 1000s; KiB, MiB, GiB, TiB = 1024s)"
        )
    size = Decimal(match.group(1)) * _SIZE_UNITS[match.group(2)]
    if size != size.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(size)


def url_problem(url: str) -> str | None:
    """Say what makes ``url`` unusable as a feed URL, or return None if nothing."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an http(s) URL"
    if not parts.hostname:
        return "has no host name"
    return None


def url_key(url: str) -> str:
    """Reduce a URL to what makes two sources the same (RFC 3986 §6.2.2-6.2.3)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    host = (parts.hostname or "") + (f":{port}" if port else "")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}{parts.path or '/'}{query}"


def network_exception(text: str) -> str:
    """Check one ``allow_private_networks`` entry and return its canonical form.

    Raises:
        ValueError: not a host name, host:port, [IPv6]:port or CIDR network.
    """
    value = text.strip().lower()
    hint = (
        f"{text!r} is not a host name, host:port or CIDR network "
        "(e.g. 'localhost', 'feeds.lan:8080', '[::1]:8080', '10.0.0.0/8')"
    )
    if "/" in value:
        try:
            return str(ipaddress.ip_network(value))
        except ValueError as e:
            raise ValueError(f"{hint}: {e}") from e
    host, port = value, None
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep:
            raise ValueError(hint)
    elif value.count(":") == 1:
        host, port = value.split(":")
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{hint}: port must be 1..65535")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if value.startswith("[") or not _is_hostname(host):
            raise ValueError(hint) from None
    else:
        host = f"[{address}]" if address.version == 6 and port else str(address)
    return f"{host}:{int(port)}" if port else host


def _is_hostname(host: str) -> bool:
    host = host.removesuffix(".")
    labels = host.split(".")
    return 0 < len(host) <= 253 and all(_LABEL_RE.fullmatch(x) for x in labels)
