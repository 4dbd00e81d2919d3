"""Speech streamed to the client as it is made: failover until the first audio, never after.

The hold is placed before the first byte; the stream settles when it ends. A stream that breaks
after audio has gone out is not retried (the client has part of it) and is not charged.
"""

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, aclosing
from typing import TYPE_CHECKING, Any

from voxgate.audio.formats import OUTPUT_FORMATS
from voxgate.audio.pcm import PcmAudio
from voxgate.audio.stream import StreamEncoder
from voxgate.billing.usage import Attempt
from voxgate.gateway.failures import client_error
from voxgate.gateway.jobs import usage_body
from voxgate.gateway.speech import SpeechJob
from voxgate.providers.errors import UpstreamError
from voxgate.routing.failover import AttemptsFailed
from voxgate.routing.planner import PlannedAttempt

if TYPE_CHECKING:
    from voxgate.gateway.pipeline import AudioGateway, Prepared


class SpeechStream:
    def __init__(
        self, gateway: "AudioGateway", prepared: "Prepared", job: SpeechJob, stack: AsyncExitStack
    ) -> None:
        self._gateway = gateway
        self._prepared = prepared
        self._job = job
        self._stack = stack
        self.usage: dict[str, Any] | None = None

    @property
    def content_type(self) -> str:
        return OUTPUT_FORMATS[self._job.response_format].content_type

    async def open(self) -> AsyncIterator[bytes]:
        """Find a route that produces audio, so errors can still be an HTTP status; then the
        encoded bytes, ending with settlement."""
        log: list[Attempt] = []
        try:
            attempt, source, first = await self._first_audio(log)
        except BaseException:
            await self._stack.aclose()
            raise
        return self._encoded(attempt, source, first, log)

    async def _first_audio(
        self, log: list[Attempt]
    ) -> tuple[PlannedAttempt[Any], AsyncIterator[PcmAudio], PcmAudio]:
        breaker, last = self._gateway.breaker, None
        for attempt in self._prepared.attempts:
            if not await breaker.allows(attempt.label):
                log.append(Attempt(attempt.label, attempt.route.provider, "skipped", 0))
                continue
            started = time.monotonic()
            source = self._source(attempt)
            try:
                first = await anext(source)
            except UpstreamError as exc:
                log.append(_entry(attempt, str(exc.status or "error"), started, exc.message))
                await breaker.failed(attempt.label)
                last = exc
                if not exc.retriable:
                    break
                continue
            except BaseException as exc:
                await self._gateway.release(self._prepared, exc, tuple(log))
                raise
            log.append(_entry(attempt, "ok", started))
            await breaker.succeeded(attempt.label)
            return attempt, source, first
        failed = AttemptsFailed(tuple(log), last, final=last is not None and not last.retriable)
        error = client_error(self._prepared.row.id, failed)
        await self._gateway.release(self._prepared, error, tuple(log))
        raise error

    def _source(self, attempt: PlannedAttempt[Any]) -> AsyncIterator[PcmAudio]:
        request = self._job.speech_request(attempt)
        streaming = self._gateway.providers.speech_stream.get(attempt.route.provider)
        if streaming is not None:
            return streaming.stream_speech(request, attempt.upstream)
        return _whole(attempt, request)

    async def _encoded(
        self,
        attempt: PlannedAttempt[Any],
        source: AsyncIterator[PcmAudio],
        first: PcmAudio,
        log: list[Attempt],
    ) -> AsyncIterator[bytes]:
        encoder = StreamEncoder(self._job.response_format)
        seconds = first.duration_seconds
        try:
            yield encoder.feed(first)
            async with aclosing(source):  # type: ignore[type-var]
                async for pcm in source:
                    seconds += pcm.duration_seconds
                    yield encoder.feed(pcm)
            yield encoder.finish()
        except BaseException as exc:
            await self._gateway.release(self._prepared, exc, tuple(log))
            await self._stack.aclose()
            raise
        metered = self._job.metered(seconds)
        charged = await self._gateway.settle(self._prepared, metered, attempt, tuple(log))
        self.usage = usage_body(metered, charged)
        await self._stack.aclose()


async def _whole(attempt: PlannedAttempt[Any], request: Any) -> AsyncIterator[PcmAudio]:
    result = await attempt.provider.synthesize(request, attempt.upstream)
    yield result.audio


def _entry(
    attempt: PlannedAttempt[Any], status: str, started: float, error: str | None = None
) -> Attempt:
    latency = round((time.monotonic() - started) * 1000)
    return Attempt(attempt.label, attempt.route.provider, status, latency, error)
