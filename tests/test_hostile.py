"""Hostile and broken sources, end to end (issue 8): each case serves one hostile
feed next to a good one from a real local server, polls both, and checks that the
hostile source's failure is recorded with its reason, that the good source was
polled, that memory stayed bounded, and that nothing unsafe was published."""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx2 as httpx
import pytest

from feedhub import pipeline
from feedhub.config import load_config
from feedhub.storage import Storage
from feedhub.types import Config, PollStatus, SourceState
from tests import hostile_server as hs
from tests.hostile_server import RawServer

DATA = Path(__file__).parent / "data"
HOSTILE = DATA / "hostile"
#: generous bound on one poll's peak RSS; the figures are printed with -s
MAX_RSS_MIB = 600
#: body cap of these tests: the default polling.max_body_size
CAP = 16 * 1024 * 1024
GOOD_TITLES = ("Good news one", "Good news two")
EXTS = ("atom", "rss", "json", "html")
#: characters XML 1.0 forbids, plus DEL and C1 controls
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

GOOD_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Good source</title>
<link>http://good.example/</link><description>fine</description>
<item><title>Good news one</title><link>http://good.example/1</link>
<guid>http://good.example/1</guid><description>&lt;p&gt;One.&lt;/p&gt;</description>
<pubDate>Mon, 14 Jul 2025 10:00:00 GMT</pubDate></item>
<item><title>Good news two</title><link>http://good.example/2</link>
<guid>http://good.example/2</guid><description>Two.</description>
<pubDate>Mon, 14 Jul 2025 11:00:00 GMT</pubDate></item>
</channel></rss>"""


# ---------------------------------------------------------------- payloads

#: script and active content, one vector per line, for every HTML field
SCRIPT_HTML = (HOSTILE / "script.html").read_text(encoding="utf-8")
#: the same attacks as well-formed XHTML (Atom type="xhtml")
SCRIPT_XHTML = (HOSTILE / "script.xhtml").read_text(encoding="utf-8")

BAD_URLS = (
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
)


def _x(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def script_atom() -> bytes:
    """Atom: script in every text construct, in html, xhtml and text form."""
    h = _x(SCRIPT_HTML)
    entries = []
    for n, kind in enumerate(("html", "text", "xhtml")):
        body = SCRIPT_XHTML if kind == "xhtml" else h
        entries.append(f"""<entry><id>urn:x:script:{n}</id>
<title type="{kind}">{body if kind == "xhtml" else h}</title>
<link href="http://ok.example/{n}"/><updated>2025-07-14T10:0{n}:00Z</updated>
<author><name>{h}</name><uri>javascript:alert(1)</uri><email>a@b.c</email></author>
<category term="{h}" label="{h}"/>
<summary type="{kind}">{body}</summary><content type="{kind}">{body}</content>
<rights type="{kind}">{body}</rights>
<source><title>{h}</title><link href="javascript:alert(1)"/></source>
</entry>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x:script</id>
<title type="html">{h}</title><subtitle type="html">{h}</subtitle>
<rights type="html">{h}</rights><updated>2025-07-14T10:00:00Z</updated>
<link href="http://ok.example/"/>
{"".join(entries)}</feed>""".encode()


def script_rss() -> bytes:
    h = _x(SCRIPT_HTML)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:media="http://search.yahoo.com/mrss/"
 xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel><title>{h}</title><link>http://ok.example/</link><description>{h}</description>
<copyright>{h}</copyright><image><url>javascript:alert(1)</url><title>{h}</title>
<link>javascript:alert(1)</link></image>
<item><title>{h}</title><link>http://ok.example/r1</link><guid>urn:x:rss:1</guid>
<description>{h}</description><content:encoded><![CDATA[{SCRIPT_HTML}]]></content:encoded>
<dc:creator>{h}</dc:creator><author>a@b.c ({h})</author><category>{h}</category>
<itunes:summary>{h}</itunes:summary><media:description>{h}</media:description>
<pubDate>Mon, 14 Jul 2025 10:00:00 GMT</pubDate></item>
<item><title><![CDATA[<script>alert(2)</script><b onclick="x">cdata</b>]]></title>
<link>http://ok.example/r2</link><description><![CDATA[{SCRIPT_HTML}]]></description>
<pubDate>Mon, 14 Jul 2025 10:01:00 GMT</pubDate></item>
</channel></rss>""".encode()


