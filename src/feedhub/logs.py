"""Format log records as text or JSON lines, with the same fields in both.

Code logs with stdlib ``logging`` and passes its fields as ``extra=``, e.g.
``log.info("polled", extra={"source": 3, "url": u, "status": 200})``. The
text format appends them as ``key=value`` after the message; the JSON format
writes one object per line with ``ts``, ``level``, ``logger``, ``msg`` and the
same fields, so that a log shipper needs no parsing rules. No business logic.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

#: accepted values of ``--log-format`` / ``FEEDHUB_LOG_FORMAT``
FORMATS = ("text", "json")

#: attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    # uvicorn's copy of its message with terminal colour codes
    "color_message",
}


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of ``record``, in the order they were given."""
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    }


def _text_value(value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        # quoted so that "key=value" pairs stay splittable (logfmt style)
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO feedhub.pipeline: polled source=3 ...``."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        line = (
            f"{when.strftime('%Y-%m-%dT%H:%M:%S')}.{int(record.msecs):03d}Z "
            f"{record.levelname} {record.name}: {record.getMessage()}"
        )
        extra = fields(record)
        if extra:
            line += " " + " ".join(
                f"{key}={_text_value(value)}" for key, value in extra.items()
            )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, fields."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "ts": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in fields(record).items():
            # a field may not overwrite the envelope
            out[key if key not in out else f"field_{key}"] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup(level: str, fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send every log record at ``level`` or above to ``stream`` (stderr).

    Like ``logging.basicConfig``, it leaves a root logger that someone else
    configured alone (pytest's capture, an embedding program); its own handler
    from an earlier call is replaced, not duplicated.

    Raises:
        ValueError: ``fmt`` is not one of ``FORMATS``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}: {fmt!r}")
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_feedhub", False)]
    if len(ours) != len(root.handlers):
        return
    for old in ours:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._feedhub = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
