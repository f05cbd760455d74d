"""Tests for the dedupe: section and publish.backlog_per_new_source of feeds.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedhub.config import load_config, parse_config
from feedhub.exceptions import ConfigError
from feedhub.types import CleanAction, CleanRule, DedupeConfig

SOURCES = """
sources:
  - {url: https://a.example/feed, name: Outlet A}
  - {url: https://b.example/feed}
"""


def parse(text: str):
    return parse_config(SOURCES + text, "/srv/feeds.yaml")


def test_defaults():
    config = parse("")
    assert config.dedupe == DedupeConfig()
    assert config.publish.backlog_per_new_source == 10


def test_every_key():
    config = parse(
        """
publish: {backlog_per_new_source: all}
dedupe:
  near_duplicates: false
  window: 2d
  body_threshold: 0.7
  containment_threshold: 1
  title_threshold: 0.5
  title_containment: 0.2
  min_shingles: 30
  tracking_params: [src, campaign]
  amp: false
  prefer: [Outlet A, "https://B.example/feed"]
  clean:
    rules:
      - {name: sponsor, pattern: "sponsored by .*", action: cut}
      - {name: promo, pattern: "promo"}
    disable: [share]
"""
    )
    assert config.publish.backlog_per_new_source is None
    assert config.dedupe == DedupeConfig(
        near_duplicates=False,
        window=2 * 86400.0,
        body_threshold=0.7,
        containment_threshold=1.0,
        title_threshold=0.5,
        title_containment=0.2,
        min_shingles=30,
        tracking_params=("src", "campaign"),
        amp=False,
        prefer=("https://a.example/feed", "https://b.example/feed"),
        clean_rules=(
            CleanRule("sponsor", "sponsored by .*", CleanAction.CUT),
            CleanRule("promo", "promo", CleanAction.DROP),
        ),
        clean_disable=("share",),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "dedupe: {body_threshold: 1.5}",
            r"dedupe\.body_threshold: 1\.5 is not between 0",
        ),
        (
            "dedupe: {body_threshold: high}",
            r"dedupe\.body_threshold: expected a number",
        ),
        ("dedupe: {amp: maybe}", r"dedupe\.amp: expected true or false"),
        (
            "dedupe: {prefer: [Outlet C]}",
            r"dedupe\.prefer\[0\]: 'Outlet C' is not a configured",
        ),
        ("dedupe: {windw: 1d}", r"windw"),
        (
            "dedupe: {clean: {rules: [{name: x, pattern: '('}]}}",
            r"dedupe\.clean\.rules\[0\]\.pattern: not a regular expression",
        ),
        (
            "dedupe: {clean: {rules: [{name: x, pattern: y, action: zap}]}}",
            r"dedupe\.clean\.rules\[0\]\.action: 'zap' is not one of drop, cut, bio",
        ),
        ("dedupe: {clean: {rules: [{pattern: y}]}}", r"every rule needs a 'name'"),
        ("publish: {backlog_per_new_source: -1}", r"publish\.backlog_per_new_source"),
    ],
)
def test_errors_name_the_key(text: str, message: str):
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_the_shipped_file_documents_the_section():
    config = load_config(Path(__file__).parent.parent / "feeds.yaml")
    assert config.dedupe == DedupeConfig()
    assert config.publish.backlog_per_new_source == 10
