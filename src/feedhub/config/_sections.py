"""Map the sections of feeds.yaml onto a ``Config``, with defaults and cross-checks."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from feedhub.config._authors import read_authors
from feedhub.config._reader import (
    FLOAT,
    INT,
    NodeReader,
    child,
    describe,
    is_null,
    suggest,
)
from feedhub.config._retention import read_retention
from feedhub.config._rules import read_block, read_match, read_source_refs
from feedhub.config._values import format_duration, network_exception, url_key
from feedhub.config._views import read_views
from feedhub.types import (
    CleanAction,
    CleanRule,
    Config,
    DedupeConfig,
    PollingConfig,
    PublishConfig,
    ServerConfig,
    SourceConfig,
    TopicConfig,
)

__all__ = ["ConfigReader"]

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]*")

_TOP_KEYS = (
    "database", "server", "polling", "publish", "sources", "topics", "dedupe",
    "block", "authors", "feeds", "retention",
)  # fmt: skip
_SERVER_KEYS = ("host", "port", "base_url")
_POLLING_KEYS = (
    "interval", "min_interval", "max_interval", "timeout", "max_body_size",
    "max_redirects", "concurrency", "per_host_concurrency",
    "allow_private_networks", "user_agent", "workers",
    "per_host_delay", "retry_after_max", "retry_after_scope", "dead_after",
)  # fmt: skip
_RETRY_AFTER_SCOPES = ("source", "host")
_PUBLISH_KEYS = (
    "entries_per_feed", "backlog_per_new_source",
    "archive_page_size", "retraction_period", "hub", "out_dir", "site_title",
)  # fmt: skip
_SOURCE_KEYS = ("url", "name", "topics", "interval")
_TOPIC_KEYS = (
    "title", "description", "match", "include_sources", "exclude_sources",
)  # fmt: skip
_DEDUPE_KEYS = (
    "near_duplicates", "window", "body_threshold", "containment_threshold",
    "title_threshold", "title_containment", "min_shingles", "tracking_params",
    "amp", "prefer", "clean",
)  # fmt: skip
_CLEAN_KEYS = ("rules", "disable")
#: publish.backlog_per_new_source when absent (None would mean "all")
_BACKLOG: int | None = 10
_RULE_KEYS = ("name", "pattern", "action")


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
        # sources first (they name topics by slug), then the topics, whose
        # rules may name sources
        declared = tuple(
            TopicConfig(slug, slug)
            for slug in self.mapping(top.get("topics"), "topics", None, self.slug)
        )
        sources = self.sources(top.get("sources"), declared, polling)
        topics = self.topics(top.get("topics"), sources)
        return Config(
            path=filename,
            database=_database(self.get(top, "database", "", self.text, ""), filename),
            server=self.server(top.get("server")),
            polling=polling,
            publish=self.publish(top.get("publish")),
            sources=sources,
            topics=topics,
            dedupe=self.dedupe(top.get("dedupe"), sources),
            block=read_block(self, top.get("block"), sources),
            authors=read_authors(self, top.get("authors")),
            feeds=read_views(self, top.get("feeds"), topics, sources),
            retention=read_retention(self, top.get("retention")),
        )

    def publish(self, node: Node | None) -> PublishConfig:
        values = self.mapping(node, "publish", _PUBLISH_KEYS)
        limit = self.range(1, 10000)
        return PublishConfig(
            self.get(values, "entries_per_feed", "publish", limit, 50),
            backlog_per_new_source=self.get(
                values, "backlog_per_new_source", "publish", self.backlog, _BACKLOG
            ),
            **self.publishing(values),
        )

    def publishing(self, values: dict[str, Node]) -> dict[str, Any]:
        """The archive, retraction, WebSub and static-export keys of ``publish``."""
        out: dict[str, Any] = {
            "archive_page_size": self.get(
                values, "archive_page_size", "publish", self.range(1, 10000), 50
            ),
            "retraction_period": self.get(
                values, "retraction_period", "publish", self.duration, 30 * 86400.0
            ),
            "hub": self.get(values, "hub", "publish", self.optional_url, None),
            "site_title": self.get(
                values, "site_title", "publish", self.text, "feedhub"
            ),
        }
        out_dir = self.get(values, "out_dir", "publish", self.optional_text, None)
        if out_dir is not None:
            # relative to the config file, like `database`
            base = os.path.dirname(os.path.abspath(self.path))
            out_dir = os.path.normpath(os.path.join(base, os.path.expanduser(out_dir)))
        out["out_dir"] = out_dir
        return out

    def optional_url(self, node: Node, key: str) -> str | None:
        """An http(s) URL, or null."""
        return None if is_null(node) else self.url(node, key)

    def backlog(self, node: Node, key: str) -> int | None:
        """A count of entries, or ``all`` (None: publish the whole backlog)."""
        if isinstance(node, ScalarNode) and node.value.strip().lower() == "all":
            return None
        return self.integer(node, key, 0, 1_000_000)

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
            "per_host_delay": self.delay, "retry_after_max": self.duration,
            "retry_after_scope": self.retry_after_scope,
            "dead_after": self.duration,
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

    def delay(self, node: Node, key: str) -> float:
        """A duration that may be zero (``per_host_delay: 0`` turns spacing off)."""
        if isinstance(node, ScalarNode) and node.value.strip() in ("0", "0s", "0.0"):
            return 0.0
        return self.duration(node, key)

    def retry_after_scope(self, node: Node, key: str) -> str:
        value = self.text(node, key)
        if value not in _RETRY_AFTER_SCOPES:
            raise self.error(
                node, key, f"{value!r} is not a scope; use 'source' (hold back "
                "only the feed that asked) or 'host' (every feed on its host)"
                f"{suggest(value, _RETRY_AFTER_SCOPES)}",
            )  # fmt: skip
        return value

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

    def topics(
        self, node: Node | None, sources: tuple[SourceConfig, ...] = ()
    ) -> tuple[TopicConfig, ...]:
        topics = []
        for slug, value in self.mapping(node, "topics", None, self.slug).items():
            key = child("topics", slug)
            values = self.mapping(value, key, _TOPIC_KEYS)

            def refs(n: Node, k: str) -> tuple[str, ...]:
                return read_source_refs(self, n, k, sources)

            exclude: tuple[str, ...] = ()
            exclude = self.get(values, "exclude_sources", key, refs, exclude)
            for i, url in enumerate(exclude):
                if any(s.url == url and slug in s.topics for s in sources):
                    raise self.error(
                        values["exclude_sources"].value[i],
                        f"{key}.exclude_sources[{i}]",
                        f"{url!r} puts every entry into {slug!r} (its 'topics:'); "
                        "remove one of the two",
                    )
            topics.append(
                TopicConfig(
                    slug=slug,
                    title=self.get(values, "title", key, self.text, slug),
                    match=self.get(
                        values,
                        "match",
                        key,
                        lambda n, k: read_match(self, n, k, sources),
                        None,
                    ),
                    description=self.get(
                        values, "description", key, self.optional_text, None
                    ),
                    include_sources=self.get(values, "include_sources", key, refs, ()),
                    exclude_sources=exclude,
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

    def dedupe(
        self, node: Node | None, sources: tuple[SourceConfig, ...]
    ) -> DedupeConfig:
        values = self.mapping(node, "dedupe", _DEDUPE_KEYS)
        d = DedupeConfig()

        def flag(name: str, default: bool) -> bool:
            if name not in values:
                return default
            value = self.boolean(values[name])
            if value is None:
                raise self.error(
                    values[name], f"dedupe.{name}", "expected true or false"
                )
            return value

        clean_rules, clean_disable = self.clean(values.get("clean"))
        return DedupeConfig(
            near_duplicates=flag("near_duplicates", d.near_duplicates),
            window=self.get(values, "window", "dedupe", self.duration, d.window),
            body_threshold=self.get(
                values, "body_threshold", "dedupe", self.fraction, d.body_threshold
            ),
            containment_threshold=self.get(
                values, "containment_threshold", "dedupe", self.fraction,
                d.containment_threshold,
            ),
            title_threshold=self.get(
                values, "title_threshold", "dedupe", self.fraction, d.title_threshold
            ),
            title_containment=self.get(
                values, "title_containment", "dedupe", self.fraction,
                d.title_containment,
            ),
            min_shingles=self.get(
                values, "min_shingles", "dedupe", self.range(1, 100000), d.min_shingles
            ),
            tracking_params=self.get(
                values, "tracking_params", "dedupe",
                lambda n, k: self.texts(n, k, "[source, campaign_id]"), (),
            ),
            amp=flag("amp", d.amp),
            prefer=self.get(
                values, "prefer", "dedupe", lambda n, k: self.prefer(n, k, sources), ()
            ),
            clean_rules=clean_rules,
            clean_disable=clean_disable,
        )  # fmt: skip

    def fraction(self, node: Node, key: str) -> float:
        """A number from 0 to 1 (a similarity threshold)."""
        if not isinstance(node, ScalarNode) or node.tag not in (INT, FLOAT):
            raise self.error(
                node, key, f"expected a number from 0 to 1, got {describe(node)}"
            )
        value = float(self.number(node))
        if not 0.0 <= value <= 1.0:
            raise self.error(node, key, f"{node.value} is not between 0 and 1")
        return value

    def prefer(
        self, node: Node, key: str, sources: tuple[SourceConfig, ...]
    ) -> tuple[str, ...]:
        """Source URLs or names, resolved to configured source URLs."""
        by_name = {s.name: s.url for s in sources if s.name}
        by_url = {url_key(s.url): s.url for s in sources}
        urls: list[str] = []
        for i, item in enumerate(self.sequence(node, key, "[https://a.example/feed]")):
            text = self.text(item, child(key, i))
            url = by_url.get(url_key(text)) if "://" in text else by_name.get(text)
            if url is None:
                known = [s.name or s.url for s in sources]
                raise self.error(
                    item, child(key, i), f"{text!r} is not a configured source "
                    f"(by URL or name){suggest(text, known)}",
                )  # fmt: skip
            urls.append(url)
        return tuple(urls)

    def clean(self, node: Node | None) -> tuple[tuple[CleanRule, ...], tuple[str, ...]]:
        values = self.mapping(node, "dedupe.clean", _CLEAN_KEYS)
        rules: list[CleanRule] = []
        example = "[{name: sponsor, pattern: 'sponsored by .*', action: drop}]"
        for i, item in enumerate(
            self.sequence(values.get("rules"), "dedupe.clean.rules", example)
        ):
            key = child("dedupe.clean.rules", i)
            fields = self.mapping(item, key, _RULE_KEYS)
            for required in ("name", "pattern"):
                if required not in fields:
                    raise self.error(item, key, f"every rule needs a '{required}'")
            name = self.text(fields["name"], f"{key}.name")
            pattern = self.text(fields["pattern"], f"{key}.pattern")
            try:
                re.compile(pattern)
            except re.error as e:
                raise self.error(
                    fields["pattern"],
                    f"{key}.pattern",
                    f"not a regular expression: {e}",
                ) from e
            action = self.get(fields, "action", key, self.text, "drop")
            if action not in tuple(CleanAction):
                raise self.error(
                    fields["action"], f"{key}.action", f"{action!r} is not one of "
                    f"{', '.join(CleanAction)}{suggest(action, tuple(CleanAction))}",
                )  # fmt: skip
            rules.append(CleanRule(name, pattern, CleanAction(action)))
        none: tuple[str, ...] = ()
        disable = self.get(
            values,
            "disable",
            "dedupe.clean",
            lambda n, k: self.texts(n, k, "[share]"),
            none,
        )
        return tuple(rules), disable


def _database(value: str, config_path: str) -> str:
    value = value or "feedhub.db"
    if value == ":memory:":
        return value
    # Relative to the config file, not the working directory, so the daemon
    # finds the same database whatever directory it is started from.
    base = os.path.dirname(config_path)
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))
