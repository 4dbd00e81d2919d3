"""Log lines leave from a thread of their own: a stderr that blocks does not block the logger,
and every line, exception included, is written by the time the handler is closed."""

import json
import logging
import threading

import pytest

from voxgate.logs import JsonFormatter, ThreadedStderrHandler

WAIT_SECONDS = 10


class BlockedStderr:
    """A stderr whose writes wait until it is opened, as a full pipe to the journal would."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.written: list[str] = []

    def write(self, text: str) -> int:
        assert self.opened.wait(WAIT_SECONDS)
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        return None


def test_a_blocked_stderr_does_not_block_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = BlockedStderr()
    monkeypatch.setattr("sys.stderr", stderr)
    handler = ThreadedStderrHandler()
    logger = logging.getLogger("voxgate.tests.blocked")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        # Returns although the write cannot finish yet (it would raise in the writer's
        # thread after WAIT_SECONDS were the caller the one waiting).
        logger.warning("line %d", 1)
        assert stderr.written == []
        stderr.opened.set()
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert "".join(stderr.written) == "line 1\n"


def test_json_lines_keep_their_fields_and_exception(capsys: pytest.CaptureFixture[str]) -> None:
    handler = ThreadedStderrHandler()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("voxgate.tests.json")
    logger.addHandler(handler)
    logger.propagate = False
    arguments = ["first"]
    try:
        try:
            raise ValueError("broken")
        except ValueError:
            logger.exception("failed %s", arguments, extra={"request_id": "req_1"})
        arguments.append("changed after the call")
    finally:
        logger.removeHandler(handler)
        handler.close()
    line = json.loads(capsys.readouterr().err)
    assert line["message"] == "failed ['first']"
    assert line["request_id"] == "req_1"
    assert "ValueError: broken" in line["exception"]
