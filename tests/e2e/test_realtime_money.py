"""Realtime money and limits: a session is charged as it goes, however long it lives, under its
key's rpm, concurrency and spend limits; a crash loses at most the step in flight."""

import asyncio
import base64
import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_money_under_load import books
from tests.e2e.test_money_under_load import postgres_url as postgres_url  # a fixture, re-exported
from tests.gateway_process import (
    SIM_KEYS,
    RunningGateway,
    RunningSimulator,
    routed_gateway,
    simulated_providers,
    start_gateway,
    start_simulator,
    stop_gateway,
)

HOLD_TTL_SECONDS = 2
MAX_AUDIO_SECONDS = 5
SHORT_HOLDS = {
    "VOXGATE_HOLD_TTL_SECONDS": str(HOLD_TTL_SECONDS),
    "VOXGATE_REAPER_INTERVAL_SECONDS": "0.2",
    "VOXGATE_MAX_AUDIO_SECONDS": str(MAX_AUDIO_SECONDS),
}
SECOND = bytes(2 * 24_000)
TIMEOUT = 60


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = tmp_path_factory.mktemp("rt-money")
    with routed_gateway(root, fast=True, **SHORT_HOLDS) as served:
        yield served


def url(gateway: RunningGateway, model: str = "gpt-audio-1.5") -> str:
    return "ws" + gateway.base_url.removeprefix("http") + f"/v1/realtime?model={model}"


def connect(gateway: RunningGateway, key: str, model: str = "gpt-audio-1.5") -> Any:
    return websockets.connect(
        url(gateway, model), additional_headers={"Authorization": f"Bearer {key}"}
    )


async def opening(gateway: RunningGateway, key: str, model: str = "gpt-audio-1.5") -> str:
    """`session.created`, or the code of the error the handshake was refused with (its HTTP
    status and OpenAI-shaped body)."""
    try:
        async with connect(gateway, key, model) as socket:
            return str((await until(socket, "session.created"))["type"])
    except websockets.InvalidStatus as refused:
        body = json.loads(refused.response.body or b"{}")
        if refused.response.status_code == 429:
            assert int(refused.response.headers["retry-after"]) >= 1
        return f"{refused.response.status_code} {body['error']['code']}"


async def until(socket: Any, *kinds: str) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
        if event["type"] in kinds:
            return event


async def manual_turns(socket: Any) -> None:
    await until(socket, "session.created")
    manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    await socket.send(json.dumps({"type": "session.update", "session": manual}))
    await until(socket, "session.updated")


async def append(socket: Any, pcm: bytes) -> None:
    audio = base64.b64encode(pcm).decode()
    await socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))


