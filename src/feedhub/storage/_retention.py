"""Storage of retention (see the owning issue); mixed into ``Storage``."""

from __future__ import annotations

from feedhub.storage._db import StorageBase

__all__ = ["RetentionMixin"]


class RetentionMixin(StorageBase):
    """Retention queries and writes."""