def script_json() -> bytes:
    item = {
        "id": "urn:x:json:1",
        "url": "http://ok.example/j1",
        "title": SCRIPT_HTML,
        "content_html": SCRIPT_HTML,
        "content_text": SCRIPT_HTML,
        "summary": SCRIPT_HTML,
        "image": "javascript:alert(1)",
        "banner_image": "javascript:alert(1)",
        "external_url": "javascript:alert(1)",
        "date_published": "2025-07-14T10:00:00Z",
        "authors": [
            {"name": SCRIPT_HTML, "url": "javascript:alert(1)", "avatar": "data:x"}
        ],
        "tags": [SCRIPT_HTML],
        "attachments": [{"url": "javascript:alert(1)", "mime_type": "text/html"}],
    }
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": SCRIPT_HTML,
        "description": SCRIPT_HTML,
        "home_page_url": "javascript:alert(1)",
        "icon": "javascript:alert(1)",
        "favicon": "vbscript:x",
        "authors": [{"name": SCRIPT_HTML, "url": "file:///etc/passwd"}],
        "items": [item],
    }
    return json.dumps(feed).encode()


def schemes_atom() -> bytes:
    """Atom: bad schemes in every URL field, xml:base included."""
    entries = []
    for n, url in enumerate(BAD_URLS):
        u = _x(url)
        entries.append(f"""<entry xml:base="{u}"><id>urn:x:s:{n}</id>
<title>Scheme {n}</title><link href="{u}"/><link rel="alternate" href="{u}"/>
<link rel="enclosure" href="{u}" type="audio/mpeg" length="1"/>
<link rel="related" href="{u}"/><updated>2025-07-14T10:00:00Z</updated>
<author><name>A{n}</name><uri>{u}</uri></author>
<content type="html" xml:base="{u}">&lt;a href="rel/{n}"&gt;relative&lt;/a&gt;
&lt;img src="img/{n}.png"&gt;&lt;a href="{_x(u)}"&gt;direct&lt;/a&gt;</content>
</entry>""")
    bad = _x(BAD_URLS[0])
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{bad}">
<id>{bad}</id><title>Schemes</title><updated>2025-07-14T10:00:00Z</updated>
<link href="{bad}"/><icon>{bad}</icon><logo>{_x(BAD_URLS[4])}</logo>
<author><name>Feed author</name><uri>{_x(BAD_URLS[3])}</uri></author>
{"".join(entries)}</feed>""".encode()


def schemes_rss() -> bytes:
    items = []
    for n, url in enumerate(BAD_URLS):
        u = _x(url)
        items.append(f"""<item><title>Scheme {n}</title><link>{u}</link>
<guid isPermaLink="true">{u}</guid><comments>{u}</comments>
<enclosure url="{u}" length="1" type="audio/mpeg"/>
<source url="{u}">S</source>
<description>&lt;a href="{_x(u)}"&gt;x&lt;/a&gt;</description>
<pubDate>Mon, 14 Jul 2025 10:0{n}:00 GMT</pubDate></item>""")
    bad = _x(BAD_URLS[0])
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>Schemes RSS</title><link>{bad}</link><description>x</description>
<atom:link rel="self" href="{bad}"/><docs>{bad}</docs>
<image><url>{bad}</url><title>i</title><link>{bad}</link></image>
{"".join(items)}</channel></rss>""".encode()


