"""Keeps the holds of running requests from expiring, all of them in one beat.

A request's hold expires one lifetime after it was last extended, so that the holds of a dead
process go back to their workspaces. A live request's hold must therefore be extended while it
runs, however long the engine works or a stream's client reads. One beat every third of a
lifetime extends every live hold of the process in one transaction: a request costs a set
insertion, not a task and a write of its own.
"""

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from voxgate.billing.holds import HoldBook

logger = logging.getLogger("voxgate.billing")


class HoldKeeper:
    def __init__(self, holds: HoldBook, ttl_seconds: int) -> None:
        self._holds = holds
        self._ttl_seconds = ttl_seconds
        self._live: set[str] = set()
        self._beating: asyncio.Task[None] | None = None

    @contextmanager
    def kept(self, hold_id: str) -> Iterator[None]:
        """The hold stays open for as long as the block runs."""
        self.keep(hold_id)
        try:
            yield
        finally:
            self.let_go(hold_id)

    def keep(self, hold_id: str) -> None:
        """Keep the hold open until `let_go`."""
        self._live.add(hold_id)
        if self._beating is None:
            self._beating = asyncio.get_running_loop().create_task(self._beat())

    def let_go(self, hold_id: str) -> None:
        self._live.discard(hold_id)

    @property
    def beating(self) -> bool:
        return self._beating is not None

    async def _beat(self) -> None:
        """Beats while any hold is live; the next hold kept starts it again."""
        try:
            while self._live:
                await asyncio.sleep(self._ttl_seconds / 3)
                live = sorted(self._live)
                if not live:
                    break
                try:
                    await self._holds.keep_all_alive(live, self._ttl_seconds)
                except Exception as exc:  # a database blip: the next beat is still in time
                    logger.warning("could not extend %d holds: %s", len(live), type(exc).__name__)
        finally:
            self._beating = None

    async def aclose(self) -> None:
        beating = self._beating
        if beating is not None:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
