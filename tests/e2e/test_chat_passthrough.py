"""/v1/chat/completions is transparent: what the provider answers reaches the client.

The upstream is a small server of this test's own on a loopback port (the simulator does not
answer with tool calls or logprobs), reached by the gateway through OPENAI_BASE_URL and
AZURE_OPENAI_ENDPOINT. The official `openai` package calls the gateway and its types judge the
answers; the upstream's log shows what the gateway sent.
"""

import base64
import json
import math
import secrets
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.audio_probe import probe, probe_pcm16
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway
from voxgate.api.openai.chat_body import STANDARD_PARAMETERS
from voxgate.catalog.loader import load_catalog
from voxgate.settings import Settings

CATALOG = load_catalog(Settings().catalog_dir)
# gpt-audio is served by OpenAI, gpt-audio-1.5 by Azure OpenAI: both reach the upstream below.
MODELS = ["gpt-audio", "gpt-audio-1.5"]
# What the gateway owns in an answer; everything else must arrive as the upstream sent it.
OWNED = {"model", "usage"}
PCM_RATE = 24_000


def tone(seconds: float) -> bytes:
    """A 440 Hz sine as 24 kHz s16le, what an upstream sends for audio.format pcm16."""
    count = int(PCM_RATE * seconds)
    return b"".join(
        struct.pack("<h", int(12_000 * math.sin(2 * math.pi * 440 * i / PCM_RATE)))
        for i in range(count)
    )


@dataclass
class FakeUpstream:
    """Answers every chat/completions POST with `answer`, or when streamed with `events`.

    `failures` are statuses answered first, one a request; a streamed answer waits after
    `gate_after` events until `gate` is set (when there is one) and stops after `cut_after`.
    """

    base_url: str = ""
    answer: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    gate: threading.Event | None = None
    gate_after: int = 1
    cut_after: int | None = None
    # A server that answers a streamed request whole, as some compatible servers do.
    ignores_stream: bool = False

    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body in self.seen]


GATE_SECONDS = 30


def serve(fake: FakeUpstream) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            fake.seen.append((self.path, body))
            if fake.failures:
                status = fake.failures.pop(0)
                error = {"error": {"message": "busy", "type": "server_error", "code": None}}
                self._send(status, "application/json", json.dumps(error).encode())
            elif body.get("stream") and not fake.ignores_stream:
                self._stream()
            else:
                self._send(200, "application/json", json.dumps(fake.answer).encode())

        def _send(self, status: int, content_type: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            for sent, payload in enumerate(fake.events):
                if sent == fake.cut_after:
                    return
                if sent == fake.gate_after and fake.gate is not None:
                    fake.gate.wait(GATE_SECONDS)
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    server = serve(fake)
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    with routed_gateway(
        tmp_path_factory.mktemp("chat"),
        OPENAI_BASE_URL=f"{upstream.base_url}/v1",
        AZURE_OPENAI_ENDPOINT=upstream.base_url,
    ) as served:
        yield served


@pytest.fixture(scope="module")
def client(served: tuple[RunningGateway, RunningSimulator]) -> openai.OpenAI:
    gateway, _ = served
    key = gateway.new_workspace(f"chat-{secrets.token_hex(4)}", "5.00")
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


@pytest.fixture(autouse=True)
def fresh(upstream: FakeUpstream) -> None:
    upstream.seen.clear()
    upstream.answer = answer_with_tool_call()
    upstream.events = []
    upstream.failures = []
    upstream.gate = None
    upstream.gate_after = 1
    upstream.cut_after = None
    upstream.ignores_stream = False


TOKEN_LOGPROBS = {
    "content": [
        {
            "token": "Paris",
            "logprob": -0.01,
            "bytes": [80, 97, 114, 105, 115],
            "top_logprobs": [{"token": "Paris", "logprob": -0.01, "bytes": None}],
        }
    ],
    "refusal": None,
}


def answer_with_tool_call() -> dict[str, Any]:
    """An answer with every field the gateway has no business changing, and some it has never
    heard of."""
    return {
        "id": f"chatcmpl-upstream-{secrets.token_hex(4)}",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "gpt-audio-2025-08-28",
        "system_fingerprint": "fp_upstream",
        "service_tier": "default",
        "x_upstream_field": {"kept": True},
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "annotations": [
                        {
                            "type": "url_citation",
                            "url_citation": {
                                "start_index": 0,
                                "end_index": 5,
                                "title": "Paris",
                                "url": "https://example.org/paris",
                            },
                        }
                    ],
                    "tool_calls": [
                        {
                            "id": "call_weather",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"city": "Paris"}',
                            },
                        }
                    ],
                    "x_message_field": 7,
                },
                "logprobs": TOKEN_LOGPROBS,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 12,
            "total_tokens": 42,
            "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 4},
            "completion_tokens_details": {
                "audio_tokens": 0,
                "reasoning_tokens": 0,
                "accepted_prediction_tokens": 1,
            },
        },
    }


