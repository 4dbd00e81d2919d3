"""What every realtime session runs beside its events: its length cap and the key's watch,
with its hold kept alive by the process's one keeper. Whichever ends first ends the session; a
session ended by the gateway gets an `error` event naming why, then a clean close. The
session's Charge is closed once, whatever happened."""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from voxgate.gateway.realtime.wire import ClientChannel, error_event, is_closed
from voxgate.gateway.realtime.work import SessionOver
from voxgate.gateway.session_charge import SessionCharge

# RFC 6455 close codes: a session that ran its length ends normally; one the provider dropped
# is a server error; any other end (credit, a revoked key) is the gateway's policy.
NORMAL_CLOSE, POLICY_VIOLATION, INTERNAL_ERROR = 1000, 1008, 1011


async def run_session(
    channel: ClientChannel,
    charge: SessionCharge,
    body: Coroutine[Any, Any, None],
    key_is_live: Callable[[], Awaitable[bool]],
    check_seconds: float,
    max_session_seconds: float,
) -> None:
    tasks = [
        asyncio.ensure_future(body),
        asyncio.ensure_future(_expire(max_session_seconds)),
        asyncio.ensure_future(_watch_key(key_is_live, check_seconds)),
    ]
    with charge.kept():
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            error = next((t.exception() for t in done if not t.cancelled() and t.exception()), None)
            if isinstance(error, SessionOver):
                await _end(channel, error)
            elif error is not None and not is_closed(error):
                raise error
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.shield(charge.close_session())


async def _expire(max_session_seconds: float) -> None:
    await asyncio.sleep(max_session_seconds)
    raise SessionOver(
        f"The session reached its {max_session_seconds:g} s limit.",
        code="session_expired",
        kind="invalid_request_error",
    )


async def _watch_key(key_is_live: Callable[[], Awaitable[bool]], every: float) -> None:
    while True:
        await asyncio.sleep(every)
        if not await key_is_live():
            raise SessionOver(
                "The API key of this session was revoked or has expired.",
                code="invalid_api_key",
                kind="invalid_request_error",
            )


async def _end(channel: ClientChannel, over: SessionOver) -> None:
    try:
        await channel.send(error_event(over.message, code=over.code, kind=over.kind))
        await channel.close(_close_code(over), over.code)
    except Exception as exc:  # the client may already be gone
        if not is_closed(exc) and not isinstance(exc, RuntimeError):
            raise


def _close_code(over: SessionOver) -> int:
    if over.code == "session_expired":
        return NORMAL_CLOSE
    return INTERNAL_ERROR if over.kind == "server_error" else POLICY_VIOLATION
