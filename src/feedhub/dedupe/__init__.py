"""Recognize copies of one story: entry identity, canonical links, near-duplicates.

Pure: stdlib only, no I/O, no clock reads. ``_identity`` keys entries and
canonicalizes links; ``_near`` computes shingles, MinHash signatures and LSH
buckets; ``_assign`` scores candidates and decides stories and backlog.
"""

from __future__ import annotations

from feedhub.dedupe._assign import (
    Similarity,
    backlog,
    choose_story,
    decide,
    remember,
    similarity,
    title_filter,
)
from feedhub.dedupe._identity import (
    TRACKING_PARAMS,
    TRACKING_PREFIXES,
    canonical_link,
    canonical_url,
    content_hash,
    entry_key,
    identify,
    unamp,
)
from feedhub.dedupe._near import (
    INDEX_VERSION,
    Features,
    features,
    fingerprint,
    plain_text,
    title_similarity,
)

__all__ = [
    "INDEX_VERSION",
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "Features",
    "Similarity",
    "backlog",
    "canonical_link",
    "canonical_url",
    "choose_story",
    "content_hash",
    "decide",
    "entry_key",
    "features",
    "fingerprint",
    "identify",
    "plain_text",
    "remember",
    "similarity",
    "title_filter",
    "title_similarity",
    "unamp",
]
