"""SIGTERM stops the gateway within its shutdown grace, and what was in flight still settles: a
stream the grace cuts is charged for what it delivered, a realtime session is closed with a
close frame and its bill closed. No hold is left open and the ledger sums to the balance."""

import asyncio
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import func, select

from tests.e2e.test_fault_soak import workspace_id_of
from tests.e2e.test_money_under_load import postgres_url as postgres_url  # a fixture, re-exported
from tests.e2e.test_realtime_money import connect, manual_turns, price, turn
from tests.gateway_process import (
    SIM_KEYS,
    STOP_MARGIN_SECONDS,
    RunningGateway,
    RunningSimulator,
    simulated_providers,
    start_gateway,
    start_simulator,
    stop_gateway,
)
from voxgate.store.database import Database
from voxgate.store.tables import Hold, LedgerEntry, Usage, Wallet

GRACE_SECONDS = 1
# A grace far longer than any stall of a busy machine: ending well within it is ending at once.
LONG_GRACE_SECONDS = 20
CHUNK_INTERVAL_MS = 4000  # no second chunk comes within the grace
PCM_BYTES_PER_MS = 48  # 24 kHz, 16-bit, mono
SERVICE_RESTART = 1012  # the close code uvicorn sends every open websocket on SIGTERM


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    process, sim = start_simulator(tmp_path_factory.mktemp("sim"), fast=True)
    yield sim
    stop_gateway(process)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite in the gateway's data dir, or a fresh PostgreSQL database (whose round trips
    give a settlement more time to lose a race with the shutdown)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gateway' / 'voxgate.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def grace_seconds() -> float:
    """The gateway's shutdown grace (a test parametrizes it to have another)."""
    return GRACE_SECONDS


@pytest.fixture
def served(
    tmp_path: Path, simulator: RunningSimulator, database_url: str, grace_seconds: float
) -> Iterator[tuple[subprocess.Popen[bytes], RunningGateway]]:
    env = simulated_providers(
        simulator,
        VOXGATE_DATABASE_URL=database_url,
        VOXGATE_ENGINE_PRELOAD="false",
        VOXGATE_SHUTDOWN_GRACE_SECONDS=str(grace_seconds),
        # Longer than the pace, which would otherwise be a stalled upstream.
        VOXGATE_UPSTREAM_TIMEOUT_SECONDS=str(3 * CHUNK_INTERVAL_MS // 1000),
    )
    process, gateway = start_gateway(tmp_path / "gateway", env)
    yield process, gateway
    if process.poll() is None:  # a test that failed before stopping it
        process.kill()
        process.wait()


def stopped_in(process: subprocess.Popen[bytes], grace_seconds: float = GRACE_SECONDS) -> float:
    """Seconds from SIGTERM to exit; a gateway that outlives its grace fails the test."""
    started = time.monotonic()
    process.terminate()
    try:
        process.wait(timeout=grace_seconds + STOP_MARGIN_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(
            f"the gateway was still running {STOP_MARGIN_SECONDS} s past its shutdown grace"
        )
    return time.monotonic() - started


@dataclass(frozen=True)
class Books:
    """What the stopped gateway left in its database for one workspace."""

    balance: int
    held: int
    ledger: int
    open_holds: int
    usage: list[tuple[str, int]]  # status and amount charged, per request


async def books(database_url: str, workspace_id: str) -> Books:
    database = Database(database_url)
    async with database.reading() as connection:
        wallet = (
            await connection.execute(select(Wallet).where(Wallet.workspace_id == workspace_id))
        ).one()
        ledger = await connection.scalar(
            select(func.sum(LedgerEntry.amount_micro_usd)).where(
                LedgerEntry.workspace_id == workspace_id
            )
        )
        open_holds = await connection.scalar(
            select(func.count()).where(Hold.workspace_id == workspace_id, Hold.status == "open")
        )
        usage = await connection.execute(
            select(Usage.status, Usage.charged_micro_usd).where(Usage.workspace_id == workspace_id)
        )
    await database.dispose()
    return Books(
        balance=wallet.balance_micro_usd,
        held=wallet.held_micro_usd,
        ledger=int(ledger or 0),
        open_holds=int(open_holds or 0),
        usage=[(str(status), int(charged)) for status, charged in usage.all()],
    )


def assert_books_closed(database_url: str, workspace_id: str) -> Books:
    """Nothing held, and the ledger sums to the balance."""
    state = asyncio.run(books(database_url, workspace_id))
    assert state.open_holds == 0 and state.held == 0, state
    assert state.ledger == state.balance, state
    return state


def assert_stopped_by_its_own_signal(process: subprocess.Popen[bytes], output: Path) -> None:
    """Uvicorn re-raises the SIGTERM once it has shut down: not killed, not crashed."""
    assert process.returncode == -signal.SIGTERM, output.read_text()


def test_a_stream_the_grace_cuts_is_charged_for_what_it_delivered(
    served: tuple[subprocess.Popen[bytes], RunningGateway],
    simulator: RunningSimulator,
    database_url: str,
) -> None:
    process, gateway = served
    key = gateway.new_workspace(f"cut-{secrets.token_hex(4)}", "1.00")
    workspace_id = workspace_id_of(gateway, key)
    opening = assert_books_closed(database_url, workspace_id).balance
    simulator.queue_faults(
        SIM_KEYS["primary"],
        {"kind": "paced", "first_chunk_ms": 0, "chunk_interval_ms": CHUNK_INTERVAL_MS},
    )
    body = {"model": "gpt-4o-mini-tts", "input": "Slow.", "response_format": "pcm"}
    with (
        gateway.client(key) as client,
        client.stream("POST", "/v1/audio/speech", json=body) as response,
    ):
        assert response.status_code == 200
        chunks = response.iter_raw()
        next(chunks)
        took = stopped_in(process)
        with pytest.raises(httpx.RemoteProtocolError):  # cut before its last chunk
            for _ in chunks:
                pass

    # The stream had its grace, and no more than that.
    assert GRACE_SECONDS <= took < GRACE_SECONDS + STOP_MARGIN_SECONDS
    assert_stopped_by_its_own_signal(process, gateway.output)
    state = assert_books_closed(database_url, workspace_id)
    [(status, charged)] = state.usage
    assert status == "partial" and charged > 0
    assert opening - state.balance == charged


# The session's bill closes before its task ends, which uvicorn waits for: one database shows it.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("grace_seconds", [LONG_GRACE_SECONDS])
def test_a_realtime_session_is_closed_with_a_close_frame_and_its_bill_closed(
    served: tuple[subprocess.Popen[bytes], RunningGateway], database_url: str
) -> None:
    process, gateway = served
    key = gateway.new_workspace(f"rt-stop-{secrets.token_hex(4)}", "1.00")
    workspace_id = workspace_id_of(gateway, key)
    opening = assert_books_closed(database_url, workspace_id).balance

    async def session() -> tuple[int, float, int | None]:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            done = await turn(socket)
            assert done["type"] == "response.done", done
            took = await asyncio.to_thread(stopped_in, process, LONG_GRACE_SECONDS)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
        received = closed.value.rcvd
        return price(done), took, received.code if received is not None else None

    cost, took, close_code = asyncio.run(session())

    # Told, not cut; and at once: an hour-long session would outlive any grace.
    assert close_code == SERVICE_RESTART
    assert took < LONG_GRACE_SECONDS
    assert_stopped_by_its_own_signal(process, gateway.output)
    state = assert_books_closed(database_url, workspace_id)
    assert opening - state.balance == cost > 0
