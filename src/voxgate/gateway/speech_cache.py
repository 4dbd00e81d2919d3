"""The speech cache: a workspace that opted in hears a speech answer it was given before from
disk, without a provider call, at the operator's cache price.

An answer is keyed on the workspace and on everything that shapes its audio: the model's
catalog id, the voice, the text, the instructions, the format, the speed and every other field
of the request. So one workspace never hears another's audio, and a request that differs in
anything is a miss. A provider's answer is kept only once the client took all of it.
"""

import asyncio
import base64
import hashlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import AsyncExitStack, aclosing
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import orjson

from voxgate.billing.pricing import Metered, round_half_up
from voxgate.gateway.charge import Charge
from voxgate.gateway.jobs import Job, Outcome, usage_body
from voxgate.gateway.speech import SpeechChunk, SpeechJob
from voxgate.gateway.streaming import Opened
from voxgate.routing.failover import Success
from voxgate.settings import Settings
from voxgate.store.keys import Principal
from voxgate.store.speech_files import CachedAudio, SpeechFiles
from voxgate.types import MicroUSD

logger = logging.getLogger("voxgate.speech_cache")

# Changed when what the key covers changes, so that older answers are no longer found.
KEY_VERSION = 1
# A cached answer is streamed in pieces this large.
CHUNK_BYTES = 32 * 1024
CHARACTERS_PER_PRICE_UNIT = 1_000_000
# A cached answer this small is read on the event loop (tens of microseconds from the page
# cache); a larger one in a thread, so that it does not stall other requests.
READ_ON_LOOP_BYTES = 256 * 1024


class SpeechAnswer(Protocol):
    """A speech answer being streamed, from a provider (`Streamed`) or from the cache."""

    usage: dict[str, Any] | None

    @property
    def content_type(self) -> str: ...

    def chunks(self) -> AsyncGenerator[SpeechChunk, None]: ...


def cache_key(workspace_id: str, job: SpeechJob) -> str:
    """The key of a speech request in a workspace: a hash of the workspace, the model's catalog
    id and every field of the request, defaults resolved (so an alias or an omitted default
    finds the same answer)."""
    request = job.request
    material = asdict(request) | {
        "key_version": KEY_VERSION,
        "workspace_id": workspace_id,
        "task": "tts",
        "model": job.row.id,
        "voice": job.voice,
        "response_format": job.response_format,
        "speed": request.speed or 1.0,
    }
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedSpeech:
    """A hit: the request and the answer the cache holds for it, with its price."""

    job: SpeechJob
    cached: CachedAudio
    price: MicroUSD

    @property
    def metered(self) -> Metered:
        return Metered(
            input_characters=len(self.job.request.input),
            audio_milliseconds=self.cached.audio_milliseconds,
        )

    def outcome(self) -> Outcome:
        """The answer of a unary request (POST /api/v1/audio)."""
        data = {
            "content_type": self.job.content_type,
            "audio_base64": base64.b64encode(self.cached.audio).decode("ascii"),
        }
        return Outcome(data, self.metered)

    def chunks(self) -> Iterator[SpeechChunk]:
        audio = self.cached.audio
        seconds = self.cached.audio_milliseconds / 1000
        for start in range(0, len(audio), CHUNK_BYTES):
            piece = audio[start : start + CHUNK_BYTES]
            yield SpeechChunk(piece, seconds * len(piece) / len(audio))


