"""`AudioGateway.open_session` in process, the one gateway call of a realtime session: a
refusal comes out of it before the client's socket is accepted (a handshake can answer it),
and a client that never came leaves nothing held."""

from pathlib import Path

import pytest

from voxgate.errors import GatewayError, InsufficientCreditError, InvalidRequestError
from voxgate.gateway.realtime.opening import SessionRequest
from voxgate.gateway.realtime.wire import ClientChannel
from voxgate.store.keys import Principal
from voxgate.testing import FakeProvider, InProcessGateway

# A cascade row: its session is planned on its chat route, which the fake serves.
MODEL = "local-realtime"
CHAT_ROUTE = {
    "VOXGATE_CASCADE_CHAT_API_KEY": "test-text-chat",
    "VOXGATE_CASCADE_CHAT_BASE_URL": "http://chat.test/v1",
}


class Client:
    """What a handler gives the gateway: it counts the calls to accept it."""

    def __init__(self) -> None:
        self.accepted = 0

    async def accept(self) -> ClientChannel | None:
        self.accepted += 1
        return None  # a client that never came (a call that never connected)

    async def end(self, channel: ClientChannel, exc: GatewayError) -> None:
        raise AssertionError("no session was served")


def gateway(tmp_path: Path) -> InProcessGateway:
    fake = FakeProvider("openai-compatible")
    return InProcessGateway(tmp_path, providers=[fake], environment=CHAT_ROUTE)


def session(
    vox: InProcessGateway, principal: Principal, url: dict[str, str] | None = None
) -> SessionRequest:
    row = vox.services.gateway.catalog.get(MODEL)
    assert row is not None
    return SessionRequest(principal, row, "req_open_session", url=url or {})


async def test_a_bad_cap_on_the_url_is_refused_before_the_socket_is_accepted(
    tmp_path: Path,
) -> None:
    async with gateway(tmp_path) as vox:
        client = Client()
        asked = session(vox, vox.principal, {"max_session_cost_usd": "-1"})
        with pytest.raises(InvalidRequestError) as refused:
            await vox.services.gateway.open_session(asked, client.accept, client.end)

        assert refused.value.param == "max_session_cost_usd"
        assert client.accepted == 0


async def test_a_workspace_without_credit_is_refused_before_the_socket_is_accepted(
    tmp_path: Path,
) -> None:
    async with gateway(tmp_path) as vox:
        services = vox.services
        workspace = await services.workspaces.create("broke", opening_credit=0)
        key, _ = await services.keys.create_key(workspace.id, "broke")
        client = Client()
        asked = session(vox, Principal(workspace.id, key.id, key.name))
        with pytest.raises(InsufficientCreditError):
            await services.gateway.open_session(asked, client.accept, client.end)
        record = await services.usage.get(workspace.id, asked.request_id)

        assert client.accepted == 0
        assert record is not None and record["status"] == "rejected"


async def test_a_client_that_never_came_gets_its_hold_back(tmp_path: Path) -> None:
    async with gateway(tmp_path) as vox:
        client = Client()
        asked = session(vox, vox.principal)
        await vox.services.gateway.open_session(asked, client.accept, client.end)
        record = await vox.usage(asked.request_id)
        wallet = await vox.wallet()

        assert client.accepted == 1
        assert record["status"] == "failed"
        assert record["model"] == MODEL
        assert wallet.held_micro_usd == 0
        assert wallet.balance_micro_usd == 5_000_000
