"""Mid-session failover (issue 27) against the real gateway and the provider simulator: the
official openai-python realtime client holds a conversation whose upstream drops, stalls or
reports a server_error mid-response; the session moves to the next route on the same socket,
the client is told where, the answer under way is re-created (or reported failed) there, the
next route is given the conversation so far, and each route's pieces are charged from its own
usage."""

import asyncio
import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.e2e.test_realtime_money import SECOND, settled, usage
from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway
from voxgate.settings import PACKAGE_DIR

MODEL = "gpt-audio-1.5"
TIMEOUT = 60
QUESTION = "What is the tallest mountain?"


def overlay(root: Path, **row: object) -> Path:
    """The package catalog with gpt-audio-1.5's row changed: OpenAI's route first (the rest
    after it, or `routes` when given), and whatever else `row` sets."""
    catalog = root / "catalog"
    shutil.copytree(PACKAGE_DIR / "catalog", catalog)
    path = catalog / "models" / f"{MODEL}.yaml"
    shipped = yaml.safe_load(path.read_text())
    routes = sorted(shipped["routes"], key=lambda route: route["provider"] != "openai")
    path.write_text(yaml.safe_dump(shipped | {"routes": routes} | row, sort_keys=False))
    return catalog


def failing_over(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    responses: str = "recreate",
    **row: object,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    root = tmp_path_factory.mktemp(name)
    settings = {
        "VOXGATE_CATALOG_DIR": str(overlay(root, **row)),
        "VOXGATE_REALTIME_FAILOVER_STALL_SECONDS": "2",
        "VOXGATE_REALTIME_FAILOVER_RESPONSES": responses,
    }
    with routed_gateway(root, fast=True, **settings) as served:
        yield served


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    yield from failing_over(tmp_path_factory, "rt-failover")


@pytest.fixture(scope="module")
def reported_failed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    yield from failing_over(tmp_path_factory, "rt-failover-fail", responses="fail")


@pytest.fixture(scope="module")
def last_hop(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator]]:
    """OpenAI's route alone, then the local cascade as the last hop."""
    openai_only = [
        route
        for route in yaml.safe_load(
            (PACKAGE_DIR / "catalog/models/gpt-audio-1.5.yaml").read_text()
        )["routes"]
        if route["provider"] == "openai"
    ]
    yield from failing_over(
        tmp_path_factory, "rt-last-hop", routes=openai_only, realtime_last_hop="local-realtime"
    )


def sessions(sim: RunningSimulator) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{sim.base_url}/_sim/realtime").json()["sessions"]
    return found


async def conversation(gateway: RunningGateway, key: str) -> list[Any]:
    """Two turns on one socket (a spoken one, then a typed one), each answered; every event
    the client saw, until the second turn's answer is done (after a move, its re-creation)."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key)
    seen: list[Any] = []
    async with client.realtime.connect(model=MODEL) as connection:
        await spoken_turn(connection, seen)
        await ask(connection)
        while (await _until_done(connection, seen)).response.status != "completed":
            pass
    return seen


async def asked_again(gateway: RunningGateway, key: str) -> list[Any]:
    """The same two turns, but the second answer asked for once more after it failed."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key)
    seen: list[Any] = []
    async with client.realtime.connect(model=MODEL) as connection:
        await spoken_turn(connection, seen)
        await ask(connection)
        assert (await _until_done(connection, seen)).response.status == "failed"
        await connection.response.create()
        await _until_done(connection, seen)
    return seen


