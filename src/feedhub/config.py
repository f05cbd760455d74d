"""Read feeds.yaml into a validated, frozen ``Config``; the only user of yaml."""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from types import MappingProxyType
from typing import TypeVar
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from feedhub.exceptions import ConfigError
from feedhub.types import (
    Config,
    Match,
    PollingConfig,
    PublishConfig,
    ServerConfig,
    SourceConfig,
    TopicConfig,
)

__all__ = [
    "config_fingerprint",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
]

_T = TypeVar("_T")
_YAML = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT = _YAML + "str", _YAML + "int", _YAML + "float"
_BOOL, _NULL = _YAML + "bool", _YAML + "null"
_ALLOWED_TAGS = frozenset(
    {_STR, _INT, _FLOAT, _BOOL, _NULL, _YAML + "map", _YAML + "seq"}
)

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION_RE = re.compile(
    rf"(?:{_NUMBER}d)?\s*(?:{_NUMBER}h)?\s*(?:{_NUMBER}m)?\s*(?:{_NUMBER}s)?"
)
_DURATION_UNITS = (86400, 3600, 60, 1)
_SIZE_RE = re.compile(rf"{_NUMBER}\s*([a-z]*)")
_SIZE_UNITS = MappingProxyType({
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
})  # fmt: skip
# RFC 1123 §2.1 host name labels.
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")

_TOP_KEYS = ("database", "server", "polling", "publish", "sources", "topics")
_SERVER_KEYS = ("host", "port", "base_url")
_POLLING_KEYS = (
    "interval", "min_interval", "max_interval", "timeout", "max_body_size",
    "max_redirects", "concurrency", "per_host_concurrency",
    "allow_private_networks", "user_agent", "workers",
)  # fmt: skip
_PUBLISH_KEYS = ("entries_per_feed",)
_SOURCE_KEYS = ("url", "name", "topics", "interval")
_TOPIC_KEYS = ("title", "description", "match")
_MATCH_KEYS = ("any", "all", "none")


