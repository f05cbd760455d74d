"""Appending sources and topics to feeds.yaml keeps every other byte (issue 4)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from feedhub.config import add_sources, load_config, parse_config
from feedhub.exceptions import ConfigError
from feedhub.types import PollingConfig, SourceConfig, TopicConfig

SHIPPED = Path(__file__).parent.parent / "feeds.yaml"
NEW = SourceConfig("https://new.example/feed.xml", "New: the feed", ("robots",))
ROBOTS = TopicConfig("robots", "Robots & co")


def added_lines(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    changes = [line for line in diff if line[:1] in "+-"]
    assert all(line.startswith("+") for line in changes), changes
    return [line[2:] for line in changes]


def test_shipped_file_keeps_every_comment_and_line(tmp_path):
    path = tmp_path / "feeds.yaml"
    before = SHIPPED.read_text(encoding="utf-8")
    path.write_text(before, encoding="utf-8")
    os.chmod(path, 0o600)
    config = add_sources(path, [NEW, SourceConfig("https://x.example/a?b=1")], [ROBOTS])
    after = path.read_text(encoding="utf-8")
    assert added_lines(before, after) == [
        "  - url: https://new.example/feed.xml",
        "    name: 'New: the feed'",
        "    topics: [robots]",
        "  - url: https://x.example/a?b=1",
        "  robots:",
        "    title: Robots & co",
    ]
    # inserted right after the last source, before the comment of topics:
    lines = after.splitlines()
    assert lines[lines.index("  - url: https://x.example/a?b=1") + 2].startswith(
        "# Topics:"
    )
    assert config.sources[-2:] == (NEW, SourceConfig("https://x.example/a?b=1"))
    assert config.topics[-1] == ROBOTS
    assert load_config(path) == config
    assert os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment",
        "database: x.db",
        "sources:\ntopics:\n",
        "sources: []   # none yet\ntopics: {}\n",
        'sources: [{url: "https://a.example/f"}]\ntopics: {ai: {title: AI}}\n',
        "sources:\n- url: https://a.example/f\n  topics: [ai]\n# trailing\n\n"
        "topics:\n    ai:\n        title: AI\n",
        "topics:\n  ai: {title: AI}\nsources:\n  -   url: https://a.example/f\n"
        "      interval: 1h\n",
    ],
)
def test_shapes_of_files(tmp_path, text):
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    before = parse_config(text, str(path))
    config = add_sources(path, [NEW], [ROBOTS])
    assert config.sources == (*before.sources, NEW)
    assert [t.slug for t in config.topics] == [t.slug for t in before.topics] + [
        "robots"
    ]
    after = path.read_text(encoding="utf-8")
    for line in text.splitlines():
        code, _, comment = line.partition("#")
        # flow collections ([...], {...}) grow in place; all else stays as is
        assert (comment in after) if "[" in code or "{" in code else (line in after)


def test_missing_file_is_created(tmp_path):
    path = tmp_path / "new.yaml"
    config = add_sources(path, [SourceConfig("https://a.example/f")])
    assert config.sources == (SourceConfig("https://a.example/f"),)
    assert config.polling == PollingConfig()


def test_duplicate_url_is_refused_and_file_untouched(tmp_path):
    path = tmp_path / "feeds.yaml"
    text = "sources:\n  - url: https://a.example/f  # keep me\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="listed twice"):
        add_sources(path, [SourceConfig("https://A.example/f")])
    assert path.read_text(encoding="utf-8") == text


def test_undeclared_topic_is_refused(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("sources: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not declared"):
        add_sources(path, [NEW])


def test_odd_values_are_quoted(tmp_path):
    path = tmp_path / "feeds.yaml"
    odd = SourceConfig("https://a.example/f?x=1#y", name="yes", interval=5400.0)
    config = add_sources(path, [odd, SourceConfig("https://b.example/", "Café #1")])
    assert config.sources == (odd, SourceConfig("https://b.example/", "Café #1"))
