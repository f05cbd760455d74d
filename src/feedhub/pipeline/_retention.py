"""Retention pass: purge entries beyond ``retention:``, expire tombstones, free pages.

``feedhub run`` calls ``apply_retention`` on its poll thread every
``RETENTION_EVERY`` seconds, between a poll and the publish pass, so that the
publish pass retracts the purged entries (RFC 6721) exactly as after
``feedhub purge``; ``feedhub retention`` runs it once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from feedhub.storage import Storage
from feedhub.types import Config

log = logging.getLogger("feedhub.pipeline")  # one logger name for the package

#: seconds between two retention passes of ``feedhub run``
RETENTION_EVERY = 3600.0
#: a tombstone goes once its source's documents have lacked the entry this long
#: (30 days: a feed window that drops an entry and brings it back later than
#: that is not something feed readers handle either)
TOMBSTONE_GRACE = 30 * 86400.0
#: entries purged per transaction, so the poller never waits long on one
PURGE_BATCH = 1000
#: most pages given back to the file system per pass (4 KiB each: 256 MiB)
VACUUM_PAGES = 65536


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What one retention pass did."""

    #: entries deleted (each left a tombstone)
    purged: int = 0
    #: tombstones forgotten (see ``storage._retention``)
    tombstones_dropped: int = 0
    #: database pages given back to the file system
    pages_freed: int = 0


def retention_keys(storage: Storage, config: Config, now: datetime) -> list[str]:
    """Return the keys of the entries ``retention:`` says must go, sorted.

    An entry is too old when it was both first seen and dated more than
    ``max_age`` ago (so a newly added feed's old entries stay ``max_age``);
    it is one too many when its source has ``max_entries_per_source`` newer.
    """
    retention = config.retention
    keys: set[str] = set()
    if retention.max_age is not None:
        before = now - timedelta(seconds=retention.max_age)
        keys.update(storage.entries_older_than(before))
    if retention.max_entries_per_source is not None:
        keys.update(storage.entries_over_limit(retention.max_entries_per_source))
    return sorted(keys)


def apply_retention(
    storage: Storage,
    config: Config,
    *,
    now: datetime,
    vacuum_pages: int = VACUUM_PAGES,
) -> RetentionResult:
    """Run one retention pass.

    Purges the entries ``retention_keys`` names (tombstones kept, so they are
    never ingested again), in transactions of ``PURGE_BATCH``; forgets
    tombstones missing from their source for ``TOMBSTONE_GRACE``; then gives
    up to ``vacuum_pages`` free pages back (``PRAGMA incremental_vacuum``).
    The last two run without ``retention:`` too: they bound what manual
    purges leave behind.

    Args:
        storage: the database.
        config: for ``retention:``.
        now: the current time, aware UTC.
        vacuum_pages: most pages to free; 0 frees none.

    Returns:
        What the pass did.
    """
    purged = 0
    for batch in _batches(retention_keys(storage, config, now), PURGE_BATCH):
        purged += storage.purge_entries(batch, now)
    dropped = storage.drop_tombstones(now - timedelta(seconds=TOMBSTONE_GRACE))
    freed = storage.incremental_vacuum(vacuum_pages) if vacuum_pages > 0 else 0
    if purged or dropped or freed:
        log.info(
            "retention",
            extra={
                "purged": purged,
                "tombstones_dropped": dropped,
                "pages_freed": freed,
            },
        )
    return RetentionResult(purged, dropped, freed)


def _batches(keys: Sequence[str], size: int) -> list[Sequence[str]]:
    return [keys[start : start + size] for start in range(0, len(keys), size)]