async def turn(socket: Any) -> dict[str, Any]:
    """Half a second of audio, committed and answered: the response.done, or an error."""
    await append(socket, SECOND[: len(SECOND) // 2])
    await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
    await socket.send(json.dumps({"type": "response.create"}))
    return await until(socket, "response.done", "error")


def price(done: dict[str, Any]) -> int:
    """gpt-audio-1.5's $2.50 / $10.00 per 1M tokens (audio at the text rates), per response."""
    usage = done["response"]["usage"]
    return int((usage["input_tokens"] * 25 + usage["output_tokens"] * 100 + 5) // 10)


def wallet(gateway: RunningGateway, key: str) -> dict[str, Any]:
    with gateway.client(key) as client:
        body: dict[str, Any] = client.get("/api/v1/balance").json()
    return body


def settled(gateway: RunningGateway, key: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while (state := wallet(gateway, key))["held_micro_usd"] and time.monotonic() < deadline:
        time.sleep(0.1)
    return state


def usage(gateway: RunningGateway, key: str) -> list[dict[str, Any]]:
    """Every usage record of the key's workspace, page by page."""
    records: list[dict[str, Any]] = []
    params = {"limit": 1000}
    with gateway.client(key) as client:
        while True:
            page = client.get("/api/v1/usage", params=params).json()
            records += page["data"]
            if not page["next"]:
                return records
            params["after"] = page["next"]


def test_a_session_outliving_its_hold_lifetime_pays_for_every_response(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-long-{secrets.token_hex(4)}", "1.00")
    before = wallet(gateway, key)["balance_micro_usd"]

    async def session() -> list[int]:
        costs: list[int] = []
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            started = time.monotonic()
            # Responses keep coming for three hold lifetimes: the reaper runs all along.
            while time.monotonic() - started < 3 * HOLD_TTL_SECONDS or len(costs) < 3:
                done = await turn(socket)
                assert done["type"] == "response.done", done
                costs.append(price(done))
        return costs

    costs = asyncio.run(session())
    after = settled(gateway, key)
    assert after["held_micro_usd"] == 0
    assert before - after["balance_micro_usd"] == sum(costs) > 0
    charged = [r for r in usage(gateway, key) if r["task"] == "realtime" and r["cost_micro_usd"]]
    assert sorted(r["cost_micro_usd"] for r in charged) == sorted(costs)


def test_concurrency_counts_open_sessions(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-conc-{secrets.token_hex(4)}", "1.00", concurrency_limit=1)

    async def three() -> list[str]:
        refusals = []
        async with connect(gateway, key) as first:
            await until(first, "session.created")
            for _ in range(2):
                refusals.append(await opening(gateway, key))
        # Once the server has seen the first one close, its place is free again.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (fourth := await opening(gateway, key)) == "session.created":
                refusals.append(fourth)
                break
        return refusals

    assert asyncio.run(three()) == [
        "429 concurrency_limit_exceeded",
        "429 concurrency_limit_exceeded",
        "session.created",
    ]
    with gateway.client(key) as client:
        records = client.get("/api/v1/usage").json()["data"]
    refused = [r for r in records if r["status"] == "rejected"]
    assert len(refused) >= 2
    assert {(r["model"], r["http_status"], r["error_code"]) for r in refused} == {
        ("gpt-audio-1.5", 429, "concurrency_limit_exceeded")
    }


def test_rpm_counts_session_opens(served: tuple[RunningGateway, RunningSimulator]) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-rpm-{secrets.token_hex(4)}", "1.00", rpm_limit=2)

    async def opens() -> list[str]:
        return [await opening(gateway, key) for _ in range(3)]

    assert asyncio.run(opens()) == [
        "session.created",
        "session.created",
        "429 rate_limit_exceeded",
    ]


def test_a_key_spend_limit_ends_the_session_with_an_error(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-spend-{secrets.token_hex(4)}", "1.00", spend_limit_usd="0.015")

    async def until_refused() -> tuple[list[int], dict[str, Any]]:
        costs: list[int] = []
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            for _ in range(30):
                try:
                    event = await turn(socket)
                except websockets.ConnectionClosed as closed:  # it ended as the turn was sent
                    assert closed.rcvd is not None
                    return costs, {"error": {"code": closed.rcvd.reason}}
                if event["type"] == "error":
                    with pytest.raises(websockets.ConnectionClosed):
                        await asyncio.wait_for(socket.recv(), TIMEOUT)
                    return costs, event
                costs.append(price(event))
        raise AssertionError("the spend limit never ended the session")

    costs, error = asyncio.run(until_refused())
    assert error["error"]["code"] == "key_spend_limit_reached"
    after = settled(gateway, key)
    # A response under way when the session ended is charged too (the provider ran it),
    # though the client never saw it done: every charge is its cost, within the limit.
    assert sum(costs) <= 1_000_000 - after["balance_micro_usd"] <= 15_000
    charged = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    assert all(r["charged_micro_usd"] == r["cost_micro_usd"] for r in charged), charged
    assert sum(r["charged_micro_usd"] for r in charged) == 1_000_000 - after["balance_micro_usd"]


def test_work_is_charged_without_a_response(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-heard-{secrets.token_hex(4)}", "1.00")
    before = wallet(gateway, key)["balance_micro_usd"]

    async def commit_only() -> None:
        async with connect(gateway, key, "local-realtime") as socket:
            await manual_turns(socket)
            await append(socket, SECOND)
            await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
            await until(socket, "conversation.item.input_audio_transcription.completed")

    spent_before = realtime_spend(gateway)
    asyncio.run(commit_only())
    # One second heard at local-realtime's $0.0010 a minute: 16.67 micro-USD, rounded once.
    assert before - settled(gateway, key)["balance_micro_usd"] == 17
    assert realtime_spend(gateway) - spent_before == 17  # and counted as spend in /metrics


def realtime_spend(gateway: RunningGateway) -> float:
    text = httpx.get(f"{gateway.base_url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "voxgate_credit_spent_micro_usd_total"
        and sample.labels.get("model") == "local-realtime"
    )


def test_the_input_buffer_is_bounded(served: tuple[RunningGateway, RunningSimulator]) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-buffer-{secrets.token_hex(4)}", "1.00")

    async def overfill() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(gateway, key, "local-realtime") as socket:
            await manual_turns(socket)
            for _ in range(MAX_AUDIO_SECONDS + 1):
                await append(socket, SECOND)
            refused = await until(socket, "error")
            await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
            heard = await until(socket, "conversation.item.input_audio_transcription.completed")
            return refused, heard

    refused, heard = asyncio.run(overfill())
    assert refused["error"]["code"] == "input_audio_buffer_full"
    assert heard["usage"]["seconds"] == MAX_AUDIO_SECONDS


def test_minting_is_recorded_and_bounded_per_key(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-mint-{secrets.token_hex(4)}", "1.00")
    body = {"session": {"type": "realtime", "model": "gpt-audio-1.5"}}
    with gateway.client(key) as client:
        statuses = [client.post("/v1/realtime/client_secrets", json=body) for _ in range(101)]
        records = client.get("/api/v1/usage", params={"limit": 200}).json()["data"]
    assert [s.status_code for s in statuses] == [200] * 100 + [429]
    assert statuses[-1].json()["error"]["code"] == "too_many_client_secrets"
    minted = [r for r in records if r["task"] == "realtime_secret"]
    assert len(minted) == 101
    assert statuses[0].headers["x-request-id"] in {r["request_id"] for r in minted}
    assert sorted({r["status"] for r in minted}) == ["rejected", "succeeded"]


def test_revoking_a_key_ends_its_open_sessions(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-revoke-{secrets.token_hex(4)}", "1.00")

    async def revoked_while_open() -> dict[str, Any]:
        async with connect(gateway, key) as socket:
            await until(socket, "session.created")
            await asyncio.to_thread(revoke, gateway, key)
            return await until(socket, "error")

    assert asyncio.run(revoked_while_open())["error"]["code"] == "invalid_api_key"


def revoke(gateway: RunningGateway, key: str) -> None:
    with gateway.admin() as admin:
        for workspace in admin.get("/admin/v1/workspaces").json()["data"]:
            path = f"/admin/v1/workspaces/{workspace['id']}/keys"
            for row in admin.get(path).json()["data"]:
                if key.startswith(row["prefix"]):
                    admin.post(f"{path}/{row['id']}/revoke")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_mid_session_then_restart(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    sim_process, sim = start_simulator(tmp_path / "sim", fast=True)
    on_database = {"VOXGATE_DATABASE_URL": database_url} if database_url else {}
    env = simulated_providers(sim, VOXGATE_ENGINE_PRELOAD="false", **SHORT_HOLDS, **on_database)
    process, gateway = start_gateway(tmp_path / "gateway", env)
    try:
        name = f"rt-crash-{secrets.token_hex(4)}"
        key = gateway.new_workspace(name, "1.00")

        async def two_responses_then_kill() -> list[int]:
            async with connect(gateway, key) as socket:
                await manual_turns(socket)
                costs = [price(await turn(socket)) for _ in range(2)]
                process.send_signal(signal.SIGKILL)
                process.wait()
                return costs

        costs = asyncio.run(two_responses_then_kill())
        database = database_url or f"sqlite+aiosqlite:///{tmp_path / 'gateway' / 'voxgate.db'}"
        assert asyncio.run(books(database, name))["open_holds"] == 1
        restarted, _ = start_gateway(tmp_path / "gateway", env)
        try:
            deadline = time.monotonic() + 30
            while asyncio.run(books(database, name))["open_holds"]:
                assert time.monotonic() < deadline, "the reaper never released the session"
                time.sleep(0.2)
        finally:
            stop_gateway(restarted)
        state = asyncio.run(books(database, name))
        assert state["held"] == 0 and state["ledger"] == state["balance"]
        assert state["balance"] == 1_000_000 - sum(costs)
    finally:
        if process.poll() is None:
            stop_gateway(process)
        stop_gateway(sim_process)


def test_the_gateway_stays_responsive_while_one_session_floods(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-flood-{secrets.token_hex(4)}", "1.00")
    flooder = subprocess.Popen(  # from another process, as a hostile client would
        [sys.executable, "-c", FLOOD_SCRIPT, url(gateway, "local-realtime"), key],
        stdout=subprocess.PIPE,
    )
    try:
        assert flooder.stdout is not None
        assert flooder.stdout.readline().strip() == b"flooding"
        timings: list[float] = []
        with httpx.Client(base_url=gateway.base_url) as client:
            while flooder.poll() is None and len(timings) < 200:
                timings.append(healthz_seconds(client))
    finally:
        flooder.kill()
        flooder.wait()
    with httpx.Client(base_url=gateway.base_url) as client:
        quiet = median([healthz_seconds(client) for _ in range(20)])
    # Judged against the same machine's quiet answers, so that a loaded machine's slowness is
    # not taken for a stalled gateway: a loop the flood held would answer in whole seconds.
    assert len(timings) >= 20 and median(timings) < max(0.05, 10 * quiet), (quiet, timings)


def healthz_seconds(client: httpx.Client) -> float:
    started = time.perf_counter()
    assert client.get("/healthz").status_code == 200
    return time.perf_counter() - started


def test_a_local_session_out_of_credit_ends_with_an_error(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    # Exactly one step of credit: the first piece of work is charged, the next step can't be.
    key = gateway.new_workspace(f"rt-local-poor-{secrets.token_hex(4)}", "0.010")

    async def until_closed() -> dict[str, Any]:
        async with connect(gateway, key, "local-realtime") as socket:
            await manual_turns(socket)
            error = await turn(socket)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(socket.recv(), TIMEOUT)
            return error

    error = asyncio.run(until_closed())
    assert error["type"] == "error" and error["error"]["code"] == "insufficient_credit"
    after = settled(gateway, key)
    assert after["held_micro_usd"] == 0 and 0 < 10_000 - after["balance_micro_usd"] < 10_000


def test_a_failed_leg_fails_the_response_and_the_session_goes_on(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    key = gateway.new_workspace(f"rt-leg-{secrets.token_hex(4)}", "1.00")

    async def failed_then_answered() -> tuple[list[str], dict[str, Any]]:
        async with connect(gateway, key, "local-realtime") as socket:
            await manual_turns(socket)
            sim.queue_faults("cascade-key", {"kind": "503"})
            await socket.send(json.dumps({"type": "response.create"}))
            error = await until(socket, "error")
            failed = await until(socket, "response.done")
            await socket.send(json.dumps({"type": "response.create"}))
            answered = await until(socket, "response.done")
            return [error["type"], failed["response"]["status"]], answered

    seen, answered = asyncio.run(failed_then_answered())
    assert seen == ["error", "failed"]
    assert answered["response"]["status"] == "completed"


FLOOD_SCRIPT = """
import asyncio, base64, json, sys, websockets
async def main(url, key):
    async with websockets.connect(url, additional_headers={"Authorization": "Bearer " + key}) as ws:
        await ws.recv()
        print("flooding", flush=True)
        audio = base64.b64encode(bytes(4800)).decode()  # 100 ms for the voice detector
        event = json.dumps({"type": "input_audio_buffer.append", "audio": audio})
        for _ in range(60_000):
            await ws.send(event)
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_a_session_that_cannot_hold_its_first_step_is_refused_and_recorded(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-broke-{secrets.token_hex(4)}", "0.005")

    assert asyncio.run(opening(gateway, key)) == "402 insufficient_credit"
    with gateway.client(key) as client:
        [record] = client.get("/api/v1/usage").json()["data"]
    assert (record["task"], record["status"], record["http_status"]) == (
        "realtime",
        "rejected",
        402,
    )
    assert wallet(gateway, key)["balance_micro_usd"] == 5_000


def test_relayed_transcription_is_metered_without_a_response(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-relay-heard-{secrets.token_hex(4)}", "1.00")

    async def commit_only() -> None:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            await append(socket, SECOND)
            await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
            await until(socket, "conversation.item.input_audio_transcription.completed")

    asyncio.run(commit_only())
    settled(gateway, key)
    heard = [r for r in usage(gateway, key) if "." in r["request_id"]]
    # The simulator bills transcription by duration, as OpenAI may: one second, on its own line.
    assert [r["audio_milliseconds"] for r in heard] == [1000]


def test_relayed_transcription_by_duration_is_priced_by_the_model_the_session_names(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, _ = served
    key = gateway.new_workspace(f"rt-relay-priced-{secrets.token_hex(4)}", "1.00")

    def transcribed_by(model: str) -> dict[str, Any]:
        transcription = {"audio": {"input": {"transcription": {"model": model}}}}
        return {"type": "session.update", "session": {"type": "realtime", **transcription}}

    async def name_models_then_commit() -> dict[str, Any]:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            await socket.send(json.dumps(transcribed_by("no-such-transcriber")))
            refused = await until(socket, "error", "session.updated")
            await socket.send(json.dumps(transcribed_by("whisper-1")))
            await until(socket, "session.updated")
            await append(socket, SECOND)
            await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
            await until(socket, "conversation.item.input_audio_transcription.completed")
            return refused

    refused = asyncio.run(name_models_then_commit())
    assert refused["type"] == "error", refused
    assert refused["error"]["param"] == "session.audio.input.transcription.model"
    settled(gateway, key)
    [heard] = [r for r in usage(gateway, key) if "." in r["request_id"]]
    # Billed by duration, one second at whisper-1's published $0.006 a minute.
    assert (heard["model"], heard["audio_milliseconds"]) == ("whisper-1", 1000), heard
    assert heard["cost_micro_usd"] == 100


def test_a_response_the_client_leaves_is_cancelled_upstream_and_charged(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    key = gateway.new_workspace(f"rt-left-{secrets.token_hex(4)}", "1.00")
    before = wallet(gateway, key)["balance_micro_usd"]
    # Azure, the first route, speaks its second of audio in 200 ms chunks half a second apart.
    sim.queue_faults(
        SIM_KEYS["azure"], {"kind": "paced", "first_chunk_ms": 0, "chunk_interval_ms": 500}
    )

    async def leave_after_the_first_audio() -> None:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            await append(socket, SECOND[: len(SECOND) // 2])
            await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
            await socket.send(json.dumps({"type": "response.create"}))
            delta = await until(socket, "response.output_audio.delta", "response.done")
            assert delta["type"] == "response.output_audio.delta", "the response was not paced"

    asyncio.run(leave_after_the_first_audio())
    after = settled(gateway, key)
    # The provider closed the cancelled response with its usage (the simulator bills the second
    # it generated: 20 audio tokens), and that is what the workspace paid.
    [charged] = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    assert charged["output_audio_tokens"] == 20, charged
    assert charged["provider"] == "azure-openai", charged
    assert after["held_micro_usd"] == 0
    assert before - after["balance_micro_usd"] == charged["cost_micro_usd"]


def test_a_relayed_session_fails_over_to_the_next_route(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    key = gateway.new_workspace(f"rt-failover-{secrets.token_hex(4)}", "1.00")
    # Azure refuses the handshake once: the session opens on the next route, OpenAI's.
    sim.queue_faults(SIM_KEYS["azure"], {"kind": "503"})

    async def session() -> dict[str, Any]:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            return await turn(socket)

    done = asyncio.run(session())
    assert done["type"] == "response.done", done
    settled(gateway, key)
    [charged] = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    assert charged["provider"] == "openai", charged
    assert charged["cost_micro_usd"] == price(done)
