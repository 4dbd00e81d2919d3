"""Logging: the configuration handed to the server (plain text or one JSON object a line), and
the access line written once per request."""

import json
import logging
import time
from contextvars import ContextVar
from typing import Any

from voxgate.settings import Settings

ACCESS_LOGGER = "voxgate.access"
# LogRecord attributes of every record: what remains in a record's __dict__ are the `extra`
# fields a call passed, which the JSON lines carry as keys.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


# The access record of the request being served, per asyncio context (one per request).
_access_record: ContextVar[dict[str, Any] | None] = ContextVar("access_record", default=None)


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


def begin_access_record() -> dict[str, Any]:
    """A request's access record, which `record_usage` fills from anywhere below (the tasks a
    streamed answer runs in share it); the access line is written from it."""
    record: dict[str, Any] = {}
    _access_record.set(record)
    return record


def record_usage(*, model: str, route: str | None, cost_micro_usd: int | None) -> None:
    """What the gateway knows once a request is settled, for its access line."""
    record = _access_record.get()
    if record is not None:
        record.update(model=model, route=route, cost_micro_usd=cost_micro_usd)
