"""Rows 1 to 5 and 7: feedhub and reader polling one served corpus, and serving.

Each measurement runs feedhub and its peer back to back (alternating which goes
first), so a paired ratio sees the same machine load. No business logic.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import corpus, feedhub_driver, peer_reader
from bench.report import Figure, Row
from bench.servers import (
    NginxServer,
    PythonServer,
    StaticServer,
    measure,
    run_wrk,
    start_static,
)

READER = "reader"


@dataclass
class Context:
    """Where a run keeps its files, and what it found it can run."""

    work: Path
    #: this run's scratch directory, bench/.work/run/<pid>: concurrent runs of the
    #: suite must not share databases or configs
    scratch: Path
    reps: int
    reader_workers: int
    #: None when reader could not be installed
    reader: Path | None
    has_wrk: bool
    quick: bool
    #: merged into every generated feeds.yaml (``--feedhub-config``)
    feedhub_extra: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        print(f"bench: {message}", flush=True)


@dataclass
class Target:
    """One served corpus and the two databases polling it."""

    plan: corpus.Plan
    server: StaticServer
    live: Path
    run: Path
    urls: list[str]
    fh_config: Path
    fh_db: Path
    rd_db: Path
    polled: bool = False
    gen: int = 0

    @property
    def entries(self) -> int:
        n = len(self.urls)
        return sum(len(fp.slots) for fp in self.plan.feeds[:n])


def ensure_corpus(ctx: Context, spec: corpus.CorpusSpec) -> tuple[corpus.Plan, Path]:
    """The corpus for ``spec``, generated once and cached under bench/.work."""
    root = ctx.work / spec.name
    if not (root / "truth.json").exists():
        ctx.log(f"generating {spec.feeds} x {spec.entries} corpus in {root}")
        # generate aside and rename, so a concurrent run never sees half a corpus
        tmp = ctx.scratch / spec.name
        shutil.rmtree(tmp, ignore_errors=True)
        plan = corpus.generate(spec, tmp)
        try:
            tmp.rename(root)
        except OSError:  # another run finished it first, or a stale partial one
            if not (root / "truth.json").exists():
                shutil.rmtree(root, ignore_errors=True)
                tmp.rename(root)
        shutil.rmtree(tmp, ignore_errors=True)
        return plan, root
    return corpus.make_plan(spec), root


def serve_corpus(ctx: Context, spec: corpus.CorpusSpec, name: str) -> Target:
    """Serve a fresh copy of the corpus (hard links: mutations replace files)."""
    plan, root = ensure_corpus(ctx, spec)
    run = ctx.scratch / name
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    live = run / "www"
    shutil.copytree(root, live, copy_function=_link)
    server = start_static(live, run / "nginx")
    urls = [server.base_url + fp.path for fp in plan.feeds]
    return Target(
        plan=plan,
        server=server,
        live=live,
        run=run,
        urls=urls,
        fh_config=run / "feeds.yaml",
        fh_db=run / "feedhub.db",
        rd_db=run / "reader.db",
    )


def _link(src: str, dst: str) -> None:
    Path(dst).hardlink_to(src)


def _last(stderr: str) -> str:
    """The last line of a traceback or log: the error itself."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def _statuses(t: Target, before: Counter[int]) -> Counter[int]:
    after = t.server.status_counts()
    after.subtract(before)
    return +after


def _fh_poll(
    ctx: Context, t: Target, fresh: bool
) -> tuple[float, tuple[float, float], dict[str, int]]:
    if fresh:
        feedhub_driver.remove_db(t.fh_db)
        feedhub_driver.write_config(
            t.fh_config, database=t.fh_db, urls=t.urls, extra=ctx.feedhub_extra
        )
    m = measure(feedhub_driver.cli(t.fh_config, "poll", "--all"))
    if m.returncode != 0:
        raise RuntimeError(f"feedhub poll exited {m.returncode}: {_last(m.stderr)}")
    summary = feedhub_driver.poll_summary(m.stdout)
    if summary.get("failed"):
        ctx.log(f"feedhub: {summary['failed']} sources failed: {m.stderr[-600:]}")
    return m.seconds, (m.peak_rss_mib, m.peak_pss_mib), summary


def _rd_poll(
    ctx: Context, t: Target, fresh: bool
) -> tuple[float, tuple[float, float], dict[str, int]]:
    if fresh:
        feedhub_driver.remove_db(t.rd_db)
        urls = t.run / "urls.txt"
        urls.write_text("\n".join(t.urls) + "\n")
        args = ["first", str(t.rd_db), str(urls), str(ctx.reader_workers)]
    else:
        args = ["repoll", str(t.rd_db), str(ctx.reader_workers)]
    m = measure(peer_reader.command(ctx.work, *args))
    if m.returncode != 0:
        raise RuntimeError(f"reader exited {m.returncode}: {_last(m.stderr)}")
    out: dict[str, int] = json.loads(m.stdout.strip().splitlines()[-1])
    if out.get("errors"):
        ctx.log(f"reader: {out['errors']} feeds failed")
    return m.seconds, (m.peak_rss_mib, m.peak_pss_mib), out


