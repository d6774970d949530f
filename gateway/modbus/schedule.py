"""The bus scheduler's decisions, with no I/O: which device is due, how long the bus must stay
silent, what a poll's outcome does to a device, what its registers say.

One `BusSchedule` per bus (one master). Every method takes the time it is
asked at (monotonic seconds for the schedule, Unix ms for stamps) and does
no I/O, so a simulated clock drives it as well as the real one; master.py
does the talking:

* `next(now)`: the device whose poll is due soonest, and how long until then;
* `until_free(now)` / `request_done` / `request_ended`: the inter-frame gap
  (t3.5: 3.5 characters of 11 bits at the bus's baud rate, 1.75 ms above
  19,200 baud) and the previous device's turnaround before every request;
* `succeeded` / `failed` / `refused` / `backlog`: a fixed cadence for a
  device that answers; one that fails `fail_threshold` polls in a row is set
  aside, its next poll moved back exponentially (capped at `backoff_max`,
  jittered so devices that died together do not come back in lockstep), so
  a dead device costs the bus one timeout per back-off period instead of
  one per poll and never stalls the others;
* `learn_role`: a device of unknown role is read whole once, then only the
  registers its role uses, merged into as few requests as pay off (reads.py);
* `ack`: the node's latest command ack, when its counter moved.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from furrow.edge.commands import ACK_ABORTED, ACK_REJECTED, make_ack
from furrow.edge.errors import ContractError
from furrow.edge.measurements import ROLE_BY_CODE
from furrow.edge.modbus_map import ACK_BASE, ACK_COUNT, ACK_COUNT_INJECTED, decode_ack_regs, has_report
from furrow.retry import Backoff

from ..config import ModbusDeviceConfig
from .reads import Request, reads_for_role

log = logging.getLogger(__name__)


class DeviceError(Exception):
    """The device answered with a Modbus exception or a short frame: asking again will not help."""


class NoAnswer(DeviceError):
    """No answer in time, a garbled frame or a bus that cannot be opened: worth asking again."""


@dataclass
class DeviceHealth:
    """What a technician needs to find a dead node or a noisy bus."""

    node_id: str
    port: str
    unit: int
    polls: int = 0
    requests: int = 0
    reports: int = 0
    errors: int = 0
    consecutive_failures: int = 0
    backed_off: bool = False
    backoff_s: float = 0.0
    last_good_ms: int | None = None
    last_seq: int | None = None
    last_error: str | None = None
    role: str | None = None
    reads: list[Request] = field(default_factory=list)
    commands_written: int = 0
    acks_read: int = 0
    ack_counter: int | None = None
    queued: int = 0  # reports waiting in the node's queue at the latest read
    queue_acks: int = 0
    queue_requests: int = 0  # "oldest first, please" writes
    interval_s: int | None = None  # the node's report interval (holding 1), read when a queued report needs dating


@dataclass
class Device:
    """One configured device, its health and when it is due (monotonic seconds)."""

    config: ModbusDeviceConfig
    health: DeviceHealth
    next_due: float = 0.0
    source: str = field(init=False)

    def __post_init__(self) -> None:
        self.source = f"modbus:{self.health.port}/{self.config.unit}"
        self.health.role = self.config.role
        self.health.reads = self.reads_for(self.config.role)

    @classmethod
    def of(cls, config: ModbusDeviceConfig) -> Device:
        return cls(config, DeviceHealth(node_id=config.node_id, port=config.bus, unit=config.unit))

    @property
    def interval_s(self) -> float:
        return self.config.poll_interval.total_seconds()

    @property
    def timeout_s(self) -> float:
        return self.config.timeout.total_seconds()

    def reads_for(self, role: str | None) -> list[Request]:
        count = ACK_COUNT_INJECTED if self.config.injector else ACK_COUNT
        extra = [(ACK_BASE, count)] if self.config.commands else []
        return reads_for_role(role) + extra


FIXED_T35_S = 0.00175
"""t3.5 above 19,200 baud: Modbus over Serial Line V1.02 (Modbus.org, 2006), 2.5.1.1, recommends fixed
timers there (750 us for t1.5, 1.750 ms for t3.5) instead of character times; pymodbus 3.8's serial
client keeps the same silence (ModbusSerialClient.silent_interval)."""


def inter_frame_s(baud: int) -> float:
    """The silence (t3.5) that separates RTU frames: 3.5 characters of 11 bits (start, 8 data, parity or
    a second stop bit, stop) up to 19,200 baud, 1.75 ms above (the spec's 2.5.1.1). After a unicast reply
    this is all the spec asks of the master: the replying device's RTU state machine is back in Idle,
    ready to receive, once t3.5 has passed after its last character (Figure 14); the spec's "turnaround
    delay" (typically 100-200 ms) is for broadcasts, which Furrow never sends (2.4.1)."""
    return 3.5 * 11 / baud if baud <= 19_200 else FIXED_T35_S


class BusSchedule:
    """The devices of one bus, polled one at a time in order of when each is due."""

    def __init__(self, devices: list[Device], rng: Callable[[], float] = random.random) -> None:
        if not devices:
            raise ValueError("a bus needs at least one device")
        self.devices = devices
        self._rng = rng
        self.gap_s = inter_frame_s(devices[0].config.baud)
        self._free_at = 0.0

    # -- the bus ------------------------------------------------------------------

    def next(self, now: float) -> tuple[Device, float]:
        """The device due soonest and how many seconds until it is (0: now)."""
        dev = min(self.devices, key=lambda d: d.next_due)
        return dev, max(0.0, dev.next_due - now)

    def until_free(self, now: float) -> float:
        """Seconds of silence the bus still needs before the next request."""
        return max(0.0, self._free_at - now)

    def request_done(self, dev: Device) -> None:
        """A read was answered or timed out. Counted at its end, not when sent: a status report
        taken while a dead device's request waits would otherwise show a request without its
        failure (a dead unit at 50 % errors instead of 100 %)."""
        dev.health.requests += 1

    def request_ended(self, dev: Device, now: float) -> None:
        """The answer came (or the wait ended): the line must be silent for the
        gap, or this device's turnaround when longer."""
        self._free_at = now + max(self.gap_s, dev.config.turnaround.total_seconds())

    # -- poll outcomes --------------------------------------------------------------

    def poll_started(self, dev: Device) -> None:
        dev.health.polls += 1

    def succeeded(self, dev: Device, started: float, now_ms: int) -> None:
        h = dev.health
        if h.consecutive_failures:
            log.info("%s answers again after %d failed polls", h.node_id, h.consecutive_failures)
        h.consecutive_failures = 0
        h.backed_off = False
        h.backoff_s = 0.0
        h.last_good_ms = now_ms
        dev.next_due = self._cadence(dev, started)

    def failed(self, dev: Device, started: float, error: BaseException) -> None:
        h, cfg = dev.health, dev.config
        h.errors += 1
        h.consecutive_failures += 1
        h.last_error = str(error) or type(error).__name__
        over = h.consecutive_failures - cfg.fail_threshold
        if over < 0:
            if h.consecutive_failures == 1:  # loud once, then quiet until it recovers
                log.warning("%s (%s) poll failed: %s", h.node_id, dev.source, h.last_error)
            dev.next_due = self._cadence(dev, started)
            return
        # Set aside: twice the interval, doubling per further failure, capped, jittered down
        # by up to a fifth so devices that died together come back apart.
        backoff = Backoff(first_s=2 * dev.interval_s, max_s=cfg.backoff_max.total_seconds(), jitter=0.2)
        h.backoff_s = backoff.delay(over, self._rng)
        if not h.backed_off:
            log.warning("%s failed %d polls in a row; backing off (%s)", h.node_id, h.consecutive_failures,
                        h.last_error)
        h.backed_off = True
        dev.next_due = started + h.backoff_s

    def refused(self, dev: Device, started: float) -> None:
        """The buffer refused a report: nothing was acknowledged, poll again one interval on."""
        dev.next_due = started + dev.interval_s

    def backlog(self, dev: Device, now: float) -> None:
        """The node's report queue still holds reports after this poll's budget: due again at
        once, behind every device already due, so the others get their turn between bursts."""
        dev.next_due = now

    def crashed(self, dev: Device, now: float) -> None:
        """A bug in one poll: the loop goes on, this device one interval later."""
        dev.next_due = now + dev.interval_s

    @staticmethod
    def _cadence(dev: Device, started: float) -> float:
        """The next poll on a fixed cadence: a poll that had to wait for the bus
        does not push every later one back. More than a whole interval late (a
        busy bus), the cadence restarts from now rather than bursting."""
        due = dev.next_due + dev.interval_s
        return due if due >= started else started + dev.interval_s

    # -- what the registers say --------------------------------------------------------

    @staticmethod
    def learn_role(dev: Device, regs: list[int]) -> bool:
        """Learn (or correct) the device's role from register 1; from then on only what the
        role uses is read. True when the image was read for the wrong role and must be
        read again."""
        role = ROLE_BY_CODE.get(regs[1]) if has_report(regs) else None
        if role is None or role == dev.health.role:
            return False
        known = dev.health.role is not None
        dev.health.role, dev.health.reads = role, dev.reads_for(role)
        return known

    @staticmethod
    def ack(dev: Device, regs: list[int], now_ms: int) -> dict[str, Any] | None:
        """The node's latest command ack (input registers 112-133) when its counter moved
        since the last read; a bad block is logged and skipped."""
        h = dev.health
        try:
            counter, fields = decode_ack_regs(regs)
            if counter == h.ack_counter or fields is None:
                h.ack_counter = counter
                return None
            reason = "reported over Modbus" if fields["state"] in (ACK_ABORTED, ACK_REJECTED) else None
            ack = make_ack(fields["id"], h.node_id, fields["state"], now_ms, fields["runtime_s"],
                           fields["volume_l"], reason, fields["injected_ml"])
        except ContractError as e:
            log.warning("%s served a bad ack block: %s", h.node_id, e)
            h.ack_counter = regs[ACK_COUNT - 1]
            return None
        h.ack_counter = counter
        h.acks_read += 1
        return ack
