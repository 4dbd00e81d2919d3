"""End-to-end fixtures: one gateway process shared by the session."""

import shlex
from collections.abc import Iterator

import pytest

from tests.gateway_process import RunningGateway, start_gateway, stop_gateway

__all__ = ["RunningGateway", "curl_argv", "start_gateway", "stop_gateway"]


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    process, running = start_gateway(tmp_path_factory.mktemp("gateway"))
    yield running
    stop_gateway(process)


def curl_argv(curl_line: str) -> list[str]:
    return shlex.split(curl_line)
