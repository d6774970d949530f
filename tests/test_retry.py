"""furrow.retry: the one backoff, the one retry loop and acknowledging after handling, shared by gateway and
cloud, driven here by a simulated sleep and a fixed random source."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from furrow.retry import AckAfterHandling, Backoff, retrying


class Flaky:
    """Fails `failures` times with `error`, then returns "done"."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"attempt {self.calls}")
        return "done"


class SimSleep:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_backoff_doubles_from_its_first_step_up_to_its_cap() -> None:
    """Steps double from first_s and stop at max_s; no jitter (rng 0) gives the step itself."""
    b = Backoff(first_s=0.5, max_s=10.0)
    assert [b.delay(n, lambda: 0.0) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert b.step(10_000) == 10.0  # no overflow on a long outage


def test_backoff_jitter_takes_off_at_most_its_share_of_the_step() -> None:
    """With jitter 0.5 a delay lies between half the step and the step; the full draw gives the half."""
    b = Backoff(first_s=1.0, max_s=30.0, jitter=0.5)
    assert b.delay(2, lambda: 1.0) == 2.0 and b.delay(2, lambda: 0.0) == 4.0
    with pytest.raises(ValueError, match="jitter=1.5"):
        Backoff(jitter=1.5)


async def test_retrying_waits_the_backoff_between_attempts_and_returns_the_result() -> None:
    """Three failures, then success: three waits of the backoff's steps, on the given sleep."""
    sleep, attempt = SimSleep(), Flaky(3)
    got = await retrying(attempt, retry_on=ConnectionError, backoff=Backoff(first_s=1.0, max_s=3.0), sleep=sleep,
                         rng=lambda: 0.0)
    assert got == "done" and attempt.calls == 4 and sleep.slept == [1.0, 2.0, 3.0]


async def test_retrying_raises_the_last_error_when_its_attempts_run_out() -> None:
    """At most `attempts` attempts; the last error comes out and on_retry heard of each retried one."""
    heard: list[int] = []
    attempt = Flaky(10)
    with pytest.raises(ConnectionError, match="attempt 3"):
        await retrying(attempt, retry_on=ConnectionError, backoff=Backoff(), attempts=3, sleep=SimSleep(),
                       on_retry=lambda n, _e, _d: heard.append(n))
    assert attempt.calls == 3 and heard == [0, 1]


async def test_an_error_it_does_not_retry_comes_out_at_once() -> None:
    """An error outside `retry_on` is not retried."""
    attempt = Flaky(1, ValueError)
    with pytest.raises(ValueError):
        await retrying(attempt, retry_on=ConnectionError, backoff=Backoff(), sleep=SimSleep())
    assert attempt.calls == 1


async def test_giving_up_stops_an_unbounded_retry() -> None:
    """With no attempt limit, give_up() ends the retries with the last error (a stopping worker)."""
    stopping = [False]
    sleep = SimSleep()

    async def attempt() -> None:
        if len(sleep.slept) == 5:
            stopping[0] = True
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await retrying(attempt, retry_on=ConnectionError, backoff=Backoff(), sleep=sleep, give_up=lambda: stopping[0])
    assert len(sleep.slept) == 5


@dataclass
class Message:
    mid: int
    qos: int = 1


class Client:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acked.append(mid)


def test_a_message_is_acknowledged_only_on_the_connection_it_came_in_on() -> None:
    """A message handled after a reconnect is not acknowledged (the broker redelivers it); one handled on
    its own connection is."""
    acks, client = AckAfterHandling(), Client()
    old = acks.generation()
    acks.connection_changed()  # lost and back
    assert not acks.ack(client, old, Message(7))
    assert acks.ack(client, acks.generation(), Message(8))
    assert client.acked == [8]


def test_a_group_is_acknowledged_in_order_and_only_on_its_own_connection() -> None:
    """ack_all acknowledges a group's messages in arrival order, leaving out those that came in on an
    earlier connection (the broker redelivers them), and counts the ones it acknowledged."""
    acks, client = AckAfterHandling(), Client()
    old = acks.generation()
    early = [(old, Message(1)), (old, Message(2))]
    acks.connection_changed()
    now = acks.generation()
    assert acks.ack_all(client, [*early, (now, Message(5)), (now, Message(3)), (now, Message(4))]) == 3
    assert client.acked == [5, 3, 4]
