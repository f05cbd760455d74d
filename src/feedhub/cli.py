"""The ``feedhub`` command line; thin: parse options, call pipeline or daemon."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click

# ``pipeline`` loads its parts on first use; everything heavier than click
# (rich, YAML, SQLite, aiohttp, feedparser, the publishers) is imported inside
# the commands that need it, so that ``feedhub poll`` starts faster and smaller
# (issue 4; tests/test_startup.py).
from feedhub import __version__, logs, pipeline
from feedhub.exceptions import FeedhubError
from feedhub.types import (
    Config,
    PollResult,
    PollStatus,
    SourceConfig,
    SourceState,
    TopicConfig,
)

if TYPE_CHECKING:
    from feedhub.storage import Storage

log = logging.getLogger(__name__)


class _Obj:
    def __init__(self, config_path: str) -> None:
        self.config_path = config_path

    def config(self) -> Config:
        from feedhub.config import load_config

        return load_config(self.config_path)


def _storage(config: Config) -> Storage:
    """Open the configured database (SQLite is imported only here)."""
    from feedhub.storage import Storage

    return Storage(config.database)


def _daemon() -> ModuleType:
    """Import the daemon (uvicorn, starlette, APScheduler) only for commands that
    run it: `poll`, `sources` and friends start ~25% faster without them."""
    from feedhub import daemon

    return daemon


@contextmanager
def _errors() -> Iterator[None]:
    """Report expected errors in one line, exit 1, no traceback."""
    try:
        yield
    except FeedhubError as e:
        raise click.ClickException(str(e)) from e


def _setup_logging(level: str, fmt: str = "text") -> None:
    logs.setup(level, fmt, sys.stderr)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    default="feeds.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    envvar="FEEDHUB_CONFIG",
    help="Configuration file (env FEEDHUB_CONFIG).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Log verbosity (logs go to stderr).",
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(list(logs.FORMATS)),
    envvar="FEEDHUB_LOG_FORMAT",
    help="Log lines as text (key=value fields) or JSON objects, one per line "
    "(env FEEDHUB_LOG_FORMAT).",
)
@click.version_option(__version__, prog_name="feedhub")
@click.pass_context
def cli(ctx: click.Context, config_path: str, log_level: str, log_format: str) -> None:
    """feedhub: poll feeds, keep them in SQLite, republish curated Atom feeds."""
    _setup_logging(log_level, log_format)
    ctx.obj = _Obj(config_path)


@cli.command("check-config")
@click.pass_obj
def check_config(obj: _Obj) -> None:
    """Validate the configuration file and exit (starts nothing)."""
    with _errors():
        config = obj.config()
    click.echo(
        f"{config.path}: ok ({len(config.sources)} sources, "
        f"{len(config.topics)} topics, database {config.database})"
    )


@cli.command()
@click.pass_obj
def run(obj: _Obj) -> None:
    """Run the daemon: poll on schedule and serve the feeds, until stopped."""
    with _errors():
        _daemon().run(obj.config())


@cli.command()
@click.pass_obj
def serve(obj: _Obj) -> None:
    """Serve the published feeds over HTTP only (no polling)."""
    with _errors():
        _daemon().serve(obj.config())


def _may_be_terminal() -> bool:
    """False when rich would not call stderr a terminal, known without
    importing rich (~25 ms): not a tty, and neither TTY_COMPATIBLE nor
    FORCE_COLOR set (rich's ``Console.is_terminal`` decides the rest)."""
    if os.environ.get("TTY_COMPATIBLE") or "FORCE_COLOR" in os.environ:
        return True
    try:
        return sys.stderr.isatty()
    except ValueError:  # closed
        return False


@contextmanager
def _progress(count: Callable[[], int]) -> Iterator[Callable[[PollResult], None]]:
    """A progress bar on a terminal; ``count`` (sources due) is asked only then."""
    if not _may_be_terminal():
        yield lambda result: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True)
    total = count() if console.is_terminal else 0
    if total == 0:
        yield lambda result: None
        return
    columns = (TextColumn("polling"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("poll", total=total)
        yield lambda result: progress.advance(task)


@cli.command()
@click.option("--all", "force", is_flag=True, help="Poll every source, due or not.")
@click.pass_obj
def poll(obj: _Obj, force: bool) -> None:
    """Poll due sources once, store what changed, and exit.

    Exits 0 when the run completed, even if some sources failed (they are
    listed and recorded); non-zero only when it cannot run at all.
    """
    with _errors():
        config = obj.config()
        with _storage(config) as storage:

            def due() -> int:
                storage.sync_sources(config.sources, pipeline.utcnow())
                now = pipeline.utcnow()
                return len(pipeline.pollable_sources(storage, now, force=force))

            # started on the first body to parse: none for an all-304 run
            executor = pipeline.make_executor(config.polling.workers)
            try:
                with _progress(due) as advance:
                    results = pipeline.poll_once(
                        storage,
                        config,
                        force=force,
                        executor=executor,
                        on_result=advance,
                    )
            finally:
                if executor is not None:
                    executor.shutdown()
            # archives, retractions, WebSub pings and publish.out_dir
            pipeline.publish_changes(storage, config, now=pipeline.utcnow())
    counts = pipeline.summarize(results)
    failed = [r for r in results if r.status is PollStatus.ERROR]
    for result in sorted(failed, key=lambda r: r.url):
        click.echo(f"error  {result.url}: {result.error}", err=True)
    click.echo(
        f"polled {len(results)} sources: "
        f"{sum(r.status is PollStatus.OK for r in results)} ok, "
        f"{sum(r.status is PollStatus.NOT_MODIFIED for r in results)} not modified, "
        f"{len(failed)} failed; {counts.new} new, {counts.updated} updated entries"
    )


@cli.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write the feeds, archives, index.html and OPML into.",
)
@click.pass_obj
def publish(obj: _Obj, out_dir: str) -> None:
    """Write every feed (Atom, RSS, JSON Feed, HTML), its archive pages, the
    index page and the OPML files into a directory, rewriting only what changed."""
    with _errors():
        config = obj.config()
        with _storage(config) as storage:
            pipeline.apply_rules(storage, config)
            now = pipeline.utcnow()
            pipeline.publish_changes(storage, config, now=now)
            written, unchanged = pipeline.publish_all(storage, config, out_dir, now=now)
    click.echo(f"published to {out_dir}: {written} written, {unchanged} unchanged")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _source_row(
    state: SourceState, now: datetime, holds: dict[str, datetime]
) -> dict[str, Any]:
    from feedhub import subscribe

    health = state.health
    return {
        "id": state.id,
        "url": state.url,
        "fetch_url": state.fetch_url,
        "name": state.name or state.title,
        "status": subscribe.status(state, now, holds),
        "last_result": state.last_status.value if state.last_status else None,
        "http_status": state.last_http_status,
        "last_polled": _iso(state.last_polled_at),
        "last_success": _iso(state.last_success_at),
        "next_poll": _iso(
            None
            if health.gone_at
            else subscribe.held_until(state, now, holds) or state.next_check_at
        ),
        "errors": state.error_count,
        "last_error": state.last_error,
        "entries": state.entry_count,
        "failing_since": _iso(health.failing_since),
        "dead_since": _iso(health.dead_since),
        "gone_since": _iso(health.gone_at),
        "held_until": _iso(subscribe.held_until(state, now, holds)),
        "moved_from": state.url if state.fetch_url != state.url else None,
        "redirect_pending": health.redirect_to,
    }


_STATUS_STYLE = {
    "gone": "bold red",
    "dead": "bold red",
    "failing": "red",
    "held": "yellow",
    "never polled": "dim",
}


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--reset",
    "reset_ids",
    type=int,
    multiple=True,
    metavar="ID",
    help="Forget source ID's errors, Retry-After hold and 410 retirement, so "
    "the next poll asks again (repeatable).",
)
@click.pass_obj
def sources(obj: _Obj, as_json: bool, reset_ids: tuple[int, ...]) -> None:
    """List sources: status, last HTTP code, last success, next poll,
    consecutive errors and last error."""
    from rich.console import Console
    from rich.table import Table

    from feedhub import subscribe

    with _errors():
        config = obj.config()
        now = pipeline.utcnow()
        with _storage(config) as storage:
            storage.sync_sources(config.sources, now)
            for source_id in reset_ids:
                try:
                    storage.reset_source(source_id)
                except KeyError as e:
                    raise click.ClickException(f"no source with id {source_id}") from e
            states = storage.get_sources()
            holds = storage.host_holds(now)
    rows = [_source_row(s, now, holds) for s in states]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(show_lines=False)
    for column in ("id", "source", "status", "HTTP", "last success", "next poll"):
        table.add_column(column)
    table.add_column("errors", justify="right")
    table.add_column("last error")
    for state, row in zip(states, rows, strict=True):
        name = row["name"] or ""
        label = f"{name}\n{state.url}" if name else state.url
        if row["moved_from"]:
            label += f"\n[cyan]moved to {state.fetch_url}[/cyan]"
        status = row["status"]
        style = _STATUS_STYLE.get(status)
        table.add_row(
            str(state.id),
            label,
            f"[{style}]{status}[/{style}]" if style else status,
            str(state.last_http_status or "-"),
            _when(state.last_success_at),
            "-"
            if state.health.gone_at
            else _when(subscribe.held_until(state, now, holds) or state.next_check_at),
            str(state.error_count),
            state.last_error or "",
        )
    console = Console()
    if not console.is_terminal:
        # piped into grep or a file: do not fold URLs at 80 columns
        console = Console(width=240)
    console.print(table)


