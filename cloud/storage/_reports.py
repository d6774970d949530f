"""The readings of a batch's validated reports, kept as the reports they came in.

Ingest used to turn every value into a `Reading` (a frozen dataclass, about 2.9 µs to build)
only for the InfluxDB stores to take each apart again into line protocol: the largest share
of the worker's CPU left in one place (docs/performance.md, "Fourth pass"). `Reports` keeps
each checked report as it is (its dict from ``edge.batch.validate_item``) with where it came
from; a store that writes line protocol formats the lines straight from them
(``lineprotocol.report_lines``, the same lines `to_lines` gives, which a property test checks),
and any other store iterates it and gets the `Reading`s ``ingest.flatten`` made before.

It is a read-only sequence of Readings as far as a store can tell: ``len`` counts readings,
iteration yields them in report order, oldest report first as they came.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

from ._reading import Reading


class Reports(Sequence[Reading]):
    """Validated reports of one or more batches (appended with `add`; merged with `join`)."""

    __slots__ = ("_readings", "reports")

    def __init__(self) -> None:
        # (site, gateway, uplink, rx_ms, flags): the uplink as validate_item returned it
        self.reports: list[tuple[str, str, dict, int | None, tuple[str, ...]]] = []
        self._readings = 0

    def add(self, site: str, gateway: str, uplink: dict, rx_ms: int | None, flags: Sequence[str]) -> None:
        """One validated report (a report without readings adds nothing)."""
        if uplink["readings"]:
            self.reports.append((site, gateway, uplink, rx_ms, tuple(flags)))
            self._readings += len(uplink["readings"])

    @classmethod
    def join(cls, parts: Sequence[Reports]) -> Reports:
        """Every report of `parts`, in their order (the batches of one merged write)."""
        out = cls()
        for part in parts:
            out.reports.extend(part.reports)
            out._readings += part._readings
        return out

    def __len__(self) -> int:
        return self._readings

    def __iter__(self) -> Iterator[Reading]:
        for site, gateway, uplink, rx_ms, flags in self.reports:
            node, role, seq, ts_ms = uplink["node"], uplink["role"], uplink["seq"], uplink["ts_ms"]
            for r in uplink["readings"]:
                yield Reading(site, gateway, node, role, r["name"], r["unit"], r.get("depth_cm"), r.get("channel"),
                              r["value"], r.get("fault"), seq, ts_ms, rx_ms, flags)

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> list[Reading]: ...

    def __getitem__(self, index: int | slice) -> Reading | list[Reading]:
        return list(self)[index]

    def late(self, before_ms: int) -> tuple[int, int, list[str]] | None:
        """(oldest ts_ms, newest ts_ms, nodes) of the reports older than `before_ms`, or None."""
        first = last = None
        nodes: set[str] = set()
        for _, _, uplink, _, _ in self.reports:
            ts = uplink["ts_ms"]
            if ts < before_ms:
                first = ts if first is None or ts < first else first
                last = ts if last is None or ts > last else last
                nodes.add(uplink["node"])
        return None if first is None or last is None else (first, last, sorted(nodes))
