"""The speech cache in process (voxgate.testing): its key, and the request path that serves a
workspace's repeated speech from it at the cache price, without calling a provider."""

import asyncio
import base64
import functools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from voxgate.api.console.session import COOKIE, csrf_token, encode, session_key, sign_in
from voxgate.catalog.loader import Catalog, load_catalog
from voxgate.errors import UpstreamFailedError
from voxgate.gateway.speech import SpeechJob
from voxgate.gateway.speech_cache import cache_key
from voxgate.gateway.validation import UnifiedRequest
from voxgate.settings import Settings
from voxgate.testing import FakeProvider, InProcessGateway

TEXT = "One moment, please."
# $2.50 per million characters: 2.5 micro-USD a character.
CACHE_PRICE = 2_500_000
SPEECH = {"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "pcm16"}
CACHE_COST = (len(TEXT) * CACHE_PRICE + 500_000) // 1_000_000


@functools.cache
def catalog() -> Catalog:
    return load_catalog(Settings().catalog_dir)


def speech_job(**fields: Any) -> SpeechJob:
    request = UnifiedRequest(**{"model": "gpt-4o-mini-tts", "task": "tts", "input": TEXT, **fields})
    row = catalog().get(request.model)
    assert row is not None
    return SpeechJob(row, request, catalog().voices, providers=None, tokens=None)  # type: ignore[arg-type]


def test_the_key_is_the_workspaces_own() -> None:
    job = speech_job(voice="alloy")
    assert cache_key("ws_a", job) == cache_key("ws_a", speech_job(voice="alloy"))
    assert cache_key("ws_a", job) != cache_key("ws_b", job)


@pytest.mark.parametrize(
    "change",
    [
        {"input": TEXT + "!"},
        {"voice": "coral"},
        {"instructions": "Whisper."},
        {"response_format": "wav"},
        {"speed": 1.25},
        {"model": "local-tts"},
    ],
)
def test_the_key_changes_with_everything_that_shapes_the_audio(change: dict[str, Any]) -> None:
    assert cache_key("ws", speech_job()) != cache_key("ws", speech_job(**change))


def test_an_alias_and_the_defaults_spelt_out_find_the_same_answer() -> None:
    implicit = speech_job()
    explicit = speech_job(voice="alloy", response_format="mp3", speed=1.0)
    aliased = replace(speech_job(voice="alloy"), request=replace(implicit.request, model="tts-1"))
    assert cache_key("ws", implicit) == cache_key("ws", explicit) == cache_key("ws", aliased)


def caching_gateway(data_dir: Path, provider: FakeProvider, **settings: Any) -> InProcessGateway:
    return InProcessGateway(
        data_dir,
        providers=[provider],
        speech_cache_price_per_million_characters=CACHE_PRICE,
        **settings,
    )


async def say(vox: InProcessGateway, client: Any = None, **fields: Any) -> bytes:
    speech = await (client or vox.openai).audio.speech.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="pcm", **fields
    )
    return speech.content


async def test_a_repeated_request_is_served_from_the_cache_at_its_price(data_dir: Path) -> None:
    openai = FakeProvider("openai", chunks=3)
    async with caching_gateway(data_dir, openai) as vox:
        await vox.services.set_speech_cache(vox.workspace_id, True)

        first = await say(vox)
        missed = await vox.usage(vox.last_request_id)
        second = await say(vox)
        hit = await vox.usage(vox.last_request_id)
        wallet = await vox.wallet()

        assert second == first and len(first) > 0
        assert len(openai.calls) == 1
        assert missed["cached"] is False and missed["provider"] == "openai"
        assert hit["cached"] is True
        assert hit["provider"] is None and hit["route"] == "cache"
        assert hit["charged_micro_usd"] == hit["cost_micro_usd"] == CACHE_COST
        assert hit["charged_micro_usd"] <= hit["hold_micro_usd"]
        assert hit["provider_cost_micro_usd"] == 0
        assert hit["input_characters"] == len(TEXT)
        assert hit["audio_milliseconds"] == missed["audio_milliseconds"] == 300
        assert wallet.held_micro_usd == 0
        charged = missed["charged_micro_usd"] + hit["charged_micro_usd"]
        assert wallet.balance_micro_usd == 5_000_000 - charged


async def test_a_unified_request_is_kept_and_served_whole(data_dir: Path) -> None:
    openai = FakeProvider("openai", chunks=2)
    body = {"model": "gpt-4o-mini-tts", "task": "tts", "input": TEXT, "response_format": "wav"}
    async with caching_gateway(data_dir, openai) as vox:
        await vox.services.set_speech_cache(vox.workspace_id, True)

        replies = [(await vox.http.post("/api/v1/audio", json=body)).json() for _ in range(2)]
        hit = await vox.usage(vox.last_request_id)

        assert len(openai.calls) == 1
        assert replies[1]["data"] == replies[0]["data"]
        assert base64.b64decode(replies[1]["data"]["audio_base64"]).startswith(b"RIFF")
        assert replies[1]["usage"]["cost_micro_usd"] == CACHE_COST
        assert hit["cached"] is True


