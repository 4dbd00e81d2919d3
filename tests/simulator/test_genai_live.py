"""The simulator's Gemini Live as `google-genai`'s own `client.aio.live.connect` (3.6) sees it:
spoken turns in 16 kHz PCM answered with 24 kHz audio and both transcripts, typed turns,
manual activity, a function call and its response, and a resumed session. Every message is
parsed by the package's own types."""

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.certificates import self_signed
from tests.gateway_process import RunningSimulator
from tests.simulator.process import fast_simulator

KEY = "gemini-live-key"
MODEL = "gemini-live-2.5-flash-preview"
TIMEOUT = 30
HALF_SECOND_16K = bytes(16_000)  # 0.5 s of 16 kHz PCM16 silence


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    """The simulator over TLS: the SDK connects to Live only with `wss:`. Both the SDK and
    httpx trust the test's certificate through SSL_CERT_FILE."""
    root = tmp_path_factory.mktemp("live-sim")
    certificate, key = self_signed(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(certificate))
        with fast_simulator(root, tls=(certificate, key)) as running:
            yield running


def client(sim: RunningSimulator, key: str = KEY) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=sim.base_url))


def transcribed() -> types.LiveConnectConfig:
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Kore")
            )
        ),
    )


async def one_turn(session: Any) -> list[types.LiveServerMessage]:
    """Every message of one model turn, up to its turnComplete."""
    messages = []
    async for message in session.receive():
        messages.append(message)
        if message.server_content and message.server_content.turn_complete:
            break
    return messages


def audio_of(messages: list[types.LiveServerMessage]) -> bytes:
    return b"".join(
        part.inline_data.data
        for m in messages
        if m.server_content and m.server_content.model_turn
        for part in m.server_content.model_turn.parts or []
        if part.inline_data and part.inline_data.data
    )


def said(messages: list[types.LiveServerMessage], side: str) -> str:
    return "".join(
        getattr(m.server_content, side).text or ""
        for m in messages
        if m.server_content and getattr(m.server_content, side)
    )


def sessions(sim: RunningSimulator) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{sim.base_url}/_sim/realtime").json()["sessions"]
    return found


async def spoken_turn(sim: RunningSimulator) -> list[types.LiveServerMessage]:
    async with client(sim).aio.live.connect(model=MODEL, config=transcribed()) as session:
        for _ in range(2):
            await session.send_realtime_input(
                audio=types.Blob(data=HALF_SECOND_16K, mime_type="audio/pcm;rate=16000")
            )
        await session.send_realtime_input(audio_stream_end=True)
        return await one_turn(session)


def test_a_spoken_turn_is_answered_in_24khz_audio_with_both_transcripts(
    sim: RunningSimulator,
) -> None:
    messages = asyncio.run(asyncio.wait_for(spoken_turn(sim), TIMEOUT))
    audio = audio_of(messages)
    assert len(audio) >= 24_000 * 2 * 0.5  # at least half a second at 24 kHz
    mime_types = {
        part.inline_data.mime_type
        for m in messages
        if m.server_content and m.server_content.model_turn
        for part in m.server_content.model_turn.parts or []
        if part.inline_data
    }
    assert mime_types == {"audio/pcm;rate=24000"}
    heard = said(messages, "input_transcription")
    assert heard == "This is the simulator's transcript."
    assert said(messages, "output_transcription") == f"The simulator heard: {heard}"
    [usage] = [m.usage_metadata for m in messages if m.usage_metadata]
    assert usage.prompt_token_count and usage.response_token_count
    modalities = {d.modality for d in usage.response_tokens_details or []}
    assert modalities == {types.MediaModality.AUDIO}
    [logged] = sessions(sim)
    assert logged["credential"] == KEY
    assert logged["model"] == f"models/{MODEL}"
    assert logged["setup"]["inputAudioTranscription"] == {}
    assert "realtimeInput" in logged["received"]


async def typed_and_manual(sim: RunningSimulator) -> tuple[list[Any], list[Any]]:
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        realtime_input_config=types.RealtimeInputConfig(
            automatic_activity_detection=types.AutomaticActivityDetection(disabled=True)
        ),
    )
    async with client(sim).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Hello there")]),
            turn_complete=True,
        )
        typed = await one_turn(session)
        await session.send_realtime_input(activity_start=types.ActivityStart())
        await session.send_realtime_input(
            audio=types.Blob(data=HALF_SECOND_16K, mime_type="audio/pcm;rate=16000")
        )
        await session.send_realtime_input(activity_end=types.ActivityEnd())
        spoken = await one_turn(session)
        return typed, spoken