def _pair(
    ctx: Context, t: Target, rep: int, fresh: bool
) -> dict[str, tuple[float, tuple[float, float], int, Counter[int]]]:
    """Run feedhub then reader (reversed on odd reps).

    Returns:
        Per client: seconds, (peak summed RSS MiB, peak summed PSS MiB),
        entries counted, server statuses.
    """
    out: dict[str, tuple[float, tuple[float, float], int, Counter[int]]] = {}
    order = ["feedhub", READER] if rep % 2 == 0 else [READER, "feedhub"]
    for who in order:
        if who == READER and ctx.reader is None:
            continue
        before = t.server.status_counts()
        if who == "feedhub":
            secs, mib, summary = _fh_poll(ctx, t, fresh)
            count = (
                feedhub_driver.count_entries(t.fh_db)
                if fresh
                else summary.get("new", 0)
            )
        else:
            secs, mib, res = _rd_poll(ctx, t, fresh)
            count = res["entries_stored"] if fresh else res["new"]
        out[who] = (secs, mib, count, _statuses(t, before))
    return out


def first_poll(ctx: Context, t: Target, reps: int, row: str, label: str) -> None:
    """Row 1 (and 7): a fresh database polls the whole corpus."""
    rates: dict[str, list[float]] = {"feedhub": [], READER: []}
    rss: dict[str, list[float]] = {"feedhub": [], READER: []}
    pss: dict[str, list[float]] = {"feedhub": [], READER: []}
    for rep in range(reps):
        res = _pair(ctx, t, rep, fresh=True)
        for who, (secs, (mib, pss_mib), count, statuses) in res.items():
            rates[who].append(count / secs)
            rss[who].append(mib)
            pss[who].append(pss_mib)
            if count != t.entries or statuses.get(200) != len(t.urls):
                ctx.log(
                    f"{who}: stored {count} of {t.entries} entries; "
                    f"server saw {dict(statuses)}"
                )
            ctx.log(
                f"row {row}{label} rep {rep + 1}: {who} {count} entries "
                f"in {secs:.1f}s, peak RSS {mib:.0f} MiB, PSS {pss_mib:.0f} MiB"
            )
    t.polled = True
    ctx.rows.append(
        Row(
            row,
            f"first poll, entries/s{label}",
            Figure(tuple(rates["feedhub"])),
            Figure(tuple(rates[READER])),
            READER,
        )
    )
    ctx.rows.append(
        Row(
            row,
            f"first poll, peak memory (PSS) MiB{label}",
            Figure(tuple(pss["feedhub"])),
            Figure(tuple(pss[READER])),
            READER,
            higher_is_better=False,
        )
    )
    ctx.rows.append(
        Row(
            row,
            f"first poll, peak RSS summed MiB{label}",
            Figure(tuple(rss["feedhub"])),
            Figure(tuple(rss[READER])),
            READER,
            higher_is_better=False,
        )
    )


def ensure_polled(ctx: Context, t: Target) -> None:
    if not t.polled:
        ctx.log("first poll (setup, not measured)")
        _pair(ctx, t, 0, fresh=True)
        t.polled = True


def repoll_unchanged(ctx: Context, t: Target, reps: int, row: str, label: str) -> None:
    """Row 2 (and 7): every feed answers 304."""
    ensure_polled(ctx, t)
    rates: dict[str, list[float]] = {"feedhub": [], READER: []}
    for rep in range(reps):
        for who, (secs, _mib, _count, statuses) in _pair(
            ctx, t, rep, fresh=False
        ).items():
            rates[who].append(len(t.urls) / secs)
            if statuses.get(304) != len(t.urls):
                ctx.log(
                    f"{who}: expected {len(t.urls)} 304s, server saw {dict(statuses)}"
                )
            ctx.log(
                f"row {row}{label} rep {rep + 1}: {who} {len(t.urls)} feeds "
                f"in {secs:.2f}s"
            )
    ctx.rows.append(
        Row(
            row,
            f"re-poll, all 304, feeds/s{label}",
            Figure(tuple(rates["feedhub"])),
            Figure(tuple(rates[READER])),
            READER,
        )
    )


def repoll_changed(ctx: Context, t: Target, reps: int) -> None:
    """Row 3: 10% of the feeds publish two new entries each, then both re-poll."""
    ensure_polled(ctx, t)
    secs: dict[str, list[float]] = {"feedhub": [], READER: []}
    for rep in range(reps):
        t.gen += 1
        changed = corpus.mutate(t.plan, t.live, t.gen, 0.1)
        for who, (s, _mib, count, statuses) in _pair(ctx, t, rep, fresh=False).items():
            secs[who].append(s)
            if count != 2 * len(changed) or statuses.get(200) != len(changed):
                ctx.log(
                    f"{who}: {count} new entries from {len(changed)} changed feeds; "
                    f"server saw {dict(statuses)}"
                )
            ctx.log(f"row 3 rep {rep + 1}: {who} {count} new entries in {s:.2f}s")
    ctx.rows.append(
        Row(
            "3",
            "re-poll, 10% of feeds changed, seconds",
            Figure(tuple(secs["feedhub"])),
            Figure(tuple(secs[READER])),
            READER,
            higher_is_better=False,
        )
    )


