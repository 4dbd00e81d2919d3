"""Streamed local speech: time to the first audio byte against time to the last.

Run: .venv/bin/python -m bench.streaming
A 400-character text through POST /v1/audio/speech on the embedded engine, mp3, streamed.
"""

import statistics
import tempfile
import time
from pathlib import Path

import httpx
from tests.gateway_process import RunningGateway, start_gateway, stop_gateway

TEXT = (
    "Streaming speech sends each sentence as soon as it is made. The listener hears the first "
    "words while the rest is still being synthesized. That is what keeps a voice agent feeling "
    "responsive. This benchmark measures the first byte and the last byte of the same answer. "
    "The ratio between them shows what streaming buys. A longer answer would show an even "
    "larger gain, since only the first sentence stands between the question and the voice."
)
RUNS = 5


def first_and_last_byte(gateway: RunningGateway, runs: int = RUNS) -> tuple[float, float]:
    """Median seconds to the first and to the last byte of the streamed answer."""
    first, last = [], []
    body = {"model": "local-tts", "input": TEXT, "voice": "alloy", "response_format": "mp3"}
    headers = {"Authorization": f"Bearer {gateway.key}"}
    with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=60) as client:
        for run in range(runs + 1):
            started = time.perf_counter()
            with client.stream("POST", "/v1/audio/speech", json=body) as response:
                chunks = response.iter_bytes()
                next(chunks)
                first_byte = time.perf_counter() - started
                for _ in chunks:
                    pass
            if run:  # the first run warms the engine up
                first.append(first_byte)
                last.append(time.perf_counter() - started)
    return statistics.median(first), statistics.median(last)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        process, gateway = start_gateway(Path(directory))
        try:
            ttfb, total = first_and_last_byte(gateway)
        finally:
            stop_gateway(process)
    print(f"{len(TEXT)} characters, mp3, median of {RUNS}")
    print(f"time to first byte: {ttfb * 1000:7.1f} ms")
    print(f"time to last byte:  {total * 1000:7.1f} ms")
    print(f"last / first:       {total / ttfb:7.1f}x (target: at least 3x)")


if __name__ == "__main__":
    main()