def test_typed_turns_and_manual_activity_are_answered(sim: RunningSimulator) -> None:
    typed, spoken = asyncio.run(asyncio.wait_for(typed_and_manual(sim), TIMEOUT))
    assert audio_of(typed) and audio_of(spoken)
    assert said(spoken, "input_transcription") == "This is the simulator's transcript."


async def tool_round(sim: RunningSimulator) -> tuple[types.FunctionCall, list[Any]]:
    weather = types.FunctionDeclaration(name="get_weather", description="The weather.")
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.TEXT],
        tools=[types.Tool(function_declarations=[weather])],
    )
    async with client(sim).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="Please call get_weather for Paris")
        async for message in session.receive():
            if message.tool_call:
                [call] = message.tool_call.function_calls or []
                break
        await session.send_tool_response(
            function_responses=[
                types.FunctionResponse(id=call.id, name=call.name, response={"sky": "clear"})
            ]
        )
        return call, await one_turn(session)


def test_a_declared_function_is_called_and_its_response_answered(sim: RunningSimulator) -> None:
    call, answer = asyncio.run(asyncio.wait_for(tool_round(sim), TIMEOUT))
    assert call.name == "get_weather" and call.id
    text = "".join(
        part.text or ""
        for m in answer
        if m.server_content and m.server_content.model_turn
        for part in m.server_content.model_turn.parts or []
    )
    assert "clear" in text


async def resumed(sim: RunningSimulator) -> list[Any]:
    handles: list[str] = []
    config = transcribed()
    config.session_resumption = types.SessionResumptionConfig()
    async with client(sim).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="Remember the word teapot")
        async for message in session.receive():
            update = message.session_resumption_update
            if update and update.new_handle:
                handles.append(update.new_handle)
            if message.server_content and message.server_content.turn_complete:
                break
        async for message in session.receive():  # the handle that follows the turn
            update = message.session_resumption_update
            if update and update.new_handle:
                handles.append(update.new_handle)
                break
    config.session_resumption = types.SessionResumptionConfig(handle=handles[-1])
    async with client(sim).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="What was the word?")
        return await one_turn(session)


def test_a_session_resumed_with_its_handle_continues_the_conversation(
    sim: RunningSimulator,
) -> None:
    answer = asyncio.run(asyncio.wait_for(resumed(sim), TIMEOUT))
    assert audio_of(answer)
    first, second = sessions(sim)
    assert second["resumed"] == first["handles"][-1]


def test_an_unknown_resumption_handle_is_refused(sim: RunningSimulator) -> None:
    config = transcribed()
    config.session_resumption = types.SessionResumptionConfig(handle="no-such-handle")

    async def run() -> None:
        async with client(sim).aio.live.connect(model=MODEL, config=config) as session:
            async for _ in session.receive():
                pass

    with pytest.raises(errors.APIError) as raised:
        asyncio.run(asyncio.wait_for(run(), TIMEOUT))
    assert raised.value.code == 1007


async def long_answer_stopped(sim: RunningSimulator) -> list[types.LiveServerMessage]:
    """A typed turn whose answer runs long, stopped by a bare clientContent once it speaks."""
    async with client(sim).aio.live.connect(model=MODEL, config=transcribed()) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Tell me a long story")]),
            turn_complete=True,
        )
        messages: list[types.LiveServerMessage] = []
        async for message in session.receive():
            messages.append(message)
            if message.server_content and message.server_content.interrupted:
                return messages
            if audio_of([message]) and len(audio_of(messages)) == len(audio_of([message])):
                await session.send_client_content()  # at the answer's first audio
        raise AssertionError("the answer was not interrupted")


def test_a_long_answer_stops_at_a_client_content_message(sim: RunningSimulator) -> None:
    # Paced, so the answer is still being spoken when the message arrives.
    sim.queue_faults(KEY, {"kind": "long", "chunk_interval_ms": 50})
    messages = asyncio.run(asyncio.wait_for(long_answer_stopped(sim), TIMEOUT))
    stopped = messages[-1]
    assert stopped.usage_metadata is not None
    [made] = stopped.usage_metadata.response_tokens_details or []
    # What was made before it stopped, at 32 tokens a second: less than the 40 s answer.
    assert 0 < (made.token_count or 0) < 40 * 32
    assert not [m for m in messages if m.server_content and m.server_content.turn_complete]