async def test_another_workspace_is_not_served_from_the_first_ones_cache(data_dir: Path) -> None:
    openai = FakeProvider("openai")
    async with caching_gateway(data_dir, openai) as vox:
        other = await vox.client_for("other", credit_micro_usd=1_000_000)
        await vox.services.set_speech_cache(vox.workspace_id, True)
        other_id = (await vox.services.workspaces.get_by_name("other")).id  # type: ignore[union-attr]
        await vox.services.set_speech_cache(other_id, True)

        await say(vox)
        await say(vox, other)
        await say(vox, other)

        assert len(openai.calls) == 2  # the other workspace's first request was a miss
        record = await vox.services.usage.get(other_id, vox.last_request_id)
        assert record is not None and record["cached"] is True


async def test_a_workspace_with_the_cache_off_never_caches(data_dir: Path) -> None:
    openai = FakeProvider("openai")
    async with caching_gateway(data_dir, openai) as vox:
        await say(vox)
        await vox.services.set_speech_cache(vox.workspace_id, True)
        await say(vox)  # not kept while off, so a miss now
        await vox.services.set_speech_cache(vox.workspace_id, False)
        await say(vox)

        assert len(openai.calls) == 3
        assert (await vox.usage(vox.last_request_id))["cached"] is False


async def test_a_cache_without_room_serves_nobody(data_dir: Path) -> None:
    openai = FakeProvider("openai")
    async with caching_gateway(data_dir, openai, speech_cache_max_bytes=0) as vox:
        await vox.services.set_speech_cache(vox.workspace_id, True)
        await say(vox)
        await say(vox)

        assert len(openai.calls) == 2


async def test_a_stream_the_client_left_is_not_kept(data_dir: Path) -> None:
    openai = FakeProvider("openai", chunks=4, pause_after=2)
    async with caching_gateway(data_dir, openai) as vox:
        await vox.services.set_speech_cache(vox.workspace_id, True)
        principal = replace(vox.principal, speech_cache=True)
        stream = await vox.services.gateway.stream_speech(principal, SPEECH, "hung-up")

        async def listen() -> None:
            async for _ in stream.chunks():
                pass

        # As a server does when its client goes: the task delivering the stream is cancelled.
        listener = asyncio.create_task(listen())
        await openai.paused.wait()
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener
        openai.pause_after = None

        await say(vox)

        assert len(openai.calls) == 2
        assert (await vox.usage("hung-up"))["status"] == "partial"


async def test_a_stream_the_provider_broke_is_not_kept(data_dir: Path) -> None:
    openai = FakeProvider("openai", chunks=4, fail_after=2)
    async with caching_gateway(data_dir, openai) as vox:
        await vox.services.set_speech_cache(vox.workspace_id, True)
        principal = replace(vox.principal, speech_cache=True)
        stream = await vox.services.gateway.stream_speech(principal, SPEECH, "broken")
        with pytest.raises(UpstreamFailedError):
            async for _ in stream.chunks():
                pass
        openai.fail_after = None

        await say(vox)

        assert len(openai.calls) == 2


async def test_the_consoles_request_log_marks_a_cached_answer(data_dir: Path) -> None:
    async with caching_gateway(data_dir, FakeProvider("openai")) as vox:
        await vox.services.set_speech_cache(vox.workspace_id, True)
        await say(vox)
        await say(vox)
        session = await sign_in(vox.services, vox.key)
        assert session is not None
        vox.http.cookies.set(COOKIE, encode(session_key(vox.services), session))

        page = await vox.http.get(f"/console/workspaces/{vox.workspace_id}/requests")

        assert page.status_code == 200
        assert page.text.count('<span class="tag">cached</span>') == 1


async def test_a_cached_answer_streams_as_server_sent_events(data_dir: Path) -> None:
    openai = FakeProvider("openai", chunks=2)
    body = {**SPEECH, "response_format": "pcm", "stream_format": "sse"}
    async with caching_gateway(data_dir, openai) as vox:
        await vox.services.set_speech_cache(vox.workspace_id, True)

        streams = [(await vox.http.post("/v1/audio/speech", json=body)).text for _ in range(2)]

        def audio(events: str) -> bytes:
            found = [json.loads(line[6:]) for line in events.splitlines() if line[:6] == "data: "]
            assert found[-1]["type"] == "speech.audio.done"
            return b"".join(base64.b64decode(e["audio"]) for e in found[:-1])

        assert len(openai.calls) == 1
        assert audio(streams[1]) == audio(streams[0]) != b""
        assert (await vox.usage(vox.last_request_id))["cached"] is True


async def test_the_operator_turns_the_cache_on_in_the_console(data_dir: Path) -> None:
    async with caching_gateway(data_dir, FakeProvider("openai"), admin_token="op-token") as vox:
        session = await sign_in(vox.services, "op-token")
        assert session is not None and session.is_operator
        vox.http.cookies.set(COOKIE, encode(session_key(vox.services), session))
        page = f"/console/workspaces/{vox.workspace_id}"
        before = await vox.http.get(page)

        turned = await vox.http.post(
            f"{page}/speech_cache",
            data={"csrf": csrf_token(session_key(vox.services), session), "speech_cache": "on"},
        )
        after = await vox.http.get(page)
        workspace = await vox.services.workspaces.get(vox.workspace_id)

        assert '<dd id="speech-cache">off</dd>' in before.text
        assert turned.status_code == 303
        assert '<dd id="speech-cache">on</dd>' in after.text
        assert workspace is not None and workspace.speech_cache
