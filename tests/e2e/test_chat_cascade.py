"""/v1/chat/completions on the local-voice-chat cascade: the embedded Whisper hears the question,
a text model answers (here the test's own upstream, as any OpenAI-compatible server would), and
the embedded Piper voice speaks the answer, a sentence at a time when streamed.

The official `openai` package calls the gateway; the audio is judged by decoding it.
"""

import base64
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.audio_probe import probe, probe_pcm16, word_error_rate
from tests.e2e.test_chat_passthrough import GATE_SECONDS, FakeUpstream, serve
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway

ANSWER = "Paris is the capital of France. It sits on the river Seine!"
SENTENCES = ["Paris is the capital of France.", "It sits on the river Seine!"]
QUESTION = "What is the capital of France?"
USAGE = {"prompt_tokens": 20, "completion_tokens": 14, "total_tokens": 34}


def text_answer(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-text-model",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "llama3.2",
        "system_fingerprint": "fp_text_model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }


def text_chunks(text: str, size: int) -> list[dict[str, Any]]:
    """The answer streamed in pieces of `size` characters, cut mid-word and mid-sentence."""

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> Any:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {
            "id": "chatcmpl-text-model",
            "object": "chat.completion.chunk",
            "created": 1_760_000_000,
            "model": "llama3.2",
            "choices": choices,
            **extra,
        }

    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    return [
        chunk({"role": "assistant", "content": ""}),
        *(chunk({"content": piece}) for piece in pieces),
        chunk({}, "stop"),
        chunk(None, usage=USAGE),
    ]


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
        tmp_path_factory.mktemp("cascade"),
        VOXGATE_CASCADE_CHAT_BASE_URL=f"{upstream.base_url}/v1",
        # The upstream's whole stream is timed, and it stays open while Piper loads and speaks.
        VOXGATE_UPSTREAM_TIMEOUT_SECONDS="60",
    ) as served:
        yield served


@pytest.fixture(scope="module")
def client(served: tuple[RunningGateway, RunningSimulator]) -> openai.OpenAI:
    gateway, _ = served
    key = gateway.new_workspace(f"cascade-{secrets.token_hex(4)}", "5.00")
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


@pytest.fixture(autouse=True)
def fresh(upstream: FakeUpstream) -> Iterator[None]:
    upstream.seen.clear()
    upstream.answer = text_answer(ANSWER)
    upstream.events = text_chunks(ANSWER, size=7)
    upstream.gate = None
    yield
    if upstream.gate is not None:  # a failed test must not leave the upstream waiting
        upstream.gate.set()


def ask(client: openai.OpenAI, messages: Any, **extra: Any) -> Any:
    return client.chat.completions.create(
        model="local-voice-chat",
        modalities=["text", "audio"],
        messages=messages,
        **extra,
    )


def test_the_answer_is_spoken_and_its_id_reads_back_on_the_next_turn(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    question = {"role": "user", "content": QUESTION}
    first: ChatCompletion = ask(client, [question], audio={"voice": "alloy", "format": "wav"})
    ChatCompletion.model_validate(first.model_dump())
    audio = first.choices[0].message.audio
    assert audio is not None and audio.transcript == ANSWER
    spoken = probe(base64.b64decode(audio.data))
    assert spoken.codec == "pcm_s16le" and spoken.duration_seconds > 2
    assert first.system_fingerprint == "fp_text_model"  # the text model's answer, passed on
    reference = {"role": "assistant", "audio": {"id": audio.id}}
    ask(
        client,
        [question, reference, {"role": "user", "content": "And of Italy?"}],
        audio={"voice": "alloy", "format": "mp3"},
    )
    sent = upstream.bodies()[-1]["messages"]
    assert sent[1] == {"role": "assistant", "content": ANSWER}


def test_an_unknown_audio_id_is_refused_by_name(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    reference = {"role": "assistant", "audio": {"id": "audio_abc123"}}
    with pytest.raises(openai.BadRequestError) as refused:
        ask(client, [reference], audio={"voice": "alloy", "format": "wav"})
    assert refused.value.param == "messages[0].audio.id"
    assert upstream.seen == []


def test_a_streamed_answer_is_spoken_a_sentence_at_a_time(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    stream = ask(
        client,
        [{"role": "user", "content": QUESTION}],
        audio={"voice": "coral", "format": "pcm16"},
        stream=True,
        stream_options={"include_usage": True},
    )
    spoken: list[tuple[str, bytes]] = []
    ids, usage = [], None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            audio = choice.delta.audio
            if audio is not None and audio.data:
                spoken.append((audio.transcript or "", base64.b64decode(audio.data)))
            if audio is not None and audio.id:
                ids.append(audio.id)
    assert [text for text, _ in spoken] == SENTENCES
    for _, pcm in spoken:
        assert probe_pcm16(pcm).duration_seconds > 1
    assert len(ids) == 1 and usage is not None and usage.total_tokens == 34
    assert upstream.bodies()[-1]["stream"] is True


def test_a_spoken_question_is_heard(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    wav = client.audio.speech.create(
        model="local-tts", voice="alloy", input=QUESTION, response_format="wav"
    ).read()
    content = [
        {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(wav).decode(), "format": "wav"},
        }
    ]
    answer = ask(
        client, [{"role": "user", "content": content}], audio={"voice": "alloy", "format": "wav"}
    )
    assert answer.choices[0].message.audio is not None
    [part] = upstream.bodies()[-1]["messages"][0]["content"]
    assert part["type"] == "text" and word_error_rate(QUESTION, part["text"]) <= 0.2


def test_the_first_sentence_is_heard_while_the_text_model_is_still_answering(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    """The text model holds the rest of its answer once the first sentence is whole (and one
    piece more); its speech must reach the client before the rest is released."""
    first_sentence_pieces = -(-len(SENTENCES[0]) // 7)
    upstream.gate = gate = threading.Event()
    upstream.gate_after = 1 + first_sentence_pieces + 1
    stream = ask(
        client,
        [{"role": "user", "content": QUESTION}],
        audio={"voice": "alloy", "format": "pcm16"},
        stream=True,
        # Shorter than the upstream's wait: a gateway that waited for the whole answer fails.
        timeout=GATE_SECONDS / 2,
    )
    chunks = iter(stream)
    first_audio = next(c for c in chunks if c.choices and c.choices[0].delta.audio)
    assert not gate.is_set()
    assert first_audio.choices[0].delta.audio is not None
    assert first_audio.choices[0].delta.audio.transcript == SENTENCES[0]
    gate.set()
    rest = [c.choices[0].delta.audio for c in chunks if c.choices and c.choices[0].delta.audio]
    assert [a.transcript for a in rest if a and a.data] == SENTENCES[1:]


def test_audio_that_does_not_decode_is_refused_by_name_before_any_route(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    not_audio = base64.b64encode(b"RIFF\x00\x00\x00\x00WAVE plain text").decode()
    content = [{"type": "input_audio", "input_audio": {"data": not_audio, "format": "wav"}}]
    with pytest.raises(openai.BadRequestError) as refused:
        ask(
            client,
            [{"role": "user", "content": content}],
            audio={"voice": "alloy", "format": "wav"},
        )
    assert refused.value.param == "messages[0].content[0].input_audio.data"
    assert upstream.seen == []
