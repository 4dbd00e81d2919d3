"""Realtime transcription sessions (`?intent=transcription`, GA `session.type:
"transcription"`, beta `transcription_session.update`) on the gateway's path.

The gateway greets the client (`session.created`) itself; the session's first event (its
settings, as LiveKit and Pipecat send them) names the transcription model, and that model's
catalog row decides where it runs: relayed as-is to a realtime provider the row routes to
(OpenAI, Azure), else served here with Silero VAD and the row's transcription routes
(faster-whisper on the local engine). A session that names no model transcribes with
`DEFAULT_TRANSCRIPTION_MODEL`. Audio is charged at the row's per-minute price, each piece held
before it is heard.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.audio.vad import Vad, silero
from voxgate.billing.pricing import Metered, cost
from voxgate.catalog.schema import ModelRow
from voxgate.errors import InvalidRequestError, ServiceUnavailableError
from voxgate.gateway.realtime.dialect import as_object
from voxgate.gateway.realtime.responses import new_id
from voxgate.gateway.realtime.session_gateway import SessionGateway
from voxgate.gateway.realtime.transcribing import (
    BYTES_PER_SECOND,
    TranscriptionSession,
)
from voxgate.gateway.realtime.transcription_config import (
    DEFAULT_TRANSCRIPTION_MODEL,
    TranscriptionConfig,
    named_model,
)
from voxgate.gateway.realtime.transcription_relay import TranscriptionRelay
from voxgate.gateway.realtime.wire import ClientChannel, decoded_size
from voxgate.gateway.session_charge import SessionCharge
from voxgate.providers.protocols import TranscriptionRequest
from voxgate.routing.planner import PlannedAttempt

HEARING_RATE = 16_000
# The audio a session that named no model may send before its settings, kept until they come.
SETTINGS_WAIT_SECONDS = 30.0
UPDATES = frozenset({"session.update", "transcription_session.update"})


def transcription_row(gateway: SessionGateway, model: str | None) -> ModelRow:
    """The catalog row of a transcription model (by id or alias), or the default's; an
    InvalidRequestError naming `model` for one that is not a transcription model here."""
    wanted = model or DEFAULT_TRANSCRIPTION_MODEL
    row = gateway.catalog.get(wanted)
    if row is None or "transcription" not in row.tasks:
        raise InvalidRequestError(
            f"The transcription model '{wanted}' is not one this gateway serves.",
            param="model",
            code="invalid_value",
        )
    return row


@dataclass
class LocalHearing:
    """Each piece heard through the named row's transcription routes (failing over as every
    request does), its new audio held before and charged after at that row's price."""

    gateway: SessionGateway
    charge: SessionCharge

    async def hear(self, pcm: bytes, config: TranscriptionConfig, new_bytes: int) -> str:
        row = transcription_row(self.gateway, config.model)
        audio = resample(PcmAudio(pcm[: len(pcm) // 2 * 2], 24_000), HEARING_RATE)
        if not audio.samples:
            return ""
        request = TranscriptionRequest(audio=audio, language=config.language, prompt=config.prompt)
        planned = self.gateway.planner.plan(row, self.gateway.providers.transcription)

        async def transcribe(attempt: PlannedAttempt[Any]) -> str:
            result = await attempt.provider.transcribe(request, attempt.upstream)
            return str(result.text)

        metered = Metered(audio_milliseconds=new_bytes * 1000 // BYTES_PER_SECOND, requests=0)
        async with self._held(metered, row):
            heard = await self.gateway.attempts(row.id, planned, transcribe)
        return heard.result

    @asynccontextmanager
    async def _held(self, metered: Metered, row: ModelRow) -> AsyncIterator[None]:
        worst = cost(row.pricing, metered)
        await self.charge.reserve(worst)
        try:
            yield
        except asyncio.CancelledError:
            await asyncio.shield(
                self.charge.draw(metered, "transcription", row, reserved=worst, status="partial")
            )
            raise
        except BaseException:
            await asyncio.shield(self.charge.unreserve(worst))
            raise
        await self.charge.draw(metered, "transcription", row, reserved=worst)


async def serve_transcription(
    channel: ClientChannel,
    gateway: SessionGateway,
    charge: SessionCharge,
    session: dict[str, Any],
    url_model: str | None,
    *,
    max_buffer_seconds: float,
) -> None:
    """Greet, read the events that decide where the session runs, then relay or serve it
    until either side ends."""
    await asyncio.to_thread(silero)  # the detector's first load stays off the event loop
    config = TranscriptionConfig(
        id=new_id("sess"), model=url_model or named_model(session) or DEFAULT_TRANSCRIPTION_MODEL
    )
    if session:
        config = config.updated(session, beta=False)
    transcription_row(gateway, config.model)
    local = TranscriptionSession(
        channel,
        LocalHearing(gateway, charge),
        config,
        max_buffer_seconds=max_buffer_seconds,
        vad_factory=silero_vad,
        check_model=lambda model: _served_here(gateway, model),
    )
    await local.created()
    named = url_model or named_model(session)
    budget = min(max_buffer_seconds, SETTINGS_WAIT_SECONDS) * BYTES_PER_SECOND
    pending = await _until_settings(channel, int(budget), named)
    row = transcription_row(gateway, _first_model(gateway, pending[0], config.model))
    charge.identify(row, "realtime")  # its records and access line name the model that served it
    attempts = _realtime_attempts(gateway, row)
    if attempts is None:  # no realtime route: heard here
        charge.serving(*_local_label(gateway, row))
        await local.run(pending)
        return
    relay = TranscriptionRelay(channel, charge, gateway, row, attempts)
    await relay.run(local.config, pending)


async def _until_settings(
    channel: ClientChannel, budget: int, named: str | None
) -> list[dict[str, Any]]:
    """The events that decide where the session runs, settings first. A session whose URL or
    secret named no model waits for its settings (Pipecat sends audio before them), keeping
    up to `budget` bytes of audio; past it, or with a model named, the first event decides."""
    early: list[dict[str, Any]] = []
    held = 0
    while True:
        event = await channel.next_event()
        if event.get("type") in UPDATES:
            return [event, *early]
        early.append(event)
        held += decoded_size(event.get("audio"))
        if named or held >= budget:
            return early


def _first_model(gateway: SessionGateway, event: dict[str, Any], model: str) -> str:
    """The model that serves the session: the one its first settings name, when the catalog
    has it (an unknown one is refused by the session that reads the event), else `model`."""
    if event.get("type") not in UPDATES:
        return model
    named = named_model(as_object(event.get("session")))
    row = gateway.catalog.get(named or "")
    return named if named and row is not None and "transcription" in row.tasks else model


def _realtime_attempts(gateway: SessionGateway, row: ModelRow) -> list[PlannedAttempt[Any]] | None:
    """The row's realtime routes, or None when it has none configured."""
    try:
        return gateway.planner.plan(row, gateway.providers.realtime)
    except ServiceUnavailableError:
        return None


def _served_here(gateway: SessionGateway, model: str) -> ModelRow:
    """A model a session served here may switch to: one that is served here too (a model with
    a realtime route is relayed there, from a session of its own)."""
    row = transcription_row(gateway, model)
    if _realtime_attempts(gateway, row) is not None:
        raise InvalidRequestError(
            f"'{model}' is served by its realtime route: open a new session that names it in "
            "its first settings or on the URL.",
            param="model",
            code="invalid_value",
        )
    return row


def _local_label(gateway: SessionGateway, row: ModelRow) -> tuple[str, str]:
    first = gateway.planner.plan(row, gateway.providers.transcription)[0]
    return first.route.provider, first.label


def silero_vad(config: TranscriptionConfig) -> Vad | None:
    return Vad(config.turn_detection) if config.turn_detection else None
