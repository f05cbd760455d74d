"""Append sources and topics to feeds.yaml in place, keeping every other byte.

The file is edited as text at positions PyYAML reports, so comments, blank
lines, quoting and key order stay exactly as the operator wrote them; the
result is validated before it replaces the file. No business logic.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from feedhub.config._reader import compose, is_null
from feedhub.config._values import format_duration
from feedhub.exceptions import ConfigError
from feedhub.types import Config, SourceConfig, TopicConfig

__all__ = ["add_to_text", "check_edit", "render_source", "scalar", "write_text"]

# (offset, characters replaced, new text)
_Edit = tuple[int, int, str]


def scalar(value: str) -> str:
    """Write one string as a YAML scalar, quoted only when YAML needs it."""
    dumped = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, width=1 << 20
    )
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def _source_fields(source: SourceConfig) -> list[tuple[str, str]]:
    fields = [("url", scalar(source.url))]
    if source.name:
        fields.append(("name", scalar(source.name)))
    if source.topics:
        fields.append(("topics", f"[{', '.join(scalar(t) for t in source.topics)}]"))
    if source.interval is not None:
        fields.append(("interval", format_duration(source.interval)))
    return fields


def render_source(source: SourceConfig, dash: int, key: int) -> str:
    """A block sequence item for ``sources:``; ``dash``/``key`` are columns."""
    lines = []
    for n, (name, value) in enumerate(_source_fields(source)):
        prefix = " " * dash + "- " + " " * (key - dash - 2) if n == 0 else " " * key
        lines.append(f"{prefix}{name}: {value}\n")
    return "".join(lines)


def _flow_source(source: SourceConfig) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in _source_fields(source)) + "}"


def _render_topic(topic: TopicConfig, key: int) -> str:
    return f"{' ' * key}{topic.slug}:\n{' ' * (key + 2)}title: {scalar(topic.title)}\n"


def _flow_topic(topic: TopicConfig) -> str:
    return f"{topic.slug}: {{title: {scalar(topic.title)}}}"


def _last_scalar(node: Node) -> Node:
    while isinstance(node, MappingNode | SequenceNode) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return node


def _after_line(text: str, offset: int) -> int:
    """The offset just past the end of the line holding ``offset``."""
    newline = text.find("\n", offset)
    return len(text) if newline < 0 else newline + 1


def _top(root: Node | None, name: str) -> tuple[Node, Node] | None:
    if isinstance(root, MappingNode):
        for key, value in root.value:
            if isinstance(key, ScalarNode) and key.value == name:
                return key, value
    return None


def _section_edit(
    text: str,
    root: Node | None,
    name: str,
    block: Sequence[str],
    flow: Sequence[str],
) -> _Edit | None:
    """Where and what to insert for one top-level section."""
    found = _top(root, name)
    if found is None:
        lead = "" if not text or text.endswith("\n") else "\n"
        return len(text), 0, f"{lead}{name}:\n" + "".join(block)
    key, value = found
    empty_flow = isinstance(value, MappingNode | SequenceNode) and not value.value
    if is_null(value) or empty_flow:
        start = key.start_mark.index
        end = max(value.end_mark.index, key.end_mark.index)
        indent = " " * key.start_mark.column
        items = "".join(indent + line for line in block)
        return start, end - start, f"{name}:\n{items}".rstrip("\n")
    if getattr(value, "flow_style", False):
        # "[...]" or "{...}": insert before the closing bracket
        close = value.end_mark.index - 1
        return close, 0, ", " + ", ".join(flow)
    if isinstance(value, MappingNode | SequenceNode):
        offset = _after_line(text, _last_scalar(value).end_mark.index)
        lead = "" if text[:offset].endswith("\n") else "\n"
        return offset, 0, lead + "".join(block)
    return None


def add_to_text(
    text: str,
    path: str,
    sources: Sequence[SourceConfig],
    topics: Sequence[TopicConfig] = (),
) -> str:
    """Return ``text`` with ``sources`` appended to ``sources:`` and ``topics``
    added under ``topics:``, every other line unchanged.

    Raises:
        ConfigError: ``text`` is invalid, or the sections have a shape this
            cannot extend (the message shows the lines to add by hand).
    """
    root = compose(text, path, editing=True)
    if text and not text.endswith("\n"):
        text += "\n"
    edits: list[_Edit] = []
    if sources:
        dash, key = _item_columns(_top(root, "sources"))
        edit = _section_edit(
            text,
            root,
            "sources",
            [render_source(s, dash, key) for s in sources],
            [_flow_source(s) for s in sources],
        )
        if edit is None:
            raise _by_hand(path, sources, topics)
        edits.append(edit)
    if topics:
        column = _key_column(_top(root, "topics"))
        edit = _section_edit(
            text,
            root,
            "topics",
            [_render_topic(t, column) for t in topics],
            [_flow_topic(t) for t in topics],
        )
        if edit is None:
            raise _by_hand(path, sources, topics)
        edits.append(edit)
    # apply from the end of the file backwards, so offsets stay valid; at one
    # offset the later edit goes first, so the text ends up in list order
    for offset, length, new in reversed(sorted(edits, key=lambda e: e[0])):
        text = text[:offset] + new + text[offset + length :]
    return text


def _item_columns(found: tuple[Node, Node] | None) -> tuple[int, int]:
    """Columns of the "-" and of the keys of ``sources:`` items (default 2, 4)."""
    if found is not None:
        value = found[1]
        if isinstance(value, SequenceNode) and value.value and not value.flow_style:
            first = value.value[0]
            dash = value.start_mark.column
            return dash, max(first.start_mark.column, dash + 2)
        return found[0].start_mark.column + 2, found[0].start_mark.column + 4
    return 2, 4


def _key_column(found: tuple[Node, Node] | None) -> int:
    if found is not None:
        value = found[1]
        if isinstance(value, MappingNode) and value.value and not value.flow_style:
            return int(value.value[0][0].start_mark.column)
        return found[0].start_mark.column + 2
    return 2


def _by_hand(
    path: str, sources: Sequence[SourceConfig], topics: Sequence[TopicConfig]
) -> ConfigError:
    lines = "".join(render_source(s, 2, 4) for s in sources)
    lines += "".join(_render_topic(t, 2) for t in topics)
    return ConfigError(
        f"cannot extend this file automatically; add by hand:\n{lines}", path=path
    )


def check_edit(
    before: Config,
    after: Config,
    sources: Sequence[SourceConfig],
    topics: Sequence[TopicConfig],
) -> None:
    """Make sure an edit added exactly ``sources`` and ``topics``, nothing else.

    Raises:
        ConfigError: the edited file reads differently than intended.
    """
    same = (
        after.sources == before.sources + tuple(sources)
        and [t.slug for t in after.topics]
        == [t.slug for t in before.topics] + [t.slug for t in topics]
        and after.polling == before.polling
        and after.server == before.server
        and after.database == before.database
    )
    if not same:
        raise _by_hand(str(before.path), sources, topics)


def write_text(path: str, text: str) -> None:
    """Replace the file at ``path`` with ``text`` atomically, keeping its mode.

    Raises:
        ConfigError: the directory is not writable.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    try:
        fd, tmp = tempfile.mkstemp(prefix=".feeds-", suffix=".yaml", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise ConfigError(f"cannot write: {e.strerror or e}", path=path) from e
