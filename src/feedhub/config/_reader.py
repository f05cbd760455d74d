"""Compose YAML safely and read typed values from its nodes. No business logic."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from feedhub.config._values import parse_duration, parse_size, url_problem
from feedhub.exceptions import ConfigError

__all__ = ["NodeReader", "child", "compose", "describe", "is_null", "suggest"]

_T = TypeVar("_T")
_YAML = "tag:yaml.org,2002:"
STR, INT, FLOAT = _YAML + "str", _YAML + "int", _YAML + "float"
BOOL, NULL = _YAML + "bool", _YAML + "null"
_ALLOWED_TAGS = frozenset({STR, INT, FLOAT, BOOL, NULL, _YAML + "map", _YAML + "seq"})


class _RefusedYAML(yaml.MarkedYAMLError):
    """Valid YAML that feedhub refuses on purpose."""


class _Loader(yaml.SafeLoader):
    """A SafeLoader that refuses aliases, so no document can expand exponentially."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _RefusedYAML(
                problem=f"YAML aliases (*{event.anchor}) are not supported; "
                "write the value out again instead",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)


def compose(text: str, path: str, *, editing: bool = False) -> Node | None:
    """Compose one YAML document into nodes without constructing any values.

    libyaml's parser (PyYAML's C extension, when present) composes a large
    feeds.yaml about ten times faster than PyYAML's Python one, which matters
    at every ``feedhub`` command. It is used when the document is valid and
    has no alias; anything else is composed again by the Python parser, whose
    errors are the ones feedhub words for people (``_yaml_message``).

    Args:
        text: the document.
        path: its file, for error messages.
        editing: the nodes' marks are used to edit ``text`` (``config._edit``):
            compose with the Python parser, whose mark indexes are character
            offsets into ``text``.

    Raises:
        ConfigError: the text is not valid YAML, has several documents or uses
            an alias; the message names ``path`` and the line.
    """
    if not editing:
        fast = _compose_fast(text)
        if fast is not None:
            return fast[0]
    try:
        return yaml.compose(text, Loader=_Loader)
    except _RefusedYAML as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise ConfigError(e.problem or "refused", path=path, line=line) from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(_yaml_message(e), path=path, line=line) from e
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        message = f"invalid YAML: the control character {e.character!r} is not allowed"
        raise ConfigError(message, path=path, line=line) from e
    except RecursionError as e:
        raise ConfigError("the YAML is nested too deeply", path=path) from e


def _compose_fast(text: str) -> tuple[Node | None] | None:
    """Compose with libyaml; None when it is missing, or the document has an
    alias or an error (then the Python parser says what is wrong)."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return None
    try:
        if "*" in text and any(
            isinstance(event, yaml.AliasEvent)
            for event in yaml.parse(text, Loader=loader)
        ):
            return None
        return (yaml.compose(text, Loader=loader),)
    except (yaml.YAMLError, RecursionError):
        return None


def _yaml_message(e: yaml.MarkedYAMLError) -> str:
    """Phrase a PyYAML syntax error for someone who edits YAML by hand."""
    if e.context and "single document" in e.context:
        return "invalid YAML: only one document is allowed; remove the '---' line"
    message = f"invalid YAML: {e.problem or e.context}"
    if e.context and e.problem and e.context_mark:
        message += f" ({e.context} on line {e.context_mark.line + 1})"
    if e.problem and "'\\t'" in e.problem:
        message += "; indent with spaces, YAML does not allow tabs"
    return message


def child(key: str, name: str | int) -> str:
    """Name a mapping value or list item below ``key``, e.g. ``sources[0].url``."""
    if isinstance(name, int):
        return f"{key}[{name}]"
    return f"{key}.{name}" if key else name


def describe(node: Node) -> str:
    """Say what a node holds, in words for an error message."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    if node.tag == STR:
        return f"the text {value!r}"
    if node.tag == BOOL:
        return f"the yes/no value {value!r} (quote it to mean text)"
    if node.tag == NULL:
        return "nothing (null)"
    return f"the number {value}"


