"""Retry with capped, jittered exponential backoff, written once for every store."""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ._reading import StorageUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`retries` further attempts after the first, waiting about
    backoff_s * 2**n (at most backoff_max_s, jittered down by up to half)."""

    retries: int = 3
    backoff_s: float = 0.5
    backoff_max_s: float = 10.0

    def delay(self, attempt: int) -> float:
        return min(self.backoff_max_s, self.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)


async def retrying(attempt: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run `attempt` until it succeeds; retry only StorageUnavailable.

    When the retries run out, the last StorageUnavailable is raised with the
    number of attempts added to its reason.
    """
    n = 0
    while True:
        try:
            return await attempt()
        except StorageUnavailable as e:
            if n >= policy.retries:
                raise StorageUnavailable(e.backend, f"{e.reason} (after {n + 1} attempts)") from e
            delay = policy.delay(n)
            log.debug(
                "%s: attempt %d failed (%s); retrying in %.2fs", e.backend, n + 1, e.reason, delay
            )
            await asyncio.sleep(delay)
            n += 1
