"""Alerts: list them, acknowledge one as a person, evaluate the rules now."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from furrow.edge.topics import check_id

from ...alerts import AckIn, AlertOut, AlertState, EvaluationOut, SeverityName
from ..deps import AlertAcker, AlertsDep, Planner, Reader
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/alerts", tags=["alerts"], route_class=JsonRoute)


@router.get("", response_model=list[AlertOut])
async def list_alerts(
    alerts: AlertsDep,
    _: Reader,
    state: Annotated[AlertState, Query(description="open: unresolved and not acknowledged")] = AlertState.OPEN,
    severity: Annotated[SeverityName | None, Query(description="at least this severity")] = None,
    zone: Annotated[str | None, Query(description="alerts of this zone only")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertOut]:
    """Alerts, newest first (by when raised). An alert is one (kind, subject): while its rule
    keeps firing it stays one alert, its `last_ms` moving on."""
    return await alerts.list(state, severity, None if zone is None else check_id("zone", zone), limit)


@router.post("/evaluate", response_model=EvaluationOut)
async def evaluate_alerts(alerts: AlertsDep, _: Planner) -> EvaluationOut:
    """Evaluate every alert rule now (the service also does every FURROW_ALERTS_INTERVAL_S);
    the counts of alerts raised, escalated and resolved, and how many are unresolved."""
    return await alerts.evaluate()


@router.post("/{alert_id}/ack", response_model=AlertOut,
             responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse,
                                                               "description": "already acknowledged: by whom"}})
async def acknowledge_alert(alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)], alerts: AlertsDep, who: AlertAcker,
                            body: Annotated[AckIn | None, Body()] = None) -> AlertOut:
    """Acknowledge an alert as the token's user, with an optional note. An escalation clears
    the acknowledgement, so the alert can be acknowledged again then."""
    return await alerts.acknowledge(alert_id, who.name, None if body is None else body.note)
