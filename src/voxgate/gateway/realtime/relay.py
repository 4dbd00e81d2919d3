"""A realtime session relayed to its upstream, charged response by response.

Events pass both ways as they arrive (audio is never buffered) and as the provider wrote them;
the gateway only maps voice names and guards what the client sends. Each `response.done` is
charged from its usage as it passes; the bill then holds the next step ahead.
"""

import asyncio
from typing import Any

import orjson
import websockets

from voxgate.billing.pricing import Metered
from voxgate.catalog.schema import VoiceTable
from voxgate.gateway.realtime.bill import SessionBill
from voxgate.gateway.realtime.dialect import BETA_HEADER, BETA_VALUE, beta_session
from voxgate.gateway.realtime.wire import ClientChannel, is_closed
from voxgate.routing.planner import PlannedAttempt


class RealtimeRelay:
    def __init__(
        self,
        channel: ClientChannel,
        bill: SessionBill,
        voices: VoiceTable,
        attempt: PlannedAttempt[Any],
    ) -> None:
        self._channel = channel
        self._bill = bill
        self._voices = voices
        self._attempt = attempt

    async def run(self, session: dict[str, Any]) -> None:
        url, headers = self._attempt.provider.realtime_target(self._attempt.upstream)
        if self._channel.dialect.beta:
            headers = headers | {BETA_HEADER: BETA_VALUE}
        async with websockets.connect(url, additional_headers=headers) as upstream:
            if session:
                shaped = beta_session(session) if self._channel.dialect.beta else session
                await upstream.send(self._mapped({"type": "session.update", "session": shaped}))
            await _first_done(
                self._client_to_upstream(upstream), self._upstream_to_client(upstream)
            )

    async def _client_to_upstream(self, upstream: Any) -> None:
        while True:
            await upstream.send(self._mapped(await self._channel.next_event()))

    async def _upstream_to_client(self, upstream: Any) -> None:
        async for message in upstream:
            text = message if isinstance(message, str) else message.decode()
            if '"response.done"' in text:
                event = orjson.loads(text)
                if event.get("type") == "response.done":
                    await self._charge(event.get("response") or {}, text)
                    continue
            await self._channel.send_raw(text)

    async def _charge(self, response: dict[str, Any], text: str) -> None:
        usage = response.get("usage") or {}
        details_in = usage.get("input_token_details") or {}
        details_out = usage.get("output_token_details") or {}
        metered = Metered(
            text_input_tokens=int(details_in.get("text_tokens", 0)),
            audio_input_tokens=int(details_in.get("audio_tokens", 0)),
            text_output_tokens=int(details_out.get("text_tokens", 0)),
            audio_output_tokens=int(details_out.get("audio_tokens", 0)),
            requests=0,
        )
        try:
            await self._bill.charge(metered, "response.done")
        finally:
            await self._channel.send_raw(text)

    def _mapped(self, event: dict[str, Any]) -> str:
        """The client's event with OpenAI voice names mapped to the serving provider's."""
        session = event.get("session")
        if event.get("type") == "session.update" and isinstance(session, dict):
            output = (session.get("audio") or {}).get("output")
            holder = output if isinstance(output, dict) and "voice" in output else session
            voice = holder.get("voice")
            if isinstance(voice, str):
                holder["voice"] = self._voices.native_voice(voice, self._attempt.route.provider)
        return orjson.dumps(event).decode()


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
