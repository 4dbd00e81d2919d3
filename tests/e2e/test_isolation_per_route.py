"""Workspace isolation, endpoint by endpoint: every route of src/voxgate/app.py that bills or
reads a workspace is called by one workspace, and the other's balance, usage listing, usage
records and keys stay exactly as they were and out of its sight.

test_workspace_isolation.py classifies every route and checks usage, balance, keys,
idempotent replays and the admin API on the unified endpoint and chat; this file runs the same
question over each billed route in turn, and over the reads with the other workspace's ids.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.gateway_process import RunningGateway, routed_gateway
from voxgate.audio.encode import encode
from voxgate.audio.pcm import PcmAudio


def tone_wav() -> bytes:
    samples = (np.sin(np.arange(16_000) * 0.05) * 8000).astype("<i2").tobytes()
    return encode(PcmAudio(samples, 16_000), "wav")


WAV = tone_wav()
SPEECH = {"model": "gpt-4o-mini-tts", "input": "Mine.", "voice": "alloy"}
REALTIME = {"type": "realtime", "model": "gpt-audio-1.5"}
# Each billed route of the app, called as its clients call it.
BILLED_CALLS: dict[str, dict[str, Any]] = {
    "/api/v1/audio": {"json": SPEECH | {"response_format": "pcm16"}},
    "/v1/audio/speech": {"json": SPEECH | {"response_format": "pcm"}},
    "/v1/audio/transcriptions": {
        "data": {"model": "whisper-1"},
        "files": {"file": ("a.wav", WAV, "audio/wav")},
    },
    "/v1/audio/translations": {
        "data": {"model": "whisper-1"},
        "files": {"file": ("a.wav", WAV, "audio/wav")},
    },
    "/v1/chat/completions": {
        "json": {"model": "gpt-audio", "messages": [{"role": "user", "content": "Mine."}]}
    },
    "/v1/realtime/client_secrets": {"json": {"session": REALTIME}},
    "/v1/realtime/sessions": {"json": {"model": "gpt-audio-1.5"}},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with routed_gateway(tmp_path_factory.mktemp("isolation-each")) as (running, _):
        yield running


@pytest.fixture(scope="module")
def keys(gateway: RunningGateway) -> tuple[str, str]:
    return gateway.new_workspace("carol", "5.00"), gateway.new_workspace("dave", "5.00")


def snapshot(gateway: RunningGateway, key: str) -> dict[str, Any]:
    """Everything a workspace can read about itself."""
    with gateway.client(key) as client:
        balance = client.get("/api/v1/balance").json()
        usage = client.get("/api/v1/usage", params={"limit": 1000}).json()["data"]
        keys = client.get("/api/v1/keys").json()["data"]
    return {
        "balance": dict(balance),
        "usage": sorted(record["request_id"] for record in usage),
        "keys": sorted((key["id"], key["last_used_at"] is None) for key in keys),
    }


@pytest.mark.parametrize("path", sorted(BILLED_CALLS))
def test_a_billed_call_touches_only_the_callers_workspace(
    gateway: RunningGateway, keys: tuple[str, str], path: str
) -> None:
    carol, dave = keys
    daves = snapshot(gateway, dave)
    carols = snapshot(gateway, carol)
    with gateway.client(carol) as client:
        response = client.post(path, **BILLED_CALLS[path])
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    assert snapshot(gateway, dave) == daves
    with gateway.client(dave) as client:
        assert client.get(f"/api/v1/usage/{request_id}").status_code == 404
        listed = client.get("/api/v1/usage", params={"limit": 1000, "format": "csv"}).text
        assert request_id not in listed
    after = snapshot(gateway, carol)
    assert after["balance"]["held_micro_usd"] == 0
    if path.startswith("/v1/realtime/"):
        return  # minting bills nothing; the session it opens is metered (test_realtime.py)
    assert request_id in after["usage"] and request_id not in carols["usage"]
    assert after["balance"]["balance_micro_usd"] < carols["balance"]["balance_micro_usd"]


def test_a_cursor_from_one_workspace_pages_only_the_others_own_records(
    gateway: RunningGateway, keys: tuple[str, str]
) -> None:
    carol, dave = keys
    for key in (dave, carol):  # Carol's cursor then points past Dave's record
        with gateway.client(key) as client:
            assert client.post("/api/v1/audio", **BILLED_CALLS["/api/v1/audio"]).status_code == 200
    with gateway.client(carol) as client:
        page = client.get("/api/v1/usage", params={"limit": 1}).json()
    assert page["next"]
    carols = set(snapshot(gateway, carol)["usage"])
    with gateway.client(dave) as client:
        paged = client.get("/api/v1/usage", params={"limit": 1000, "after": page["next"]})
    assert paged.status_code == 200, paged.text
    seen = {record["request_id"] for record in paged.json()["data"]}
    assert seen and not seen & carols


def test_an_idempotency_key_on_each_route_replays_only_for_its_workspace(
    gateway: RunningGateway, keys: tuple[str, str]
) -> None:
    carol, dave = keys
    headers = {"idempotency-key": "isolation-speech-1"}
    call = BILLED_CALLS["/v1/audio/speech"]
    with gateway.client(carol) as client:
        first = client.post("/v1/audio/speech", headers=headers, **call)
    assert first.status_code == 200, first.text
    daves = snapshot(gateway, dave)
    with gateway.client(dave) as client:
        other = client.post("/v1/audio/speech", headers=headers, **call)
    assert other.status_code == 200, other.text
    assert "idempotent-replayed" not in other.headers
    assert other.headers["x-request-id"] != first.headers["x-request-id"]
    # Dave paid for his own request: his record, his charge; Carol's record stays hers.
    after = snapshot(gateway, dave)
    assert other.headers["x-request-id"] in after["usage"]
    assert first.headers["x-request-id"] not in after["usage"]
    assert after["balance"]["balance_micro_usd"] < daves["balance"]["balance_micro_usd"]


@pytest.mark.parametrize(
    "path",
    ["/api/v1/usage/{rid}", "/api/v1/usage/{rid}/", "/api/v1/usage/{rid}%20", "/api/v1/usage/%25"],
)
def test_usage_records_are_not_found_under_another_workspace_in_any_spelling(
    gateway: RunningGateway, keys: tuple[str, str], path: str
) -> None:
    carol, dave = keys
    with gateway.client(carol) as client:
        spent = client.post("/api/v1/audio", **BILLED_CALLS["/api/v1/audio"])
    url = path.format(rid=spent.headers["x-request-id"])
    with gateway.client(dave) as client:
        response = client.get(url)
    assert response.status_code in (404, 307), response.text
    if response.status_code == 404:
        assert response.json()["error"]["type"] == "invalid_request_error"
    with httpx.Client(base_url=gateway.base_url) as anonymous:
        assert anonymous.get(url).status_code in (401, 404, 307)
