"""Clock and instant parsing shared by the cloud service.

The clock shape (`Clock`: a callable returning Unix ms) is furrow.clock's,
shared with the gateway; `now_ms` is the real one.
"""

from datetime import UTC, datetime

from furrow.clock import Clock, system_clock
from furrow.edge.errors import ContractError

__all__ = ["Clock", "now_ms", "parse_instant"]

now_ms: Clock = system_clock


def parse_instant(field: str, value: str | int) -> int:
    """Milliseconds from an ISO 8601 instant or a number of Unix milliseconds.

    An ISO instant without a zone is read as UTC. Raises ContractError naming
    `field` when the value is neither.
    """
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ContractError(
            field, value, "must be ISO 8601 (2026-01-01T06:00:00Z) or Unix milliseconds"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
