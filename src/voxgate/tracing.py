"""OpenTelemetry traces, configured by the standard OTEL_* variables (OTLP over HTTP).

Tracing is on when an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) and not turned off (`OTEL_SDK_DISABLED=true`,
`OTEL_TRACES_EXPORTER=none`); the exporter and the batch processor read their other variables
themselves (headers, timeout, `OTEL_BSP_*`). Off, every span is the API's no-op.

A request is one span with a child per upstream attempt, per audio decode and encode, and per
billing step; spans carry the GenAI semantic conventions' attributes (`gen_ai.system`,
`gen_ai.request.model`, `gen_ai.usage.*`) and never a secret, a prompt or audio.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NoOpTracerProvider, Tracer

from voxgate import __version__
from voxgate.billing.usage import UsageRecord

TRACER_NAME = "voxgate"
ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# gen_ai.system by the provider names routes use.
GENAI_SYSTEMS = {
    "openai": "openai",
    "azure-openai": "az.ai.openai",
    "gemini": "gcp.gemini",
}


@dataclass(frozen=True)
class Tracing:
    tracer: Tracer
    provider: TracerProvider | None

    def shutdown(self) -> None:
        """Send what is still buffered."""
        if self.provider is not None:
            self.provider.shutdown()


def configure_tracing(environment: Mapping[str, str]) -> Tracing:
    endpoint = next((environment[name] for name in ENDPOINTS if environment.get(name)), None)
    disabled = environment.get("OTEL_SDK_DISABLED", "").lower() == "true"
    if endpoint is None or disabled or environment.get("OTEL_TRACES_EXPORTER") == "none":
        return Tracing(NoOpTracerProvider().get_tracer(TRACER_NAME), None)
    resource = Resource.create(
        {
            "service.name": environment.get("OTEL_SERVICE_NAME", "voxgate"),
            "service.version": __version__,
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return Tracing(provider.get_tracer(TRACER_NAME, __version__), provider)


def genai_system(provider: str) -> str:
    return GENAI_SYSTEMS.get(provider, provider)


def usage_attributes(usage: UsageRecord) -> dict[str, str | int]:
    """What a charge is for, in the GenAI semantic conventions' names where they have one."""
    return {
        "gen_ai.system": genai_system(usage.provider or ""),
        "gen_ai.request.model": usage.model,
        "gen_ai.usage.input_tokens": usage.input_text_tokens + usage.input_audio_tokens,
        "gen_ai.usage.output_tokens": usage.output_text_tokens + usage.output_audio_tokens,
        "voxgate.usage.input_audio_tokens": usage.input_audio_tokens,
        "voxgate.usage.output_audio_tokens": usage.output_audio_tokens,
        "voxgate.usage.audio_milliseconds": usage.audio_milliseconds,
        "voxgate.provider_cost_micro_usd": usage.provider_cost_micro_usd,
    }
