"""The OpenAI realtime ⇄ Gemini Live translation, in process: the setup a session's settings
make, and the events each side's messages become (the socket work is judged end to end in
tests/e2e/test_realtime_gemini.py)."""

import asyncio
import base64
import json
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from voxgate.audio.vad import WINDOW, SpeechEdge
from voxgate.providers.gemini.live import GeminiLiveSocket, live_url
from voxgate.providers.gemini.live_events import LiveTranslation
from voxgate.providers.gemini.live_setup import LiveSettings, SpeechDetection
from voxgate.providers.gemini.live_usage import openai_usage
from voxgate.providers.protocols import as_is

MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"
TENTH_OF_A_SECOND_24K = bytes(4_800)
# A tenth of a second the stand-in detector hears as speech (any sample not silent).
SPOKEN_TENTH = b"\x00\x10" * 2_400
ACTIVITY_START: dict[str, Any] = {"realtimeInput": {"activityStart": {}}}
ACTIVITY_END: dict[str, Any] = {"realtimeInput": {"activityEnd": {}}}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def kinds(translation: LiveTranslation) -> list[str]:
    out = [str(event["type"]) for event in translation.out]
    translation.out.clear()
    return out


def audio(pcm: bytes) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}


def spoken(pcm: bytes) -> dict[str, Any]:
    blob = {"mimeType": "audio/pcm;rate=24000", "data": base64.b64encode(pcm).decode()}
    return {"serverContent": {"modelTurn": {"parts": [{"inlineData": blob}]}}}


USAGE = {
    "promptTokenCount": 42,
    "responseTokenCount": 25,
    "promptTokensDetails": [
        {"modality": "TEXT", "tokenCount": 10},
        {"modality": "AUDIO", "tokenCount": 32},
    ],
    "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 25}],
}


@pytest.mark.parametrize(
    "session",
    [
        {
            "type": "realtime",
            "instructions": "Be brief.",
            "tools": [WEATHER],
            "audio": {"input": {"turn_detection": None}, "output": {"voice": "Kore"}},
        },
        {"instructions": "Be brief.", "tools": [WEATHER], "turn_detection": None, "voice": "Kore"},
    ],
    ids=["ga", "beta"],
)
def test_a_sessions_settings_become_the_gemini_setup(session: dict[str, Any]) -> None:
    setup = LiveSettings().updated(session).setup(MODEL, "handle-1")["setup"]
    assert setup["model"] == f"models/{MODEL}"
    assert setup["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    voice = setup["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]
    assert voice == {"voiceName": "Kore"}
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    [declaration] = setup["tools"][0]["functionDeclarations"]
    assert declaration == {k: v for k, v in WEATHER.items() if k != "type"}
    assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}
    assert setup["sessionResumption"] == {"handle": "handle-1"}
    assert setup["inputAudioTranscription"] == setup["outputAudioTranscription"] == {}


def test_server_vad_is_the_gateways_own_detector_and_text_output() -> None:
    detection = {"type": "server_vad", "silence_duration_ms": 700, "prefix_padding_ms": 200}
    settings = LiveSettings().updated(
        {"output_modalities": ["text"], "audio": {"input": {"turn_detection": detection}}}
    )
    setup = settings.setup(MODEL, None)["setup"]
    assert setup["generationConfig"] == {"responseModalities": ["TEXT"]}
    assert "outputAudioTranscription" not in setup
    # Gemini never ends a turn by itself: the gateway's detector does, tuned as asked.
    assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}
    assert settings.detection == SpeechDetection(0.5, 700, 200)
    assert setup["sessionResumption"] == {}
    view = settings.view("sess_1", MODEL, beta=False)
    assert view["output_modalities"] == ["text"]
    assert view["audio"]["input"]["turn_detection"] == detection
    eager = settings.updated({"turn_detection": {"type": "semantic_vad", "eagerness": "high"}})
    assert eager.detection == SpeechDetection(silence_duration_ms=350)
    odd = settings.updated({"turn_detection": {"threshold": "x", "silence_duration_ms": -1}})
    assert odd.detection == SpeechDetection()
    assert settings.updated({"turn_detection": None}).detection is None


