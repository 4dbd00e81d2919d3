"""Resident memory of one gateway process: idle without the local engine, then with it loaded.

Run: .venv/bin/python -m bench.memory
"""

import tempfile
from pathlib import Path

import httpx
from tests.gateway_process import start_gateway, stop_gateway


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        process, gateway = start_gateway(Path(directory), {"VOXGATE_ENGINE_PRELOAD": "false"})
        try:
            idle = rss_mb(process.pid)
            headers = {"Authorization": f"Bearer {gateway.key}"}
            for model, body in (
                ("local-tts", {"input": "Loading the voice.", "response_format": "pcm16"}),
                ("local-whisper-tiny-en", None),
            ):
                if body is None:
                    continue
                httpx.post(
                    f"{gateway.base_url}/api/v1/audio",
                    headers=headers,
                    json={"model": model, **body},
                    timeout=60,
                )
            loaded = rss_mb(process.pid)
        finally:
            stop_gateway(process)
    print(f"idle, local engine not loaded: {idle:6.1f} MB (target ≤ 150 MB)")
    print(f"after speech (Piper loaded):   {loaded:6.1f} MB")


if __name__ == "__main__":
    main()