def schemes_json() -> bytes:
    items = [
        {
            "id": url,
            "url": url,
            "external_url": url,
            "title": f"Scheme {n}",
            "content_html": f'<a href="{url}">x</a><img src="{url}">',
            "image": url,
            "date_published": f"2025-07-14T10:0{n}:00Z",
            "authors": [{"name": f"A{n}", "url": url, "avatar": url}],
            "attachments": [{"url": url, "mime_type": "audio/mpeg"}],
        }
        for n, url in enumerate(BAD_URLS)
    ]
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Schemes JSON",
            "home_page_url": BAD_URLS[0],
            "feed_url": BAD_URLS[3],
            "icon": BAD_URLS[4],
            "favicon": BAD_URLS[5],
            "items": items,
        }
    ).encode()


def controls_xml() -> bytes:
    """NUL and C0/C1 controls raw and as references, lone surrogates as references."""
    return (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        b"<title>Ctl\x00 \x01\x08 &#0;&#1;&#x1f;&#xD800;&#xDFFF;&#xFFFE; feed</title>"
        b"<link>http://ok.example/</link><description>d\x0b\x0c&#x7f;&#x85;</description>"
        b"<item><title>NUL\x00here &#0; &#xD800; \xc2\x85 end</title>"
        b"<link>http://ok.example/c\x00\x01</link><guid>urn:x:c:\x00</guid>"
        b"<description>&lt;p&gt;a&amp;#0;b\x00c&amp;#xD800;d\x1b[31m&lt;/p&gt;"
        b"</description><author>x@y.z (Na\x00me\x01)</author>"
        b"<category>c\x00at\x02</category>"
        b"<pubDate>Mon, 14 Jul 2025 10:00:00 GMT</pubDate></item>"
        b"</channel></rss>"
    )


def controls_json() -> bytes:
    # json.dumps writes lone surrogates as \ud800, which json.loads reads back
    text = "a\x00b\x01c\ud800d\udfffe\ufffef\x7fg\x85h"
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": text,
            "items": [
                {
                    "id": text,
                    "url": "http://ok.example/" + text,
                    "title": text,
                    "content_html": f"<p>{text}</p>",
                    "content_text": text,
                    "tags": [text],
                    "authors": [{"name": text}],
                    "date_published": "2025-07-14T10:00:00Z",
                }
            ],
        }
    ).encode()


def dates_rss() -> bytes:
    dates = [
        ("year0-rfc822", "Sat, 01 Jan 0000 00:00:00 GMT"),
        ("year9999", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ("year9999-west", "Fri, 31 Dec 9999 23:59:59 -1400"),
        ("garbage", "yesterday-ish, give or take"),
        ("empty", ""),
        ("huge-year", "Fri, 31 Dec 99999999999 23:59:59 GMT"),
    ]
    items = "".join(
        f"<item><title>Date {name}</title><link>http://ok.example/d/{name}</link>"
        f"<pubDate>{value}</pubDate></item>"
        for name, value in dates
    )
    atomish = (
        "<item><title>Date atom year0</title><link>http://ok.example/d/a0</link>"
        '<updated xmlns="http://www.w3.org/2005/Atom">0000-01-01T00:00:00Z</updated>'
        "<dc:date>9999-12-31T23:59:59-14:00</dc:date></item>"
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Dates</title>'
        "<link>http://ok.example/</link><description>d</description>"
        "<lastBuildDate>Fri, 31 Dec 9999 23:59:59 GMT</lastBuildDate>"
        f"{items}{atomish}</channel></rss>"
    ).encode()


def ids_rss() -> bytes:
    items = [
        ("same", "http://ok.example/i/1", "Dup A"),
        ("same", "http://ok.example/i/2", "Dup B"),
        ("same", "http://ok.example/i/2", "Dup B again"),
        (None, "http://ok.example/i/3", "No id, link"),
        (None, None, "No id, no link"),
        (None, None, "No id, no link either"),
        ("", None, "Empty id"),
        (" ", "http://ok.example/i/4", "Blank id"),
    ]
    body = "".join(
        "<item>"
        + (f"<guid>{guid}</guid>" if guid is not None else "")
        + (f"<link>{link}</link>" if link else "")
        + f"<title>{title}</title><description>{title}</description></item>"
        for guid, link, title in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Ids</title>'
        f"<link>http://ok.example/</link><description>d</description>{body}"
        "</channel></rss>"
    ).encode()


def entities_external(server: RawServer) -> bytes:
    dtd, secret = server.url("/evil.dtd"), server.url("/secret")
    return f"""<?xml version="1.0"?>
<!DOCTYPE rss SYSTEM "{dtd}" [
  <!ENTITY % remote SYSTEM "{dtd}">
  %remote;
  <!ENTITY secret SYSTEM "{secret}">
  <!ENTITY passwd SYSTEM "file:///etc/passwd">
  <!ENTITY ok "fine">
]>
<rss version="2.0"><channel><title>External &ok;</title>
<link>http://ok.example/</link><description>&passwd;</description>
<item><title>Secret: &secret; &passwd;</title><link>http://ok.example/e1</link>
<description>&passwd;</description></item></channel></rss>""".encode()


def mb_title() -> bytes:
    title = ("A" * 1023 + " ") * 1024  # 1 MiB
    content = "<p>" + "long " * 200_000 + "</p>"  # 1 MB of content too
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://ok.example/</link>"
        f"<description>{title}</description>"
        f"<item><title>{title}</title><link>http://ok.example/big</link>"
        f"<description>{escape(content)}</description>"
        f"<category>{title}</category><author>a@b.c ({title})</author></item>"
        "</channel></rss>"
    ).encode()