@cli.command()
@click.argument("url")
@click.option(
    "--topic", "topics", multiple=True, metavar="T",
    help="Topic every entry of the feed joins (repeatable); declared if new.",
)  # fmt: skip
@click.option("--name", default=None, help="Display name (default: the feed's title).")
@click.pass_obj
def add(obj: _Obj, url: str, topics: tuple[str, ...], name: str | None) -> None:
    """Check a feed URL (or find the feed of a site's page) and add it to
    feeds.yaml, keeping the file's comments and layout."""
    from feedhub import subscribe
    from feedhub.config import add_sources

    with _errors():
        config = _config_or_empty(obj.config_path)
        _check_slugs(topics)
        (checked,) = subscribe.check_feeds(config, [url])
        if not isinstance(checked, subscribe.CheckedFeed):
            raise checked
        declared = {t.slug for t in config.topics}
        new_topics = [TopicConfig(t, t) for t in topics if t not in declared]
        source = SourceConfig(checked.url, name, topics)
        add_sources(obj.config_path, [source], new_topics)
    if checked.page:
        click.echo(f"found {checked.url} on {checked.page}")
    title = checked.title or "untitled"
    click.echo(
        f"added {checked.url} ({title}, {checked.entries} entries) to {obj.config_path}"
    )
    for topic in new_topics:
        click.echo(f"declared topic {topic.slug!r}")


