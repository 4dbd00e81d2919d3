"""The client side of a realtime socket: malformed frames are answered, floods are slowed."""

import time
from collections.abc import Mapping
from typing import Any

import orjson

from voxgate.gateway.realtime.dialect import BETA, GA
from voxgate.gateway.realtime.wire import EVENT_BURST, EVENTS_PER_SECOND, ClientChannel


class Scripted:
    """A socket whose client has already sent every frame in `frames`."""

    def __init__(self, frames: list[Mapping[str, Any]]) -> None:
        self.frames = list(frames)
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> Mapping[str, Any]:
        return self.frames.pop(0)

    async def send_text(self, data: str) -> None:
        self.sent.append(orjson.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        pass


def text(event: object) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": orjson.dumps(event).decode()}


async def test_malformed_frames_get_errors_and_the_next_event_arrives() -> None:
    frames: list[Mapping[str, Any]] = [
        {"type": "websocket.receive", "bytes": b"\x00"},
        {"type": "websocket.receive", "text": "{oops"},
        text([1]),
        text({"no": "type"}),
        text({"type": "session.update"}),
    ]
    socket = Scripted(frames)
    event = await ClientChannel(socket, GA).next_event()
    assert event == {"type": "session.update"}
    codes = [sent["error"]["code"] for sent in socket.sent]
    assert codes == ["invalid_frame", "invalid_json", "invalid_event", "invalid_event"]
    assert all(sent["event_id"].startswith("event_") for sent in socket.sent)


async def test_a_flood_is_read_at_the_session_rate() -> None:
    extra = EVENTS_PER_SECOND // 2
    socket = Scripted([text({"type": "x"})] * (EVENT_BURST + extra))
    channel = ClientChannel(socket, GA)
    started = time.monotonic()
    for _ in range(EVENT_BURST + extra):
        await channel.next_event()
    # The burst passes at once; the rest at the sustained rate: at least half a second here.
    assert time.monotonic() - started >= 0.45


async def test_beta_clients_get_beta_names() -> None:
    socket = Scripted([])
    channel = ClientChannel(socket, BETA)
    delta = {"type": "response.output_audio.delta", "delta": ""}
    await channel.send(delta)
    await channel.send({"type": "conversation.item.done", "item": {}})
    assert [sent["type"] for sent in socket.sent] == ["response.audio.delta"]