def many_entries(count: int) -> bytes:
    """A feed of ``count`` small entries."""
    items = "".join(
        f"<item><title>Entry {n}</title><link>http://ok.example/m/{n}</link>"
        f"<guid>m{n}</guid></item>"
        for n in range(count)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Many</title>'
        f"<link>http://ok.example/</link><description>d</description>{items}"
        "</channel></rss>"
    ).encode()


# ---------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Case:
    #: builds the hostile route on the server; returns its URL
    setup: Callable[[RawServer, RawServer], str]
    #: substring of the recorded error; None when the poll should succeed
    error: str | None = None
    #: substring of the parse warning logged for a feed read despite damage
    warning: str | None = None
    #: run the poll in a child process and measure its peak RSS
    heavy: bool = False
    #: too slow for every run: marked ``slow`` (run with ``-m slow``)
    slow: bool = False
    #: extra checks on (storage, config, hostile state, servers)
    check: (
        Callable[[Storage, Config, SourceState, RawServer, RawServer], None] | None
    ) = None


def serve(body: bytes | Callable[[RawServer], bytes], ctype: str = "application/xml"):
    def setup(server: RawServer, other: RawServer) -> str:
        data = body(server) if callable(body) else body
        return server.route("/hostile", hs.respond(data, ctype))

    return setup


def behave(make: Callable[[RawServer], hs.Handler]):
    def setup(server: RawServer, other: RawServer) -> str:
        return server.route("/hostile", make(server))

    return setup


def redirect_loop(server: RawServer, other: RawServer) -> str:
    server.route("/loop/a", hs.redirect(server.url("/loop/b")))
    server.route("/loop/b", hs.redirect(server.url("/loop/c?x")))
    server.route("/loop/c?x", hs.redirect("/loop/a"))
    return server.url("/loop/a")


def redirect_to(target: Callable[[RawServer, RawServer], str]):
    def setup(server: RawServer, other: RawServer) -> str:
        other.route("/good.xml", hs.respond(GOOD_RSS))
        return server.route("/hostile", hs.redirect(target(server, other), "301 Moved"))

    return setup


def no_request_reached(storage, config, state, server, other) -> None:
    assert other.requests == [], "the refused address was contacted"


def external_not_fetched(storage, config, state, server, other) -> None:
    assert "/evil.dtd" not in server.paths()
    assert "/secret" not in server.paths()
    assert server.paths().count("/hostile") == 1