def answer_with_audio(audio_id: str, pcm: bytes) -> dict[str, Any]:
    answer = answer_with_tool_call()
    choice = answer["choices"][0]
    choice["finish_reason"] = "stop"
    choice["logprobs"] = None
    choice["message"] = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "annotations": [],
        "audio": {
            "id": audio_id,
            "data": base64.b64encode(pcm).decode(),
            "expires_at": 1_760_003_600,
            "transcript": "A short tone.",
        },
    }
    answer["usage"]["completion_tokens_details"]["audio_tokens"] = 10
    return answer


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def assert_contains(sent: Any, got: Any, where: str = "") -> None:
    """Every field `sent` has is in `got` with the same value (fields may be added)."""
    if isinstance(sent, dict):
        assert isinstance(got, dict), f"{where}: {got!r} is not an object"
        for name, value in sent.items():
            assert name in got, f"{where}.{name} is missing"
            assert_contains(value, got[name], f"{where}.{name}")
    elif isinstance(sent, list):
        assert isinstance(got, list) and len(got) == len(sent), f"{where}: {got!r}"
        for i, (one, other) in enumerate(zip(sent, got, strict=True)):
            assert_contains(one, other, f"{where}[{i}]")
    else:
        assert got == sent, f"{where}: {got!r} != {sent!r}"


def ask_weather(client: openai.OpenAI, model: str, **extra: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        logprobs=True,
        top_logprobs=1,
        **extra,
    )


@pytest.mark.parametrize("model", MODELS)
def test_a_tool_call_logprobs_and_unknown_fields_reach_the_client(
    client: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    raw = ask_weather(client, model)
    got = json.loads(raw.text)
    ChatCompletion.model_validate(got)
    sent = upstream.answer
    assert_contains({k: v for k, v in sent.items() if k not in OWNED}, got)
    assert got["model"] == model
    # Usage is the gateway's counts over the provider's: what only the provider sent stays.
    assert got["usage"]["prompt_tokens_details"]["cached_tokens"] == 4
    assert got["usage"]["completion_tokens_details"]["accepted_prediction_tokens"] == 1
    parsed = raw.parse()
    assert parsed.choices[0].finish_reason == "tool_calls"
    assert parsed.choices[0].message.tool_calls[0].function.name == "get_weather"


@pytest.mark.parametrize("model", MODELS)
def test_an_audio_answer_keeps_its_id_and_decodes(
    client: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    audio_id = f"audio_upstream_{secrets.token_hex(6)}"
    upstream.answer = answer_with_audio(audio_id, tone(1.5))
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "mp3"},
        messages=[{"role": "user", "content": "Play a tone."}],
    )
    got = json.loads(raw.text)
    ChatCompletion.model_validate(got)
    audio = got["choices"][0]["message"]["audio"]
    assert audio["id"] == audio_id
    assert audio["expires_at"] == 1_760_003_600 and audio["transcript"] == "A short tone."
    found = probe(base64.b64decode(audio["data"]))
    assert found.codec == "mp3float" and abs(found.duration_seconds - 1.5) < 0.1
    # The provider was asked for pcm16, the one format the gateway can measure and convert.
    assert upstream.bodies()[-1]["audio"] == {"voice": "alloy", "format": "pcm16"}


