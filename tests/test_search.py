"""Full-text search (issue 7): the query language, the FTS5 index kept in step
with every write, /search.{atom,rss,json,html}?q=... and ``feedhub search``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree  # type: ignore[import-untyped]
from sqlite_utils.db import Database

from feedhub import pipeline
from feedhub.cli import cli
from feedhub.config import parse_query
from feedhub.exceptions import QueryError
from feedhub.server import create_app
from feedhub.storage import Storage, _search
from feedhub.storage._schema import MIGRATIONS
from feedhub.storage._text import author_names, search_text
from feedhub.types import (
    Config,
    FetchResult,
    PollingConfig,
    PublishConfig,
    ServerConfig,
    SourceConfig,
)
from tests.conftest import running_app
from tests.fakes import FakeFetcher

A = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
URL_A = "http://a.test/feed"
URL_B = "http://b.test/feed"


def item(n: int, title: str, body: str, author: str = "", hours: int = 0) -> str:
    date = format_datetime(T0 - timedelta(hours=hours or n), usegmt=True)
    by = f"<dc:creator>{author}</dc:creator>" if author else ""
    return (
        f"<item><title>{title}</title><link>https://a.test/{n}</link>"
        f"<guid>https://a.test/{n}</guid><pubDate>{date}</pubDate>{by}"
        f"<description>{body}</description></item>"
    )


def rss(*items: str, title: str = "Outlet A") -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{title}</title><link>https://a.test/</link><description>d"
        "</description>" + "".join(items) + "</channel></rss>"
    ).encode()


#: the default store: five stories, one with HTML markup in its body
ITEMS = (
    item(1, "Lab delays model over safety", "&lt;p&gt;The open-source model "
         "&lt;b&gt;alignment&lt;/b&gt; tests failed.&lt;/p&gt;", "Ramsha Riaz"),
    item(2, "Regulators meet in Brussels", "EU regulation of AI was discussed.",
         "Jan Novák"),
    item(3, "Football: late winner", "A match report, no AI at all."),
    item(4, "Node.js 22 released", "The runtime's release at 10:30 today."),
    item(5, "Jobs: alignment engineer", "A job ad about alignment.",
         hours=30),
)  # fmt: skip


def make_config(db: str = ":memory:", **publish: object) -> Config:
    return Config(
        path=None,
        database=db,
        server=ServerConfig(base_url="http://hub.test/"),
        polling=PollingConfig(workers=1),
        publish=PublishConfig(backlog_per_new_source=None, **publish),  # type: ignore[arg-type]
        sources=(SourceConfig(URL_A, name="Outlet A"),),
    )


@dataclass
class Store:
    storage: Storage
    config: Config
    etag: int = 0
    #: what each source serves now
    served: dict[str, FetchResult] = field(default_factory=dict)

    def poll(self, body: bytes, url: str = URL_A, now: datetime = T0) -> None:
        self.etag += 1
        self.served[url] = FetchResult(url, url, 200, {}, body, etag=f'"{self.etag}"')
        fetcher = FakeFetcher(dict(self.served))
        asyncio.run(
            pipeline.poll(
                self.storage, self.config, fetcher, clock=lambda: now, force=True
            )
        )

    def titles(self, query: str, limit: int = 50) -> list[str]:
        stories = pipeline.search_stories(self.storage, query, limit)
        return [rep.data.title for rep, _copies in stories]


@pytest.fixture
def store() -> Iterator[Store]:
    with Storage(":memory:") as storage:
        s = Store(storage, make_config())
        s.poll(rss(*ITEMS))
        yield s


def fts_consistent(storage: Storage) -> None:
    """FTS5's own check: the index agrees with its content (rank 1 compares)."""
    with storage._write("check") as conn:
        conn.execute(
            "INSERT INTO entry_search (entry_search, rank)"
            " VALUES ('integrity-check', 1)"
        )


