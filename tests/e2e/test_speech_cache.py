"""The speech cache over sockets: a real gateway, the provider simulator and the official
openai client. A workspace that opted in is answered its repeated speech from the cache (the
simulator sees one request) at the configured cache price; no other workspace hears it, and a
workspace that did not opt in never caches."""

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway

TEXT = "One moment, please, while I look that up."
# $3.00 per million characters: 3 micro-USD a character.
CACHE_PRICE = 3_000_000


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = Path(tmp_path_factory.mktemp("speech-cache"))
    price = {"VOXGATE_SPEECH_CACHE_PRICE_PER_MILLION_CHARACTERS": str(CACHE_PRICE)}
    with routed_gateway(root, **price) as pair:
        yield pair


def workspace(gateway: RunningGateway, *, speech_cache: bool) -> tuple[str, OpenAI, str]:
    """A new workspace with its key, the cache turned on through the admin API if asked."""
    with gateway.admin() as admin:
        name = f"cache-{secrets.token_hex(4)}"
        created = admin.post("/admin/v1/workspaces", json={"name": name, "credit_usd": "5"})
        workspace_id = created.json()["id"]
        assert created.json()["speech_cache"] is False
        key = admin.post(f"/admin/v1/workspaces/{workspace_id}/keys", json={"name": "t"}).json()
        if speech_cache:
            changed = admin.patch(
                f"/admin/v1/workspaces/{workspace_id}", json={"speech_cache": True}
            )
            assert changed.status_code == 200, changed.text
            assert changed.json()["speech_cache"] is True
    client = OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key["secret"], max_retries=0)
    return key["secret"], client, workspace_id


def speak(client: OpenAI, **fields: Any) -> tuple[bytes, str]:
    """The audio of one speech request and its request id."""
    response = client.audio.speech.with_raw_response.create(
        **{"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "mp3", **fields}
    )
    return response.content, response.headers["x-request-id"]


def record(gateway: RunningGateway, key: str, request_id: str) -> dict[str, Any]:
    with gateway.client(key) as client:
        response = client.get(f"/api/v1/usage/{request_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_a_repeated_request_is_answered_from_the_cache_at_its_price(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    key, client, _ = workspace(gateway, speech_cache=True)
    sim.reset()

    first, first_id = speak(client)
    second, second_id = speak(client)
    missed, hit = record(gateway, key, first_id), record(gateway, key, second_id)

    assert len(sim.requests()) == 1
    assert second == first and first.startswith((b"ID3", b"\xff"))
    assert missed["cached"] is False and missed["provider"] is not None
    assert hit["cached"] is True and hit["provider"] is None
    assert hit["charged_micro_usd"] == len(TEXT) * CACHE_PRICE // 1_000_000
    assert hit["charged_micro_usd"] <= hit["hold_micro_usd"]
    assert hit["audio_milliseconds"] == missed["audio_milliseconds"] > 0


def test_a_cached_answer_streams_to_the_official_client(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    _, client, _ = workspace(gateway, speech_cache=True)
    whole, _ = speak(client, response_format="wav")
    sim.reset()

    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="wav"
    ) as response:
        streamed = b"".join(response.iter_bytes(4096))
    plain = client.audio.speech.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="wav"
    )

    assert streamed == whole == plain.content
    assert sim.requests() == []


def test_another_workspace_is_not_answered_from_the_first_ones_cache(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    _, first, _ = workspace(gateway, speech_cache=True)
    other_key, other, _ = workspace(gateway, speech_cache=True)
    speak(first)
    sim.reset()

    _, request_id = speak(other)

    assert len(sim.requests()) == 1
    assert record(gateway, other_key, request_id)["cached"] is False


def test_a_workspace_with_the_cache_off_never_caches(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    key, client, _ = workspace(gateway, speech_cache=False)
    sim.reset()

    ids = [speak(client)[1] for _ in range(2)]

    assert len(sim.requests()) == 2
    assert [record(gateway, key, request_id)["cached"] for request_id in ids] == [False, False]


def test_a_workspace_setting_is_checked_and_changed_only_by_an_admin_token(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = routed
    key, _, workspace_id = workspace(gateway, speech_cache=False)
    path = f"/admin/v1/workspaces/{workspace_id}"
    with gateway.admin() as admin:
        refused = admin.patch(path, json={"speech_cache": "sometimes"})
        unknown = admin.patch(path, json={"speech_cash": True})
        unchanged = admin.get(path).json()
    with gateway.client(key) as client:
        not_admin = client.patch(path, json={"speech_cache": True})

    assert refused.status_code == 400 and refused.json()["error"]["param"] == "speech_cache"
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "speech_cash"
    assert unchanged["speech_cache"] is False
    assert not_admin.status_code == 401


def test_the_command_line_turns_a_workspaces_cache_on(
    routed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = routed
    # A key the gateway has not seen yet, so it reads the workspace's setting on first use.
    key, client, workspace_id = workspace(gateway, speech_cache=False)
    env = {name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")}
    done = subprocess.run(
        [sys.executable, "-m", "voxgate", "workspaces", "speech-cache", workspace_id, "--on"],
        capture_output=True,
        text=True,
        env={**env, "VOXGATE_DATA_DIR": str(gateway.data_dir)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("speech cache on")
    sim.reset()

    ids = [speak(client)[1] for _ in range(2)]

    assert len(sim.requests()) == 1
    assert record(gateway, key, ids[1])["cached"] is True