def test_a_two_turn_audio_conversation_references_the_first_answer(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    first_id = f"audio_upstream_{secrets.token_hex(6)}"
    upstream.answer = answer_with_audio(first_id, tone(0.5))
    turn = [{"role": "user", "content": "Play a tone."}]
    first = client.chat.completions.create(  # type: ignore[call-overload]
        model="gpt-audio",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=turn,
    )
    assert first.choices[0].message.audio is not None
    reference = {"role": "assistant", "audio": {"id": first.choices[0].message.audio.id}}
    upstream.answer = answer_with_audio(f"audio_upstream_{secrets.token_hex(6)}", tone(0.5))
    second = client.chat.completions.create(  # type: ignore[call-overload]
        model="gpt-audio",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        messages=[*turn, reference, {"role": "user", "content": "Again."}],
    )
    assert second.choices[0].message.audio is not None
    assert (
        probe_pcm16(base64.b64decode(second.choices[0].message.audio.data)).duration_seconds > 0.4
    )
    sent = upstream.bodies()[-1]["messages"]
    assert sent[1] == {"role": "assistant", "audio": {"id": first_id}}


def route_parameters(model: str) -> set[str]:
    row = CATALOG.get(model)
    assert row is not None
    return {name for route in row.routes for name in route.chat_parameters}


PARAMETER_VALUES: dict[str, Any] = {
    "frequency_penalty": 0.5,
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 2,
    "metadata": {"team": "voice"},
    "parallel_tool_calls": False,
    "prediction": {"type": "content", "content": "Paris"},
    "presence_penalty": -0.5,
    "response_format": {"type": "json_object"},
    "seed": 7,
    "service_tier": "default",
    "stop": ["END"],
    "store": True,
    "temperature": 0.3,
    "tool_choice": "required",
    "tools": [WEATHER_TOOL],
    "top_p": 0.9,
    "user": "user-1234",
}


def test_every_standard_parameter_has_a_value_here() -> None:
    assert set(PARAMETER_VALUES) == set(STANDARD_PARAMETERS)


def every_route_parameters(model: str) -> set[str]:
    row = CATALOG.get(model)
    assert row is not None
    return set.intersection(*(set(route.chat_parameters) for route in row.routes))


@pytest.mark.parametrize("model", MODELS)
def test_parameters_every_route_takes_are_sent_upstream_as_given(
    client: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    taken = {k: v for k, v in PARAMETER_VALUES.items() if k in every_route_parameters(model)}
    assert {"tools", "tool_choice", "logprobs", "top_logprobs"} <= set(taken)
    client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], **taken
    )
    [body] = upstream.bodies()
    assert_contains(taken, body)


@pytest.mark.parametrize("model", MODELS)
def test_a_parameter_no_route_takes_is_refused_by_name(
    client: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    refused = sorted(set(PARAMETER_VALUES) - route_parameters(model) - {"top_logprobs"})
    for name in refused:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "hi"}],
                **{name: PARAMETER_VALUES[name]},
            )
        assert caught.value.param == name
        assert caught.value.code == "unsupported_parameter"
    assert upstream.seen == []


def test_a_parameter_only_some_routes_take_is_refused_rather_than_choosing_the_route(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    # Only gpt-audio-1.5's OpenAI route takes service_tier: sent, it would move the request
    # from Azure's gpt-audio-1.5 to OpenAI's gpt-audio at gpt-audio-1.5's prices.
    some = route_parameters("gpt-audio-1.5") - every_route_parameters("gpt-audio-1.5")
    assert "service_tier" in some
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-audio-1.5",
            messages=[{"role": "user", "content": "hi"}],
            service_tier="default",
        )
    assert (caught.value.param, caught.value.code) == ("service_tier", "unsupported_parameter")
    assert upstream.seen == []


def test_structured_outputs_becomes_a_strict_json_schema(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    client.chat.completions.create(
        model="gpt-audio",
        messages=[{"role": "user", "content": "Which city?"}],
        extra_body={"structured_outputs": {"name": "city", "schema": schema}},
    )
    assert upstream.bodies()[-1]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": schema, "strict": True},
    }
    client.chat.completions.create(  # type: ignore[call-overload]
        model="gpt-audio",
        messages=[{"role": "user", "content": "Which city?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
        extra_body={"structured_outputs": True},
    )
    assert upstream.bodies()[-1]["response_format"]["json_schema"]["strict"] is True


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"max_completion_tokens": 16_385}, "max_completion_tokens"),
        ({"max_completion_tokens": 10**18}, "max_completion_tokens"),
        ({"max_tokens": 20_000}, "max_tokens"),
        ({"extra_body": {"structured_outputs": True}}, "structured_outputs"),
        (
            {"response_format": {"type": "text"}, "extra_body": {"structured_outputs": False}},
            "structured_outputs",
        ),
    ],
)
def test_bounds_beyond_the_model_are_refused_by_name(
    client: openai.OpenAI, upstream: FakeUpstream, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-audio", messages=[{"role": "user", "content": "hi"}], **extra
        )
    assert caught.value.param == param
    assert upstream.seen == []


