"""Clock and instant parsing shared by the cloud service.

Every cloud service that decides by time is given a `Clock` when it is built
(`open_services(settings, clock=...)`) and reads only that: `now_ms` on a
farm, a simulated clock in the hardware-in-the-loop scenarios and the demo's
backfill (hil/runtime.py). The clock shape is furrow.clock's, shared with the
gateway. Nothing else in cloud/ reads the system time.
"""

import re
from datetime import UTC, datetime

from furrow.clock import Clock, system_clock
from furrow.edge.errors import ContractError

__all__ = ["Clock", "now_ms", "parse_instant"]

now_ms: Clock = system_clock


# InfluxDB keeps time as int64 nanoseconds, 1677-09-21 .. 2262-04-11: an instant outside cannot
# be stored or queried on any store, and a number past it would overflow SQLite's int64.
INSTANT_MS_MAX = (2**63 - 1) // 1_000_000
_UNIX_MS = re.compile(r"-?[0-9]+")
_FORMS = "ISO 8601 (2026-01-01T06:00:00Z) or Unix milliseconds"


def parse_instant(field: str, value: str | int) -> int:
    """Milliseconds from an ISO 8601 instant or a number of Unix milliseconds.

    An ISO instant without a zone is read as UTC. Raises ContractError naming
    `field` when the value is neither, or lies outside 1677-09-21 .. 2262-04-11
    (``INSTANT_MS_MAX``).
    """
    if isinstance(value, int):
        ms = value
    elif _UNIX_MS.fullmatch(text := value.strip()):
        # past 19 digits it is out of range; Python would not even convert 4,300
        ms = int(text) if len(text) <= 20 else INSTANT_MS_MAX + 1
    else:
        try:
            dt = datetime.fromisoformat(text)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            ms = int(dt.timestamp() * 1000)
        except (ValueError, OverflowError):
            raise ContractError(field, value, f"must be {_FORMS}") from None
    if not -INSTANT_MS_MAX <= ms <= INSTANT_MS_MAX:
        raise ContractError(field, value, f"must be an instant within 1677-09-21 .. 2262-04-11: {_FORMS} "
                            f"-{INSTANT_MS_MAX} .. {INSTANT_MS_MAX}")
    return ms
