"""Render curated feeds as Atom and an HTML index, and write them atomically."""

from __future__ import annotations

import contextlib
import functools
import html
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from feedhub import __version__
from feedhub.exceptions import PublishError
from feedhub.types import (
    Author,
    FeedDocument,
    FeedKind,
    FeedRef,
    PublishedEntry,
    Related,
    SourceInfo,
)

logger = logging.getLogger(__name__)

ATOM_TYPE = "application/atom+xml"

# XML 1.0 §2.2 Char: tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF.
# Everything else (NUL, other C0 controls, lone surrogates, U+FFFE/U+FFFF) makes
# lxml raise, so it is dropped before any text reaches feedgen.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# RFC 4287 §3.2.3 atom:email is an addr-spec; the Appendix B schema checks ".+@.+".
_EMAIL = re.compile(r".+@.+", re.DOTALL)
# RFC 4287 §4.2.7.3 type is a media type; the schema checks ".+/.+".
_MEDIA_TYPE = re.compile(r".+/.+", re.DOTALL)

_UNTITLED = "Untitled"
_UNKNOWN_AUTHOR = "Unknown"

_SECTIONS = (
    (FeedKind.ALL, "All"),
    (FeedKind.TOPIC, "Topics"),
    (FeedKind.AUTHOR, "Authors"),
)

_CSS = """\
body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;\
padding:0 1rem;color:#222;background:#fff}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
ul{list-style:none;padding:0}li{padding:.3rem 0;border-bottom:1px solid #eee}
.count{color:#666;font-size:.9rem}footer{margin-top:2rem;color:#666;font-size:.9rem}
@media(prefers-color-scheme:dark){body{color:#ddd;background:#111}a{color:#8cf}\
li{border-color:#333}}"""


def _clean(text: str | None) -> str:
    """Drop characters XML 1.0 forbids; None becomes ""."""
    if not text:
        return ""
    return _NOT_XML_CHAR.sub("", text)


def _utc(value: datetime, what: str) -> datetime:
    """Return ``value`` in UTC; naive datetimes break the types.py contract."""
    if value.tzinfo is None:
        raise PublishError(f"publish: {what} is a naive datetime: {value!r}")
    return value.astimezone(UTC)


def _author_dict(author: Author) -> dict[str, str] | None:
    """Map an author to feedgen's dict, inventing the name RFC 4287 §3.2.1 requires.

    Returns None when the author carries nothing at all.
    """
    name = _clean(author.name).strip()
    email = _clean(author.email).strip()
    uri = _clean(author.uri).strip()
    if not name:
        if not (email or uri):
            return None
        name = email.partition("@")[0].strip() or _UNKNOWN_AUTHOR
    result = {"name": name}
    if _EMAIL.fullmatch(email):
        result["email"] = email
    if uri:
        result["uri"] = uri
    return result


def _authors(entry: PublishedEntry, source_title: str) -> list[dict[str, str]]:
    """Every entry gets an author, so the feed itself never needs one (§4.1.1)."""
    authors = [a for a in map(_author_dict, entry.authors) if a is not None]
    if authors:
        return authors
    fallback = {"name": source_title or _UNKNOWN_AUTHOR}
    if link := _clean(entry.source.link):
        fallback["uri"] = link
    return [fallback]


def _also_reported(related: Sequence[Related]) -> str:
    """HTML paragraph crediting the other outlets carrying the same story."""
    items = []
    for rel in related:
        href = _clean(rel.link)
        if not href:
            continue
        name = _clean(rel.source_title).strip() or href
        items.append(f'<a href="{html.escape(href)}">{html.escape(name)}</a>')
    if not items:
        return ""
    return f"<p>Also reported by: {', '.join(items)}</p>"