def test_input_audio_as_a_string_is_refused_by_name(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    content = [
        {"type": "text", "text": "Listen."},
        {"type": "input_audio", "input_audio": "UklGRiQAAABXQVZF"},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-audio",
            messages=[{"role": "user", "content": content}],  # type: ignore[list-item, misc]
        )
    assert caught.value.param == "messages[0].content[1].input_audio"
    assert upstream.seen == []


@pytest.mark.parametrize("model", MODELS)
def test_the_output_bound_held_is_the_one_sent(
    client: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    row = CATALOG.get(model)
    assert row is not None
    assert row.default_output_tokens is not None
    assert upstream.bodies()[-1]["max_completion_tokens"] == row.default_output_tokens
    client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], max_completion_tokens=99
    )
    assert upstream.bodies()[-1]["max_completion_tokens"] == 99


def test_a_small_workspace_can_afford_requests_without_an_output_bound(
    served: tuple[RunningGateway, RunningSimulator], upstream: FakeUpstream
) -> None:
    """$0.05 pays for the reference's example payload and a chat completion on gpt-audio-1.5:
    each holds the default output cap's cost, not the model's whole 16,384 tokens'."""
    gateway = served[0]
    key = gateway.new_workspace(f"small-{secrets.token_hex(4)}", "0.05")
    upstream.answer = answer_with_audio(f"audio_upstream_{secrets.token_hex(6)}", tone(1.0))
    row = CATALOG.get("gpt-audio-1.5")
    assert row is not None
    message = {"role": "user", "content": "Say hello."}
    with gateway.client(key) as http:
        example = http.post("/api/v1/audio", json=row.example)
        assert example.status_code == 200, example.text
        chat = http.post("/v1/chat/completions", json={"model": row.id, "messages": [message]})
        assert chat.status_code == 200, chat.text
        records = http.get("/api/v1/usage").json()["data"]
    assert len(records) == 2
    for record in records:
        assert 0 < record["hold_micro_usd"] <= 50_000
        assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]


def test_a_malformed_usage_is_the_providers_failure_not_the_gateways(
    served: tuple[RunningGateway, RunningSimulator], upstream: FakeUpstream
) -> None:
    gateway = served[0]
    upstream.answer["usage"]["prompt_tokens"] = "thirty"
    with gateway.client() as http:
        reply = http.post(
            "/v1/chat/completions",
            json={"model": "gpt-audio", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert reply.status_code in (502, 503), reply.text
    assert "prompt_tokens" in reply.json()["error"]["message"]


def direct_clients(upstream: FakeUpstream) -> dict[str, openai.OpenAI]:
    """The official clients straight at the upstream, as OpenAI and as an Azure deployment."""
    return {
        "gpt-audio": openai.OpenAI(
            base_url=f"{upstream.base_url}/v1", api_key="sk-direct", max_retries=0
        ),
        "gpt-audio-1.5": openai.AzureOpenAI(
            azure_endpoint=upstream.base_url,
            api_key="azure-direct",
            api_version="2025-01-01-preview",
            max_retries=0,
        ),
    }


ONE_CHUNK = {
    "id": "chatcmpl-one",
    "object": "chat.completion.chunk",
    "created": 1_760_000_000,
    "model": "gpt-audio",
    "choices": [{"index": 0, "delta": {"content": "Sunny."}, "finish_reason": "stop"}],
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("model", MODELS)
def test_the_upstream_request_is_the_one_the_sdk_sends(
    client: openai.OpenAI, upstream: FakeUpstream, model: str, stream: bool
) -> None:
    """The official SDK called straight at the upstream is the oracle: through the gateway, the
    same call reaches the upstream with the same path and the same body."""
    direct = direct_clients(upstream)[model]
    upstream.events = [ONE_CHUNK]
    call: Any = {
        "model": model,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        ],
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "pcm16"},
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        "logprobs": True,
        "top_logprobs": 2,
        "temperature": 0.2,
        "seed": 7,
        "max_completion_tokens": 300,
    }
    if stream:
        call |= {"stream": True, "stream_options": {"include_usage": True}}
    for caller in (direct, client):
        answer = caller.chat.completions.create(**call)
        if stream:
            list(answer)
    [(sdk_path, sdk_body), (gateway_path, gateway_body)] = upstream.seen
    assert gateway_path == sdk_path
    assert gateway_body == sdk_body
