"""The benchmark corpus generator: deterministic, the requested shape, honest truth."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import feedparser
import pytest

from bench import corpus

SPEC = corpus.CorpusSpec(feeds=16, entries=5, seed=7)
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[corpus.Plan, Path]:
    root = tmp_path_factory.mktemp("corpus")
    return corpus.generate(SPEC, root), root


def _ids(path: Path) -> list[str]:
    """Entry ids and links of one feed file, read without the generator's help."""
    if path.suffix == ".json":
        items = json.loads(path.read_bytes())["items"]
        return [i["id"] for i in items] + [i["url"] for i in items]
    root = ET.fromstring(path.read_bytes())
    if path.suffix == ".rss":
        return [e.text or "" for e in root.iter("guid")] + [
            e.text or "" for e in root.iter("link")
        ]
    base = root.get("{http://www.w3.org/XML/1998/namespace}base", "")
    ids = [e.text or "" for e in root.iter(f"{ATOM}id")]
    # links on the outlet's own host are relative to xml:base
    links = [
        base.rstrip("/") + h if (h := e.get("href", "")).startswith("/") else h
        for e in root.iter(f"{ATOM}link")
    ]
    return ids + links


def test_same_seed_same_bytes_and_other_seed_differs():
    first = dict(corpus.iter_files(corpus.make_plan(SPEC)))
    again = dict(corpus.iter_files(corpus.make_plan(SPEC)))
    assert first == again
    other = corpus.CorpusSpec(feeds=SPEC.feeds, entries=SPEC.entries, seed=8)
    assert dict(corpus.iter_files(corpus.make_plan(other))) != first


def test_generate_writes_what_iter_files_yields(generated):
    plan, root = generated
    for rel, data in corpus.iter_files(plan):
        assert (root / rel).read_bytes() == data


def test_requested_shape_and_format_mix(generated):
    plan, root = generated
    assert len(plan.feeds) == SPEC.feeds
    formats = set()
    for fp in plan.feeds:
        path = root / fp.path
        formats.add(fp.format)
        if fp.format == "json":
            doc = json.loads(path.read_bytes())
            assert doc["version"] == "https://jsonfeed.org/version/1.1"
            assert len(doc["items"]) == SPEC.entries
            continue
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, (fp.path, parsed.get("bozo_exception"))
        assert len(parsed.entries) == SPEC.entries
        assert parsed.version == ("rss20" if fp.format == "rss" else "atom10")
        entry = parsed.entries[0]
        body = entry.content[0].value
        assert 1500 < len(body) < 9000, len(body)  # 2-6 KB of HTML, after parsing
        assert "<p>" in body
        if fp.format == "rss":
            assert entry.author and entry.tags  # dc:creator and categories
        else:
            # xml:base resolves the outlet's relative links; copies link elsewhere
            links = [e.link for e in parsed.entries]
            assert all(link.startswith("https://") for link in links)
            assert any(link.startswith(f"https://{fp.host}/") for link in links)
    assert formats == {"rss", "atom-html", "atom-xhtml", "json"}


def test_authors_are_shared_across_feeds(generated):
    plan, _ = generated
    seen: dict[str, int] = {}
    for fp in plan.feeds:
        for name in fp.authors:
            seen[name] = seen.get(name, 0) + 1
    assert max(seen.values()) >= 2


def test_syndication_truth_matches_the_feeds(generated):
    plan, root = generated
    truth = json.loads((root / "truth.json").read_bytes())
    assert truth["entries"] == SPEC.feeds * SPEC.entries
    stories = truth["stories"]
    assert stories, "no syndicated story"
    share = len(stories) / (
        truth["entries"] - sum(len(s["copies"]) - 1 for s in stories)
    )
    assert 0.05 < share < 0.15  # about 10% of stories
    for story in stories:
        copies = story["copies"]
        assert 2 <= len(copies) <= 4
        assert len({c["feed"] for c in copies}) == len(copies)
        assert len({c["link"] for c in copies}) == len(copies)  # other links
        assert len({c["title"] for c in copies}) > 1 or len(copies) == 1
        for c in copies:
            found = _ids(root / c["feed"])
            assert c["id"] in found, (c["feed"], c["id"])
            assert c["link"] in found, (c["feed"], c["link"])


def test_mutate_changes_a_tenth_of_feeds_and_keeps_the_original(generated, tmp_path):
    plan, root = generated
    live = tmp_path / "live"
    for fp in plan.feeds:
        (live / fp.path).parent.mkdir(parents=True, exist_ok=True)
        (live / fp.path).hardlink_to(root / fp.path)
    before = {fp.path: (root / fp.path).read_bytes() for fp in plan.feeds}
    changed = corpus.mutate(plan, live, gen=1, fraction=0.1)
    assert len(changed) == round(SPEC.feeds * 0.1)
    for fp in plan.feeds:
        now = (live / fp.path).read_bytes()
        assert (now != before[fp.path]) == (fp.path in changed)
        assert (root / fp.path).read_bytes() == before[fp.path]
    assert changed == corpus.mutate(plan, live, gen=1, fraction=0.1)
