"""A client that leaves right after sending an event (gateway/realtime/failover.py `until_lost`):
when the upstream's direction notices first, the client's direction still carries the event it
was forwarding, within a bound."""

import asyncio

import pytest

from voxgate.gateway.realtime import failover
from voxgate.gateway.realtime.failover import until_lost
from voxgate.gateway.realtime.wire import ClientGone

# Time for until_lost to return if it did not wait: it needs a few loop iterations.
SETTLE_SECONDS = 0.2


async def client_gone() -> None:
    raise ClientGone


async def test_the_event_being_forwarded_when_the_client_left_still_goes_upstream() -> None:
    forwarded: list[str] = []
    held = asyncio.Event()

    async def forwarding_a_response_create() -> None:
        await held.wait()  # its hold, a database write, is under way
        forwarded.append("response.create")
        raise ClientGone  # then the client's direction finds the socket closed

    reader = asyncio.ensure_future(forwarding_a_response_create())
    ended = asyncio.ensure_future(until_lost(reader, client_gone()))
    await asyncio.wait({ended}, timeout=SETTLE_SECONDS)
    assert not ended.done()
    held.set()
    assert await ended is None
    assert forwarded == ["response.create"]


async def test_a_client_direction_that_does_not_end_is_waited_for_a_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failover, "CLIENT_LEFT_DRAIN_SECONDS", 0.01)
    reader = asyncio.ensure_future(asyncio.Event().wait())
    try:
        assert await until_lost(reader, client_gone()) is None
        assert not reader.done()  # the relay cancels it
    finally:
        reader.cancel()


async def test_an_upstream_that_closed_does_not_wait_for_the_client() -> None:
    async def upstream_closed() -> None:
        return None

    reader = asyncio.ensure_future(asyncio.Event().wait())
    try:
        assert await until_lost(reader, upstream_closed()) is None
        assert not reader.done()
    finally:
        reader.cancel()
