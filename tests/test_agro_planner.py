"""The irrigation planner: each rule shows its decision and its recorded explanation."""

import json
from datetime import date, datetime, time, timedelta, timezone

import pytest

from furrow.cloud.agronomy.planner import (
    Action,
    Forecast,
    MissedRain,
    Override,
    OverrideKind,
    WeatherNow,
    ZoneState,
    plan_zone,
    schedule_groups,
)
from furrow.cloud.agronomy.zone import ZoneConfig
from furrow.edge.commands import make_command

TZ = timezone(timedelta(hours=2))
NIGHT = datetime(2026, 7, 10, 23, 0, tzinfo=TZ)
NOON = datetime(2026, 7, 10, 12, 0, tzinfo=TZ)


def zone(**irrigation: object) -> ZoneConfig:
    """TAW 90 mm (θFC 0.30, θWP 0.15, Zr 0.6 m), p 0.5 -> MAD 45 mm; 10 mm/h net."""
    return ZoneConfig.model_validate({
        "id": "zone-a",
        "site": {"latitude_deg": 45.0, "elevation_m": 100},
        "soil": {"theta_fc": 0.30, "theta_wp": 0.15},
        "crop": {"planting": date(2026, 5, 1), "l_ini": 20, "l_dev": 30, "l_mid": 40, "l_late": 20,
                 "kc_ini": 0.4, "kc_mid": 1.15, "kc_end": 0.6, "p": 0.5, "root_depth_m": 0.6},
        "irrigation": {"node": "irr-01", "valve": 3, "precipitation_rate_mm_h": 10.0, "max_runtime_s": 8 * 3600,
                       "hydraulic_group": "pump-1", **irrigation},
    })


def state(depletion: float, **kw: object) -> ZoneState:
    return ZoneState(depletion_mm=depletion, taw_mm=90.0, **kw)  # type: ignore[arg-type]


def test_below_mad_skips_and_says_why():
    """Depletion 30 mm under MAD 45 mm: skip, rule below-mad, no command."""
    d = plan_zone(zone(), state(30.0), None, None, NIGHT)
    assert d.action is Action.SKIP and d.rule == "below-mad" and d.runs == ()
    assert d.explanation == "depletion 30.0 mm is below MAD 45.0 mm (50% of TAW 90.0 mm)"
    assert d.inputs["mad_mm"] == 45.0 and d.inputs["forecast"] is None


def test_mad_reached_refills_and_converts_mm_to_valve_minutes():
    """Depletion 50 mm at night: irrigate 50 mm net, /0.8 efficiency = 62.5 mm gross, 6.25 h at 10 mm/h."""
    d = plan_zone(zone(efficiency=0.8, max_runtime_s=8 * 3600), state(50.0), None, None, NIGHT)
    assert d.action is Action.IRRIGATE and d.rule == "mad-reached"
    assert d.net_mm == 50.0 and d.gross_mm == 62.5
    assert d.runtime_s == 22500  # 62.5 mm / 10 mm/h = 6.25 h
    (run,) = d.runs
    assert run.node == "irr-01" and run.valve == 3 and run.duration == timedelta(seconds=22500)
    assert run.not_before == NIGHT
    assert "reached MAD 45.0 mm: refill 50.0 mm to 0.0 mm" in d.explanation


def test_refill_target_leaves_planned_depletion():
    """refill_fraction 0.1: refill to 9 mm depletion, so 50 - 9 = 41 mm net."""
    d = plan_zone(zone(refill_fraction=0.1), state(50.0), None, None, NIGHT)
    assert d.net_mm == 41.0 and d.runtime_s == 14760
    assert d.explanation == "depletion 50.0 mm reached MAD 45.0 mm: refill 41.0 mm to 9.0 mm"
    assert d.inputs["refill_to_mm"] == 9.0


def test_planned_runs_satisfy_the_contract():
    """A planned run builds a valid contract command (duration within max runtime), and its record
    keeps the fields of POST /api/v1/commands."""
    d = plan_zone(zone(), state(50.0), None, None, NIGHT)
    (run,) = d.runs
    cmd = run.to_record()
    nb = int(datetime.fromisoformat(str(cmd["not_before"])).timestamp() * 1000)
    make_command("c-1", cmd["node"], cmd["valve"], cmd["action"], cmd["duration_s"], cmd["max_runtime_s"], nb,
                 nb + int(cmd["ttl_s"]) * 1000)
    assert run.max_runtime >= run.duration and nb + int(cmd["ttl_s"]) * 1000 == run.expires.timestamp() * 1000
    assert d.to_record()["commands"] == [cmd]


