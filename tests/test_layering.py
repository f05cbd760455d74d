"""The dependency direction of STYLE.md §2, and one owner per library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "feedhub"

#: lower layers may never import higher ones
LAYERS: dict[str, float] = {
    "__init__": 0,
    "types": 0,
    "exceptions": 0,
    "config": 1,
    "fetch": 1,
    "parse": 1,
    "normalize": 1,
    "dedupe": 1,
    "clean": 1,
    "curate": 1,
    "authors": 1,
    "publish": 1,
    "schedule": 1,
    "storage": 1,
    "discover": 1,
    "opml": 1,
    # the parse workers' code: above the stages it runs, below the pipeline
    # that hands it work (a module of its own so workers import only stages)
    "prepare": 1.5,
    "pipeline": 2,
    "subscribe": 2,
    "metrics": 2,
    "scheduler": 3,
    "server": 3,
    "daemon": 4,
    "logs": 4,
    "cli": 5,
    "__main__": 6,
}
#: stages of layer 1 may not import each other
STAGES = {name for name, layer in LAYERS.items() if layer == 1}
#: each third-party library belongs to one module
OWNERS: dict[str, set[str]] = {
    "aiohttp": {"fetch"},
    "yarl": {"fetch"},
    "feedparser": {"parse"},
    "feedgen": {"publish"},
    "lxml": {"publish"},
    "nh3": {"normalize"},
    "sqlite_utils": {"storage"},
    "sqlite3": {"storage"},
    "apscheduler": {"scheduler"},
    "click": {"cli"},
    "rich": {"cli"},
    "yaml": {"config"},
    "starlette": {"server"},
    "uvicorn": {"daemon"},
    "prometheus_client": {"metrics"},
    # linear-time regexes for rules; config validates, curate runs them
    "re2": {"_regex"},
}


def _module_of(path: Path) -> str:
    """Top-level feedhub module a file belongs to (a package counts as one)."""
    return path.relative_to(SRC).with_suffix("").parts[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "feedhub":
                names.update(f"feedhub.{alias.name}" for alias in node.names)
    return names


FILES = sorted(SRC.rglob("*.py"))


def _layer(module: str) -> float:
    if module.startswith("_") and module not in ("__init__", "__main__"):
        # private helper modules ("No business logic.") sit between the
        # shared types and the stages that use them
        return 0.5
    return LAYERS[module]


def test_every_module_has_a_layer():
    for path in FILES:
        module = _module_of(path)
        assert module.startswith("_") or module in LAYERS, f"{path} has no layer"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_upward_or_sideways_import(path: Path):
    module = _module_of(path)
    layer = _layer(module)
    for name in _imports(path):
        if not name.startswith("feedhub.") or name == "feedhub.__version__":
            continue
        target = name.split(".")[1]
        if target == module or target == "__version__":
            continue
        target_layer = _layer(target)
        assert target_layer < layer or (
            target_layer == 0 and layer == 0 and target != module
        ), f"{module} (layer {layer}) imports {target} (layer {target_layer})"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_third_party_owner(path: Path):
    module = _module_of(path)
    for name in _imports(path):
        top = name.split(".")[0]
        owners = OWNERS.get(top)
        if owners is None:
            continue
        assert module in owners, f"{path.name} imports {top}, owned by {sorted(owners)}"


def test_layering_test_catches_an_upward_import(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text("from feedhub import pipeline\nimport feedhub.cli\n")
    assert {"feedhub", "feedhub.pipeline", "feedhub.cli"} <= _imports(bad)


def test_importing_feedhub_is_cheap():
    import subprocess
    import sys

    code = "import sys, feedhub; print(','.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(out.strip().split(","))
    for heavy in ("feedparser", "feedgen", "aiohttp", "starlette", "sqlite_utils"):
        assert heavy not in loaded
