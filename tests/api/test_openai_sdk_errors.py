"""The official openai client over ASGI: the models it lists, and each error it raises as its
own class. (Speech, transcription and chat through the real adapters and the simulator:
tests/e2e/test_openai_sdk.py.)"""

from collections.abc import AsyncIterator

import openai
import pytest

from tests.database_fixtures import SqliteTemplate
from voxgate.testing import FakeProvider, InProcessGateway


@pytest.fixture(scope="module")
async def vox(
    tmp_path_factory: pytest.TempPathFactory, sqlite_migrated: SqliteTemplate
) -> AsyncIterator[InProcessGateway]:
    data_dir = sqlite_migrated.copy_into(tmp_path_factory.mktemp("sdk"))
    async with InProcessGateway(data_dir, providers=[FakeProvider("openai")]) as running:
        yield running


async def test_models_list_and_get(vox: InProcessGateway) -> None:
    ids = {model.id async for model in vox.openai.models.list()}
    assert {"gpt-audio-1.5", "local-tts", "local-whisper-base"} <= ids
    assert (await vox.openai.models.retrieve("local-tts")).owned_by == "local"
    with pytest.raises(openai.NotFoundError):
        await vox.openai.models.retrieve("no-such-model")


async def test_each_error_class(vox: InProcessGateway) -> None:
    client = vox.openai.with_options(max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await client.with_options(api_key="vg_live_wrong").models.list()
    with pytest.raises(openai.BadRequestError) as bad:
        await client.audio.speech.create(model="tts-1", voice="alloy", input="x", speed=9)
    assert bad.value.body["param"] == "speed"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        await client.audio.speech.create(model="no-such-model", voice="alloy", input="x")
    poor = await vox.client_for("poor", credit_micro_usd=1)
    with pytest.raises(openai.APIStatusError) as unpaid:
        await poor.audio.speech.create(model="tts-1", voice="alloy", input="x")
    assert unpaid.value.status_code == 402
    limited = await vox.client_for("rpm", credit_micro_usd=1_000_000, rpm_limit=1)
    await limited.audio.speech.create(model="tts-1", voice="alloy", input="x")
    with pytest.raises(openai.RateLimitError) as limited_error:
        await limited.audio.speech.create(model="tts-1", voice="alloy", input="x")
    assert limited_error.value.response.headers["retry-after"]