def test_rain_since_balance_is_deducted():
    """12 mm of rain since the balance brings 50 mm down to 38 mm: below MAD, skip."""
    d = plan_zone(zone(), state(50.0), WeatherNow(rain_since_balance_mm=12.0), None, NIGHT)
    assert d.rule == "below-mad" and d.inputs["depletion_now_mm"] == 38.0
    assert d.inputs["rain_since_balance_mm"] == 12.0
    assert d.explanation == "depletion 38.0 mm is below MAD 45.0 mm (50% of TAW 90.0 mm)"


def test_irrigation_the_balance_does_not_count_yet_is_deducted():
    """A 48 mm run in flight on a zone at 50 mm: already-irrigating, skip; 20 mm leaves 30 mm to refill."""
    d = plan_zone(zone(), state(50.0, irrigation_since_balance_mm=48.0), None, None, NIGHT)
    assert (d.action, d.rule, d.runs) == (Action.SKIP, "already-irrigating", ())
    assert d.inputs["irrigation_since_balance_mm"] == 48.0 and d.inputs["depletion_now_mm"] == 2.0
    assert d.explanation == ("depletion 50.0 mm reached MAD 45.0 mm, but 48.0 mm of irrigation in flight or run "
                             "since the balance leaves 2.0 mm")
    part = plan_zone(zone(), state(80.0, irrigation_since_balance_mm=20.0), None, None, NIGHT)
    assert (part.rule, part.net_mm) == ("mad-reached", 60.0)
    assert "(20.0 mm of irrigation in flight or run since the balance deducted)" in part.explanation
    assert plan_zone(zone(), state(30.0, irrigation_since_balance_mm=5.0), None, None, NIGHT).rule == "below-mad"


def test_rain_forecast_covering_the_need_skips_when_the_zone_is_at_mad():
    """60 mm at 90% expected (54 mm) covers the 45 mm needed and the zone stands at MAD (45 mm): should the rain
    fail, it reaches the next chance to water no drier than MAD, so nothing is applied: skip, rule rain-forecast."""
    d = plan_zone(zone(), state(45.0), None, Forecast(rain_mm=60.0, probability=0.9, source="met-office"), NIGHT)
    assert d.action is Action.SKIP and d.rule == "rain-forecast" and d.runs == ()
    assert d.explanation.endswith("54.0 mm of rain expected within 24 h (met-office) covers the 45.0 mm needed")


def test_rain_forecast_covering_the_need_keeps_what_holds_the_zone_within_mad():
    """Depletion 50 mm, MAD 45 mm: 54 mm expected covers the 50 mm refill, but the forecast may fail, so the 5 mm
    that bring the zone back to MAD are applied (rule rain-forecast, irrigate 5 mm, not 50)."""
    d = plan_zone(zone(), state(50.0), None, Forecast(rain_mm=60.0, probability=0.9, source="met-office"), NIGHT)
    assert d.action is Action.IRRIGATE and d.rule == "rain-forecast" and d.net_mm == 5.0
    assert ("54.0 mm of rain expected within 24 h (met-office) covers the 50.0 mm needed; 5.0 mm is applied so that "
            "the zone reaches the next chance to water at 2026-07-11 22:00 within MAD if it does not fall"
            ) in d.explanation


def test_rain_forecast_floor_counts_the_crop_use_until_the_next_night_and_the_minimum_application():
    """Depletion 40.5 mm at 23:00 and ETc 5 mm/day (p stays 0.5: FAO-56 table 22's footnote adjusts it by
    0.04 (5 - ETc)): the crop uses 4.79 mm more by the next window (22:00 tomorrow, 23 h), so the zone would stand
    0.29 mm past MAD 45 mm there; the floor is that, raised to the 2 mm minimum application."""
    d = plan_zone(zone(), state(40.5, etc_mm_day=5.0, depletion_at=NIGHT), None, Forecast(rain_mm=80.0), NIGHT)
    assert d.inputs["depletion_now_mm"] == 45.29 and d.inputs["crop_use_ahead_mm"] == 4.79
    assert d.inputs["mad_mm"] == 45.0
    assert (d.action, d.rule, d.net_mm) == (Action.IRRIGATE, "rain-forecast", 2.0)


