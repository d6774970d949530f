"""Getting a message through at least once, written once for gateway and cloud.

`Backoff` is the one capped, jittered exponential backoff: every reconnect
and retry loop in Furrow (the gateway's cloud link, HTTPS forwarder, buffer
commits and Modbus devices set aside; the cloud's MQTT worker, stores and
alert outlets) asks it how long to wait. `retrying` runs an attempt until
it succeeds, waiting that long between attempts, with the sleep (and the
randomness) passed in so a simulated clock can drive it.

`AckAfterHandling` is paho's manual acknowledgement done right: a message is
acknowledged only after it was handled (committed, stored), and only on the
connection it came in on. After a reconnect the broker redelivers every
unacknowledged message anyway, and a PUBACK with an old packet id on the new
connection could acknowledge a different message.

`cancel_and_wait` stops a task for sure: on Python 3.11 one cancellation can be
lost (see there), and a task that missed it runs on.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[object]]
"""Wait so many seconds (asyncio.sleep, or a simulated clock's)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Attempt n (from 0) waits `first_s` * 2**n, at most `max_s`, jittered down by up to
    `jitter` of that step, so clients that failed together do not retry in lockstep."""

    first_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.first_s < 0 or self.max_s < 0 or not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff first_s={self.first_s}, max_s={self.max_s} must not be negative "
                             f"and jitter={self.jitter} must be within 0..1")

    def step(self, attempt: int) -> float:
        """The un-jittered wait after attempt `attempt`."""
        return min(self.max_s, self.first_s * 2 ** min(attempt, 64))

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """The wait after attempt `attempt`: between (1 - jitter) and all of its step."""
        return self.step(attempt) * (1 - self.jitter * rng())


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    backoff: Backoff,
    attempts: int | None = None,
    sleep: Sleep = asyncio.sleep,
    rng: Callable[[], float] = random.random,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    give_up: Callable[[], bool] = lambda: False,
) -> T:
    """Await `attempt()` until it returns, retrying errors of the `retry_on` types.

    At most `attempts` attempts (None: no limit); the last error is raised
    when they run out, or at once when `give_up()` says so (stopping).
    `on_retry(n, error, delay)` hears of each failed attempt n (from 0)
    before the wait, e.g. to log the first loudly and count the rest.
    """
    n = 0
    while True:
        try:
            return await attempt()
        except retry_on as e:
            if (attempts is not None and n + 1 >= attempts) or give_up():
                raise
            delay = backoff.delay(n, rng)
            if on_retry is not None:
                on_retry(n, e, delay)
            await sleep(delay)
            n += 1


class Ackable(Protocol):
    """A paho message: its packet id and QoS."""

    mid: int
    qos: int


class Acker(Protocol):
    def ack(self, mid: int, qos: int) -> object: ...


class AckAfterHandling:
    """Manual MQTT acks on the connection a message came in on (paho, ``manual_ack=True``).

    Call `connection_changed()` from the connect and disconnect callbacks,
    keep `generation()` with each message as it arrives, and call
    `ack(client, generation, message)` once it is handled. Thread-safe: paho's
    network thread and the handling thread or event loop may each call it.
    """

    def __init__(self) -> None:
        self._generation = 0
        self._lock = threading.Lock()

    def connection_changed(self) -> None:
        with self._lock:
            self._generation += 1

    def generation(self) -> int:
        return self._generation

    def ack(self, client: Acker, generation: int, message: Ackable) -> bool:
        """Acknowledge `message` if its connection is still the current one; False when it is
        not (the broker redelivers it on the new connection)."""
        with self._lock:
            if generation != self._generation:
                return False
            client.ack(message.mid, message.qos)
        return True

    def ack_all(self, client: Acker, messages: Iterable[tuple[int, Ackable]],
                then: Callable[[], object] | None = None) -> int:
        """`ack` each (generation, message) in order, taking the lock once, then call `then` (still
        under it: an `client` that gathers the acks sends them there, on the same connection);
        how many were acknowledged."""
        acked = 0
        with self._lock:
            current = self._generation
            for generation, message in messages:
                if generation == current:
                    client.ack(message.mid, message.qos)
                    acked += 1
            if then is not None:
                then()
        return acked


async def cancel_and_wait(task: asyncio.Task[object]) -> None:
    """Cancel `task` and wait until it ended. On Python 3.11 ``wait_for`` can
    swallow a cancellation that lands as its inner future completes (pymodbus
    waits that way on every request, aiomqtt on every publish and subscribe),
    so cancel again until it took."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.5)
