"""One settings object for the whole process, read from VOXGATE_* environment variables."""

import os
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).parent


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/voxgate`, else `~/.local/share/voxgate`: the same wherever a command
    runs, so that `voxgate serve` and `voxgate balance` find one database."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "voxgate"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOXGATE_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = Field(
        default=None, description="Base URL printed in examples; defaults to http://host:port."
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="The SQLite database, the key pepper and the model cache "
        "(default: $XDG_DATA_HOME/voxgate or ~/.local/share/voxgate).",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; defaults to SQLite in data_dir."
    )
    database_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections per process for requests, and as many again for "
        "the admin API and listings. Keep processes × 2 × this below max_connections.",
    )
    catalog_dir: Path = PACKAGE_DIR / "catalog"
    key_pepper: str | None = Field(
        default=None,
        description="Server-side secret mixed into key hashes; generated into data_dir if unset.",
    )
    admin_token: str | None = Field(
        default=None, description="Bearer token of the admin API; the API is off without one."
    )
    credentials_file: Path | None = Field(
        default=None,
        description="A YAML file of provider credentials by the names catalog routes use "
        "(e.g. AZURE_OPENAI_API_KEY: ...); the environment overrides it.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for rate limits shared by several gateway processes."
    )
    billing_enabled: bool = Field(
        default=True, description="Off: nothing is held, charged or recorded (a pure proxy)."
    )
    idempotency_retention_seconds: int = 24 * 3600
    reaper_interval_seconds: float = 30.0
    checkpoint_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often SQLite's write-ahead log is checkpointed."
    )
    max_body_bytes: int = 40 * 1024 * 1024
    max_header_bytes: int = Field(default=16 * 1024, description="All request headers together.")
    client_body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait for the next piece of a request body."
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A connection that has not sent a whole request head by then is closed "
        "(idle and slow-header connections).",
    )
    keep_alive_timeout_seconds: float = Field(
        default=5.0, gt=0, description="An idle keep-alive connection is closed after this."
    )
    shutdown_grace_seconds: float = Field(
        default=10.0,
        ge=0,
        description="On SIGTERM, how long requests in flight may take to finish; those still "
        "running then are cancelled (a stream is charged for what it delivered). Realtime "
        "sessions are closed at once with code 1012.",
    )
    max_connections: int = Field(
        default=4096,
        ge=1,
        description="Connections and requests at once per server process; past it, 503.",
    )
    # Slow and crowding clients (issue 24): a body trickled a byte at a time, or one address
    # holding every connection, must not keep the others (or the liveness probe) out.
    max_connections_per_client: int | None = Field(
        default=256,
        ge=1,
        description="Connections one client address may hold per server process; more are "
        "closed at once. Connections from trusted_proxies are not capped (cap per address "
        "there, e.g. nginx limit_conn).",
    )
    client_body_min_bytes_per_second: int = Field(
        default=500,
        ge=0,
        description="After its first client_body_timeout_seconds, a request body must keep "
        "arriving at this average rate, else 408 (each further second needs this many more "
        "bytes, as Apache's mod_reqtimeout MinRate). 0: no minimum.",
    )
    concurrency_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="With Redis, a request counts towards its key's concurrency limit by a "
        "lease renewed while it runs; a crashed process's leases lapse after this long.",
    )
    metrics_token: str | None = Field(
        default=None,
        description="Bearer token /metrics asks for; unset, /metrics answers only clients on "
        "this host (loopback).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks (or *) of the proxies in front: "
        "their X-Forwarded-For and X-Forwarded-Proto give the client address and scheme, and "
        "their X-Request-ID is kept. Unset: nobody's are believed.",
    )
    max_upstream_response_bytes: int = Field(
        default=64 * 1024 * 1024, description="Largest answer read from a provider."
    )
    max_audio_seconds: float = 1800.0
    transcription_parallel_pieces: int = Field(
        default=3,
        ge=1,
        le=16,
        description="Audio past a route's upload limit is sent in pieces, this many at once.",
    )
    # The speech cache (gateway/speech_cache.py): workspaces opt in one by one.
    speech_cache_dir: Path | None = Field(
        default=None,
        description="Where cached speech is kept (default: speech-cache in data_dir); "
        "shared by every process of one host.",
    )
    speech_cache_max_bytes: int = Field(
        default=1024**3,
        ge=0,
        description="The most the speech cache keeps on disk; past it, the answers used least "
        "recently are removed. 0 turns the cache off for every workspace.",
    )
    speech_cache_price_per_million_characters: int = Field(
        default=1_000_000,
        ge=0,
        description="What an answer from the speech cache costs, in micro-USD per million "
        "characters of its text (default $1.00 per 1M characters).",
    )
    hold_ttl_seconds: int = Field(
        default=900, description="A hold whose request died is released after this long."
    )
    # Money: budgets and the checks of a charge.
    budget_timezone: str = Field(
        default="UTC",
        description="The IANA time zone where daily and monthly budgets begin, e.g. Europe/Paris.",
    )

    webhook_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often alerts waiting in the outbox are sent."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, description="A webhook delivery is given up after this many attempts."
    )
    webhook_first_backoff_seconds: float = Field(
        default=2.0,
        gt=0,
        description="The wait after a failed delivery, doubled after each further failure.",
    )

    @field_validator("budget_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as UTC)") from exc
        return value

    realtime_max_session_seconds: float = Field(
        default=3600.0, gt=0, description="A realtime session is closed after this long."
    )
    key_trust_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long a key found live is trusted without reading it again; a key "
        "revoked by another process (or expired) is refused at most this much later.",
    )
    realtime_key_check_seconds: float = Field(
        default=10.0, gt=0, description="How often an open session checks its key still lives."
    )
    realtime_max_live_secrets_per_key: int = Field(
        default=100, ge=1, description="Realtime client secrets one key may have unexpired."
    )
    # Realtime (the realtime engineer's block).
    realtime_max_buffer_seconds: float = Field(
        default=120.0,
        gt=0,
        description="The most uncommitted input audio a session served here holds (24 kHz "
        "PCM16: 120 s is 5.8 MB); an append past it gets an error event.",
    )
    # Mid-session failover of relayed realtime sessions (the failover engineer's block).
    realtime_failover: bool = Field(
        default=True,
        description="A relayed realtime session whose upstream closes abnormally, reports a "
        "server_error or stalls mid-response moves to the next route (the client's socket "
        "stays open); off, such a session ends with an error event.",
    )
    realtime_failover_stall_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How long a response under way may go without an upstream event before "
        "the upstream counts as stalled.",
    )
    realtime_failover_responses: Literal["recreate", "fail"] = Field(
        default="recreate",
        description="What becomes of a response under way when its session moves: re-created "
        "on the next route, or reported failed (its response.done, status failed).",
    )
    # Budgets inside realtime sessions (gateway/realtime/caps.py).
    realtime_cap_policy: Literal["trim", "refuse"] = Field(
        default="refuse",
        description="What a realtime response whose projected cost is past its session's or "
        "its own cost cap gets, unless its key or session says otherwise: refused with an "
        "error event naming the cap, or run with the conversation's oldest turns dropped "
        "until it fits.",
    )
    request_deadline_seconds: float = Field(
        default=120.0, description="Every attempt and backoff of one request fits in this."
    )
    upstream_timeout_seconds: float = 60.0
    breaker_threshold: int = Field(default=3, description="Failures in a row that open a route.")
    breaker_cooldown_seconds: float = 10.0
    breaker_tenants: int = Field(
        default=3,
        ge=1,
        description="Workspaces whose requests must have failed on a route before it opens "
        "for every workspace; a workspace's own failures open it for that workspace alone.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description="Server processes. Unset: one per core when Redis is configured (rate "
        "limits, concurrency limits and circuit breakers are shared through it), else one, "
        "so that those limits stay exact.",
    )
    engine_workers: int = 2
    engine_queue_size: int = 16
    engine_threads_per_worker: int = 2
    engine_preload: bool = True
    default_workspace_credit_micro_usd: int = 5_000_000
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per log line."
    )

    # What reaches the operator's provider accounts of the client's own bookkeeping.
    strip_client_metadata: bool = Field(
        default=False,
        description="Chat completions are forwarded without the client's `store`, `metadata` "
        "and `user`, so nothing is stored or tagged on the operator's provider accounts on "
        "a client's say.",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'voxgate.db').as_posix()}"

    @property
    def resolved_speech_cache_dir(self) -> Path:
        return self.speech_cache_dir or self.data_dir / "speech-cache"

    @property
    def server_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        return (os.cpu_count() or 1) if self.redis_url else 1

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"
