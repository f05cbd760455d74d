"""The benchmark's memory sampling and row 6's store policy (no timing asserted)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench import row6, servers


def test_pss_and_rss_of_a_live_process_are_read() -> None:
    pss, rss = servers._pss_kib(os.getpid()), servers._rss_kib(os.getpid())
    assert 0 < pss <= rss
    assert servers._pss_kib(2**22 + 12345) == 0  # no such process


def test_measure_reports_peak_rss_and_pss_of_the_tree() -> None:
    # a child that holds 40 MiB of private memory for a moment
    code = (
        "import time; b = bytearray(40 << 20); b[::4096] = b'x' * len(b[::4096]);"
        " time.sleep(1)"
    )
    m = servers.measure([sys.executable, "-c", code])
    assert m.returncode == 0
    assert m.peak_pss_mib >= 40 and m.peak_rss_mib >= m.peak_pss_mib


def test_tree_survives_processes_exiting_under_it() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert servers._tree(proc.pid) == [proc.pid]  # gone: no crash, itself only


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, sorted; search rows by entry, not by docid."""
    conn = sqlite3.connect(path)
    try:
        names = [
            str(row[0])
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'entry_search%'"
                " AND name NOT IN ('search_docs', 'counters', '_sqlite_migrations')"
            )
        ]
        out = {name: sorted(conn.execute(f'SELECT * FROM "{name}"')) for name in names}
        out["search_docs"] = sorted(conn.execute("SELECT entry_key FROM search_docs"))
        for word in ("the", "of", "market", "author"):
            out[f"search {word}"] = sorted(
                conn.execute(
                    "SELECT d.entry_key FROM entry_search AS s"
                    " JOIN search_docs AS d ON d.docid = s.rowid"
                    " WHERE entry_search MATCH ?",
                    (word,),
                )
            )
        return out
    finally:
        conn.close()


def test_copied_store_holds_the_rows_record_poll_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small: 50 sources, texts repeating every 400 entries, copies 51 apart
    for name, value in (("SOURCES", 50), ("ROUND", 200), ("TEXTS", 400)):
        monkeypatch.setattr(row6, name, value)
    monkeypatch.setattr(row6, "COPY_LAG", 51)
    logged: list[str] = []
    (tmp_path / "a").mkdir()
    copied = row6.build_store(tmp_path / "a", 1000, logged.append)
    assert any("from the one of 400" in line for line in logged)
    (tmp_path / "b").mkdir()
    written = tmp_path / "b" / "store.db"
    row6._write(written, 0, 1000, logged.append, 0.0)
    got, want = _rows(copied), _rows(written)
    assert len(want["entries"]) == 1000 and len(want["stories"]) < 1000
    assert len(want["near_buckets"]) > 1000 and want["search the"]
    for table, expected in want.items():
        assert got[table] == expected, table
