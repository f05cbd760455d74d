"""Authors: the summary behind the ``/authors/`` index; mixed into ``Storage``.

Memberships themselves (``entry_authors``, ``story_authors``) are written with
an entry's topics by ``_entries`` and ``_stories``.
"""

from __future__ import annotations

from feedhub.storage._db import StorageBase, from_text
from feedhub.types import AuthorSummary

__all__ = ["AuthorsMixin"]

# One row per published author: the story count and newest story walk the
# (slug, sort_at DESC) index; the name is the one on the newest story.
_AUTHORS = """
SELECT g.slug,
    (SELECT x.name FROM story_authors AS x WHERE x.slug = g.slug
     ORDER BY x.sort_at DESC, x.rep_key LIMIT 1),
    count(*), max(g.sort_at)
FROM story_authors AS g GROUP BY g.slug
"""

# The sources each author's entries came from (hidden backlog copies too:
# they are credited in the published story), most entries first.
_SOURCES = """
SELECT a.slug, coalesce(s.name, s.title, s.url), count(*) AS n
FROM entry_authors AS a
JOIN entries AS e ON e.key = a.entry_key
JOIN sources AS s ON s.id = e.source_id
WHERE a.slug IN (SELECT slug FROM story_authors)
GROUP BY a.slug, e.source_id
ORDER BY a.slug, n DESC, 2
"""


class AuthorsMixin(StorageBase):
    """Authors queries."""

    def author_summaries(self) -> tuple[AuthorSummary, ...]:
        """Return every author with a published story, by slug.

        ``organisation`` is always False here: whether a byline is an
        organisation is the config's and the authors stage's to say.
        """
        with self._read("author_summaries") as conn:
            rows = conn.execute(_AUTHORS).fetchall()
            sources: dict[str, list[str]] = {}
            for slug, name, _n in conn.execute(_SOURCES):
                sources.setdefault(str(slug), []).append(str(name))
        return tuple(
            AuthorSummary(
                slug=str(slug),
                name=str(name),
                entry_count=int(count),
                newest=from_text(newest),
                sources=tuple(sources.get(str(slug), ())),
            )
            for slug, name, count, newest in sorted(rows, key=lambda r: str(r[0]))
        )
