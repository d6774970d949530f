"""Fertigation: a product and its dose per hectare, turned into a fertigate command, and its application
recorded from what the controller injected.

A request names the zone, the product (with its stock solution's strength, kg of product per litre), the
dose (kg of product per ha, or its concentration in the water that flows while the injector runs), the
water run (seconds, minutes or millimetres, as an irrigation command) and the injection window within the
run. The controller only sees millilitres of stock solution and the window (edge/commands.py, contract 1.5):

    stock_ml = dose_kg_ha x area_ha / stock_kg_per_l x 1000
    (concentration) dose_kg_ha = c_mg_l x water_l(window) / 10^6 / area_ha,
                    water_l = precip_rate_mm_h x hours x area_ha x 10 000 (1 mm on 1 ha is 10 000 l)

A dose the injector cannot deliver within the window at its rate is refused with the largest that fits.
When the command ends, its application is recorded at the rate the injected volume delivered:
rate_kg_ha = dose_kg_ha x injected_ml / stock_ml (a partial dose is recorded as partial; none, not at all).

The injected volume is the pump's own count (calibrated rate x time it ran); nothing on the controller
measures it. The firmware stops the pump at the first tick at or past the dose, so a count can pass the
dose by at most one tick of the pump. A reported volume beyond the dose plus one tick (TICK_S of the rate
the fertigation was sized at, rounded up to the millilitre) is flagged, on the command (`injected_flag`)
and on its application (`volume_flag`): the count, or the controller, is not to be trusted as it stands.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from furrow.edge import commands as contract
from furrow.edge.errors import ContractError

from ..commands import CommandOut, CommandService
from ..commands.amounts import duration_s as run_seconds
from ..commands.amounts import resolve_target
from ..db import Database, FertigationRow, InjectorRow, ProductRow
from ..errors import NotFound
from ..registry import NODES, Registry
from .models import ApplicationIn, FertigateIn, InjectorIn, InjectorOut
from .service import FertilityService

log = logging.getLogger(__name__)

L_PER_MM_HA = 10_000.0  # 1 mm of water over 1 ha is 10 m3


def stock_ml(dose_kg_ha: float, area_ha: float, stock_kg_per_l: float) -> int:
    """Millilitres of stock solution that carry `dose_kg_ha` of product over `area_ha`."""
    return max(1, round(dose_kg_ha * area_ha / stock_kg_per_l * 1000))


def water_l(precip_rate_mm_h: float, area_ha: float, seconds: float) -> float:
    """Litres the zone's emitters apply in `seconds`."""
    return precip_rate_mm_h * seconds / 3600 * area_ha * L_PER_MM_HA


def dose_of_concentration(concentration_mg_l: float, water: float, area_ha: float) -> float:
    """kg of product per ha that puts `concentration_mg_l` into `water` litres."""
    return concentration_mg_l * water / 1e6 / area_ha


def max_dose_kg_ha(injector_l_h: float, window_s: int, area_ha: float, stock_kg_per_l: float) -> float:
    """The largest dose the injector delivers within the window at its rate."""
    return injector_l_h * window_s / 3600 * stock_kg_per_l / area_ha


def applied_rate_kg_ha(dose_kg_ha: float, inject_ml: int, injected_ml: int) -> float:
    """The rate the injected volume delivered (the controller reports what went in, not what was asked)."""
    return dose_kg_ha * injected_ml / inject_ml


TICK_S = 1.0
"""The longest tick of a controller's loop the check allows (firmware/injector.py: "one tick's worth ... per
1 s tick"; the MQTT board loop ticks every 50 ms, the RS-485 one every millisecond)."""


def tick_ml(rate_l_h: float, tick_s: float = TICK_S) -> int:
    """What the pump delivers in one tick, rounded up to the millilitre: 1 l/h is 1000 ml per 3600 s."""
    return math.ceil(rate_l_h * 1000 / 3600 * tick_s - 1e-9)


