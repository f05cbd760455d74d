"""Wire the pipeline stages to storage: poll sources, apply rules, render feeds.

This is the imperative shell: every decision is made by a pure stage
(parse, normalize, dedupe, curate, schedule, publish); this package only moves
values between them, the network and the database.
"""

from __future__ import annotations

from feedhub.pipeline._poll import (
    FetcherLike,
    body_hash,
    host_of,
    make_executor,
    poll,
    poll_once,
    pollable_sources,
    summarize,
    utcnow,
)
from feedhub.pipeline._prepare import prepare_update
from feedhub.pipeline._publishing import (
    ARCHIVE_MAX_AGE,
    EMPTY_FEED_UPDATED,
    FEED_FORMATS,
    OPML_GROUPS,
    Pinger,
    RefreshResult,
    Rendered,
    build_archive,
    build_document,
    cache_seconds,
    feed_key,
    feed_path,
    find_feed,
    list_feeds,
    render_archive,
    render_feed,
    render_index,
    render_opml,
)
from feedhub.pipeline._refresh import (
    publish_all,
    publish_changes,
    refresh_feeds,
    websub_ping,
)
from feedhub.pipeline._stories import (
    ExplainedCopy,
    Explanation,
    apply_prefer,
    apply_rules,
    assign_stories,
    explain,
    purge,
    rebuild_near_index,
    record_entries,
)

__all__ = [
    "ARCHIVE_MAX_AGE",
    "EMPTY_FEED_UPDATED",
    "FEED_FORMATS",
    "OPML_GROUPS",
    "ExplainedCopy",
    "Explanation",
    "FetcherLike",
    "Pinger",
    "RefreshResult",
    "Rendered",
    "apply_prefer",
    "apply_rules",
    "assign_stories",
    "body_hash",
    "build_archive",
    "build_document",
    "cache_seconds",
    "explain",
    "feed_key",
    "feed_path",
    "find_feed",
    "host_of",
    "list_feeds",
    "make_executor",
    "poll",
    "poll_once",
    "pollable_sources",
    "prepare_update",
    "publish_all",
    "publish_changes",
    "purge",
    "rebuild_near_index",
    "record_entries",
    "refresh_feeds",
    "render_archive",
    "render_feed",
    "render_index",
    "render_opml",
    "summarize",
    "utcnow",
    "websub_ping",
]
