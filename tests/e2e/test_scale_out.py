"""Three gateway processes behind one nginx address, sharing PostgreSQL and Redis: rate limits,
concurrency limits, circuit breakers and credit hold across all of them, not per process."""

import asyncio
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.e2e.test_money_under_load import (
    CONCURRENT,
    FUNDED_FOR,
    PRICE,
    _admin_sql,
    assert_exactly_funded_requests_served,
    books,
    fire,
)
from tests.gateway_process import (
    SIM_KEYS,
    RunningGateway,
    RunningSimulator,
    on_a_free_port,
    simulated_providers,
    start_gateway,
    start_simulator,
    stop_gateway,
    wait_until_ready,
)

pytestmark = pytest.mark.postgres

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
POSTGRES_SERVER = "postgresql+asyncpg://root@127.0.0.1:5432"
REDIS_DB = 7
PROCESSES = 3
BREAKER_THRESHOLD = 3
SLOW_UPSTREAM_MS = 1500

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream voxgate {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 50m;
        location / {{
            proxy_pass http://voxgate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator, str]]:
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (scripts/system-packages installs it)")
    root = tmp_path_factory.mktemp("cluster")
    database = f"vg_scale_{secrets.token_hex(4)}"
    asyncio.run(_admin_sql(f"CREATE DATABASE {database}"))
    database_url = f"{POSTGRES_SERVER}/{database}"
    redis.Redis(db=REDIS_DB).flushdb()
    sim_process, sim = start_simulator(root / "sim", fast=True)
    env = simulated_providers(
        sim,
        VOXGATE_DATABASE_URL=database_url,
        VOXGATE_REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
        VOXGATE_KEY_PEPPER="one-pepper-for-every-process",
        VOXGATE_ADMIN_TOKEN="cluster-admin-token",
        VOXGATE_BREAKER_THRESHOLD=str(BREAKER_THRESHOLD),
        VOXGATE_BREAKER_COOLDOWN_SECONDS="120",
        VOXGATE_ENGINE_PRELOAD="false",
        VOXGATE_ENGINE_QUEUE_SIZE="400",
    )
    started = [start_gateway(root / f"gateway-{n}", env) for n in range(PROCESSES)]
    servers = "\n".join(
        f"        server {gateway.base_url.removeprefix('http://')};" for _, gateway in started
    )

    def start_nginx(port: int) -> tuple[subprocess.Popen[bytes], str]:
        conf = root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=root, servers=servers, port=port))
        nginx = subprocess.Popen([NGINX, "-p", str(root), "-c", str(conf)])
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(nginx, base_url, root / "error.log")
        return nginx, base_url

    nginx, base_url = on_a_free_port(start_nginx)
    first = started[0][1]
    front = RunningGateway(base_url, first.key, "", root, first.output)
    try:
        yield front, sim, database_url
    finally:
        nginx.terminate()
        nginx.wait(timeout=20)
        for process, _ in started:
            stop_gateway(process)
        stop_gateway(sim_process)
        asyncio.run(_admin_sql(f"DROP DATABASE {database} WITH (FORCE)"))


def new_key(front: RunningGateway, credit_usd: str, **limits: int) -> str:
    with httpx.Client(
        base_url=front.base_url,
        headers={"Authorization": "Bearer cluster-admin-token"},
        timeout=30,
    ) as admin:
        name = f"ws-{secrets.token_hex(4)}"
        workspace = admin.post(
            "/admin/v1/workspaces", json={"name": name, "credit_usd": credit_usd}
        )
        assert workspace.status_code == 201, workspace.text
        created = admin.post(
            f"/admin/v1/workspaces/{workspace.json()['id']}/keys", json={"name": "k", **limits}
        )
        assert created.status_code == 201, created.text
        secret: str = created.json()["secret"]
        return secret


async def post_many(
    front: RunningGateway, key: str, body: dict[str, Any], count: int, path: str
) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=front.base_url, timeout=60, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(client.post(path, json=body, headers=headers) for _ in range(count))
            )
        )


SPEECH = {"model": "gpt-4o-mini-tts", "input": "Cluster.", "response_format": "pcm16"}
# A run of requests that straddles a minute's end is run again, on a fresh key: at most this
# many runs (two straddle only if a run takes most of a minute).
RPM_RUNS = 3
CHAT = {"model": "gpt-audio", "messages": [{"role": "user", "content": "Wait."}]}


