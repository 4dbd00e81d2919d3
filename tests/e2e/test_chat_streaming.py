"""Streamed /v1/chat/completions is streamed end to end: each provider chunk reaches the client
as it arrives, with every field the provider sent.

The upstream is the small server of test_chat_passthrough (the simulator does not stream chat
with tool calls); the official `openai` package and its ChatCompletionChunk judge the answers.
"""

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from tests.audio_probe import probe_pcm16
from tests.e2e.test_chat_passthrough import (
    MODELS,
    TOKEN_LOGPROBS,
    WEATHER_TOOL,
    FakeUpstream,
    answer_with_audio,
    answer_with_tool_call,
    assert_contains,
    client,
    fresh,
    served,
    tone,
    upstream,
)
from tests.gateway_process import RunningGateway, RunningSimulator

__all__ = ["client", "fresh", "served", "upstream"]  # the fixtures, shared with that module

# Typed loosely: the SDK's own parameter types are not what these tests check.
WEATHER: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS: Any = [WEATHER_TOOL]
WAIT_SECONDS = 20


def chunk(
    delta: dict[str, Any] | None, *, finish: str | None = None, **fields: Any
) -> dict[str, Any]:
    """One upstream chunk, with the fields the gateway has no business changing."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-upstream-stream",
        "object": "chat.completion.chunk",
        "created": 1_760_000_000,
        "model": "gpt-audio-2025-08-28",
        "system_fingerprint": "fp_upstream",
        "service_tier": "default",
        "x_upstream_field": {"kept": True},
        "choices": choices,
        **fields,
    }


USAGE = {
    "prompt_tokens": 30,
    "completion_tokens": 12,
    "total_tokens": 42,
    "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 4},
    "completion_tokens_details": {"audio_tokens": 0, "reasoning_tokens": 0},
}


def tool_call_chunks() -> list[dict[str, Any]]:
    call = {"index": 0, "id": "call_weather", "type": "function"}
    return [
        chunk({"role": "assistant", "content": None, "refusal": None}),
        chunk({"tool_calls": [call | {"function": {"name": "get_weather", "arguments": ""}}]}),
        chunk(
            {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Paris"}'}}]},
            logprobs=None,
        ),
        chunk({"content": ""}, x_note="unknown"),
        chunk({}, finish="tool_calls"),
        chunk(None, usage=USAGE),
    ]


def with_logprobs(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chunks[3]["choices"][0]["logprobs"] = TOKEN_LOGPROBS
    return chunks


def audio_chunks(audio_id: str, pcm: bytes, pieces: int) -> list[dict[str, Any]]:
    """Audio deltas cut at odd byte counts, as a provider may cut them."""
    size = len(pcm) // pieces | 1
    deltas = [
        chunk({"audio": {"id": audio_id, "data": base64.b64encode(pcm[i : i + size]).decode()}})
        for i in range(0, len(pcm), size)
    ]
    transcript = chunk({"audio": {"id": audio_id, "transcript": "A short tone."}})
    usage = USAGE | {
        "completion_tokens": 40,
        "total_tokens": 70,
        "completion_tokens_details": {"audio_tokens": 30, "reasoning_tokens": 0},
    }
    return [
        chunk({"role": "assistant", "content": None}),
        *deltas,
        transcript,
        chunk({}, finish="stop"),
        chunk(None, usage=usage),
    ]


def raw_events(gateway: RunningGateway, key: str, body: dict[str, Any]) -> tuple[int, list[Any]]:
    """The status and every `data:` payload the gateway sent, `[DONE]` included."""
    with (
        httpx.Client(base_url=gateway.base_url, timeout=WAIT_SECONDS) as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
        ) as response,
    ):
        payloads = [
            line.removeprefix("data: ")
            for line in response.iter_lines()
            if line.startswith("data: ")
        ]
    return response.status_code, [p if p == "[DONE]" else json.loads(p) for p in payloads]


@pytest.fixture(scope="module")
def key(served: tuple[RunningGateway, RunningSimulator]) -> str:
    return served[0].new_workspace(f"stream-{secrets.token_hex(4)}", "5.00")


@pytest.mark.parametrize("model", MODELS)
def test_each_chunk_reaches_the_client_as_the_provider_sent_it(
    served: tuple[RunningGateway, RunningSimulator],
    key: str,
    upstream: FakeUpstream,
    model: str,
) -> None:
    upstream.events = with_logprobs(tool_call_chunks())
    body = {
        "model": model,
        "messages": WEATHER,
        "tools": [WEATHER_TOOL],
        "logprobs": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    status, events = raw_events(served[0], key, body)
    assert status == 200 and events[-1] == "[DONE]"
    got = events[:-1]
    assert len(got) == len(upstream.events)
    for sent, received in zip(upstream.events, got, strict=True):
        ChatCompletionChunk.model_validate(received)
        assert_contains({k: v for k, v in sent.items() if k != "model"}, received)
        assert received["model"] == model
    [request] = upstream.bodies()
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("model", MODELS)
def test_the_sdk_assembles_a_streamed_tool_call(
    client: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    upstream.events = with_logprobs(tool_call_chunks())
    stream = client.chat.completions.create(
        model=model,
        messages=WEATHER,
        tools=TOOLS,
        logprobs=True,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks: list[ChatCompletionChunk] = list(stream)
    choices = [choice for c in chunks for choice in c.choices]
    calls = [call for choice in choices for call in choice.delta.tool_calls or []]
    assert calls[0].id == "call_weather" and calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert "".join((c.function.arguments or "") for c in calls if c.function) == (
        '{"city": "Paris"}'
    )
    assert [c.finish_reason for c in choices if c.finish_reason] == ["tool_calls"]
    assert [c.logprobs.model_dump() for c in choices if c.logprobs] == [TOKEN_LOGPROBS]
    assert all((c.model_extra or {}).get("x_upstream_field") == {"kept": True} for c in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 42


def test_usage_reaches_only_a_client_that_asked_for_it(
    served: tuple[RunningGateway, RunningSimulator], key: str, upstream: FakeUpstream
) -> None:
    upstream.events = tool_call_chunks()
    body = {"model": "gpt-audio", "messages": WEATHER, "tools": [WEATHER_TOOL], "stream": True}
    status, events = raw_events(served[0], key, body)
    assert status == 200 and events[-1] == "[DONE]"
    assert len(events[:-1]) == len(upstream.events) - 1
    assert all("usage" not in event and event["choices"] for event in events[:-1])
    # The gateway bills by usage, so it asks the provider for it all the same.
    assert upstream.bodies()[-1]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("model", MODELS)
def test_streamed_audio_arrives_whole_with_its_id(
    client: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    audio_id = f"audio_upstream_{secrets.token_hex(6)}"
    pcm = tone(1.2)
    upstream.events = audio_chunks(audio_id, pcm, pieces=7)
    stream = client.chat.completions.create(
        model=model,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        messages=[{"role": "user", "content": "Play a tone."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    received, transcript, ids, usage = b"", "", set(), None
    for piece in stream:
        usage = piece.usage or usage
        for choice in piece.choices:
            audio = choice.delta.audio
            if audio is not None:
                received += base64.b64decode(audio.data or "")
                transcript += audio.transcript or ""
                ids.add(audio.id)
    assert received == pcm and abs(probe_pcm16(received).duration_seconds - 1.2) < 0.01
    assert transcript == "A short tone." and ids == {audio_id}
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.audio_tokens == 30


def test_the_first_chunk_arrives_while_the_provider_is_still_answering(
    served: tuple[RunningGateway, RunningSimulator], key: str, upstream: FakeUpstream
) -> None:
    """The upstream holds its second chunk until the client has the first: a gateway that
    waited for the whole answer would time out here."""
    upstream.events = tool_call_chunks()
    upstream.gate = gate = threading.Event()
    body = {"model": "gpt-audio", "messages": WEATHER, "tools": [WEATHER_TOOL], "stream": True}
    with (
        httpx.Client(base_url=served[0].base_url, timeout=WAIT_SECONDS) as http,
        http.stream(
            "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response,
    ):
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert not gate.is_set()
        assert json.loads(first.removeprefix("data: "))["choices"][0]["delta"]["role"] == (
            "assistant"
        )
        gate.set()
        rest = [line for line in lines if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]" and len(rest) == len(upstream.events) - 1


def test_a_failure_before_the_first_chunk_fails_over(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.events = tool_call_chunks()
    upstream.failures = [503]
    stream = client.chat.completions.create(
        model="gpt-audio-1.5", messages=WEATHER, tools=TOOLS, stream=True
    )
    finishes = [c.finish_reason for piece in stream for c in piece.choices if c.finish_reason]
    assert finishes == ["tool_calls"]
    assert len(upstream.seen) == 2


def settled_record(http: httpx.Client) -> dict[str, Any]:
    """The newest usage record, once no credit is held any more."""
    deadline = time.monotonic() + WAIT_SECONDS
    while http.get("/api/v1/balance").json()["held_micro_usd"]:
        assert time.monotonic() < deadline, "the stream's hold was never closed"
        time.sleep(0.05)
    record: dict[str, Any] = http.get("/api/v1/usage").json()["data"][0]
    return record


def test_a_failure_after_the_first_chunk_ends_the_stream_with_an_error(
    served: tuple[RunningGateway, RunningSimulator], upstream: FakeUpstream
) -> None:
    gateway = served[0]
    key = gateway.new_workspace(f"cut-{secrets.token_hex(4)}", "1.00")
    upstream.events = tool_call_chunks()
    upstream.cut_after = 2
    body = {"model": "gpt-audio", "messages": WEATHER, "tools": [WEATHER_TOOL], "stream": True}
    status, events = raw_events(gateway, key, body)
    assert status == 200
    *delivered, error = events
    assert [e["choices"][0]["delta"] for e in delivered] == [
        e["choices"][0]["delta"] for e in upstream.events[:2]
    ]
    assert error["error"]["type"] and error["error"]["message"]
    assert len(upstream.seen) == 1  # no failover once the client has part of the answer
    with gateway.client(key) as http:
        record = settled_record(http)
    assert record["status"] == "partial" and record["charged_micro_usd"] > 0
    with pytest.raises(openai.APIError):
        openai_client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)
        list(
            openai_client.chat.completions.create(
                model="gpt-audio", messages=WEATHER, tools=TOOLS, stream=True
            )
        )


@pytest.fixture(autouse=True)
def no_stray_gate(upstream: FakeUpstream) -> Iterator[None]:
    """A test that fails while the upstream waits must not leave it waiting."""
    yield
    if upstream.gate is not None:
        upstream.gate.set()


def test_sse_speech_on_an_audio_chat_model_streams_its_audio_deltas(
    served: tuple[RunningGateway, RunningSimulator], key: str, upstream: FakeUpstream
) -> None:
    """/v1/audio/speech on gpt-audio is the chat stream's audio: the upstream holds its answer
    after the first audio delta until the client has heard it."""
    pcm = tone(1.2)
    upstream.events = audio_chunks("audio_speech", pcm, pieces=5)
    upstream.gate, upstream.gate_after = (gate := threading.Event()), 2
    body = {
        "model": "gpt-audio",
        "input": "Read this aloud.",
        "voice": "alloy",
        "response_format": "pcm",
        "stream_format": "sse",
    }
    with (
        httpx.Client(base_url=served[0].base_url, timeout=WAIT_SECONDS) as http,
        http.stream(
            "POST", "/v1/audio/speech", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response,
    ):
        assert response.status_code == 200
        events = (
            json.loads(line.removeprefix("data: "))
            for line in response.iter_lines()
            if line.startswith("data: ")
        )
        first = next(events)
        assert first["type"] == "speech.audio.delta" and not gate.is_set()
        gate.set()
        rest = list(events)
    deltas = [first, *(e for e in rest if e["type"] == "speech.audio.delta")]
    assert b"".join(base64.b64decode(e["audio"]) for e in deltas) == pcm
    assert rest[-1]["type"] == "speech.audio.done"
    request = upstream.bodies()[-1]
    assert request["stream"] is True and request["audio"]["format"] == "pcm16"


def test_a_whole_stream_is_billed_by_the_usage_of_its_last_chunk(
    served: tuple[RunningGateway, RunningSimulator], upstream: FakeUpstream
) -> None:
    gateway = served[0]
    key = gateway.new_workspace(f"billed-{secrets.token_hex(4)}", "1.00")
    upstream.events = tool_call_chunks()
    body = {"model": "gpt-audio", "messages": WEATHER, "tools": TOOLS, "stream": True}
    status, events = raw_events(gateway, key, body)
    assert status == 200 and events[-1] == "[DONE]"
    with gateway.client(key) as http:
        record = settled_record(http)
        balance = http.get("/api/v1/balance").json()["balance_micro_usd"]
    assert (record["status"], record["input_text_tokens"], record["output_text_tokens"]) == (
        "succeeded",
        30,
        12,
    )
    # $2.50 and $10.00 per 1M text tokens in and out: 2.5 and 10 micro-USD a token.
    assert record["charged_micro_usd"] == record["cost_micro_usd"] == 30 * 5 // 2 + 12 * 10
    assert balance == 1_000_000 - record["charged_micro_usd"]


def test_a_whole_answer_to_a_streamed_request_is_streamed_to_the_client(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    """A compatible server that ignores `stream` answers whole: the client still gets chunks,
    with the audio, its id and every field the provider sent, and no other route is tried."""
    upstream.ignores_stream = True
    audio_id = f"audio_upstream_{secrets.token_hex(6)}"
    pcm = tone(0.8)
    upstream.answer = answer_with_audio(audio_id, pcm)
    stream = client.chat.completions.create(
        model="gpt-audio",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        messages=[{"role": "user", "content": "Play a tone."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks: list[ChatCompletionChunk] = list(stream)
    audio = [c.delta.audio for chunk in chunks for c in chunk.choices if c.delta.audio]
    received = b"".join(base64.b64decode(a.data or "") for a in audio)
    assert received == pcm and abs(probe_pcm16(received).duration_seconds - 0.8) < 0.01
    assert {a.id for a in audio} == {audio_id}
    assert "".join(a.transcript or "" for a in audio) == "A short tone."
    assert all(chunk.id == upstream.answer["id"] for chunk in chunks)
    assert all((c.model_extra or {}).get("x_upstream_field") == {"kept": True} for c in chunks)
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.audio_tokens == 10
    assert len(upstream.seen) == 1


def test_a_whole_tool_call_answer_is_assembled_by_the_sdk(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.ignores_stream = True
    upstream.answer = answer_with_tool_call()
    with client.chat.completions.stream(model="gpt-audio", messages=WEATHER, tools=TOOLS) as s:
        final = s.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    assert call.id == "call_weather" and call.type == "function"
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
    assert final.choices[0].finish_reason == "tool_calls"
