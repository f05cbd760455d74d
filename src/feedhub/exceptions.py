"""feedhub's exception tree; stdlib only.

::

    FeedhubError
    ├── ConfigError (also ValueError)   bad feeds.yaml: file, line, key
    ├── SourceError(url)                one source failed; the others go on
    │   ├── FetchError                  network, HTTP status, size, deadline, refusal
    │   └── ParseError                  not a feed, or a fatal parser error
    ├── StorageError                    SQLite locked, read-only, corrupt
    ├── PublishError                    a feed could not be rendered
    └── QueryError (also ValueError)    a malformed search query

``str(e)`` names the stage, the URL and the cause, e.g. ``fetch: 404 for https://…``.
"""

from __future__ import annotations


class FeedhubError(Exception):
    """Base of every error feedhub expects and reports without a traceback."""


class ConfigError(FeedhubError, ValueError):
    """The configuration is invalid.

    Args:
        message: what is wrong.
        path: the config file.
        line: 1-based line number, when known.
        key: dotted key path, e.g. ``sources[2].url``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"config: {where}:{key} {self.message}"


class SourceError(FeedhubError):
    """One source failed; carries its URL."""

    stage = "source"

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.stage}: {self.message} ({self.url})"


class FetchError(SourceError):
    """The HTTP fetch failed or was refused.

    Args:
        url: the URL requested.
        message: short, specific reason ("404 Not Found", "body over 16 MiB").
        status: HTTP status when there was a response.
        retry_after: seconds the server asked us to wait (429/503), if any.
    """

    stage = "fetch"

    def __init__(
        self,
        url: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(url, message)


class ParseError(SourceError):
    """The body is not a feed feedhub can read."""

    stage = "parse"


class StorageError(FeedhubError):
    """An operational SQLite error (locked, read-only, corrupt, disk full)."""


class PublishError(FeedhubError):
    """A feed could not be rendered."""


class QueryError(FeedhubError, ValueError):
    """A search query is malformed; the message is for the person who typed it."""

    def __str__(self) -> str:
        return f"search: {self.args[0] if self.args else 'invalid query'}"