@pytest.mark.parametrize(
    ("interrupt_response", "handling"),
    [(None, None), (True, None), (False, "NO_INTERRUPTION")],
)
def test_interrupt_response_false_lets_detected_speech_leave_the_answer_alone(
    interrupt_response: bool | None, handling: str | None
) -> None:
    detection: dict[str, Any] = {"type": "server_vad"}
    if interrupt_response is not None:
        detection["interrupt_response"] = interrupt_response
    settings = LiveSettings().updated({"audio": {"input": {"turn_detection": detection}}})
    config = settings.setup(MODEL, None)["setup"]["realtimeInputConfig"]
    assert config.get("activityHandling") == handling
    assert config["automaticActivityDetection"] == {"disabled": True}
    # Only `false` changes the setup, and a session.update that changes it resumes with it.
    changed = settings.setup(MODEL, None) != LiveSettings().setup(MODEL, None)
    assert changed == (handling is not None)


def test_a_manual_turn_is_asked_for_and_answered() -> None:
    translation = LiveTranslation(manual=True)
    # Audio waits for its commit: Gemini would take it as the user speaking over an answer.
    assert translation.client_event(audio(TENTH_OF_A_SECOND_24K)) == []
    assert translation.client_event(audio(TENTH_OF_A_SECOND_24K)) == []
    first, second = translation.client_event({"type": "input_audio_buffer.commit"})
    assert first == {"realtimeInput": {"activityStart": {}}}
    sent = base64.b64decode(second["realtimeInput"]["audio"]["data"])
    assert second["realtimeInput"]["audio"]["mimeType"] == "audio/pcm;rate=16000"
    assert abs(len(sent) - len(TENTH_OF_A_SECOND_24K) * 4 // 3) <= 64  # 24 kHz to 16 kHz
    committed = kinds(translation)
    assert committed == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    asked = translation.client_event({"type": "response.create"})
    assert asked == [{"realtimeInput": {"activityEnd": {}}}]
    assert kinds(translation) == ["response.created"]

    translation.server_message({"serverContent": {"inputTranscription": {"text": "Hi there"}}})
    translation.server_message(spoken(bytes(9_600)))
    translation.server_message({"serverContent": {"outputTranscription": {"text": "Hello!"}}})
    translation.server_message({"serverContent": {"turnComplete": True}, "usageMetadata": USAGE})
    events = list(translation.out)
    assert [e["type"] for e in events] == [
        "conversation.item.input_audio_transcription.delta",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "conversation.item.input_audio_transcription.completed",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    by_type = {e["type"]: e for e in events}
    assert by_type["conversation.item.input_audio_transcription.completed"]["transcript"] == (
        "Hi there"
    )
    assert len(base64.b64decode(by_type["response.output_audio.delta"]["delta"])) == 9_600
    response = by_type["response.done"]["response"]
    assert response["status"] == "completed"
    assert response["output"][0]["content"] == [{"type": "output_audio", "transcript": "Hello!"}]
    assert response["usage"]["input_token_details"] == {
        "text_tokens": 10,
        "audio_tokens": 32,
        "cached_tokens": 0,
    }
    assert response["usage"]["output_token_details"] == {"text_tokens": 0, "audio_tokens": 25}


def spoken_and_said(pcm: bytes, text: str) -> dict[str, Any]:
    content = spoken(pcm)["serverContent"] | {"outputTranscription": {"text": text}}
    return {"serverContent": content}


def test_an_answer_past_its_cap_is_cut_at_the_token_boundary_and_gemini_stopped() -> None:
    translation = LiveTranslation(manual=True)
    translation.client_event(audio(TENTH_OF_A_SECOND_24K))
    translation.client_event({"type": "input_audio_buffer.commit"})
    translation.client_event({"type": "response.create", "response": {"max_output_tokens": 10}})
    translation.out.clear()

    # 10 tokens at Gemini's 32 a second are 15,000 bytes of 24 kHz PCM16: the first 200 ms
    # chunk (9,600 bytes) passes whole, the second up to the boundary, the third not at all.
    for words in ("Once upon", " a time", " there was"):
        translation.server_message(spoken_and_said(bytes(9_600), words))
    assert translation.upstream == [{"clientContent": {"turnComplete": False}}]
    deltas = [e for e in translation.out if e["type"] == "response.output_audio.delta"]
    assert [len(base64.b64decode(e["delta"])) for e in deltas] == [9_600, 5_400]
    assert not [e for e in translation.out if e["type"] == "response.done"]

    # Gemini stops and reports what it made, more than was forwarded.
    made = USAGE | {"responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 30}]}
    translation.server_message({"serverContent": {"interrupted": True}, "usageMetadata": made})
    [done] = [e for e in translation.out if e["type"] == "response.done"]
    response = done["response"]
    assert response["status"] == "incomplete"
    assert response["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"
    assert response["output"][0]["content"] == [
        {"type": "output_audio", "transcript": "Once upon a time"}
    ]
    assert response["usage"]["output_token_details"] == {"text_tokens": 0, "audio_tokens": 10}
    assert response["usage"]["output_tokens"] == 10
    assert response["usage"]["input_tokens"] == 42
    assert done["voxgate_provider_usage"]["output_token_details"]["audio_tokens"] == 30


def test_an_answer_within_its_cap_is_not_cut() -> None:
    translation = LiveTranslation(manual=True)
    translation.client_event(audio(TENTH_OF_A_SECOND_24K))
    translation.client_event({"type": "input_audio_buffer.commit"})
    translation.client_event({"type": "response.create", "response": {"max_output_tokens": 10}})
    translation.server_message(spoken(bytes(9_600)))
    translation.server_message({"serverContent": {"turnComplete": True}, "usageMetadata": USAGE})
    [done] = [e for e in translation.out if e["type"] == "response.done"]
    assert done["response"]["status"] == "completed"
    assert "voxgate_provider_usage" not in done
    assert translation.upstream == []


def sent_audio(messages: list[dict[str, Any]]) -> int:
    """How many bytes of 16 kHz audio the messages carry."""
    return sum(
        len(base64.b64decode(m["realtimeInput"]["audio"]["data"]))
        for m in messages
        if "audio" in m.get("realtimeInput", {})
    )


def test_a_turn_the_detector_ends_is_answered_only_once_asked_for_and_capped() -> None:
    translation = LiveTranslation()
    # Silence before the speech stays here: Gemini hears nothing outside the user's turn.
    assert translation.client_event(audio(bytes(48_000))) == []
    start, lead_in = translation.client_event(
        audio(TENTH_OF_A_SECOND_24K), [SpeechEdge("started", 900)]
    )
    assert start == ACTIVITY_START
    # The lead-in is the padding (300 ms) and the chunk the speech began in, 24 kHz to 16 kHz.
    assert abs(sent_audio([lead_in]) - (14_400 + 4_800) * 2 // 3) <= 64
    [streamed] = translation.client_event(audio(TENTH_OF_A_SECOND_24K))
    assert sent_audio([streamed]) > 0
    # The speech stops: the turn is committed, and Gemini is not told the turn ended.
    assert translation.client_event(
        audio(TENTH_OF_A_SECOND_24K), [SpeechEdge("stopped", 1500)]
    ) == [{"realtimeInput": {"audio": streamed["realtimeInput"]["audio"]}}]
    assert kinds(translation) == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert translation.client_event(audio(TENTH_OF_A_SECOND_24K)) == []
    translation.server_message({"serverContent": {"inputTranscription": {"text": "Hi"}}})
    assert kinds(translation) == ["conversation.item.input_audio_transcription.delta"]
    # Output no response.create asked for (Gemini makes none) would never reach the client.
    translation.server_message(spoken(bytes(9_600)))
    assert kinds(translation) == []
    # The relay's held response.create ends the activity: Gemini answers now, capped.
    asked = translation.client_event(
        {"type": "response.create", "response": {"max_output_tokens": 5}}
    )
    assert asked == [ACTIVITY_END]
    [created] = translation.out
    assert created["response"]["max_output_tokens"] == 5
    translation.out.clear()
    translation.server_message(spoken(bytes(9_600)))
    [delta] = [e for e in translation.out if e["type"] == "response.output_audio.delta"]
    assert len(base64.b64decode(delta["delta"])) == 5 * 1_500
    assert translation.upstream == [{"clientContent": {"turnComplete": False}}]
    # A second one while it runs is refused, as OpenAI refuses it.
    translation.out.clear()
    translation.client_event({"type": "response.create", "event_id": "evt_2"})
    [error] = translation.out
    assert error["error"]["code"] == "conversation_already_has_active_response"


def test_speech_over_an_answer_interrupts_it() -> None:
    translation = LiveTranslation()
    translation.client_event({"type": "response.create"})
    translation.server_message(spoken(bytes(960)))
    translation.out.clear()
    start, _ = translation.client_event(audio(TENTH_OF_A_SECOND_24K), [SpeechEdge("started", 0)])
    assert start == ACTIVITY_START  # Gemini stops its answer at the activity's start
    translation.server_message({"serverContent": {"interrupted": True}})
    events = {e["type"]: e for e in translation.out}
    assert "input_audio_buffer.speech_started" in events
    done = events["response.done"]["response"]
    assert (done["status"], done["status_details"]["reason"]) == ("cancelled", "turn_detected")


def test_a_clients_commit_with_server_vad_ends_the_turn_as_the_detector_would() -> None:
    translation = LiveTranslation()
    translation.client_event(audio(TENTH_OF_A_SECOND_24K))
    start, heard = translation.client_event({"type": "input_audio_buffer.commit"})
    assert start == ACTIVITY_START
    assert abs(sent_audio([heard]) - 3_200) <= 64
    assert kinds(translation)[:3] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]
    assert translation.client_event({"type": "response.create"}) == [ACTIVITY_END]


def test_a_typed_turn_goes_as_client_content() -> None:
    translation = LiveTranslation()
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    sent = translation.client_event({"type": "conversation.item.create", "item": item})
    turn = {"role": "user", "parts": [{"text": "Hi"}]}
    assert sent == [{"clientContent": {"turns": [turn], "turnComplete": False}}]
    assert translation.client_event({"type": "response.create"}) == [
        {"clientContent": {"turnComplete": True}}
    ]


def test_a_function_call_and_its_output() -> None:
    translation = LiveTranslation()
    translation.client_event({"type": "response.create"})
    call = {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}
    translation.server_message({"toolCall": {"functionCalls": [call]}})
    translation.server_message({"usageMetadata": USAGE})
    events = {e["type"]: e for e in translation.out}
    translation.out.clear()
    arguments = events["response.function_call_arguments.done"]
    assert (arguments["call_id"], arguments["name"]) == ("call_1", "get_weather")
    assert arguments["arguments"] == '{"city":"Paris"}'
    assert events["response.done"]["response"]["output"][0]["type"] == "function_call"
    assert events["response.done"]["response"]["usage"]["input_tokens"] == 42
    output = {"type": "function_call_output", "call_id": "call_1", "output": '{"sky":"clear"}'}
    # Gemini would answer a tool response at once: it goes when the answer is asked for.
    assert translation.client_event({"type": "conversation.item.create", "item": output}) == []
    assert kinds(translation) == ["conversation.item.added", "conversation.item.done"]
    answer = {"id": "call_1", "name": "get_weather", "response": {"output": {"sky": "clear"}}}
    assert translation.client_event({"type": "response.create"}) == [
        {"toolResponse": {"functionResponses": [answer]}}
    ]
    translation.server_message({"serverContent": {"outputTranscription": {"text": "Clear."}}})
    assert kinds(translation)[::4] == ["response.created", "response.output_audio_transcript.delta"]


def test_an_interrupted_answer_is_cancelled_and_a_cancelled_one_sends_no_more() -> None:
    translation = LiveTranslation()
    translation.client_event({"type": "response.create"})
    translation.server_message(spoken(bytes(960)))
    translation.server_message({"serverContent": {"interrupted": True}})
    done = translation.out[-1]
    assert done["type"] == "response.done"
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    translation.out.clear()

    translation.client_event({"type": "response.create"})
    translation.client_event({"type": "response.cancel"})
    translation.server_message(spoken(bytes(960)))
    translation.server_message({"serverContent": {"turnComplete": True}, "usageMetadata": USAGE})
    assert "response.output_audio.delta" not in kinds(translation)


def test_a_manual_commit_with_nothing_appended_is_refused() -> None:
    translation = LiveTranslation(manual=True)
    assert translation.client_event({"type": "input_audio_buffer.commit"}) == []
    [error] = translation.out
    assert error["error"]["code"] == "input_audio_buffer_commit_empty"


def test_events_gemini_has_no_counterpart_for_are_answered_here_or_refused_by_name() -> None:
    translation = LiveTranslation()
    truncate = {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0}
    assert translation.client_event(truncate | {"audio_end_ms": 300}) == []
    assert kinds(translation) == ["conversation.item.truncated"]
    translation.client_event({"type": "output_audio_buffer.clear"})
    assert kinds(translation) == ["output_audio_buffer.cleared"]
    translation.client_event({"type": "transcription_session.update", "event_id": "e1"})
    [error] = translation.out
    assert "transcription_session.update" in error["error"]["message"]
    assert error["error"]["event_id"] == "e1"


def test_usage_without_a_breakdown() -> None:
    usage = openai_usage({"promptTokenCount": 7, "responseTokenCount": 5}, audio_out=True)
    assert usage["input_token_details"]["text_tokens"] == 7
    assert usage["output_token_details"] == {"text_tokens": 0, "audio_tokens": 5}


def test_the_live_url_follows_the_base_url_scheme() -> None:
    path = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    assert live_url("https://generativelanguage.googleapis.com/") == (
        "wss://generativelanguage.googleapis.com" + path
    )
    assert live_url("http://127.0.0.1:9000") == "ws://127.0.0.1:9000" + path


class FakeLive:
    """A Gemini Live connection: what the socket sent, and what Gemini says next."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.incoming: asyncio.Queue[str] = asyncio.Queue()
        self.closed = False
        self.incoming.put_nowait(json.dumps({"setupComplete": {}}))

    @property
    def state(self) -> State:
        return State.CLOSED if self.closed else State.OPEN

    close_code = None

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def recv(self) -> str:
        if self.closed:
            raise ConnectionClosed(None, None)
        return await self.incoming.get()

    async def close(self) -> None:
        self.closed = True
        self.incoming.put_nowait("")  # wakes a reader, which then sees the close

    def says(self, *messages: dict[str, Any]) -> None:
        for message in messages:
            self.incoming.put_nowait(json.dumps(message))


def hears_any_sound(samples: np.ndarray) -> np.ndarray:
    """A stand-in for Silero: a 32 ms window is speech when any of its samples is not silent."""
    windows = samples[: len(samples) // WINDOW * WINDOW].reshape(-1, WINDOW)
    speech: np.ndarray = (np.abs(windows).max(axis=1) > 0.01).astype(np.float32)
    return speech


async def opened(connections: list[FakeLive]) -> GeminiLiveSocket:
    async def connect() -> Any:
        connections.append(FakeLive())
        return connections[-1]

    socket = GeminiLiveSocket(
        connect, MODEL, beta=False, shape=as_is, speech_model=lambda: hears_any_sound
    )
    await socket.open()
    assert json.loads(await socket.recv())["type"] == "session.created"
    return socket


async def until_event(socket: GeminiLiveSocket, kind: str) -> list[str]:
    """The kinds of the socket's events up to the first `kind`."""
    seen: list[str] = []
    while not seen or seen[-1] != kind:
        seen.append(json.loads(await socket.recv())["type"])
    return seen


async def speech_then_a_pause() -> tuple[list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    """A server VAD session: half a second of speech, then a second of silence (past the 500 ms
    that ends a turn), then the relay's held response.create. The client's events, what Gemini
    was sent before the response.create, and what after."""
    connections: list[FakeLive] = []
    socket = await opened(connections)
    live = connections[0]
    # The reader waits on Gemini, which says nothing: the detector's events reach it all the same.
    reader = asyncio.ensure_future(until_event(socket, "input_audio_buffer.committed"))
    for chunk in [SPOKEN_TENTH] * 5 + [TENTH_OF_A_SECOND_24K] * 10:
        await socket.send(json.dumps(audio(chunk)))
    seen = await reader
    before = list(live.sent[1:])
    await socket.send(json.dumps({"type": "response.create", "response": {"max_output_tokens": 4}}))
    seen += await until_event(socket, "response.created")
    after = live.sent[1 + len(before) :]
    await socket.close()
    return seen, before, after


def test_gemini_is_not_told_a_turn_ended_until_its_response_is_asked_for() -> None:
    seen, before, after = asyncio.run(asyncio.wait_for(speech_then_a_pause(), 10))
    assert seen[:3] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]
    # The speech went as one activity that the pause did not end; nothing asked for an answer.
    assert before[0] == ACTIVITY_START
    assert all(set(m["realtimeInput"]) == {"audio"} for m in before[1:])
    assert not [m for m in before if {"activityEnd", "audioStreamEnd"} & set(m["realtimeInput"])]
    assert after == [ACTIVITY_END]
    assert seen[-1] == "response.created"


async def go_away_while_speaking() -> list[FakeLive]:
    connections: list[FakeLive] = []
    socket = await opened(connections)
    first = connections[0]
    first.says({"sessionResumptionUpdate": {"newHandle": "h1", "resumable": True}})
    await socket.send(json.dumps({"type": "response.create"}))
    first.says(spoken(bytes(960)), {"goAway": {"timeLeft": "5s"}})
    # The answer goes on over the goAway; the user speaks meanwhile (over it).
    assert json.loads(await socket.recv())["type"] == "response.created"
    while json.loads(await socket.recv())["type"] != "response.output_audio.delta":
        pass
    await socket.send(json.dumps(audio(SPOKEN_TENTH)))
    assert len(connections) == 1
    first.says({"serverContent": {"turnComplete": True}, "usageMetadata": USAGE})
    while json.loads(await socket.recv())["type"] != "response.done":
        pass
    assert len(connections) == 1, "no move before a handle holds the answer"
    first.says({"sessionResumptionUpdate": {"newHandle": "h2", "resumable": True}})
    reader = asyncio.ensure_future(socket.recv())
    while len(connections) < 2 or not connections[1].sent[1:]:  # noqa: ASYNC110 - a fake's state
        await asyncio.sleep(0)
    reader.cancel()
    await socket.close()
    return connections


def test_go_away_moves_once_the_answer_is_held_and_sends_the_unanswered_input_again() -> None:
    first, second = asyncio.run(asyncio.wait_for(go_away_while_speaking(), 10))
    assert first.closed
    setup, resent = second.sent[0]["setup"], second.sent[1:]
    assert setup["sessionResumption"] == {"handle": "h2"}
    assert resent[0] == ACTIVITY_START
    assert "audio" in resent[1]["realtimeInput"]