async def updated_then_asked(gateway: RunningGateway, key: str) -> list[Any]:
    """A settings update, answered, then a typed question, answered: every event seen."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=key)
    seen: list[Any] = []
    async with client.realtime.connect(model=MODEL) as connection:
        manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        await connection.session.update(session=manual)  # type: ignore[arg-type]
        async for event in connection:
            seen.append(event)
            if event.type == "session.updated":
                break
        await ask(connection)
        await _until_done(connection, seen)
    return seen


async def spoken_turn(connection: Any, seen: list[Any]) -> None:
    """Manual turns, then a second of speech, committed and answered."""
    manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    await connection.session.update(session=manual)
    await connection.input_audio_buffer.append(audio=base64.b64encode(SECOND).decode())
    await connection.input_audio_buffer.commit()
    await connection.response.create()
    await _until_done(connection, seen)


async def ask(connection: Any) -> None:
    """The typed question, and a response asked for."""
    await connection.conversation.item.create(
        item={
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": QUESTION}],
        }
    )
    await connection.response.create()


async def _until_done(connection: Any, seen: list[Any]) -> Any:
    async for event in connection:
        seen.append(event)
        if event.type == "response.done":
            return event
    raise AssertionError("the socket closed before the answer was done")


def talk(gateway: RunningGateway, key: str) -> list[Any]:
    return asyncio.run(asyncio.wait_for(conversation(gateway, key), TIMEOUT))


def failing_after(
    sim: RunningSimulator, gateway: RunningGateway, key: str, unconfirmed: bool = False
) -> int:
    """How many events the first route sends before the second answer's first audio went out
    (or, `unconfirmed`, before it confirms the typed question): the same conversation,
    unfaulted, read off the simulator's own log."""
    talk(gateway, key)
    sent: list[str] = sessions(sim)[-1]["sent"]
    if unconfirmed:
        return sent.index("conversation.item.added", sent.index("response.done"))
    second = [i for i, kind in enumerate(sent) if kind == "response.created"][1]
    return sent.index("response.output_audio.delta", second) + 1


def moved(seen: list[Any]) -> Any:
    [event] = [e for e in seen if e.type == "voxgate.session.moved"]
    return event


@pytest.mark.parametrize("fault", ["drop", "server_error", "stall"])
def test_a_session_moves_from_openai_to_azure_mid_answer_and_keeps_its_conversation(
    served: tuple[RunningGateway, RunningSimulator], fault: str
) -> None:
    gateway, sim = served
    key = gateway.new_workspace(f"rt-move-{fault}", "1.00")
    after = failing_after(sim, gateway, gateway.new_workspace(f"rt-probe-{fault}", "1.00"))
    sim.queue_faults(SIM_KEYS["primary"], {"kind": fault, "after_events": after})

    seen = talk(gateway, key)

    event = moved(seen)
    reason = {"drop": "upstream_closed", "server_error": "server_error", "stall": "stalled"}
    assert event.reason == reason[fault]
    assert event.model_extra["from"]["provider"] == "openai"
    assert event.model_extra["to"]["provider"] == "azure-openai"
    # The answer under way on OpenAI is closed for the client as failed, then re-created.
    [cut] = [e for e in seen if e.type == "response.done" and e.response.status == "failed"]
    assert event.responses == [{"id": cut.response.id, "action": "recreated"}]
    assert not [e for e in seen if e.type == "error"], "no error reaches the client"
    assert seen[-1].response.status == "completed"
    # Azure was given the session so far: the spoken turn as its transcript, the first answer,
    # and the typed question, which its answer read.
    heard = next(e.transcript for e in seen if e.type.endswith("transcription.completed"))
    first_answer = next(e.transcript for e in seen if e.type.endswith("transcript.done"))
    [azure] = [s for s in sessions(sim)[-2:] if s["credential"] == SIM_KEYS["azure"]]
    read = [(m["role"], m["content"]) for m in azure["answers"][0]["messages"]]
    assert read == [("user", heard), ("assistant", first_answer), ("user", QUESTION)]
    # Each route's pieces are charged from its own usage and name their route.
    assert settled(gateway, key)["held_micro_usd"] == 0
    records = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    for record in records:
        assert record["charged_micro_usd"] == record["cost_micro_usd"], record
    assert {r["provider"] for r in records} == {"openai", "azure-openai"}, records