def _config_or_empty(path: str) -> Config:
    from feedhub.config import load_config, parse_config

    if os.path.exists(path):
        return load_config(path)
    return parse_config("", os.path.abspath(path))


def _check_slugs(slugs: Sequence[str]) -> None:
    from feedhub import subscribe

    for slug in slugs:
        if subscribe.slugify(slug) != slug:
            raise click.BadParameter(
                f"{slug!r} is not a topic slug (lower-case letters, digits and "
                f"'-'); try {subscribe.slugify(slug)!r}",
                param_hint="--topic",
            )


@contextmanager
def _bar(label: str, total: int) -> Iterator[Callable[[object], None]]:
    if total == 0 or not _may_be_terminal():
        yield lambda item: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True)
    if not console.is_terminal or total == 0:
        yield lambda item: None
        return
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda item: progress.advance(task)


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--folder-topics", is_flag=True,
    help="Make the titles of enclosing outlines (and OPML categories) topics "
    "of their feeds, declaring new ones.",
)  # fmt: skip
@click.option(
    "--topic", "topics", multiple=True, metavar="T",
    help="Topic every imported feed joins (repeatable); declared if new.",
)  # fmt: skip
@click.option(
    "--no-check", is_flag=True,
    help="Add every outline without fetching it first.",
)  # fmt: skip
@click.pass_obj
def import_(
    obj: _Obj, file: str, folder_topics: bool, topics: tuple[str, ...], no_check: bool
) -> None:
    """Import the feeds of an OPML file into feeds.yaml: each is checked by
    fetching it once (with a progress bar); failures are listed, not added."""
    from feedhub import subscribe
    from feedhub.config import add_sources
    from feedhub.opml import read_opml

    with _errors():
        config = _config_or_empty(obj.config_path)
        _check_slugs(topics)
        with open(file, "rb") as f:
            subscriptions = read_opml(f.read(), file)
        plan, new_topics, skipped = subscribe.plan_import(
            config, subscriptions, folder_topics=folder_topics, topics=topics
        )
        failed: list[tuple[str, str]] = []
        if plan and not no_check:
            with _bar("checking", len(plan)) as advance:
                checks = subscribe.check_feeds(config, [s.url for s in plan], advance)
            kept = []
            seen = {s.url for s in config.sources}
            for source, checked in zip(plan, checks, strict=True):
                if isinstance(checked, subscribe.CheckedFeed):
                    if checked.url not in seen:
                        seen.add(checked.url)
                        kept.append(replace(source, url=checked.url))
                else:
                    failed.append((source.url, str(checked)))
            plan = kept
        used = {t for s in plan for t in s.topics}
        new_topics = [t for t in new_topics if t.slug in used]
        if plan:
            add_sources(obj.config_path, plan, new_topics)
    for url, reason in failed:
        click.echo(f"failed  {url}: {reason}", err=True)
    click.echo(
        f"imported {len(plan)} feeds into {obj.config_path}: "
        f"{len(skipped)} already there, {len(failed)} failed"
        + (f", {len(new_topics)} new topics" if new_topics else "")
    )


