"""Any OpenAI-compatible server (Speaches, Kokoro-FastAPI, vLLM, Ollama) at its own base URL."""

from voxgate.providers.declaration import ProviderDeclaration, SpeechOutput
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.openai import BearerEndpoints
from voxgate.providers.openai_style import OpenAIStyleProvider, transcription

# Compatible servers differ in the rates they speak at (Kokoro 24 kHz, Piper voices 22.05 or
# 16 kHz) and not all offer raw pcm; every one offers WAV, whose header says the rate, and
# streams it by chunked transfer, as OpenAI's own default stream does.
DECLARATION = ProviderDeclaration(
    name="openai-compatible",
    capabilities=frozenset({"speech", "transcription", "chat"}),
    speech_output=SpeechOutput(wire_format="wav", sample_rate=24_000),
    speech_streaming="chunked",
    chat_streaming=True,
    transcription_streaming=True,
    transcription_parameters=transcription.PARAMETERS,
)


def openai_compatible_provider(http: UpstreamHttp) -> OpenAIStyleProvider:
    return OpenAIStyleProvider(DECLARATION, BearerEndpoints(default_base_url=None), http)
