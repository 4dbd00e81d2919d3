"""The floor any Python gateway stands on: a bare forwarder measured beside voxgate.

The same server (uvicorn with uvloop and httptools), framework (Starlette) and upstream client
(aiohttp) as voxgate, and the same answer shape as POST /api/v1/audio, with nothing else: no
key, no validation, no hold, no usage record. What it adds over calling the simulator directly
is what this machine charges for one Python hop; voxgate's own work is what it adds on top.

With VOXGATE_BENCH_DATABASE (a SQLite file) it also bills durably, as voxgate's request path
does and nothing more: voxgate's own `Holds` places a hold before the upstream call and settles
it with a usage record after, two transactions a request, and the write-ahead log is
checkpointed once a second off the event loop. That is the floor of a gateway that bills.

Run by bench.overhead and bench.cpu_budget as `uvicorn bench.forwarder:app` with
VOXGATE_BENCH_UPSTREAM set.
"""

import asyncio
import base64
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.billing.accounts import KEY_ID, funded

from voxgate.billing.holds import Holds
from voxgate.billing.usage import UsageRecord
from voxgate.store.database import Database
from voxgate.types import MicroUSD

UPSTREAM = os.environ.get("VOXGATE_BENCH_UPSTREAM", "")
DATABASE = os.environ.get("VOXGATE_BENCH_DATABASE", "")
# What each request holds and is charged: any amounts the opening credit covers many times.
HOLD, COST = MicroUSD(10_000), MicroUSD(1_000)
CHECKPOINT_SECONDS = 1.0


@dataclass(frozen=True)
class Billing:
    holds: Holds
    workspace_id: str
    key_id: str

    async def hold(self, request_id: str) -> str:
        return await self.holds.place(
            workspace_id=self.workspace_id,
            key_id=self.key_id,
            request_id=request_id,
            amount=HOLD,
            ttl_seconds=60,
        )

    async def settle(self, hold_id: str, request_id: str) -> None:
        usage = UsageRecord(
            request_id=request_id,
            workspace_id=self.workspace_id,
            key_id=self.key_id,
            model="gpt-4o-mini-tts",
            task="tts",
            status="succeeded",
            http_status=200,
            latency_ms=1,
        )
        await self.holds.settle(hold_id, COST, usage)


async def audio(request: Request) -> Response:
    body = orjson.loads(await request.body())
    billing: Billing | None = request.app.state.billing
    request_id = f"req_{secrets.token_hex(12)}"
    hold_id = await billing.hold(request_id) if billing is not None else ""
    upstream = {**body, "response_format": "pcm"}
    session: aiohttp.ClientSession = request.app.state.session
    headers = {"Authorization": "Bearer bench"}
    async with session.post(f"{UPSTREAM}/audio/speech", json=upstream, headers=headers) as answer:
        pcm = await answer.read()
    if billing is not None:
        await billing.settle(hold_id, request_id)
    data = {"content_type": "audio/pcm", "audio_base64": base64.b64encode(pcm).decode()}
    return Response(orjson.dumps({"object": "audio.speech", "data": data}), 200)


async def _billing(database: Database) -> Billing:
    await database.migrate()
    await database.warm_up()
    return Billing(Holds(database), await funded(database, 10**12), KEY_ID)


async def _checkpoint_forever(database: Database) -> None:
    while True:
        await asyncio.sleep(CHECKPOINT_SECONDS)
        await database.checkpoint()


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.billing = None
    async with aiohttp.ClientSession() as session:
        app.state.session = session
        if not DATABASE:
            yield
            return
        database = Database(f"sqlite+aiosqlite:///{Path(DATABASE).as_posix()}")
        app.state.billing = await _billing(database)
        checkpoints = asyncio.create_task(_checkpoint_forever(database))
        try:
            yield
        finally:
            checkpoints.cancel()
            await database.dispose()


async def ready(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(
    routes=[Route("/api/v1/audio", audio, methods=["POST"]), Route("/readyz", ready)],
    lifespan=lifespan,
)
