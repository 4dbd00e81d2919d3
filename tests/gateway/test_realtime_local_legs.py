"""The local realtime session's legs in process: each fails over through the gateway's one loop
(the speech until its first chunk), is held once and charged once, and its attempts reach the
piece's usage record and the metrics."""

from dataclasses import replace
from pathlib import Path

from voxgate.catalog.schema import ModelRow, Route
from voxgate.gateway.realtime.local import LocalWork
from voxgate.metrics import Books
from voxgate.testing import FakeProvider, InProcessGateway
from voxgate.types import MicroUSD

REQUEST_ID = "req_local_legs"
# Half a second of 24 kHz PCM16 silence: the fakes hear and answer whatever they are given.
TURN = b"\0" * 24_000


def routed(row: ModelRow, *providers: str) -> ModelRow:
    """The row served by these providers, tried in this order."""
    routes = tuple(Route(provider=name, upstream_model="fake") for name in providers)
    return row.model_copy(update={"routes": routes, "route_order": "ordered"})


async def test_each_leg_fails_over_to_its_next_route_and_records_its_attempts(
    data_dir: Path,
) -> None:
    fakes = [
        FakeProvider("ears-down", fail_with=503),
        FakeProvider("ears-up", transcript="what time is it"),
        FakeProvider("chat-down", fail_with=503),
        FakeProvider("chat-up", answer="It is noon."),
        FakeProvider("voice-down", fail_with=503),
        FakeProvider("voice-up", chunks=2),
    ]
    async with InProcessGateway(data_dir, providers=fakes) as vox:
        gateway = vox.services.gateway
        local = gateway.catalog.get("local-realtime")
        assert local is not None
        row = routed(local, "chat-down", "chat-up")
        base = gateway.legs(row)
        legs = replace(
            base,
            hear=routed(base.hear, "ears-down", "ears-up"),
            speak=routed(base.speak, "voice-down", "voice-up"),
        )
        charge = gateway.open_session_charge(vox.principal, REQUEST_ID)
        charge.identify(row, "realtime")
        chats = gateway.planner.plan(row, gateway.providers.chat)
        await charge.open_session(MicroUSD(10_000), "chat-down", chats[0].label)
        work = LocalWork(row, legs, chats, charge, gateway.attempts)

        heard = await work.hear(TURN)
        answer = await work.answer([{"role": "user", "content": heard.text}], "Be brief.")
        spoken = [pcm async for pcm in work.speak(answer, "alloy", 1.0)]
        await charge.close_session()

        assert (heard.text, answer) == ("what time is it", "It is noon.")
        assert len(spoken) == 2
        assert all(len(fake.calls) == 1 for fake in fakes)
        pieces = [await vox.usage(f"{REQUEST_ID}.{n}") for n in (1, 2, 3)]
        assert [[a["provider"] for a in piece["attempts"]] for piece in pieces] == [
            ["ears-down", "ears-up"],
            ["chat-down", "chat-up"],
            ["voice-down", "voice-up"],
        ]
        assert [[a["status"] for a in piece["attempts"]] for piece in pieces] == [["503", "ok"]] * 3
        # Each leg was held and charged once: the failed attempts cost nothing.
        assert all(piece["charged_micro_usd"] == piece["cost_micro_usd"] for piece in pieces)
        wallet = await vox.wallet()
        assert wallet.held_micro_usd == 0
        assert await vox.ledger_sum() == wallet.balance_micro_usd
        exposition = vox.services.metrics.render(Books(holds_open=0))
        for down in ("ears-down", "chat-down", "voice-down"):
            assert f'provider="{down}",status="503"' in exposition
