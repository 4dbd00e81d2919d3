"""Audio that names a file on the server is refused at the door: the file is never read back."""

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway_process import RunningGateway, routed_gateway

PLANTED = "recordings/call-0001.wav"
SECRET_SENTENCE = "The board meeting moved to Thursday afternoon."
SECRET_WORDS = ("meeting", "thursday", "afternoon")


def payloads(name: str) -> dict[str, bytes]:
    return {
        "ffconcat": f"ffconcat version 1.0\nfile '{name}'\n".encode(),
        "hls": f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{name}\n#EXT-X-ENDLIST\n".encode(),
        "image2-pattern": f"ffconcat version 1.0\nfile '{name}%d'\n".encode(),
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, Path]]:
    """A gateway whose working directory holds a recording of speech, as a server's might."""
    root = tmp_path_factory.mktemp("file-read")
    workdir = root / "cwd"
    (workdir / "recordings").mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)  # the processes started below inherit it
        with routed_gateway(root) as (gateway, _):
            with gateway.client() as client:
                spoken = client.post(
                    "/api/v1/audio",
                    json={"model": "local-tts", "input": SECRET_SENTENCE, "response_format": "wav"},
                )
            assert spoken.status_code == 200, spoken.text
            (workdir / PLANTED).write_bytes(base64.b64decode(spoken.json()["data"]["audio_base64"]))
            yield gateway, workdir


def assert_refused_without_secret(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] in {"input", "file"}
    assert not any(word in response.text.lower() for word in SECRET_WORDS)
    assert "call-0001" not in response.text


def test_the_planted_recording_is_speech_the_gateway_would_transcribe(
    server: tuple[RunningGateway, Path],
) -> None:
    """The control: sent as audio, the planted file is transcribed, so a leak would show."""
    gateway, workdir = server
    audio = base64.b64encode((workdir / PLANTED).read_bytes()).decode()
    with gateway.client() as client:
        heard = client.post(
            "/api/v1/audio", json={"model": "local-whisper-tiny-en", "input": audio}
        )
    assert heard.status_code == 200, heard.text
    # Piper's noise can blur one word; the recording is recognisable by any of them.
    assert any(word in heard.text.lower() for word in SECRET_WORDS), heard.text


@pytest.mark.parametrize("kind", ["ffconcat", "hls", "image2-pattern"])
def test_unified_speech_to_text_never_reads_the_file(
    server: tuple[RunningGateway, Path], kind: str
) -> None:
    gateway, _ = server
    body = base64.b64encode(payloads(PLANTED)[kind]).decode()
    with gateway.client() as client:
        response = client.post(
            "/api/v1/audio", json={"model": "local-whisper-tiny-en", "input": body}
        )
    assert_refused_without_secret(response)


@pytest.mark.parametrize("model", ["whisper-1", "local-whisper-tiny-en"])
@pytest.mark.parametrize("kind", ["ffconcat", "hls", "image2-pattern"])
def test_openai_transcriptions_never_read_the_file(
    server: tuple[RunningGateway, Path], kind: str, model: str
) -> None:
    gateway, _ = server
    with gateway.client() as client:
        response = client.post(
            "/v1/audio/transcriptions",
            data={"model": model},
            files={"file": ("call.wav", payloads(PLANTED)[kind], "audio/wav")},
        )
    assert_refused_without_secret(response)


def test_an_existing_path_and_a_missing_one_get_the_same_answer(
    server: tuple[RunningGateway, Path],
) -> None:
    gateway, _ = server
    answers = []
    for name in (PLANTED, "recordings/no-such-call.wav"):
        body = base64.b64encode(payloads(name)["ffconcat"]).decode()
        with gateway.client() as client:
            response = client.post(
                "/api/v1/audio", json={"model": "local-whisper-tiny-en", "input": body}
            )
        answers.append((response.status_code, response.json()["error"]["message"]))
    assert answers[0] == answers[1]
