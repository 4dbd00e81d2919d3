import asyncio
import time
from datetime import timedelta

from sqlalchemy import text

from voxgate.store.database import Database
from voxgate.store.keys import KeyHasher, KeyStore
from voxgate.store.tables import utcnow
from voxgate.store.workspaces import Workspaces


async def test_keys_authenticate_until_revoked(database: Database) -> None:
    workspace = await Workspaces(database).create("acme")
    keys = KeyStore(database, KeyHasher(b"pepper"))
    record, secret = await keys.create_key(workspace.id, "ci")
    assert secret.startswith("vg_live_") and len(secret) >= len("vg_live_") + 32
    assert record.prefix == secret[:12]
    principal = await keys.authenticate(secret)
    assert principal is not None
    assert (principal.workspace_id, principal.key_id) == (workspace.id, record.id)
    assert await keys.authenticate(secret + "x") is None
    assert await keys.authenticate("sk-" + secret) is None
    assert await keys.revoke(workspace.id, record.id)
    assert await keys.authenticate(secret) is None


async def test_expired_keys_are_refused(database: Database) -> None:
    workspace = await Workspaces(database).create("acme")
    keys = KeyStore(database, KeyHasher(b"pepper"))
    _, secret = await keys.create_key(
        workspace.id, "old", expires_at=utcnow() - timedelta(seconds=1)
    )
    assert await keys.authenticate(secret) is None


async def test_another_pepper_does_not_match(database: Database) -> None:
    workspace = await Workspaces(database).create("acme")
    _, secret = await KeyStore(database, KeyHasher(b"one")).create_key(workspace.id, "k")
    assert await KeyStore(database, KeyHasher(b"two")).authenticate(secret) is None


async def test_the_secret_is_stored_nowhere(database: Database) -> None:
    workspace = await Workspaces(database).create("acme")
    keys = KeyStore(database, KeyHasher(b"pepper"))
    _, secret = await keys.create_key(workspace.id, "ci")
    await keys.authenticate(secret)
    async with database.reading() as connection:
        rows = (await connection.execute(text("SELECT * FROM api_keys"))).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert secret not in stored
    assert secret[12:] not in stored


async def test_a_workspace_revokes_only_its_own_keys(database: Database) -> None:
    workspaces = Workspaces(database)
    mine, theirs = await workspaces.create("mine"), await workspaces.create("theirs")
    keys = KeyStore(database, KeyHasher(b"pepper"))
    record, secret = await keys.create_key(theirs.id, "k")
    assert not await keys.revoke(mine.id, record.id)
    assert await keys.authenticate(secret) is not None
    assert [key.id for key in await keys.list(mine.id)] == []


async def test_a_trusted_key_is_refused_at_once_when_revoked_here(database: Database) -> None:
    workspace = await Workspaces(database).create("acme")
    keys = KeyStore(database, KeyHasher(b"pepper"), trust_seconds=60)
    record, secret = await keys.create_key(workspace.id, "ci")
    assert await keys.authenticate(secret) is not None
    assert await keys.revoke(workspace.id, record.id)
    assert await keys.authenticate(secret) is None


async def test_a_key_revoked_elsewhere_is_refused_once_its_trust_runs_out(
    database: Database,
) -> None:
    workspace = await Workspaces(database).create("acme")
    trust_seconds = 0.3
    here = KeyStore(database, KeyHasher(b"pepper"), trust_seconds=trust_seconds)
    elsewhere = KeyStore(database, KeyHasher(b"pepper"))
    record, secret = await here.create_key(workspace.id, "ci")
    assert await here.authenticate(secret) is not None
    revoked = time.monotonic()
    assert await elsewhere.revoke(workspace.id, record.id)
    while True:
        # Timed from before the call: a busy machine may stall the call, never the trust.
        asked = time.monotonic()
        if await here.authenticate(secret) is None:
            break
        assert asked - revoked <= trust_seconds, "trusted after its time ran out"
        await asyncio.sleep(0.02)
    assert await elsewhere.authenticate(secret) is None


async def test_a_keys_first_use_is_written_as_its_last_use(database: Database) -> None:
    workspace = await Workspaces(database).create("acme")
    keys = KeyStore(database, KeyHasher(b"pepper"))
    record, secret = await keys.create_key(workspace.id, "ci")
    before = utcnow()
    assert await keys.authenticate(secret) is not None
    [listed] = await keys.list(workspace.id)
    assert listed.id == record.id
    assert listed.last_used_at is not None and listed.last_used_at >= before - timedelta(seconds=1)
