"""Read the ``retention:`` section of feeds.yaml."""

from __future__ import annotations

from yaml.nodes import Node

from feedhub.config._reader import NodeReader, is_null
from feedhub.types import RetentionConfig

__all__ = ["read_retention"]


def read_retention(reader: NodeReader, node: Node | None) -> RetentionConfig:
    """Read ``retention:``; absent or null keeps everything."""
    if node is None or is_null(node):
        return RetentionConfig()
    raise reader.error(node, "retention", "not supported yet")
