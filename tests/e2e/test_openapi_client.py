"""The gateway's OpenAPI document is complete enough for a generated client: openapi-python-client
(in .venv-openapi, scripts/openapi-client-setup) generates one from /openapi.json without
skipping an operation, and it calls speech, transcription and chat."""

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.audio_probe import probe
from tests.gateway_process import RunningGateway, routed_gateway

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".venv-openapi" / "bin"

# Run by the generated client's own environment: speech to WAV, that WAV transcribed, a chat.
CALLS = """
import io, json, sys
from pathlib import Path
from voxgate_client import AuthenticatedClient
from voxgate_client.api.default import (
    post_v1_audio_speech, post_v1_audio_transcriptions, post_v1_chat_completions,
)
from voxgate_client.models import (
    PostV1AudioSpeechBody, PostV1AudioTranscriptionsBody, PostV1ChatCompletionsChatCompletionBody,
    PostV1AudioTranscriptionsResponse200, PostV1ChatCompletionsResponse200,
)
from voxgate_client.types import File

base_url, key, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
client = AuthenticatedClient(base_url=base_url, token=key, timeout=60)
speech = post_v1_audio_speech.sync_detailed(client=client, body=PostV1AudioSpeechBody.from_dict(
    {"model": "gpt-4o-mini-tts", "input": "A generated client speaks.", "voice": "coral",
     "response_format": "wav"}))
(out / "speech.wav").write_bytes(speech.content)
heard = post_v1_audio_transcriptions.sync_detailed(client=client, body=PostV1AudioTranscriptionsBody(
    file=File(payload=io.BytesIO(speech.content), file_name="speech.wav", mime_type="audio/wav"),
    model="whisper-1", temperature=0.0))
chat = post_v1_chat_completions.sync_detailed(client=client,
    body=PostV1ChatCompletionsChatCompletionBody.from_dict({"model": "gpt-audio",
        "modalities": ["text"], "messages": [{"role": "user", "content": "Hello?"}]}))
print(json.dumps({
    "speech": [speech.status_code, speech.headers["content-type"]],
    "transcription": [heard.status_code, isinstance(heard.parsed, PostV1AudioTranscriptionsResponse200),
                      heard.parsed.to_dict() if heard.parsed else None],
    "chat": [chat.status_code, isinstance(chat.parsed, PostV1ChatCompletionsResponse200),
             chat.parsed.to_dict() if chat.parsed else None],
}))
"""


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    if not (TOOLS / "openapi-python-client").exists():
        pytest.skip("openapi-python-client is not installed: run scripts/openapi-client-setup")
    with routed_gateway(Path(tmp_path_factory.mktemp("openapi-client"))) as (gateway, _):
        yield gateway


def generate(spec: Path, output: Path) -> str:
    done = subprocess.run(
        [
            str(TOOLS / "openapi-python-client"),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(output),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_a_generated_client_calls_speech_transcription_and_chat(
    routed: RunningGateway, tmp_path: Path
) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_bytes(httpx.get(f"{routed.base_url}/openapi.json").content)
    package = tmp_path / "voxgate_client"
    report = generate(spec, package)
    # No operation or schema was skipped. openapi-python-client has no type for an SDP body
    # (application/sdp, which /v1/realtime/calls answers, as OpenAI's does): that operation is
    # generated without a parsed response, and is the one warning allowed.
    warnings = report.split("WARNING parsing ")[1:]
    assert all("Unsupported content_type application/sdp" in w for w in warnings), report
    assert warnings or "Warning" not in report, report
    operations = {path.stem for path in (package / "api" / "default").glob("*.py")}
    document = json.loads(spec.read_text())
    declared = {op["operationId"] for ops in document["paths"].values() for op in ops.values()}
    assert declared <= operations
    done = subprocess.run(
        [str(TOOLS / "python"), "-c", CALLS, routed.base_url, routed.key, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert answers["speech"] == [200, "audio/wav"]
    audio = probe((tmp_path / "speech.wav").read_bytes())
    assert audio.duration_seconds > 0.2
    status, parsed, transcript = answers["transcription"]
    assert (status, parsed) == (200, True) and transcript["text"]
    status, parsed, completion = answers["chat"]
    assert (status, parsed) == (200, True)
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"]
