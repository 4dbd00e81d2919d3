"""The SQL of holding and settling credit (see voxgate.store.sql for why it is hand-written)."""

from dataclasses import fields

from voxgate.billing.usage import UsageRecord
from voxgate.store.sql import Sql

HOLD_ON_WALLET = Sql(
    "UPDATE wallets SET held_micro_usd = held_micro_usd + :amount "
    "WHERE workspace_id = :workspace_id AND balance_micro_usd - held_micro_usd >= :amount"
)
HOLD_ON_KEY = Sql(
    "UPDATE api_keys SET held_micro_usd = held_micro_usd + :amount WHERE id = :key_id "
    "AND (spend_limit_micro_usd IS NULL "
    "OR spent_micro_usd + held_micro_usd + :amount <= spend_limit_micro_usd)"
)
INSERT_HOLD = Sql(
    "INSERT INTO holds (id, workspace_id, key_id, request_id, amount_micro_usd, status, "
    "created_at, expires_at) VALUES (:hold_id, :workspace_id, :key_id, :request_id, :amount, "
    "'open', :now, :expires_at)"
)
OPEN_HOLD = Sql(
    "SELECT workspace_id, key_id, amount_micro_usd FROM holds "
    "WHERE id = :hold_id AND status = 'open'"
)
# Each guarded by status: a hold the reaper has just closed is never grown or drawn on.
GROW_HOLD = Sql(
    "UPDATE holds SET amount_micro_usd = amount_micro_usd + :amount "
    "WHERE id = :hold_id AND status = 'open'"
)
DRAW_HOLD = Sql(
    "UPDATE holds SET amount_micro_usd = amount_micro_usd - :amount "
    "WHERE id = :hold_id AND status = 'open' AND amount_micro_usd >= :amount"
)
KEEP_HOLD = Sql("UPDATE holds SET expires_at = :expires_at WHERE id = :hold_id AND status = 'open'")
# Only one of any racing closers finds the hold still open.
CLAIM_HOLD = Sql(
    "UPDATE holds SET status = :status, closed_at = :now "
    "WHERE id = :hold_id AND status = 'open' "
    "RETURNING workspace_id, key_id, amount_micro_usd"
)
# The work of a hold the reaper released is still owed: settling claims it once, with what it
# held (the cap of its charge), though it holds nothing now.
CLAIM_EXPIRED_HOLD = Sql(
    "UPDATE holds SET status = 'settled', closed_at = :now "
    "WHERE id = :hold_id AND status = 'expired' "
    "RETURNING workspace_id, key_id, amount_micro_usd"
)
# An expired hold's work still owed, piece by piece (a session that stalled past its hold's
# lifetime): what it held is the most its pieces may still take.
EXPIRED_HOLD = Sql(
    "SELECT workspace_id, key_id, amount_micro_usd FROM holds "
    "WHERE id = :hold_id AND status = 'expired'"
)
DRAW_EXPIRED_HOLD = Sql(
    "UPDATE holds SET amount_micro_usd = amount_micro_usd - :amount "
    "WHERE id = :hold_id AND status = 'expired' AND amount_micro_usd >= :amount"
)
UNHOLD_WALLET = Sql(
    "UPDATE wallets SET held_micro_usd = held_micro_usd - :amount, "
    "balance_micro_usd = balance_micro_usd - :charged WHERE workspace_id = :workspace_id "
    "RETURNING balance_micro_usd, alert_below_micro_usd"
)
UNHOLD_KEY = Sql(
    "UPDATE api_keys SET held_micro_usd = held_micro_usd - :amount, "
    "spent_micro_usd = spent_micro_usd + :charged WHERE id = :key_id"
)
# What the work of a reaped hold can still take: never more than the workspace has free.
CHARGE_WALLET = Sql(
    "UPDATE wallets SET balance_micro_usd = balance_micro_usd - :amount "
    "WHERE workspace_id = :workspace_id AND balance_micro_usd - held_micro_usd >= :amount"
)
CHARGE_KEY = Sql(
    "UPDATE api_keys SET spent_micro_usd = spent_micro_usd + :amount WHERE id = :key_id"
)
INSERT_CHARGE = Sql(
    "INSERT INTO ledger_entries (workspace_id, amount_micro_usd, kind, reason, request_id, "
    "created_at) VALUES (:workspace_id, :amount, 'charge', :reason, :request_id, :now)"
)
AVAILABLE = Sql(
    "SELECT balance_micro_usd - held_micro_usd FROM wallets WHERE workspace_id = :workspace_id"
)
OPEN_COUNT = Sql("SELECT count(*) FROM holds WHERE status = 'open'")
EXPIRED_HOLDS = Sql("SELECT id FROM holds WHERE status = 'open' AND expires_at < :cutoff")

# The columns are the record's own field names, never input.
USAGE_COLUMNS = (*(field.name for field in fields(UsageRecord)), "created_at")
# A request id can come from the client's load balancer (X-Request-ID), which may send it
# twice (a retry on another gateway): the second record is told apart, never refused, since a
# refused insert would roll back its settlement.
INSERT_USAGE = Sql(
    f"INSERT INTO usage_records ({', '.join(USAGE_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(':' + column for column in USAGE_COLUMNS)}) "
    "ON CONFLICT (request_id) DO NOTHING"
)