class CachedStream:
    """A hit sent as a stream: the cached bytes in pieces, settled at the cache price once
    the client took them (or hung up after the first), released if it took none."""

    def __init__(self, charge: Charge, hit: CachedSpeech, stack: AsyncExitStack) -> None:
        self._charge = charge
        self._hit = hit
        self._stack = stack
        self.usage: dict[str, Any] | None = None

    @property
    def content_type(self) -> str:
        return self._hit.job.content_type

    async def chunks(self) -> AsyncGenerator[SpeechChunk, None]:
        ending: BaseException | None = None
        delivered = False
        try:
            for chunk in self._hit.chunks():
                yield chunk
                delivered = True
        except BaseException as exc:
            ending = exc
            raise
        finally:
            await self._close(ending, delivered)

    async def _close(self, ending: BaseException | None, delivered: bool) -> None:
        try:
            if ending is not None and not delivered:
                await self._charge.release(ending)
                return
            hit = self._hit
            charged = await self._charge.settle_cached(
                hit.metered, hit.price, interrupted_by=ending
            )
            self.usage = usage_body(hit.metered, charged)
        finally:
            await self._stack.aclose()


class SpeechCache:
    """The gateway's speech cache, over the files every process of the host shares."""

    def __init__(self, settings: Settings) -> None:
        self._files = SpeechFiles(
            settings.resolved_speech_cache_dir, settings.speech_cache_max_bytes
        )
        self._price_per_million = settings.speech_cache_price_per_million_characters

    def key(self, principal: Principal, job: Job) -> str | None:
        """The request's key, when it is speech and its workspace opted in (and the operator
        gave the cache room)."""
        if not (principal.speech_cache and self._files.max_bytes and isinstance(job, SpeechJob)):
            return None
        return cache_key(principal.workspace_id, job)

    async def find(self, principal: Principal, job: Job) -> CachedSpeech | None:
        key = self.key(principal, job)
        if key is None:
            return None
        assert isinstance(job, SpeechJob)
        size = self._files.size(key)  # a miss costs one stat
        if size is None:
            return None
        # A thread costs about a millisecond on a busy host; a small file is read in far less.
        if size <= READ_ON_LOOP_BYTES:
            cached = self._files.get(key)
        else:
            cached = await asyncio.to_thread(self._files.get, key)
        return None if cached is None else CachedSpeech(job, cached, self.price(job))

    def price(self, job: SpeechJob) -> MicroUSD:
        """What a cached answer costs: its text's characters at the cache price."""
        characters = len(job.request.input)
        return round_half_up(characters * self._price_per_million, CHARACTERS_PER_PRICE_UNIT)

    async def keep(self, principal: Principal, job: Job, outcome: Outcome) -> None:
        """Keep a unary speech answer the provider gave whole (one cut at its cap is not)."""
        key = self.key(principal, job)
        if key is None or outcome.overrun is not None:
            return
        audio = base64.b64decode(outcome.data["audio_base64"])
        await self._put(key, CachedAudio(audio, outcome.metered.audio_milliseconds))

    def teed(
        self, principal: Principal, job: Job, served: Success[Opened[Any]]
    ) -> Success[Opened[Any]]:
        """A streamed speech answer that is kept once the client has taken its last chunk."""
        key = self.key(principal, job)
        if key is None:
            return served
        opened = served.result
        rest = self._kept_when_whole(key, opened.first, opened.rest)
        return replace(served, result=Opened(opened.first, rest))

    async def _kept_when_whole(
        self, key: str, first: SpeechChunk, rest: AsyncIterator[SpeechChunk]
    ) -> AsyncIterator[SpeechChunk]:
        # The stream asks for the next chunk only once the client took the one before, so
        # getting past the last one means the client has the whole answer.
        pieces, seconds = [first.data], first.seconds
        async with aclosing(rest):  # type: ignore[type-var]
            async for chunk in rest:
                yield chunk
                pieces.append(chunk.data)
                seconds += chunk.seconds
        await self._put(key, CachedAudio(b"".join(pieces), round(seconds * 1000)))

    async def _put(self, key: str, cached: CachedAudio) -> None:
        # A cache that cannot write (a full disk) must not fail the answer it would keep.
        try:
            await asyncio.to_thread(self._files.put, key, cached)
        except OSError as exc:
            logger.warning("speech cache: could not keep an answer: %s", exc)
