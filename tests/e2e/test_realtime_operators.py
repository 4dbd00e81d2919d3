"""Realtime is visible to operators (issue 26): one access line per session (duration,
responses, audio in and out, cost, close code) and session counts, durations and close codes
in /metrics."""

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_realtime import local_turn, question_pcm
from tests.e2e.test_realtime_money import SECOND, append, connect, manual_turns, settled, until
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    env = {"VOXGATE_LOG_FORMAT": "json"}
    with routed_gateway(tmp_path_factory.mktemp("rt-operators"), **env) as served:
        yield served


def session_lines(gateway: RunningGateway) -> list[dict[str, Any]]:
    """The realtime access lines written so far (whole lines only)."""
    lines = gateway.output.read_text(errors="replace").split("\n")[:-1]
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    return [
        line
        for line in parsed
        if line.get("logger") == "voxgate.access" and line.get("path") == "/v1/realtime"
    ]


def sessions_ended(gateway: RunningGateway, close_code: str) -> float:
    text = httpx.get(f"{gateway.base_url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "voxgate_realtime_sessions_total"
        and sample.labels == {"model": "gpt-audio-1.5", "close_code": close_code}
    )


def test_a_session_writes_one_access_line_and_its_metrics(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-ops-{secrets.token_hex(4)}", "1.00")
    before = sessions_ended(gateway, "1000")

    async def two_turns() -> list[dict[str, Any]]:
        done = []
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            for _ in range(2):
                await append(socket, SECOND)
                await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
                await socket.send(json.dumps({"type": "response.create"}))
                done.append(await until(socket, "response.done"))
        return done

    responses = asyncio.run(two_turns())
    spent = 1_000_000 - settled(gateway, key)["balance_micro_usd"]
    deadline = time.monotonic() + 30
    while not (lines := session_lines(gateway)) and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = lines
    assert (line["status"], line["method"], line["model"]) == (101, "WEBSOCKET", "gpt-audio-1.5")
    assert line["responses"] == len(responses) == 2
    assert line["audio_in_seconds"] == 2.0
    assert line["audio_out_seconds"] > 0
    assert line["cost_micro_usd"] == spent > 0
    assert line["close_code"] == 1000
    assert line["latency_ms"] > 0
    assert sessions_ended(gateway, "1000") == before + 1
    # Each turn was ended by the client's commit: its stages are on the line.
    assert line["transcript_p50_ms"] > 0 and line["first_token_p50_ms"] > 0
    assert 0 < line["first_audio_p50_ms"] <= line["speech_to_audio_p50_ms"]
    assert 0 < line["setup_upstream_connected_ms"] <= line["setup_session_created_ms"]


def stage_counts(gateway: RunningGateway, model: str) -> dict[str, float]:
    """Each realtime histogram's count for `model`, by its stage or set-up step."""
    text = httpx.get(f"{gateway.base_url}/metrics").text
    return {
        sample.labels.get("stage") or sample.labels["step"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name
        in ("voxgate_realtime_stage_seconds_count", "voxgate_realtime_setup_seconds_count")
        and sample.labels["model"] == model
    }


def test_a_spoken_local_turn_is_timed_stage_by_stage(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    """One spoken turn on the local cascade, its end found by the server's VAD: each stage is
    counted in /metrics and its median is on the session's access line, in chain order."""
    gateway, _ = served
    key = gateway.new_workspace(f"rt-stages-{secrets.token_hex(4)}", "1.00")
    pcm = question_pcm(gateway, key)
    url = "ws" + gateway.base_url.removeprefix("http") + "/v1/realtime?model=local-realtime"
    events = asyncio.run(local_turn(url, key, pcm))
    assert events[-1]["response"]["status"] == "completed"
    deadline = time.monotonic() + 30
    while not (lines := local_lines(gateway)) and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = lines
    heard, answered = line["transcript_p50_ms"], line["first_token_p50_ms"]
    spoken, whole = line["first_audio_p50_ms"], line["speech_to_audio_p50_ms"]
    assert min(heard, answered, spoken) > 0
    assert whole >= max(heard, answered, spoken)
    assert line["setup_session_created_ms"] > 0
    assert "setup_upstream_connected_ms" not in line  # nothing is relayed
    counts = stage_counts(gateway, "local-realtime")
    assert counts == {
        "transcript": 1,
        "first_token": 1,
        "first_audio": 1,
        "speech_to_audio": 1,
        "session_created": 1,
    }


def local_lines(gateway: RunningGateway) -> list[dict[str, Any]]:
    return [line for line in session_lines(gateway) if line["model"] == "local-realtime"]
