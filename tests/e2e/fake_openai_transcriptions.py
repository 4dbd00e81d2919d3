"""A loopback stand-in for OpenAI's transcription endpoint that records every upload it gets and
answers in OpenAI's documented shapes (verbose_json with words and full segments, json with
logprobs), so a test can see exactly what the gateway sent and what the client got of it."""

import email.parser
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
TEXT = "The quick brown fox jumps over the lazy dog."
WORDS = [
    {"word": word, "start": round(0.4 * i, 2), "end": round(0.4 * i + 0.32, 2)}
    for i, word in enumerate(TEXT.rstrip(".").split())
]
SEGMENT = {
    "id": 0,
    "seek": 0,
    "start": 0.0,
    "end": 3.6,
    "text": " " + TEXT,
    "tokens": [50364, 440, 1702, 3699, 21283, 35308, 670, 264, 14847, 3000, 13, 50544],
    "temperature": 0.0,
    "avg_logprob": -0.21,
    "compression_ratio": 0.91,
    "no_speech_prob": 0.004,
}
LOGPROBS = [{"token": word["word"], "logprob": -0.01, "bytes": [84]} for word in WORDS]
# A field this gateway does not know: a transparent gateway passes it on.
NEW_FIELD = "x_upstream_added"


@dataclass(frozen=True)
class Upload:
    fields: list[tuple[str, str]]
    filename: str
    content_type: str
    file: bytes

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key == name]


@dataclass
class FakeOpenAI:
    base_url: str = ""
    uploads: list[Upload] = field(default_factory=list)
    # Statuses to answer with, one per request, before answering normally.
    failures: list[int] = field(default_factory=list)

    def answer(self, upload: Upload) -> tuple[int, dict[str, Any]]:
        if self.failures:
            status = self.failures.pop(0)
            return status, {"error": {"message": "injected", "type": "server_error"}}
        if len(upload.file) > MAX_UPLOAD_BYTES:
            # As OpenAI answers it.
            return 413, {
                "error": {
                    "message": "Maximum content size limit (26214400) exceeded.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
        fmt = (upload.values("response_format") or ["json"])[0]
        if fmt == "json":
            body: dict[str, Any] = {"text": TEXT, NEW_FIELD: True}
            if "logprobs" in upload.values("include[]"):
                body["logprobs"] = LOGPROBS
            body["usage"] = {"type": "duration", "seconds": 4}
            return 200, body
        granularities = upload.values("timestamp_granularities[]") or ["segment"]
        body = {"task": "transcribe", "language": "english", "duration": 3.6, "text": TEXT}
        if "word" in granularities:
            body["words"] = WORDS
        if "segment" in granularities:
            body["segments"] = [SEGMENT]
        body |= {NEW_FIELD: True, "usage": {"type": "duration", "seconds": 4}}
        return 200, body


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            upload = _parse(self.headers["content-type"], self.rfile.read(length))
            fake.uploads.append(upload)
            status, body = fake.answer(upload)
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def _parse(content_type: str, body: bytes) -> Upload:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: list[tuple[str, str]] = []
    filename, file_type, file = "", "", b""
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        if name == "file":
            filename = str(part.get_filename())
            file_type, file = part.get_content_type(), payload
        else:
            fields.append((name, payload.decode()))
    return Upload(fields, filename, file_type, file)
