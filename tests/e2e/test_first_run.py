"""The README's main job: a fresh gateway prints a key and a curl line that returns audio."""

import base64
import json
import subprocess

from tests.audio_probe import probe
from tests.e2e.conftest import RunningGateway, curl_argv


def test_printed_curl_line_returns_decodable_audio(gateway: RunningGateway) -> None:
    assert "workspace 'default' created with $5.000000 of credit" in gateway.output.read_text()
    done = subprocess.run(
        curl_argv(gateway.curl_line), capture_output=True, check=True, timeout=120
    )
    reply = json.loads(done.stdout)
    assert reply["object"] == "audio.speech"
    assert reply["data"]["content_type"] == "audio/mpeg"
    audio = probe(base64.b64decode(reply["data"]["audio_base64"]))
    assert audio.codec == "mp3float"  # FFmpeg's MP3 decoder
    assert audio.duration_seconds > 0.5
    assert audio.peak > 0.05, "the audio is silent"


def test_health_and_readiness_carry_request_ids(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        for path in ("/healthz", "/readyz"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["x-request-id"].startswith("req_")
        assert client.get("/readyz").json()["database"] is True
