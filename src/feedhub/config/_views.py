"""Read the ``feeds:`` section of feeds.yaml (named views)."""

from __future__ import annotations

from yaml.nodes import Node

from feedhub.config._reader import NodeReader, is_null
from feedhub.types import SourceConfig, TopicConfig, ViewConfig

__all__ = ["read_views"]


def read_views(
    reader: NodeReader,
    node: Node | None,
    topics: tuple[TopicConfig, ...],
    sources: tuple[SourceConfig, ...],
) -> tuple[ViewConfig, ...]:
    """Read ``feeds:``; absent or null gives none."""
    if node is None or is_null(node):
        return ()
    raise reader.error(node, "feeds", "not supported yet")
