"""The in-process test seam: the real app and gateway, with fake providers in place of the
network, reached through the official `openai` client over ASGI (`httpx2.ASGITransport`: the
`httpx` fork that `openai` 3 is built on).

    async with InProcessGateway(tmp_path, providers=[FakeProvider("openai")]) as vox:
        audio = await vox.openai.audio.speech.create(model="tts-1", voice="alloy", input="Hi")
        record = await vox.usage(vox.last_request_id)

Everything but the providers is what `voxgate serve` runs: the services builder, the database
(SQLite in the given directory), billing, routing and failover. Each fake is declared like a
real provider, under the name the catalog's routes use, and every credential a route names is
given a fake value, so the routes are planned as in production.

For tests only: it needs the `test` extra (`openai`), and nothing in the gateway imports it.
"""

import asyncio
import functools
import gc
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx2
from openai import AsyncOpenAI
from starlette.applications import Starlette

from voxgate.app import create_app
from voxgate.audio.pcm import PcmAudio
from voxgate.billing.ledger import WalletView
from voxgate.catalog.loader import load_catalog
from voxgate.providers.declaration import Capability, ProviderDeclaration, SpeechOutput
from voxgate.providers.errors import UpstreamError
from voxgate.providers.http import UpstreamHttp
from voxgate.providers.local import LocalProvider
from voxgate.providers.protocols import (
    ChatAudioRequest,
    ChatAudioResult,
    ProviderUsage,
    SpeechRequest,
    SpeechResult,
    TranscriptionRequest,
    TranscriptionResult,
    Upstream,
)
from voxgate.providers.registry import ProviderRegistry, registry_of
from voxgate.services import RegistryFactory, Services
from voxgate.settings import Settings
from voxgate.store.keys import Principal

SAMPLE_RATE = 24_000
BYTES_PER_SAMPLE = 2
DEFAULT_CREDIT_MICRO_USD = 5_000_000
# Where the in-process clients address the app (no socket: ASGI takes the request).
BASE_URL = "http://voxgate.test"
FAKE_CAPABILITIES: frozenset[Capability] = frozenset({"speech", "transcription", "chat"})


class FakeProvider:
    """A provider that answers from memory: speech as `chunks` pieces of silence of
    `chunk_seconds` each (streamed one by one), a fixed transcript, a fixed chat answer.

    `fail_with` makes every call fail with that upstream status before any audio;
    `fail_after` makes a stream fail after that many chunks; `pause_after` makes a stream wait
    after that many chunks until `resume()`, setting `paused` (a client can hang up meanwhile). `calls` lists
    the upstream of each call, in order.
    """

    def __init__(
        self,
        name: str,
        *,
        chunks: int = 3,
        chunk_seconds: float = 0.1,
        transcript: str = "hello from a fake",
        answer: str = "a fake answer",
        fail_with: int | None = None,
        fail_after: int | None = None,
        pause_after: int | None = None,
        capabilities: frozenset[Capability] = FAKE_CAPABILITIES,
    ) -> None:
        self.name = name
        self.chunks = chunks
        self.chunk_seconds = chunk_seconds
        self.transcript = transcript
        self.answer = answer
        self.fail_with = fail_with
        self.fail_after = fail_after
        self.pause_after = pause_after
        self.capabilities = capabilities
        self.calls: list[Upstream] = []
        self.delivered_chunks = 0
        self._resumed = asyncio.Event()
        self.paused = asyncio.Event()

    @property
    def declaration(self) -> ProviderDeclaration:
        speaks = "speech" in self.capabilities
        return ProviderDeclaration(
            name=self.name,
            capabilities=self.capabilities,
            speech_output=SpeechOutput("pcm", SAMPLE_RATE) if speaks else None,
            speech_streaming="chunked" if speaks else None,
        )

    def resume(self) -> None:
        self._resumed.set()

    def chunk(self) -> PcmAudio:
        samples = round(self.chunk_seconds * SAMPLE_RATE)
        return PcmAudio(b"\0" * samples * BYTES_PER_SAMPLE, SAMPLE_RATE)

    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        self._called(upstream)
        pieces = [self.chunk().samples for _ in range(self.chunks)]
        return SpeechResult(PcmAudio(b"".join(pieces), SAMPLE_RATE))

    async def stream_speech(
        self, request: SpeechRequest, upstream: Upstream
    ) -> AsyncIterator[PcmAudio]:
        self._called(upstream)
        for index in range(self.chunks):
            if index == self.fail_after:
                raise UpstreamError(self.name, "the fake stream broke", status=None)
            if index == self.pause_after:
                self.paused.set()
                await self._resumed.wait()
            yield self.chunk()
            self.delivered_chunks += 1

    async def transcribe(
        self, request: TranscriptionRequest, upstream: Upstream
    ) -> TranscriptionResult:
        self._called(upstream)
        seconds = request.audio.duration_seconds
        return TranscriptionResult(
            self.transcript, "en", seconds, usage=ProviderUsage(audio_seconds=seconds)
        )

    async def chat(self, request: ChatAudioRequest, upstream: Upstream) -> ChatAudioResult:
        self._called(upstream)
        return ChatAudioResult(self.answer, None, ProviderUsage(1, 1))

    def _called(self, upstream: Upstream) -> None:
        self.calls.append(upstream)
        if self.fail_with is not None:
            raise UpstreamError(self.name, "the fake failed", status=self.fail_with)


