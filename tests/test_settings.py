import os

from voxgate.settings import Settings


def test_one_worker_unless_redis_shares_the_limits() -> None:
    assert Settings(redis_url=None).server_workers == 1
    assert Settings(redis_url="redis://127.0.0.1:6379/0").server_workers == (os.cpu_count() or 1)
    assert Settings(redis_url=None, workers=3).server_workers == 3
