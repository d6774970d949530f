"""The irrigation planner per zone: plan now, the decisions made, agronomists' overrides."""

from fastapi import APIRouter, status

from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...planning import AgronomyOut, BalanceRowOut, DecisionOut, OverrideAction, OverrideIn, OverrideOut
from ..deps import AuditDep, Planner, PlanningDep, Reader
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/zones", tags=["planning"], route_class=JsonRoute)


@router.post("/{zone_id}/plan", response_model=DecisionOut,
             responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse,
                                                               "description": "an input is missing: named"}})
async def plan_zone(zone_id: str, planning: PlanningDep, who: Planner, audit: AuditDep) -> DecisionOut:
    """Run the planner for the zone now: depletion from its daily water balance (weather, crop,
    rain, irrigation, probes; the probes alone without weather), the water budgets, the
    hydraulic group, the forecast and the override in force. The decision (irrigate, skip or
    hold) is recorded with its inputs, their sources and the rule; an irrigation creates
    command(s) (origin "planner") whose idempotency key is the zone and the local day, so
    planning again that day never waters twice."""
    out = await planning.plan(check_id("zone", zone_id), origin=f"person:{who.name}")
    await audit(who.name, "plan.run", f"zone:{zone_id}", action=str(out.action), command_ids=list(out.command_ids))
    return out


@router.get("/{zone_id}/decisions", response_model=list[DecisionOut])
async def list_decisions(zone_id: str, planning: PlanningDep, _: Reader, limit: int = 100) -> list[DecisionOut]:
    """The zone's recorded decisions, newest first, with their inputs and rule."""
    return await planning.decisions(check_id("zone", zone_id), limit=max(1, min(limit, 1000)))


@router.post("/{zone_id}/override", status_code=status.HTTP_201_CREATED, response_model=OverrideOut,
             responses={404: {"model": ProblemResponse}, 422: {"model": ProblemResponse},
                        409: {"model": ProblemResponse, "description": "water_now on a zone without one valve"}})
async def override_zone(zone_id: str, body: OverrideIn, planning: PlanningDep, who: Planner,
                        audit: AuditDep) -> OverrideOut:
    """Override the planner for a zone: skip or hold (until `until`, or until `resume`), or
    water_now (the next plan waters `amount_mm`, or refills, once; 409 when the zone has not
    exactly one valve to water with). Recorded with the caller."""
    if body.amount_mm is not None and body.action is not OverrideAction.WATER_NOW:
        raise ContractError("amount_mm", body.amount_mm, "only water_now takes an amount")
    until_ms = None if body.until is None else parse_instant("until", body.until)
    out = await planning.override(check_id("zone", zone_id), body.action, body.reason, by=f"person:{who.name}",
                                  until_ms=until_ms, amount_mm=body.amount_mm)
    await audit(who.name, "override.create", f"zone:{zone_id}", action=str(body.action), reason=body.reason,
                until_ms=until_ms, amount_mm=body.amount_mm)
    return out


@router.get("/{zone_id}/balance", response_model=list[BalanceRowOut],
            responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}})
async def zone_balance(zone_id: str, planning: PlanningDep, _: Reader, days: int = 14) -> list[BalanceRowOut]:
    """The zone's daily water balance over the last `days` complete local days (1-366), oldest
    first: ET0 from its weather node(s), Kc from the crop stage, rain, irrigation from completed
    commands, depletion corrected by the probes; `source` says where each day's terms came from."""
    if not 1 <= days <= 366:
        raise ContractError("days", days, "must be within 1..366")
    balance = await planning.balance(check_id("zone", zone_id), days=days)
    return [BalanceRowOut.model_validate(vars(r)) for r in balance.rows]


@router.get("/{zone_id}/agronomy", response_model=AgronomyOut, responses={404: {"model": ProblemResponse}})
async def zone_agronomy(zone_id: str, planning: PlanningDep, _: Reader) -> AgronomyOut:
    """Crop stage, degree days and Kc (from the balance's newest day), the latest planner
    decision, trap catches and their trends, and the week's leaf-wetness periods."""
    return AgronomyOut.model_validate(await planning.agronomy(check_id("zone", zone_id)))
