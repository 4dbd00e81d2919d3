"""The benchmarks' provider: the simulator's fast-mode answers, replayed by a Go server.

The simulator is Python: on this kind of machine it spends about as much CPU on an answer as a
bare Python forwarder does, and it shares a core with wrk. Measured against it, every gateway
tops out at the simulator's own rate, and a faster gateway shows no faster. The replaying
server (bench/upstream.go, built here with the Go toolchain) answers in microseconds with the
same bytes the simulator sends, so the gateway under test is what the figures measure.
"""

import base64
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from tests.gateway_process import RunningSimulator, free_port, wait_until_ready

from bench.requests import CHAT, SPEECH, STREAMED_CHAT, STREAMED_SPEECH, transcription_upload

SOURCE = Path(__file__).with_name("upstream.go")
SIM_AUTH = {"Authorization": "Bearer bench"}
# What the gateway asks of an OpenAI route for audio chat: pcm16, whatever the client wants.
UPSTREAM_CHAT: dict[str, Any] = {**CHAT, "audio": {"voice": "alloy", "format": "pcm16"}}


class Upstream(Protocol):
    """What a section needs of the provider it measures against."""

    @property
    def base_url(self) -> str: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class FastUpstream:
    base_url: str
    pid: int

    def reset(self) -> None:
        """Nothing to forget: it keeps no log of requests."""


@contextmanager
def fast_upstream(sim: RunningSimulator) -> Iterator[FastUpstream]:
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        answers = folder / "answers.json"
        answers.write_text(json.dumps(record(sim)))
        binary = folder / "upstream"
        env = {**os.environ, "GOCACHE": str(folder / "cache"), "GOPATH": str(folder / "go")}
        subprocess.run(
            ["go", "build", "-o", str(binary), str(SOURCE)], check=True, env=env, cwd=folder
        )
        port = free_port()
        process = subprocess.Popen([str(binary), str(answers), str(port)])
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_ready(process, base_url)
            yield FastUpstream(base_url, process.pid)
        finally:
            process.kill()
            process.wait()


def record(sim: RunningSimulator) -> list[dict[str, Any]]:
    """One answer per path and kind, as the simulator in fast mode gives them."""
    upload = transcription_upload()
    requests: list[tuple[str, bool, dict[str, Any]]] = [
        ("/v1/audio/speech", False, {"json": SPEECH}),
        ("/v1/audio/speech", True, {"json": STREAMED_SPEECH}),
        ("/v1/chat/completions", False, {"json": UPSTREAM_CHAT}),
        ("/v1/chat/completions", True, {"json": STREAMED_CHAT}),
        (
            "/v1/audio/transcriptions",
            False,
            {"content": upload.data, "headers": {"Content-Type": upload.content_type}},
        ),
    ]
    recorded = []
    with httpx.Client(base_url=sim.base_url, headers=SIM_AUTH, timeout=30) as client:
        for path, streamed, request in requests:
            answer = client.post(path, **request)
            answer.raise_for_status()
            recorded.append(
                {
                    "path": path,
                    "streamed": streamed,
                    "status": answer.status_code,
                    "content_type": answer.headers["content-type"],
                    # Go's encoding/json reads a []byte from base64.
                    "body": base64.b64encode(answer.content).decode(),
                }
            )
    return recorded
