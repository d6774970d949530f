"""The irrigation planner per zone: plan now, the decisions made, agronomists' overrides."""

from fastapi import APIRouter, status

from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...planning import DecisionOut, OverrideAction, OverrideIn, OverrideOut
from ..deps import Planner, PlanningDep, Reader
from ..schemas import MessageResponse, ProblemResponse

router = APIRouter(prefix="/zones", tags=["planning"])


@router.post("/{zone_id}/plan", response_model=DecisionOut,
             responses={404: {"model": MessageResponse}, 409: {"model": MessageResponse,
                                                               "description": "an input is missing: named"}})
async def plan_zone(zone_id: str, planning: PlanningDep, who: Planner) -> DecisionOut:
    """Run the planner for the zone now: depletion from its probes, rain from its weather
    nodes, the override in force. The decision (irrigate, skip or hold) is recorded with its
    inputs and rule; an irrigation creates a command (origin "planner") whose idempotency
    key is the zone and the local day, so planning again that day never waters twice."""
    return await planning.plan(check_id("zone", zone_id), origin=f"person:{who.name}")


@router.get("/{zone_id}/decisions", response_model=list[DecisionOut])
async def list_decisions(zone_id: str, planning: PlanningDep, _: Reader, limit: int = 100) -> list[DecisionOut]:
    """The zone's recorded decisions, newest first, with their inputs and rule."""
    return await planning.decisions(check_id("zone", zone_id), limit=max(1, min(limit, 1000)))


@router.post("/{zone_id}/override", status_code=status.HTTP_201_CREATED, response_model=OverrideOut,
             responses={404: {"model": MessageResponse}, 422: {"model": ProblemResponse}})
async def override_zone(zone_id: str, body: OverrideIn, planning: PlanningDep, who: Planner) -> OverrideOut:
    """Override the planner for a zone: skip or hold (until `until`, or until `resume`), or
    water_now (the next plan waters `amount_mm`, or refills, once). Recorded with the caller."""
    if body.amount_mm is not None and body.action is not OverrideAction.WATER_NOW:
        raise ContractError("amount_mm", body.amount_mm, "only water_now takes an amount")
    until_ms = None if body.until is None else parse_instant("until", body.until)
    return await planning.override(check_id("zone", zone_id), body.action, body.reason, by=f"person:{who.name}",
                                   until_ms=until_ms, amount_mm=body.amount_mm)
