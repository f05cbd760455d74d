"""Read feeds.yaml into a validated, frozen ``Config``; the only user of yaml."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence

from feedhub.config._edit import add_to_text, check_edit, write_text
from feedhub.config._query import parse_query
from feedhub.config._reader import compose
from feedhub.config._rules import curation_snapshot, match_json
from feedhub.config._sections import ConfigReader
from feedhub.config._values import parse_duration, parse_size
from feedhub.exceptions import ConfigError
from feedhub.types import Config, Match, SourceConfig, TopicConfig

__all__ = [
    "add_sources",
    "config_fingerprint",
    "curation_snapshot",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_query",
    "parse_size",
]


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a feeds.yaml file.

    Args:
        path: the config file; a relative ``database`` is resolved against its
            directory.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: the file cannot be read or is invalid; the message names
            the file, the line and the key.
    """
    filename = os.path.abspath(os.fspath(path))
    try:
        # utf-8-sig: editors on Windows like to add a byte-order mark.
        with open(filename, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"the file is not UTF-8 text (bad byte at offset {e.start})", path=filename
        ) from e
    except OSError as e:
        raise ConfigError(
            f"cannot read the config file: {e.strerror or e}", path=filename
        ) from e
    return parse_config(text, filename)


def parse_config(text: str, path: str) -> Config:
    """Validate the YAML text of a config file.

    Args:
        text: the YAML document.
        path: the file it came from, used in error messages and to resolve a
            relative ``database``.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: the text is invalid; the message names the file, the line
            and the key.
    """
    root = compose(text, path)
    return ConfigReader(path).config(root)


def add_sources(
    path: str | os.PathLike[str],
    sources: Sequence[SourceConfig],
    topics: Sequence[TopicConfig] = (),
) -> Config:
    """Append sources (and new topics) to a feeds.yaml, keeping its comments.

    Every other line of the file stays byte for byte as it was; the edited
    text is validated before it atomically replaces the file.

    Args:
        path: the config file; created when missing.
        sources: to append under ``sources:``.
        topics: to declare under ``topics:`` (slug and title).

    Returns:
        The configuration read from the edited file.

    Raises:
        ConfigError: the file is invalid, the result would be (e.g. a URL
            already listed), or the file cannot be written.
    """
    filename = os.path.abspath(os.fspath(path))
    before = load_config(filename) if os.path.exists(filename) else None
    text = ""
    if before is not None:
        with open(filename, encoding="utf-8-sig") as f:
            text = f.read()
    edited = add_to_text(text, filename, sources, topics)
    after = parse_config(edited, filename)
    if before is not None:
        check_edit(before, after, sources, topics)
    write_text(filename, edited)
    return after


def _topic_blob(topic: TopicConfig) -> list[object]:
    """A topic's rules as JSON data; a plain word rule keeps its old form,
    so that fingerprints stored by earlier versions still compare equal."""
    m = topic.match
    plain = m is not None and m == Match(
        any=tuple(i for i in m.any if isinstance(i, str)),
        all=tuple(i for i in m.all if isinstance(i, str)),
        none=tuple(i for i in m.none if isinstance(i, str)),
    )
    rule: object = None
    if m is not None:
        rule = [m.any, m.all, m.none] if plain else match_json(m)
    blob: list[object] = [topic.slug, rule]
    if topic.include_sources or topic.exclude_sources:
        blob.append([sorted(topic.include_sources), sorted(topic.exclude_sources)])
    return blob


def config_fingerprint(config: Config) -> str:
    """Return a sha256 hex digest of what decides curation, to detect rule changes.

    Covers each topic's slug and ``match`` rule, each source's URL and
    topics, and the ``authors:`` section. Titles, descriptions, polling and
    server settings are left out, and the order of topics and sources does not
    matter.
    """
    topics = sorted((_topic_blob(t) for t in config.topics), key=json.dumps)
    sources = sorted(
        ([s.url, sorted(s.topics)] for s in config.sources), key=json.dumps
    )
    curation: dict[str, object] = {"v": 1, "topics": topics, "sources": sources}
    if config.block is not None:
        curation["block"] = match_json(config.block)
    if config.authors:
        # who files under which author feed (absent: the fingerprint of a
        # config without an authors: section is what it always was)
        curation["authors"] = sorted(
            [a.slug, a.name, sorted(a.aliases), a.organisation, a.publish]
            for a in config.authors
        )
    blob = json.dumps(
        curation,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