@cli.command("export-opml")
@click.option(
    "--out", "out", type=click.Path(dir_okay=False), default="-", show_default=True,
    help="File to write ('-' for standard output).",
)  # fmt: skip
@click.pass_obj
def export_opml(obj: _Obj, out: str) -> None:
    """Write the sources as an OPML 2.0 subscription list, topics as categories."""
    from feedhub import subscribe

    with _errors():
        config = obj.config()
        with _storage(config) as storage:
            data = subscribe.export_opml(storage, config, pipeline.utcnow())
    with click.open_file(out, "wb", atomic=out != "-") as f:
        f.write(data)


def _copy_json(copy: pipeline.ExplainedCopy) -> dict[str, Any]:
    entry, match = copy.entry, copy.match
    return {
        "key": entry.key,
        "source": copy.source,
        "title": entry.data.title,
        "link": entry.data.link,
        "canonical_link": entry.canonical_link,
        "first_seen": entry.first_seen_at.isoformat(),
        "representative": copy.representative,
        "hidden": copy.hidden,
        "aliases": list(copy.aliases),
        "rule": match.rule.value if match else None,
        "score": match.score if match else None,
        "matched_key": match.matched_key if match else None,
        "detail": match.detail if match else None,
    }


def _copy_line(copy: pipeline.ExplainedCopy) -> str:
    match = copy.match
    if match is None:
        why = "stored before feedhub recorded story decisions"
    else:
        why = match.rule.value
        if match.score is not None:
            why += f" {match.score:.2f}"
        if match.matched_key:
            why += f" with {match.matched_key[:12]}"
        if match.detail:
            why += f": {match.detail}"
    flags = "".join(
        [
            " [representative]" if copy.representative else "",
            " [backlog]" if copy.hidden else "",
        ]
    )
    return (
        f"  * {copy.entry.key[:12]} {copy.source}: {copy.entry.data.title!r}{flags}\n"
        f"      {copy.entry.data.link or '(no link)'}\n      {why}"
    )


def _curation_json(e: pipeline.Explanation) -> dict[str, object]:
    c = e.curation
    return {
        "topics": list(e.topics),
        "blocked": c.blocked if c else None,
        "decisions": [
            {"topic": d.topic, "selected": d.selected, "reason": d.reason}
            for d in (c.decisions if c else ())
        ],
    }


