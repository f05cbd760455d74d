"""Wire the pipeline stages to storage: poll sources, apply rules, render feeds.

This is the imperative shell: every decision is made by a pure stage
(parse, normalize, dedupe, curate, schedule, publish); this package only moves
values between them, the network and the database.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feedhub.pipeline._plan import FeedPlan, Plan, PlannedEntry, plan
    from feedhub.pipeline._poll import (
        FetcherLike,
        PollRecorder,
        body_hash,
        host_of,
        poll,
        poll_once,
        pollable_sources,
        summarize,
        utcnow,
    )
    from feedhub.pipeline._publishing import (
        ARCHIVE_MAX_AGE,
        EMPTY_FEED_UPDATED,
        FEED_FORMATS,
        OPML_GROUPS,
        Pinger,
        RefreshResult,
        Rendered,
        author_index,
        build_archive,
        build_document,
        cache_seconds,
        feed_key,
        feed_path,
        find_feed,
        list_feeds,
        render_archive,
        render_authors_index,
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
    from feedhub.pipeline._retention import (
        RETENTION_EVERY,
        TOMBSTONE_GRACE,
        RetentionResult,
        apply_retention,
        retention_keys,
    )
    from feedhub.pipeline._search import (
        find_view,
        render_search,
        search_entries,
        search_stories,
        view_selector,
        view_stories,
    )
    from feedhub.pipeline._stories import (
        ExplainedCopy,
        Explanation,
        apply_prefer,
        apply_rules,
        apply_views,
        assign_stories,
        explain,
        purge,
        rebuild_near_index,
        record_entries,
    )
    from feedhub.pipeline._workers import make_executor
    from feedhub.prepare import prepare_update

#: where each public name lives: a submodule is imported on first use (PEP 562),
#: so ``feedhub poll`` never loads the publishers, search or planning code, and
#: an all-304 run never loads the parsing stages (issue 4: start-up time and
#: memory)
_WHERE = {
    "ARCHIVE_MAX_AGE": "_publishing",
    "EMPTY_FEED_UPDATED": "_publishing",
    "ExplainedCopy": "_stories",
    "Explanation": "_stories",
    "FEED_FORMATS": "_publishing",
    "FeedPlan": "_plan",
    "FetcherLike": "_poll",
    "OPML_GROUPS": "_publishing",
    "Pinger": "_publishing",
    "Plan": "_plan",
    "PlannedEntry": "_plan",
    "PollRecorder": "_poll",
    "RETENTION_EVERY": "_retention",
    "RefreshResult": "_publishing",
    "Rendered": "_publishing",
    "RetentionResult": "_retention",
    "TOMBSTONE_GRACE": "_retention",
    "apply_prefer": "_stories",
    "apply_retention": "_retention",
    "apply_rules": "_stories",
    "apply_views": "_stories",
    "assign_stories": "_stories",
    "author_index": "_publishing",
    "body_hash": "_poll",
    "build_archive": "_publishing",
    "build_document": "_publishing",
    "cache_seconds": "_publishing",
    "explain": "_stories",
    "feed_key": "_publishing",
    "feed_path": "_publishing",
    "find_feed": "_publishing",
    "find_view": "_search",
    "host_of": "_poll",
    "list_feeds": "_publishing",
    "make_executor": "_workers",
    "plan": "_plan",
    "poll": "_poll",
    "poll_once": "_poll",
    "pollable_sources": "_poll",
    # outside the package, so that parse workers import only the stages
    "prepare_update": "feedhub.prepare",
    "publish_all": "_refresh",
    "publish_changes": "_refresh",
    "purge": "_stories",
    "rebuild_near_index": "_stories",
    "record_entries": "_stories",
    "refresh_feeds": "_refresh",
    "render_archive": "_publishing",
    "render_authors_index": "_publishing",
    "render_feed": "_publishing",
    "render_index": "_publishing",
    "render_opml": "_publishing",
    "render_search": "_search",
    "retention_keys": "_retention",
    "search_entries": "_search",
    "search_stories": "_search",
    "summarize": "_poll",
    "utcnow": "_poll",
    "view_selector": "_search",
    "view_stories": "_search",
    "websub_ping": "_refresh",
}


# hidden from type checkers, which see the imports above: a module-level
# ``__getattr__`` would make every misspelt ``pipeline.x`` type-check
if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        if "." not in module:
            module = f"{__name__}.{module}"
        value = getattr(importlib.import_module(module), name)
        # cached: later lookups (and monkeypatching in tests) see a plain attribute
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(__all__)


__all__ = [
    "ARCHIVE_MAX_AGE",
    "EMPTY_FEED_UPDATED",
    "FEED_FORMATS",
    "OPML_GROUPS",
    "RETENTION_EVERY",
    "TOMBSTONE_GRACE",
    "ExplainedCopy",
    "Explanation",
    "FeedPlan",
    "FetcherLike",
    "Pinger",
    "Plan",
    "PlannedEntry",
    "PollRecorder",
    "RefreshResult",
    "Rendered",
    "RetentionResult",
    "apply_prefer",
    "apply_retention",
    "apply_rules",
    "apply_views",
    "assign_stories",
    "author_index",
    "body_hash",
    "build_archive",
    "build_document",
    "cache_seconds",
    "explain",
    "feed_key",
    "feed_path",
    "find_feed",
    "find_view",
    "host_of",
    "list_feeds",
    "make_executor",
    "plan",
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
    "render_authors_index",
    "render_feed",
    "render_index",
    "render_opml",
    "render_search",
    "retention_keys",
    "search_entries",
    "search_stories",
    "summarize",
    "utcnow",
    "view_selector",
    "view_stories",
    "websub_ping",
]
