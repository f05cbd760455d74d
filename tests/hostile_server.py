"""Helpers for the hostile-input tests: a raw local HTTP server that misbehaves
on demand, and checks that published documents carry nothing unsafe.

No business logic. The server speaks HTTP/1.1 by hand over sockets, so a route
can trickle, stall, reset or stream forever; it records every request it sees.
"""

from __future__ import annotations

import gzip
import html.parser
import io
import json
import os
import re
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: schemes that must never appear in a published URL
BAD_SCHEMES = ("javascript:", "vbscript:", "data:", "file:")
#: elements that must never appear in published entry HTML
BAD_TAGS = frozenset(
    {"script", "style", "svg", "math", "form", "iframe", "frame", "frameset"}
    | {"object", "embed", "applet", "video", "audio", "source", "track"}
    | {"base", "meta", "link", "input", "button", "textarea", "select", "animate"}
    | {"set", "animatetransform", "foreignobject", "use", "template", "portal"}
    # browsers read <noscript> as raw text, so markup in it hides (mXSS)
    | {"noscript"}
)
#: attributes that must never appear in published entry HTML
BAD_ATTRIBUTES = frozenset(
    {"style", "srcset", "poster", "action", "formaction", "background", "dynsrc"}
    | {"lowsrc", "xlink:href", "xmlns", "data", "codebase", "ping", "http-equiv"}
)
#: attributes whose value is a URL
URL_ATTRIBUTES = frozenset(
    {"href", "src", "cite", "url", "uri", "xml:base", "xmlUrl", "htmlUrl"}
)
ATOM = "{http://www.w3.org/2005/Atom}"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

_TAG_START = re.compile(r"<[A-Za-z/!?]")

Handler = Callable[[socket.socket, "Request"], None]


@dataclass(frozen=True)
class Request:
    path: str
    host: str


