"""Quality checks: flags the gateway sets on a reading, never a silent change.

A flag travels with the item in the batch (``flags``) so the cloud can tell
a node with a bad clock from a good reading. The reading itself is kept as
the node sent it; correcting is the cloud's call, with the flag as evidence.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

# Further ahead than this and the node's clock is wrong: nothing is measured
# in the future. Behind is normal: a node replays its flash after an outage.
CLOCK_AHEAD_MAX = timedelta(minutes=5)
# Before 2020-01-01 the node never set its clock (it counts from its epoch).
EPOCH_MIN_MS = 1_577_836_800_000

TS_AHEAD = "ts_ahead_of_gateway"
TS_UNSET = "ts_clock_unset"


def quality_flags(uplink: dict[str, Any], rx_ms: int) -> list[str]:
    """Flags for one validated uplink received at `rx_ms` (gateway clock)."""
    ts_ms = uplink["ts_ms"]
    if ts_ms < EPOCH_MIN_MS:
        return [TS_UNSET]
    if ts_ms - rx_ms > CLOCK_AHEAD_MAX / timedelta(milliseconds=1):
        return [TS_AHEAD]
    return []
