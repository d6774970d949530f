"""A zone's expected yield for the season so far (FAO-33 eq. 1, agronomy/expected_yield.py), explained like
an irrigation decision: every input with where it came from, and what is missing named.

* ETa and ETm: the sums of the zone's daily water balance (balance.py) from planting to the end of yesterday,
  or to the day before the harvest recorded for the season: ETm = sum of Kc ET0 (FAO-56 eq. 58), ETa = sum
  of Ks Kc ET0 (eq. 80), Ks from the probe-corrected depletion. Days without ET0 (no weather) are left out
  of both sums and counted.
* Ky and Ym: the zone's own entry for its crop, else the farm's (site's), else the built-in Ky (cited);
  Ym has no built-in value (agronomy/expected_yield.py says why).
* Beside it, what the harvest gave: the season's newest harvest record of the zone (POST
  /zones/{zone}/fertility/harvests) and the yield monitor logs of the zone's field that season.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .._time import Clock, now_ms
from ..agronomy.expected_yield import FAO33, builtin_ky, crop_key, crop_names, expected_yield
from ..db import Database, HarvestRow, YieldLogRow, YieldPotentialRow
from ..errors import Conflict
from ..registry import FIELDS, SITES, ZONES, Registry, ZoneOut
from .balance import MAX_DAYS

SEASON_PATTERN = r"^\d{4}(-[a-z0-9-]{1,20})?$"


@dataclass(frozen=True)
class Potential:
    ky: float | None
    ky_source: str
    ym_t_ha: float | None
    ym_source: str


def _potential_rows(session: Session, site_id: str, zone_id: str, crop: str) -> list[YieldPotentialRow]:
    q = select(YieldPotentialRow).where(YieldPotentialRow.site_id == site_id,
                                        YieldPotentialRow.crop.in_(crop_names(crop)),
                                        YieldPotentialRow.zone_id.in_([zone_id, ""]))
    return list(session.scalars(q))


def _describe(row: YieldPotentialRow, what: str) -> str:
    scope = f"zone {row.zone_id}" if row.zone_id else f"farm {row.site_id}"
    when = datetime.fromtimestamp(row.updated_ms / 1000, UTC).date().isoformat()
    return f"entered for {scope} by {row.by} on {when}: {row.source}"


def resolve(rows: list[YieldPotentialRow], crop: str) -> Potential:
    """Ky and Ym: the zone's entry, else the farm's, else the built-in Ky (cited); Ym has no built-in value."""
    ordered = sorted(rows, key=lambda r: (r.zone_id == "", -r.updated_ms))  # the zone's own first, newest first
    ky_row = next((r for r in ordered if r.ky is not None), None)
    ym_row = next((r for r in ordered if r.ym_t_ha is not None), None)
    built = builtin_ky(crop)
    ky, ky_source = (ky_row.ky, _describe(ky_row, "Ky")) if ky_row else (built.value, built.source)
    ym, ym_source = ((ym_row.ym_t_ha, _describe(ym_row, "Ym")) if ym_row else
                     (None, "absent: enter the farm's high-producing yield for the crop (PUT "
                            "/api/v1/zones/{zone}/expected-yield/potential or /api/v1/sites/{site}/yield-potentials/"
                            "{crop})"))
    return Potential(ky, ky_source, ym, ym_source)


def _harvest(session: Session, zone_id: str, season: str) -> HarvestRow | None:
    q = (select(HarvestRow).where(HarvestRow.zone_id == zone_id, HarvestRow.season == season)
         .order_by(HarvestRow.id.desc()).limit(1))
    return session.scalar(q)


def _logs(session: Session, field_id: str, year: int) -> list[YieldLogRow]:
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000)
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp() * 1000)
    q = (select(YieldLogRow).where(YieldLogRow.field_id == field_id, YieldLogRow.started_ms >= start,
                                   YieldLogRow.started_ms < end).order_by(YieldLogRow.started_ms))
    return list(session.scalars(q))


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


class ExpectedYieldService:
    """expected(zone) and season(list) over the planning service's balance; the farm's and zones' Ky and Ym."""

    def __init__(self, db: Database, registry: Registry, planning: Any, clock: Clock = now_ms) -> None:
        self._db = db
        self._registry = registry
        self._planning = planning
        self.clock = clock

    async def _site_of(self, zone: ZoneOut) -> str:
        field: Any = await self._registry.get(FIELDS, zone.field_id)
        return field.site_id

    async def put_potential(self, site_id: str, zone_id: str, crop: str, ky: float | None, ym_t_ha: float | None,
                            source: str, by: str) -> None:
        """Store a farm's (zone_id "") or a zone's Ky and Ym for `crop`, replacing the last entry."""
        await self._registry.get(SITES, site_id)
        key = crop_key(crop)

        def put(session: Session) -> None:
            row = session.get(YieldPotentialRow, (site_id, zone_id, key))
            if row is None:
                row = YieldPotentialRow(site_id=site_id, zone_id=zone_id, crop=key)
                session.add(row)
            row.ky, row.ym_t_ha, row.source, row.by, row.updated_ms = ky, ym_t_ha, source, by[:80], self.clock()

        await self._db.run(put)

    async def put_zone_potential(self, zone_id: str, ky: float | None, ym_t_ha: float | None, source: str,
                                 by: str) -> dict[str, Any]:
        zone = await self._registry.get_zone(zone_id)
        await self.put_potential(await self._site_of(zone), zone_id, zone.crop, ky, ym_t_ha, source, by)
        return await self.expected(zone_id)

    async def potentials(self, site_id: str, crop: str) -> dict[str, Any]:
        """The farm's Ky and Ym for a crop as the expected yield takes them (without a zone's own)."""
        await self._registry.get(SITES, site_id)
        key = crop_key(crop)
        rows = await self._db.run(lambda s: _potential_rows(s, site_id, "", key))
        p = resolve(rows, key)
        return {"site": site_id, "crop": key, "ky": p.ky, "ky_source": p.ky_source, "ym_t_ha": p.ym_t_ha,
                "ym_source": p.ym_source}

    async def expected(self, zone_id: str, season: str | None = None) -> dict[str, Any]:
        """The zone's expected yield for its season (the planting date's year, or `season` if it matches)."""
        zone = await self._registry.get_zone(zone_id)
        site_id = await self._site_of(zone)
        if zone.planting_date is None:
            return self._missing(zone, site_id, season, [{"field": "planting_date", "reason":
                                 "the zone has no planting date: the season's water use is counted from it"}])
        planted = date.fromisoformat(str(zone.planting_date))
        own = str(planted.year)
        if season is not None and not season.startswith(own):
            raise Conflict("season", season, f"zone {zone_id} was planted on {planted.isoformat()}: its season "
                           f"is {own}")
        season = season or own
        key = crop_key(zone.crop)
        rows = await self._db.run(lambda s: _potential_rows(s, site_id, zone_id, key))
        potential = resolve(rows, key)
        harvest = await self._db.run(lambda s: _harvest(s, zone_id, season))
        logs = await self._db.run(lambda s: _logs(s, zone.field_id, planted.year))
        balance = await self._planning.balance(zone_id, days=MAX_DAYS)
        end = date.fromisoformat(harvest.harvested_on) if harvest is not None else None
        days = [r for r in balance.rows if date.fromisoformat(r.date) >= planted
                and (end is None or date.fromisoformat(r.date) < end)]
        modelled = [r for r in days if r.etm_mm is not None and r.etc_mm is not None]
        eta = sum(r.etc_mm for r in modelled)
        etm = sum(r.etm_mm for r in modelled)
        missing: list[dict[str, str]] = []
        if not modelled:
            missing.append({"field": "et0", "reason": "no day of the season has a modelled balance (ET0 needs the "
                            "weather node's temperatures and a latitude): see GET /zones/{zone}/balance"})
        if potential.ky is None:
            missing.append({"field": "ky", "reason": potential.ky_source})
        if potential.ym_t_ha is None:
            missing.append({"field": "ym_t_ha", "reason": potential.ym_source})
        out = self._base(zone, site_id, season)
        out.update({
            "season_from": planted.isoformat(), "season_to": days[-1].date if days else None, "days": len(days),
            "days_modelled": len(modelled), "eta_mm": round(eta, 1), "etm_mm": round(etm, 1),
            "ky": potential.ky, "ym_t_ha": potential.ym_t_ha,
            "sources": {"eta": "sum of the zone's daily Ks Kc ET0 (FAO-56 eq. 80; Ks from the probe-corrected "
                        "depletion), GET /zones/{zone}/balance etc_mm",
                        "etm": "sum of the zone's daily Kc ET0 (FAO-56 eq. 58): FAO-33's ETm",
                        "ky": potential.ky_source, "ym": potential.ym_source,
                        "equation": f"{FAO33}, eq. 1 (FAO-56 eq. 90): 1 - Ya/Ym = Ky (1 - ETa/ETm)",
                        **{f"balance.{k}": v for k, v in balance.sources.items()}},
            "harvest": None if harvest is None else {
                "yield_t_ha": round(harvest.yield_kg_ha / 1000, 3), "harvested_on": harvest.harvested_on,
                "source": f"harvest record {harvest.id} by {harvest.by}"},
            "yield_logs": [{"id": g.id, "crop": g.crop, "machine": g.machine, "mean_yield_t_ha": g.mean_yield_t_ha,
                            "mass_kg": g.mass_kg, "harvested_ha": g.harvested_ha,
                            "standard_moisture_pct": g.standard_moisture_pct} for g in logs],
            "missing": missing,
        })
        if modelled and potential.ky is not None:
            e = expected_yield(key, eta, etm, potential.ky, potential.ym_t_ha, zone.area_ha)
            out.update({"eta_over_etm": round(e.eta_over_etm, 4), "relative_yield": round(e.relative_yield, 4),
                        "ya_t_ha": None if e.ya_t_ha is None else round(e.ya_t_ha, 3),
                        "total_t": None if e.total_t is None else round(e.total_t, 3),
                        "within_range": e.within_range})
            out["explanation"] = self._explain(out, e.eta_over_etm)
        else:
            out["explanation"] = "Not estimated: " + "; ".join(f"{m['field']}: {m['reason']}" for m in missing)
        return out

    def _base(self, zone: ZoneOut, site_id: str, season: str | None) -> dict[str, Any]:
        return {"zone_id": zone.id, "zone_name": zone.name, "field_id": zone.field_id, "site_id": site_id,
                "crop": zone.crop, "season": season, "area_ha": zone.area_ha, "season_from": None,
                "season_to": None, "days": 0, "days_modelled": 0, "eta_mm": None, "etm_mm": None, "eta_over_etm": None,
                "ky": None,
                "ym_t_ha": None, "relative_yield": None, "ya_t_ha": None, "total_t": None, "within_range": None,
                "sources": {}, "harvest": None, "yield_logs": [], "missing": [], "explanation": ""}

    def _missing(self, zone: ZoneOut, site_id: str, season: str | None, missing: list[dict[str, str]]
                 ) -> dict[str, Any]:
        out = self._base(zone, site_id, season)
        out["missing"] = missing
        out["explanation"] = "Not estimated: " + "; ".join(f"{m['field']}: {m['reason']}" for m in missing)
        return out

    @staticmethod
    def _explain(o: dict[str, Any], ratio: float) -> str:
        text = (f"Season from {o['season_from']} to {o['season_to']} ({o['days_modelled']} of {o['days']} days "
                f"modelled): the crop "
                f"used ETa {o['eta_mm']:g} mm of the ETm {o['etm_mm']:g} mm it would with no water stress "
                f"({_pct(ratio)}). With Ky {o['ky']:g}, Ya/Ym = 1 - {o['ky']:g} x (1 - {ratio:.3f}) = "
                f"{o['relative_yield']:.3f}")
        if o["ya_t_ha"] is not None:
            text += (f"; with Ym {o['ym_t_ha']:g} t/ha the zone is heading for {o['ya_t_ha']:.2f} t/ha, "
                     f"{o['total_t']:.2f} t over {o['area_ha']:g} ha.")
        else:
            text += "; enter Ym (t/ha) to have it in tonnes."
        if not o["within_range"]:
            text += " The deficit is above 50 %, beyond the range FAO-33's eq. 1 was fitted over."
        return text

    async def season(self, season: str, organisation: str | None, site: str | None = None) -> list[dict[str, Any]]:
        """Every zone planted in the season's year (of one site, if given), each with its expected yield."""
        zones: list[Any] = await self._registry.all(ZONES, organisation=organisation)
        year = season[:4]
        out = []
        for z in zones:
            if z.planting_date is None or not str(z.planting_date).startswith(year):
                continue
            if site is not None and await self._site_of(z) != site:
                continue
            out.append(await self.expected(z.id, season))
        return out
