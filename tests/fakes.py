"""Test doubles: a fetcher keyed by URL, and a real local HTTP feed server."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from feedhub.exceptions import FetchError
from feedhub.types import FetchRequest, FetchResult


class FakeFetcher:
    """Maps URL -> FetchResult or FetchError; records requests."""

    def __init__(self, responses: dict[str, FetchResult | FetchError]) -> None:
        self.responses = responses
        self.requests: list[FetchRequest] = []

    async def fetch(self, request: FetchRequest) -> FetchResult:
        self.requests.append(request)
        response = self.responses[request.url]
        if isinstance(response, FetchError):
            raise response
        if request.etag is not None and request.etag == response.etag:
            return FetchResult(request.url, response.final_url, 304, etag=response.etag)
        return response


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    """A real HTTP server on 127.0.0.1 serving in-memory documents with
    ETag/Last-Modified/304, recording every request."""

    port: int = 0
    documents: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def put(self, path: str, body: bytes, content_type: str = "application/xml") -> str:
        self.documents[path] = (body, content_type)
        return self.url(path)


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            server.requests.append(
                Recorded(
                    "GET", self.path, {k.lower(): v for k, v in self.headers.items()}
                )
            )
            document = server.documents.get(self.path)
            if document is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, content_type = document
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", formatdate(0, usegmt=True))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serve_feeds() -> Iterator[FeedServer]:
    """Run a FeedServer in a thread for the duration of the block."""
    state = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
