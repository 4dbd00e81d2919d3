"""Logging: the configuration handed to the server (plain text or one JSON object a line), and
the access line written once per request."""

import atexit
import copy
import json
import logging
import queue
import sys
import time
from contextvars import ContextVar
from logging.handlers import QueueHandler, QueueListener
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


class ThreadedStderrHandler(QueueHandler):
    """Writes the records to stderr from a thread of its own. The event loop logs every
    request's access line, and a write to stderr blocks whenever its file or pipe is slow: a
    full pipe to the journal, or a log file on a disk busy with the database's checkpoint
    (measured stalling the loop 19–25 ms). Formatting happens on the thread too."""

    def __init__(self) -> None:
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        super().__init__(records)
        self._stream = logging.StreamHandler(sys.stderr)
        self._listener: QueueListener | None = QueueListener(records, self._stream)
        self._listener.start()
        # Whatever was logged last is written before the process exits.
        atexit.register(self.close)

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        self._stream.setFormatter(fmt)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The message is fixed now (its arguments may change later); the exception stays for
        # the formatter (QueueHandler's own prepare folds it into the message).
        prepared = copy.copy(record)
        prepared.msg = record.getMessage()
        prepared.args = None
        return prepared

    def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            listener.stop()
            self._stream.close()
        super().close()


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
            "default": {"()": "voxgate.logs.ThreadedStderrHandler", "formatter": "default"}
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
