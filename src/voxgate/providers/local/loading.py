"""Loading the engine's models from their package files, with no network access."""

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import onnxruntime  # type: ignore[import-untyped]
from faster_whisper import WhisperModel
from piper import PiperVoice
from piper.config import PiperConfig

from voxgate.models_integrity import verify_joined, verify_packaged
from voxgate.providers.local.models import RecognizerSpec, VoiceSpec

JOINED_MODEL_FILE = "model.bin"
COPY_CHUNK_BYTES = 16 * 1024 * 1024


def load_voice(spec: VoiceSpec, threads: int) -> PiperVoice:
    # The weights come from third-party packages: only the bytes this version was tested with.
    verify_packaged(spec.model)
    verify_packaged(spec.config)
    # PiperVoice.load gives the session every core; several workers would then fight for them.
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # The arena keeps the peak of the largest request for the life of the process (3.4 GB
    # after one long sentence); without it, memory goes back after each phrase. Memory
    # patterns plan buffers for one input shape, and every phrase has its own: off too (the
    # 4,096-character sentence peaked 25 MB higher with them).
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    # Idle intra-op threads spin-wait for the next operator by default, burning a core that
    # the other worker (or Whisper) could use: measured on the first phrase of a realtime
    # answer, 362 ms of CPU with spinning and 188 ms without, and sooner too on a busy machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        str(spec.model.resolve()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = json.loads(spec.config.resolve().read_text(encoding="utf-8"))
    return PiperVoice(session=session, config=PiperConfig.from_dict(config))


def load_recognizer(
    name: str, spec: RecognizerSpec, cache_dir: Path, *, threads: int, workers: int
) -> WhisperModel:
    verify_packaged(spec.directory)
    for part in spec.model_parts:
        verify_packaged(part)
    directory = (
        assemble_model_dir(spec, cache_dir) if spec.model_parts else spec.directory.resolve()
    )
    if spec.model_parts:
        verify_joined(name, directory / JOINED_MODEL_FILE)
    if not directory.is_dir():
        # faster-whisper would take a missing path for a hub model id and try to download it.
        raise FileNotFoundError(f"no Whisper model directory at {directory}")
    return WhisperModel(
        str(directory),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads,
        num_workers=workers,
        local_files_only=True,
    )


def assemble_model_dir(spec: RecognizerSpec, target: Path) -> Path:
    """A model directory with the parts joined into model.bin, built once and then reused."""
    target.mkdir(parents=True, exist_ok=True)
    parts = [part.resolve() for part in spec.model_parts]
    for source in spec.directory.resolve().iterdir():
        if source.is_file() and source not in parts:
            place_file(target / source.name, [source])
    place_file(target / JOINED_MODEL_FILE, parts)
    return target


def place_file(target: Path, sources: Sequence[Path]) -> None:
    """Write the sources' bytes to target unless it is already whole; never leave it half done."""
    expected_size = sum(source.stat().st_size for source in sources)
    if target.is_file() and target.stat().st_size == expected_size:
        return
    write_atomically(target, lambda sink: concatenate(sources, sink))


def concatenate(sources: Sequence[Path], sink: BinaryIO) -> None:
    for source in sources:
        with source.open("rb") as stream:
            shutil.copyfileobj(stream, sink, COPY_CHUNK_BYTES)


def write_atomically(target: Path, write: Callable[[BinaryIO], None]) -> None:
    # Another process may be building the same file: each writes its own temp file and the
    # rename makes whichever finishes last the one in place, always whole.
    descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(descriptor, "wb") as sink:
            write(sink)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
