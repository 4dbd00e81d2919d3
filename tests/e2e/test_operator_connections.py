"""Connection limits of the server: idle and slow-header connections cannot deny service."""

import resource
import selectors
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.gateway_process import RunningGateway, start_gateway, stop_gateway

IDLE_CONNECTIONS = 1100
HEADER_TIMEOUT = 2.0


@contextmanager
def soft_open_file_limit(limit: int) -> Iterator[None]:
    """The usual default soft limit for what starts inside (the gateway inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def ensure_own_open_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the hard open-file limit ({hard}) is below {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@pytest.fixture
def limited_gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    env = {
        "VOXGATE_ENGINE_PRELOAD": "false",
        "VOXGATE_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    }
    with soft_open_file_limit(1024):
        process, gateway = start_gateway(tmp_path, env)
    try:
        yield gateway
    finally:
        stop_gateway(process)


def open_idle(address: tuple[str, int], count: int, partial: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        connection = socket.create_connection(address, timeout=10)
        if partial:
            connection.sendall(partial)
        sockets.append(connection)
    return sockets


def wait_all_closed(sockets: list[socket.socket], timeout: float) -> int:
    """How many the server closed (a read of b"") before `timeout`."""
    selector = selectors.DefaultSelector()
    for connection in sockets:
        connection.setblocking(False)
        selector.register(connection, selectors.EVENT_READ)
    closed = 0
    deadline = time.monotonic() + timeout
    while closed < len(sockets) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            connection = key.fileobj
            assert isinstance(connection, socket.socket)
            try:
                data = connection.recv(4096)
            except ConnectionResetError:
                data = b""
            if not data:
                selector.unregister(connection)
                closed += 1
    selector.close()
    return closed


@pytest.mark.parametrize("partial", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"])
def test_idle_connections_do_not_stop_a_real_request(
    limited_gateway: RunningGateway, partial: bytes
) -> None:
    """1,100 connections that send nothing (or half a request head) against a gateway started
    with the usual 1,024 open files: a real request is still served, and the server closes
    each of them once the header deadline passes."""
    ensure_own_open_file_limit(IDLE_CONNECTIONS + 256)
    url = urlsplit(limited_gateway.base_url)
    assert url.hostname and url.port
    idle = open_idle((url.hostname, url.port), IDLE_CONNECTIONS, partial)
    try:
        with limited_gateway.client() as client:
            client.timeout = 10
            assert client.get("/v1/models").status_code == 200
        closed = wait_all_closed(idle, timeout=HEADER_TIMEOUT + 20)
        assert closed == IDLE_CONNECTIONS
    finally:
        for connection in idle:
            connection.close()


def test_one_address_holds_only_its_share(tmp_path: Path) -> None:
    """With a per-client cap, connections past it are closed at once; others are served."""
    env = {"VOXGATE_ENGINE_PRELOAD": "false", "VOXGATE_MAX_CONNECTIONS_PER_CLIENT": "20"}
    process, gateway = start_gateway(tmp_path, env)
    try:
        url = urlsplit(gateway.base_url)
        assert url.hostname and url.port
        idle = open_idle((url.hostname, url.port), 30, b"")
        try:
            assert wait_all_closed(idle, timeout=5) == 10
        finally:
            for connection in idle:
                connection.close()
        with gateway.client() as client:
            assert client.get("/healthz").status_code == 200
    finally:
        stop_gateway(process)