@dataclass
class RawServer:
    """State of one raw server: routes by path, requests seen, a stop flag."""

    host: str = "127.0.0.1"
    port: int = 0
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def _read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@contextmanager
def raw_server(host: str = "127.0.0.1") -> Iterator[RawServer]:
    """Run a RawServer on ``host``, port 0, in daemon threads for the block."""
    state = RawServer(host)

    class Handle(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn: socket.socket = self.request
            head = _read_head(conn).decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            path = parts[1] if len(parts) > 1 else ""
            found = [
                v
                for k, _, v in (h.partition(":") for h in lines[1:])
                if k.lower() == "host"
            ]
            request = Request(path, found[0].strip() if found else "")
            state.requests.append(request)
            handler = state.routes.get(path, not_found)
            try:
                handler(conn, request)
            except OSError:
                pass  # the client went away (deadline, cap): expected here

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        block_on_close = False

    server = Server((host, 0), Handle)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- behaviours


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def not_found(conn: socket.socket, request: Request) -> None:
    conn.sendall(_head("404 Not Found", {"Content-Length": "0"}))


def respond(
    body: bytes, content_type: str = "application/xml", **headers: str
) -> Handler:
    """A plain 200 with Content-Length."""

    def handler(conn: socket.socket, request: Request) -> None:
        fields = {"Content-Type": content_type, "Content-Length": str(len(body))}
        fields.update({k.replace("_", "-"): v for k, v in headers.items()})
        conn.sendall(_head("200 OK", fields) + body)

    return handler


def compressed(body: bytes, encoding: str) -> Handler:
    """A 200 whose (already encoded) body is sent with Content-Encoding."""
    return respond(body, "application/rss+xml", Content_Encoding=encoding)


def redirect(location: str, status: str = "302 Found") -> Handler:
    def handler(conn: socket.socket, request: Request) -> None:
        conn.sendall(_head(status, {"Location": location, "Content-Length": "0"}))

    return handler


def trickle(body: bytes, server: RawServer, every: float = 1.0) -> Handler:
    """Headers at once, then one byte of the body per ``every`` seconds."""

    def handler(conn: socket.socket, request: Request) -> None:
        fields = {"Content-Type": "application/rss+xml"}
        fields["Content-Length"] = str(len(body))
        conn.sendall(_head("200 OK", fields))
        for i in range(len(body)):
            if server.stop.wait(every):
                return
            conn.sendall(body[i : i + 1])

    return handler


def never_answer(server: RawServer) -> Handler:
    """Accept, read the request, then say nothing until the server stops."""

    def handler(conn: socket.socket, request: Request) -> None:
        server.stop.wait(60)

    return handler


def reset_mid_body(body: bytes) -> Handler:
    """Announce the whole body, send half, then reset the connection (RST)."""

    def handler(conn: socket.socket, request: Request) -> None:
        fields = {"Content-Type": "application/rss+xml"}
        fields["Content-Length"] = str(len(body))
        conn.sendall(_head("200 OK", fields) + body[: len(body) // 2])
        # SO_LINGER with a zero timeout turns close() into a TCP reset.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    return handler


def endless(server: RawServer) -> Handler:
    """A chunked body that never ends: a feed start, then comments forever."""

    def handler(conn: socket.socket, request: Request) -> None:
        fields = {"Content-Type": "application/rss+xml"}
        fields["Transfer-Encoding"] = "chunked"
        conn.sendall(_head("200 OK", fields))
        start = b"<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>"
        chunk = b"<!--" + b"x" * 65000 + b"-->"
        conn.sendall(b"%x\r\n%s\r\n" % (len(start), start))
        while not server.stop.is_set():
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    return handler


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes (whole MiB), gzip-compressed (about 1000:1)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as f:
        block = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            f.write(block)
    return buffer.getvalue()


# ---------------------------------------------------------------- safety checks


def bad_url(value: str) -> bool:
    """True when ``value`` is a URL with a dangerous scheme, however disguised."""
    squeezed = "".join(ch for ch in value if ch > " " and ch != "\x7f").lower()
    return squeezed.startswith(BAD_SCHEMES)


class _HTMLCheck(html.parser.HTMLParser):
    """Collect problems in HTML: bad tags, event handlers, bad URLs, CSS."""

    def __init__(self, *, page: bool) -> None:
        # raw text: a "<" left in it is markup this parser gave up on, which
        # a browser may still read as a tag
        super().__init__(convert_charrefs=False)
        self.page = page
        self.in_head = False
        self.problems: list[str] = []
        self.run = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.run = ""
        tag = tag.lower()
        if self.page and tag == "head":
            self.in_head = True
        # the page's own <head> has its stylesheet, meta and feed links
        if not (self.in_head and tag in {"style", "meta", "link", "title"}):
            if tag in BAD_TAGS:
                self.problems.append(f"<{tag}>")
        for name, value in attrs:
            name = name.lower()
            value = value or ""
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}>")
            if name in BAD_ATTRIBUTES:
                self.problems.append(f"<{tag} {name}>")
            if name in URL_ATTRIBUTES and bad_url(value):
                self.problems.append(f"<{tag} {name}={value!r}>")
            # any other attribute carrying a bad URL (SVG "to", "values")
            plain_text = name in {"title", "alt"}
            active = "expression(" in value.lower() or bad_url(value)
            if active and not plain_text:
                self.problems.append(f"<{tag} {name}={value!r}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        # text between two tags arrives in pieces ("<", then "img ...")
        self.run += data
        if _TAG_START.search(self.run):
            self.problems.append(f"unparsed markup {self.run[:40]!r}")
            self.run = ""

    def handle_endtag(self, tag: str) -> None:
        self.run = ""
        if tag.lower() == "head":
            self.in_head = False


def html_problems(text: str, *, page: bool = False) -> list[str]:
    """Problems in an HTML fragment (or a whole page with ``page``)."""
    check = _HTMLCheck(page=page)
    check.feed(text)
    check.close()
    return check.problems


# RSS item elements whose text is HTML that readers render; a channel's
# title and description, and an item's title, are plain text (RSS 2.0)
_RSS_HTML_ELEMENTS = (
    "description",
    "{http://purl.org/rss/1.0/modules/content/}encoded",
)
# elements whose text is a URL (or an IRI some readers follow: atom:id, guid)
_URL_ELEMENTS = {
    f"{ATOM}id",
    "guid",
    f"{ATOM}uri",
    f"{ATOM}icon",
    f"{ATOM}logo",
    "link",
    "url",
    "docs",
    "comments",
}


def xml_problems(body: bytes) -> list[str]:
    """Parse a published Atom/RSS document (raises when not well-formed) and
    list every unsafe URL or piece of HTML in it."""
    root = ET.fromstring(body)
    problems: list[str] = []
    for item in root.iter("item"):
        for tag in _RSS_HTML_ELEMENTS:
            for element in item.iter(tag):
                found = html_problems(element.text or "")
                problems += [f"item {tag}: {p}" for p in found]
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        text = element.text or ""
        for name, value in element.attrib.items():
            if name in URL_ATTRIBUTES or name == XML_BASE or name.endswith("href"):
                if bad_url(value):
                    problems.append(f"{tag}@{name}={value!r}")
        if tag in _URL_ELEMENTS and bad_url(text):
            problems.append(f"{tag}={text!r}")
        atom_html = tag.startswith(ATOM) and element.get("type") in ("html", "xhtml")
        if atom_html:
            if element.get("type") == "xhtml":
                inner = "".join(ET.tostring(c, encoding="unicode") for c in element)
                problems += [f"{tag}: {p}" for p in html_problems(inner)]
            else:
                problems += [f"{tag}: {p}" for p in html_problems(text)]
        if tag.startswith(ATOM) and element.get("type") == "xhtml":
            for child in element.iter():
                local = str(child.tag).rsplit("}", 1)[-1].lower()
                if local in BAD_TAGS:
                    problems.append(f"{tag}: xhtml <{local}>")
    return problems


_JSON_URL_KEYS = {
    "url",
    "external_url",
    "home_page_url",
    "feed_url",
    "icon",
    "favicon",
    "avatar",
    "image",
    "banner_image",
    "next_url",
}


def json_problems(body: bytes) -> list[str]:
    """Parse a published JSON Feed and list unsafe URLs and HTML in it."""
    problems: list[str] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            if key in _JSON_URL_KEYS and bad_url(value):
                problems.append(f"{key}={value!r}")
            if key == "content_html":
                problems.extend(f"{key}: {p}" for p in html_problems(value))

    walk(json.loads(body), "")
    return problems


def page_problems(body: bytes) -> list[str]:
    """List unsafe parts of a published HTML page (its own <head> excepted)."""
    text = body.decode("utf-8")
    problems = html_problems(text, page=True)
    if text.lower().count("<style") != 1:
        problems.append("a <style> besides the page's own")
    return problems


def problems(ext: str, body: bytes) -> list[str]:
    """Unsafe parts of a rendered document in format ``ext``."""
    if ext in ("atom", "rss"):
        return xml_problems(body)
    if ext == "json":
        return json_problems(body)
    return page_problems(body)


# ---------------------------------------------------------------- subprocess


@dataclass(frozen=True)
class ChildRun:
    returncode: int
    #: peak resident set size of the child, in MiB
    peak_rss_mib: float
    stdout: str
    stderr: str


# Runs feedhub as its own child and reports that child's peak RSS on stderr.
_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-m", "feedhub", *sys.argv[1:]])
_, status, usage = os.wait4(child.pid, 0)
sys.stderr.write(f"\\nfeedhub-peak-rss-kib={usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""
_PEAK_RE = re.compile(r"feedhub-peak-rss-kib=(\d+)")


def run_feedhub(config: Path, *args: str, timeout: float = 600) -> ChildRun:
    """Run ``feedhub --config CONFIG ARGS`` in a child and measure its peak RSS.

    Linux keeps the high-water RSS of the address space a process had before
    exec (``signal->maxrss``), so a child spawned straight from this test
    process would report at least this process's own size. feedhub is spawned
    by a small launcher instead, whose few MiB are all it inherits, and
    ``os.wait4`` there gives that one child's rusage.
    """
    command = [sys.executable, "-c", _LAUNCHER, "--config", str(config), *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # files, not pipes: a pipe nobody reads would block a chatty child
        # own process group, so a timeout ends feedhub with its launcher
        child = subprocess.Popen(
            command, stdout=out, stderr=err, start_new_session=True
        )
        try:
            child.wait(timeout)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        peaks = _PEAK_RE.findall(stderr)
        return ChildRun(
            child.returncode,
            int(peaks[-1]) / 1024 if peaks else float("inf"),  # KiB on Linux
            out.read().decode("utf-8", "replace"),
            stderr,
        )
