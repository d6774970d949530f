"""The regional view (issue 21): aggregates over the organisations of a region that share their data with
the regional platform, by administrative region (province -> city -> county) and crop, with cells of too
few farms withheld (suppression.py). Never one farm's figures: a farm is an organisation here."""

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import AlertRow, Database, FieldRow, Organisation, SiteRow, TraceRecordRow, ZoneRow
from ..errors import NotFound
from ..machinery import OperationService
from ..machinery.models import OperationKind
from .models import RegionalCell, RegionalView
from .suppression import Withheld, suppress

ALL = "*"  # every crop together
METRICS = ("zones", "area_ha", "planted_ha", "harvested_area_ha", "harvested_kg", "water_m3", "alerts_open",
           "pest_farms_over", "pest_zones_over", "expected_yield_t", "expected_yield_farms")
# Expected yield is summed over the zones that have an estimate (a planting date, the weather for their water
# balance and the farm's Ym entered), so it has contributors of its own: those farms. It is withheld on its own
# when they are fewer than k, or when a total less its parts would show fewer than k of them.
EXPECTED = ("expected_yield_t", "expected_yield_farms")
# Figures that only some of a cell's farms may add to (a farm that irrigated, harvested, sowed by machine): a cell
# of ten farms may hold one farm's water. Each is withheld on its own unless k or more farms add to it, and when
# a total less its published parts would show fewer than k of them (the same suppression, per figure).
SPARSE = ("planted_ha", "harvested_area_ha", "harvested_kg", "water_m3")
SEASON_YEAR = re.compile(r"^\d{4}(-[a-z0-9-]{1,20})?$")  # planning/expected.py SEASON_PATTERN
log = logging.getLogger(__name__)
PEST_WEEK_MS = 7 * 86_400_000
# a species at or over its own action threshold in a zone (cloud/pests/season.py, agronomy/alerts.py)
PEST_KIND = "pest-species"


@dataclass
class _Farm:
    """One organisation's figures per crop (and ALL)."""

    region: str
    by_crop: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    expected: set[str] = field(default_factory=set)  # the crops (and ALL) it has an expected yield for


def regions_of(path: str) -> list[str]:
    """'65/6501/650102' -> ['65', '65/6501', '65/6501/650102']: the region and every region above it."""
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def within(region: str, scope: str) -> bool:
    return region == scope or region.startswith(scope + "/")


def _farms_sync(session: Session, season: str, now_ms: int) -> dict[str, _Farm]:
    """Each sharing organisation's zones, water (irrigation records of the season, mm over the zone's area),
    harvests (the season's harvest records, less those corrected or voided), open alerts and pest pressure
    (its zones with a species at or over the species' action threshold in the 7 days to `now_ms`), per crop."""
    orgs = {o.id: _Farm(o.region) for o in session.scalars(
        select(Organisation).where(Organisation.shares_regional.is_(True), Organisation.region.is_not(None)))}
    if not orgs:
        return {}
    zones = session.execute(
        select(ZoneRow.id, ZoneRow.field_id, ZoneRow.crop, ZoneRow.area_ha, SiteRow.organisation_id)
        .join(FieldRow, FieldRow.id == ZoneRow.field_id).join(SiteRow, SiteRow.id == FieldRow.site_id)
        .where(SiteRow.organisation_id.in_(list(orgs)))).all()
    zone_of = {z: (field_id, crop, area, org) for z, field_id, crop, area, org in zones}
    crops_of_field: dict[str, set[str]] = defaultdict(set)
    for _, (field_id, crop, area, org) in zone_of.items():
        crops_of_field[field_id].add(crop)
        for crop_key in (crop, ALL):
            orgs[org].by_crop[crop_key]["zones"] += 1
            orgs[org].by_crop[crop_key]["area_ha"] += area
    org_of_field = {field_id: org for field_id, _, _, org in zone_of.values()}
    records = session.execute(
        select(TraceRecordRow.field_id, TraceRecordRow.seq, TraceRecordRow.kind, TraceRecordRow.zone_id,
               TraceRecordRow.data, TraceRecordRow.corrects)
        .where(TraceRecordRow.season == season, TraceRecordRow.field_id.in_(list(org_of_field)))).all()
    replaced = {(f, c) for f, _, _, _, _, c in records if c is not None}
    for field_id, seq, kind, zone, data, _ in records:
        if (field_id, seq) in replaced:
            continue
        org = org_of_field[field_id]
        field_crops = crops_of_field[field_id]
        if kind == "irrigation" and zone in zone_of and data.get("water_mm") is not None:
            _, crop, area, _ = zone_of[zone]
            for crop_key in (crop, ALL):  # 1 mm over 1 ha is 10 m3
                orgs[org].by_crop[crop_key]["water_m3"] += float(data["water_mm"]) * area * 10
        elif kind == "harvest" and data.get("quantity_kg") is not None:
            # a field growing one crop gives its harvest to that crop; otherwise to the total only
            keys = [next(iter(field_crops)), ALL] if len(field_crops) == 1 else [ALL]
            for crop_key in keys:
                orgs[org].by_crop[crop_key]["harvested_kg"] += float(data["quantity_kg"])
    for zone, in session.execute(select(AlertRow.zone).where(AlertRow.resolved_ms.is_(None),
                                                            AlertRow.zone.in_(list(zone_of)))).all():
        _, crop, _, org = zone_of[zone]
        for crop_key in (crop, ALL):
            orgs[org].by_crop[crop_key]["alerts_open"] += 1
    _pest_pressure(session, orgs, zone_of, now_ms)
    return orgs


