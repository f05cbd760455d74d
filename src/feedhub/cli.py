"""The ``feedhub`` command line; thin: parse options, call pipeline or daemon."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from feedhub import __version__, daemon, pipeline
from feedhub.config import load_config
from feedhub.exceptions import FeedhubError
from feedhub.storage import Storage
from feedhub.types import Config, PollResult, PollStatus, SourceState

log = logging.getLogger(__name__)


class _Obj:
    def __init__(self, config_path: str) -> None:
        self.config_path = config_path

    def config(self) -> Config:
        return load_config(self.config_path)


@contextmanager
def _errors() -> Iterator[None]:
    """Report expected errors in one line, exit 1, no traceback."""
    try:
        yield
    except FeedhubError as e:
        raise click.ClickException(str(e)) from e


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


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
@click.version_option(__version__, prog_name="feedhub")
@click.pass_context
def cli(ctx: click.Context, config_path: str, log_level: str) -> None:
    """feedhub: poll feeds, keep them in SQLite, republish curated Atom feeds."""
    _setup_logging(log_level)
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
        daemon.run(obj.config())


@cli.command()
@click.pass_obj
def serve(obj: _Obj) -> None:
    """Serve the published feeds over HTTP only (no polling)."""
    with _errors():
        daemon.serve(obj.config())


@contextmanager
def _progress(total: int) -> Iterator[Callable[[PollResult], None]]:
    console = Console(stderr=True)
    if not console.is_terminal or total == 0:
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
        with Storage(config.database) as storage:
            storage.sync_sources(config.sources, pipeline.utcnow())
            due = (
                storage.get_sources()
                if force
                else storage.due_sources(pipeline.utcnow())
            )
            executor = pipeline.make_executor(config.polling.workers)
            try:
                with _progress(len(due)) as advance:
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
    help="Directory to write the feeds and index.html into.",
)
@click.pass_obj
def publish(obj: _Obj, out_dir: str) -> None:
    """Write every published feed and the index page into a directory."""
    with _errors():
        config = obj.config()
        with Storage(config.database) as storage:
            pipeline.apply_rules(storage, config)
            written, unchanged = pipeline.publish_all(
                storage, config, out_dir, now=pipeline.utcnow()
            )
    click.echo(f"published to {out_dir}: {written} written, {unchanged} unchanged")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _source_row(state: SourceState) -> dict[str, Any]:
    return {
        "id": state.id,
        "url": state.url,
        "fetch_url": state.fetch_url,
        "name": state.name or state.title,
        "status": state.last_status.value if state.last_status else "never polled",
        "http_status": state.last_http_status,
        "last_polled": state.last_polled_at.isoformat()
        if state.last_polled_at
        else None,
        "last_success": state.last_success_at.isoformat()
        if state.last_success_at
        else None,
        "next_poll": state.next_check_at.isoformat() if state.next_check_at else None,
        "errors": state.error_count,
        "last_error": state.last_error,
        "entries": state.entry_count,
    }


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def sources(obj: _Obj, as_json: bool) -> None:
    """List sources with their last status, last success, next poll and error."""
    with _errors():
        config = obj.config()
        with Storage(config.database) as storage:
            storage.sync_sources(config.sources, pipeline.utcnow())
            states = storage.get_sources()
    if as_json:
        click.echo(json.dumps([_source_row(s) for s in states], indent=2))
        return
    table = Table(show_lines=False)
    for column in (
        "id",
        "source",
        "status",
        "HTTP",
        "last success",
        "next poll",
        "errors",
    ):
        table.add_column(column)
    for state in states:
        row = _source_row(state)
        name = row["name"] or ""
        label = f"{name}\n{state.url}" if name else state.url
        if state.fetch_url != state.url:
            label += f"\n-> {state.fetch_url}"
        if state.last_error:
            label += f"\n[red]{state.last_error}[/red]"
        table.add_row(
            str(state.id),
            label,
            row["status"],
            str(state.last_http_status or "-"),
            _when(state.last_success_at),
            _when(state.next_check_at),
            str(state.error_count),
        )
    console = Console()
    if not console.is_terminal:
        # piped into grep or a file: do not fold URLs at 80 columns
        console = Console(width=240)
    console.print(table)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="feedhub")
