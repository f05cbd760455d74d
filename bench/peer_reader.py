"""The peer: lemon24's ``reader`` in its own virtualenv, driven by this very file.

The host side (``ensure_venv``, ``command``) uses the stdlib only. Run as a script with
the venv's python, the file imports ``reader`` and does one action, printing JSON:

    python peer_reader.py first DB URLS_FILE WORKERS   # add every feed, update all
    python peer_reader.py repoll DB WORKERS            # update all, due or not
    python peer_reader.py version
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: reader >= 3.13 has ``update_feeds(scheduled=...)``; older ones lack it
REQUIREMENT = "reader>=3.13"


def venv_python(work: Path) -> Path:
    return work / "venv-reader" / "bin" / "python"


def ensure_venv(work: Path) -> Path:
    """Create ``work/venv-reader`` with reader installed; return its python.

    Raises:
        RuntimeError: when reader cannot be installed or imported.
    """
    py = venv_python(work)
    if not py.exists():
        subprocess.run(
            [sys.executable, "-m", "venv", str(py.parent.parent)], check=True
        )
    if _version(py) is None:
        print("bench: installing reader into bench/.work/venv-reader", flush=True)
        pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, REQUIREMENT], check=False, capture_output=True)
        if _version(py) is None:
            # some reader releases import feedparser's sgmllib without declaring it
            subprocess.run([*pip, "sgmllib3k"], check=False, capture_output=True)
    if _version(py) is None:
        raise RuntimeError("cannot install or import reader in bench/.work/venv-reader")
    return py


def _version(py: Path) -> dict[str, str] | None:
    done = subprocess.run(
        [str(py), __file__, "version"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return None
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def versions(work: Path) -> dict[str, str]:
    """reader's and its feedparser's versions, as installed in the venv."""
    return _version(venv_python(work)) or {}


def command(work: Path, action: str, *args: str) -> list[str]:
    """The command line that runs ``action`` in the reader venv."""
    return [str(venv_python(work)), __file__, action, *args]


# ----------------------------------------------------------------------------
# Below: runs inside the reader venv
# ----------------------------------------------------------------------------


def _update(reader: Any, workers: int, scheduled: bool) -> dict[str, int]:
    counts = {"feeds": 0, "new": 0, "modified": 0, "not_modified": 0, "errors": 0}
    for result in reader.update_feeds_iter(scheduled=scheduled, workers=workers):
        counts["feeds"] += 1
        value = result.value
        if value is None:
            counts["not_modified"] += 1
        elif isinstance(value, Exception):
            counts["errors"] += 1
        else:
            counts["new"] += value.new
            counts["modified"] += value.modified
    return counts


def _main(argv: list[str]) -> int:
    import importlib  # noqa: PLC0415

    import reader  # type: ignore[import-not-found]  # noqa: PLC0415 - venv only

    action = argv[0]
    if action == "version":
        # reader parses with its vendored feedparser when it has one; importing it
        # is what fails when sgmllib is missing, so check it here, not at first poll
        try:
            fp = importlib.import_module("reader._vendor.feedparser")
        except ModuleNotFoundError as e:
            if e.name != "reader._vendor":
                raise
            fp = importlib.import_module("feedparser")
        print(json.dumps({"reader": reader.__version__, "feedparser": fp.__version__}))
        return 0
    db = argv[1]
    start = time.perf_counter()
    r = reader.make_reader(db)
    if action == "first":
        urls = Path(argv[2]).read_text().split()
        workers = int(argv[3])
        for url in urls:
            r.add_feed(url)
        t_update = time.perf_counter()
        counts = _update(r, workers, scheduled=True)
    elif action == "repoll":
        workers = int(argv[2])
        t_update = time.perf_counter()
        # reader schedules the next update an hour later (3.21+); force every feed
        counts = _update(r, workers, scheduled=False)
    else:
        print(f"unknown action {action!r}", file=sys.stderr)
        return 2
    end = time.perf_counter()
    total = r.get_entry_counts().total
    r.close()
    out = {
        **counts,
        "entries_stored": total,
        "update_seconds": end - t_update,
        "process_seconds": end - start,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
