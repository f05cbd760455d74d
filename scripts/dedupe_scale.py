"""Measure the per-entry cost of story assignment with 10k, 100k and 1M stored entries.

Usage: ``python scripts/dedupe_scale.py [--sizes 10000,100000,1000000] [--dir DIR]``

For each size N it builds a database holding N entries with their
near-duplicate index, then times ``pipeline.assign_stories`` for single new
entries (what ingest does per entry: key resolution, canonical-link lookup,
LSH candidate lookup, exact scoring), plus ``dedupe.fingerprint`` (done in the
parser workers). Filler entries are distinct documents, so their LSH buckets
are random 64-bit values, which is what MinHash bands of unrelated texts are;
on top of them, the originals of tests/data/dedupe are stored for real, so that
the measured entries (other outlets' copies of them) find and score candidates.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import struct
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feedhub import pipeline  # noqa: E402
from feedhub.storage import Storage  # noqa: E402
from feedhub.types import Config, PollStatus, SourceConfig  # noqa: E402
from tests.test_dedupe_eval import load, prepare  # noqa: E402

NOW = datetime(2025, 8, 1, tzinfo=UTC)
BUCKETS_PER_ENTRY = 31  # 16 body + 8 lead + 6 title bands + exact title


def fill(path: str, n: int, rng: random.Random) -> None:
    """Insert ``n`` filler entries and their index rows, straight into SQLite."""
    with Storage(path) as storage:
        storage.sync_sources(
            [SourceConfig(f"https://s{i}.example/feed") for i in range(50)], NOW
        )
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    now = NOW.isoformat(timespec="microseconds")
    batch: list[tuple[object, ...]] = []
    index: list[tuple[int, int]] = []
    blobs: list[tuple[int, bytes]] = []
    for i in range(n):
        key = f"{rng.getrandbits(256):064x}"
        number = int(key[:16], 16)
        number -= (1 << 64) if number >= 1 << 63 else 0
        buckets = sorted(
            {rng.getrandbits(64) - (1 << 63) for _ in range(BUCKETS_PER_ENTRY)}
        )
        link = f"https://s{i % 50}.example/2025/{i}"
        batch.append(
            (
                key,
                1 + i % 50,
                f"id-{i}",
                link,
                link,
                f"Filler story {i}",
                f"<p>filler {i}</p>",
                "h",
                f"story-{key[:32]}",
                now,
                now,
                now,
            )
        )
        index.extend((b, number) for b in buckets)
        blobs.append((number, struct.pack(f"<{len(buckets)}q", *buckets)))
        if len(batch) >= 20000:
            flush(conn, batch, index, blobs)
    flush(conn, batch, index, blobs)
    conn.execute("COMMIT")
    conn.close()


def flush(
    conn: sqlite3.Connection,
    batch: list[tuple[object, ...]],
    index: list[tuple[int, int]],
    blobs: list[tuple[int, bytes]],
) -> None:
    conn.executemany(
        "INSERT INTO entries (key, source_id, original_id, link, canonical_link, title,"
        " content, content_hash, story_id, first_seen_at, last_changed_at, sort_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )
    conn.executemany("INSERT OR IGNORE INTO near_buckets VALUES (?, ?)", index)
    conn.executemany("INSERT INTO near_entries VALUES (?, ?)", blobs)
    batch.clear()
    index.clear()
    blobs.clear()


def measure(path: str, config: Config) -> dict[str, float]:
    """Store the originals, then time assigning their copies from another source."""
    pairs = [
        p for p in load() if p["label"] and p["kind"] not in ("utm-link", "amp-link")
    ]
    with Storage(path) as storage:
        storage.sync_sources(config.sources, NOW)
        a, b = storage.get_sources()[:2]
        seen: set[str] = set()
        for pair in pairs:  # the originals, stored for real
            if pair["a"]["link"] in seen:
                continue
            seen.add(pair["a"]["link"])
            update = prepare(pair["a"], a.id, config.dedupe)
            kept = pipeline.assign_stories(storage, config, a, [update], NOW)
            storage.record_poll(a.id, now=NOW, status=PollStatus.OK, entries=kept)
        check: list[float] = []
        prints: list[float] = []
        merged = 0
        for pair in pairs[:200]:
            started = time.perf_counter()
            update = prepare(pair["b"], b.id, config.dedupe)
            prints.append(time.perf_counter() - started)
            started = time.perf_counter()
            (assigned,) = pipeline.assign_stories(storage, config, b, [update], NOW)
            check.append(time.perf_counter() - started)
            if assigned.match is not None and assigned.match.rule.value != "founded":
                merged += 1
        indexed, rows = storage.near_index_size()
    check.sort()
    return {
        "indexed_entries": indexed,
        "bucket_rows": rows,
        "check_median_ms": statistics.median(check) * 1000,
        "check_p95_ms": check[int(len(check) * 0.95)] * 1000,
        "clean_fingerprint_median_ms": statistics.median(prints) * 1000,
        "merged": merged,
        "measured": len(check),
        "db_mib": os.path.getsize(path) / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dir", default="/tmp/feedhub-dedupe-scale")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    config = Config(
        path=None,
        database=":memory:",
        sources=(
            SourceConfig("https://s0.example/feed"),
            SourceConfig("https://s1.example/feed"),
        ),
    )
    rng = random.Random(1)
    for n in (int(x) for x in args.sizes.split(",")):
        path = os.path.join(args.dir, f"scale-{n}.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        started = time.perf_counter()
        fill(path, n, rng)
        built = time.perf_counter() - started
        result = measure(path, config)
        result.update(stored=n, build_s=built)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
