"""A WebRTC call as a session's client, in process: answer audio goes to the call's track and
never on the data channel, the track says when an answer starts, stops and is cleared, the
caller's audio formats are fixed, and offers that cannot make a call are refused by name."""

import base64
from typing import Any

import orjson
import pytest

from voxgate.errors import InvalidRequestError
from voxgate.gateway.realtime.dialect import GA
from voxgate.gateway.realtime.webrtc import (
    CallChannel,
    CallSocket,
    answer_offer,
    pcm_only,
    with_call_formats,
)
from voxgate.gateway.realtime.webrtc_media import FRAME_BYTES, SpeakerTrack


class EventsChannel:
    """The `oai-events` data channel, open, keeping what the gateway sends."""

    label = "oai-events"
    readyState = "open"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def on(self, name: str, handler: Any) -> None:
        pass

    def send(self, data: str) -> None:
        self.sent.append(orjson.loads(data))


def call_channel() -> tuple[CallChannel, CallSocket, EventsChannel, SpeakerTrack]:
    socket, events, speaker = CallSocket(), EventsChannel(), SpeakerTrack()
    socket.attach(events)  # type: ignore[arg-type]
    return CallChannel(socket, GA, speaker), socket, events, speaker


def delta(pcm: bytes) -> dict[str, Any]:
    return {
        "type": "response.output_audio.delta",
        "response_id": "resp_1",
        "delta": base64.b64encode(pcm).decode(),
    }


def announced(speaker: SpeakerTrack) -> list[str]:
    kinds = []
    while not speaker.playback.empty():
        kinds.append(speaker.playback.get_nowait()[0])
    return kinds


async def test_answer_audio_is_played_on_the_track_and_heard_to_its_end() -> None:
    channel, _, events, speaker = call_channel()
    await channel.send(delta(b"\x01\x00" * (FRAME_BYTES // 2)))
    await channel.send_raw(orjson.dumps(delta(b"\x02\x00" * 10)).decode(), delta(b"\x02\x00" * 10))
    assert events.sent == []
    assert channel.stats.audio_out_bytes == FRAME_BYTES + 20
    first = await speaker.recv()
    # A pause before the response's audio is complete is not its end.
    await speaker.recv()
    assert announced(speaker) == ["output_audio_buffer.started"]
    assert first.to_ndarray().tobytes() == b"\x01\x00" * (FRAME_BYTES // 2)
    # A relayed event the relay did not parse still ends the response's audio.
    await channel.send_raw('{"type":"response.done","response":{}}')
    await speaker.recv()
    assert announced(speaker) == ["output_audio_buffer.stopped"]
    assert [event["type"] for event in events.sent] == ["response.done"]


async def test_the_caller_speaking_over_an_answer_clears_it() -> None:
    channel, _, events, speaker = call_channel()
    await channel.send(delta(b"\x01\x00" * FRAME_BYTES))
    await channel.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0})
    assert [event["type"] for event in events.sent] == ["input_audio_buffer.speech_started"]
    silence = await speaker.recv()
    assert not any(silence.to_ndarray().tobytes())
    assert announced(speaker) == ["output_audio_buffer.started", "output_audio_buffer.cleared"]


async def test_a_format_change_is_refused_and_a_clear_is_served_here() -> None:
    channel, socket, events, _ = call_channel()
    for event in (
        {
            "type": "session.update",
            "session": {"audio": {"output": {"format": {"type": "audio/pcmu"}}}},
        },
        {"type": "output_audio_buffer.clear"},
        {"type": "session.update", "session": {"instructions": "Be brief."}},
    ):
        socket.inbox.put_nowait({"type": "websocket.receive", "text": orjson.dumps(event).decode()})
    event = await channel.next_event()
    assert event["session"] == {"instructions": "Be brief."}
    [refusal] = events.sent
    assert refusal["error"]["param"] == "session.audio.output.format"


def test_a_call_session_is_pcm_at_24_khz() -> None:
    assert pcm_only({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}}) is None
    assert pcm_only({"input_audio_format": "g711_ulaw"}, "session.") == "session.input_audio_format"
    shaped = with_call_formats({"model": "local-realtime", "audio": {"output": {"voice": "ash"}}})
    assert shaped["type"] == "realtime"
    assert shaped["audio"]["output"] == {
        "voice": "ash",
        "format": {"type": "audio/pcm", "rate": 24000},
    }
    assert pcm_only(shaped) is None


@pytest.mark.parametrize(
    "offer",
    [
        "v=0\r\n",  # no data channel
        "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",  # no ICE, no DTLS
        "m=application" + "x" * 70_000,
    ],
)
async def test_an_offer_that_cannot_make_a_call_is_refused_naming_sdp(offer: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        await answer_offer(offer)
    assert refused.value.param == "sdp"