def test_rain_forecast_shrinks_the_amount():
    """20 mm at 50% (10 mm expected) leaves 40 mm to apply: adjustment shrunk-for-forecast."""
    d = plan_zone(zone(), state(50.0), None, Forecast(rain_mm=20.0, probability=0.5), NIGHT)
    assert d.action is Action.IRRIGATE and "shrunk-for-forecast" in d.adjustments
    assert d.net_mm == 40.0 and "10.0 mm expected rain deducted, 40.0 mm left" in d.explanation


def test_rain_forecast_shrinks_no_lower_than_the_zone_needs_to_stay_within_mad():
    """Depletion 50 mm, 48 mm expected: 2 mm would be left, but 5 mm are kept (the zone back to MAD 45 mm)."""
    d = plan_zone(zone(), state(50.0), None, Forecast(rain_mm=48.0), NIGHT)
    assert (d.rule, d.adjustments, d.net_mm) == ("mad-reached", ("shrunk-for-forecast",), 5.0)
    assert ("48.0 mm expected rain deducted, but 5.0 mm is kept so that the zone reaches the next chance to water "
            "at 2026-07-11 22:00 within MAD if it does not fall") in d.explanation


def test_a_forecast_rain_that_did_not_fall_is_named_in_the_next_decision():
    """Yesterday's plan counted on 54 mm of forecast rain and 0.4 mm fell: today's decision says so, whatever its
    rule, and records it in its inputs."""
    missed = MissedRain(expected_mm=54.0, fell_mm=0.4, since=NIGHT - timedelta(days=1), source="met-office")
    d = plan_zone(zone(), state(60.0, forecast_missed=missed), None, None, NIGHT)
    assert (d.action, d.rule, d.net_mm) == (Action.IRRIGATE, "mad-reached", 60.0)
    assert d.explanation.endswith("the 54.0 mm of rain the plan of 2026-07-09 23:00 expected (met-office) has not "
                                  "fallen: 0.4 mm measured since, and the balance counts only what fell")
    assert d.inputs["forecast_missed"] == {"expected_mm": 54.0, "fell_mm": 0.4, "since": "2026-07-09T23:00:00+02:00",
                                           "source": "met-office"}
    assert plan_zone(zone(), state(20.0, forecast_missed=missed), None, None, NIGHT).messages[-1].key == \
        "decision.forecast-missed"


def test_small_forecast_is_ignored_and_offline_has_no_forecast():
    """Expected rain under rain_skip_mm changes nothing; no forecast source is recorded as None."""
    d = plan_zone(zone(), state(50.0), None, Forecast(rain_mm=1.0), NIGHT)
    assert d.net_mm == 50.0 and d.adjustments == ()
    assert plan_zone(zone(), state(50.0), None, None, NIGHT).inputs["forecast"] is None


def test_budget_exhausted_skips():
    """The weekly budget is used up: skip, rule budget-exhausted."""
    d = plan_zone(zone(week_budget_mm=60.0), state(50.0, week_used_mm=60.0), None, None, NIGHT)
    assert d.action is Action.SKIP and d.rule == "budget-exhausted"
    assert d.explanation.startswith("the water budget is spent")


def test_budget_limits_the_amount():
    """30 mm left of the season budget cuts a 50 mm refill to 30 mm: adjustment budget-limited."""
    d = plan_zone(zone(season_budget_mm=400.0, week_budget_mm=100.0), state(50.0, season_used_mm=370.0),
                  None, None, NIGHT)
    assert d.action is Action.IRRIGATE and "budget-limited" in d.adjustments
    assert d.gross_mm == 30.0 and "cut to the 30.0 mm left in the budget" in d.explanation


def test_a_budget_with_room_is_named_in_the_explanation():
    """A 50 mm refill with 70 mm left of the week's budget goes ahead, the explanation saying so."""
    d = plan_zone(zone(week_budget_mm=100.0), state(50.0, week_used_mm=30.0), None, None, NIGHT)
    assert d.action is Action.IRRIGATE and d.net_mm == 50.0 and "budget-limited" not in d.adjustments
    assert "; within the budget (70.0 mm gross left)" in d.explanation


