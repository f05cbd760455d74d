"""SQLite persistence of sources, entries and stories; nothing else touches SQLite.

``Storage`` is assembled from per-domain mixins (``_sources``, ``_entries``,
``_stories``) over ``_db.StorageBase``, which owns the per-thread connections.
Every method returns ``feedhub.types`` values, never rows, and raises
``StorageError`` for operational SQLite failures (locked, read-only, corrupt).
"""

from __future__ import annotations

from feedhub.storage._authors import AuthorsMixin
from feedhub.storage._curation import CurationMixin
from feedhub.storage._dedupe import DedupeMixin
from feedhub.storage._entries import EntriesMixin
from feedhub.storage._publishing import PublishingMixin
from feedhub.storage._retention import RetentionMixin
from feedhub.storage._search import SearchMixin
from feedhub.storage._sources import SourcesMixin
from feedhub.storage._stories import StoriesMixin

__all__ = ["Storage"]


class Storage(
    SourcesMixin,
    EntriesMixin,
    StoriesMixin,
    PublishingMixin,
    DedupeMixin,
    CurationMixin,
    AuthorsMixin,
    SearchMixin,
    RetentionMixin,
):
    """feedhub's database: ``Storage(path)`` opens it and applies migrations.

    Use it as a context manager, or call ``close()``. See ``StorageBase`` for
    the threading model (one connection per thread; ``":memory:"`` shares one).
    """
