"""A streamed answer's delivery, after the one failover loop has found its first chunk.

Chunks are metered as they are handed to the client. A chunk is handed over only once the
request's hold covers everything delivered with it: the hold grows ahead of delivery, and a
stream the workspace cannot pay further for ends there, so no cost ever runs past the hold.
The stream settles once, for what was delivered: at its end, when the client hangs up, or when
the upstream fails after the first chunk (no failover then: the client has part of the answer).
A stream the client left before any chunk reached it is released.
"""

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from voxgate.billing.pricing import Metered
from voxgate.errors import UpstreamFailedError
from voxgate.gateway.charge import Charge
from voxgate.gateway.jobs import Delivery, Job, usage_body
from voxgate.providers.errors import UpstreamError
from voxgate.routing.failover import Success
from voxgate.routing.planner import PlannedAttempt
from voxgate.types import MicroUSD

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
    stream: Callable[[PlannedAttempt[Any]], AsyncIterator[ChunkT]],
) -> Callable[[PlannedAttempt[Any]], Awaitable[Opened[ChunkT]]]:
    """One attempt of the failover loop: open the stream and wait for its first chunk (so a
    stream fails over only before its first chunk)."""

    async def open_attempt(attempt: PlannedAttempt[Any]) -> Opened[ChunkT]:
        chunks = stream(attempt)
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
        charge: Charge,
        job: StreamingJob[ChunkT],
        served: Success[Opened[ChunkT]],
        stack: AsyncExitStack,
    ) -> None:
        self._charge = charge
        self._job = job
        self._served = served
        self._stack = stack
        self._first_hold = charge.held
        self._delivered_chunks = 0
        self.usage: dict[str, Any] | None = None

    @property
    def content_type(self) -> str:
        return self._job.content_type

    async def chunks(self) -> AsyncGenerator[ChunkT, None]:
        meter = self._job.meter()
        opened = self._served.result
        delivered = meter.delivered
        ending: BaseException | None = None
        try:
            async with aclosing(opened.rest):  # type: ignore[type-var]
                chunk = opened.first
                while True:
                    meter.add(chunk)
                    await self._cover(meter.delivered)
                    yield chunk
                    # Counted once the client has taken it: the next one is asked for only then.
                    delivered = meter.delivered
                    self._delivered_chunks += 1
                    try:
                        chunk = await anext(opened.rest)
                    except StopAsyncIteration:
                        break
        except UpstreamError as exc:
            ending = UpstreamFailedError(
                f"The {exc.provider} provider failed after the answer began: {exc.message}"
            )
        except BaseException as exc:
            ending = exc
            raise
        finally:
            await self._close(delivered, ending)
        if ending is not None:
            raise ending

    async def _cover(self, with_next: Metered) -> None:
        """Grow the hold, before a chunk is handed over, to cover all delivered with it; the
        stream ends (InsufficientCreditError) where the workspace cannot pay for more."""
        needed = self._charge.cost(with_next)
        held = self._charge.held
        if needed <= held:
            return
        # In steps of the first hold, so that a long stream grows its hold a few times, not at
        # every chunk; at the end of the credit, just what this chunk needs.
        await self._charge.hold_ahead(MicroUSD(max(held + self._first_hold, needed)), needed)

    async def _close(self, delivered: Metered, ending: BaseException | None) -> None:
        try:
            if ending is not None and not self._delivered_chunks:
                await self._charge.release(ending, self._served.log)
                return
            charged = await self._charge.settle(
                Delivery(delivered, self._served.attempt, self._served.log),
                interrupted_by=ending,
            )
            self.usage = usage_body(delivered, charged)
        finally:
            await self._stack.aclose()
