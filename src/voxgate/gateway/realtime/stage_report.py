"""What a session's stage clock reports, as each response ends and each set-up step is taken:
the stage histograms in /metrics, and in the session's trace a span per response with a child
per stage (and one per set-up step). The session's access line carries each stage's median.

Spans carry the GenAI semantic conventions' attributes and the usage the response reported,
never its text or audio."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import context
from opentelemetry.context import Context
from opentelemetry.trace import Tracer, set_span_in_context

from voxgate.gateway.realtime.stages import ResponseTimes, StageClock
from voxgate.metrics import Metrics
from voxgate.tracing import genai_system


def report_stages(
    clock: StageClock, metrics: Metrics, tracer: Tracer, model: str, provider: Callable[[], str]
) -> None:
    """Report the session's stages from now on; its span is the one current here."""
    report = StageReport(clock, metrics, tracer, context.get_current(), model, provider)
    clock.watch(report.response, report.setup)


@dataclass(frozen=True)
class StageReport:
    clock: StageClock
    metrics: Metrics
    tracer: Tracer
    # The session's own span, which each response's span is a child of.
    session: Context
    model: str
    # The provider serving the session now (a session may move).
    provider: Callable[[], str]

    def response(self, times: ResponseTimes) -> None:
        for stage, seconds in times.stages().items():
            self.metrics.observe_stage(self.model, stage, seconds)
        unix = self.clock.unix_nanos
        span = self.tracer.start_span(
            "realtime response",
            context=self.session,
            start_time=unix(times.started),
            attributes=self._response_attributes(times),
        )
        within = set_span_in_context(span)
        for stage, start, end in times.spans():
            stage_span = self.tracer.start_span(
                stage,
                context=within,
                start_time=unix(start),
                attributes={"voxgate.stage": stage},
            )
            stage_span.end(end_time=unix(end))
        span.end(end_time=unix(times.done))

    def setup(self, step: str, seconds: float) -> None:
        self.metrics.observe_setup(self.model, step, seconds)
        span = self.tracer.start_span(
            f"setup {step}",
            context=self.session,
            start_time=self.clock.unix_nanos(self.clock.opened),
            attributes={"voxgate.setup_step": step},
        )
        span.end(end_time=self.clock.unix_nanos(self.clock.opened) + round(seconds * 1e9))

    def _response_attributes(self, times: ResponseTimes) -> dict[str, Any]:
        usage = times.usage
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "realtime",
            "gen_ai.system": genai_system(self.provider()),
            "gen_ai.request.model": self.model,
            "gen_ai.response.id": times.response_id,
        }
        for name, key in (
            ("gen_ai.usage.input_tokens", "input_tokens"),
            ("gen_ai.usage.output_tokens", "output_tokens"),
        ):
            if isinstance(usage.get(key), int):
                attributes[name] = usage[key]
        details = usage.get("output_token_details")
        if isinstance(details, dict) and isinstance(details.get("audio_tokens"), int):
            attributes["voxgate.usage.output_audio_tokens"] = details["audio_tokens"]
        return attributes


def access_fields(clock: StageClock) -> dict[str, float]:
    """The session's stage medians and set-up times for its access line, in milliseconds;
    only those measured."""
    fields = {f"{stage}_p50_ms": round(s * 1000, 1) for stage, s in clock.p50().items()}
    fields |= {f"setup_{step}_ms": round(s * 1000, 1) for step, s in clock.setup.items()}
    return fields
