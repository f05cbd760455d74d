"""``python -m bench``: run the benchmark suite and write bench/RESULTS.md.

No business logic: parse options, set up peers and servers, run the rows, print.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import corpus, peer_reader, report, row6, rows, servers

HERE = Path(__file__).resolve().parent
ALL_ROWS = (1, 2, 3, 4, 5, 6, 7)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--quick",
        action="store_true",
        help="100 x 10 corpus, 1 repetition, row 6 at 10k only, no row 7",
    )
    p.add_argument(
        "--rows",
        default=None,
        help="comma-separated rows to run, e.g. 1,2 (default: all)",
    )
    p.add_argument(
        "--reps", type=int, default=None, help="repetitions (default 3; quick 1)"
    )
    p.add_argument("--feeds", type=int, default=None, help="N feeds (default 1000)")
    p.add_argument(
        "--entries", type=int, default=None, help="M entries per feed (default 20)"
    )
    p.add_argument(
        "--scale-feeds",
        default="1000,5000,10000",
        help="row 7 feed counts (default 1000,5000,10000)",
    )
    p.add_argument(
        "--scale-entries",
        type=int,
        default=2,
        help="row 7 entries per feed (default 2, to fit the time budget)",
    )
    p.add_argument(
        "--row6-sizes",
        default=None,
        help="row 6 store sizes (default 10000,100000,1000000; quick 10000)",
    )
    p.add_argument(
        "--reader-workers",
        type=int,
        default=32,
        help="reader update_feeds(workers=...) (default 32, feedhub's concurrency)",
    )
    p.add_argument(
        "--wrk-seconds", type=int, default=None, help="per wrk run (default 5)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--feedhub-config",
        type=json.loads,
        default={},
        metavar="JSON",
        help="merged into the generated feeds.yaml, e.g. "
        '\'{"dedupe": {"near_duplicates": false}}\' (recorded in RESULTS.md)',
    )
    p.add_argument(
        "--no-install",
        action="store_true",
        help="do not apt-get install nginx/wrk when missing",
    )
    p.add_argument(
        "--work",
        type=Path,
        default=HERE / ".work",
        help="cache and scratch directory (default bench/.work)",
    )
    p.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    return p.parse_args(argv)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _versions(work: Path, reader_ok: bool) -> dict[str, str]:
    import feedhub  # noqa: PLC0415 - after sys.path is known to work

    out = {"feedhub": feedhub.__version__}
    if reader_ok:
        rv = peer_reader.versions(work)
        out["reader"] = rv.get("reader", "?")
        out["feedparser (reader)"] = rv.get("feedparser", "?")
    out["feedparser (feedhub)"] = importlib.metadata.version("feedparser")
    out["SQLite"] = sqlite3.sqlite_version
    out["nginx"] = servers.tool_version("nginx")
    out["wrk"] = servers.tool_version("wrk")
    return out


def _guard(
    ctx: rows.Context,
    name: str,
    fn: Callable[[], None],
    after: Callable[[bool], None],
) -> None:
    """Run one row, then write the results so far.

    A failure skips the row with a message instead of ending the suite.
    """
    start = time.perf_counter()
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - one broken row must not lose the others
        traceback.print_exc()
        ctx.skipped.append(f"{name}: failed: {type(e).__name__}: {str(e)[:300]}")
    ctx.log(f"{name} took {time.perf_counter() - start:.0f}s")
    after(False)


def _precompile() -> None:
    """Compile feedhub's modules to bytecode, as ``pip install`` does.

    feedhub is measured from an editable install, whose modules pip never
    compiles; with PYTHONDONTWRITEBYTECODE set (as on the CI machines) every
    ``feedhub`` command would then compile its ~100 modules again, a cost
    reader (installed from a wheel, compiled by pip) does not pay.
    """
    package = importlib.util.find_spec("feedhub")
    if package is None or not package.submodule_search_locations:
        return
    for folder in package.submodule_search_locations:
        compileall.compile_dir(folder, quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    quick = args.quick
    reps = args.reps or (1 if quick else 3)
    n = args.feeds or (100 if quick else 1000)
    m = args.entries or (10 if quick else 20)
    wanted = set(_ints(args.rows)) if args.rows else set(ALL_ROWS)
    if quick and args.rows is None:
        wanted.discard(7)
    sizes = _ints(args.row6_sizes or ("10000" if quick else "10000,100000,1000000"))
    work = args.work.resolve()
    scratch = _scratch(work)

    _precompile()
    notes = {} if args.no_install else servers.ensure_debian_tools()
    skipped = [f"{tool}: {why}" for tool, why in notes.items()]
    try:
        reader_py: Path | None = peer_reader.ensure_venv(work)
    except (RuntimeError, OSError) as e:
        reader_py = None
        skipped.append(f"reader peer: {e}; peer columns are empty")
    ctx = rows.Context(
        work=work,
        scratch=scratch,
        reps=reps,
        reader_workers=args.reader_workers,
        reader=reader_py,
        has_wrk=shutil.which("wrk") is not None,
        quick=quick,
        skipped=skipped,
        feedhub_extra=args.feedhub_config,
    )
    if "nginx" in notes:
        ctx.log("nginx missing: serving the corpus with the Python fallback server")

    versions = _versions(work, reader_py is not None)
    cmd = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])

    def write(final: bool) -> None:
        """Write RESULTS.md: after every row (partial), and at the end (printed)."""
        minutes = (time.perf_counter() - started) / 60
        state = f"took {minutes:.1f} min" if final else "**partial: still running**"
        settings = f"`{cmd}` · corpus {n} x {m} · {reps} repetition(s) · {state}"
        table = report.markdown(sorted(ctx.rows, key=lambda r: int(r.row)), ctx.skipped)
        head = report.header(datetime.now(UTC), versions, settings)
        if final:
            print("\n" + head + "\n" + table)
        text = "# feedhub benchmark results\n\n" + head + "\n" + table
        args.output.write_text(text + "\n" + report.HOW_TO_READ)

    poll_rows = wanted & {1, 2, 3, 4, 5}
    if poll_rows:
        spec = corpus.CorpusSpec(feeds=n, entries=m, seed=args.seed)
        t = rows.serve_corpus(ctx, spec, "main")
        ctx.log(f"corpus {n} x {m} served by {t.server.label} at {t.server.base_url}")
        try:
            if 1 in wanted:
                _guard(
                    ctx, "row 1", lambda: rows.first_poll(ctx, t, reps, "1", ""), write
                )
            if 2 in wanted:
                _guard(
                    ctx,
                    "row 2",
                    lambda: rows.repoll_unchanged(ctx, t, reps, "2", ""),
                    write,
                )
            if 4 in wanted:
                _guard(ctx, "row 4", lambda: rows.publish(ctx, t, reps), write)
            if 5 in wanted:
                secs = args.wrk_seconds or (2 if quick else 5)
                _guard(ctx, "row 5", lambda: rows.serving(ctx, t, reps, secs), write)
            if 3 in wanted:
                _guard(ctx, "row 3", lambda: rows.repoll_changed(ctx, t, reps), write)
        finally:
            t.server.stop()
    if 6 in wanted:

        def run6() -> None:
            got, why = row6.rows(work, scratch, sizes, reps, ctx.log)
            ctx.rows.extend(got)
            ctx.skipped.extend(why)

        _guard(ctx, "row 6", run6, write)
    if 7 in wanted:
        _guard(ctx, "row 7", lambda: _scale(ctx, args), write)

    write(True)
    ctx.log(f"wrote {args.output}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _scratch(work: Path) -> Path:
    """This run's scratch dir, bench/.work/run/<pid>; stale ones of dead runs go."""
    run = work / "run"
    run.mkdir(parents=True, exist_ok=True)
    for old in run.iterdir():
        if old.name.isdigit() and not Path(f"/proc/{old.name}").exists():
            shutil.rmtree(old, ignore_errors=True)
    scratch = run / str(os.getpid())
    scratch.mkdir()
    return scratch


def _scale(ctx: rows.Context, args: argparse.Namespace) -> None:
    """Row 7: rows 1 and 2 as the number of feeds grows (one repetition each)."""
    counts = _ints(args.scale_feeds)
    spec = corpus.CorpusSpec(
        feeds=max(counts), entries=args.scale_entries, seed=args.seed
    )
    t = rows.serve_corpus(ctx, spec, "scale")
    all_urls = t.urls
    try:
        for count in counts:
            t.urls = all_urls[:count]
            t.polled = False
            label = f", N={count:,} x {args.scale_entries}"
            rows.first_poll(ctx, t, 1, "7", label)
            rows.repoll_unchanged(ctx, t, 1, "7", label)
    finally:
        t.server.stop()


if __name__ == "__main__":
    sys.exit(main())
