"""The request path in process (voxgate.testing): failover, a stream settled for what it
delivered, a client that hangs up mid-stream. The books are read back from the store."""

import asyncio
from pathlib import Path

import pytest
from openai import APIStatusError

from voxgate.testing import SAMPLE_RATE, FakeProvider, InProcessGateway

TEXT = "Hello from the seam."
SPEECH = {"model": "tts-1", "voice": "alloy", "input": TEXT}
BYTES_PER_SECOND = SAMPLE_RATE * 2


async def assert_books_balance(vox: InProcessGateway, charged: int) -> None:
    wallet = await vox.wallet()
    assert wallet.held_micro_usd == 0
    assert wallet.balance_micro_usd == 5_000_000 - charged
    assert await vox.ledger_sum() == wallet.balance_micro_usd


async def test_a_failing_provider_fails_over_to_the_next_route(data_dir: Path) -> None:
    openai = FakeProvider("openai", fail_with=503)
    gemini = FakeProvider("gemini", chunks=2)
    async with InProcessGateway(data_dir, providers=[openai, gemini]) as vox:
        speech = await vox.openai.with_options(max_retries=0).audio.speech.create(
            model="tts-1", voice="alloy", input=TEXT, response_format="pcm"
        )
        record = await vox.usage(vox.last_request_id)

        assert len(speech.content) == round(2 * gemini.chunk_seconds * BYTES_PER_SECOND)
        # Both OpenAI keys were tried, each with its own credential, before Gemini served.
        assert [
            call.credential and call.credential.get_secret_value() for call in openai.calls
        ] == [
            "test-openai_api_key",
            "test-openai_api_key_secondary",
        ]
        assert len(gemini.calls) == 1
        assert record["status"] == "succeeded"
        assert record["provider"] == "gemini"
        assert [attempt["provider"] for attempt in record["attempts"]] == [
            "openai",
            "openai",
            "gemini",
        ]
        assert record["audio_milliseconds"] == 200
        assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]
        assert record["charged_micro_usd"] > 0
        await assert_books_balance(vox, record["charged_micro_usd"])


async def test_every_route_failing_releases_the_hold(data_dir: Path) -> None:
    providers = [FakeProvider("openai", fail_with=503), FakeProvider("gemini", fail_with=500)]
    async with InProcessGateway(data_dir, providers=providers) as vox:
        with pytest.raises(APIStatusError) as refused:
            await vox.openai.with_options(max_retries=0).audio.speech.create(
                model="tts-1", voice="alloy", input=TEXT
            )
        record = await vox.usage(vox.last_request_id)

        assert refused.value.status_code >= 500
        assert record["status"] == "failed"
        assert len(record["attempts"]) == 3
        assert record["charged_micro_usd"] == 0
        await assert_books_balance(vox, 0)


async def test_a_stream_is_charged_for_the_audio_it_delivered(data_dir: Path) -> None:
    openai = FakeProvider("openai", chunks=4)
    async with InProcessGateway(data_dir, providers=[openai]) as vox:
        async with vox.openai.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=TEXT, response_format="pcm"
        ) as response:
            audio = await response.read()
        record = await vox.usage(vox.last_request_id)

        assert len(audio) == round(4 * openai.chunk_seconds * BYTES_PER_SECOND)
        assert record["status"] == "succeeded"
        assert record["audio_milliseconds"] == 400
        assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]
        await assert_books_balance(vox, record["charged_micro_usd"])


async def test_a_stream_broken_upstream_is_charged_for_what_came_before(data_dir: Path) -> None:
    openai = FakeProvider("openai", chunks=5, fail_after=3)
    async with InProcessGateway(data_dir, providers=[openai]) as vox:
        body = {**SPEECH, "response_format": "pcm16"}
        stream = await vox.services.gateway.stream_unified(vox.principal, body, "broken")
        received = []
        with pytest.raises(Exception, match="failed after the answer began"):
            async for chunk in stream.chunks():
                received.append(chunk)
        record = await vox.usage("broken")

        assert len(received) == 3
        assert record["status"] == "partial"
        assert record["audio_milliseconds"] == 300
        assert record["charged_micro_usd"] == record["cost_micro_usd"] <= record["hold_micro_usd"]
        await assert_books_balance(vox, record["charged_micro_usd"])


async def test_a_client_hanging_up_mid_stream_is_charged_for_what_it_received(
    data_dir: Path,
) -> None:
    openai = FakeProvider("openai", chunks=5, pause_after=2)
    async with InProcessGateway(data_dir, providers=[openai]) as vox:
        body = {**SPEECH, "response_format": "pcm16"}
        stream = await vox.services.gateway.stream_unified(vox.principal, body, "hung-up")
        received: list[object] = []

        async def listen() -> None:
            async for chunk in stream.chunks():
                received.append(chunk)

        # As a server does when its client goes: the task delivering the stream is cancelled,
        # here while the provider is still making the third chunk.
        listener = asyncio.create_task(listen())
        await openai.paused.wait()
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener
        record = await vox.usage("hung-up")

        assert len(received) == 2
        assert record["status"] == "partial"
        assert record["audio_milliseconds"] == 200
        assert 0 < record["charged_micro_usd"] == record["cost_micro_usd"]
        assert record["charged_micro_usd"] <= record["hold_micro_usd"]
        await assert_books_balance(vox, record["charged_micro_usd"])
