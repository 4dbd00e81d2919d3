"""The floor any Python gateway stands on: a bare forwarder measured beside voxgate.

The same server (uvicorn with uvloop and httptools), framework (Starlette) and upstream client
(aiohttp) as voxgate, and the same answer shape as POST /api/v1/audio, with nothing else: no
key, no validation, no hold, no usage record. What it adds over calling the simulator directly
is what this machine charges for one Python hop; voxgate's own work is what it adds on top.

Run by bench.overhead as `uvicorn bench.forwarder:app` with VOXGATE_BENCH_UPSTREAM set.
"""

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

UPSTREAM = os.environ.get("VOXGATE_BENCH_UPSTREAM", "")


async def audio(request: Request) -> Response:
    body = orjson.loads(await request.body())
    upstream = {**body, "response_format": "pcm"}
    session: aiohttp.ClientSession = request.app.state.session
    headers = {"Authorization": "Bearer bench"}
    async with session.post(f"{UPSTREAM}/audio/speech", json=upstream, headers=headers) as answer:
        pcm = await answer.read()
    data = {"content_type": "audio/pcm", "audio_base64": base64.b64encode(pcm).decode()}
    return Response(orjson.dumps({"object": "audio.speech", "data": data}), 200)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app.state.session = session
        yield


async def ready(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(
    routes=[Route("/api/v1/audio", audio, methods=["POST"]), Route("/readyz", ready)],
    lifespan=lifespan,
)
