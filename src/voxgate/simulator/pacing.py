"""Paced answers: the first chunk after a set delay, then one chunk every N ms, so a test can
tell a client that forwards audio as it arrives from one that waits for the whole answer.

A request asks for it with the header `x-sim-pace: <first_chunk_ms>,<chunk_interval_ms>`, or a
queued fault `{"kind": "paced", "first_chunk_ms": …, "chunk_interval_ms": …}` paces the next
request made with that credential (the way to pace what a gateway sends upstream).
"""

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from starlette.requests import Request

PACE_HEADER = "x-sim-pace"


@dataclass(frozen=True, slots=True)
class Pace:
    first_chunk_ms: int
    chunk_interval_ms: int


def pace_from_header(value: str | None) -> Pace | None:
    """`"300,50"` → Pace(300, 50); anything else is no pace."""
    first, _, every = (value or "").partition(",")
    if not (first.strip().isdigit() and every.strip().isdigit()):
        return None
    return Pace(int(first), int(every))


def pace_of(request: Request) -> Pace | None:
    pace: Pace | None = getattr(request.state, "pace", None)
    return pace


async def paced(chunks: Iterable[bytes], pace: Pace | None) -> AsyncIterator[bytes]:
    """`chunks` as a stream; at `pace`'s rhythm when there is one."""
    for index, chunk in enumerate(chunks):
        if pace is not None:
            delay = pace.first_chunk_ms if index == 0 else pace.chunk_interval_ms
            await asyncio.sleep(delay / 1000)
        yield chunk
