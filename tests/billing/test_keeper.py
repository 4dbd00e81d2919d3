import asyncio
from collections.abc import Callable, Sequence

from voxgate.billing.keeper import HoldKeeper
from voxgate.billing.unbilled import UnbilledHolds

TTL_SECONDS = 1
DEADLINE_SECONDS = 5.0


class CountingBook(UnbilledHolds):
    """Remembers each beat's holds; the first beat can be made to fail like a database blip."""

    def __init__(self, failures: int = 0) -> None:
        self.beats: list[list[str]] = []
        self._failures = failures

    async def keep_all_alive(self, hold_ids: Sequence[str], ttl_seconds: int) -> None:
        assert ttl_seconds == TTL_SECONDS
        if self._failures:
            self._failures -= 1
            raise OSError("database unavailable")
        self.beats.append(list(hold_ids))


async def until(condition: Callable[[], object]) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_one_beat_extends_every_live_hold_and_stops_when_none_is_left() -> None:
    book = CountingBook()
    keeper = HoldKeeper(book, TTL_SECONDS)
    with keeper.kept("hold_a"), keeper.kept("hold_b"):
        await until(lambda: book.beats)
        assert book.beats[0] == ["hold_a", "hold_b"]
    await until(lambda: not keeper.beating)
    beats = len(book.beats)
    with keeper.kept("hold_c"):
        await until(lambda: len(book.beats) > beats)
        assert book.beats[-1] == ["hold_c"]
    await keeper.aclose()


async def test_a_failed_beat_is_followed_by_another() -> None:
    book = CountingBook(failures=1)
    keeper = HoldKeeper(book, TTL_SECONDS)
    with keeper.kept("hold_a"):
        await until(lambda: book.beats)
        assert book.beats == [["hold_a"]]
    await keeper.aclose()
