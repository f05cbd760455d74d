"""Tests for the ``authors:`` section of feeds.yaml (config/_authors.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedhub.authors import author_key
from feedhub.config import config_fingerprint, parse_config
from feedhub.config._authors import alias_key
from feedhub.exceptions import ConfigError
from feedhub.types import AuthorConfig, Config

PATH = "/etc/feedhub/feeds.yaml"


def read(text: str) -> Config:
    return parse_config(text, PATH)


def error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        read(text)
    return info.value


def test_absent_or_null_section_gives_no_authors() -> None:
    assert read("sources: []\n").authors == ()
    assert read("authors:\n").authors == ()


def test_reads_people_and_organisations() -> None:
    config = read(
        """
authors:
  ramsha-riaz:
    name: Ramsha Riaz
    aliases: [R. Riaz, ramsha@example.org]
  reuters:
    organisation: true
  associated-press:
    name: Associated Press
    organisation: true
    publish: true
  jane-doe:
    publish: false
"""
    )
    assert config.authors == (
        AuthorConfig(
            slug="ramsha-riaz",
            name="Ramsha Riaz",
            aliases=("R. Riaz", "ramsha@example.org"),
        ),
        # organisations are not published unless asked
        AuthorConfig(slug="reuters", name="Reuters", organisation=True, publish=False),
        AuthorConfig(
            slug="associated-press",
            name="Associated Press",
            organisation=True,
            publish=True,
        ),
        # the name defaults to the slug, capitalised
        AuthorConfig(slug="jane-doe", name="Jane Doe", publish=False),
    )


def test_unknown_key_is_refused_with_file_line_and_key() -> None:
    e = error("authors:\n  ramsha-riaz:\n    name: Ramsha Riaz\n    alias: [x]\n")
    assert e.path == PATH
    assert e.line == 4
    assert e.key == "authors.ramsha-riaz.alias"
    assert "unknown key 'alias'" in str(e)
    assert "did you mean 'aliases'" in str(e)
    assert str(e).startswith(f"config: {PATH}:4: authors.ramsha-riaz.alias:")


def test_alias_claimed_by_two_authors_is_refused() -> None:
    e = error(
        """authors:
  ramsha-riaz:
    aliases: [R. Riaz]
  rafael-riaz:
    aliases: ["r riaz"]
"""
    )
    assert e.line == 5
    assert e.key == "authors.rafael-riaz.aliases[0]"
    assert "already names author 'ramsha-riaz' (line 3)" in str(e)


def test_alias_naming_another_configured_author_is_refused() -> None:
    e = error(
        """authors:
  ramsha-riaz:
    name: Ramsha Riaz
  rr:
    name: RR
    aliases: [RAMSHA RIAZ]
"""
    )
    assert e.line == 6
    assert "already names author 'ramsha-riaz'" in str(e)


def test_email_aliases_compare_without_case() -> None:
    e = error(
        """authors:
  a:
    aliases: [ramsha@example.org]
  b:
    aliases: [Ramsha@Example.org]
"""
    )
    assert e.key == "authors.b.aliases[0]"


def test_an_author_may_repeat_its_own_spellings() -> None:
    config = read("authors:\n  ramsha-riaz:\n    aliases: [Ramsha Riaz, ramsha riaz]\n")
    assert config.authors[0].aliases == ("Ramsha Riaz", "ramsha riaz")


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("authors:\n  Ramsha Riaz: {}\n", "authors.Ramsha Riaz", "cannot be used in"),
        ("authors:\n  index: {}\n", "authors.index", "reserved"),
        ("authors:\n  r:\n    publish: maybe\n", "authors.r.publish", "true or false"),
        (
            "authors:\n  r:\n    organisation: 1\n",
            "authors.r.organisation",
            "true or false",
        ),
        ("authors:\n  r:\n    aliases: R. Riaz\n", "authors.r.aliases", "a list"),
        ("authors:\n  r:\n    aliases: ['...']\n", "authors.r.aliases[0]", "letters"),
        ("authors:\n  r:\n    name: ''\n", "authors.r.name", "must not be empty"),
        ("authors: [ramsha]\n", "authors", "expected a mapping"),
        ("authors:\n  r: [x]\n", "authors.r", "expected a mapping"),
    ],
)
def test_invalid_values_name_the_key(text: str, key: str, message: str) -> None:
    e = error(text)
    assert e.key == key
    assert message in e.message
    assert e.line is not None


def test_fingerprint_changes_with_the_authors_section() -> None:
    base = read("sources: []\n")
    one = replace(base, authors=(AuthorConfig("ramsha-riaz", "Ramsha Riaz"),))
    aliased = replace(
        base,
        authors=(AuthorConfig("ramsha-riaz", "Ramsha Riaz", aliases=("R. Riaz",)),),
    )
    hidden = replace(
        base, authors=(AuthorConfig("ramsha-riaz", "Ramsha Riaz", publish=False),)
    )
    prints = {config_fingerprint(c) for c in (base, one, aliased, hidden)}
    assert len(prints) == 4
    # the order of authors does not matter
    a, b = AuthorConfig("a", "A"), AuthorConfig("b", "B")
    assert config_fingerprint(replace(base, authors=(a, b))) == config_fingerprint(
        replace(base, authors=(b, a))
    )


@given(st.text())
def test_alias_key_is_the_authors_stage_key(text: str) -> None:
    # the reader refuses exactly the aliases the stage would confuse
    if "@" not in text:
        assert alias_key(text) == author_key(text)
