"""Read the ``authors:`` section of feeds.yaml."""

from __future__ import annotations

from yaml.nodes import Node

from feedhub.config._reader import NodeReader, is_null
from feedhub.types import AuthorConfig

__all__ = ["read_authors"]


def read_authors(reader: NodeReader, node: Node | None) -> tuple[AuthorConfig, ...]:
    """Read ``authors:``; absent or null gives none."""
    if node is None or is_null(node):
        return ()
    raise reader.error(node, "authors", "not supported yet")
