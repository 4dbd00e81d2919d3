"""Run alone in a process: the peak memory growth of one long synthesis, printed as JSON."""

import asyncio
import json
import sys
from pathlib import Path

from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio
from voxgate.providers.local import LocalProvider
from voxgate.providers.protocols import SpeechRequest, Upstream
from voxgate.settings import Settings

PIPER = Upstream(model="piper")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM restarts from the current size


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


async def measure(text: str, data_dir: Path) -> tuple[PcmAudio, dict[str, float]]:
    provider = LocalProvider(Settings(data_dir=data_dir, engine_workers=1))
    try:
        await provider.synthesize(SpeechRequest(text="Warm up the voice.", voice="joe"), PIPER)
        baseline = status_kib("VmRSS")
        reset_peak()
        result = await provider.synthesize(SpeechRequest(text=text, voice="joe"), PIPER)
        peak = status_kib("VmHWM")
        after = status_kib("VmRSS")
    finally:
        await provider.aclose()
    return result.audio, {
        "peak_mib": (peak - baseline) / 1024,
        "after_mib": (after - baseline) / 1024,
    }


def main(text: Path, data_dir: Path, out: Path) -> None:
    audio, growth = asyncio.run(measure(text.read_text(), data_dir))
    out.write_bytes(encode(audio, "mp3"))
    print(json.dumps(growth))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
