"""What billing adds: the same request with billing on and off, on SQLite and on PostgreSQL.

Run: .venv/bin/python -m bench.billing
Each row is one gateway process in front of the simulator in fast mode (fixed audio), so the
gateway's own work dominates. "on" holds, settles and records usage in the database, "off" does
none of it. The ratio column is requests per second on/off (1.00 = billing is free).
"""

import asyncio
import secrets
import tempfile
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.gateway_process import RunningSimulator, start_gateway, start_simulator, stop_gateway

from bench.load import LoadResult, run_load

POSTGRES_SERVER = "postgresql+asyncpg://root@127.0.0.1:5432"
BODY = {"model": "gpt-4o-mini-tts", "input": "Hi.", "voice": "coral", "response_format": "pcm16"}
SEQUENTIAL = 150
CONCURRENT = 300
CONCURRENCY = 8


async def admin_sql(statement: str) -> None:
    engine = create_async_engine(f"{POSTGRES_SERVER}/test", isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


def measure(data_dir: Path, env: dict[str, str]) -> tuple[LoadResult, LoadResult]:
    process, gateway = start_gateway(data_dir, env)
    try:
        key = gateway.new_workspace(f"bench-{secrets.token_hex(4)}", "100.00")
        url = f"{gateway.base_url}/api/v1/audio"
        headers = {"Authorization": f"Bearer {key}"}
        asyncio.run(run_load(url, BODY, headers, requests=20, concurrency=2))  # warm up
        serial = asyncio.run(run_load(url, BODY, headers, requests=SEQUENTIAL, concurrency=1))
        loaded = asyncio.run(
            run_load(url, BODY, headers, requests=CONCURRENT, concurrency=CONCURRENCY)
        )
    finally:
        stop_gateway(process)
    assert serial.failures == loaded.failures == 0
    return serial, loaded


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        sim_process, sim = start_simulator(Path(directory), fast=True)
        try:
            compare(sim)
        finally:
            stop_gateway(sim_process)


def compare(sim: RunningSimulator) -> None:
    database = f"vg_bench_{secrets.token_hex(4)}"
    asyncio.run(admin_sql(f"CREATE DATABASE {database}"))
    print(
        f"{'backend':10} {'billing':8} {'c=1 p50 ms':>11} {'c=1 p99 ms':>11} "
        f"{f'c={CONCURRENCY} rps':>9} {f'c={CONCURRENCY} p99 ms':>12} {'rps on/off':>11}"
    )
    try:
        for backend, url in (("sqlite", None), ("postgres", f"{POSTGRES_SERVER}/{database}")):
            rps: dict[str, float] = {}
            for billing in ("off", "on"):
                env = {
                    "VOXGATE_BILLING_ENABLED": str(billing == "on").lower(),
                    "OPENAI_API_KEY": "bench",
                    "OPENAI_BASE_URL": f"{sim.base_url}/v1",
                }
                if url:
                    env["VOXGATE_DATABASE_URL"] = url
                with tempfile.TemporaryDirectory() as data_dir:
                    serial, loaded = measure(Path(data_dir), env)
                rps[billing] = loaded.rps
                ratio = f"{rps['on'] / rps['off']:.2f}" if billing == "on" else ""
                print(
                    f"{backend:10} {billing:8} {serial.p50_ms:11.2f} {serial.p99_ms:11.2f} "
                    f"{loaded.rps:9.1f} {loaded.p99_ms:12.2f} {ratio:>11}"
                )
    finally:
        asyncio.run(admin_sql(f"DROP DATABASE {database} WITH (FORCE)"))


if __name__ == "__main__":
    main()