def published_json(
    storage: Storage, config: Config, slug: str = "mixed"
) -> list[dict[str, Any]]:
    """The items of a topic's JSON Feed (entries_per_feed is 100)."""
    items: list[dict[str, Any]] = json.loads(feed(storage, config, slug, "json"))[
        "items"
    ]
    return items


def entry_count(storage: Storage, config: Config, slug: str) -> int:
    (ref,) = [r for r in pipeline.list_feeds(storage, config) if r.slug == slug]
    return ref.entry_count


def titles_cut(storage, config, state, server, other) -> None:
    items = published_json(storage, config)
    assert max(len(item["title"]) for item in items) <= 1000
    big = [item for item in items if item["title"].startswith("AAAA")]
    assert big and big[0]["title"].endswith("…")


def stored(count: int):
    def check(storage, config, state, server, other) -> None:
        assert entry_count(storage, config, "mixed") == count + len(GOOD_TITLES)

    return check


def no_controls(storage, config, state, server, other) -> None:
    text = json.dumps(published_json(storage, config), ensure_ascii=False)
    assert not FORBIDDEN.search(text), FORBIDDEN.findall(text)
    assert len(published_json(storage, config)) == 1 + len(GOOD_TITLES)


def titles(*expected: str):
    def check(storage, config, state, server, other) -> None:
        items = published_json(storage, config)
        published = {item.get("title") for item in items}
        missing = set(expected) - published
        assert not missing, (missing, published)

    return check


