"""The gateway's Prometheus metrics, through `prometheus_client`; one Metrics object per process.

With several server processes (`voxgate serve --workers N`), `PROMETHEUS_MULTIPROC_DIR` is set
before they start: each process writes its samples to files there and a scrape, whichever
process answers it, adds up all of them. With one process the samples stay in memory."""

import logging
import os
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger("voxgate.upstream")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Latency buckets in seconds, from a fast cached answer to a long synthesis.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Realtime session lengths in seconds, from a refused turn to an hour-long call.
SESSION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self._multiprocess_dir = os.environ.get(MULTIPROCESS_ENV)
        # In multiprocess mode the samples live in files, not in a registry: these metrics
        # register nowhere and each scrape collects the files.
        self._registry = None if self._multiprocess_dir else CollectorRegistry()
        self._requests = Counter(
            "voxgate_requests",
            "HTTP requests by path and status (499: the client hung up first).",
            ("path", "status"),
            registry=self._registry,
        )
        self._latency = Histogram(
            "voxgate_request_seconds",
            "Request latency.",
            ("path",),
            buckets=BUCKETS,
            registry=self._registry,
        )
        self._attempts = Counter(
            "voxgate_upstream_attempts",
            "Upstream attempts by provider and outcome.",
            ("provider", "status"),
            registry=self._registry,
        )
        self._failovers = Counter(
            "voxgate_failovers",
            "Requests served after at least one failed attempt.",
            ("model",),
            registry=self._registry,
        )
        self._spent = Counter(
            "voxgate_credit_spent_micro_usd",
            "Credit charged, in micro-USD.",
            ("model",),
            registry=self._registry,
        )
        self._flagged = Counter(
            "voxgate_flagged_charges",
            "Charges flagged for a look: provider_overrun (the provider sent past the request's "
            "cap; charged the cap), estimated (no provider usage; the gateway measured), "
            "usage_mismatch (provider usage and the measured audio disagree).",
            ("model", "flag"),
            registry=self._registry,
        )
        self._sessions = Counter(
            "voxgate_realtime_sessions",
            "Realtime sessions ended, by model and RFC 6455 close code.",
            ("model", "close_code"),
            registry=self._registry,
        )
        self._session_seconds = Histogram(
            "voxgate_realtime_session_seconds",
            "How long realtime sessions lasted.",
            ("model",),
            buckets=SESSION_BUCKETS,
            registry=self._registry,
        )
        self._stages = Histogram(
            "voxgate_realtime_stage_seconds",
            "Each stage of a realtime turn (docs/operations.md): transcript (end of speech to "
            "the final transcript), first_token, first_audio, and speech_to_audio, the whole "
            "wait from the end of speech to the first audio byte.",
            ("model", "stage"),
            buckets=BUCKETS,
            registry=self._registry,
        )
        self._setup = Histogram(
            "voxgate_realtime_setup_seconds",
            "A realtime session's set-up, from its handshake: to session.created, and (relayed) "
            "to its upstream socket's opening.",
            ("model", "step"),
            buckets=BUCKETS,
            registry=self._registry,
        )
        if self._registry is not None:
            ProcessCollector(registry=self._registry)
            PlatformCollector(registry=self._registry)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        self._requests.labels(path, str(status)).inc()
        self._latency.labels(path).observe(seconds)

    def observe_attempts(self, model: str, statuses: list[tuple[str, str]]) -> None:
        """Each upstream attempt of one request (provider, status); more than one is a failover.
        A failed attempt and a failover are each a log line."""
        for provider, status in statuses:
            self._attempts.labels(provider, status).inc()
            if status != "ok":
                logger.warning(
                    "upstream attempt failed: model=%s provider=%s status=%s",
                    model,
                    provider,
                    status,
                    extra={"model": model, "provider": provider, "upstream_status": status},
                )
        if len(statuses) > 1:
            self._failovers.labels(model).inc()
            logger.warning(
                "failover: model=%s attempts=%s",
                model,
                ",".join(f"{provider}:{status}" for provider, status in statuses),
                extra={"model": model, "attempts": len(statuses)},
            )

    def observe_charge(self, model: str, micro_usd: int) -> None:
        self._spent.labels(model).inc(micro_usd)

    def observe_session(self, model: str, close_code: int, seconds: float) -> None:
        self._sessions.labels(model, str(close_code)).inc()
        self._session_seconds.labels(model).observe(seconds)

    def observe_stage(self, model: str, stage: str, seconds: float) -> None:
        self._stages.labels(model, stage).observe(seconds)

    def observe_setup(self, model: str, step: str, seconds: float) -> None:
        self._setup.labels(model, step).observe(seconds)

    def observe_flags(self, model: str, *, overrun: bool, estimated: bool, mismatch: bool) -> None:
        """Count each flag of a charge; an overrun or a mismatch is also a log line (an estimate
        is routine where a provider never reports usage, as OpenAI's unstreamed speech)."""
        for flag, raised in (
            ("provider_overrun", overrun),
            ("estimated", estimated),
            ("usage_mismatch", mismatch),
        ):
            if not raised:
                continue
            self._flagged.labels(model, flag).inc()
            if flag != "estimated":
                logger.warning(
                    "flagged charge: model=%s flag=%s", model, flag, extra={"flag": flag}
                )

    def render(self, books: "Books") -> str:
        """Every process's samples, the answering process's own process metrics, and what the
        database holds for all processes: open holds, balances and budget use."""
        registry = self._registry
        if registry is None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
        return generate_latest(registry).decode() + books.exposition()


@dataclass(frozen=True, slots=True)
class Books:
    """The gauges read from the database at each scrape (shared by every process)."""

    holds_open: int
    # (workspace name, balance, held) micro-USD
    balances: list[tuple[str, int, int]] = field(default_factory=list)
    # (workspace name, budget id, period, share of the spend limit committed)
    budgets: list[tuple[str, str, str, float]] = field(default_factory=list)

    def exposition(self) -> str:
        lines = [
            "# HELP voxgate_holds_open Credit holds of requests in flight (all processes).",
            "# TYPE voxgate_holds_open gauge",
            f"voxgate_holds_open {self.holds_open}",
            "# HELP voxgate_balance_micro_usd A workspace's balance, in micro-USD.",
            "# TYPE voxgate_balance_micro_usd gauge",
            *(
                f'voxgate_balance_micro_usd{{workspace="{_label(name)}"}} {balance}'
                for name, balance, _ in self.balances
            ),
            "# HELP voxgate_held_micro_usd A workspace's credit held by requests in flight.",
            "# TYPE voxgate_held_micro_usd gauge",
            *(
                f'voxgate_held_micro_usd{{workspace="{_label(name)}"}} {held}'
                for name, _, held in self.balances
            ),
            "# HELP voxgate_budget_use_ratio A spend budget's share spent or held this period.",
            "# TYPE voxgate_budget_use_ratio gauge",
            *(
                f'voxgate_budget_use_ratio{{workspace="{_label(name)}",budget="{budget_id}",'
                f'period="{period}"}} {ratio:.6f}'
                for name, budget_id, period, ratio in self.budgets
            ),
        ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    """A label value as the text format escapes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