def test_the_rpm_limit_counts_requests_on_every_process(
    cluster: tuple[RunningGateway, RunningSimulator, str],
) -> None:
    front, _, _ = cluster
    # The limit counts per clock minute: twelve requests that straddled a minute's end would
    # be counted in two windows (one in the first, then five more). However long a busy
    # machine makes them take, a run judged is one that began and ended in the same minute.
    for _ in range(RPM_RUNS):
        key = new_key(front, "5.00", rpm_limit=5)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=front.base_url, headers=headers, timeout=60) as client:
            began = time.time() // 60
            statuses = [client.post("/api/v1/audio", json=SPEECH).status_code for _ in range(12)]
            if time.time() // 60 == began:
                break
    else:
        pytest.fail(f"each of {RPM_RUNS} runs of twelve requests straddled a minute's end")
    # Round-robin puts about four on each process: a per-process limit would let all 12 in.
    assert statuses.count(200) == 5 and statuses.count(429) == 7, statuses


def test_the_concurrency_limit_counts_requests_in_flight_on_every_process(
    cluster: tuple[RunningGateway, RunningSimulator, str],
) -> None:
    front, sim, _ = cluster
    key = new_key(front, "5.00", concurrency_limit=2)
    slow = {"kind": "500", "latency_ms": SLOW_UPSTREAM_MS}
    sim.queue_faults(SIM_KEYS["primary"], *([slow] * 9))
    try:
        responses = asyncio.run(post_many(front, key, CHAT, 9, "/v1/chat/completions"))
    finally:
        sim.reset()
    statuses = [response.status_code for response in responses]
    assert statuses.count(429) == 7, statuses  # only two were ever in flight
    refused = next(response for response in responses if response.status_code == 429)
    assert refused.json()["error"]["type"] == "rate_limit_error"


def test_a_breaker_opened_by_failures_on_several_processes_is_open_on_all(
    cluster: tuple[RunningGateway, RunningSimulator, str],
) -> None:
    front, sim, _ = cluster
    key = new_key(front, "5.00")
    sim.queue_faults(SIM_KEYS["primary"], *([{"kind": "503"}] * BREAKER_THRESHOLD))
    headers = {"Authorization": f"Bearer {key}"}
    primary = "openai/gpt-4o-mini-tts#openai"
    with httpx.Client(base_url=front.base_url, headers=headers, timeout=60) as client:

        def attempts_of_one() -> list[dict[str, Any]]:
            response = client.post("/api/v1/audio", json=SPEECH)
            assert response.status_code == 200, response.text
            record = client.get(f"/api/v1/usage/{response.headers['x-request-id']}").json()
            attempts: list[dict[str, Any]] = record["attempts"]
            return attempts

        # One failure on each process, in turn: only a shared count reaches the threshold.
        failing = [attempts_of_one() for _ in range(BREAKER_THRESHOLD)]
        after = [attempts_of_one() for _ in range(2 * PROCESSES)]
    for attempts in failing:
        assert attempts[0]["route"] == primary and attempts[0]["status"] != "ok", attempts
    for attempts in after:
        assert attempts[0]["route"] == primary and attempts[0]["status"] == "skipped", attempts
        assert attempts[-1]["status"] == "ok"


def test_credit_is_never_overspent_across_processes(
    cluster: tuple[RunningGateway, RunningSimulator, str],
) -> None:
    front, _, database_url = cluster
    name_and_key = new_key(front, f"0.{FUNDED_FOR * PRICE:06d}")
    with httpx.Client(
        base_url=front.base_url, headers={"Authorization": f"Bearer {name_and_key}"}, timeout=30
    ) as client:
        workspace_id = client.get("/api/v1/balance").json()["workspace_id"]
    statuses = asyncio.run(fire([front.base_url], name_and_key, CONCURRENT))
    ledger = asyncio.run(books(database_url, _workspace_name(front, workspace_id)))
    assert_exactly_funded_requests_served(statuses, ledger)


def _workspace_name(front: RunningGateway, workspace_id: str) -> str:
    with httpx.Client(
        base_url=front.base_url,
        headers={"Authorization": "Bearer cluster-admin-token"},
        timeout=30,
    ) as admin:
        name: str = admin.get(f"/admin/v1/workspaces/{workspace_id}").json()["name"]
    return name
