"""The embedded engine: a bounded pool of inference threads and the models they share."""

import asyncio
import threading
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from voxgate.errors import OverloadedError
from voxgate.providers.local.models import LocalModels, load_local_models
from voxgate.settings import Settings

if TYPE_CHECKING:
    # Imported when a model first loads: a gateway that never uses the engine saves ~30 MB.
    from faster_whisper import WhisperModel
    from piper import PiperVoice

T = TypeVar("T")
M = TypeVar("M")

RETRY_AFTER_SECONDS = 1
MODEL_CACHE_DIR = "models"


class ModelCache(Generic[M]):
    """Loads each model on first use, once, even when several threads ask for it together."""

    def __init__(self, load: Callable[[str], M]) -> None:
        self._load = load
        self._loaded: dict[str, M] = {}
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()

    def get(self, name: str) -> M:
        with self._guard:
            lock = self._locks[name]
        with lock:
            if name not in self._loaded:
                self._loaded[name] = self._load(name)
            return self._loaded[name]

    def clear(self) -> None:
        with self._guard:
            self._loaded.clear()


@dataclass(frozen=True, slots=True)
class _StreamEnd:
    error: BaseException | None = None


class LocalEngine:
    """Runs blocking inference off the event loop and refuses work it could not start soon."""

    def __init__(self, settings: Settings, models: LocalModels | None = None) -> None:
        self.models = models or load_local_models()
        self._settings = settings
        self._executor = ThreadPoolExecutor(
            max_workers=settings.engine_workers, thread_name_prefix="voxgate-engine"
        )
        self._capacity = settings.engine_workers + settings.engine_queue_size
        self._admitted = 0
        # Jobs finish on worker threads, so the count is shared across threads.
        self._admission = threading.Lock()
        self._voices = ModelCache(self._load_voice)
        self._recognizers = ModelCache(self._load_recognizer)

    def voice(self, name: str) -> "PiperVoice":
        """The loaded voice; blocks while it loads, so call it from a job."""
        return self._voices.get(name)

    def recognizer(self, name: str) -> "WhisperModel":
        """The loaded Whisper model; blocks while it loads, so call it from a job."""
        return self._recognizers.get(name)

    async def run(self, job: Callable[[], T]) -> T:
        """The job's result, computed on a worker thread; OverloadedError when the queue is full."""
        return await asyncio.wrap_future(self._submit(job))

    async def iterate(self, produce: Callable[[], Iterator[T]]) -> AsyncGenerator[T, None]:
        """Each item as the worker produces it, so the first arrives before the last is made."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[T | _StreamEnd] = asyncio.Queue()
        stopped = threading.Event()

        def deliver(item: T | _StreamEnd) -> None:
            if not stopped.is_set():
                loop.call_soon_threadsafe(items.put_nowait, item)

        def pump() -> None:
            try:
                for item in produce():
                    if stopped.is_set():
                        return
                    deliver(item)
            except BaseException as error:
                deliver(_StreamEnd(error))
            else:
                deliver(_StreamEnd())

        pumping = asyncio.wrap_future(self._submit(pump))
        try:
            while not isinstance(item := await items.get(), _StreamEnd):
                yield item
            if item.error is not None:
                raise item.error
        finally:
            # A consumer that stops early stops the worker at the next item and, by waiting for
            # it, leaves the engine with its slot free again.
            stopped.set()
            await asyncio.wait([pumping])

    async def preload(self) -> None:
        loop = asyncio.get_running_loop()
        voices = [
            loop.run_in_executor(self._executor, self.voice, name)
            for name in self.models.speech.voices
        ]
        recognizers = [
            loop.run_in_executor(self._executor, self.recognizer, name)
            for name in self.models.transcription
        ]
        await asyncio.gather(*voices, *recognizers)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        self._voices.clear()
        self._recognizers.clear()

    def _submit(self, job: Callable[[], T]) -> "Future[T]":
        self._admit()
        try:
            future = self._executor.submit(job)
        except BaseException:
            self._release()
            raise
        # A done callback also fires for a job cancelled while queued, so every slot comes back;
        # a running job keeps its slot until it really ends, even if its caller went away.
        future.add_done_callback(self._release)
        return future

    def _admit(self) -> None:
        with self._admission:
            if self._admitted >= self._capacity:
                raise OverloadedError(
                    "The local engine is busy; retry shortly.",
                    retry_after_seconds=RETRY_AFTER_SECONDS,
                )
            self._admitted += 1

    def _release(self, _: object = None) -> None:
        with self._admission:
            self._admitted -= 1

    def _load_voice(self, name: str) -> "PiperVoice":
        from voxgate.providers.local.loading import load_voice

        spec = self.models.speech.voices[name]
        return load_voice(spec, threads=self._settings.engine_threads_per_worker)

    def _load_recognizer(self, name: str) -> "WhisperModel":
        from voxgate.providers.local.loading import load_recognizer

        return load_recognizer(
            self.models.transcription[name],
            self._settings.data_dir / MODEL_CACHE_DIR / name,
            threads=self._settings.engine_threads_per_worker,
            workers=self._settings.engine_workers,
        )
