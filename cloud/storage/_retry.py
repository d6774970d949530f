"""A store request retried a few times (a blip), with furrow.retry's capped, jittered backoff.

Stores retry one request (one chunk of a batch), so a blip costs that chunk
and not the whole batch. The MQTT worker then holds a batch whose store
stays unavailable unacknowledged, waiting with the same backoff
(mqtt_worker.py); chunks stored before the outage are stored again
idempotently, never twice.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from furrow.retry import Backoff
from furrow.retry import retrying as _retrying

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

    @property
    def backoff(self) -> Backoff:
        return Backoff(first_s=self.backoff_s, max_s=self.backoff_max_s)


async def retrying(attempt: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run `attempt` until it succeeds; retry only StorageUnavailable.

    When the retries run out, the last StorageUnavailable is raised with the
    number of attempts added to its reason.
    """

    def note(n: int, e: BaseException, delay: float) -> None:
        assert isinstance(e, StorageUnavailable)
        log.debug("%s: attempt %d failed (%s); retrying in %.2fs", e.backend, n + 1, e.reason, delay)

    try:
        return await _retrying(attempt, retry_on=StorageUnavailable, backoff=policy.backoff,
                               attempts=policy.retries + 1, on_retry=note)
    except StorageUnavailable as e:
        raise StorageUnavailable(e.backend, f"{e.reason} (after {policy.retries + 1} attempts)") from e
