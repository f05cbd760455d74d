"""Storage of curation (see the owning issue); mixed into ``Storage``."""

from __future__ import annotations

from feedhub.storage._db import StorageBase

__all__ = ["CurationMixin"]


class CurationMixin(StorageBase):
    """Curation queries and writes."""
