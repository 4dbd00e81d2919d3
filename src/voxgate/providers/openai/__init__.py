"""OpenAI: `{base}/audio/speech` and friends, with a Bearer key; base defaults to api.openai.com."""

from dataclasses import dataclass

from voxgate.providers.declaration import ProviderDeclaration, SpeechOutput
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.openai_style import OpenAIStyleProvider, transcription
from voxgate.providers.protocols import Upstream

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DECLARATION = ProviderDeclaration(
    name="openai",
    capabilities=frozenset({"speech", "transcription", "chat", "realtime"}),
    speech_output=SpeechOutput(wire_format="pcm", sample_rate=24_000),
    speech_streaming="sse",
    chat_streaming=True,
    transcription_streaming=True,
    transcription_parameters=transcription.PARAMETERS,
    transcription_upload=transcription.UPLOAD_LIMIT,
)


@dataclass(frozen=True)
class BearerEndpoints:
    default_base_url: str | None = DEFAULT_BASE_URL

    def body_model(self, upstream: Upstream) -> str | None:
        return upstream.model

    def url(self, upstream: Upstream, path: str) -> str:
        base = upstream.base_url or self.default_base_url
        return f"{str(base).rstrip('/')}/{path}"

    def realtime_url(self, upstream: Upstream) -> str:
        return f"{_websocket(self.url(upstream, 'realtime'))}?model={upstream.model}"

    def headers(self, upstream: Upstream) -> dict[str, str]:
        if upstream.credential is None:
            return {}
        return {"Authorization": f"Bearer {upstream.credential.get_secret_value()}"}


def openai_provider(http: UpstreamHttp) -> OpenAIStyleProvider:
    return OpenAIStyleProvider(DECLARATION, BearerEndpoints(), http)


def _websocket(url: str) -> str:
    return "ws" + url.removeprefix("http")
