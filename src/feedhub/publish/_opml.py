"""Render OPML 2.0 subscription lists of the published feeds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime

from feedhub.publish._text import esc, utc
from feedhub.types import FeedRef


def render_opml(
    feeds: Sequence[FeedRef],
    *,
    base_url: str,
    title: str,
    generated_at: datetime,
) -> bytes:
    """Render an OPML 2.0 document subscribing to every feed given (their Atom URL).

    Each outline has ``type="rss"`` (OPML 2.0 §"subscription lists": the type
    for any feed format), ``xmlUrl`` and ``htmlUrl`` (the preview page).
    """
    when = format_datetime(utc(generated_at, "generated_at"), usegmt=True)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "<head>",
        f"<title>{esc(title)}</title>",
        f"<dateCreated>{when}</dateCreated>",
        "</head>",
        "<body>",
    ]
    root = base_url.rstrip("/") + "/"
    for ref in feeds:
        name = esc(ref.title) or esc(ref.slug)
        xml_url = esc(root + ref.path)
        html_url = esc(root + ref.path.rsplit(".", 1)[0] + ".html")
        lines.append(
            f'<outline type="rss" text="{name}" title="{name}" '
            f'xmlUrl="{xml_url}" htmlUrl="{html_url}"/>'
        )
    lines += ["</body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")