# ---------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("query", "text", "fts"),
    [
        ("OpenAI", "openai", '"openai"'),
        ("  Open   AI ", "open ai", '("open" AND "ai")'),
        ("a AND b", "a b", '("a" AND "b")'),
        ('"AI  Safety" OR alignment', '"ai safety" OR alignment',
         '("ai safety" OR "alignment")'),
        ("ai NOT jobs", "ai NOT jobs", '("ai" NOT "jobs")'),
        ("ai -jobs -ads", "ai NOT (jobs OR ads)", '("ai" NOT ("jobs" OR "ads"))'),
        ("(a OR b) c", "(a OR b) c", '(("a" OR "b") AND "c")'),
        ("regulat*", "regulat*", '"regulat"*'),
        ('ai -"job ad"', 'ai NOT "job ad"', '("ai" NOT "job ad")'),
        ("ai -(jobs OR ads)", "ai NOT (jobs OR ads)", '("ai" NOT ("jobs" OR "ads"))'),
        ('"open sour"*', '"open sour"*', '"open sour"*'),
        ("title:OpenAI", "title:openai", 'title : "openai"'),
        ('author:"Ramsha Riaz"', 'author:"ramsha riaz"', 'author : "ramsha riaz"'),
        ("authors:riaz", "author:riaz", 'author : "riaz"'),
        # punctuation in plain words is quoted, never FTS5 syntax
        ("open-source", '"open-source"', '"open-source"'),
        ("don't", '"don\'t"', '"don\'t"'),
        ("node.js", '"node.js"', '"node.js"'),
        ("10:30", '"10:30"', '"10:30"'),
        ("https://a.test/x?y=1", '"https://a.test/x?y=1"', '"https://a.test/x?y=1"'),
        ("c++ & ai", '"c++" ai', '("c++" AND "ai")'),
        ("or and not", "or and not", '("or" AND "and" AND "not")'),
        ("NEAR a", "near a", '("near" AND "a")'),
        ("Ünïcode", "ünïcode", '"ünïcode"'),
    ],
)  # fmt: skip
def test_query_language(query, text, fts):
    parsed = parse_query(query)
    assert (parsed.text, parsed.fts) == (text, fts)
    # the normalized text is a fixed point: a saved search keeps its id
    assert parse_query(parsed.text) == parsed


BAD_QUERIES = [
    ("", "empty query"),
    ("   ", "empty query"),
    ("- . &", "empty query"),
    ('"unbalanced', "unbalanced quotes"),
    ('a "b', "unbalanced quotes"),
    ('""', "empty phrase"),
    ("NOT ai", "NOT needs something before it"),
    ("ai NOT", "NOT needs a word after it"),
    ("ai NOT NOT b", "NOT needs a word after it"),
    ("-ai", "nothing to search for"),
    ("*", "'*' needs a word"),
    ("ai *", "'*' needs a word"),
    ("OR ai", "OR needs a word on each side"),
    ("ai OR", "OR needs a word on each side"),
    ("a OR OR b", "OR needs a word on each side"),
    ("(a OR)", "OR needs a word on each side"),
    ("AND a", "AND needs a word on each side"),
    ("a AND", "AND needs a word on each side"),
    ("(ai", "a '(' is not closed"),
    ("ai)", "a ')' has no '('"),
    ("()", "empty parentheses"),
    ("foo:bar", "unknown field 'foo'"),
    ("re:Invent", "unknown field 're'"),
    ("title:", "needs a word"),
    ("title:(a b)", "needs a word"),
    ("x" * 501, "query too long"),
    (" ".join(f"w{i}" for i in range(41)), "too many words"),
]


@pytest.mark.parametrize(("query", "message"), BAD_QUERIES)
def test_malformed_queries_are_refused_with_a_reason(query, message):
    with pytest.raises(
        QueryError,
        match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*"),
    ):
        parse_query(query)


def test_search_text_drops_markup_and_decodes_entities():
    html = '<p class="alignment">A &amp; B<br/>C</p><!-- x --><a title="a>b">D</a>'
    assert search_text(html).split() == ["A", "&", "B", "C", "D"]
    assert search_text(None) == ""
    assert author_names('[{"name": "A B", "email": null}, {"name": null}]') == "A B"


# ---------------------------------------------------------------- the index


def test_search_finds_words_phrases_or_not_prefix_and_fields(store):
    assert store.titles("alignment") == [
        "Lab delays model over safety",
        "Jobs: alignment engineer",
    ]
    assert store.titles("alignment NOT jobs") == ["Lab delays model over safety"]
    assert store.titles("alignment -jobs") == ["Lab delays model over safety"]
    assert store.titles('"tests failed"') == ["Lab delays model over safety"]
    assert store.titles('"failed tests"') == []
    assert store.titles("brussels OR football") == [
        "Regulators meet in Brussels",
        "Football: late winner",
    ]
    assert store.titles("regulat*") == ["Regulators meet in Brussels"]
    assert store.titles("title:alignment") == ["Jobs: alignment engineer"]
    assert store.titles("author:riaz") == ["Lab delays model over safety"]
    # accents folded, case ignored
    assert store.titles("NOVAK") == ["Regulators meet in Brussels"]
    # plain words with punctuation match like the text was tokenized
    assert store.titles("open-source") == ["Lab delays model over safety"]
    assert store.titles("node.js 10:30 runtime's") == ["Node.js 22 released"]


def test_markup_is_not_indexed(store):
    store.poll(rss(item(9, "Styled", '&lt;p class="hidden-word"&gt;Shown&lt;/p&gt;')))
    assert store.titles("shown") == ["Styled"]
    assert store.titles('"hidden-word"') == []