CASES: dict[str, Case] = {
    "entity-nested": Case(
        serve((DATA / "feeds" / "entity-bomb.xml").read_bytes()),
        error="entity expansion over",
    ),
    "entity-flat": Case(
        serve((DATA / "feeds" / "entity-flat-bomb.xml").read_bytes()),
        error="entity expansion over",
    ),
    "entity-external-dtd": Case(
        serve(entities_external),
        warning="undefined entity",  # external entities are dropped, not fetched
        check=external_not_fetched,
    ),
    "gzip-bomb": Case(
        behave(lambda s: hs.compressed(hs.gzip_bomb(256 << 20), "gzip")),
        error=f"body over {CAP} bytes",
        heavy=True,
    ),
    "brotli-bomb": Case(
        behave(
            lambda s: hs.compressed(
                (DATA / "fetch" / "zeros-50mib.br").read_bytes(), "br"
            )
        ),
        error=f"body over {CAP} bytes",
        heavy=True,
    ),
    "endless-body": Case(
        behave(hs.endless), error=f"body over {CAP} bytes", heavy=True
    ),
    "trickle": Case(behave(lambda s: hs.trickle(GOOD_RSS, s)), error="timed out"),
    "never-answers": Case(behave(hs.never_answer), error="timed out"),
    "reset-mid-body": Case(
        behave(lambda s: hs.reset_mid_body(GOOD_RSS * 20)),
        error="connection broken mid-body",
    ),
    "redirect-loop": Case(redirect_loop, error="redirect loop"),
    "redirect-to-127.0.0.2": Case(
        redirect_to(lambda s, o: f"http://127.0.0.2:{s.port}/good.xml"),
        error="refused private address 127.0.0.2",
    ),
    "redirect-to-other-port": Case(
        redirect_to(lambda s, o: o.url("/good.xml")),
        error="refused private address 127.0.0.1",
        check=no_request_reached,
    ),
    "redirect-to-localhost-other-port": Case(
        redirect_to(lambda s, o: f"http://localhost:{o.port}/good.xml"),
        error="refused private address",
        check=no_request_reached,
    ),
    "redirect-to-private-10/8": Case(
        redirect_to(lambda s, o: "http://10.0.0.1/feed.xml"),
        error="refused private address 10.0.0.1",
    ),
    "html-page": Case(
        serve((DATA / "feeds" / "html-page.html").read_bytes(), "text/html"),
        error="not a feed: looks like an HTML page",
    ),
    "empty-200": Case(serve(b""), error="not a feed: empty body"),
    "invalid-utf8": Case(
        serve(
            b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            b"<title>Bad \xff\xfe utf-8 \xc3\x28 \xed\xa0\x80</title>"
            b"<link>http://ok.example/</link><description>\x80\x81</description>"
            b"<item><title>Broken \xe2\x82 bytes</title>"
            b"<link>http://ok.example/u1</link></item></channel></rss>"
        ),
        warning="document declared as utf-8, but parsed as",
    ),
    "wrong-charset": Case(
        serve(
            (DATA / "feeds" / "cp1252-wrong-charset.xml").read_bytes(),
            "application/rss+xml; charset=utf-8",
        ),
        warning="document declared as utf-8, but parsed as windows-1252",
    ),
    "wrong-charset-utf16": Case(
        serve(
            (DATA / "feeds" / "cp1252-wrong-charset.xml").read_bytes(),
            "application/rss+xml; charset=utf-16",
        ),
        error="not a feed",
    ),
    "controls-xml": Case(
        serve(controls_xml()), warning="not well-formed", check=no_controls
    ),
    "controls-json": Case(
        serve(controls_json(), "application/feed+json"), check=no_controls
    ),
    "megabyte-title": Case(serve(mb_title()), heavy=True, check=titles_cut),
    "10k-entries": Case(serve(many_entries(10_000)), heavy=True, check=stored(10_000)),
    "100k-entries": Case(
        serve(lambda server: many_entries(100_000)),
        heavy=True,
        slow=True,
        check=stored(100_000),
    ),
    "dates": Case(
        serve(dates_rss()),
        check=titles(
            "Date year0-rfc822",
            "Date year9999",
            "Date year9999-west",
            "Date garbage",
            "Date empty",
            "Date huge-year",
            "Date atom year0",
        ),
    ),
    "ids": Case(
        serve(ids_rss()),
        check=titles(
            "Dup A",
            "Dup B",
            "No id, link",
            "No id, no link",
            "No id, no link either",
            "Empty id",
            "Blank id",
        ),
    ),
    "schemes-atom": Case(serve(schemes_atom(), "application/atom+xml")),
    "schemes-rss": Case(serve(schemes_rss(), "application/rss+xml")),
    "schemes-json": Case(serve(schemes_json(), "application/feed+json")),
    # one unparsable item URL used to raise out of the poll run (urljoin)
    "json-invalid-ipv6-url": Case(
        serve(
            json.dumps(
                {
                    "version": "https://jsonfeed.org/version/1.1",
                    "title": "IPv6",
                    "items": [
                        {"id": "1", "url": "http://[::1", "title": "Bracket"},
                        {"id": "2", "url": "http://ok.example/2", "title": "Fine"},
                    ],
                }
            ).encode(),
            "application/feed+json",
        ),
        check=titles("Bracket", "Fine"),
    ),
    "script-atom": Case(serve(script_atom(), "application/atom+xml")),
    "script-rss": Case(serve(script_rss(), "application/rss+xml")),
    "script-json": Case(serve(script_json(), "application/feed+json")),
}


