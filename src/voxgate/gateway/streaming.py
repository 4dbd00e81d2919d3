"""A streamed answer's delivery, after the one failover loop has found its first chunk.

Chunks are metered as they are handed to the client; the hold is kept alive while the stream
lives and grown ahead of what has been delivered, so that no reaper frees it and no cost runs
past it. The stream settles once, for what was delivered: at its end, when the client hangs up,
or when the upstream fails after the first chunk (no failover then: the client has part of the
answer). A stream the client left before any chunk reached it is released.
"""

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from voxgate.billing.pricing import Metered, cost
from voxgate.errors import UpstreamFailedError
from voxgate.gateway.jobs import Job, usage_body
from voxgate.providers.errors import UpstreamError
from voxgate.routing.failover import Success
from voxgate.routing.planner import PlannedAttempt
from voxgate.types import MicroUSD

if TYPE_CHECKING:
    from voxgate.gateway.pipeline import AudioGateway, Prepared

ChunkT = TypeVar("ChunkT")
ChunkT_co = TypeVar("ChunkT_co", covariant=True)
ChunkT_contra = TypeVar("ChunkT_contra", contravariant=True)


class StreamMeter(Protocol[ChunkT_contra]):
    """What a stream has delivered so far, as it would be billed."""

    def add(self, chunk: ChunkT_contra) -> None: ...

    @property
    def delivered(self) -> Metered: ...


@runtime_checkable
class StreamingJob(Job, Protocol[ChunkT]):
    """A job whose answer can be sent as it is made."""

    @property
    def content_type(self) -> str: ...

    def stream(self, attempt: PlannedAttempt[Any]) -> AsyncIterator[ChunkT]: ...

    def meter(self) -> StreamMeter[ChunkT]: ...


@dataclass(frozen=True, slots=True)
class Opened(Generic[ChunkT]):
    """An attempt's stream with its first chunk in hand."""

    first: ChunkT
    rest: AsyncIterator[ChunkT]


def opener(
    job: StreamingJob[ChunkT],
) -> Callable[[PlannedAttempt[Any]], Awaitable[Opened[ChunkT]]]:
    """One attempt of the failover loop: open the stream and wait for its first chunk."""

    async def open_attempt(attempt: PlannedAttempt[Any]) -> Opened[ChunkT]:
        chunks = job.stream(attempt)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            raise UpstreamError(
                attempt.route.provider, "the stream ended before any audio", status=502
            ) from None
        except BaseException:
            await chunks.aclose()  # type: ignore[attr-defined]
            raise
        return Opened(first, chunks)

    return open_attempt


class Streamed(Generic[ChunkT]):
    """A streamed request that holds credit and has its first chunk; iterate `chunks()` once."""

    def __init__(
        self,
        gateway: "AudioGateway",
        prepared: "Prepared",
        job: StreamingJob[ChunkT],
        served: Success[Opened[ChunkT]],
        stack: AsyncExitStack,
    ) -> None:
        self._gateway = gateway
        self._prepared = prepared
        self._job = job
        self._served = served
        self._stack = stack
        self._held = prepared.amount
        self._delivered_chunks = 0
        self.usage: dict[str, Any] | None = None

    @property
    def content_type(self) -> str:
        return self._job.content_type

    async def chunks(self) -> AsyncGenerator[ChunkT, None]:
        meter = self._job.meter()
        opened = self._served.result
        ending: BaseException | None = None
        try:
            yield opened.first
            self._delivered(meter, opened.first)
            async with aclosing(opened.rest):  # type: ignore[type-var]
                async for chunk in opened.rest:
                    yield chunk
                    self._delivered(meter, chunk)
                    await self._keep_ahead(meter.delivered)
        except UpstreamError as exc:
            ending = UpstreamFailedError(
                f"The {exc.provider} provider failed after the answer began: {exc.message}"
            )
        except BaseException as exc:
            ending = exc
            raise
        finally:
            await self._close(meter.delivered, ending)
        if ending is not None:
            raise ending

    def _delivered(self, meter: StreamMeter[ChunkT], chunk: ChunkT) -> None:
        # Counted once the client has taken the chunk: the next one is asked for only then.
        meter.add(chunk)
        self._delivered_chunks += 1

    async def _keep_ahead(self, delivered: Metered) -> None:
        """Grow the hold before the delivered cost passes it; stop the stream when the
        workspace cannot pay for more."""
        spent = cost(self._prepared.row.pricing, delivered)
        if spent <= self._held:
            return
        step = MicroUSD(max(self._prepared.amount, spent - self._held))
        await self._gateway.grow_hold(self._prepared, step)  # InsufficientCreditError ends it
        self._held = MicroUSD(self._held + step)

    async def _close(self, delivered: Metered, ending: BaseException | None) -> None:
        try:
            if ending is not None and not self._delivered_chunks:
                await self._gateway.release(self._prepared, ending, self._served.log)
                return
            charged = await self._gateway.settle(
                self._prepared,
                delivered,
                self._served.attempt,
                self._served.log,
                interrupted_by=ending,
            )
            self.usage = usage_body(delivered, charged)
        finally:
            await self._stack.aclose()
