"""wrk, the load generator every side-by-side figure uses, pinned to its own core."""

import re
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

import orjson

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int


def run_wrk(
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    connections: int,
    seconds: float,
    cpus: str,
) -> WrkResult:
    """POST `body` to `url` over `connections` keep-alive connections for `seconds`."""
    script = _lua(orjson.dumps(body).decode(), {"Content-Type": "application/json", **headers})
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as handle:
        handle.write(script)
        handle.flush()
        command = [
            *("taskset", "-c", cpus, "wrk", "--latency", "-t", "1"),
            *(f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url),
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return _parse(output)


def _lua(body: str, headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body}]==]"]
    lines += [f"wrk.headers[{_quote(name)}] = {_quote(value)}" for name, value in headers.items()]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
