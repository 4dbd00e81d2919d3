"""Logging: the configuration handed to the server (plain text or one JSON object a line), and
the access line written once per request."""

import json
import logging
import time
from typing import Any

from voxgate.settings import Settings

ACCESS_LOGGER = "voxgate.access"
# What a handler may leave in the request's state for the access line (see `note_usage`).
USAGE_STATE_KEY = "access_usage"
# LogRecord attributes of every record: what remains in a record's __dict__ are the `extra`
# fields a call passed, which the JSON lines carry as keys.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(
            (name, value)
            for name, value in record.__dict__.items()
            if name not in _STANDARD_ATTRIBUTES and not name.startswith("_")
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


JsonFormatter.converter = time.gmtime


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the gateway and the server, at the settings' level."""
    formatter: dict[str, Any] = (
        {"()": "voxgate.logs.JsonFormatter"}
        if settings.log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "voxgate": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            # The gateway writes its own access line, with what uvicorn's cannot know.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def note_usage(
    state: dict[str, Any], *, model: str, route: str | None, cost_micro_usd: int | None
) -> None:
    """What a handler knows after the gateway answered, for the request's access line."""
    state[USAGE_STATE_KEY] = {"model": model, "route": route, "cost_micro_usd": cost_micro_usd}
