import pytest

from tests.billing.accounts import KEY_ID, funded
from voxgate.billing.holds import Holds
from voxgate.billing.ledger import Ledger
from voxgate.errors import InvalidRequestError
from voxgate.store.database import Database
from voxgate.store.workspaces import Workspaces
from voxgate.types import MicroUSD


async def test_opening_credit_credits_and_debits_sum_to_the_balance(database: Database) -> None:
    workspace = await Workspaces(database).create("acme", opening_credit=5_000_000)
    ledger = Ledger(database)
    await ledger.credit(workspace.id, MicroUSD(1_000_000), "top-up")
    await ledger.debit(workspace.id, MicroUSD(250_000), "refund correction")
    wallet = await ledger.wallet(workspace.id)
    assert wallet is not None and wallet.balance_micro_usd == 5_750_000
    assert await ledger.ledger_sum(workspace.id) == 5_750_000


async def test_a_debit_cannot_take_held_credit(database: Database) -> None:
    workspace_id = await funded(database, 100_000)
    await Holds(database).place(
        workspace_id=workspace_id,
        key_id=KEY_ID,
        request_id="r",
        amount=MicroUSD(60_000),
        ttl_seconds=60,
    )
    with pytest.raises(InvalidRequestError):
        await Ledger(database).debit(workspace_id, MicroUSD(50_000), "too much")
    wallet = await Ledger(database).wallet(workspace_id)
    assert wallet is not None and wallet.balance_micro_usd == 100_000


async def test_amounts_must_be_positive(database: Database) -> None:
    workspace = await Workspaces(database).create("acme")
    with pytest.raises(InvalidRequestError):
        await Ledger(database).credit(workspace.id, MicroUSD(0), "nothing")
