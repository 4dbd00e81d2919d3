"""A realtime session relayed to its upstream, metered response by response.

Events pass both ways as they arrive (audio is never buffered). Each `response.done` is priced
from its usage; the session's hold grows a step at a time ahead of what it has spent, and when
credit runs out the client gets an `error` event and the socket closes. At the end the session
is settled once, with one usage record listing each response.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import websockets
from starlette.websockets import WebSocketDisconnect

from voxgate.billing.holds import HoldBook
from voxgate.billing.pricing import Metered, cost
from voxgate.billing.usage import Attempt, UsageRecord
from voxgate.catalog.schema import ModelRow, VoiceTable
from voxgate.errors import InsufficientCreditError
from voxgate.routing.planner import PlannedAttempt
from voxgate.store.keys import Principal
from voxgate.types import MicroUSD

INSUFFICIENT_CREDIT_CLOSE = 4402


class ClientSocket(Protocol):
    async def receive_text(self) -> str: ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass
class SessionMeter:
    """What the session has spent and holds, and a line per response."""

    row: ModelRow
    held: MicroUSD
    spent: int = 0
    total: Metered = field(default_factory=Metered)
    lines: list[Attempt] = field(default_factory=list)

    def add(self, usage: dict[str, Any], label: str, provider: str, response_id: str) -> None:
        details_in = usage.get("input_token_details") or {}
        details_out = usage.get("output_token_details") or {}
        metered = Metered(
            text_input_tokens=int(details_in.get("text_tokens", 0)),
            audio_input_tokens=int(details_in.get("audio_tokens", 0)),
            text_output_tokens=int(details_out.get("text_tokens", 0)),
            audio_output_tokens=int(details_out.get("audio_tokens", 0)),
            requests=0,
        )
        self.total = Metered(
            **{name: getattr(self.total, name) + getattr(metered, name) for name in _COUNTS}
        )
        self.spent = cost(self.row.pricing, self.total)
        self.lines.append(Attempt(label, provider, "response.done", 0, response_id))


_COUNTS = ("text_input_tokens", "audio_input_tokens", "text_output_tokens", "audio_output_tokens")


class RealtimeRelay:
    def __init__(
        self,
        holds: HoldBook,
        voices: VoiceTable,
        *,
        hold_step: MicroUSD,
        hold_ttl_seconds: int,
    ) -> None:
        self._holds = holds
        self._voices = voices
        self._step = hold_step
        self._ttl = hold_ttl_seconds

    async def run(
        self,
        client: ClientSocket,
        principal: Principal,
        request_id: str,
        row: ModelRow,
        attempt: PlannedAttempt[Any],
        session: dict[str, Any],
    ) -> None:
        hold_id = await self._holds.place(
            workspace_id=principal.workspace_id,
            key_id=principal.key_id,
            request_id=request_id,
            amount=self._step,
            ttl_seconds=self._ttl,
        )
        meter = SessionMeter(row, self._step)
        started = time.perf_counter()
        url, headers = attempt.provider.realtime_target(attempt.upstream)
        try:
            async with websockets.connect(url, additional_headers=headers) as upstream:
                if session:
                    await upstream.send(
                        self._event({"type": "session.update", "session": session}, attempt)
                    )
                await _first_done(
                    self._client_to_upstream(client, upstream, attempt),
                    self._upstream_to_client(upstream, client, meter, hold_id, attempt),
                )
        finally:
            await asyncio.shield(
                self._settle(principal, request_id, row, attempt, meter, hold_id, started)
            )

    async def _client_to_upstream(
        self, client: ClientSocket, upstream: Any, attempt: PlannedAttempt[Any]
    ) -> None:
        while True:
            message = await client.receive_text()
            await upstream.send(self._event(orjson.loads(message), attempt))

    async def _upstream_to_client(
        self,
        upstream: Any,
        client: ClientSocket,
        meter: SessionMeter,
        hold_id: str,
        attempt: PlannedAttempt[Any],
    ) -> None:
        async for message in upstream:
            event = orjson.loads(message)
            if event.get("type") == "response.done":
                response = event.get("response") or {}
                meter.add(
                    response.get("usage") or {},
                    attempt.label,
                    attempt.route.provider,
                    str(response.get("id", "")),
                )
                if not await self._keep_ahead(meter, hold_id):
                    await client.send_text(
                        message if isinstance(message, str) else message.decode()
                    )
                    await client.send_text(orjson.dumps(_out_of_credit(meter)).decode())
                    await client.close(INSUFFICIENT_CREDIT_CLOSE, "insufficient credit")
                    return
            await client.send_text(message if isinstance(message, str) else message.decode())

    async def _keep_ahead(self, meter: SessionMeter, hold_id: str) -> bool:
        """Grow the hold until it covers what was spent; False when credit has run out."""
        while meter.spent >= meter.held:
            try:
                await self._holds.extend(hold_id, self._step)
            except InsufficientCreditError:
                return False
            meter.held = MicroUSD(meter.held + self._step)
        return True

    def _event(self, event: dict[str, Any], attempt: PlannedAttempt[Any]) -> str:
        """The client's event with OpenAI voice names mapped to the serving provider's."""
        session = event.get("session")
        if event.get("type") == "session.update" and isinstance(session, dict):
            voice = session.get("voice") or ((session.get("audio") or {}).get("output") or {}).get(
                "voice"
            )
            if isinstance(voice, str):
                native = self._voices.native_voice(voice, attempt.route.provider)
                if "voice" in session:
                    session["voice"] = native
                else:
                    session["audio"]["output"]["voice"] = native
        return orjson.dumps(event).decode()

    async def _settle(
        self,
        principal: Principal,
        request_id: str,
        row: ModelRow,
        attempt: PlannedAttempt[Any],
        meter: SessionMeter,
        hold_id: str,
        started: float,
    ) -> None:
        total = meter.total
        usage = UsageRecord(
            request_id=request_id,
            workspace_id=principal.workspace_id,
            key_id=principal.key_id,
            model=row.id,
            task="realtime",
            status="succeeded",
            http_status=101,
            latency_ms=round((time.perf_counter() - started) * 1000),
            provider=attempt.route.provider,
            route=attempt.label,
            input_text_tokens=total.text_input_tokens,
            output_text_tokens=total.text_output_tokens,
            input_audio_tokens=total.audio_input_tokens,
            output_audio_tokens=total.audio_output_tokens,
            attempts=tuple(meter.lines),
        )
        await self._holds.settle(hold_id, MicroUSD(meter.spent), usage)


def _out_of_credit(meter: SessionMeter) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {
            "type": "insufficient_quota",
            "code": "insufficient_credit",
            "message": "The workspace has no credit left for this realtime session; it is closed. "
            f"Spent so far: {meter.spent} micro-USD.",
        },
    }


async def _first_done(*work: Any) -> None:
    """Run both directions; when either ends (a side closed), stop the other."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None and not is_closed(error):
            raise error


def is_closed(exc: BaseException) -> bool:
    return isinstance(exc, WebSocketDisconnect | websockets.ConnectionClosed)
