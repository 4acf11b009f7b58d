"""Log format of every service: plain text for people, or one JSON object a line.

The JSON form: `time` (UTC, ISO 8601), `level`, `logger`, `message` and, when
there is one, `exception`. Each service calls `configure_logging` once at start
with its `log_format` setting.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, ASCII only, so no record ever spans two lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry)


def configure_logging(log_format: Literal["text", "json"]) -> None:
    """Send every logger's records (and Python's warnings) to stderr in `log_format`."""
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.captureWarnings(True)
    # The scheduler says "Running job ..." at INFO every few seconds; its warnings
    # (a job missed, a job failed) still come through.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
