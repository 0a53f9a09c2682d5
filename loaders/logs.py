"""Structured logging for the loaders: one line per event, as JSON lines when asked.

Every event is logged with `log_event(logger, "event_name", key=..., batch_id=..., rows=...)`. The text
format reads `event_name key=value ...`; the JSON format (`unify load --json-logs`, and always in the
Lambda handler) writes one object per line with `ts`, `level`, `logger`, `event`, `message` and the
fields, which CloudWatch Logs Insights discovers on its own, e.g.

    fields @timestamp, event, key, reason | filter event = "file_quarantined" | sort @timestamp desc
    stats sum(rows) by table | filter event = "batch_committed"
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record is an event field.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields (batch_id, key, table, rows, reason, ...)."""
    if not logger.isEnabledFor(level):
        return
    message = event + "".join(f" {k}={_text(v)}" for k, v in fields.items() if v is not None)
    logger.log(level, message, extra={"event": event, **{f"f_{k}": v for k, v in fields.items()}})


def _text(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or "\n" in text or not text) else text


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k[2:]: v for k, v in vars(record).items() if k.startswith("f_") and k not in _RESERVED}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, event, message, fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", None) or "log",
            "message": record.getMessage(),
        }
        for key, value in event_fields(record).items():
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(json_lines: bool = False, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Replace the root handlers: JSON lines or `time level logger: message` text, on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
