"""Runs local inference off the event loop, with models loaded once and a bounded queue."""

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from faster_whisper import WhisperModel
from piper import PiperVoice

from voxgate.errors import OverloadedError
from voxgate.providers.local.catalog import LocalModels, load_local_models
from voxgate.settings import Settings

ResultT = TypeVar("ResultT")


class LocalEngine:
    def __init__(self, settings: Settings) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=settings.engine_workers, thread_name_prefix="voxgate-engine"
        )
        self._capacity = settings.engine_workers + settings.engine_queue_size
        self._threads = settings.engine_threads_per_worker
        self._cache_dir = settings.data_dir / "models"
        self.models: LocalModels = load_local_models()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._admitted = 0
        self._voices: dict[str, PiperVoice] = {}
        self._recognizers: dict[str, WhisperModel] = {}

    async def run(self, work: Callable[[], ResultT]) -> ResultT:
        """Run `work` on an engine thread, or refuse at once when the queue is full."""
        self._admit()
        future: Future[ResultT] = self._executor.submit(work)
        # A job keeps its place until its thread finishes, even if its caller went away.
        future.add_done_callback(lambda _: self._leave())
        return await asyncio.wrap_future(future)

    def voice(self, name: str) -> PiperVoice:
        with self._load_lock:
            if name not in self._voices:
                model, config = self.models.voices[name].paths()
                self._voices[name] = PiperVoice.load(model, config_path=config)
            return self._voices[name]

    def recognizer(self, name: str) -> WhisperModel:
        with self._load_lock:
            if name not in self._recognizers:
                directory = self.models.recognizers[name].directory(self._cache_dir)
                self._recognizers[name] = self._load_recognizer(directory)
            return self._recognizers[name]

    async def preload(self) -> None:
        for name in self.models.voices:
            await asyncio.to_thread(self.voice, name)
        for name in self.models.recognizers:
            await asyncio.to_thread(self.recognizer, name)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    def _load_recognizer(self, directory: Path) -> WhisperModel:
        return WhisperModel(
            str(directory), device="cpu", compute_type="int8", cpu_threads=self._threads
        )

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self._capacity:
                raise OverloadedError(
                    "The local engine's queue is full; retry shortly.", retry_after_seconds=1
                )
            self._admitted += 1

    def _leave(self) -> None:
        with self._lock:
            self._admitted -= 1
