"""Gateways' status reports (their Modbus counters), kept for the bus health page.

A gateway reports every status interval, over MQTT (the retained status on
its ``gw/{gateway}/status`` topic, with a ``modbus`` object) or by HTTPS POST
to ``/api/v1/gateways/{site}/{gateway}/status``; both land in one
`StatusBook`. The page's rates come from the newest two reports. Both paths
check a report alike (`check_report`): the Modbus contract of
edge/gateway_status.py and a time not ahead of the cloud's clock by more than
FUTURE_SKEW_MS (a report from the far future would make every later one "not
newer" until a restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from furrow.edge.commands import decode_status
from furrow.edge.errors import ContractError
from furrow.edge.gateway_status import check_modbus

from ._time import Clock, now_ms

FUTURE_SKEW_MS = 5 * 60_000  # how far ahead of the cloud's clock a gateway's clock may run


def check_report(report: dict[str, Any], now: int) -> dict[str, Any]:
    """`report` with its ``modbus`` counters validated; ContractError naming the field otherwise."""
    ts_ms = report.get("ts_ms")
    if not isinstance(ts_ms, int) or isinstance(ts_ms, bool) or not 0 < ts_ms <= now + FUTURE_SKEW_MS:
        raise ContractError("ts_ms", ts_ms, f"must be Unix time in milliseconds, at most {FUTURE_SKEW_MS // 60_000}"
                                            " minutes ahead of the cloud's clock")
    return {**report, "modbus": check_modbus(report.get("modbus", {}))}


class StatusBook:
    """The newest two status reports of each gateway, in memory: enough for rates.

    Kept in memory (a restart starts empty; the gateway reports again within a minute). With
    several cloud instances on one PostgreSQL, `on_recorded` hands each report kept here to
    the others (cloud/cluster/), which `adopt` it: every instance's bus page sees every report."""

    def __init__(self, clock: Clock = now_ms) -> None:
        self._clock = clock
        self.reports: dict[tuple[str, str], tuple[dict, dict | None]] = {}
        self.lock = asyncio.Lock()
        self.on_recorded: Callable[[str, str, dict[str, Any]], None] | None = None

    async def record(self, site: str, gateway: str, report: dict[str, Any]) -> bool:
        """Keep `report` (with ``ts_ms`` and ``modbus``) as the gateway's newest; False (kept
        nothing) when it is not newer than the newest, e.g. the same report delivered twice:
        two reports of one time would give no interval for the rates. Raises ContractError
        for a report `check_report` refuses."""
        received = self._clock()
        report = {**check_report(report, received), "received_ms": received}
        async with self.lock:
            kept = self.adopt(site, gateway, report)
        if kept and self.on_recorded is not None:
            self.on_recorded(site, gateway, report)
        return kept

    def adopt(self, site: str, gateway: str, report: dict[str, Any]) -> bool:
        """Keep an already checked report (this instance's, or one another instance recorded)
        when it is newer than the gateway's newest; True when kept."""
        newest = self.reports.get((site, gateway))
        if newest is not None and report["ts_ms"] <= newest[0]["ts_ms"]:
            return False
        self.reports[(site, gateway)] = (report, newest[0] if newest else None)
        return True


async def record_mqtt_status(book: StatusBook, site: str, gateway: str, payload: bytes) -> bool:
    """A status message from a gateway's status topic: one with Modbus counters is recorded;
    a plain online/offline one (the retained status, the last will) is left alone. Raises
    ContractError naming the field for a message that breaks the contract."""
    if not payload:
        return False  # a retained status being cleared
    status = decode_status(payload)
    if status["id"] != gateway:
        raise ContractError("id", status["id"], f"must be {gateway!r}, the gateway of the topic")
    if "modbus" not in status:
        return False
    return await book.record(site, gateway, {"ts_ms": status["ts_ms"], "modbus": status["modbus"]})
