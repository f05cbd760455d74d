"""Storage of search (see the owning issue); mixed into ``Storage``."""

from __future__ import annotations

from feedhub.storage._db import StorageBase

__all__ = ["SearchMixin"]


class SearchMixin(StorageBase):
    """Search queries and writes."""