def parse_duration(text: str | int | float) -> float:
    """Convert a duration such as ``"90s"``, ``"1h30m"`` or ``45`` to seconds.

    Units are ``d``, ``h``, ``m`` and ``s``, largest first; a bare number is seconds.

    Raises:
        ValueError: the duration is malformed, negative or not finite.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration")
    if isinstance(text, int | float):
        if not 0 <= text < float("inf"):
            raise ValueError(f"{text!r} is not a duration of zero or more seconds")
        return float(text)
    value = text.strip().lower()
    if re.fullmatch(_NUMBER, value):
        return float(value)
    match = _DURATION_RE.fullmatch(value)
    if not value or match is None:
        raise ValueError(
            f"{text!r} is not a duration; write e.g. 90s, 30m, 1h, 1d, 1h30m "
            "or a number of seconds"
        )
    return float(
        sum(
            Decimal(part) * unit
            for part, unit in zip(match.groups(), _DURATION_UNITS, strict=True)
            if part is not None
        )
    )


def parse_size(text: str | int) -> int:
    """Convert a size such as ``"16MiB"``, ``"1GB"`` or ``1000`` to bytes.

    KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB powers of 1024 (IEC 80000-13);
    a bare number is bytes. Units are case-insensitive.

    Raises:
        ValueError: the size is malformed, negative or not a whole number of bytes.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text!r} is not a size of zero or more bytes")
        return text
    match = _SIZE_RE.fullmatch(text.strip().lower())
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise ValueError(
            f"{text!r} is not a size; write e.g. 16MiB, 512KiB, 1GB or a number of "
            "bytes (units: B, KB, MB, GB, TB = 1000s; KiB, MiB, GiB, TiB = 1024s)"
        )
    size = Decimal(match.group(1)) * _SIZE_UNITS[match.group(2)]
    if size != size.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(size)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a feeds.yaml file.

    Args:
        path: the config file; a relative ``database`` is resolved against its
            directory.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: the file cannot be read or is invalid; the message names
            the file, the line and the key.
    """
    filename = os.path.abspath(os.fspath(path))
    try:
        # utf-8-sig: editors on Windows like to add a byte-order mark.
        with open(filename, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"the file is not UTF-8 text (bad byte at offset {e.start})", path=filename
        ) from e
    except OSError as e:
        raise ConfigError(
            f"cannot read the config file: {e.strerror or e}", path=filename
        ) from e
    return parse_config(text, filename)


def parse_config(text: str, path: str) -> Config:
    """Validate the YAML text of a config file.

    Args:
        text: the YAML document.
        path: the file it came from, used in error messages and to resolve a
            relative ``database``.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: the text is invalid; the message names the file, the line
            and the key.
    """
    root = _compose(text, path)
    return _Reader(path).config(root)


def config_fingerprint(config: Config) -> str:
    """Return a sha256 hex digest of what decides curation, to detect rule changes.

    Covers each topic's slug and ``match`` rule and each source's URL and
    topics. Titles, descriptions, polling and server settings are left out, and
    the order of topics and sources does not matter.
    """
    topics = sorted(
        (
            [t.slug, t.match and [t.match.any, t.match.all, t.match.none]]
            for t in config.topics
        ),
        key=json.dumps,
    )
    sources = sorted(
        ([s.url, sorted(s.topics)] for s in config.sources), key=json.dumps
    )
    blob = json.dumps(
        {"v": 1, "topics": topics, "sources": sources},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


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


def _compose(text: str, path: str) -> Node | None:
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


def _human(seconds: float) -> str:
    """Format seconds the way durations are written in feeds.yaml, e.g. 1h30m."""
    parts, rest = [], seconds
    for unit, size in zip("dhm", _DURATION_UNITS, strict=False):
        if rest >= size:
            count, rest = divmod(rest, size)
            parts.append(f"{count:g}{unit}")
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)


def _child(key: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{key}[{name}]"
    return f"{key}.{name}" if key else name


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    if node.tag == _STR:
        return f"the text {value!r}"
    if node.tag == _BOOL:
        return f"the yes/no value {value!r} (quote it to mean text)"
    if node.tag == _NULL:
        return "nothing (null)"
    return f"the number {value}"


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Reader:
    """Walks the composed YAML tree, converting and checking each value."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.constructor = yaml.constructor.SafeConstructor()

    def error(self, node: Node, key: str, message: str) -> ConfigError:
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
                    stack += [(k, key), (v, _child(key, str(k.value)))]
            elif isinstance(node, SequenceNode):
                stack += [(v, _child(key, i)) for i, v in enumerate(node.value)]

    def mapping(
        self, node: Node | None, key: str, known: tuple[str, ...] | None
    ) -> dict[str, Node]:
        """Check a mapping's keys and return its values by key.

        ``known`` lists the keys allowed; None means the keys are topic slugs.
        """
        if node is None or _is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            raise self.error(node, key, f"expected a mapping, got {_describe(node)}")
        values: dict[str, Node] = {}
        lines: dict[str, int] = {}
        for k, v in node.value:
            if not isinstance(k, ScalarNode):
                raise self.error(k, key, "a key must be plain text")
            name = str(k.value)
            if name in values:
                raise self.error(
                    k, _child(key, name), f"duplicate key (first on line "
                    f"{lines[name]}); YAML would silently keep only the last one",
                )  # fmt: skip
            if known is None and not _SLUG_RE.fullmatch(name):
                raise self.error(
                    k, _child(key, name), f"topic name {name!r} cannot be used in a"
                    " URL; use lower-case letters, digits and '-', starting with a "
                    "letter or digit (e.g. 'ai-safety')",
                )  # fmt: skip
            if known is not None and name not in known:
                where = f"under {key!r}" if key else "at the top level"
                raise self.error(
                    k, _child(key, name), f"unknown key {name!r} {where}"
                    f"{_suggest(name, known)} (known keys: {', '.join(known)})",
                )  # fmt: skip
            values[name], lines[name] = v, k.start_mark.line + 1
        return values

    def get(
        self, values: dict[str, Node], name: str, key: str,
        read: Callable[[Node, str], _T], default: _T,
    ) -> _T:  # fmt: skip
        """Read ``values[name]`` with ``read``, or return ``default`` if absent."""
        return read(values[name], _child(key, name)) if name in values else default

    def sequence(self, node: Node | None, key: str, example: str) -> list[Node]:
        if node is None or _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            raise self.error(
                node, key, f"expected a list like {example}, got {_describe(node)}"
            )
        return list(node.value)

    def text(self, node: Node, key: str) -> str:
        # Numbers are fine as text (a feed named "2600"), yes/no values are not:
        # YAML 1.1 reads a bare `no` or `on` as a boolean, which is never meant.
        if not isinstance(node, ScalarNode) or node.tag not in (_STR, _INT, _FLOAT):
            raise self.error(node, key, f"expected text, got {_describe(node)}")
        value = str(node.value).strip()
        if not value:
            raise self.error(node, key, "must not be empty")
        return value

    def optional_text(self, node: Node, key: str) -> str | None:
        return None if _is_null(node) else self.text(node, key)

    def texts(self, node: Node, key: str, example: str) -> tuple[str, ...]:
        items = self.sequence(node, key, example)
        return tuple(self.text(v, _child(key, i)) for i, v in enumerate(items))

    def integer(self, node: Node, key: str, low: int, high: int) -> int:
        if not isinstance(node, ScalarNode) or node.tag != _INT or ":" in node.value:
            raise self.error(
                node, key, f"expected a whole number, got {_describe(node)}"
            )
        try:
            value = self.constructor.construct_yaml_int(node)
        except ValueError as e:
            raise self.error(node, key, f"{node.value!r} is not a number") from e
        if not low <= value <= high:
            raise self.error(node, key, f"{value} is out of range {low}..{high}")
        return value

    def number(self, node: ScalarNode) -> int | float:
        if node.tag == _INT:
            return self.constructor.construct_yaml_int(node)
        return self.constructor.construct_yaml_float(node)

    def duration(self, node: Node, key: str) -> float:
        # Sexagesimal `1:30` is an int in YAML 1.1 (90); refuse it as ambiguous.
        if not isinstance(node, ScalarNode) or node.tag not in (_STR, _INT, _FLOAT):
            raise self.error(node, key, f"expected a duration, got {_describe(node)}")
        try:
            if node.tag == _STR or ":" in node.value:
                seconds = parse_duration(str(node.value))
            else:
                seconds = parse_duration(self.number(node))
        except ValueError as e:
            raise self.error(node, key, str(e)) from e
        if seconds <= 0:
            raise self.error(node, key, "must be longer than zero seconds")
        return seconds

    def size(self, node: Node, key: str) -> int:
        if not isinstance(node, ScalarNode) or node.tag not in (_STR, _INT):
            raise self.error(node, key, f"expected a size, got {_describe(node)}")
        try:
            if node.tag == _STR:
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
        problem = _url_problem(value)
        if problem:
            raise self.error(node, key, f"{value!r} {problem}")
        return value

    def config(self, root: Node | None) -> Config:
        filename = os.path.abspath(self.path)
        if root is None or _is_null(root):
            return Config(path=filename, database=_database("", filename))
        self.check_tags(root)
        if not isinstance(root, MappingNode):
            raise self.error(
                root, "", "the top level must be a mapping of sections "
                f"({', '.join(_TOP_KEYS)}), got {_describe(root)}",
            )  # fmt: skip
        top = self.mapping(root, "", _TOP_KEYS)
        polling = self.polling(top.get("polling"))
        topics = self.topics(top.get("topics"))
        return Config(
            path=filename,
            database=_database(self.get(top, "database", "", self.text, ""), filename),
            server=self.server(top.get("server")),
            polling=polling,
            publish=self.publish(top.get("publish")),
            sources=self.sources(top.get("sources"), topics, polling),
            topics=topics,
        )

    def publish(self, node: Node | None) -> PublishConfig:
        values = self.mapping(node, "publish", _PUBLISH_KEYS)
        limit = self.range(1, 10000)
        return PublishConfig(self.get(values, "entries_per_feed", "publish", limit, 50))

    def range(self, low: int, high: int) -> Callable[[Node, str], int]:
        return lambda node, key: self.integer(node, key, low, high)

    def server(self, node: Node | None) -> ServerConfig:
        values = self.mapping(node, "server", _SERVER_KEYS)
        host = self.get(values, "host", "server", self.text, "127.0.0.1")
        port = self.get(values, "port", "server", self.range(0, 65535), 8080)
        default = (
            f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
        )
        base_url = self.get(values, "base_url", "server", self.url, default)
        # Relative links in the published feeds resolve against it (RFC 3986 §5.2).
        if not base_url.endswith("/"):
            base_url += "/"
        return ServerConfig(host=host, port=port, base_url=base_url)

    def polling(self, node: Node | None) -> PollingConfig:
        values = self.mapping(node, "polling", _POLLING_KEYS)
        readers: dict[str, Callable[[Node, str], object]] = {
            "interval": self.duration, "min_interval": self.duration,
            "max_interval": self.duration, "timeout": self.duration,
            "max_body_size": self.size, "max_redirects": self.range(0, 100),
            "concurrency": self.range(1, 10000), "workers": self.range(0, 1024),
            "per_host_concurrency": self.range(1, 10000),
            "allow_private_networks": self.private_networks,
            "user_agent": self.user_agent,
        }  # fmt: skip
        parsed = {n: readers[n](v, f"polling.{n}") for n, v in values.items()}
        polling = PollingConfig(**parsed)  # type: ignore[arg-type]
        low, high = polling.min_interval, polling.max_interval
        bounds = values.get("min_interval") or values.get("max_interval")
        if low > high and bounds is not None:
            raise self.error(
                bounds, "polling.min_interval", f"min_interval ({_human(low)}) is "
                f"longer than max_interval ({_human(high)})",
            )  # fmt: skip
        where = values.get("interval") or bounds
        if where is not None:
            self.check_interval(where, "polling.interval", polling.interval, polling)
        return polling

    def check_interval(
        self, node: Node, key: str, value: float, p: PollingConfig
    ) -> None:
        # Intervals are clamped to [min_interval, max_interval] when scheduling;
        # say so now rather than silently polling at another rate.
        if value < p.min_interval:
            raise self.error(
                node, key, f"{_human(value)} is shorter than polling.min_interval "
                f"({_human(p.min_interval)}); lower min_interval to poll this often",
            )  # fmt: skip
        if value > p.max_interval:
            raise self.error(
                node, key, f"{_human(value)} is longer than polling.max_interval "
                f"({_human(p.max_interval)}); raise max_interval to poll this rarely",
            )  # fmt: skip

    def user_agent(self, node: Node, key: str) -> str | None:
        value = self.optional_text(node, key)
        # A CR or LF would let the value inject headers (RFC 9110 §5.5).
        if value is not None and any(c in value for c in "\r\n\0"):
            raise self.error(node, key, "must be a single line")
        return value

    def private_networks(self, node: Node, key: str) -> bool | tuple[str, ...]:
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            return self.constructor.construct_yaml_bool(node)
        example = "['localhost', 'feeds.lan:8080', '10.0.0.0/8']"
        if isinstance(node, ScalarNode) and not _is_null(node):
            raise self.error(
                node, key, f"expected true, false or a list like {example}, "
                f"got {_describe(node)}",
            )  # fmt: skip
        entries = []
        for i, item in enumerate(self.sequence(node, key, example)):
            text = self.text(item, _child(key, i))
            try:
                entries.append(_network_exception(text))
            except ValueError as e:
                raise self.error(item, _child(key, i), str(e)) from e
        return tuple(entries) or False

    def topics(self, node: Node | None) -> tuple[TopicConfig, ...]:
        topics = []
        for slug, value in self.mapping(node, "topics", None).items():
            key = _child("topics", slug)
            values = self.mapping(value, key, _TOPIC_KEYS)
            topics.append(
                TopicConfig(
                    slug=slug,
                    title=self.get(values, "title", key, self.text, slug),
                    match=self.get(values, "match", key, self.match, None),
                    description=self.get(
                        values, "description", key, self.optional_text, None
                    ),
                )
            )
        return tuple(topics)

    def match(self, node: Node, key: str) -> Match | None:
        example = "['OpenAI', 'GPT-5']"
        if _is_null(node):
            return None
        if isinstance(node, SequenceNode):
            match = Match(any=self.texts(node, key, example))
        else:
            values = self.mapping(node, key, _MATCH_KEYS)
            lists = {
                name: self.texts(v, _child(key, name), example)
                for name, v in values.items()
            }
            match = Match(**lists)
        if not match.any and not match.all:
            raise self.error(
                node, key, "needs at least one word or phrase under 'any' or 'all'"
            )
        return match

    def sources(
        self,
        node: Node | None,
        topics: tuple[TopicConfig, ...],
        polling: PollingConfig,
    ) -> tuple[SourceConfig, ...]:
        declared = [t.slug for t in topics]
        sources: list[SourceConfig] = []
        seen: dict[str, tuple[int, str]] = {}
        items = self.sequence(node, "sources", "[{url: https://example.org/feed.xml}]")
        for i, item in enumerate(items):
            key = _child("sources", i)
            values = self.mapping(item, key, _SOURCE_KEYS)
            if "url" not in values:
                raise self.error(item, key, "every source needs a 'url'")
            url = self.url(values["url"], f"{key}.url")
            line = values["url"].start_mark.line + 1
            if _url_key(url) in seen:
                first_line, first_key = seen[_url_key(url)]
                raise self.error(
                    values["url"], f"{key}.url", f"{url!r} is listed twice: also "
                    f"{first_key}.url on line {first_line}",
                )  # fmt: skip
            seen[_url_key(url)] = (line, key)
            interval = self.get(values, "interval", key, self.duration, None)
            if interval is not None:
                where = values["interval"]
                self.check_interval(where, f"{key}.interval", interval, polling)
            slugs: tuple[str, ...] = ()
            slugs = self.get(values, "topics", key, self.source_topics, slugs)
            for j, slug in enumerate(slugs):
                where = values["topics"].value[j]
                if slug not in declared:
                    raise self.error(
                        where, f"{key}.topics[{j}]", f"topic {slug!r} is not "
                        f"declared under 'topics:'{_suggest(slug, declared)} "
                        f"(declared: {', '.join(declared) or 'none'})",
                    )  # fmt: skip
            name = self.get(values, "name", key, self.optional_text, None)
            sources.append(SourceConfig(url, name, slugs, interval))
        return tuple(sources)

    def source_topics(self, node: Node, key: str) -> tuple[str, ...]:
        slugs = self.texts(node, key, "[ai, open-source]")
        for i, slug in enumerate(slugs):
            if slug in slugs[:i]:
                raise self.error(
                    node.value[i], _child(key, i), f"topic {slug!r} is listed twice"
                )
        return slugs


