"""Concurrency and crashes: a wallet funded for N requests serves exactly N, whatever happens."""

import asyncio
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.conftest import start_gateway, stop_gateway
from voxgate.store.database import Database
from voxgate.store.tables import Hold, LedgerEntry, Usage, Wallet

POSTGRES_SERVER = "postgresql+asyncpg://root@127.0.0.1:5432"
# 120 characters at $1.00 per 1M characters: the hold and the cost are both 120 micro-USD.
TEXT = ("Every request in this test costs the same. " * 3)[:120]
PRICE = 120
FUNDED_FOR = 12
CONCURRENT = 200


@pytest.fixture
def postgres_url() -> Iterator[str]:
    name = f"vg_e2e_{secrets.token_hex(5)}"
    asyncio.run(_admin_sql(f"CREATE DATABASE {name}"))
    yield f"{POSTGRES_SERVER}/{name}"
    asyncio.run(_admin_sql(f"DROP DATABASE {name} WITH (FORCE)"))


async def _admin_sql(statement: str) -> None:
    engine = create_async_engine(f"{POSTGRES_SERVER}/test", isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


def busy_engine_env(database_url: str | None = None) -> dict[str, str]:
    env = {"VOXGATE_ENGINE_QUEUE_SIZE": "400", "VOXGATE_KEY_PEPPER": "shared-pepper"}
    return env | ({"VOXGATE_DATABASE_URL": database_url} if database_url else {})


async def fire(base_urls: list[str], key: str, count: int) -> list[int]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        body = {"model": "local-tts", "input": TEXT, "response_format": "pcm16"}
        headers = {"Authorization": f"Bearer {key}"}
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{base_urls[i % len(base_urls)]}/api/v1/audio", json=body, headers=headers
                )
                for i in range(count)
            )
        )
    return [response.status_code for response in responses]


async def books(database_url: str, workspace_name: str) -> dict[str, int]:
    database = Database(database_url)
    async with database.reading() as connection:
        workspace_id = await connection.scalar(
            text("SELECT id FROM workspaces WHERE name = :name"), {"name": workspace_name}
        )
        wallet = (
            await connection.execute(select(Wallet).where(Wallet.workspace_id == workspace_id))
        ).one()
        ledger = await connection.scalar(
            select(func.sum(LedgerEntry.amount_micro_usd)).where(
                LedgerEntry.workspace_id == workspace_id
            )
        )
        charges = await connection.scalar(
            select(func.count()).where(
                LedgerEntry.workspace_id == workspace_id, LedgerEntry.kind == "charge"
            )
        )
        distinct_charged = await connection.scalar(
            select(func.count(func.distinct(LedgerEntry.request_id))).where(
                LedgerEntry.workspace_id == workspace_id, LedgerEntry.kind == "charge"
            )
        )
        open_holds = await connection.scalar(
            select(func.count()).where(Hold.workspace_id == workspace_id, Hold.status == "open")
        )
        succeeded = await connection.scalar(
            select(func.count()).where(
                Usage.workspace_id == workspace_id, Usage.status == "succeeded"
            )
        )
    await database.dispose()
    return {
        "balance": wallet.balance_micro_usd,
        "held": wallet.held_micro_usd,
        "ledger": int(ledger or 0),
        "charges": int(charges or 0),
        "distinct_charged": int(distinct_charged or 0),
        "open_holds": int(open_holds or 0),
        "succeeded": int(succeeded or 0),
    }


def assert_exactly_funded_requests_served(statuses: list[int], ledger: dict[str, int]) -> None:
    assert statuses.count(200) == FUNDED_FOR
    assert statuses.count(402) == CONCURRENT - FUNDED_FOR
    assert ledger["balance"] == 0
    assert ledger["held"] == 0
    assert ledger["ledger"] == ledger["balance"]
    assert ledger["charges"] == ledger["distinct_charged"] == ledger["succeeded"] == FUNDED_FOR


def test_two_processes_on_one_postgres_wallet(tmp_path: Path, postgres_url: str) -> None:
    env = busy_engine_env(postgres_url)
    first, one = start_gateway(tmp_path / "one", env)
    second, two = start_gateway(tmp_path / "two", env)
    try:
        name = f"load-{secrets.token_hex(4)}"
        key = one.new_workspace(name, f"0.{FUNDED_FOR * PRICE:06d}")
        statuses = asyncio.run(fire([one.base_url, two.base_url], key, CONCURRENT))
    finally:
        stop_gateway(first)
        stop_gateway(second)
    assert_exactly_funded_requests_served(statuses, asyncio.run(books(postgres_url, name)))


def test_one_process_on_sqlite(tmp_path: Path) -> None:
    process, gateway = start_gateway(tmp_path, busy_engine_env())
    try:
        name = f"load-{secrets.token_hex(4)}"
        key = gateway.new_workspace(name, f"0.{FUNDED_FOR * PRICE:06d}")
        statuses = asyncio.run(fire([gateway.base_url], key, CONCURRENT))
    finally:
        stop_gateway(process)
    url = f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}"
    assert_exactly_funded_requests_served(statuses, asyncio.run(books(url, name)))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_mid_load_then_restart(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    env = busy_engine_env(database_url) | {
        "VOXGATE_HOLD_TTL_SECONDS": "2",
        "VOXGATE_REAPER_INTERVAL_SECONDS": "0.5",
    }
    process, gateway = start_gateway(tmp_path / "a", env)
    name = f"crash-{secrets.token_hex(4)}"
    key = gateway.new_workspace(name, "1.00")
    load = subprocess.Popen(  # the load comes from another process, as real clients would
        [sys.executable, "-c", LOAD_SCRIPT, gateway.base_url, key],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'a' / 'voxgate.db'}"
    # Killed once requests hold credit mid-call (the first waits for the engine to load).
    deadline = time.monotonic() + 60
    while not asyncio.run(books(url, name))["open_holds"] and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    load.wait(timeout=120)
    assert asyncio.run(books(url, name))["open_holds"] > 0, "the kill should leave holds open"
    restarted, _ = start_gateway(tmp_path / "a", env)
    try:
        deadline = time.monotonic() + 30
        while asyncio.run(books(url, name))["open_holds"] and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop_gateway(restarted)
    # Read again with nothing left writing: books() is several statements, and a release
    # committed between its wallet read and its hold count would pair old and new.
    state = asyncio.run(books(url, name))
    assert state["open_holds"] == 0
    assert state["held"] == 0
    assert state["ledger"] == state["balance"]
    assert state["charges"] == state["distinct_charged"] == state["succeeded"]
    assert state["balance"] == 1_000_000 - PRICE * state["charges"]


LOAD_SCRIPT = f"""
import sys, asyncio, httpx
async def main(base, key):
    async with httpx.AsyncClient(timeout=60) as client:
        body = {{"model": "local-tts", "input": {TEXT!r}, "response_format": "pcm16"}}
        async def one():
            try:
                await client.post(base + "/api/v1/audio", json=body, headers={{"Authorization": "Bearer " + key}})
            except httpx.HTTPError:
                pass
        await asyncio.gather(*(one() for _ in range(60)))
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""
