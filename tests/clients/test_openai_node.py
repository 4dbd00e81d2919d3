"""The official openai npm package against the gateway; what it returns is then held to the
openai Python package's models as well."""

import base64
from typing import Any

import pytest
from openai.types.audio import (
    TranscriptionStreamEvent,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from tests.audio_probe import probe, probe_pcm16
from tests.clients.conftest import (
    Served,
    assert_heard,
    needs_node_sdk,
    run_node_client,
    succeeded,
)
from voxgate.simulator.chat import AUDIO_ID
from voxgate.simulator.engine import FAST_TRANSCRIPT

pytestmark = needs_node_sdk


@pytest.fixture(scope="module")
def results(served: Served) -> dict[str, Any]:
    return run_node_client("client.mjs", served)


def test_speech_as_mp3(results: dict[str, Any]) -> None:
    answer = succeeded(results, "speech_binary")
    assert answer["content_type"] == "audio/mpeg"
    found = probe(base64.b64decode(answer["audio"]))
    assert found.codec == "mp3float" and found.sample_rate == 24_000
    assert found.duration_seconds > 0.5 and found.peak > 0.05


def test_speech_as_server_sent_events(results: dict[str, Any]) -> None:
    answer = succeeded(results, "speech_events")
    assert answer["content_type"].startswith("text/event-stream")
    *deltas, done = answer["events"]
    assert deltas and all(event["type"] == "speech.audio.delta" for event in deltas)
    found = probe_pcm16(b"".join(base64.b64decode(event["audio"]) for event in deltas))
    assert found.duration_seconds > 0.5 and found.peak > 0.05
    assert done["type"] == "speech.audio.done"
    usage = done["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_transcription_with_word_timestamps(results: dict[str, Any]) -> None:
    verbose = TranscriptionVerbose.model_validate(succeeded(results, "transcription"))
    assert verbose.text == FAST_TRANSCRIPT and verbose.language == "en"
    assert [word.word for word in verbose.words or []] == FAST_TRANSCRIPT.split()
    # Word times come rounded to the millisecond; the duration is not.
    last_end = verbose.duration + 0.001
    assert all(0 <= word.start <= word.end <= last_end for word in verbose.words or [])


def test_streamed_transcription(results: dict[str, Any]) -> None:
    raw = succeeded(results, "transcription_streamed")["events"]
    events = [TypeAdapter(TranscriptionStreamEvent).validate_python(event) for event in raw]
    *deltas, done = events
    assert isinstance(done, TranscriptionTextDoneEvent)
    assert all(isinstance(delta, TranscriptionTextDeltaEvent) for delta in deltas)
    assert_heard(done.text)
    # The deltas spell the final text (spacing between pieces aside).
    spelled = "".join(delta.delta for delta in deltas)
    assert not deltas or spelled.split() == done.text.split()


def test_an_unknown_model_is_the_sdks_not_found_error(results: dict[str, Any]) -> None:
    outcome = results["unknown_model"]
    assert "error" in outcome, outcome
    error = outcome["error"]
    assert (error["type"], error["status"]) == ("NotFoundError", 404)
    assert error["body"]["param"] == "model" and "no-such-model" in error["body"]["message"]


def test_audio_chat(results: dict[str, Any]) -> None:
    completion = ChatCompletion.model_validate(succeeded(results, "chat"))
    [choice] = completion.choices
    assert choice.finish_reason == "stop" and completion.model == "gpt-audio"
    audio = choice.message.audio
    assert audio is not None and audio.id and audio.transcript
    found = probe(base64.b64decode(audio.data))
    assert found.codec == "pcm_s16le" and found.duration_seconds > 0.5 and found.peak > 0.05
    assert completion.usage is not None
    details = completion.usage.completion_tokens_details
    assert details is not None and details.audio_tokens


def test_a_second_turn_refers_to_the_first_answers_audio(
    results: dict[str, Any], served: Served
) -> None:
    second = ChatCompletion.model_validate(succeeded(results, "chat_second_turn"))
    assert second.choices[0].message.audio is not None
    # Upstream, the reference is the id the provider itself gave the first answer. (Other
    # clients' tests share the simulator and send assistant turns of their own, without audio.)
    references = [
        message["audio"]
        for request in served.simulator.requests()
        if request["path"].endswith("/chat/completions")
        for message in (request["body"] or {}).get("messages", [])
        if message.get("role") == "assistant" and "audio" in message
    ]
    assert references == [{"id": AUDIO_ID}]


def test_streamed_audio_chat(results: dict[str, Any]) -> None:
    raw = succeeded(results, "chat_streamed")["chunks"]
    chunks = [ChatCompletionChunk.model_validate(chunk) for chunk in raw]
    deltas = [choice.delta for chunk in chunks for choice in chunk.choices]
    audio = [delta.audio for delta in deltas if delta.audio]
    pcm = b"".join(base64.b64decode(piece.data) for piece in audio if piece.data)
    found = probe_pcm16(pcm)
    assert found.duration_seconds > 0.5 and found.peak > 0.05
    # The same prompt, unary and streamed, on the same upstream: the same words.
    transcript = "".join(piece.transcript or "" for piece in audio)
    unary = ChatCompletion.model_validate(succeeded(results, "chat")).choices[0].message.audio
    assert unary is not None and transcript.strip() == unary.transcript.strip()
    finishes = [choice.finish_reason for chunk in chunks for choice in chunk.choices]
    assert [reason for reason in finishes if reason] == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.audio_tokens
