"""Closed-loop load: N callers, each calling again as soon as its call returns, until a
count or a deadline — the shape of "32 concurrent clients" in performance.md.

Every call's latency is kept, a failed call's too (the caller waited that long); the rate
counts successes only, and failures are counted (with the first error) for the table. Calls
still under way ``grace`` seconds after the deadline are given up as failures, with the time
waited so far: a stuck server cannot stretch a measure, and never looks fast.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    """Seconds, of every call, failed ones included."""
    failures: int = 0
    first_failure: str = ""
    elapsed: float = 0.0
    started_at: float = 0.0
    """Wall clock (time.time()) of the first call."""

    @property
    def done(self) -> int:
        """Calls that succeeded."""
        return len(self.latencies) - self.failures

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linearly interpolated; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


GRACE = 10.0


async def closed_loop(
    call: Callable[[int], Awaitable[object]], *, concurrency: int, count: int, seconds: float,
    grace: float = GRACE,
) -> LoadResult:
    """Call ``call(i)`` for i = 0, 1, … from ``concurrency`` callers, at most ``count`` times
    and for at most ``seconds``; calls under way then get ``grace`` seconds to finish."""
    result = LoadResult(started_at=time.time())
    next_index = iter(range(count))
    start = time.perf_counter()
    deadline = start + seconds
    under_way: dict[int, float] = {}

    def failed(error: BaseException) -> None:
        result.failures += 1
        result.first_failure = result.first_failure or f"{type(error).__name__}: {error}"

    async def caller(me: int) -> None:
        for i in next_index:
            if time.perf_counter() >= deadline:
                return
            under_way[me] = began = time.perf_counter()
            try:
                await call(i)
            except Exception as error:  # counted, and shown once
                failed(error)
            result.latencies.append(time.perf_counter() - began)
            del under_way[me]

    callers = [asyncio.create_task(caller(n)) for n in range(concurrency)]
    _, stuck = await asyncio.wait(callers, timeout=seconds + grace)
    for task in stuck:
        task.cancel()
    await asyncio.gather(*stuck, return_exceptions=True)
    given_up = time.perf_counter()
    for began in under_way.values():
        failed(TimeoutError(f"still waiting {grace:.0f} s after the deadline"))
        result.latencies.append(given_up - began)
    result.elapsed = given_up - start
    return result


def failure_note(ours: LoadResult, bare: LoadResult) -> str:
    """The first error of each side that had failures, for a row's detail."""
    notes = [f"{side} first failure: {result.first_failure[:200]}"
             for side, result in (("crmflow", ours), ("bare", bare)) if result.failures]
    return "; ".join(notes)