def over_dose_flag(inject_ml: int, injected_ml: int, rate_l_h: float, tick_s: float = TICK_S) -> str | None:
    """Why a reported volume is suspect (beyond the dose plus one tick of the pump), or None when it is not."""
    allowed = inject_ml + tick_ml(rate_l_h, tick_s)
    if injected_ml <= allowed:
        return None
    return (f"reported {injected_ml} ml is beyond the {inject_ml} ml asked plus one {tick_s:g} s tick of the "
            f"{rate_l_h:g} l/h pump ({allowed} ml): check the pump's calibration and the controller")


class FertigationService:
    """Creates fertigate commands from products and doses; records their applications when they end."""

    def __init__(self, db: Database, registry: Registry, commands: CommandService,
                 fertility: FertilityService) -> None:
        self._db = db
        self._registry = registry
        self._commands = commands
        self._fertility = fertility
        commands.on_end.append(self.on_command_end)

    async def fertigate(self, zone_id: str, body: FertigateIn, by: str,
                        not_before_ms: int | None = None) -> dict:
        """Create the zone's fertigate command (sent like any command) and keep what it applies.
        ContractError naming the field: a product without a stock strength, a dose beyond the window."""
        zone = await self._registry.get_zone(zone_id)
        site_id, _ = await self._fertility.site_of(zone)
        product = await self._db.run(lambda s: s.get(ProductRow, (site_id, body.product_id)))
        if product is None:
            raise NotFound("product_id", body.product_id, f"no product with this id at site {site_id}")
        if product.stock_kg_per_l is None:
            raise ContractError("product_id", body.product_id, "has no stock_kg_per_l: give the product the "
                                "strength of its stock solution to fertigate it")
        node, valve, _ = await resolve_target(self._registry, body.node, body.valve, zone_id)
        injector = await self._db.run(lambda s: s.get(InjectorRow, node))
        if injector is None:
            raise ContractError("node", node, "has no injector registered: PUT /api/v1/fertility/injectors/"
                                f"{node} with its dosing pump's calibrated rate first")
        rate_l_h = injector.rate_l_h
        if body.injector_l_h is not None and abs(body.injector_l_h - rate_l_h) > 1e-9 * rate_l_h:
            raise ContractError("injector_l_h", body.injector_l_h, f"is not the rate registered for {node}'s "
                                f"injector ({rate_l_h:g} l/h, calibrated {injector.calibrated_on or 'on no day given'})"
                                ": leave it out, or register the new calibration")
        seconds = await run_seconds(self._registry, zone_id, body.duration_s, body.amount_mm, body.amount_min)
        if seconds is None:
            raise ContractError("duration_s", None, "give the water run: duration_s, amount_min or amount_mm")
        window = body.inject_until_s - body.inject_from_s
        if body.dose_kg_ha is not None:
            field, dose = "dose_kg_ha", body.dose_kg_ha
        else:
            field = "concentration_mg_l"
            flowing = water_l(zone.precip_rate_mm_h, zone.area_ha, max(0, window))
            dose = dose_of_concentration(body.concentration_mg_l or 0.0, flowing, zone.area_ha)
        ml = stock_ml(dose, zone.area_ha, product.stock_kg_per_l)
        fits = max_dose_kg_ha(rate_l_h, max(0, window), zone.area_ha, product.stock_kg_per_l)
        if window > 0 and dose > fits:
            raise ContractError(field, getattr(body, field), f"needs {ml} ml of stock solution, more than the "
                                f"injector's {rate_l_h:g} l/h delivers in the {window} s window: at most "
                                f"{fits:.2f} kg/ha of {product.name} ({product.id}) fits")
        out, created = await self._commands.create(
            node=node, valve=valve, zone=zone_id, action=contract.ACTION_FERTIGATE, duration_s=seconds,
            not_before_ms=not_before_ms, ttl_s=body.ttl_s, max_runtime_s=body.max_runtime_s,
            origin=by, request_reason=body.reason, idempotency_key=body.idempotency_key,
            inject=(ml, body.inject_from_s, body.inject_until_s))
        row = FertigationRow(command_id=out.id, zone_id=zone_id, season=body.season, product_id=product.id,
                             dose_kg_ha=round(dose, 4), area_ha=zone.area_ha, stock_kg_per_l=product.stock_kg_per_l,
                             inject_ml=ml, by=by[:80], created_ms=out.created_ms, rate_l_h=rate_l_h)
        if created:
            await self._db.run(lambda s: s.merge(row))
        return {"command": out, "fertigation": _fertigation_dict(row)}

    async def put_injector(self, node_id: str, body: InjectorIn, by: str) -> InjectorOut:
        """Register (or recalibrate) an irrigation controller's injector; NotFound or ContractError naming `node`."""
        node = await self._registry.get(NODES, node_id)
        if getattr(node, "role", None) != "irrigation":
            raise ContractError("node", node_id, f"is a {getattr(node, 'role', '?')} node: only an irrigation "
                                "controller drives an injector")
        band = body.ec_band_ds_m
        row = InjectorRow(node_id=node_id, rate_l_h=body.rate_l_h, ec_low_ds_m=band[0] if band else None,
                          ec_high_ds_m=band[1] if band else None,
                          calibrated_on=body.calibrated_on.isoformat() if body.calibrated_on else None,
                          note=body.note, by=by[:80], updated_ms=self._fertility.clock())
        await self._db.run(lambda s: s.merge(row))
        return _injector_out(row)

    async def injectors(self) -> list[InjectorOut]:
        """Every registered injector, by node."""
        rows = await self._db.run(lambda s: list(s.scalars(select(InjectorRow).order_by(InjectorRow.node_id))))
        return [_injector_out(r) for r in rows]

    async def on_command_end(self, out: CommandOut) -> None:
        """A command ended: a fertigate that injected something becomes the zone's application (once)."""
        if out.action != contract.ACTION_FERTIGATE or not out.injected_ml:
            return
        row = await self._db.run(lambda s: s.get(FertigationRow, out.id))
        if row is None:
            log.warning("fertigate %s ended with %s ml injected, but no fertigation names it", out.id,
                        out.injected_ml)
            return
        rate_l_h = row.rate_l_h
        if rate_l_h is None:  # sized before the rate was kept (migration 0021): the injector's rate now
            injector = await self._db.run(lambda s: s.get(InjectorRow, out.node))
            rate_l_h = injector.rate_l_h if injector is not None else None
        flag = None if rate_l_h is None else over_dose_flag(row.inject_ml, out.injected_ml, rate_l_h)
        if flag is not None:
            log.warning("fertigate %s on %s: %s", out.id, out.node, flag)
            await self._commands.flag_injected(out.id, flag)
        zone = await self._registry.get_zone(row.zone_id)
        _, tz = await self._fertility.site_of(zone)
        # the day the controller ended it (its ack's time), in the farm's time zone
        ended_ms = next((e.ts_ms for e in out.events if e.state == out.state), out.updated_ms)
        day = datetime.fromtimestamp(ended_ms / 1000, tz).date()
        body = ApplicationIn(
            season=row.season, product_id=row.product_id, area_ha=row.area_ha, applied_on=day, method="fertigation",
            rate_kg_ha=round(applied_rate_kg_ha(row.dose_kg_ha, row.inject_ml, out.injected_ml), 4),
            note=f"{out.injected_ml} of {row.inject_ml} ml of stock solution injected, as the controller counts "
                 f"its pump ({out.state}{': ' + out.reason if out.reason else ''})"[:300])
        try:
            await self._fertility.record_application(row.zone_id, body, row.by, command_id=out.id,
                                                     volume_flag=flag)
        except IntegrityError:
            pass  # recorded already (the same end told twice, or by another instance)


def _fertigation_dict(row: FertigationRow) -> dict:
    return {"command_id": row.command_id, "zone_id": row.zone_id, "season": row.season,
            "product_id": row.product_id, "dose_kg_ha": row.dose_kg_ha, "area_ha": row.area_ha,
            "stock_kg_per_l": row.stock_kg_per_l, "inject_ml": row.inject_ml, "rate_l_h": row.rate_l_h, "by": row.by}


def _injector_out(row: InjectorRow) -> InjectorOut:
    band = None if row.ec_low_ds_m is None or row.ec_high_ds_m is None else (row.ec_low_ds_m, row.ec_high_ds_m)
    return InjectorOut(node_id=row.node_id, rate_l_h=row.rate_l_h, ec_band_ds_m=band, calibrated_on=row.calibrated_on,
                       note=row.note, by=row.by, updated_ms=row.updated_ms)
