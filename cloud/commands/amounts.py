"""What a command request names, turned into what a controller runs: a valve and seconds.

A request names its target as node + valve, or as a zone with one valve in
the registry; its amount as seconds, minutes, or millimetres over the zone
(converted with the zone's emitter precipitation rate). Each function raises
ContractError naming the field and the value it refuses.
"""

from __future__ import annotations

import math
from typing import Protocol

from furrow.edge.errors import ContractError


class ZoneLookup(Protocol):
    """The part of the registry commands read (cloud/registry/service.py)."""

    async def zone_of_valve(self, node: str, channel: int): ...  # noqa: ANN201
    async def valves_of_zone(self, zone: str): ...  # noqa: ANN201
    async def get_zone(self, zone: str): ...  # noqa: ANN201


async def resolve_target(zones: ZoneLookup | None, node: str | None, valve: int | None,
                         zone: str | None) -> tuple[str, int, str | None]:
    """(node, valve, zone or None) from a node+valve or a zone with one valve."""
    if zone is not None:
        if zones is None:
            raise ContractError("zone", zone, "the farm registry is not available")
        valves = await zones.valves_of_zone(zone)
        if node is not None:
            valves = [v for v in valves if v.node_id == node and (valve is None or v.channel == valve)]
        if len(valves) != 1:
            raise ContractError("zone", zone, f"has {len(valves)} matching valve(s) in the registry; "
                                "a command needs exactly one: name node and valve")
        return valves[0].node_id, valves[0].channel, zone
    if node is None or valve is None:
        raise ContractError("node", node, "give node and valve, or zone")
    found = await zones.zone_of_valve(node, valve) if zones is not None else None
    return node, valve, found.id if found is not None else None


def seconds_of(amount_min: float) -> int:
    """Valve seconds for `amount_min` minutes (at least one)."""
    if not amount_min > 0:
        raise ContractError("amount_min", amount_min, "must be a positive number of minutes")
    return max(1, round(amount_min * 60))


def seconds_for_depth(amount_mm: float, precip_rate_mm_h: float | None) -> int:
    """Valve seconds that put `amount_mm` on a zone whose emitters apply `precip_rate_mm_h`
    (None: the valve waters no registered zone)."""
    if not amount_mm > 0:
        raise ContractError("amount_mm", amount_mm, "must be a positive depth in millimetres")
    if precip_rate_mm_h is None:
        raise ContractError("amount_mm", amount_mm, "the valve waters no registered zone, so "
                            "millimetres cannot be converted: give duration_s or amount_min")
    return max(1, math.ceil(amount_mm / precip_rate_mm_h * 3600))


async def duration_s(zones: ZoneLookup | None, zone: str | None, duration_s: int | None,
                     amount_mm: float | None, amount_min: float | None) -> int | None:
    """The run's seconds from the one amount given (None for a command without one, a close)."""
    values = {"duration_s": duration_s, "amount_mm": amount_mm, "amount_min": amount_min}
    given = [n for n, v in values.items() if v is not None]
    if len(given) > 1:
        raise ContractError(given[1], values[given[1]], "give only one of duration_s, amount_mm, "
                            f"amount_min (also got {given[0]})")
    if amount_min is not None:
        return seconds_of(amount_min)
    if amount_mm is not None:
        rate = None
        if zone is not None and zones is not None:
            rate = (await zones.get_zone(zone)).precip_rate_mm_h
        return seconds_for_depth(amount_mm, rate)
    return duration_s
