"""Map the sections of feeds.yaml onto a ``Config``, with defaults and cross-checks."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from feedhub.config._reader import NodeReader, child, describe, is_null, suggest
from feedhub.config._values import format_duration, network_exception, url_key
from feedhub.types import (
    Config,
    Match,
    PollingConfig,
    PublishConfig,
    ServerConfig,
    SourceConfig,
    TopicConfig,
)

__all__ = ["ConfigReader"]

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]*")

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


class ConfigReader(NodeReader):
    """Reads each section of feeds.yaml into its part of ``Config``."""

    def config(self, root: Node | None) -> Config:
        """Read the whole document; an empty one gives the defaults."""
        filename = os.path.abspath(self.path)
        if root is None or is_null(root):
            return Config(path=filename, database=_database("", filename))
        self.check_tags(root)
        if not isinstance(root, MappingNode):
            raise self.error(
                root, "", "the top level must be a mapping of sections "
                f"({', '.join(_TOP_KEYS)}), got {describe(root)}",
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
                bounds, "polling.min_interval", f"min_interval "
                f"({format_duration(low)}) is longer than max_interval "
                f"({format_duration(high)})",
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
                node, key, f"{format_duration(value)} is shorter than "
                f"polling.min_interval ({format_duration(p.min_interval)}); "
                "lower min_interval to poll this often",
            )  # fmt: skip
        if value > p.max_interval:
            raise self.error(
                node, key, f"{format_duration(value)} is longer than "
                f"polling.max_interval ({format_duration(p.max_interval)}); "
                "raise max_interval to poll this rarely",
            )  # fmt: skip

    def user_agent(self, node: Node, key: str) -> str | None:
        value = self.optional_text(node, key)
        # A CR or LF would let the value inject headers (RFC 9110 §5.5).
        if value is not None and any(c in value for c in "\r\n\0"):
            raise self.error(node, key, "must be a single line")
        return value

    def private_networks(self, node: Node, key: str) -> bool | tuple[str, ...]:
        flag = self.boolean(node)
        if flag is not None:
            return flag
        example = "['localhost', 'feeds.lan:8080', '10.0.0.0/8']"
        if isinstance(node, ScalarNode) and not is_null(node):
            raise self.error(
                node, key, f"expected true, false or a list like {example}, "
                f"got {describe(node)}",
            )  # fmt: skip
        entries = []
        for i, item in enumerate(self.sequence(node, key, example)):
            text = self.text(item, child(key, i))
            try:
                entries.append(network_exception(text))
            except ValueError as e:
                raise self.error(item, child(key, i), str(e)) from e
        return tuple(entries) or False

    def topics(self, node: Node | None) -> tuple[TopicConfig, ...]:
        topics = []
        for slug, value in self.mapping(node, "topics", None, self.slug).items():
            key = child("topics", slug)
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

    def slug(self, node: Node, key: str, name: str) -> None:
        # The slug becomes the path of the topic's feed, /topics/<slug>.atom.
        if not _SLUG_RE.fullmatch(name):
            raise self.error(
                node, key, f"topic name {name!r} cannot be used in a URL; use "
                "lower-case letters, digits and '-', starting with a letter or "
                "digit (e.g. 'ai-safety')",
            )  # fmt: skip

    def match(self, node: Node, key: str) -> Match | None:
        example = "['OpenAI', 'GPT-5']"
        if is_null(node):
            return None
        if isinstance(node, SequenceNode):
            match = Match(any=self.texts(node, key, example))
        else:
            values = self.mapping(node, key, _MATCH_KEYS)
            lists = {
                name: self.texts(v, child(key, name), example)
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
            key = child("sources", i)
            values = self.mapping(item, key, _SOURCE_KEYS)
            if "url" not in values:
                raise self.error(item, key, "every source needs a 'url'")
            url = self.url(values["url"], f"{key}.url")
            line = values["url"].start_mark.line + 1
            if url_key(url) in seen:
                first_line, first_key = seen[url_key(url)]
                raise self.error(
                    values["url"], f"{key}.url", f"{url!r} is listed twice: also "
                    f"{first_key}.url on line {first_line}",
                )  # fmt: skip
            seen[url_key(url)] = (line, key)
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
                        f"declared under 'topics:'{suggest(slug, declared)} "
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
                    node.value[i], child(key, i), f"topic {slug!r} is listed twice"
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
