"""Counters for /metrics in the Prometheus text format; one Metrics object per process."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

# Latency buckets in seconds, from a fast cached answer to a long synthesis.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Metrics:
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    latency_buckets: Counter[tuple[str, float]] = field(default_factory=Counter)
    latency_sum: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    latency_count: Counter[str] = field(default_factory=Counter)
    upstream_attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    failovers: Counter[str] = field(default_factory=Counter)
    credit_spent_micro_usd: Counter[str] = field(default_factory=Counter)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        self.requests[(path, status)] += 1
        self.latency_sum[path] += seconds
        self.latency_count[path] += 1
        for bound in BUCKETS:
            if seconds <= bound:
                self.latency_buckets[(path, bound)] += 1

    def observe_attempts(self, model: str, statuses: list[tuple[str, str]]) -> None:
        """Each upstream attempt of one request (provider, status); more than one is a failover."""
        for provider, status in statuses:
            self.upstream_attempts[(provider, status)] += 1
        if len(statuses) > 1:
            self.failovers[model] += 1

    def observe_charge(self, model: str, micro_usd: int) -> None:
        self.credit_spent_micro_usd[model] += micro_usd

    def render(self, holds_open: int) -> str:
        lines = [
            "# HELP voxgate_requests_total HTTP requests by path and status.",
            "# TYPE voxgate_requests_total counter",
            *(
                f'voxgate_requests_total{{path="{p}",status="{s}"}} {n}'
                for (p, s), n in sorted(self.requests.items())
            ),
            "# HELP voxgate_request_seconds Request latency.",
            "# TYPE voxgate_request_seconds histogram",
        ]
        for path in sorted(self.latency_count):
            lines += [
                f'voxgate_request_seconds_bucket{{path="{path}",le="{bound}"}} {self.latency_buckets[(path, bound)]}'
                for bound in BUCKETS
            ]
            lines += [
                f'voxgate_request_seconds_bucket{{path="{path}",le="+Inf"}} {self.latency_count[path]}',
                f'voxgate_request_seconds_sum{{path="{path}"}} {self.latency_sum[path]:.6f}',
                f'voxgate_request_seconds_count{{path="{path}"}} {self.latency_count[path]}',
            ]
        lines += [
            "# HELP voxgate_upstream_attempts_total Upstream attempts by provider and outcome.",
            "# TYPE voxgate_upstream_attempts_total counter",
            *(
                f'voxgate_upstream_attempts_total{{provider="{p}",status="{s}"}} {n}'
                for (p, s), n in sorted(self.upstream_attempts.items())
            ),
            "# HELP voxgate_failovers_total Requests served after at least one failed attempt.",
            "# TYPE voxgate_failovers_total counter",
            *(
                f'voxgate_failovers_total{{model="{m}"}} {n}'
                for m, n in sorted(self.failovers.items())
            ),
            "# HELP voxgate_credit_spent_micro_usd_total Credit charged, in micro-USD.",
            "# TYPE voxgate_credit_spent_micro_usd_total counter",
            *(
                f'voxgate_credit_spent_micro_usd_total{{model="{m}"}} {n}'
                for m, n in sorted(self.credit_spent_micro_usd.items())
            ),
            "# HELP voxgate_holds_open Credit holds of requests in flight (all processes).",
            "# TYPE voxgate_holds_open gauge",
            f"voxgate_holds_open {holds_open}",
        ]
        return "\n".join(lines) + "\n"