def _database(value: str, config_path: str) -> str:
    value = value or "feedhub.db"
    if value == ":memory:":
        return value
    # Relative to the config file, not the working directory, so the daemon
    # finds the same database whatever directory it is started from.
    base = os.path.dirname(config_path)
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def _url_problem(url: str) -> str | None:
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an http(s) URL"
    if not parts.hostname:
        return "has no host name"
    return None


def _url_key(url: str) -> str:
    """Reduce a URL to what makes two sources the same (RFC 3986 §6.2.2-6.2.3)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    host = (parts.hostname or "") + (f":{port}" if port else "")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}{parts.path or '/'}{query}"


def _network_exception(text: str) -> str:
    """Check one ``allow_private_networks`` entry and return its canonical form."""
    value = text.strip().lower()
    hint = (
        f"{text!r} is not a host name, host:port or CIDR network "
        "(e.g. 'localhost', 'feeds.lan:8080', '[::1]:8080', '10.0.0.0/8')"
    )
    if "/" in value:
        try:
            return str(ipaddress.ip_network(value))
        except ValueError as e:
            raise ValueError(f"{hint}: {e}") from e
    host, port = value, None
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep:
            raise ValueError(hint)
    elif value.count(":") == 1:
        host, port = value.split(":")
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{hint}: port must be 1..65535")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if value.startswith("[") or not _is_hostname(host):
            raise ValueError(hint) from None
    else:
        host = f"[{address}]" if address.version == 6 and port else str(address)
    return f"{host}:{int(port)}" if port else host


def _is_hostname(host: str) -> bool:
    host = host.removesuffix(".")
    labels = host.split(".")
    return 0 < len(host) <= 253 and all(_LABEL_RE.fullmatch(x) for x in labels)
