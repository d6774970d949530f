"""Gateways' status reports (their Modbus counters), kept for the bus health page.

A gateway reports every status interval, over MQTT (the retained status on
its ``gw/{gateway}/status`` topic, with a ``modbus`` object) or by HTTPS POST
to ``/api/v1/gateways/{site}/{gateway}/status``; both land in one
`StatusBook`. The page's rates come from the newest two reports.
"""

from __future__ import annotations

import asyncio
from typing import Any

from furrow.edge.commands import decode_status
from furrow.edge.errors import ContractError

from ._time import now_ms


class StatusBook:
    """The newest two status reports of each gateway, in memory: enough for rates.

    Kept in this process only (a restart starts empty, and with several cloud instances each
    knows the reports it took); the gateway reports again within a minute."""

    def __init__(self) -> None:
        self.reports: dict[tuple[str, str], tuple[dict, dict | None]] = {}
        self.lock = asyncio.Lock()

    async def record(self, site: str, gateway: str, report: dict[str, Any]) -> bool:
        """Keep `report` (with ``ts_ms`` and ``modbus``) as the gateway's newest; False (kept
        nothing) when it is not newer than the newest, e.g. the same report delivered twice:
        two reports of one time would give no interval for the rates."""
        report = {**report, "received_ms": now_ms()}
        async with self.lock:
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
