"""Connection limits of the server: idle and slow-header connections cannot deny service."""

import resource
import selectors
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
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
        # All from one address here: the per-client cap would close most of them at once.
        "VOXGATE_MAX_CONNECTIONS_PER_CLIENT": str(IDLE_CONNECTIONS * 2),
    }
    with soft_open_file_limit(1024):
        process, gateway = start_gateway(tmp_path, env)
    try:
        yield gateway
    finally:
        stop_gateway(process)


def open_idle(
    address: tuple[str, int], count: int, partial: bytes, source: str = "127.0.0.1"
) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        connection = socket.create_connection(address, timeout=10, source_address=(source, 0))
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


def from_address(gateway: RunningGateway, source: str) -> httpx.Client:
    """A client whose connections come from another loopback address: another client."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=gateway.base_url, transport=transport, timeout=10)


def test_one_address_is_capped_by_default(tmp_path: Path) -> None:
    """Without any setting, one address cannot take every connection of the server."""
    ensure_own_open_file_limit(1024)
    process, gateway = start_gateway(tmp_path, {"VOXGATE_ENGINE_PRELOAD": "false"})
    try:
        url = urlsplit(gateway.base_url)
        assert url.hostname and url.port
        idle = open_idle((url.hostname, url.port), 300, b"")
        try:
            assert wait_all_closed(idle, timeout=5) == 300 - 256
        finally:
            for connection in idle:
                connection.close()
    finally:
        stop_gateway(process)


def test_a_trusted_proxy_is_not_capped(tmp_path: Path) -> None:
    """A proxy's connections carry many clients; other addresses keep their cap."""
    env = {
        "VOXGATE_ENGINE_PRELOAD": "false",
        "VOXGATE_MAX_CONNECTIONS_PER_CLIENT": "5",
        "VOXGATE_TRUSTED_PROXIES": "127.0.0.3/32",
    }
    process, gateway = start_gateway(tmp_path, env)
    try:
        url = urlsplit(gateway.base_url)
        assert url.hostname and url.port
        proxy = open_idle((url.hostname, url.port), 10, b"", source="127.0.0.3")
        client = open_idle((url.hostname, url.port), 10, b"", source="127.0.0.4")
        try:
            assert wait_all_closed(client, timeout=5) == 5
            with from_address(gateway, "127.0.0.3") as probe:
                assert probe.get("/healthz").status_code == 200  # the proxy's eleventh
        finally:
            for connection in proxy + client:
                connection.close()
    finally:
        stop_gateway(process)


def test_trickled_bodies_filling_the_server_leave_liveness_answered(tmp_path: Path) -> None:
    """Every connection the server takes holds a body trickled in under the pause allowed
    (once /healthz answered 503 for 75 s): the liveness probe still answers, other requests
    get the usual 503, and the trickles are cut by the minimum body rate."""
    env = {
        "VOXGATE_ENGINE_PRELOAD": "false",
        "VOXGATE_MAX_CONNECTIONS": "20",
        "VOXGATE_CLIENT_BODY_TIMEOUT_SECONDS": "3",
    }
    process, gateway = start_gateway(tmp_path, env)
    try:
        url = urlsplit(gateway.base_url)
        assert url.hostname and url.port
        head = (
            f"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gateway.key}"
            "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
        ).encode()
        # Uvicorn counts the connection asking: 19 of them and any other fill the 20.
        trickles = open_idle((url.hostname, url.port), 19, head)
        try:
            with from_address(gateway, "127.0.0.2") as probe:
                assert probe.get("/healthz").status_code == 200
                assert probe.get("/v1/models").status_code == 503  # the cap itself holds
            answers = trickle_until_answered(trickles, deadline_seconds=30)
        finally:
            for connection in trickles:
                connection.close()
    finally:
        stop_gateway(process)
    assert len(answers) == 19
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[:1]
    assert all(b"too slowly" in answer for answer in answers), answers[:1]


def trickle_until_answered(sockets: list[socket.socket], deadline_seconds: float) -> list[bytes]:
    """Send each socket one byte of body every half second (well within the 3 s pause
    allowed) until the server answers it; the answers."""
    selector = selectors.DefaultSelector()
    for connection in sockets:
        connection.setblocking(False)
        selector.register(connection, selectors.EVENT_READ)
    answers: dict[socket.socket, bytes] = dict.fromkeys(sockets, b"")
    done: set[socket.socket] = set()
    deadline = time.monotonic() + deadline_seconds
    while len(done) < len(sockets) and time.monotonic() < deadline:
        for connection in sockets:
            if not answers[connection]:
                try:
                    connection.send(b" ")
                except OSError:
                    done.add(connection)
        for key, _ in selector.select(timeout=0.5):
            connection = key.fileobj
            assert isinstance(connection, socket.socket)
            try:
                chunk = connection.recv(65536)
            except OSError:
                chunk = b""
            answers[connection] += chunk
            if not chunk or answers[connection].endswith(b"}}"):
                selector.unregister(connection)
                done.add(connection)
    selector.close()
    return list(answers.values())
