"""The demo's season (hil/demo_season.py, the backfill a new user's dashboard shows) judged by the
alert rules while its valves run: sound hardware raises no flow alert, and sprinklers drawing a
twentieth of the registered rate do (the check the demo's browser test makes can fail)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from furrow.cloud.commands.signing import add_node_key
from furrow.edge import commands as contract
from furrow.hil import demo_farm, demo_season
from furrow.hil.clock import SimClock
from furrow.hil.engine import FLOW_CHECK_AFTER_MS, Agenda
from furrow.hil.fleet import CPythonFleet

DAYS = 45  # the demo's own backfill: its first night runs fall in the last weeks (none in 20 days)
FLOW_ALERTS = {"irrigation-no-flow", "irrigation-flow-when-closed"}


async def _season(tmp_path, rate_divisor: float) -> dict:
    """The demo's season with each controller's sprinklers drawing 1/rate_divisor of the rate the
    registry holds; its result's extra (alerts raised, alert passes during runs)."""
    place = demo_farm.place_for(datetime.now(UTC).date())
    start = datetime.now(UTC).astimezone(ZoneInfo(place.timezone)).date() - timedelta(days=DAYS)
    farm = demo_farm.build_farm(place, start, DAYS + 2, 7)
    sim = SimClock(demo_farm.local_midnight(start, place))
    specs = [dataclasses.replace(s, rate_mm_h=s.rate_mm_h / rate_divisor) if s.role == "irrigation" else s
             for s in demo_farm.nodes(demo_farm.SEASON_INTERVALS_S)]
    fleet = CPythonFleet(specs, farm, sim, tmp_path / "nodes")
    keys = tmp_path / "node-keys.json"
    fleet.cores["irr-01"].cmd_key = bytes.fromhex(add_node_key(keys, "irr-01"))
    season = await demo_season.simulate(tmp_path / "season", farm, sim, fleet, place, start, DAYS, lambda _: None,
                                        command_node_keys_file=keys)
    return season.result.extra


def test_each_valve_run_is_given_once_to_the_alert_job_ten_minutes_in():
    """The engine's agenda hands the alert job each run once, FLOW_CHECK_AFTER_MS after its start
    (the controller has reported its open valve and a metered flow by then); a run that ended
    before that, and a second run started after the first, are judged on their own."""
    agenda = Agenda()
    t0 = 1_000_000
    for cid, node in (("c1", "irr-01"), ("c2", "irr-01"), ("c3", "irr-02")):
        agenda.handed(node, contract.encode(contract.make_command(cid, node, 1, contract.ACTION_OPEN, 3600, 4 * 3600,
                                                                  t0, t0 + 86_400_000)))
    agenda.heard({"id": "c1", "state": contract.ACK_STARTED, "ts_ms": t0})
    assert agenda.take_runs_to_check(t0 + FLOW_CHECK_AFTER_MS - 1) == []
    assert agenda.take_runs_to_check(t0 + FLOW_CHECK_AFTER_MS) == ["c1"]
    assert agenda.take_runs_to_check(t0 + 2 * FLOW_CHECK_AFTER_MS) == []  # once per run
    agenda.heard({"id": "c3", "state": contract.ACK_STARTED, "ts_ms": t0})
    agenda.heard({"id": "c3", "state": contract.ACK_COMPLETED, "ts_ms": t0 + 60_000})
    later = t0 + 3_600_000
    agenda.heard({"id": "c2", "state": contract.ACK_STARTED, "ts_ms": later})  # the next run, back to back
    assert agenda.take_runs_to_check(later + FLOW_CHECK_AFTER_MS) == ["c2"]  # c3 closed before its check


@pytest.mark.full
@pytest.mark.parametrize(("divisor", "flow_alerts"), [(1.0, set()), (20.0, {"irrigation-no-flow"})])
async def test_the_flow_rules_judge_the_demo_valves_while_they_run(tmp_path, divisor, flow_alerts):
    """The alert job runs into every valve run (alert_passes_during_runs > 0): the sound demo raises
    no flow alert, and sprinklers at 1/20 of their registered rate raise irrigation-no-flow (with
    the daily alert job alone, before the night's runs, they raised none). About a minute each:
    the full tier; the agenda's test above is the fast tier's."""
    extra = await _season(tmp_path, divisor)
    assert extra["alert_passes_during_runs"] > 0, extra
    assert set(extra["alerts_raised"]) & FLOW_ALERTS == flow_alerts, extra["alerts_raised"]
    if divisor == 1.0:  # watered as planned, neither zone is in drought (GB/T 32136-2015)
        assert "drought" not in extra["alerts_raised"], extra["alerts_raised"]
