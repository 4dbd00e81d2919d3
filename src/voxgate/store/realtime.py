"""Realtime client secrets (`ek_…`): minted for one workspace key and model, stored hashed."""

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select

from voxgate.errors import RateLimitError
from voxgate.store.database import Database
from voxgate.store.keys import KeyHasher, Principal
from voxgate.store.tables import ApiKey, RealtimeSecret, utcnow

MIN_RETRY_SECONDS = 10
SECRET_PREFIX = "ek_"  # noqa: S105 - a prefix that secret scanners know, not a secret


@dataclass(frozen=True, slots=True)
class MintedSecret:
    value: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SecretGrant:
    """What a presented secret allows: its key's principal, one model, one session config."""

    principal: Principal
    model: str
    session: dict[str, Any]


class RealtimeSecrets:
    def __init__(self, database: Database, hasher: KeyHasher) -> None:
        self._database = database
        self._hasher = hasher

    async def mint(
        self,
        principal: Principal,
        model: str,
        session: dict[str, Any],
        ttl_seconds: int,
        *,
        max_live: int,
    ) -> MintedSecret:
        """A new secret; RateLimitError when the key already has `max_live` unexpired ones.
        The key's expired secrets are deleted first, so its rows stay bounded too."""
        value = SECRET_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        expires_at = now + timedelta(seconds=ttl_seconds)
        async with self._database.transaction() as connection:
            await connection.execute(
                delete(RealtimeSecret).where(
                    RealtimeSecret.key_id == principal.key_id, RealtimeSecret.expires_at <= now
                )
            )
            live = await connection.scalar(
                select(func.count()).where(RealtimeSecret.key_id == principal.key_id)
            )
            if int(live or 0) >= max_live:
                raise RateLimitError(
                    f"This API key has {max_live} unexpired client secrets, the most it may "
                    "hold; use one or let them expire.",
                    retry_after_seconds=MIN_RETRY_SECONDS,
                    code="too_many_client_secrets",
                )
            await connection.execute(
                insert(RealtimeSecret).values(
                    id=f"rts_{secrets.token_hex(8)}",
                    secret_hash=self._hasher.hash(value),
                    workspace_id=principal.workspace_id,
                    key_id=principal.key_id,
                    model=model,
                    session=session,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        return MintedSecret(value, expires_at)

    async def key_is_live(self, key_id: str) -> bool:
        """Whether the key still exists, unrevoked and unexpired (checked while sessions run)."""
        query = select(ApiKey.revoked_at, ApiKey.expires_at).where(ApiKey.id == key_id)
        async with self._database.reading() as connection:
            row = (await connection.execute(query)).first()
        if row is None or row.revoked_at is not None:
            return False
        return row.expires_at is None or row.expires_at > utcnow()

    async def resolve(self, value: str) -> SecretGrant | None:
        """The grant of a live secret whose key is still valid; None otherwise."""
        if not value.startswith(SECRET_PREFIX):
            return None
        digest = self._hasher.hash(value)
        query = (
            select(
                RealtimeSecret.secret_hash,
                RealtimeSecret.model,
                RealtimeSecret.session,
                RealtimeSecret.expires_at,
                ApiKey.workspace_id,
                ApiKey.id.label("key_id"),
                ApiKey.name,
                ApiKey.spend_limit_micro_usd,
                ApiKey.rpm_limit,
                ApiKey.concurrency_limit,
                ApiKey.max_session_cost_micro_usd,
                ApiKey.max_response_cost_micro_usd,
                ApiKey.cap_policy,
                ApiKey.revoked_at,
                ApiKey.expires_at.label("key_expires_at"),
            )
            .join(ApiKey, ApiKey.id == RealtimeSecret.key_id)
            .where(RealtimeSecret.secret_hash == digest)
        )
        async with self._database.reading() as connection:
            row = (await connection.execute(query)).first()
        if row is None or not hmac.compare_digest(row.secret_hash, digest):
            return None
        now = utcnow()
        key_expired = row.key_expires_at is not None and row.key_expires_at <= now
        if row.expires_at <= now or row.revoked_at is not None or key_expired:
            return None
        principal = Principal(
            row.workspace_id,
            row.key_id,
            row.name,
            row.spend_limit_micro_usd,
            row.rpm_limit,
            row.concurrency_limit,
            row.max_session_cost_micro_usd,
            row.max_response_cost_micro_usd,
            row.cap_policy,
        )
        return SecretGrant(principal, row.model, dict(row.session))
