"""Harvest totals per field and per crop from the stored yield logs, at each crop's standard moisture.

Pure: the logs' stored totals in, the totals out. Each log's grain is at the moisture it was posted with;
a total is at its crop's standard: the organisation's own for the crop when it entered one (with the source
it gave, a Chinese farm's GB figure say), else the built-in one (grain.py), else, for a crop without one, the
newest log's moisture; each log's mass moved there keeping its dry matter (yield_map.standard_mass). A field
harvested by two logs sums both (two combines, or two days); a log whose field and machine a newer log covers in
time (the same harvest posted again with other settings: another delay, width or moisture) is left out, so no
grain counts twice.
The harvested area is the sum of the logs' covered areas; the mean yield the total over it.

Worked example (tests/test_machinery_yield_totals.py): 10 000 kg of wheat posted at 15.5 % is
10 000 x 84.5 / 86.5 = 9768.79 kg at wheat's 13.5 %.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .grain import STANDARD_MOISTURE_SOURCE, standard_moisture
from .yield_map import standard_mass

NEWEST_LOG = "the newest log's (no standard built in for this crop)"


@dataclass(frozen=True)
class LogTotal:
    """What a stored log contributes: its id, field, crop, machine, time, grain and area."""

    id: int
    field_id: str
    crop: str | None
    machine: str
    started_ms: int
    ended_ms: int
    mass_kg: float
    standard_moisture_pct: float
    harvested_ha: float
    created_ms: int


def counted(logs: Sequence[LogTotal]) -> tuple[list[LogTotal], list[int]]:
    """The logs that count and the ids of those a newer log of the same field and machine overlaps in time."""
    newest_first = sorted(logs, key=lambda g: (g.created_ms, g.id), reverse=True)
    kept: list[LogTotal] = []
    replaced: list[int] = []
    for log in newest_first:
        if any(k.field_id == log.field_id and k.machine == log.machine and k.started_ms <= log.ended_ms
               and log.started_ms <= k.ended_ms for k in kept):
            replaced.append(log.id)
        else:
            kept.append(log)
    return sorted(kept, key=lambda g: (g.started_ms, g.id)), sorted(replaced)


def _moisture(crop: str | None, logs: Sequence[LogTotal],
              own: Mapping[str, tuple[float, str]]) -> tuple[float, str]:
    if crop is not None and crop in own:
        return own[crop]
    built_in = standard_moisture(crop)
    if built_in is not None:
        return built_in, STANDARD_MOISTURE_SOURCE
    return max(logs, key=lambda g: (g.started_ms, g.id)).standard_moisture_pct, NEWEST_LOG


def _total(logs: Sequence[LogTotal], crop: str | None, field_id: str | None,
           own: Mapping[str, tuple[float, str]]) -> dict:
    ms, source = _moisture(crop, logs, own)
    mass = sum(standard_mass(g.mass_kg, g.standard_moisture_pct, ms) for g in logs)
    area = sum(g.harvested_ha for g in logs)
    return {"field_id": field_id, "crop": crop, "fields": len({g.field_id for g in logs}), "logs": len(logs),
            "mass_kg": round(mass, 2), "harvested_ha": round(area, 6),
            "mean_yield_t_ha": round(mass / area / 1000, 4) if area else 0.0, "standard_moisture_pct": ms,
            "moisture_source": source, "first_ms": min(g.started_ms for g in logs),
            "last_ms": max(g.ended_ms for g in logs)}


def totals(logs: Sequence[LogTotal], own: Mapping[str, tuple[float, str]] | None = None,
           ) -> tuple[list[dict], list[dict], list[int]]:
    """(per field and crop, per crop, replaced log ids): the module docstring's sums, in field and crop order;
    `own` the organisation's standard moistures, crop -> (%, where it comes from)."""
    own = own or {}
    kept, replaced = counted(logs)
    by_field: dict[tuple[str, str], list[LogTotal]] = {}
    by_crop: dict[str, list[LogTotal]] = {}
    for g in kept:
        by_field.setdefault((g.field_id, g.crop or ""), []).append(g)
        by_crop.setdefault(g.crop or "", []).append(g)
    fields = [_total(group, crop or None, fid, own) for (fid, crop), group in sorted(by_field.items())]
    crops = [_total(group, crop or None, None, own) for crop, group in sorted(by_crop.items())]
    return fields, crops, replaced