def _curation_lines(e: pipeline.Explanation) -> list[str]:
    """The topic decisions of ``feedhub explain``: + in, - out, and why."""
    c = e.curation
    if c is not None and c.blocked is not None:
        return [f"  blocked, published nowhere: {c.blocked}"]
    lines = [f"  topics: {', '.join(e.topics) or 'none'}"]
    decided = {d.topic for d in c.decisions} if c else set()
    rows = [(d.topic, d.selected, d.reason) for d in (c.decisions if c else ())]
    rows += [(t, True, "source") for t in e.topics if t not in decided]
    for topic, selected, reason in sorted(rows):
        lines.append(f"    {'+' if selected else '-'} {topic}: {reason}")
    if c is None:
        lines.append("    (no decision log yet: stored before rules were logged)")
    return lines


@cli.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def explain(obj: _Obj, ref: str, as_json: bool) -> None:
    """Say which story and topics an entry (URL, guid or key) is in, and why.

    Lists every copy of the story with the rule and score that put it there,
    so that merges can be checked and thresholds tuned (``dedupe:``), then
    each topic rule's decision (+ in, - out, with the words that matched or
    the condition that failed) or the block rule that took the entry.
    Exits 1 when nothing matches REF.
    """
    with _errors():
        config = obj.config()
        with _storage(config) as storage:
            found = pipeline.explain(storage, config, ref)
    if not found:
        raise click.ClickException(f"explain: no stored entry matches {ref!r}")
    if as_json:
        rows = [
            {
                "entry": e.key,
                "story": e.story_id,
                "published_id": e.published_id,
                "representative_rule": e.representative_rule,
                "copies": [_copy_json(c) for c in e.copies],
                **_curation_json(e),
            }
            for e in found
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for e in found:
        click.echo(f"entry {e.key[:12]} is in story {e.story_id[:12]}")
        if e.published_id:
            click.echo(f"  published as {e.published_id}")
        click.echo(f"  representative: {e.representative_rule}")
        click.echo(f"  {len(e.copies)} {'copy' if len(e.copies) == 1 else 'copies'}:")
        for copy in e.copies:
            click.echo(_copy_line(copy))
        for line in _curation_lines(e):
            click.echo(line)


@cli.command()
@click.argument("refs", nargs=-1)
@click.option(
    "--older-than",
    default=None,
    help="Also purge entries first seen and dated longer ago than this (e.g. 180d).",
)
@click.pass_obj
def purge(obj: _Obj, refs: tuple[str, ...], older_than: str | None) -> None:
    """Delete entries (URL, guid or key) for good, leaving tombstones.

    A purged entry is never ingested again, not even when its feed re-keys it.
    """
    from feedhub.config import parse_duration

    with _errors():
        config = obj.config()
        try:
            seconds = None if older_than is None else parse_duration(older_than)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--older-than") from e
        if not refs and seconds is None:
            raise click.UsageError("give entries to purge, or --older-than")
        with _storage(config) as storage:
            count = pipeline.purge(
                storage, config, refs, older_than=seconds, now=pipeline.utcnow()
            )
    click.echo(f"purged {count} entries (tombstones kept)")


@cli.command()
@click.option(
    "--dry-run", is_flag=True, help="Only count the entries the limits would purge."
)
@click.option(
    "--vacuum",
    is_flag=True,
    help="Then rebuild the file (VACUUM), converting an older database to "
    "incremental auto-vacuum.",
)
@click.pass_obj
def retention(obj: _Obj, dry_run: bool, vacuum: bool) -> None:
    """Apply `retention:` now: purge old entries, expire tombstones, free space.

    `feedhub run` does this every hour by itself. Purged entries leave
    tombstones, so they are never ingested again, and published feeds retract
    them on the next publish pass.
    """
    with _errors():
        config = obj.config()
        now = pipeline.utcnow()
        with _storage(config) as storage:
            if dry_run:
                retention = config.retention
                if (
                    retention.max_age is None
                    and retention.max_entries_per_source is None
                ):
                    click.echo(
                        "retention is off (no `retention:` limits in the config)"
                    )
                    return
                keys = pipeline.retention_keys(storage, config, now)
                click.echo(f"would purge {len(keys)} entries")
                return
            result = pipeline.apply_retention(storage, config, now=now)
            if vacuum:
                storage.vacuum()
            mode = storage.auto_vacuum()
    click.echo(
        f"purged {result.purged} entries (tombstones kept), dropped "
        f"{result.tombstones_dropped} expired tombstones, freed "
        f"{result.pages_freed} pages; auto_vacuum: {mode}"
    )


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.pass_obj
def backup(obj: _Obj, file: str, force: bool) -> None:
    """Copy the database into FILE with SQLite's online backup API.

    Safe while `feedhub run` is writing: FILE is one consistent snapshot,
    checked with PRAGMA integrity_check. Refuses to replace an existing FILE
    unless --force.
    """
    with _errors():
        config = obj.config()
        with _storage(config) as storage:
            result = storage.backup(file, force=force)
    size = os.path.getsize(file)
    click.echo(f"backed up {config.database} to {file} ({size} bytes, {result})")


@cli.command()
@click.argument("query", nargs=-1, required=True)
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(1, 10000),
    help="Most matches printed (one per story).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def search(obj: _Obj, query: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Print the newest stored entries matching QUERY, newest first.

    Words must all occur (title, summary, content or author); "quoted
    phrases", OR, NOT (or -word), parentheses, prefix* and title:word,
    summary:, content:, author: work. The same query at
    /search.atom?q=... is a feed a reader can subscribe to. Exits 1 on a
    malformed query.
    """
    with _errors():
        config = obj.config()
        with _storage(config) as storage:
            entries = pipeline.search_entries(storage, config, " ".join(query), limit)
    if as_json:
        rows = [
            {
                "id": e.id,
                "published": _iso(e.published),
                "updated": _iso(e.updated),
                "source": e.source.title,
                "source_url": e.source.url,
                "title": e.title,
                "link": e.link,
                "also_at": [r.link for r in e.related],
            }
            for e in entries
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not entries:
        click.echo("no matches")
        return
    for e in entries:
        when = (e.published or e.updated).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{when}  {e.source.title}  {e.title or '(untitled)'}")
        click.echo(f"                  {e.link or '(no link)'}")


def _planned(p: pipeline.PlannedEntry) -> dict[str, object]:
    return {"story": p.story_id, "entry": p.key, "title": p.title, "link": p.link}


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(0),
    help="Entries listed per feed and direction, newest first (0: all).",
)
@click.pass_obj
def plan(obj: _Obj, as_json: bool, limit: int) -> None:
    """Show what the rules in the config file would change, without changing it.

    Files every stored entry under the current topic, block and author rules
    and lists, per published feed (all, topics, authors, named views), the
    entries that would appear (+) and disappear (-) once the config is
    reloaded, and which rules differ from those the database last applied.
    Writes nothing; always exits 0 when it could run.
    """
    with _errors():
        config = obj.config()
        with _storage(config) as storage:
            result = pipeline.plan(storage, config, limit=limit or None)
    if as_json:
        data = {
            "rule_changes": list(result.rule_changes),
            "known": result.known,
            "entries": result.entries,
            "feeds": [
                {
                    "feed": f.feed,
                    "title": f.title,
                    "appearing": f.appearing,
                    "disappearing": f.disappearing,
                    "appear": [_planned(p) for p in f.appear],
                    "disappear": [_planned(p) for p in f.disappear],
                }
                for f in result.feeds
            ],
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if result.rule_changes:
        click.echo("rules changed since they were last applied:")
        for line in result.rule_changes:
            click.echo(f"  {line}")
    else:
        click.echo(
            "topic and block rules unchanged since they were last applied"
            " (feeds may still change: authors, views, or entries stored since)"
        )
    if not result.feeds:
        click.echo(f"no feed would change ({result.entries} entries checked)")
        return
    click.echo(
        f"{len(result.feeds)} feeds would change ({result.entries} entries checked):"
    )
    for f in result.feeds:
        click.echo(f"{f.feed} ({f.title}): +{f.appearing} -{f.disappearing}")
        for sign, items in (("+", f.appear), ("-", f.disappear)):
            for p in items:
                click.echo(f"  {sign} {p.title or '(untitled)'}  {p.link or p.key}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="feedhub")