def test_below_minimum_application_skips():
    """When the budget leaves under the minimum application (3 mm gross, 3 mm net at efficiency 1), skip rather
    than a token run. A forecast never does: it keeps at least the minimum (the floor above)."""
    d = plan_zone(zone(min_application_mm=5.0, week_budget_mm=3.0, efficiency=1.0), state(50.0), None, None, NIGHT)
    assert d.action is Action.SKIP and d.rule == "below-minimum"
    assert d.explanation.startswith("3.0 mm is under the minimum application of 5.0 mm")
    kept = plan_zone(zone(min_application_mm=5.0), state(50.0), None, Forecast(rain_mm=47.0), NIGHT)
    assert (kept.action, kept.net_mm) == (Action.IRRIGATE, 5.0)


def test_valve_max_runtime_splits_the_run():
    """A 50 mm refill at 10 mm/h needs 5 h; the valve allows 2 h: three runs of 6000 s, 10 min apart,
    each under the valve's maximum, split-at-max-runtime explained."""
    d = plan_zone(zone(max_runtime_s=7200), state(50.0), None, None, NIGHT)
    assert d.runtime_s == 18000 and d.net_mm == 50.0 and "split-at-max-runtime" in d.adjustments
    assert [r.duration.total_seconds() for r in d.runs] == [6000, 6000, 6000]
    assert [r.not_before.isoformat() for r in d.runs] == ["2026-07-10T23:00:00+02:00", "2026-07-11T00:50:00+02:00",
                                                          "2026-07-11T02:40:00+02:00"]
    assert all(r.max_runtime <= timedelta(seconds=7200) for r in d.runs)
    assert "split into 3 runs of at most 7200 s (the valve maximum), 10 min apart" in d.explanation


def test_valve_max_runtime_caps_beyond_max_runs():
    """With at most 2 runs of 2 h allowed, the 5 h refill is cut to 4 h (40 mm), capped-at-max-runtime."""
    d = plan_zone(zone(max_runtime_s=7200, max_runs=2), state(50.0), None, None, NIGHT)
    assert d.runtime_s == 14400 and d.net_mm == 40.0 and "capped-at-max-runtime" in d.adjustments
    assert [r.duration.total_seconds() for r in d.runs] == [7200, 7200]
    assert "capped at 2 run(s) of the valve maximum 7200 s (40.0 mm net)" in d.explanation


def test_outside_night_window_defers_to_window_start():
    """At noon the irrigation waits for the 22:00 window: not_before 22:00, deferred-to-window."""
    d = plan_zone(zone(), state(50.0), None, None, NOON)
    assert d.action is Action.IRRIGATE and "deferred-to-window" in d.adjustments
    assert d.not_before == datetime(2026, 7, 10, 22, 0, tzinfo=TZ)
    assert d.runs[0].not_before.isoformat() == "2026-07-10T22:00:00+02:00"
    assert d.runs[0].expires - d.runs[0].not_before == timedelta(hours=8)  # until the window closes at 06:00
    assert "deferred to the night window at 2026-07-10 22:00" in d.explanation


def test_urgent_depletion_waters_outside_the_window():
    """Depletion 85 mm ≥ 90% of TAW: water now at noon, urgent-outside-window."""
    d = plan_zone(zone(), state(85.0), None, None, NOON)
    assert d.not_before == NOON and "urgent-outside-window" in d.adjustments
    assert "urgent (94% of TAW): not waiting for the night window" in d.explanation


def test_hydraulic_group_busy_defers():
    """Another zone of pump-1 runs until 23:40: this one starts then, group-busy."""
    busy = datetime(2026, 7, 10, 23, 40, tzinfo=TZ)
    d = plan_zone(zone(), state(50.0, group_busy_until=busy), None, None, NIGHT)
    assert d.not_before == busy and "group-busy" in d.adjustments
    assert "group pump-1 busy until 23:40" in d.explanation


