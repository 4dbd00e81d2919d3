"""An OpenAI-style upstream of the client tests' own that answers every chat completion with a
tool call and logprobs (the simulator answers neither), whole or streamed."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOL_NAME = "get_weather"
TOOL_ARGUMENTS = '{"city": "Paris", "unit": "celsius"}'
CALL_ID = "call_upstream_1"
TOKENS = ["get", "_weather"]
USAGE = {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}


def logprob(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -0.25, "bytes": list(token.encode()), "top_logprobs": []}


def answer(model: str) -> dict[str, Any]:
    call = {
        "id": CALL_ID,
        "type": "function",
        "function": {"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS},
    }
    message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
    choice = {
        "index": 0,
        "message": message,
        "logprobs": {"content": [logprob(token) for token in TOKENS], "refusal": None},
        "finish_reason": "tool_calls",
    }
    return _envelope(model, "chat.completion") | {"choices": [choice], "usage": USAGE}


def chunks(model: str) -> list[dict[str, Any]]:
    """The tool call as OpenAI streams it: the call's head, its arguments in pieces, the finish,
    then the usage (the client asked for it)."""
    head = {
        "index": 0,
        "id": CALL_ID,
        "type": "function",
        "function": {"name": TOOL_NAME, "arguments": ""},
    }
    half = len(TOOL_ARGUMENTS) // 2
    pieces = [TOOL_ARGUMENTS[:half], TOOL_ARGUMENTS[half:]]
    deltas: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        ({"role": "assistant", "content": None, "tool_calls": [head]}, None),
        *(
            ({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, logprob(token))
            for piece, token in zip(pieces, TOKENS, strict=True)
        ),
    ]
    envelope = _envelope(model, "chat.completion.chunk") | {"usage": None}
    events = [
        envelope
        | {
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "logprobs": {"content": [token], "refusal": None} if token else None,
                    "finish_reason": None,
                }
            ]
        }
        for delta, token in deltas
    ]
    finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    events.append(envelope | {"choices": [finish]})
    events.append(envelope | {"choices": [], "usage": USAGE})
    return events


def _envelope(model: str, kind: str) -> dict[str, Any]:
    return {"id": "chatcmpl-upstream", "object": kind, "created": 1_700_000_000, "model": model}


@dataclass
class ToolUpstream:
    base_url: str
    seen: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def tool_upstream() -> Iterator[ToolUpstream]:
    upstream = ToolUpstream("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            upstream.seen.append(body)
            model = str(body.get("model"))
            if body.get("stream"):
                events = [
                    b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks(model)
                ]
                self._send("text/event-stream", b"".join([*events, b"data: [DONE]\n\n"]))
            else:
                self._send("application/json", json.dumps(answer(model)).encode())

        def _send(self, content_type: str, data: bytes) -> None:
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    upstream.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()