class _AtomEntryExtras:
    """feedgen entry extension writing what feedgen 1.0 gets wrong or leaves out.

    - atom:link: feedgen 1.0.0 writes only ``href`` for entry links, dropping
      rel/type/title/length (lkiesow/python-feedgen#135), which would turn
      enclosures and related links into alternates (RFC 4287 §4.2.7.2). The
      links feedgen wrote are replaced by complete ones.
    - atom:source (RFC 4287 §4.2.11): feedgen's ``FeedEntry.source`` writes
      only a title and one link; this writes id, title, updated and links.

    feedgen builds un-namespaced elements under a root carrying ``xmlns``, so
    these are un-namespaced too. No business logic.
    """

    def __init__(self, links: Sequence[dict[str, str]], source: SourceInfo) -> None:
        self._links = links
        self._source = source

    def extend_atom(self, entry: Any) -> Any:
        for element in entry.findall("link"):
            entry.remove(element)
        for link in self._links:
            xml_elem("link", entry, **link)
        src = self._source
        source = xml_elem("source", entry)
        xml_elem("id", source).text = src.id
        if src.title:
            xml_elem("title", source).text = src.title
        if src.updated is not None:
            xml_elem("updated", source).text = src.updated.isoformat()
        xml_elem("link", source, rel="self", type=ATOM_TYPE, href=src.url)
        if src.link:
            xml_elem("link", source, rel="alternate", type="text/html", href=src.link)
        return entry


def _clean_source(source: SourceInfo) -> SourceInfo:
    url = _clean(source.url)
    return SourceInfo(
        id=_clean(source.id) or url,
        title=_clean(source.title).strip(),
        url=url,
        link=_clean(source.link) or None,
        updated=_utc(source.updated, "source.updated") if source.updated else None,
    )


def _links(entry: PublishedEntry, link: str) -> list[dict[str, str]]:
    """The entry's atom:link attributes: alternate, enclosures, related."""
    links = [{"href": link, "rel": "alternate"}] if link else []
    for enclosure in entry.enclosures:
        href = _clean(enclosure.url)
        if not href:
            continue
        data = {"href": href, "rel": "enclosure"}
        media_type = _clean(enclosure.type).strip()
        if _MEDIA_TYPE.fullmatch(media_type):
            data["type"] = media_type
        if enclosure.length is not None and enclosure.length >= 0:
            data["length"] = str(enclosure.length)
        links.append(data)
    for rel in entry.related:
        if href := _clean(rel.link):
            data = {"href": href, "rel": "related"}
            if title := _clean(rel.source_title).strip():
                data["title"] = title
            links.append(data)
    return links


def _feed_entry(entry: PublishedEntry) -> FeedEntry | None:
    """Build one feedgen entry; None when it has no usable id (logged)."""
    link = _clean(entry.link)
    # RFC 4287 §4.2.6: the original atom:id, verbatim.
    entry_id = _clean(entry.id) or link
    if not entry_id:
        logger.warning("publish: skipped entry without id source=%s", entry.source.url)
        return None
    source = _clean_source(entry.source)

    fe = FeedEntry()
    fe.id(entry_id)
    fe.title(_clean(entry.title).strip() or _UNTITLED)
    fe.updated(_utc(entry.updated, "entry.updated"))
    if entry.published is not None:
        fe.published(_utc(entry.published, "entry.published"))
    fe.author(_authors(entry, source.title))
    terms = dict.fromkeys(t for t in map(_clean, entry.categories) if t.strip())
    if terms:
        fe.category([{"term": t} for t in terms])
    links = _links(entry, link)
    if links:
        # Given to feedgen too: it checks for an alternate link (§4.1.2).
        fe.link([dict(data) for data in links])

    summary = _clean(entry.summary) or None
    content = _clean(entry.content) or None
    if extra := _also_reported(entry.related):
        content = (content or summary or "") + extra
    if content is None and not link:
        # RFC 4287 §4.1.2: an entry without rel="alternate" MUST have content.
        content = summary or ""
    if summary is not None:
        fe.summary(summary, type="html")
    if content is not None:
        fe.content(content, type="html")

    fe.register_extension(
        "feedhub_extras",
        functools.partial(_AtomEntryExtras, links, source),
        atom=True,
        rss=False,
    )
    return fe


