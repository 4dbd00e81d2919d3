"""An HTTP cascade request's legs in process: each leg fails over through the gateway's one
loop, so its attempts reach the metrics, and they are on the request's one usage record beside
the chat route's."""

import base64
import io
import wave
from pathlib import Path
from typing import Any

import yaml

from voxgate.metrics import Books
from voxgate.settings import Settings
from voxgate.testing import FakeProvider, InProcessGateway

BUILT_IN = Settings().catalog_dir
SPEAKING_LOCALLY = ("local-tts", "local-voice-chat", "local-realtime")
LOCAL_ONLY_VOICES = {"joe"}
ROUTED = {
    # The embedded engine first (its voices are the rows' voices), failing here.
    "local-whisper-tiny-en": ("local", "ears-up"),
    "local-tts": ("local", "voice-up"),
    "local-voice-chat": ("chat-up",),
}


def built_in(model_id: str) -> dict[str, Any]:
    row: dict[str, Any] = yaml.safe_load((BUILT_IN / "models" / f"{model_id}.yaml").read_text())
    return row


def overlay_routes(directory: Path, routed: dict[str, tuple[str, ...]]) -> Path:
    """A catalog overlay in which each named built-in row is served by these providers, tried
    in this order. The rows that speak through the embedded engine keep only the OpenAI
    voices, which every speech route maps."""
    (directory / "models").mkdir(parents=True)
    rows = {model_id: built_in(model_id) for model_id in (*routed, *SPEAKING_LOCALLY)}
    for model_id, providers in routed.items():
        rows[model_id]["routes"] = [{"provider": p, "upstream_model": "fake"} for p in providers]
        rows[model_id]["route_order"] = "ordered"
    for model_id, row in rows.items():
        if model_id in SPEAKING_LOCALLY:
            row["voices"] = [voice for voice in row["voices"] if voice not in LOCAL_ONLY_VOICES]
            for field in row["fields"]:
                if field["name"] == "voice":
                    field["accepted"] = row["voices"]
        (directory / "models" / f"{model_id}.yaml").write_text(yaml.safe_dump(row))
    return directory


def wav_data_url(seconds: float) -> str:
    """Silence as a 16 kHz mono WAV data URL: the fakes hear whatever they are given."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(b"\0" * round(seconds * 16_000) * 2)
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


async def test_a_cascade_legs_failover_reaches_the_metrics_and_the_usage_record(
    tmp_path: Path,
) -> None:
    catalog = overlay_routes(tmp_path / "catalog", ROUTED)
    fakes = [
        FakeProvider("local", fail_with=503),
        FakeProvider("ears-up", transcript="what time is it"),
        FakeProvider("chat-up", answer="It is noon."),
        FakeProvider("voice-up"),
    ]
    async with InProcessGateway(tmp_path / "data", providers=fakes, catalog_dir=catalog) as vox:
        body = {"model": "local-voice-chat", "input": wav_data_url(0.5), "response_format": "wav"}
        response = await vox.http.post("/api/v1/audio", json=body)
        record = await vox.usage(vox.last_request_id)

        assert response.status_code == 200, response.text
        assert response.json()["data"]["input_transcript"] == "what time is it"
        assert record["status"] == "succeeded"
        assert record["provider"] == "chat-up"
        assert [(a["provider"], a["status"]) for a in record["attempts"]] == [
            ("chat-up", "ok"),
            ("local", "503"),
            ("ears-up", "ok"),
            ("local", "503"),
            ("voice-up", "ok"),
        ]
        exposition = vox.services.metrics.render(Books(holds_open=0))
        assert 'voxgate_upstream_attempts_total{provider="local",status="503"} 2.0' in exposition
        for provider in ("ears-up", "chat-up", "voice-up"):
            assert f'{{provider="{provider}",status="ok"}} 1.0' in exposition
        assert 'voxgate_failovers_total{model="local-whisper-tiny-en"} 1.0' in exposition
        assert 'voxgate_failovers_total{model="local-tts"} 1.0' in exposition


async def test_a_leg_failing_every_route_puts_each_attempt_once_on_the_failed_record(
    tmp_path: Path,
) -> None:
    catalog = overlay_routes(tmp_path / "catalog", ROUTED)
    fakes = [
        FakeProvider("local", fail_with=503),
        FakeProvider("ears-up", fail_with=500),
        FakeProvider("chat-up"),
        FakeProvider("voice-up"),
    ]
    async with InProcessGateway(tmp_path / "data", providers=fakes, catalog_dir=catalog) as vox:
        body = {"model": "local-voice-chat", "input": wav_data_url(0.5)}
        response = await vox.http.post("/api/v1/audio", json=body)
        record = await vox.usage(vox.last_request_id)

        assert response.status_code >= 500
        assert record["status"] == "failed"
        assert [(a["provider"], a["status"]) for a in record["attempts"]] == [
            ("local", "503"),
            ("ears-up", "500"),
        ]
        exposition = vox.services.metrics.render(Books(holds_open=0))
        assert 'voxgate_upstream_attempts_total{provider="ears-up",status="500"} 1.0' in exposition
        wallet = await vox.wallet()
        assert wallet.held_micro_usd == 0