def test_schedule_groups_runs_one_zone_at_a_time_driest_first():
    """Two zones of one pump both due at 23:00: the drier runs first, the other after it (group-sequenced)."""
    a = plan_zone(zone(), state(50.0), None, None, NIGHT)
    b = plan_zone(zone(), state(80.0), None, None, NIGHT)
    first, second = schedule_groups([a, b])
    assert second.not_before == NIGHT and "group-sequenced" not in second.adjustments
    assert first.not_before == NIGHT + timedelta(seconds=second.runtime_s + 60)
    assert "group-sequenced" in first.adjustments
    assert first.runs[0].not_before == first.not_before
    assert first.explanation.endswith(f"after the zone before it in group pump-1, at {first.not_before:%H:%M}")


def test_schedule_groups_waits_for_every_split_run():
    """A zone split into runs keeps the pump until its last run ends; the next zone's runs all shift."""
    a = plan_zone(zone(max_runtime_s=7200), state(80.0), None, None, NIGHT)  # 4 runs: capped at 3 x 7200 s
    b = plan_zone(zone(max_runtime_s=7200), state(50.0), None, None, NIGHT)  # 3 runs of 6000 s
    first, second = schedule_groups([a, b])
    last_end = first.runs[-1].not_before + timedelta(seconds=7200)
    assert second.not_before == last_end + timedelta(seconds=60)
    starts = [r.not_before for r in second.runs]
    assert starts[0] == second.not_before and starts[1] - starts[0] == timedelta(seconds=6000 + 600)


def test_override_hold_issues_nothing():
    """Hold: nothing is issued even when the zone is dry, rule override-hold."""
    o = Override(OverrideKind.HOLD, by="ana")
    d = plan_zone(zone(), state(85.0, override=o), None, None, NIGHT)
    assert d.action is Action.HOLD and d.rule == "override-hold" and d.runs == ()
    assert d.explanation == "held by ana: nothing is issued" and d.inputs["override"]["by"] == "ana"


def test_override_skip_until_then_expires():
    """Skip until 08:00 skips at 23:00; after 08:00 the rules apply again."""
    o = Override(OverrideKind.SKIP, until=datetime(2026, 7, 11, 8, 0, tzinfo=TZ), by="ana")
    d = plan_zone(zone(), state(50.0, override=o), None, None, NIGHT)
    assert d.rule == "override-skip" and d.explanation == "skipped by ana until 2026-07-11 08:00"
    later = plan_zone(zone(), state(50.0, override=o), None, None, datetime(2026, 7, 12, 23, 0, tzinfo=TZ))
    assert later.rule == "mad-reached"


def test_override_water_now_ignores_mad_window_and_forecast():
    """Water now 15 mm at noon with rain forecast and depletion under MAD: irrigate 15 mm now."""
    o = Override(OverrideKind.WATER_NOW, amount_mm=15.0, by="ana")
    d = plan_zone(zone(), state(10.0, override=o), None, Forecast(rain_mm=30.0), NOON)
    assert d.action is Action.IRRIGATE and d.rule == "override-water-now"
    assert d.net_mm == 15.0 and d.not_before == NOON and d.runtime_s == 5400
    assert d.explanation.startswith("water now asked by ana: 15.0 mm net")


def test_now_must_be_aware():
    """A naive `now` is refused: windows are local times."""
    with pytest.raises(ValueError):
        plan_zone(zone(), state(50.0), None, None, datetime(2026, 7, 10, 23, 0))


def test_window_wrapping_midnight():
    """The 22:00-06:00 window contains 23:00 and 05:59 but not 06:00 or 12:00."""
    from furrow.cloud.agronomy.planner import in_window

    start, end = time(22, 0), time(6, 0)
    assert in_window(time(23), start, end) and in_window(time(5, 59), start, end)
    assert not in_window(time(6), start, end) and not in_window(time(12), start, end)


def test_decision_record_is_json_ready():
    """to_record() gives plain JSON data with the rule, the explanation, the inputs and the commands."""
    d = plan_zone(zone(), state(50.0), None, Forecast(rain_mm=20.0, probability=0.5), NOON)
    record = json.loads(json.dumps(d.to_record()))
    assert record["rule"] == "mad-reached" and record["action"] == "irrigate"
    assert record["adjustments"] == ["shrunk-for-forecast", "deferred-to-window"]
    assert record["inputs"]["forecast"]["rain_mm"] == 20.0
    assert record["commands"][0]["duration_s"] == d.runtime_s
