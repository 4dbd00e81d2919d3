"""Logging: the configuration handed to the server (plain text or one JSON object a line), and
the access line written once per request."""

import atexit
import json
import logging
import sys
import threading
import time
from collections import deque
from contextvars import ContextVar
from typing import Any

from voxgate.settings import Settings

ACCESS_LOGGER = "voxgate.access"
# How often the log writer wakes to write what was logged meanwhile.
WRITE_INTERVAL_SECONDS = 0.05
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


class ThreadedStderrHandler(logging.Handler):
    """Writes the records to stderr from a thread of its own, a batch at a time. The event loop
    logs every request's access line, and a write to stderr blocks whenever its file or pipe is
    slow: a full pipe to the journal, or a log file on a disk busy with the database's
    checkpoint (measured stalling the loop 19–25 ms). The caller only fixes the message and
    appends the record: waking the writer for every line (a queue the thread waits on) cost
    2–8% of a request's CPU at concurrency 16 (docs/performance.md). The writer wakes every
    `WRITE_INTERVAL_SECONDS`, formats what came meanwhile and writes it at once."""

    def __init__(self) -> None:
        super().__init__()
        self._stream = sys.stderr
        self._pending: deque[logging.LogRecord] = deque()
        self._closing = threading.Event()
        self._writer: threading.Thread | None = threading.Thread(
            target=self._write_until_closed, name="log-writer", daemon=True
        )
        self._writer.start()
        # Whatever was logged last is written before the process exits.
        atexit.register(self.close)

    def emit(self, record: logging.LogRecord) -> None:
        # The message is fixed now (its arguments may change later); the exception stays for
        # the formatter.
        record.msg = record.getMessage()
        record.args = None
        self._pending.append(record)

    def _write_until_closed(self) -> None:
        while not self._closing.wait(WRITE_INTERVAL_SECONDS):
            self._write_pending()
        self._write_pending()

    def _write_pending(self) -> None:
        lines: list[str] = []
        while self._pending:
            record = self._pending.popleft()
            try:
                lines.append(self.format(record) + "\n")
            except Exception:
                self.handleError(record)
        if lines:
            try:
                self._stream.write("".join(lines))
                self._stream.flush()
            except Exception:
                self.handleError(record)

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            self._closing.set()
            writer.join()
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
