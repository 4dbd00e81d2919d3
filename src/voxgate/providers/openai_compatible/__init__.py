"""Any OpenAI-compatible server (Speaches, Kokoro-FastAPI, vLLM, Ollama) at its own base URL."""

from voxgate.providers.http import UpstreamHttp
from voxgate.providers.openai import BearerEndpoints
from voxgate.providers.openai_style import OpenAIStyleProvider


def openai_compatible_provider(http: UpstreamHttp) -> OpenAIStyleProvider:
    return OpenAIStyleProvider("openai-compatible", BearerEndpoints(default_base_url=None), http)