def _pest_pressure(session: Session, orgs: dict[str, _Farm], zone_of: dict, now_ms: int) -> None:
    """pest_zones_over: the farm's zones where some species' trap catch was at or over that species' own action
    threshold (per trap per night or per week, as its source gives it) at some time in the 7 days to `now_ms`:
    a `pest-species` alert open then. pest_farms_over: 1 when the farm has such a zone (of that crop), else 0;
    summed over a cell's farms it is how many of them had a pest over threshold this week."""
    since = now_ms - PEST_WEEK_MS
    over = {zone for zone, in session.execute(
        select(AlertRow.zone).where(AlertRow.kind == PEST_KIND, AlertRow.zone.in_(list(zone_of)),
                                    AlertRow.first_ms <= now_ms,
                                    AlertRow.resolved_ms.is_(None) | (AlertRow.resolved_ms >= since))).all()}
    farm_crops: set[tuple[str, str]] = set()
    for zone in over:
        _, crop, _, org = zone_of[zone]
        for crop_key in (crop, ALL):
            orgs[org].by_crop[crop_key]["pest_zones_over"] += 1
            farm_crops.add((org, crop_key))
    for org, farm in orgs.items():
        for crop_key in list(farm.by_crop):
            farm.by_crop[crop_key]["pest_farms_over"] += 1 if (org, crop_key) in farm_crops else 0


@dataclass
class Table:
    """The whole regional table of a season: each cell's farms and sums, its totals with their parts, and the
    suppression pattern over all of it."""

    contributors: dict[tuple[str, str], frozenset[str]]
    sums: dict[tuple[str, str], dict[str, float]]
    groups: list[tuple[tuple[str, str], list[tuple[str, str]]]]
    withheld: dict[tuple[str, str], Withheld]
    expected_contributors: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    """The farms of each cell with an expected yield."""
    expected_withheld: dict[tuple[str, str], Withheld] = field(default_factory=dict)
    """Cells whose expected yield is withheld (the cell itself, too few farms with one, or a difference)."""
    sparse_contributors: dict[str, dict[tuple[str, str], frozenset[str]]] = field(default_factory=dict)
    """For each SPARSE figure, the farms of each cell that add to it (a value above 0)."""
    sparse_withheld: dict[str, dict[tuple[str, str], Withheld]] = field(default_factory=dict)
    """For each SPARSE figure, the cells where it is withheld."""

    def figures(self, cell: tuple[str, str]) -> dict[str, float | None]:
        """A published cell's figures, rounded; expected yield None when withheld or no farm has one."""
        out: dict[str, float | None] = {m: round(v, 3) for m, v in self.sums[cell].items()}
        if cell in self.expected_withheld or not self.expected_contributors.get(cell):
            out |= dict.fromkeys(EXPECTED)
        for m, hidden in self.sparse_withheld.items():
            if cell in hidden:
                out[m] = None
        return out


def expected_withheld(contributors: dict[tuple[str, str], frozenset[str]], groups: list, k: int,
                      withheld: dict[tuple[str, str], Withheld]) -> dict[tuple[str, str], Withheld]:
    """The cells whose expected yield must be withheld: the table's withheld cells, and then the same
    suppression (suppression.suppress) over the farms that have an expected yield, starting from them."""
    return suppress(contributors, groups, k, withheld=withheld)


