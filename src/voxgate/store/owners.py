"""Workspace owners' tokens: shown once, stored as a peppered hash, looked up by that hash."""

import hmac
import secrets
from typing import Any

from sqlalchemy import insert, select, update

from voxgate.store.database import Database
from voxgate.store.keys import KeyHasher
from voxgate.store.tables import OwnerToken, utcnow

OWNER_PREFIX = "vg_owner_"
SHOWN_PREFIX_LENGTH = 13


class OwnerTokens:
    def __init__(self, database: Database, hasher: KeyHasher) -> None:
        self._database = database
        self._hasher = hasher

    async def create(self, workspace_id: str, name: str) -> tuple[dict[str, Any], str]:
        """A new token and its secret; the secret is not stored and cannot be shown again."""
        secret = OWNER_PREFIX + secrets.token_urlsafe(32)
        token_id = f"owner_{secrets.token_hex(8)}"
        async with self._database.transaction() as connection:
            await connection.execute(
                insert(OwnerToken).values(
                    id=token_id,
                    workspace_id=workspace_id,
                    name=name,
                    prefix=secret[:SHOWN_PREFIX_LENGTH],
                    secret_hash=self._hasher.hash(secret),
                    created_at=utcnow(),
                )
            )
        [token] = [t for t in await self.all(workspace_id) if t["id"] == token_id]
        return token, secret

    async def workspace_of(self, secret: str) -> str | None:
        """The workspace a live owner token manages, or None."""
        owned = await self.owner_of(secret)
        return owned[1] if owned else None

    async def owner_of(self, secret: str) -> tuple[str, str] | None:
        """A live owner token's id and the workspace it manages, or None."""
        if not secret.startswith(OWNER_PREFIX):
            return None
        digest = self._hasher.hash(secret)
        query = select(OwnerToken.secret_hash, OwnerToken.id, OwnerToken.workspace_id).where(
            OwnerToken.secret_hash == digest, OwnerToken.revoked_at.is_(None)
        )
        async with self._database.reading() as connection:
            row = (await connection.execute(query)).first()
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        return str(row[1]), str(row[2])

    async def is_live(self, token_id: str) -> bool:
        """Whether the token exists unrevoked (checked on each console page it signed in)."""
        query = select(OwnerToken.id).where(
            OwnerToken.id == token_id, OwnerToken.revoked_at.is_(None)
        )
        async with self._database.reading() as connection:
            return (await connection.execute(query)).first() is not None

    async def all(self, workspace_id: str) -> list[dict[str, Any]]:
        query = (
            select(
                OwnerToken.id,
                OwnerToken.workspace_id,
                OwnerToken.name,
                OwnerToken.prefix,
                OwnerToken.created_at,
                OwnerToken.revoked_at,
            )
            .where(OwnerToken.workspace_id == workspace_id)
            .order_by(OwnerToken.created_at)
        )
        async with self._database.reading() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def revoke(self, workspace_id: str, token_id: str) -> bool:
        async with self._database.transaction() as connection:
            result = await connection.execute(
                update(OwnerToken)
                .where(
                    OwnerToken.id == token_id,
                    OwnerToken.workspace_id == workspace_id,
                    OwnerToken.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
        return result.rowcount == 1
