"""One pooled HTTP client per process for every upstream call (aiohttp: the fastest measured)."""

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

import aiohttp
import orjson

from voxgate.providers.errors import NotStreamed, UpstreamError

READ_CHUNK_BYTES = 256 * 1024


class UpstreamHttp:
    def __init__(
        self, *, timeout_seconds: float, max_response_bytes: int, connections: int = 256
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        # A stream may last longer than any one answer should: each wait is bounded instead.
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout_seconds, sock_read=timeout_seconds
        )
        self._max_response_bytes = max_response_bytes
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, ttl_dns_cache=300)
            # No cookie jar: one session serves every workspace, and a cookie a provider set
            # for one request must never ride along on another's.
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                json_serialize=_dumps,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def post_json(
        self,
        provider: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        data: aiohttp.FormData | None = None,
    ) -> Any:
        """POST and decode a JSON answer; any failure becomes an UpstreamError."""
        body, _ = await self.post_bytes(provider, url, headers=headers, json=json, data=data)
        return json_answer(provider, body)

    async def post_audio(
        self, provider: str, url: str, *, headers: Mapping[str, str], json: Any
    ) -> bytes:
        """POST for raw audio; an answer in JSON or text is not audio, whatever its status."""
        body, content_type = await self.post_bytes(provider, url, headers=headers, json=json)
        expect_audio(provider, content_type)
        return body

    async def post_audio_stream(
        self, provider: str, url: str, *, headers: Mapping[str, str], json: Any
    ) -> AsyncIterator[bytes]:
        """POST for raw audio read as it arrives (chunked transfer), within the size limit."""
        try:
            async with self.session().post(
                url, headers=headers, json=json, timeout=self._stream_timeout
            ) as response:
                if response.status >= 400:
                    raise _status_error(provider, response, await self._read(provider, response))
                expect_audio(provider, response.content_type)
                received = 0
                async for chunk in response.content.iter_any():
                    received += len(chunk)
                    if received > self._max_response_bytes:
                        raise self._too_large(provider)
                    yield chunk
        except aiohttp.ClientError as exc:
            raise UpstreamError(provider, f"{type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            raise UpstreamError(provider, "timed out") from exc

    async def post_bytes(
        self,
        provider: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        data: aiohttp.FormData | None = None,
    ) -> tuple[bytes, str]:
        try:
            async with self.session().post(url, headers=headers, json=json, data=data) as response:
                body = await self._read(provider, response)
                if response.status >= 400:
                    raise _status_error(provider, response, body)
                return body, response.content_type
        except aiohttp.ClientError as exc:
            raise UpstreamError(provider, f"{type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            raise UpstreamError(provider, "timed out") from exc

    async def post_events(
        self,
        provider: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        data: aiohttp.FormData | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """POST (a JSON body or a form) and read server-sent events (`data: <json>` lines) as
        they arrive; NotStreamed carries an answer that came whole instead."""
        batches = self.post_event_batches(provider, url, headers=headers, json=json, data=data)
        async with aclosing(batches):
            async for batch in batches:
                for event in batch:
                    yield event

    async def post_event_batches(
        self,
        provider: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        data: aiohttp.FormData | None = None,
    ) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The events of `post_events`, in batches: every whole event that had arrived when the
        last batch was taken comes in the next one. A reader that fell behind the provider
        catches up in one step (one chunk to encode and send) instead of one per event, and one
        that keeps up gets each event as soon as it arrives."""
        try:
            async with self.session().post(
                url, headers=headers, json=json, data=data, timeout=self._stream_timeout
            ) as response:
                if response.status >= 400:
                    raise _status_error(provider, response, await self._read(provider, response))
                if response.content_type != "text/event-stream":
                    body = await self._read(provider, response)
                    raise NotStreamed(provider, body, response.content_type)
                # One event may be long (a second of audio in base64): a line may use the whole
                # limit, however many reads it takes.
                pending = bytearray()
                async for received in response.content.iter_any():
                    searched = len(pending)
                    pending += received
                    if response.content.total_bytes > self._max_response_bytes:
                        raise self._too_large(provider)
                    # Only the bytes just received can hold a line end not yet seen.
                    last_end = pending.rfind(b"\n", searched)
                    if last_end < 0:
                        continue
                    lines = bytes(pending[:last_end]).split(b"\n")
                    del pending[: last_end + 1]
                    if batch := _events(lines):
                        yield batch
                if batch := _events([bytes(pending)]):
                    yield batch
        except aiohttp.ClientError as exc:
            raise UpstreamError(provider, f"{type(exc).__name__}: {exc}") from exc
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(provider, f"malformed event: {exc}") from exc
        except TimeoutError as exc:
            raise UpstreamError(provider, "timed out") from exc

    async def _read(self, provider: str, response: aiohttp.ClientResponse) -> bytes:
        """The whole body, refused (as a failed attempt) once it outgrows the limit."""
        if (response.content_length or 0) > self._max_response_bytes:
            raise self._too_large(provider)
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.content.iter_chunked(READ_CHUNK_BYTES):
            received += len(chunk)
            if received > self._max_response_bytes:
                raise self._too_large(provider)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, provider: str) -> UpstreamError:
        return UpstreamError(
            provider, f"the answer is larger than the {self._max_response_bytes}-byte limit"
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _events(lines: list[bytes]) -> list[dict[str, Any]]:
    """The JSON of each `data:` line, but the stream's closing `[DONE]`."""
    return [
        orjson.loads(line[6:])
        for line in lines
        if line.startswith(b"data: ") and line.strip() != b"data: [DONE]"
    ]


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def json_answer(provider: str, body: bytes) -> Any:
    """A whole answer's JSON; a body that is not JSON is the provider's failure."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(provider, f"malformed JSON in the answer: {exc}") from exc


def expect_audio(provider: str, content_type: str) -> None:
    # A 200 in JSON or text is not the audio the protocol promises: another route may do better.
    if content_type.startswith(("application/json", "text/")):
        raise UpstreamError(provider, f"expected audio, got {content_type}", retriable=True)


def _status_error(provider: str, response: aiohttp.ClientResponse, body: bytes) -> UpstreamError:
    return UpstreamError(
        provider,
        _error_message(body) or f"HTTP {response.status}",
        status=response.status,
        retry_after_seconds=_retry_after(response.headers),
    )


def _error_message(body: bytes) -> str | None:
    """The provider's own message: OpenAI, Azure and Gemini all answer {"error": {"message"}}."""
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return body[:200].decode(errors="replace") or None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error) if error else None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None
