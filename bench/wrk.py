"""wrk, the load generator every side-by-side figure uses, pinned to its own core."""

import re
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

import orjson

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
# Printable ASCII as itself, except the quote and backslash; every other byte as \ddd (three
# digits always, so a digit after it is never read as part of the escape).
LUA_BYTES = tuple(
    chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\{byte:03d}"
    for byte in range(256)
)


@dataclass(frozen=True)
class RawBody:
    """A body sent as these bytes under its own Content-Type (a multipart upload, say)."""

    content_type: str
    data: bytes


Body = dict[str, Any] | RawBody


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int


def run_wrk(
    url: str,
    body: Body,
    headers: dict[str, str],
    *,
    connections: int,
    seconds: float,
    cpus: str,
) -> WrkResult:
    """POST `body` (JSON, or raw bytes) to `url` over `connections` keep-alive connections for
    `seconds`."""
    if not isinstance(body, RawBody):
        body = RawBody("application/json", orjson.dumps(body))
    script = _lua(body.data, {"Content-Type": body.content_type, **headers})
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as handle:
        handle.write(script)
        handle.flush()
        command = [
            *("taskset", "-c", cpus, "wrk", "--latency", "-t", "1"),
            *(f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url),
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return _parse(output)


def _lua(body: bytes, headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {_quote(body)}"]
    lines += [
        f"wrk.headers[{_quote(name.encode())}] = {_quote(value.encode())}"
        for name, value in headers.items()
    ]
    return "\n".join(lines) + "\n"


def _quote(data: bytes) -> str:
    """A Lua string literal of exactly these bytes: a long bracket would turn CRLF into LF."""
    return '"' + "".join(LUA_BYTES[byte] for byte in data) + '"'


def _parse(output: str) -> WrkResult:
    requests = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if requests is None or rps is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failures = int(non_2xx.group(1)) if non_2xx else 0
    failures += sum(int(count) for count in socket.groups()) if socket else 0
    return WrkResult(
        int(requests.group(1)),
        float(rps.group(1)),
        _percentile(output, "50%"),
        _percentile(output, "99%"),
        failures,
    )


def _percentile(output: str, label: str) -> float:
    match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no {label} latency:\n{output}")
    return float(match.group(1)) * UNITS_MS[match.group(2)]
