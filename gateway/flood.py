"""Per-node message budget at the gateway: one node flooding the farm broker cannot crowd out the others.

A token bucket per node id (as the topic names it): `burst` messages at once,
refilled at `rate_per_s`. A node replaying its flash outbox after an outage
sends its whole backlog at once, so the burst is generous; a node sending
faster than the rate for longer than the burst lasts is flooding, and its
excess messages are acknowledged and counted (``rate_limited`` in the
gateway's stats, per node in `limited`), not stored, so the durable buffer's
quota is not spent on one node. The first refusal per node is logged loudly,
later ones are counted quietly until the node is back under its budget.
"""

from __future__ import annotations

import logging
import threading

from furrow.clock import Clock, system_clock

log = logging.getLogger(__name__)

NODE_BURST = 2000  # messages; a full outbox replay fits
NODE_RATE_PER_S = 20.0  # sustained; a node reports every few seconds at most
MAX_TRACKED_NODES = 10_000  # buckets kept; past it the fullest (idle) ones are forgotten


class NodeBudget:
    """Token buckets per node; `allow(node)` takes one token or says no."""

    def __init__(self, burst: int = NODE_BURST, rate_per_s: float = NODE_RATE_PER_S,
                 clock: Clock = system_clock) -> None:
        if burst < 1 or rate_per_s < 0:
            raise ValueError(f"burst={burst} must be >= 1 and rate_per_s={rate_per_s} >= 0")
        self.burst = burst
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, int]] = {}  # node -> (tokens, at ms)
        self.limited: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, node: str) -> bool:
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(node, (float(self.burst), now))
            # max(0, ...): a wall clock stepped back adds no tokens (and takes none away)
            tokens = min(float(self.burst), tokens + max(0, now - at) / 1000 * self.rate_per_s)
            if tokens >= 1.0:
                self._buckets[node] = (tokens - 1.0, now)
                if node in self.limited:
                    log.warning("node %s is back under its message budget (%d refused)", node, self.limited[node])
                    del self.limited[node]
                return True
            self._buckets[node] = (tokens, now)
            if node not in self.limited:
                log.error("node %s sends faster than %g messages/s beyond a burst of %d: refusing its excess",
                          node, self.rate_per_s, self.burst)
                self.limited[node] = 0
            self.limited[node] += 1
            if len(self._buckets) > MAX_TRACKED_NODES:
                self._forget_idle()
            return False

    def _forget_idle(self) -> None:
        # A forgotten node starts again with a full bucket, which is what an idle one had anyway.
        for node in sorted(self._buckets, key=lambda n: -self._buckets[n][0])[: len(self._buckets) // 2]:
            if node not in self.limited:
                del self._buckets[node]
