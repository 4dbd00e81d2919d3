"""The simulator keeps to the bounds a request sets on its answer, as the real APIs do, unless
it is queued the `uncapped` fault (or called with a `fail-uncapped` key): then it answers past
them, as a provider that ignores its caps would. Judged by the `openai` and `google-genai`
packages' own types."""

from typing import Any

import openai
from google import genai
from google.genai import types

from tests.gateway_process import RunningSimulator

KEY = "caps-key"
# Typed loosely: the SDK's own parameter types are not what these tests check.
SPOKEN: Any = {"voice": "alloy", "format": "pcm16"}
TEXT = "Read this aloud: one two three four five six seven eight nine ten."
MESSAGES: Any = [{"role": "user", "content": TEXT}]


def chat(sim: RunningSimulator, key: str, cap: int) -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(api_key=key, base_url=f"{sim.base_url}/v1", max_retries=0)
    return client.chat.completions.create(
        model="gpt-audio",
        modalities=["text", "audio"],
        audio=SPOKEN,
        messages=MESSAGES,
        max_completion_tokens=cap,
    )


def test_an_honest_chat_answer_is_cut_at_its_cap(sim: RunningSimulator) -> None:
    answer = chat(sim, KEY, 8)
    assert answer.usage is not None and answer.usage.completion_tokens <= 8
    assert answer.choices[0].finish_reason == "length"


def test_an_uncapped_chat_answer_runs_past_its_cap(sim: RunningSimulator) -> None:
    sim.queue_faults(KEY, {"kind": "uncapped"})
    answer = chat(sim, KEY, 8)
    assert answer.usage is not None and answer.usage.completion_tokens > 8
    assert answer.choices[0].finish_reason == "stop"
    # The fault is used up: the next answer keeps to its cap again.
    assert chat(sim, KEY, 8).usage.completion_tokens <= 8  # type: ignore[union-attr]


def test_a_fail_uncapped_key_always_runs_past_its_cap(sim: RunningSimulator) -> None:
    for _ in range(2):
        answer = chat(sim, "fail-uncapped", 8)
        assert answer.usage is not None and answer.usage.completion_tokens > 8


def gemini_speech(sim: RunningSimulator, key: str, cap: int) -> types.GenerateContentResponse:
    client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=sim.base_url))
    voice = types.VoiceConfig(prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Kore"))
    return client.models.generate_content(
        model="gemini-2.5-flash-preview-tts",
        contents=TEXT,
        config=types.GenerateContentConfig(
            response_modalities=["AUDIO"],
            speech_config=types.SpeechConfig(voice_config=voice),
            max_output_tokens=cap,
        ),
    )


def test_gemini_speech_is_cut_at_max_output_tokens_unless_uncapped(sim: RunningSimulator) -> None:
    honest = gemini_speech(sim, KEY, 10)
    assert honest.usage_metadata is not None and honest.usage_metadata.candidates_token_count == 10
    assert honest.candidates and honest.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    sim.queue_faults(KEY, {"kind": "uncapped"})
    uncapped = gemini_speech(sim, KEY, 10)
    assert uncapped.usage_metadata is not None
    assert (uncapped.usage_metadata.candidates_token_count or 0) > 10