def test_results_are_newest_first_and_limited(store):
    assert store.titles("a OR the OR ai OR alignment", limit=2) == [
        "Lab delays model over safety",
        "Regulators meet in Brussels",
    ]


def test_update_replaces_the_indexed_text(store):
    changed = item(1, "Lab ships model", "Nothing about safety tests.", "Ramsha Riaz")
    store.poll(rss(changed, *ITEMS[1:]))
    assert store.titles("delays") == []
    assert store.titles("ships") == ["Lab ships model"]
    assert store.titles("alignment") == ["Jobs: alignment engineer"]
    fts_consistent(store.storage)


def test_purge_removes_entries_from_the_index(store):
    (entry,) = store.storage.find_entries("https://a.test/1")
    assert pipeline.purge(store.storage, store.config, [entry.key], now=T0) == 1
    assert store.titles("alignment") == ["Jobs: alignment engineer"]
    assert store.titles('"open-source"') == []
    with store.storage._read("count") as conn:
        docs = conn.execute("SELECT count(*) FROM search_docs").fetchone()[0]
    assert docs == len(ITEMS) - 1
    fts_consistent(store.storage)


def test_copies_of_one_story_are_one_result(store):
    # another outlet carries story 1 under the same link: one story, two copies
    copy = item(1, "Lab delays model over safety", "alignment, copied")
    store.config = replace(
        store.config,
        sources=(*store.config.sources, SourceConfig(URL_B, name="Outlet B")),
    )
    store.poll(rss(copy, title="Outlet B"), url=URL_B)
    stories = pipeline.search_stories(store.storage, "alignment", 10)
    assert [len(copies) for _rep, copies in stories] == [1, 0]


def test_migration_indexes_entries_already_stored(tmp_path):
    path = str(tmp_path / "old.db")
    conn = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS.apply(Database(conn), stop_before="m006_search")
    conn.execute(
        "INSERT INTO sources (id, url, fetch_url, added_at) VALUES (1, 'u', 'u', 't')"
    )
    conn.execute(
        "INSERT INTO entries (key, source_id, title, content, authors, content_hash,"
        " story_id, first_seen_at, last_changed_at, sort_at)"
        " VALUES ('k1', 1, 'Old title', '<p>stored before search</p>',"
        ' \'[{"name": "Ada", "email": null, "uri": null}]\', \'h\', \'s1\','
        " '2026-01-01T00:00:00.000000+00:00', '2026-01-01T00:00:00.000000+00:00',"
        " '2026-01-01T00:00:00.000000+00:00')"
    )
    conn.close()
    with Storage(path) as storage:
        assert storage.search_keys(parse_query("before search").fts) == ("k1",)
        assert storage.search_keys(parse_query("author:ada").fts) == ("k1",)
        assert storage.search_keys(parse_query("p").fts) == ()
        fts_consistent(storage)


def test_index_ids_survive_vacuum(tmp_path):
    # entries has no INTEGER PRIMARY KEY: VACUUM may renumber its rowids, so
    # the index must not depend on them
    with Storage(str(tmp_path / "v.db")) as storage:
        s = Store(storage, make_config())
        s.poll(rss(*ITEMS))
        (first,) = storage.find_entries("https://a.test/1")
        pipeline.purge(storage, s.config, [first.key], now=T0)
        with storage._write("vacuum") as conn:
            conn.execute("COMMIT")
            conn.execute("VACUUM")
            conn.execute("BEGIN")
        s.poll(rss(item(2, "Regulators leave Brussels", "changed"), *ITEMS[2:]))
        assert s.titles("leave") == ["Regulators leave Brussels"]
        assert s.titles("discussed") == []
        fts_consistent(storage)


def test_the_index_refusing_a_query_is_a_query_error(store):
    with pytest.raises(QueryError):
        store.storage.search_stories('"unclosed', 10)


# ---------------------------------------------------------------- HTTP


@pytest.fixture
def served(store, free_socket) -> Iterator[str]:
    app = create_app(store.storage, store.config, recheck=0)
    with running_app(app, free_socket) as base:
        yield base


