"""Workspace API keys: shown once, stored as a peppered hash, compared in constant time."""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from voxgate.store.database import Database
from voxgate.store.sql import Row, Sql, Tx
from voxgate.store.tables import ApiKey, utcnow

KEY_PREFIX = "vg_live_"
SHOWN_PREFIX_LENGTH = 12
# last_used_at is a hint for operators, so it is written at most once a minute per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_TRUSTED_KEYS = 10_000
# Every request authenticates, so this read goes straight to the driver (see store/sql.py).
LIVE_KEY = Sql(
    "SELECT secret_hash, workspace_id, id, name, spend_limit_micro_usd, rpm_limit, "
    "concurrency_limit, max_session_cost_micro_usd, max_response_cost_micro_usd, cap_policy, "
    "(SELECT speech_cache FROM workspaces WHERE workspaces.id = api_keys.workspace_id), "
    "last_used_at IS NULL OR last_used_at < :stale_before "
    "FROM api_keys WHERE secret_hash = :digest AND revoked_at IS NULL "
    "AND (expires_at IS NULL OR expires_at > :now)"
)
# Written by a request (a key's first use in a while): straight to the driver as well, so the
# first request of a process compiles no ORM statement.
TOUCH_KEY = Sql("UPDATE api_keys SET last_used_at = :now WHERE id = :key_id")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key and its workspace, with the key's limits and whether the
    workspace opted in to the speech cache."""

    workspace_id: str
    key_id: str
    key_name: str
    spend_limit_micro_usd: int | None = None
    rpm_limit: int | None = None
    concurrency_limit: int | None = None
    # Realtime cost caps in micro-USD, and what a response past one gets (None: the default).
    max_session_cost_micro_usd: int | None = None
    max_response_cost_micro_usd: int | None = None
    cap_policy: str | None = None
    speech_cache: bool = False


@dataclass(frozen=True, slots=True)
class SessionCapLimits:
    """A key's realtime cost caps (None lifts one; a policy of None is the gateway's)."""

    max_session_cost_micro_usd: int | None = None
    max_response_cost_micro_usd: int | None = None
    cap_policy: str | None = None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    workspace_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyHasher:
    def __init__(self, pepper: bytes) -> None:
        self._pepper = pepper

    def hash(self, secret: str) -> str:
        return hmac.digest(self._pepper, secret.encode(), hashlib.sha256).hex()


class KeyStore:
    """Keys in the database. A key found live is trusted for `trust_seconds` without asking
    again (every request authenticates; on SQLite the read costs more than the rest of the
    check): a key revoked here is refused at once, one revoked by another process or expired
    at most that much later."""

    def __init__(self, database: Database, hasher: KeyHasher, trust_seconds: float = 0.0) -> None:
        self._database = database
        self._hasher = hasher
        self._trust_seconds = trust_seconds
        # By digest: a live key's principal and the monotonic time until which it is trusted.
        self._trusted: dict[str, tuple[Principal, float]] = {}

    async def create_key(
        self,
        workspace_id: str,
        name: str,
        *,
        expires_at: datetime | None = None,
        spend_limit_micro_usd: int | None = None,
        rpm_limit: int | None = None,
        concurrency_limit: int | None = None,
        caps: SessionCapLimits | None = None,
    ) -> tuple[KeyRecord, str]:
        """A new key and its secret; the secret is not stored and cannot be shown again."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        record = KeyRecord(
            f"key_{secrets.token_hex(8)}",
            workspace_id,
            name,
            secret[:SHOWN_PREFIX_LENGTH],
            utcnow(),
            None,
            expires_at,
            None,
        )
        async with self._database.transaction() as connection:
            await connection.execute(
                insert(ApiKey).values(
                    id=record.id,
                    workspace_id=workspace_id,
                    name=name,
                    prefix=record.prefix,
                    secret_hash=self._hasher.hash(secret),
                    created_at=record.created_at,
                    expires_at=expires_at,
                    spend_limit_micro_usd=spend_limit_micro_usd,
                    rpm_limit=rpm_limit,
                    concurrency_limit=concurrency_limit,
                    **vars_of(caps or SessionCapLimits()),
                )
            )
        return record, secret

    async def authenticate(self, secret: str) -> Principal | None:
        if not secret.startswith(KEY_PREFIX):
            return None
        digest = self._hasher.hash(secret)
        trusted = self._trusted.get(digest)
        if trusted is not None and time.monotonic() < trusted[1]:
            return trusted[0]
        now = utcnow()

        async def live_key(tx: Tx) -> Row | None:
            return await tx.fetch_one(
                LIVE_KEY, digest=digest, now=now, stale_before=now - LAST_USED_RESOLUTION
            )

        row = await self._database.read(live_key)
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        workspace_id, key_id, name, spend_limit, rpm_limit, concurrency_limit = row[1:7]
        max_session_cost, max_response_cost, cap_policy, speech_cache, stale = row[7:]
        if stale:
            await self._touch(key_id, now)
        principal = Principal(
            workspace_id,
            key_id,
            name,
            spend_limit,
            rpm_limit,
            concurrency_limit,
            max_session_cost,
            max_response_cost,
            cap_policy,
            speech_cache=bool(speech_cache),
        )
        if self._trust_seconds > 0:
            self._trust(digest, principal)
        return principal

    def _trust(self, digest: str, principal: Principal) -> None:
        if len(self._trusted) >= MAX_TRUSTED_KEYS:
            self._trusted.clear()  # only live keys get here: a flood of them starts afresh
        self._trusted[digest] = (principal, time.monotonic() + self._trust_seconds)

    async def revoke(self, workspace_id: str, key_id: str) -> bool:
        async with self._database.transaction() as connection:
            result = await connection.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == key_id,
                    ApiKey.workspace_id == workspace_id,
                    ApiKey.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
        self._forget(key_id)
        return result.rowcount == 1

    async def limits(self, workspace_id: str, key_id: str) -> dict[str, Any] | None:
        """A key's limits and what it has spent and holds, for its operator."""
        async with self._database.reading() as connection:
            row = (
                (
                    await connection.execute(
                        select(
                            ApiKey.spend_limit_micro_usd,
                            ApiKey.rpm_limit,
                            ApiKey.concurrency_limit,
                            ApiKey.max_session_cost_micro_usd,
                            ApiKey.max_response_cost_micro_usd,
                            ApiKey.cap_policy,
                            ApiKey.spent_micro_usd,
                            ApiKey.held_micro_usd,
                        ).where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def set_limits(
        self,
        workspace_id: str,
        key_id: str,
        *,
        spend_limit_micro_usd: int | None,
        rpm_limit: int | None,
        concurrency_limit: int | None,
    ) -> bool:
        """New limits (None lifts one); this process applies them at once, others within the
        trust time."""
        async with self._database.transaction() as connection:
            result = await connection.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
                .values(
                    spend_limit_micro_usd=spend_limit_micro_usd,
                    rpm_limit=rpm_limit,
                    concurrency_limit=concurrency_limit,
                )
            )
        self._forget(key_id)
        return result.rowcount == 1

    async def set_caps(self, workspace_id: str, key_id: str, caps: SessionCapLimits) -> bool:
        """New realtime cost caps for the key's sessions opened from now on."""
        async with self._database.transaction() as connection:
            result = await connection.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
                .values(**vars_of(caps))
            )
        self._forget(key_id)
        return result.rowcount == 1

    def _forget(self, key_id: str) -> None:
        self._trusted = {
            digest: entry for digest, entry in self._trusted.items() if entry[0].key_id != key_id
        }

    def forget_workspace(self, workspace_id: str) -> None:
        """The workspace's settings changed: its keys are read again on their next request
        here (other processes read them within the trust time)."""
        self._trusted = {
            digest: entry
            for digest, entry in self._trusted.items()
            if entry[0].workspace_id != workspace_id
        }

    async def list(self, workspace_id: str) -> list[KeyRecord]:
        async with self._database.reading() as connection:
            rows = await connection.execute(
                select(
                    ApiKey.id,
                    ApiKey.workspace_id,
                    ApiKey.name,
                    ApiKey.prefix,
                    ApiKey.created_at,
                    ApiKey.last_used_at,
                    ApiKey.expires_at,
                    ApiKey.revoked_at,
                )
                .where(ApiKey.workspace_id == workspace_id)
                .order_by(ApiKey.created_at)
            )
            return [KeyRecord(*row) for row in rows]

    async def _touch(self, key_id: str, now: datetime) -> None:
        async def touch(tx: Tx) -> None:
            await tx.execute(TOUCH_KEY, key_id=key_id, now=now)

        await self._database.write(touch)


def vars_of(caps: SessionCapLimits) -> dict[str, Any]:
    return {
        "max_session_cost_micro_usd": caps.max_session_cost_micro_usd,
        "max_response_cost_micro_usd": caps.max_response_cost_micro_usd,
        "cap_policy": caps.cap_policy,
    }