def write_config(
    tmp_path: Path, server: RawServer, hostile: str, good: str, port: int = 0
) -> Path:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"""
database: feedhub.db
server: {{host: 127.0.0.1, port: {port}, base_url: "http://127.0.0.1:{port}/"}}
polling:
  timeout: 3s
  max_body_size: {CAP}
  max_redirects: 5
  allow_private_networks: ["127.0.0.1:{server.port}"]
  workers: 1
  per_host_delay: 0s
  per_host_concurrency: 8
publish: {{entries_per_feed: 100, backlog_per_new_source: all}}
sources:
  - url: "{hostile}"
    name: Hostile
    topics: [mixed]
  - url: "{good}"
    name: Good
    topics: [mixed]
topics:
  mixed: {{title: Mixed}}
  news: {{title: News, match: {{any: [news, script, scheme]}}}}
  good: {{title: Good, match: {{any: ["good news"]}}}}
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def servers() -> Iterator[tuple[RawServer, RawServer]]:
    with hs.raw_server() as server, hs.raw_server() as other:
        yield server, other


def published_problems(storage: Storage, config: Config) -> dict[str, list[str]]:
    """Render every feed in every format, plus the index; list unsafe parts.

    Raises when an XML document is not well-formed (ElementTree parses it).
    """
    found: dict[str, list[str]] = {}
    for ref in pipeline.list_feeds(storage, config):
        for ext in EXTS:
            rendered = pipeline.render_feed(storage, config, ref, ext)
            problems = hs.problems(ext, rendered.body)
            if problems:
                found[f"{ref.path}:{ext}"] = problems
    index = pipeline.render_index(storage, config, datetime.now(UTC))
    if problems := hs.page_problems(index):
        found["index.html"] = problems
    opml = pipeline.render_opml(storage, config, "feeds", datetime.now(UTC))
    if problems := hs.xml_problems(opml):
        found["feeds.opml"] = problems
    return found


def feed(storage: Storage, config: Config, slug: str, ext: str = "atom") -> bytes:
    (ref,) = [r for r in pipeline.list_feeds(storage, config) if r.slug == slug]
    return pipeline.render_feed(storage, config, ref, ext).body


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=[pytest.mark.slow] if CASES[n].slow else []) for n in CASES],
)
def test_hostile_source(name: str, servers, tmp_path: Path, caplog) -> None:
    case = CASES[name]
    server, other = servers
    good = server.route("/good.xml", hs.respond(GOOD_RSS, "application/rss+xml"))
    hostile = case.setup(server, other)
    config_path = write_config(tmp_path, server, hostile, good)
    config = load_config(config_path)
    if case.heavy:
        child = hs.run_feedhub(config_path, "poll", "--all")
        assert child.returncode == 0, child.stderr[-2000:]
        print(f"\npeak RSS {name}: {child.peak_rss_mib:.0f} MiB")
        assert child.peak_rss_mib < MAX_RSS_MIB
    else:
        with caplog.at_level(logging.WARNING), Storage(config.database) as storage:
            pipeline.poll_once(storage, config, force=True)
    with Storage(config.database) as storage:
        states = {s.url: s for s in storage.get_sources()}
        good_state, bad_state = states[good], states[hostile]
        assert good_state.last_status is PollStatus.OK, good_state.last_error
        if case.error is not None:
            assert bad_state.last_status is PollStatus.ERROR
            assert bad_state.last_error is not None
            assert case.error in bad_state.last_error
        else:
            assert bad_state.last_status is PollStatus.OK, bad_state.last_error
        if case.warning is not None:
            # the fields are in the message or, with structured logs, extras
            logged = [
                f"{r.getMessage()} {getattr(r, 'url', '')} {getattr(r, 'warning', '')}"
                for r in caplog.records
            ]
            warnings = [w for w in logged if "parse warning" in w and hostile in w]
            assert any(case.warning in w for w in warnings), warnings
        if case.check is not None:
            case.check(storage, config, bad_state, server, other)
        # the good source was polled and published next to the hostile one
        good_feed = feed(storage, config, "good")
        for title in GOOD_TITLES:
            assert title.encode() in good_feed
        found = published_problems(storage, config)
        assert not found, json.dumps(found, indent=1)[:4000]
        for ext in EXTS:
            body = feed(storage, config, "all", ext)
            assert b"root:x:0:0" not in body  # no /etc/passwd via file: or entities
            assert len(body) < 4 * 1024 * 1024  # bounded, whatever came in


def test_checks_flag_unsafe_documents() -> None:
    """The checks above can fail: each attack, published unsanitized, is flagged."""
    for line in SCRIPT_HTML.splitlines():
        if not line.startswith("<!--"):  # a comment is inert; nh3 drops it anyway
            assert hs.html_problems(line), line
    assert not hs.html_problems('<p title="javascript: a text">x</p><a href="/r">r</a>')
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><icon>javascript:x</icon>'
        '<entry><content type="html">&lt;script&gt;x&lt;/script&gt;</content>'
        '<link href=" data:text/html,x"/></entry></feed>'
    )
    assert len(hs.xml_problems(atom.encode())) == 3
    rss = (
        "<rss><channel><item><description>&lt;img src=x onerror=y&gt;"
        "</description><link>vbscript:x</link></item></channel></rss>"
    )
    assert len(hs.xml_problems(rss.encode())) == 2
    with pytest.raises(ET.ParseError):
        hs.xml_problems(b"<feed><title>\x01</title></feed>")
    item = {"content_html": "<svg onload=x>", "url": "file:///etc/passwd"}
    assert len(hs.json_problems(json.dumps({"items": [item]}).encode())) == 3
    page = b"<html><head><style>a{}</style></head><body><style>b{}</style></body>"
    assert hs.page_problems(page) == ["<style>", "a <style> besides the page's own"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def try_get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


def test_daemon_keeps_polling_and_serving_while_sources_misbehave(
    servers, tmp_path: Path
) -> None:
    """``feedhub run`` serves the good source's entries while hostile fetches
    hang, trickle, stream forever or explode, records each failure, and stops
    on SIGTERM."""
    server, other = servers
    good = server.route("/good.xml", hs.respond(GOOD_RSS, "application/rss+xml"))
    hostile = {
        server.route("/hang", hs.never_answer(server)): "timed out",
        server.route("/trickle", hs.trickle(GOOD_RSS, server)): "timed out",
        server.route("/endless", hs.endless(server)): "body over",
        server.route("/bomb", hs.compressed(hs.gzip_bomb(64 << 20), "gzip")): (
            "body over"
        ),
        server.route(
            "/laughs", hs.respond((DATA / "feeds" / "entity-bomb.xml").read_bytes())
        ): "entity expansion",
        server.route("/loop", hs.redirect(server.url("/loop"))): "redirect loop",
    }
    port = free_port()
    config = tmp_path / "feeds.yaml"
    sources = "".join(
        f'  - url: "{url}"\n    topics: [mixed]\n' for url in (*hostile, good)
    )
    config.write_text(
        f"database: feedhub.db\n"
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        "polling:\n"
        "  timeout: 8s\n"
        f"  allow_private_networks: ['127.0.0.1:{server.port}']\n"
        "  workers: 1\n"
        "  per_host_delay: 0s\n"
        "  per_host_concurrency: 16\n"
        f"sources:\n{sources}"
        "topics:\n"
        "  mixed: {title: Mixed}\n"
        "  good: {title: Good, match: {any: ['good news']}}\n",
        encoding="utf-8",
    )
    log = tmp_path / "feedhub.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "feedhub", "--config", str(config), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/"
    try:

        def good_served() -> bool:
            response = try_get(base + "topics/good.atom")
            return response is not None and b"Good news two" in response.content

        wait_for(good_served)
        # the daemon answers every kind of request meanwhile
        for path in ("", "all.atom", "topics/mixed.rss", "topics/good.json"):
            response = try_get(base + path)
            assert response is not None and response.status_code == 200, path

        def failures_recorded() -> dict[str, str] | None:
            with Storage(str(tmp_path / "feedhub.db")) as storage:
                states = {s.url: s.last_error for s in storage.get_sources()}
            if all(states.get(url) for url in hostile):
                return {url: states[url] or "" for url in hostile}
            return None

        errors = wait_for(failures_recorded)
        assert isinstance(errors, dict)
        for url, reason in hostile.items():
            assert reason in errors[url], (url, errors[url])
        health = try_get(base + "healthz")
        assert health is not None and health.status_code == 200
        response = try_get(base + "topics/mixed.atom")
        assert response is not None and b"Good news one" in response.content
        assert not hs.xml_problems(response.content)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
