"""Read the ``retention:`` section of feeds.yaml (how long entries are kept)."""

from __future__ import annotations

from yaml.nodes import Node

from feedhub.config._reader import NodeReader, child, is_null
from feedhub.config._values import format_duration
from feedhub.types import RetentionConfig

__all__ = ["read_retention"]

_KEYS = ("max_age", "max_entries_per_source")
#: shortest max_age: anything shorter would purge entries between two polls
MIN_AGE = 3600.0
#: longest max_age (100 years); longer is a typo, leave the key out instead
MAX_AGE = 36500 * 86400.0
#: most entries kept per source; a bigger number is a typo, write null
MAX_ENTRIES = 100_000_000


def read_retention(reader: NodeReader, node: Node | None) -> RetentionConfig:
    """Read ``retention:``; absent or null keeps everything.

    Each key may be null (or absent) to switch that limit off.

    Raises:
        ConfigError: an unknown key, or a value of the wrong kind or out of
            range; the message names the file, the line and the key.
    """
    values = reader.mapping(node, "retention", _KEYS)
    max_age: float | None = None
    age_node = values.get("max_age")
    if age_node is not None and not is_null(age_node):
        key = child("retention", "max_age")
        max_age = reader.duration(age_node, key)
        if not MIN_AGE <= max_age <= MAX_AGE:
            raise reader.error(
                age_node,
                key,
                f"{format_duration(max_age)} is out of range "
                f"{format_duration(MIN_AGE)}..{format_duration(MAX_AGE)}",
            )
    count: int | None = None
    count_node = values.get("max_entries_per_source")
    if count_node is not None and not is_null(count_node):
        key = child("retention", "max_entries_per_source")
        count = reader.integer(count_node, key, 1, MAX_ENTRIES)
    return RetentionConfig(max_age=max_age, max_entries_per_source=count)
