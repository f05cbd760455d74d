"""Read topic and block rules of feeds.yaml (``topics.*.match``, ``block``)."""

from __future__ import annotations

from yaml.nodes import Node

from feedhub.config._reader import NodeReader, is_null
from feedhub.types import Match

__all__ = ["read_block"]


def read_block(reader: NodeReader, node: Node | None) -> Match | None:
    """Read the global ``block`` rule; absent or null blocks nothing."""
    if node is None or is_null(node):
        return None
    raise reader.error(node, "block", "not supported yet")
