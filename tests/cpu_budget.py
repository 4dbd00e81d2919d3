"""A per-example time limit that a busy machine cannot trip.

Hypothesis's `deadline` reads the wall clock, which also counts the time the machine gave to
other processes: on a busy CI core one 3 ms decode once took 8 s of wall time. The CPU time of the
thread doing the work still catches an input that makes the code slow."""

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cpu_seconds_at_most(limit: float) -> Iterator[None]:
    started = time.thread_time()
    try:
        yield
    finally:  # a slow refusal is as bad as a slow success
        spent = time.thread_time() - started
        assert spent <= limit, f"took {spent:.2f} s of CPU, over the {limit} s allowed"
