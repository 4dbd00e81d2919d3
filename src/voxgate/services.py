"""The composition root: builds every long-lived object once per process from the settings."""

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from voxgate.billing.holds import HoldBook, Holds
from voxgate.billing.ledger import Ledger
from voxgate.billing.metering import TokenCounter
from voxgate.billing.unbilled import UnbilledHolds
from voxgate.catalog.loader import Catalog, load_catalog
from voxgate.courier import Courier
from voxgate.gateway.limits import Limits, MemoryLimits, RedisLimits
from voxgate.gateway.pipeline import AudioGateway
from voxgate.gateway.realtime.webrtc import Calls
from voxgate.metrics import Metrics
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.local import LocalProvider
from voxgate.providers.registry import ProviderRegistry, build_registry
from voxgate.routing.breaker import AlertingBreaker, Breaker, MemoryBreaker, RedisBreaker
from voxgate.routing.planner import RoutePlanner
from voxgate.settings import Settings
from voxgate.store.budgets import BudgetClock, BudgetStore
from voxgate.store.database import Database
from voxgate.store.idempotency import IdempotencyStore
from voxgate.store.keys import KeyHasher, KeyStore
from voxgate.store.owners import OwnerTokens
from voxgate.store.realtime import RealtimeSecrets
from voxgate.store.usage import UsageReader
from voxgate.store.webhooks import PROVIDER_BREAKER_OPEN, WebhookStore
from voxgate.store.workspaces import Workspaces
from voxgate.tracing import Tracing, configure_tracing
from voxgate.yaml_text import load_yaml

PEPPER_FILE = "key-pepper"
# What builds the providers; a test passes its own (`voxgate.testing`).
RegistryFactory = Callable[[UpstreamHttp, LocalProvider], ProviderRegistry]


@dataclass(frozen=True)
class Services:
    settings: Settings
    database: Database
    catalog: Catalog
    workspaces: Workspaces
    keys: KeyStore
    holds: HoldBook
    ledger: Ledger
    usage: UsageReader
    budgets: BudgetStore
    owners: OwnerTokens
    webhooks: WebhookStore
    courier: Courier
    tracing: Tracing
    realtime_secrets: RealtimeSecrets
    metrics: Metrics
    idempotency: IdempotencyStore
    local: LocalProvider
    gateway: AudioGateway
    redis: Redis | None
    http: UpstreamHttp
    calls: Calls = field(default_factory=Calls)

    async def set_speech_cache(self, workspace_id: str, enabled: bool) -> None:
        """Opt a workspace in to the speech cache, or out; its keys here see it at once."""
        await self.workspaces.set_speech_cache(workspace_id, enabled)
        self.keys.forget_workspace(workspace_id)

    async def aclose(self) -> None:
        await self.calls.hang_up_all()
        await self.gateway.aclose()
        await asyncio.to_thread(self.tracing.shutdown)
        await self.local.aclose()
        await self.http.aclose()
        await self.database.dispose()
        if self.redis is not None:
            await self.redis.aclose()


def credentials(settings: Settings, environment: Mapping[str, str]) -> dict[str, str]:
    """Provider secrets from the credentials file, then the environment over them."""
    if settings.credentials_file is None:
        return dict(environment)
    with settings.credentials_file.open(encoding="utf-8") as handle:
        loaded = load_yaml(handle) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{settings.credentials_file} must map names to values")
    return {str(name): str(value) for name, value in loaded.items()} | dict(environment)


async def open_services(
    settings: Settings,
    environment: Mapping[str, str],
    providers: RegistryFactory = build_registry,
) -> Services:
    # Private from its making, whichever starts first: the server, or a command without serve.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url, pool_size=settings.database_pool_size)
    await database.migrate()
    catalog = load_catalog(settings.catalog_dir)
    local = LocalProvider(settings)
    http = UpstreamHttp(
        timeout_seconds=settings.upstream_timeout_seconds,
        max_response_bytes=settings.max_upstream_response_bytes,
    )
    registry = providers(http, local)
    pepper = key_pepper(settings)
    hasher = KeyHasher(pepper)
    webhooks = WebhookStore(database)
    clock = BudgetClock(ZoneInfo(settings.budget_timezone))
    holds: HoldBook = Holds(database, clock) if settings.billing_enabled else UnbilledHolds()
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    limits: Limits = (
        RedisLimits(redis, lease_seconds=settings.concurrency_lease_seconds)
        if redis is not None
        else MemoryLimits()
    )
    breaker = AlertingBreaker(_breaker(settings, redis), _breaker_alert(webhooks))
    metrics = Metrics()
    tracing = configure_tracing(environment)
    realtime_secrets = RealtimeSecrets(database, hasher)
    gateway = AudioGateway(
        settings,
        catalog,
        registry,
        RoutePlanner(credentials(settings, environment)),
        holds,
        TokenCounter(),
        limits,
        breaker,
        metrics,
        tracing.tracer,
        realtime_secrets,
    )
    return Services(
        settings=settings,
        database=database,
        catalog=catalog,
        workspaces=Workspaces(database),
        keys=KeyStore(database, hasher, settings.key_trust_seconds),
        realtime_secrets=realtime_secrets,
        metrics=metrics,
        holds=holds,
        ledger=Ledger(database),
        usage=UsageReader(database),
        budgets=BudgetStore(database, clock),
        owners=OwnerTokens(database, hasher),
        webhooks=webhooks,
        tracing=tracing,
        courier=Courier(
            webhooks,
            pepper,
            interval_seconds=settings.webhook_interval_seconds,
            max_attempts=settings.webhook_max_attempts,
            first_backoff_seconds=settings.webhook_first_backoff_seconds,
        ),
        idempotency=IdempotencyStore(
            database, timedelta(seconds=settings.idempotency_retention_seconds)
        ),
        local=local,
        gateway=gateway,
        redis=redis,
        http=http,
    )


def _breaker(settings: Settings, redis: Redis | None) -> Breaker:
    threshold, cooldown = settings.breaker_threshold, settings.breaker_cooldown_seconds
    tenants = settings.breaker_tenants
    if redis is not None:
        return RedisBreaker(redis, threshold=threshold, cooldown_seconds=cooldown, tenants=tenants)
    return MemoryBreaker(threshold=threshold, cooldown_seconds=cooldown, tenants=tenants)


def _breaker_alert(webhooks: WebhookStore) -> Callable[[str], Awaitable[None]]:
    async def opened(route: str) -> None:
        await webhooks.raise_operator_alert(PROVIDER_BREAKER_OPEN, {"route": route})

    return opened


def key_pepper(settings: Settings) -> bytes:
    """The configured pepper, or one generated once into the data dir for a single host."""
    if settings.key_pepper:
        return settings.key_pepper.encode()
    path = settings.data_dir / PEPPER_FILE
    if not path.exists():
        write_private_file(path, secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def write_private_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