def fake_registry(providers: Iterable[Any]) -> RegistryFactory:
    """A registry factory for the services builder: the given fakes, each under its own
    declaration (any object with `declaration` and the methods it declares will do)."""
    declared = [(provider.declaration, provider) for provider in providers]

    def build(http: UpstreamHttp, local: LocalProvider) -> ProviderRegistry:
        return registry_of(declared)

    return build


def fake_credentials(settings: Settings) -> dict[str, str]:
    """A value for every credential variable a catalog route names, as an operator would set."""
    return {name: f"test-{name.lower()}" for name in _credential_names(settings.catalog_dir)}


@functools.cache
def _credential_names(catalog_dir: Path) -> tuple[str, ...]:
    # Cached: the catalog's files do not change within a test run, and reading them is the
    # costliest part of starting a gateway in process.
    names = {
        credential.api_key_env
        for row in load_catalog(catalog_dir)
        for route in row.routes
        for credential in route.credentials
        if credential.api_key_env
    }
    return tuple(sorted(names))


def gateway_app(
    data_dir: Path,
    *,
    providers: Iterable[Any] = (),
    environment: Mapping[str, str] | None = None,
    **settings: Any,
) -> Starlette:
    """The app over a data dir of its own, with these providers and a fake value for every
    credential a route names; start it with its lifespan (Starlette's `TestClient` does, for
    a test that reads pages or the catalog without async)."""
    configured = Settings(data_dir=data_dir, engine_preload=False, **settings)
    return create_app(
        configured,
        environment=fake_credentials(configured) if environment is None else environment,
        providers=fake_registry(providers),
    )


class InProcessGateway:
    """The app in this process with its lifespan run, a funded workspace and its key, and
    clients over ASGI (no socket, no port)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        providers: Iterable[Any] = (),
        credit_micro_usd: int = DEFAULT_CREDIT_MICRO_USD,
        environment: Mapping[str, str] | None = None,
        **settings: Any,
    ) -> None:
        self.app = gateway_app(data_dir, providers=providers, environment=environment, **settings)
        self._credit = credit_micro_usd
        self._stack = AsyncExitStack()
        self.request_ids: list[str] = []

    async def __aenter__(self) -> Self:
        await self._stack.enter_async_context(self.app.router.lifespan_context(self.app))
        self._stack.callback(gc.unfreeze)  # the lifespan froze what start-up built
        self.workspace_id = (
            await self.services.workspaces.create("test", opening_credit=self._credit)
        ).id
        record, self.key = await self.services.keys.create_key(self.workspace_id, "test")
        self.principal = Principal(self.workspace_id, record.id, record.name)
        self.http = await self._stack.enter_async_context(
            httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=self.app),
                base_url=BASE_URL,
                headers={"Authorization": f"Bearer {self.key}"},
                event_hooks={"response": [self._remember]},
            )
        )
        self.openai = AsyncOpenAI(
            base_url=f"{BASE_URL}/v1", api_key=self.key, http_client=self.http
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def client_for(
        self, name: str, *, credit_micro_usd: int, **key_limits: Any
    ) -> AsyncOpenAI:
        """The openai client of a new workspace with this credit, and a key with these limits
        (`rpm_limit`, `concurrency_limit`, `spend_limit_micro_usd`)."""
        workspace = await self.services.workspaces.create(name, opening_credit=credit_micro_usd)
        _, key = await self.services.keys.create_key(workspace.id, name, **key_limits)
        return self.openai.with_options(api_key=key, max_retries=0)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @property
    def last_request_id(self) -> str:
        return self.request_ids[-1]

    async def usage(self, request_id: str) -> dict[str, Any]:
        record = await self.services.usage.get(self.workspace_id, request_id)
        assert record is not None, f"no usage record for {request_id}"
        return record

    async def wallet(self) -> WalletView:
        wallet = await self.services.ledger.wallet(self.workspace_id)
        assert wallet is not None
        return wallet

    async def ledger_sum(self) -> int:
        return await self.services.ledger.ledger_sum(self.workspace_id)

    async def _remember(self, response: httpx2.Response) -> None:
        request_id = response.headers.get("x-request-id")
        if request_id:
            self.request_ids.append(request_id)
