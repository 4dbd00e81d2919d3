"""What the providers' realtime capability (`protocols.RealtimeProvider`) shares: opening a
provider's WebSocket with its refusal as an UpstreamError, the beta dialect's header, and a
realtime URL opened for transcription."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidHandshake, InvalidStatus

from voxgate.providers.errors import UpstreamError

BETA_HEADER = "openai-beta"
BETA_VALUE = "realtime=v1"


async def open_websocket(
    provider: str, url: str, headers: dict[str, str], max_event_bytes: int
) -> ClientConnection:
    """A WebSocket to a provider; its refusal (with its HTTP status) or absence as an
    UpstreamError, so the failover loop can try the next route."""
    try:
        return await websockets.connect(url, additional_headers=headers, max_size=max_event_bytes)
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise UpstreamError(provider, f"refused the session ({status})", status=status) from exc
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        raise UpstreamError(provider, f"no session: {type(exc).__name__}") from exc


def transcription_url(url: str) -> str:
    """A provider's realtime URL opened for transcription: `intent=transcription`, with the
    model left to the session's settings (a deployment stays: it names the resource)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "model"]
    query.append(("intent", "transcription"))
    return urlunsplit(parts._replace(query=urlencode(query)))