def publish(ctx: Context, t: Target, reps: int) -> None:
    """Row 4: ``feedhub publish`` into an empty directory; reader has no equivalent."""
    ensure_polled(ctx, t)
    seconds, per_feed = [], []
    for rep in range(reps):
        out = t.run / f"publish-{rep}"
        shutil.rmtree(out, ignore_errors=True)
        m = measure(feedhub_driver.cli(t.fh_config, "publish", "--out", str(out)))
        if m.returncode != 0:
            raise RuntimeError(
                f"feedhub publish exited {m.returncode}: {_last(m.stderr)}"
            )
        feeds = sum(1 for _ in out.rglob("*.atom"))
        seconds.append(m.seconds)
        per_feed.append(1000 * m.seconds / max(feeds, 1))
        ctx.log(f"row 4 rep {rep + 1}: {feeds} feeds in {m.seconds:.2f}s")
        shutil.rmtree(out, ignore_errors=True)
    none = "n/a: reader does not publish"
    ctx.rows.append(
        Row(
            "4",
            f"publish all feeds ({feeds}), seconds",
            Figure(tuple(seconds)),
            peer_name=none,
            higher_is_better=False,
        )
    )
    ctx.rows.append(
        Row(
            "4",
            "publish, ms per feed",
            Figure(tuple(per_feed)),
            peer_name=none,
            higher_is_better=False,
        )
    )


def _get(url: str, etag: str | None = None) -> tuple[int, bytes, str | None]:
    req = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), r.headers.get("ETag")
    except urllib.error.HTTPError as e:
        if e.code == 304:
            return 304, b"", e.headers.get("ETag")
        raise


def serving(
    ctx: Context, t: Target, reps: int, seconds: int, topic: str = "ai"
) -> None:
    """Row 5: wrk against one 50-entry topic feed, feedhub serve vs nginx static."""
    if not ctx.has_wrk:
        ctx.skipped.append("row 5: wrk is not installed")
        return
    ensure_polled(ctx, t)
    fh = feedhub_driver.FeedhubServer(t.fh_config, t.run / "serve.log")
    static_root = t.run / "static"
    peer: StaticServer | None = None
    try:
        path = f"topics/{topic}.atom"
        status, body, fh_etag = _get(fh.base_url + path)
        if status != 200 or not fh_etag:
            raise RuntimeError(f"feedhub serve: {path} gave {status}, ETag {fh_etag!r}")
        (static_root / "topics").mkdir(parents=True, exist_ok=True)
        (static_root / path).write_bytes(body)
        peer = (
            NginxServer(static_root, t.run / "nginx-static", log=False)
            if shutil.which("nginx")
            else PythonServer(static_root)
        )
        _, peer_body, peer_etag = _get(peer.base_url + path)
        assert peer_body == body and peer_etag, "static copy differs"
        for base, tag in ((fh.base_url, fh_etag), (peer.base_url, peer_etag)):
            got = _get(base + path, tag)[0]
            if got != 304:
                raise RuntimeError(
                    f"{base}{path} with If-None-Match gave {got}, not 304"
                )
        results: dict[tuple[str, int], list[float]] = {}
        runs: tuple[tuple[int, str, str, str | None], ...] = (
            (200, "feedhub", fh.base_url, None),
            (200, peer.label, peer.base_url, None),
            (304, "feedhub", fh.base_url, fh_etag),
            (304, peer.label, peer.base_url, peer_etag),
        )
        for rep in range(reps):
            for code, name, base, etag in runs:
                headers = (f"If-None-Match: {etag}",) if etag else ()
                w = run_wrk(base + path, seconds=seconds, headers=headers)
                if w.errors:
                    ctx.log(f"wrk {name} {code}: {w.errors} errors")
                results.setdefault((name, code), []).append(w.requests_per_s)
                ctx.log(
                    f"row 5 rep {rep + 1}: {name} {code}s {w.requests_per_s:,.0f}/s"
                )
        entries = body.count(b"<entry")
        for code in (200, 304):
            ctx.rows.append(
                Row(
                    "5",
                    f"serve a {entries}-entry topic feed "
                    f"({len(body) // 1024} KiB), {code}s/s",
                    Figure(tuple(results[("feedhub", code)])),
                    Figure(tuple(results[(peer.label, code)])),
                    f"{peer.label} static",
                )
            )
    finally:
        fh.stop()
        if peer is not None:
            peer.stop()
