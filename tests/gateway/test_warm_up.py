"""Ready means warm: what the first request would build is built before the app answers."""

from pathlib import Path

from voxgate.testing import FakeProvider, InProcessGateway


async def test_the_tokenizer_is_loaded_before_the_first_request(data_dir: Path) -> None:
    async with InProcessGateway(data_dir, providers=[FakeProvider("openai")]) as vox:
        assert vox.services.gateway.tokens.loaded


async def test_the_request_paths_database_connections_are_open_before_the_first_request(
    data_dir: Path,
) -> None:
    async with InProcessGateway(data_dir, providers=[FakeProvider("openai")]) as vox:
        assert vox.services.database.warm
