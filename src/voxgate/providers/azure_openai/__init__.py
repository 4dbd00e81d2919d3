"""Azure OpenAI: deployment URLs with an api-version, or the /openai/v1/ surface; `api-key`."""

from dataclasses import dataclass

from voxgate.providers.declaration import ProviderDeclaration, SpeechOutput
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.openai_style import OpenAIStyleProvider, transcription
from voxgate.providers.protocols import Upstream

# Azure's speech deployments (gpt-4o-mini-tts) take stream_format "sse" as OpenAI's do.
DECLARATION = ProviderDeclaration(
    name="azure-openai",
    capabilities=frozenset({"speech", "transcription", "chat", "realtime"}),
    speech_output=SpeechOutput(wire_format="pcm", sample_rate=24_000),
    speech_streaming="sse",
    chat_streaming=True,
    transcription_streaming=True,
    transcription_parameters=transcription.PARAMETERS,
    transcription_upload=transcription.UPLOAD_LIMIT,
)


@dataclass(frozen=True)
class AzureEndpoints:
    """With an api-version the deployment is in the URL, else the v1 surface takes `model`; the
    body names the model either way, as the AzureOpenAI client sends it."""

    def body_model(self, upstream: Upstream) -> str | None:
        return upstream.model

    def url(self, upstream: Upstream, path: str) -> str:
        endpoint = str(upstream.base_url).rstrip("/")
        if upstream.api_version is None:
            return f"{endpoint}/openai/v1/{path}"
        return (
            f"{endpoint}/openai/deployments/{upstream.model}/{path}"
            f"?api-version={upstream.api_version}"
        )

    def realtime_url(self, upstream: Upstream) -> str:
        endpoint = "ws" + str(upstream.base_url).rstrip("/").removeprefix("http")
        if upstream.api_version is None:
            return f"{endpoint}/openai/v1/realtime?model={upstream.model}"
        return (
            f"{endpoint}/openai/realtime?api-version={upstream.api_version}"
            f"&deployment={upstream.model}"
        )

    def headers(self, upstream: Upstream) -> dict[str, str]:
        if upstream.credential is None:
            return {}
        return {"api-key": upstream.credential.get_secret_value()}


def azure_openai_provider(http: UpstreamHttp) -> OpenAIStyleProvider:
    return OpenAIStyleProvider(DECLARATION, AzureEndpoints(), http)
