"""A Starlette WebSocket as the realtime core's `ClientSocket`: the core never sees Starlette,
so a closed socket reaches it as its own `ClientGone`."""

from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from voxgate.gateway.realtime.wire import ClientGone


class StarletteClient:
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def receive(self) -> Mapping[str, Any]:
        try:
            return await self._websocket.receive()
        except WebSocketDisconnect as exc:
            raise ClientGone from exc

    async def send_text(self, data: str) -> None:
        try:
            await self._websocket.send_text(data)
        except WebSocketDisconnect as exc:
            raise ClientGone from exc

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        try:
            await self._websocket.close(code, reason)
        except WebSocketDisconnect as exc:
            raise ClientGone from exc
