"""Found in QA over the public test-feed corpora: sources that reuse one entry id.

Twelve gofeed fixtures all give their item ``rdf:about="http://example.org/entry/1"``;
feedhub filed them as twelve stories (different text, no shared link) but
published all twelve under that one ``atom:id``. Readers take entries with one
id for one entry (RFC 4287 4.1.1): newsboat and rss2email kept one of twelve.
Real feeds do this too (template ids, CMSs that number per site). A story keeps
the original id only while no other story is published under it.
"""

from __future__ import annotations

import socket
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from feedhub.cli import cli
from feedhub.config import load_config
from feedhub.server import create_app
from feedhub.storage import Storage
from tests.conftest import running_app
from tests.fakes import FeedServer

A = "{http://www.w3.org/2005/Atom}"
SHARED_ID = "http://example.org/entry/1"


def atom(title: str, host: str, body: str, entry_id: str = SHARED_ID) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>{title}</title><id>https://{host}/</id><updated>2025-01-02T00:00:00Z</updated>
  <link href="https://{host}/"/>
  <entry>
    <title>{title}: {body}</title><id>{entry_id}</id>
    <link href="https://{host}/{body.replace(" ", "-")}"/>
    <updated>2025-01-01T10:00:00Z</updated><author><name>Desk</name></author>
    <content type="text">{body}, a story only {title} has, about {body}.</content>
  </entry>
</feed>
""".encode()


def run(config: Path, *args: str) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(config), *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output


def ids_in(root: ET.Element) -> list[str]:
    return [e.findtext(f"{A}id") or "" for e in root.findall(f"{A}entry")]


def test_stories_sharing_an_original_id_are_published_under_distinct_ids(
    tmp_path: Path, feed_server: FeedServer, free_socket: socket.socket
) -> None:
    bodies = ("river floods town", "bridge reopens early", "school wins prize")
    urls = [
        feed_server.put(f"/{n}.atom", atom(f"Outlet {n}", f"o{n}.test", body))
        for n, body in enumerate(bodies)
    ]
    # a fourth source, added later, carries a new entry under the same id
    late = feed_server.put("/late.atom", atom("Late", "late.test", "market opens"))
    config = tmp_path / "feeds.yaml"
    sources = "".join(f"  - url: {u}\n" for u in urls)
    text = f"""
database: feedhub.db
server: {{host: 127.0.0.1, port: 0, base_url: "http://hub.test/"}}
polling: {{allow_private_networks: ["127.0.0.1:{feed_server.port}"], workers: 1}}
publish: {{backlog_per_new_source: all}}
sources:
{sources}"""
    config.write_text(text, encoding="utf-8")
    run(config, "poll", "--all")
    run(config, "publish", "--out", str(tmp_path / "first"))
    first = ids_in(ET.parse(tmp_path / "first" / "all.atom").getroot())
    assert len(first) == 3
    assert len(set(first)) == 3, first
    assert first.count(SHARED_ID) == 1

    config.write_text(text + f"  - url: {late}\n", encoding="utf-8")
    run(config, "poll", "--all")
    loaded = load_config(config)
    with (
        Storage(loaded.database) as storage,
        running_app(create_app(storage, loaded), free_socket) as base,
        urllib.request.urlopen(base + "all.atom") as response,
    ):
        ids = ids_in(ET.fromstring(response.read()))
    assert len(ids) == 4
    assert len(set(ids)) == 4, ids
    # ids are pinned: the three published before keep theirs
    assert set(first) < set(ids)
    # the first story stored keeps the original id; the others get feedhub's own
    assert ids.count(SHARED_ID) == 1
    assert sum(i.startswith("urn:feedhub:entry:") for i in ids) == 3