def is_null(node: Node) -> bool:
    """Whether the node is an explicit or empty null."""
    return isinstance(node, ScalarNode) and node.tag == NULL


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return a "did you mean" hint for a misspelt name, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class NodeReader:
    """Walks the composed YAML tree, converting and checking each value."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.constructor = yaml.constructor.SafeConstructor()

    def error(self, node: Node, key: str, message: str) -> ConfigError:
        """Build a ConfigError that names the file, the node's line and ``key``."""
        line = node.start_mark.line + 1
        return ConfigError(message, path=self.path, line=line, key=key or None)

    def check_tags(self, root: Node) -> None:
        # Composing never runs constructors, so no tag can execute code here;
        # refusing every non-core tag also keeps !!binary, !!set etc. out.
        stack: list[tuple[Node, str]] = [(root, "")]
        while stack:
            node, key = stack.pop()
            if node.tag not in _ALLOWED_TAGS:
                tag = node.tag.replace(_YAML, "!!")
                raise self.error(
                    node, key, f"the YAML tag {tag!r} is not allowed; use plain "
                    "text, numbers, true/false, lists and mappings only",
                )  # fmt: skip
            if isinstance(node, MappingNode):
                for k, v in node.value:
                    stack += [(k, key), (v, child(key, str(k.value)))]
            elif isinstance(node, SequenceNode):
                stack += [(v, child(key, i)) for i, v in enumerate(node.value)]

    def mapping(
        self,
        node: Node | None,
        key: str,
        known: tuple[str, ...] | None,
        check_name: Callable[[Node, str, str], None] | None = None,
    ) -> dict[str, Node]:
        """Check a mapping's keys and return its values by key.

        ``known`` lists the keys allowed; None allows any key. ``check_name``,
        if given, is called as ``check_name(key_node, full_key, name)`` for each
        key, in document order, and raises to refuse it.
        """
        if node is None or is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            raise self.error(node, key, f"expected a mapping, got {describe(node)}")
        values: dict[str, Node] = {}
        lines: dict[str, int] = {}
        for k, v in node.value:
            if not isinstance(k, ScalarNode):
                raise self.error(k, key, "a key must be plain text")
            name = str(k.value)
            if name in values:
                raise self.error(
                    k, child(key, name), f"duplicate key (first on line "
                    f"{lines[name]}); YAML would silently keep only the last one",
                )  # fmt: skip
            if check_name is not None:
                check_name(k, child(key, name), name)
            if known is not None and name not in known:
                where = f"under {key!r}" if key else "at the top level"
                raise self.error(
                    k, child(key, name), f"unknown key {name!r} {where}"
                    f"{suggest(name, known)} (known keys: {', '.join(known)})",
                )  # fmt: skip
            values[name], lines[name] = v, k.start_mark.line + 1
        return values

    def get(
        self, values: dict[str, Node], name: str, key: str,
        read: Callable[[Node, str], _T], default: _T,
    ) -> _T:  # fmt: skip
        """Read ``values[name]`` with ``read``, or return ``default`` if absent."""
        return read(values[name], child(key, name)) if name in values else default

    def sequence(self, node: Node | None, key: str, example: str) -> list[Node]:
        if node is None or is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            raise self.error(
                node, key, f"expected a list like {example}, got {describe(node)}"
            )
        return list(node.value)

    def text(self, node: Node, key: str) -> str:
        # Numbers are fine as text (a feed named "2600"), yes/no values are not:
        # YAML 1.1 reads a bare `no` or `on` as a boolean, which is never meant.
        if not isinstance(node, ScalarNode) or node.tag not in (STR, INT, FLOAT):
            raise self.error(node, key, f"expected text, got {describe(node)}")
        value = str(node.value).strip()
        if not value:
            raise self.error(node, key, "must not be empty")
        return value

    def optional_text(self, node: Node, key: str) -> str | None:
        return None if is_null(node) else self.text(node, key)

    def texts(self, node: Node, key: str, example: str) -> tuple[str, ...]:
        items = self.sequence(node, key, example)
        return tuple(self.text(v, child(key, i)) for i, v in enumerate(items))

    def boolean(self, node: Node) -> bool | None:
        """Return the value of a yes/no scalar, or None if the node is not one."""
        if isinstance(node, ScalarNode) and node.tag == BOOL:
            return self.constructor.construct_yaml_bool(node)
        return None

    def integer(self, node: Node, key: str, low: int, high: int) -> int:
        if not isinstance(node, ScalarNode) or node.tag != INT or ":" in node.value:
            raise self.error(
                node, key, f"expected a whole number, got {describe(node)}"
            )
        try:
            value = self.constructor.construct_yaml_int(node)
        except ValueError as e:
            raise self.error(node, key, f"{node.value!r} is not a number") from e
        if not low <= value <= high:
            raise self.error(node, key, f"{value} is out of range {low}..{high}")
        return value

    def range(self, low: int, high: int) -> Callable[[Node, str], int]:
        """Return a reader of whole numbers from ``low`` to ``high`` inclusive."""
        return lambda node, key: self.integer(node, key, low, high)

    def number(self, node: ScalarNode) -> int | float:
        if node.tag == INT:
            return self.constructor.construct_yaml_int(node)
        return self.constructor.construct_yaml_float(node)

    def duration(self, node: Node, key: str) -> float:
        # Sexagesimal `1:30` is an int in YAML 1.1 (90); refuse it as ambiguous.
        if not isinstance(node, ScalarNode) or node.tag not in (STR, INT, FLOAT):
            raise self.error(node, key, f"expected a duration, got {describe(node)}")
        try:
            if node.tag == STR or ":" in node.value:
                seconds = parse_duration(str(node.value))
            else:
                seconds = parse_duration(self.number(node))
        except ValueError as e:
            raise self.error(node, key, str(e)) from e
        if seconds <= 0:
            raise self.error(node, key, "must be longer than zero seconds")
        return seconds

    def size(self, node: Node, key: str) -> int:
        if not isinstance(node, ScalarNode) or node.tag not in (STR, INT):
            raise self.error(node, key, f"expected a size, got {describe(node)}")
        try:
            if node.tag == STR:
                size = parse_size(str(node.value))
            else:
                size = parse_size(self.constructor.construct_yaml_int(node))
        except ValueError as e:
            raise self.error(node, key, str(e)) from e
        if size < 1:
            raise self.error(node, key, "must be at least 1 byte")
        return size

    def url(self, node: Node, key: str) -> str:
        value = self.text(node, key)
        problem = url_problem(value)
        if problem:
            raise self.error(node, key, f"{value!r} {problem}")
        return value