def get(
    url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def search_url(base: str, query: str, ext: str = "atom") -> str:
    return f"{base}search.{ext}?q={urllib.parse.quote(query)}"


def test_search_feed_is_valid_atom_with_a_stable_id(served):
    status, headers, body = get(search_url(served, 'Alignment  -"job ad"'))
    assert status == 200
    assert headers["content-type"].startswith("application/atom+xml")
    root = etree.fromstring(body)
    assert root.tag == f"{A}feed"
    # RFC 4287 4.1.1: id, title, updated; self link carries the normalized query
    feed_id = root.findtext(f"{A}id")
    assert feed_id == "http://hub.test/search.atom?q=alignment%20NOT%20%22job%20ad%22"
    assert root.findtext(f"{A}title")
    assert root.findtext(f"{A}updated")
    self_link = root.find(f"{A}link[@rel='self']")
    assert self_link is not None and self_link.get("href") == feed_id
    entries = root.findall(f"{A}entry")
    assert [e.findtext(f"{A}title") for e in entries] == [
        "Lab delays model over safety"
    ]
    (entry,) = entries
    for child in ("id", "title", "updated"):
        assert entry.findtext(f"{A}{child}")
    assert entry.find(f"{A}source/{A}title").text == "Outlet A"
    # an equivalent spelling is the same feed
    _, _, again = get(search_url(served, 'alignment NOT "JOB AD"'))
    assert etree.fromstring(again).findtext(f"{A}id") == feed_id


def test_search_feed_etag_gives_304(served):
    url = search_url(served, "alignment")
    status, headers, _ = get(url)
    assert status == 200
    status, _, body = get(url, {"If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")
    # another query is another document
    status, other, _ = get(search_url(served, "brussels"))
    assert status == 200 and other["etag"] != headers["etag"]


@pytest.mark.parametrize(
    ("ext", "media"),
    [
        ("rss", "application/rss+xml"),
        ("json", "application/feed+json"),
        ("html", "text/html"),
    ],
)
def test_search_twins(served, ext, media):
    status, headers, body = get(search_url(served, "brussels", ext))
    assert status == 200
    assert headers["content-type"].startswith(media)
    assert b"Regulators meet in Brussels" in body
    if ext == "json":
        doc = json.loads(body)
        assert doc["feed_url"] == "http://hub.test/search.json?q=brussels"


@pytest.mark.parametrize(("query", "message"), BAD_QUERIES[:-1])
def test_bad_queries_get_400_with_a_reason(served, query, message):
    status, headers, body = get(search_url(served, query))
    assert status == 400
    assert headers["content-type"].startswith("text/plain")
    # the body echoes the reader's query: never sniffed as HTML, never cached
    assert headers["x-content-type-options"] == "nosniff"
    assert message.encode() in body
    assert len(body) < 300


def test_missing_or_overlong_q_is_400_and_bad_format_404(served):
    assert get(f"{served}search.atom")[0] == 400
    assert get(search_url(served, "x" * 5000))[0] == 400
    assert get(search_url(served, "ai", "xml"))[0] == 404


@pytest.mark.parametrize(
    "query", ["open-source", "runtime's", "node.js", "10:30", "a.b:c-d", "ü/x"]
)
def test_punctuation_in_plain_words_is_never_a_server_error(served, query):
    assert get(search_url(served, query))[0] == 200


# ---------------------------------------------------------------- CLI


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    db = tmp_path / "feedhub.db"
    with Storage(str(db)) as storage:
        Store(storage, make_config(str(db))).poll(rss(*ITEMS))
    path = tmp_path / "feeds.yaml"
    path.write_text(f"database: {db}\nsources:\n  - url: {URL_A}\n")
    return path


def test_cli_search_prints_newest_matches(cli_config):
    runner = CliRunner()
    args = ["--config", str(cli_config), "search"]
    result = runner.invoke(cli, [*args, "alignment"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].endswith("Outlet A  Lab delays model over safety")
    assert lines[0].startswith("2026-11-20 11:00")
    assert lines[1].strip() == "https://a.test/1"
    assert "Jobs: alignment engineer" in lines[2]
    result = runner.invoke(
        cli, [*args, "--json", "--limit", "1", "alignment"], catch_exceptions=False
    )
    rows = json.loads(result.output)
    assert [(r["title"], r["source"], r["link"]) for r in rows] == [
        ("Lab delays model over safety", "Outlet A", "https://a.test/1")
    ]
    result = runner.invoke(cli, [*args, "nothing-like-this"], catch_exceptions=False)
    assert result.output == "no matches\n"


def test_cli_search_refuses_a_bad_query(cli_config):
    result = CliRunner().invoke(
        cli, ["--config", str(cli_config), "search", "NOT", "ai"]
    )
    assert result.exit_code == 1
    assert "NOT needs something before it" in result.output


@pytest.mark.parametrize(
    "query", ["a OR the OR ai", "alignment", "ai NOT football", "w*", "nothing"]
)
def test_walking_dense_matches_gives_what_looking_them_up_gives(
    store, monkeypatch, query
):
    # many matches are found by walking the stories newest first (pages of 2
    # here) instead of looking each match up: same stories, same order
    store.poll(rss(*[item(20 + i, f"AI note {i}", "w word") for i in range(9)]))
    wanted = {limit: store.titles(query, limit) for limit in (1, 3, 50)}
    monkeypatch.setattr(_search, "DENSE", 0)
    monkeypatch.setattr(_search, "_WALK_PAGE", 2)
    for limit, titles in wanted.items():
        assert store.titles(query, limit) == titles
