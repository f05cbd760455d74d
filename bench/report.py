"""Benchmark figures, the Markdown table and the RESULTS.md header.

No business logic.
"""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Figure:
    """Repeated measurements of one quantity."""

    values: tuple[float, ...] = ()

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, digits: int = 3) -> str:
        if not self.values:
            return "—"
        med = _num(self.median, digits)
        if len(self.values) == 1:
            return med
        return (
            f"{med} [{_num(min(self.values), digits)}–{_num(max(self.values), digits)}]"
        )


def _num(x: float, digits: int) -> str:
    """Three significant digits, thousands separated: 12,345 / 123 / 1.23 / 0.0123."""
    if x == 0:
        return "0"
    mag = abs(x)
    if mag >= 10 ** (digits - 1):
        return f"{x:,.0f}"
    decimals = digits - 1
    while mag >= 10 and decimals > 0:
        mag /= 10
        decimals -= 1
    while mag < 1 and decimals < 8:
        mag *= 10
        decimals += 1
    return f"{x:.{decimals}f}"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: feedhub against its peer, run for run."""

    row: str
    metric: str
    feedhub: Figure
    peer: Figure = field(default_factory=Figure)
    peer_name: str = ""
    #: True when a larger figure is better (rates); False for seconds and MiB
    higher_is_better: bool = True
    note: str = ""
    #: the paired ratio compares other figures than feedhub/peer (row 6: growth)
    ratio_override: Figure | None = None

    @property
    def ratio(self) -> Figure:
        """feedhub / peer for each paired repetition (same run, same load)."""
        if self.ratio_override is not None:
            return self.ratio_override
        pairs = zip(self.feedhub.values, self.peer.values, strict=False)
        return Figure(tuple(f / p for f, p in pairs if p))


def arrow(row: Row) -> str:
    return "↑" if row.higher_is_better else "↓"


def markdown(rows: list[Row], skipped: list[str]) -> str:
    """The results table, then the rows that could not run and why."""
    lines = [
        "| row | metric | feedhub | peer | ratio feedhub/peer |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        peer = (
            f"{r.peer.show()} ({r.peer_name})"
            if r.peer.values
            else (r.peer_name or "—")
        )
        ratio = r.ratio.show() if r.ratio.values else "—"
        if r.ratio.values:
            ratio += "x"
        metric = f"{r.metric} {arrow(r)}"
        if r.note:
            metric += f" — {r.note}"
        lines.append(f"| {r.row} | {metric} | {r.feedhub.show()} | {peer} | {ratio} |")
    out = "\n".join(lines) + "\n"
    if skipped:
        out += "\nNot measured in this run:\n\n" + "".join(f"- {s}\n" for s in skipped)
    return out


def _meminfo_gib() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def header(now: datetime, versions: dict[str, str], settings: str) -> str:
    """Date, machine and versions, as Markdown."""
    cores = os.cpu_count()
    vers = ", ".join(f"{k} {v}" for k, v in versions.items())
    return (
        f"Run {now:%Y-%m-%d %H:%M} UTC · {settings}\n\n"
        f"- Machine: {cores} cores ({_cpu_model()}), {_meminfo_gib()} memory, "
        f"Linux {platform.release()}, Python {platform.python_version()}\n"
        f"- Versions: {vers}\n"
    )


HOW_TO_READ = """\
How to read this: every figure is the median of the repetitions with [min–max];
↑ means higher is better, ↓ lower is better. The ratio is feedhub ÷ peer, computed
per repetition (the two ran back to back, on the same machine, under the same
load) and then summarized the same way, so a ratio above 1 on a ↑ row, or below 1
on a ↓ row, favours feedhub. Only ratios carry over between machines: these
machines are shared and noisy, so absolute figures move from run to run. Peak
memory is the peak of the summed PSS (proportional set size: a page shared by N
processes counts 1/N in each) of every process of the client's tree (feedhub's
parse workers included), sampled every 50 ms; the summed RSS, which counts shared
pages once per process, is shown beside it. Row 6 has no peer: its ratio column
is the cost relative to the smallest store, which shows how the cost grows. See
bench/README.md for the method.
"""