def test_a_session_whose_routes_are_all_lost_goes_on_at_its_local_last_hop(
    last_hop: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = last_hop
    key = gateway.new_workspace("rt-last-hop", "1.00")
    after = failing_after(sim, gateway, gateway.new_workspace("rt-last-hop-probe", "1.00"))
    sim.queue_faults(SIM_KEYS["primary"], {"kind": "drop", "after_events": after})

    seen = talk(gateway, key)

    event = moved(seen)
    assert event.reason == "upstream_closed"
    assert event.model_extra["from"]["provider"] == "openai"
    assert event.model_extra["to"]["provider"] == "openai-compatible"
    [cut] = [e for e in seen if e.type == "response.done" and e.response.status == "failed"]
    assert event.responses == [{"id": cut.response.id, "action": "recreated"}]
    assert [e.type for e in seen].count("session.created") == 1
    assert not [e for e in seen if e.type == "error"], "no error reaches the client"
    assert seen[-1].response.status == "completed"
    # The local cascade's chat read the session so far, replayed as text.
    heard = next(e.transcript for e in seen if e.type.endswith("transcription.completed"))
    first_answer = next(e.transcript for e in seen if e.type.endswith("transcript.done"))
    [chat] = [r for r in sim.requests() if r["path"].endswith("/chat/completions")][-1:]
    read = [(m["role"], m["content"]) for m in chat["body"]["messages"] if m["role"] != "system"]
    assert read == [("user", heard), ("assistant", first_answer), ("user", QUESTION)]
    # OpenAI's pieces at gpt-audio-1.5's prices, the local ones at local-realtime's.
    assert settled(gateway, key)["held_micro_usd"] == 0
    records = [r for r in usage(gateway, key) if r["cost_micro_usd"]]
    for record in records:
        assert record["charged_micro_usd"] == record["cost_micro_usd"], record
    routes = {(r["provider"], r["model"]) for r in records}
    assert routes == {("openai", MODEL), ("openai-compatible", "local-realtime")}, records


def test_an_answer_under_way_is_reported_failed_when_the_settings_say_so(
    reported_failed: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = reported_failed
    key = gateway.new_workspace("rt-move-fail", "1.00")
    after = failing_after(sim, gateway, gateway.new_workspace("rt-move-fail-probe", "1.00"))
    sim.queue_faults(SIM_KEYS["primary"], {"kind": "drop", "after_events": after})

    seen = asyncio.run(asyncio.wait_for(asked_again(gateway, key), TIMEOUT))

    event = moved(seen)
    [cut] = [e for e in seen if e.type == "response.done" and e.response.status == "failed"]
    assert event.responses == [{"id": cut.response.id, "action": "failed"}]
    assert seen[-1].response.status == "completed"
    # Azure answered once: the response the client asked for again, with the context.
    [azure] = [s for s in sessions(sim)[-2:] if s["credential"] == SIM_KEYS["azure"]]
    assert azure["sent"].count("response.created") == 1
    read = [(m["role"], m["content"]) for m in azure["answers"][0]["messages"]]
    assert read[-1] == ("user", QUESTION) and len(read) == 3
    assert settled(gateway, key)["held_micro_usd"] == 0


def test_a_question_the_lost_route_never_confirmed_is_asked_on_the_next(
    served: tuple[RunningGateway, RunningSimulator],
) -> None:
    gateway, sim = served
    key = gateway.new_workspace("rt-move-unconfirmed", "1.00")
    probe = gateway.new_workspace("rt-move-unconfirmed-probe", "1.00")
    after = failing_after(sim, gateway, probe, unconfirmed=True)
    sim.queue_faults(SIM_KEYS["primary"], {"kind": "drop", "after_events": after})

    seen = talk(gateway, key)

    event = moved(seen)
    assert event.model_extra["to"]["provider"] == "azure-openai"
    # The answer asked for with the question was never created upstream: whether the relay
    # held it before the loss (re-created by the move) or after (sent on to Azure) is the
    # client's timing; either way it is asked of Azure once.
    assert event.responses in ([], [{"id": "", "action": "recreated"}])
    assert seen[-1].response.status == "completed"
    [azure] = [s for s in sessions(sim)[-2:] if s["credential"] == SIM_KEYS["azure"]]
    assert azure["sent"].count("response.created") == 1
    read = [(m["role"], m["content"]) for m in azure["answers"][0]["messages"]]
    assert read[-1] == ("user", QUESTION) and len(read) == 3
    assert settled(gateway, key)["held_micro_usd"] == 0


@pytest.mark.parametrize("served_by", ["served", "last_hop"])
def test_an_update_the_lost_route_never_answered_is_answered_after_the_move(
    request: pytest.FixtureRequest, served_by: str
) -> None:
    """The route drops the session right after session.created, before answering the
    gateway's opening update or the client's: the client's update is answered all the same
    (once), by the next route or the last hop, and the session goes on."""
    gateway, sim = request.getfixturevalue(served_by)
    key = gateway.new_workspace(f"rt-move-update-{served_by}", "1.00")
    sim.queue_faults(SIM_KEYS["primary"], {"kind": "drop", "after_events": 1})

    seen = asyncio.run(asyncio.wait_for(updated_then_asked(gateway, key), TIMEOUT))

    assert moved(seen).reason == "upstream_closed"
    [updated] = [e for e in seen if e.type == "session.updated"]
    assert updated.session.audio.input.turn_detection is None
    assert not [e for e in seen if e.type == "error"], "no error reaches the client"
    assert seen[-1].response.status == "completed"
    assert settled(gateway, key)["held_micro_usd"] == 0
