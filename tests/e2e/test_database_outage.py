"""A PostgreSQL that drops every connection and refuses new ones: the gateway answers 503 with
Retry-After (not a 500) and serves again, books intact, once the database is back."""

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_money_under_load import _admin_sql
from tests.gateway_process import RunningGateway, routed_gateway, written_text

pytestmark = pytest.mark.postgres

POSTGRES_SERVER = "postgresql+asyncpg://root@127.0.0.1:5432"
SPEECH = {"model": "gpt-4o-mini-tts", "input": "Outage.", "response_format": "pcm16"}


@pytest.fixture
def database() -> Iterator[str]:
    name = f"vg_outage_{secrets.token_hex(4)}"
    asyncio.run(_admin_sql(f"CREATE DATABASE {name}"))
    yield name
    asyncio.run(_admin_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
    asyncio.run(_admin_sql(f"DROP DATABASE {name} WITH (FORCE)"))


def cut_off(database: str) -> None:
    asyncio.run(_admin_sql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false"))
    asyncio.run(
        _admin_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
    )


def speak(gateway: RunningGateway) -> tuple[int, dict[str, str], dict[str, object]]:
    with gateway.client() as client:
        response = client.post("/api/v1/audio", json=SPEECH)
    return response.status_code, dict(response.headers), response.json()


def test_a_database_outage_is_503_and_service_resumes(tmp_path: Path, database: str) -> None:
    url = f"{POSTGRES_SERVER}/{database}"
    with routed_gateway(tmp_path, VOXGATE_DATABASE_URL=url) as (gateway, _):
        assert speak(gateway)[0] == 200
        cut_off(database)
        status, headers, body = speak(gateway)
        assert status == 503, body
        assert headers["retry-after"] == "1" and headers["x-request-id"]
        assert body["error"]["code"] == "database_unavailable"  # type: ignore[index]
        asyncio.run(_admin_sql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        assert speak(gateway)[0] == 200
        with gateway.client() as client:
            balance = client.get("/api/v1/balance").json()
        log = written_text(gateway.output)
    assert balance["held_micro_usd"] == 0
    assert "Traceback" not in log.split("serving on", 1)[1]
