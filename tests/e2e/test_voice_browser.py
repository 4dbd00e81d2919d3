"""The console's voice page in headless Chromium: a WAV is its microphone, it calls the gateway
over WebRTC on `local-realtime`, holds a two-turn conversation, and the answer it heard (its
recording, downloaded as a person would) is the answer the model gave."""

import base64
import secrets
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audio_probe import word_recall
from tests.e2e.test_console_browser import CHROMIUM, FLAGS, sign_in
from tests.e2e.test_realtime import question_pcm
from tests.gateway_process import RunningGateway, RunningSimulator, routed_gateway

playwright_api = pytest.importorskip("playwright.sync_api")

# Chromium loops its fake microphone's file: the pause lets each answer end before the question
# is asked again.
PAUSE_SECONDS = 25
TWO_TURNS_MS = 300_000


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    with routed_gateway(tmp_path_factory.mktemp("voice"), fast=False) as served:
        yield served


def microphone_file(path: Path, pcm: bytes) -> Path:
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(24_000)
        file.writeframes(pcm + bytes(2 * 24_000 * PAUSE_SECONDS))
    return path


def test_the_voice_page_holds_a_two_turn_conversation_over_webrtc(
    served: tuple[RunningGateway, RunningSimulator], tmp_path: Path
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"voice-{secrets.token_hex(4)}", "1.00")
    wav = microphone_file(tmp_path / "question.wav", question_pcm(gateway, key))
    flags = [
        *FLAGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            page = browser.new_page(accept_downloads=True)
            page.goto(f"{gateway.base_url}/console/voice")
            page.fill("#voice-key", key)
            page.select_option("#voice-model", "local-realtime")
            page.click("#voice-start")
            page.wait_for_selector('#voice[data-answers-heard="2"]', timeout=TWO_TURNS_MS)
            assert page.locator("#voice-error").is_hidden()
            said = page.locator("#voice-transcript li.assistant").all_inner_texts()
            page.click("#voice-stop")
            with page.expect_download() as downloading:
                page.click("#voice-recording")
            recording = Path(downloading.value.path()).read_bytes()
        finally:
            browser.close()
    answers = [line.split(" ", 1)[1] for line in said[:2]]
    assert all(answer.startswith("The simulator heard:") for answer in answers)
    # The recording holds both answers. The second repeats the first many times over, which
    # Whisper tiny often hears once; after Opus it mishears up to three short words of each
    # answer's eight ("heard" as "hurt", "time" as "timed", "does" as "as", the more so on a
    # loaded machine), so the first answer is known by most of its words being in the
    # recording, not by their order.
    heard = transcribed(gateway, key, recording).lower()
    assert heard.count("simulator") >= 2, (answers, heard)
    assert word_recall(answers[0], heard) >= 0.6, (answers, heard)


def test_a_signed_in_workspace_key_talks_without_pasting_it(
    served: tuple[RunningGateway, RunningSimulator], tmp_path: Path
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"voice-in-{secrets.token_hex(4)}", "1.00")
    wav = microphone_file(tmp_path / "silence.wav", b"")
    flags = [
        *FLAGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ]
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            page = browser.new_page()
            sign_in(page, gateway, key)
            page.click("nav.site a[href='/console/voice']")
            assert page.locator("#voice-key").count() == 0
            page.click("#voice-start")
            # The secret was minted by the console for the signed-in key, and the call connected.
            page.wait_for_selector('#voice-status[data-state="live"]', timeout=60_000)
            page.click("#voice-stop")
            page.wait_for_selector('#voice-status[data-state="ended"]')
            assert page.locator("#voice-error").is_hidden()
        finally:
            browser.close()
    with gateway.client(key) as client:
        records = client.get("/api/v1/usage").json()["data"]
    assert {"realtime_secret", "realtime"} <= {record["task"] for record in records}


def transcribed(gateway: RunningGateway, key: str, webm: bytes) -> str:
    with gateway.client(key) as client:
        spoken = client.post(
            "/api/v1/audio",
            json={
                "model": "local-whisper-tiny-en",
                "input": "data:audio/webm;base64," + base64.b64encode(webm).decode(),
            },
        )
    assert spoken.status_code == 200, spoken.text
    text: str = spoken.json()["data"]["text"]
    return text