class RegionalService:
    """Builds the whole table (every region, every crop) and its suppression pattern, then answers a region."""

    def __init__(self, db: Database, operations: OperationService, expected: Any = None) -> None:
        self._db = db
        self._operations = operations
        self._expected = expected  # planning.expected.ExpectedYieldService: zones' FAO-33 expected yield

    async def _expected_yield(self, farms: dict[str, _Farm], season: str) -> None:
        """Each farm's expected yield (tonnes over the zone) summed over its zones with an estimate. A farm whose
        estimates fail is logged and counted as having none; the rest go on."""
        if self._expected is None or not SEASON_YEAR.fullmatch(season):
            return
        for org, farm in farms.items():
            try:
                zones = await self._expected.season(season, org)
            except Exception:
                log.exception("expected yield of organisation %s failed; the regional view counts it without", org)
                continue
            for z in zones:
                if z.get("total_t") is None:
                    continue
                for crop_key in (z["crop"], ALL):
                    farm.by_crop[crop_key]["expected_yield_t"] += z["total_t"]
                    farm.expected.add(crop_key)
            for crop_key in farm.expected:
                farm.by_crop[crop_key]["expected_yield_farms"] = 1


    async def full_table(self, season: str, k: int, now_ms: int) -> Table:
        """The table with each cell's contributing farms and its groups (what the open-data check needs);
        pest pressure is that of the 7 days to `now_ms`."""
        farms = await self._db.run(lambda s: _farms_sync(s, season, now_ms))
        for org, farm in farms.items():  # planted and harvested ground from machine operations (issue 20)
            progress = await self._operations.crops(org)
            for c in progress.crops:
                harvested = sum(x.covered_ha for x in c.kinds if x.kind == OperationKind.HARVEST)
                for crop_key in (c.crop, ALL):
                    farm.by_crop[crop_key]["planted_ha"] += c.planted_ha
                    farm.by_crop[crop_key]["harvested_area_ha"] += harvested
        await self._expected_yield(farms, season)
        contributors: dict[tuple[str, str], set[str]] = defaultdict(set)
        with_expected: dict[tuple[str, str], set[str]] = defaultdict(set)
        adding: dict[str, dict[tuple[str, str], set[str]]] = {m: defaultdict(set) for m in SPARSE}
        sums: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: dict.fromkeys(METRICS, 0.0))
        for org, farm in farms.items():
            for region in regions_of(farm.region):
                for crop, figures in farm.by_crop.items():
                    contributors[(region, crop)].add(org)
                    if crop in farm.expected:
                        with_expected[(region, crop)].add(org)
                    for m in SPARSE:
                        if figures.get(m, 0) > 0:
                            adding[m][(region, crop)].add(org)
                    for m, v in figures.items():
                        sums[(region, crop)][m] += v
        frozen = {cell: frozenset(orgs) for cell, orgs in contributors.items()}
        regions = {r for r, _ in frozen}
        crops = {c for _, c in frozen}
        groups = []
        for region in regions:
            children = [r for r in regions if r.rsplit("/", 1)[0] == region and "/" in r]
            for crop in crops:
                if (region, crop) in frozen:
                    groups.append(((region, crop), [(r, crop) for r in children if (r, crop) in frozen]))
            groups.append(((region, ALL), [(region, c) for c in crops if c != ALL and (region, c) in frozen]))
        withheld = suppress(frozen, groups, k)
        expected = {cell: frozenset(with_expected.get(cell, ())) for cell in frozen}
        sparse = {m: {cell: frozenset(adding[m].get(cell, ())) for cell in frozen} for m in SPARSE}
        return Table(frozen, {cell: sums[cell] for cell in frozen}, groups, withheld, expected,
                     expected_withheld(expected, groups, k, withheld), sparse,
                     {m: expected_withheld(sparse[m], groups, k, withheld) for m in SPARSE})

    async def view(self, region: str, season: str, k: int, now_ms: int) -> RegionalView:
        """`region` and the regions one level below it, every crop and all crops together."""
        t = await self.full_table(season, k, now_ms)
        if not any(within(r, region) for r, _ in t.contributors):
            raise NotFound("region", region, "no organisation shares its data in this region")
        depth = region.count("/") + 1
        out = []
        for (r, crop) in sorted(t.contributors):
            if not within(r, region) or r.count("/") + 1 > depth + 1:
                continue
            why = t.withheld.get((r, crop))
            if why is not None:
                out.append(RegionalCell(region=r, crop=crop, withheld=why))
            else:
                out.append(RegionalCell(region=r, crop=crop, farms=len(t.contributors[(r, crop)]),
                                        **t.figures((r, crop))))
        return RegionalView(region=region, season=season, min_farms=k, cells=out)


__all__ = ["ALL", "METRICS", "RegionalService", "Table", "Withheld", "regions_of", "within"]
