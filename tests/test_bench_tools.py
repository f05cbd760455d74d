"""The benchmark's memory sampling and row 6's store policy (no timing asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_large_uncached_stores_are_skipped_with_a_note(tmp_path: Path) -> None:
    logged: list[str] = []
    got, notes = row6.rows(
        tmp_path, tmp_path, (2_000_000,), 1, logged.append, build_limit=100_000
    )
    assert got == [] and logged == []
    assert len(notes) == 1 and "--row6-sizes 2000000" in notes[0]
    assert not list(tmp_path.iterdir())  # nothing built