def render_atom(doc: FeedDocument) -> bytes:
    """Render a feed document as an RFC 4287 Atom feed.

    Entries keep the order of ``doc.entries``. Characters XML 1.0 forbids are
    dropped from every text field, so one hostile entry cannot break the feed.

    Args:
        doc: the feed and its entries, newest first.

    Returns:
        The feed as UTF-8 bytes with an XML declaration.

    Raises:
        PublishError: a datetime is naive, or feedgen/lxml refused the document.
    """
    try:
        fg = FeedGenerator()
        fg.id(_clean(doc.id))
        fg.title(_clean(doc.title).strip() or _UNTITLED)
        fg.updated(_utc(doc.updated, "feed.updated"))
        fg.link(href=_clean(doc.self_url), rel="self", type=ATOM_TYPE)
        fg.link(href=_clean(doc.home_url), rel="alternate", type="text/html")
        if subtitle := _clean(doc.subtitle).strip():
            fg.subtitle(subtitle)
        fg.generator("feedhub", version=__version__)
        for entry in doc.entries:
            fe = _feed_entry(entry)
            if fe is not None:
                # feedgen prepends by default; keep the caller's order.
                fg.add_entry(fe, order="append")
        data: bytes = fg.atom_str(pretty=False, encoding="UTF-8", xml_declaration=True)
    except (ValueError, TypeError) as e:
        # feedgen validates with ValueError; lxml raises ValueError/TypeError.
        raise PublishError(f"publish: cannot render {doc.self_url}: {e}") from e
    return data


def _feed_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _esc(text: str) -> str:
    return html.escape(_clean(text), quote=True)


def render_index_html(
    feeds: Sequence[FeedRef],
    *,
    base_url: str,
    title: str,
    generated_at: datetime,
) -> bytes:
    """Render the HTML5 index page listing every published feed.

    Feeds are grouped by kind (All, Topics, Authors), in the given order within
    a group; each gets an autodiscovery ``<link rel="alternate">`` in ``<head>``.

    Args:
        feeds: the published feeds.
        base_url: absolute URL the feeds are served under.
        title: page title.
        generated_at: when the page was generated, timezone-aware.

    Returns:
        The page as UTF-8 bytes.

    Raises:
        PublishError: ``generated_at`` is naive.
    """
    when = _utc(generated_at, "generated_at").replace(microsecond=0)
    head_links = []
    sections = []
    for kind, label in _SECTIONS:
        refs = [ref for ref in feeds if ref.kind == kind]
        if not refs:
            continue
        items = []
        for ref in refs:
            url = _esc(_feed_url(base_url, ref.path))
            name = _esc(ref.title) or _esc(ref.slug)
            head_links.append(
                f'<link rel="alternate" type="{ATOM_TYPE}" title="{name}" href="{url}">'
            )
            noun = "entry" if ref.entry_count == 1 else "entries"
            items.append(
                f'<li><a href="{url}">{name}</a>'
                f' <span class="count">{ref.entry_count} {noun}</span></li>'
            )
        sections.append(
            f'<section id="{kind.value}">\n<h2>{label}</h2>\n<ul>\n'
            + "\n".join(items)
            + "\n</ul>\n</section>"
        )
    body = "\n".join(sections) if sections else "<p>No feeds yet.</p>"
    page_title = _esc(title)
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="feedhub {_esc(__version__)}">',
        f"<title>{page_title}</title>",
        *head_links,
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{page_title}</h1></header>",
        f"<main>\n{body}\n</main>",
        f'<footer><p>Generated <time datetime="{when.isoformat()}">'
        f"{when:%Y-%m-%d %H:%M} UTC</time> by feedhub.</p></footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def write_atomic(path: str | os.PathLike[str], data: bytes) -> bool:
    """Replace the file at ``path`` with ``data`` atomically.

    Writes a temporary file in the same directory, fsyncs it and renames it
    over ``path``, so readers see the old or the new file, never half of one.
    Missing parent directories are created.

    Args:
        path: the file to write.
        data: its new contents.

    Returns:
        True when the file was written, False when it already had these bytes.

    Raises:
        PublishError: the file could not be read or written.
    """
    target = os.path.abspath(os.fspath(path))
    try:
        mode = 0o644
        try:
            st = os.stat(target)
        except FileNotFoundError:
            pass
        else:
            mode = st.st_mode & 0o777
            if st.st_size == len(data):
                with open(target, "rb") as existing:
                    if existing.read() == data:
                        return False
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory
        )
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            # mkstemp creates 0600; keep the old file's mode or use 0644.
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(directory)
    except OSError as e:
        raise PublishError(f"publish: cannot write {target}: {e}") from e
    return True


def _fsync_dir(directory: str) -> None:
    """Persist the rename itself (POSIX: the entry lives in the directory)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
