"""Storage of authors (see the owning issue); mixed into ``Storage``."""

from __future__ import annotations

from feedhub.storage._db import StorageBase

__all__ = ["AuthorsMixin"]


class AuthorsMixin(StorageBase):
    """Authors queries and writes."""
