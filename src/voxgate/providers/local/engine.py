"""The embedded engine: a bounded pool of inference threads and the models they share."""

import asyncio
import threading
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
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


class JobStopped(Exception):
    """The job's caller went away (a deadline or a hang-up): the job ends where it stands."""


def stop_if_asked(stop: threading.Event) -> None:
    """Called by jobs between their chunks or segments, the points where they can end."""
    if stop.is_set():
        raise JobStopped


class _Ticket:
    """One job's turn on a worker and its place in the admission count, each given back once.

    A job computes only while it holds a turn, and there are as many turns as workers. A job
    whose caller left gives its turn back at once when a drain permit is free (one per worker),
    and then ends at its next chunk beside the next job; otherwise it keeps the turn until then.
    """

    def __init__(self, engine: "LocalEngine") -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._taken = False
        self._draining = False
        self._returned = False

    def take(self) -> bool:
        """On the worker thread: wait for a turn; False when the caller has already left."""
        self._engine.turns.acquire()
        with self._lock:
            if self._returned:
                self._engine.turns.release()
                return False
            self._taken = True
            return True

    def leave(self) -> None:
        """The caller went away: the turn and the place go back if they can before the job ends."""
        with self._lock:
            if self._returned:
                return
            if self._taken:
                if not self._engine.drains.acquire(blocking=False):
                    return
                self._draining = True
                self._engine.turns.release()
            self._give_back_place()

    def finish(self, _: object = None) -> None:
        """The job ended (or never started): everything it still holds goes back."""
        with self._lock:
            if self._draining:
                self._draining = False
                self._engine.drains.release()
            if self._returned:
                return
            if self._taken:
                self._engine.turns.release()
            self._give_back_place()

    def _give_back_place(self) -> None:
        self._returned = True
        self._engine.release_place()


class LocalEngine:
    """Runs blocking inference off the event loop and refuses work it could not start soon."""

    def __init__(self, settings: Settings, models: LocalModels | None = None) -> None:
        self.models = models or load_local_models()
        self._settings = settings
        workers = settings.engine_workers
        self._capacity = workers + settings.engine_queue_size
        # A thread for every admitted job, and one per worker for a job that is draining.
        self._executor = ThreadPoolExecutor(
            max_workers=self._capacity + workers, thread_name_prefix="voxgate-engine"
        )
        self.turns = threading.BoundedSemaphore(workers)
        self.drains = threading.BoundedSemaphore(workers)
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

    async def run(self, job: Callable[[threading.Event], T]) -> T:
        """The job's result, computed on a worker thread; OverloadedError when the queue is full.
        The job gets an event that is set once nobody waits for it any more."""
        stop = threading.Event()
        future, ticket = self._submit(partial(job, stop), stop)
        try:
            return await asyncio.wrap_future(future)
        finally:
            # A cancelled await (a deadline, a hang-up) cannot interrupt a running thread: the
            # job ends at its next chunk, and its turn goes to the next job now.
            stop.set()
            ticket.leave()

    async def iterate(
        self, produce: Callable[[threading.Event], Iterator[T]]
    ) -> AsyncGenerator[T, None]:
        """Each item as the worker produces it, so the first arrives before the last is made."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[T | _StreamEnd] = asyncio.Queue()
        stopped = threading.Event()

        def deliver(item: T | _StreamEnd) -> None:
            if not stopped.is_set():
                loop.call_soon_threadsafe(items.put_nowait, item)

        def pump() -> None:
            try:
                for item in produce(stopped):
                    if stopped.is_set():
                        return
                    deliver(item)
            except BaseException as error:
                deliver(_StreamEnd(error))
            else:
                deliver(_StreamEnd())

        future, ticket = self._submit(pump, stopped)
        pumping = asyncio.wrap_future(future)
        try:
            while not isinstance(item := await items.get(), _StreamEnd):
                yield item
            if item.error is not None:
                raise item.error
        finally:
            # A consumer that stops early stops the worker at the next item and, by waiting for
            # it, leaves no work behind.
            stopped.set()
            ticket.leave()
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

    def _submit(self, job: Callable[[], T], stop: threading.Event) -> "tuple[Future[T], _Ticket]":
        self._admit()
        ticket = _Ticket(self)

        def in_turn() -> T:
            try:
                if not ticket.take():
                    raise JobStopped
                stop_if_asked(stop)
                return job()
            finally:
                ticket.finish()

        try:
            future = self._executor.submit(in_turn)
        except BaseException:
            ticket.finish()
            raise
        # A job cancelled while queued never runs `in_turn`: its place comes back here.
        future.add_done_callback(ticket.finish)
        return future, ticket

    def _admit(self) -> None:
        with self._admission:
            if self._admitted >= self._capacity:
                raise OverloadedError(
                    "The local engine is busy; retry shortly.",
                    retry_after_seconds=RETRY_AFTER_SECONDS,
                )
            self._admitted += 1

    def release_place(self) -> None:
        with self._admission:
            self._admitted -= 1

    def _load_voice(self, name: str) -> "PiperVoice":
        from voxgate.providers.local.loading import load_voice

        spec = self.models.speech.voices[name]
        return load_voice(spec, threads=self._settings.engine_threads_per_worker)

    def _load_recognizer(self, name: str) -> "WhisperModel":
        from voxgate.providers.local.loading import load_recognizer

        return load_recognizer(
            name,
            self.models.transcription[name],
            self._settings.data_dir / MODEL_CACHE_DIR / name,
            threads=self._settings.engine_threads_per_worker,
            workers=self._settings.engine_workers,
        )
