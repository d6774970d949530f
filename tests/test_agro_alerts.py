"""Alert rules: each condition raises one alert with a severity, de-duplicated against the previous list."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from furrow.cloud.agronomy.alerts import (
    AlertKind,
    DroughtGrade,
    FarmState,
    NodeSnapshot,
    RiskSnapshot,
    SensorFault,
    Severity,
    SiteWeather,
    ValveSnapshot,
    ZoneSnapshot,
    acknowledge,
    drought_grade,
    evaluate_alerts,
    soil_relative_humidity,
)

NOW = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)


def kinds(alerts):
    return {(a.kind, a.subject): a.severity for a in alerts}


def test_every_rule_fires_with_its_severity():
    """One snapshot with every problem gives one alert per (kind, subject) at the right severity."""
    state = FarmState(
        now=NOW,
        zones=[ZoneSnapshot("dry", depletion_mm=85, taw_mm=90, raw_mm=45),
               ZoneSnapshot("wet", depletion_mm=0, taw_mm=90, raw_mm=45, excess_mm=8,
                            budget_used_fraction=0.95, soil_relative_humidity_pct=45.0)],
        weather=[SiteWeather("farm", tmin_forecast_c=-3, tmax_forecast_c=36)],
        nodes=[NodeSnapshot("soil-1", last_seen=NOW - timedelta(hours=1), battery_v=3.4,
                            faults=(SensorFault("vwc_pct@30", "disconnected"),)),
               NodeSnapshot("soil-2", last_seen=None)],
        valves=[ValveSnapshot("irr-01", 1, open=True, flow_l_min=0.0, expected_flow_l_min=40),
                ValveSnapshot("irr-01", 2, open=False, flow_l_min=12.0, expected_flow_l_min=40)],
        pests=[RiskSnapshot("codling moth", value=14, threshold=10)],
        diseases=[RiskSnapshot("scab / block 2", value=2.5, threshold=1.0)],
    )
    assert kinds(evaluate_alerts(state)) == {
        (AlertKind.DRY, "dry"): Severity.CRITICAL,
        (AlertKind.WATERLOGGED, "wet"): Severity.WARNING,
        (AlertKind.BUDGET, "wet"): Severity.WARNING,
        (AlertKind.DROUGHT, "wet"): Severity.WARNING,
        (AlertKind.FROST, "farm"): Severity.CRITICAL,
        (AlertKind.HEAT, "farm"): Severity.WARNING,
        (AlertKind.NODE_OFFLINE, "soil-1"): Severity.WARNING,
        (AlertKind.NODE_OFFLINE, "soil-2"): Severity.CRITICAL,
        (AlertKind.BATTERY_LOW, "soil-1"): Severity.WARNING,
        (AlertKind.SENSOR_FAULT, "soil-1/vwc_pct@30"): Severity.WARNING,
        (AlertKind.NO_FLOW, "irr-01/valve 1"): Severity.CRITICAL,
        (AlertKind.FLOW_WHEN_CLOSED, "irr-01/valve 2"): Severity.CRITICAL,
        (AlertKind.PEST, "codling moth"): Severity.WARNING,
        (AlertKind.DISEASE, "scab / block 2"): Severity.CRITICAL,
    }


def test_healthy_farm_has_no_alerts():
    """Moist soil, mild weather, fresh nodes, flowing valves: nothing."""
    state = FarmState(now=NOW, zones=[ZoneSnapshot("z", depletion_mm=20, taw_mm=90, raw_mm=45)],
                      weather=[SiteWeather("farm", tmin_forecast_c=12, tmax_forecast_c=28)],
                      nodes=[NodeSnapshot("n", last_seen=NOW - timedelta(minutes=5), battery_v=3.9)],
                      valves=[ValveSnapshot("irr-01", 1, open=True, flow_l_min=39, expected_flow_l_min=40)])
    assert evaluate_alerts(state) == []


def test_repeated_alert_is_not_new_and_keeps_since_and_acknowledgement():
    """The same dry zone an hour later: one alert, not new, same `since`, still acknowledged."""
    dry = ZoneSnapshot("z", depletion_mm=60, taw_mm=90, raw_mm=45)
    first = evaluate_alerts(FarmState(now=NOW, zones=[dry]))
    assert first[0].new and first[0].severity is Severity.WARNING
    acked = acknowledge(first, AlertKind.DRY, "z", by="ana")
    later = evaluate_alerts(FarmState(now=NOW + timedelta(hours=1), zones=[dry]), acked)
    assert len(later) == 1 and not later[0].new
    assert later[0].since == NOW and later[0].acknowledged_by == "ana"


def test_escalation_is_new_again_and_needs_a_fresh_acknowledgement():
    """Warning to critical: new again, acknowledgement cleared, `since` kept."""
    first = acknowledge(evaluate_alerts(FarmState(now=NOW, zones=[ZoneSnapshot("z", 60, 90, 45)])),
                        AlertKind.DRY, "z", by="ana")
    worse = evaluate_alerts(FarmState(now=NOW + timedelta(hours=5), zones=[ZoneSnapshot("z", 85, 90, 45)]), first)
    assert worse[0].severity is Severity.CRITICAL and worse[0].new and worse[0].acknowledged_by is None
    assert worse[0].since == NOW


def test_resolved_condition_drops_the_alert():
    """After irrigation the dry alert is gone from the list (resolved)."""
    first = evaluate_alerts(FarmState(now=NOW, zones=[ZoneSnapshot("z", 60, 90, 45)]))
    assert evaluate_alerts(FarmState(now=NOW, zones=[ZoneSnapshot("z", 5, 90, 45)]), first) == []


def test_alerts_sorted_by_severity_and_carry_evidence():
    """Critical first; each alert carries the numbers it was raised on."""
    out = evaluate_alerts(FarmState(now=NOW, zones=[ZoneSnapshot("a", 60, 90, 45), ZoneSnapshot("b", 88, 90, 45)]))
    assert [a.subject for a in out] == ["b", "a"]
    assert out[0].evidence == {"depletion_mm": 88, "raw_mm": 45, "taw_mm": 90}
    assert replace(out[0], new=False).key == (AlertKind.DRY, "b")


def test_every_alert_names_its_node_and_gives_its_numbers_units():
    """A node's or valve's alert says which node, a stuck sensor says its value with its unit, a flow
    its expected L/min, a trap its catches per trap per week, a dry zone TAW in mm: every number
    read on its own is a quantity."""
    state = FarmState(
        now=NOW,
        zones=[ZoneSnapshot("z1", depletion_mm=60, taw_mm=90, raw_mm=45)],
        nodes=[NodeSnapshot("soil-1", last_seen=NOW - timedelta(hours=2), report_interval_s=600, battery_v=3.4,
                            faults=(SensorFault("vwc_pct@30", "disconnected"),
                                    SensorFault("pressure_kpa", "stuck", 101.3, "kPa"))),
               NodeSnapshot("soil-2", last_seen=None)],
        valves=[ValveSnapshot("irr-01", 1, open=True, flow_l_min=20.0, expected_flow_l_min=20000),
                ValveSnapshot("irr-01", 2, open=False, flow_l_min=12.0, expected_flow_l_min=40)],
        pests=[RiskSnapshot("pest-01", value=14, threshold=10)])
    text = {(a.kind, a.subject): a.message for a in evaluate_alerts(state)}
    assert text[(AlertKind.NODE_OFFLINE, "soil-1")] == "soil-1 silent for 2.0 h"
    assert text[(AlertKind.NODE_OFFLINE, "soil-2")] == "soil-2 never heard"
    assert text[(AlertKind.BATTERY_LOW, "soil-1")] == "soil-1 battery 3.40 V"
    assert text[(AlertKind.SENSOR_FAULT, "soil-1/vwc_pct@30")] == "soil-1 sensor vwc_pct@30 reports disconnected"
    assert text[(AlertKind.SENSOR_FAULT, "soil-1/pressure_kpa")].startswith("soil-1 sensor pressure_kpa has read "
                                                                            "101.3 kPa for longer")
    assert text[(AlertKind.NO_FLOW, "irr-01/valve 1")] == ("irr-01 valve 1 open but flow 20.0 L/min "
                                                          "(expected 20000 L/min)")
    assert text[(AlertKind.FLOW_WHEN_CLOSED, "irr-01/valve 2")] == "irr-01 valve 2 closed but 12.0 L/min flowing"
    assert text[(AlertKind.PEST, "pest-01")] == "pest-01: 14.0 catches per trap per week ≥ threshold 10"
    assert "(TAW 90 mm)" in text[(AlertKind.DRY, "z1")]


def test_readings_a_gateway_did_not_forward_raise_an_alert_louder_as_they_grow():
    """Readings reported not forwarded in a day raise readings-dropped for the node, with each reason's count;
    past a thousand the alert is critical (escalated, so new again); none, no alert."""
    def alert(dropped):
        state = FarmState(now=NOW, nodes=[NodeSnapshot("soil-1", last_seen=NOW, dropped=dropped)])
        return [a for a in evaluate_alerts(state) if a.kind is AlertKind.READINGS_DROPPED]

    (few,) = alert({"flood": 5, "quarantine": 1})
    assert (few.subject, few.severity, few.evidence) == ("soil-1", Severity.WARNING, {"flood": 5, "quarantine": 1})
    assert few.message == "soil-1: 6 readings not stored in 24 h (buffer full 0, over budget 5, quarantined 1)"
    (many,) = alert({"quota": 1200})
    assert many.severity is Severity.CRITICAL
    assert alert({}) == []


@pytest.mark.parametrize(("layers", "expected_r", "grade"), [
    ((30.0, 28.0, 29.0), 93.5, DroughtGrade.NONE),     # irrigated, near field capacity
    ((18.6,), 60.0, DroughtGrade.LIGHT),                # R = 60 exactly: 轻旱 (50 < R <= 60)
    ((18.9, 18.3), 60.0, DroughtGrade.LIGHT),
    ((15.6, 15.4), 50.0, DroughtGrade.MODERATE),       # R = 50: 中旱 (40 < R <= 50)
    ((12.4,), 40.0, DroughtGrade.SEVERE),               # R = 40: 重旱 (30 < R <= 40)
    ((9.3,), 30.0, DroughtGrade.EXTREME),               # R = 30: 特旱 (R <= 30)
    ((18.7,), 60.3, DroughtGrade.NONE),                 # just over 60: 无旱
])
def test_soil_relative_humidity_and_its_grade_follow_gb_t_32136_table_2(layers, expected_r, grade):
    """R is the mean of each layer's content as % of field capacity (31 %), and each grade's upper
    bound belongs to it, exactly as GB/T 32136-2015 table 2 draws them (worked from the table)."""
    r = soil_relative_humidity(layers, 31.0)
    assert r == pytest.approx(expected_r, abs=0.05)
    assert drought_grade(round(r, 6)) is grade


def test_bad_drought_inputs_name_the_field():
    """No layer or a field capacity of 0 is a clear error naming the field, not a division by zero."""
    with pytest.raises(ValueError, match="vwc_pct"):
        soil_relative_humidity([], 31.0)
    with pytest.raises(ValueError, match="field_capacity_pct: 0"):
        soil_relative_humidity([20.0], 0)


def test_an_irrigated_wet_zone_has_no_drought_and_a_dry_rainfed_one_does_by_grade():
    """Drought follows the soil, not the rain: a zone irrigation holds at 95 % of field capacity
    raises nothing however long it has not rained; a rain-fed zone's grade gives the severity (轻旱
    info, 中旱 warning, 重旱 and 特旱 critical), naming R and the standard; no probe, no drought."""
    def drought(r_pct):
        state = FarmState(now=NOW, zones=[ZoneSnapshot("z", depletion_mm=0, taw_mm=90, raw_mm=45,
                                                       soil_relative_humidity_pct=r_pct)])
        return [a for a in evaluate_alerts(state) if a.kind is AlertKind.DROUGHT]

    assert drought(95.0) == [] and drought(None) == []
    assert [a.severity for r in (55.0, 45.0, 35.0, 25.0) for a in drought(r)] == [
        Severity.INFO, Severity.WARNING, Severity.CRITICAL, Severity.CRITICAL]
    (a,) = drought(45.0)
    assert a.message == ("moderate drought (GB/T 32136-2015): soil relative humidity 45% of field capacity "
                         "in the root zone")
    assert (a.i18n.key, a.i18n.params["grade"].key) == ("alert.drought", "drought-grade.moderate")
    assert a.evidence == {"r_pct": 45.0, "grade": "moderate", "source": "GB/T 32136-2015, 5.2 table 2"}


def test_photos_a_gateway_dropped_raise_their_own_alert_not_a_readings_one():
    """A camera's photos the gateway's image store dropped (image_quota gaps) are said as photos, in their own alert;
    they count in no readings-dropped alert."""
    state = FarmState(now=NOW, nodes=[NodeSnapshot("cam-1", last_seen=NOW, dropped={"image_quota": 3})])
    alerts = list(evaluate_alerts(state))
    assert [a.kind for a in alerts] == [AlertKind.IMAGES_DROPPED]
    assert alerts[0].message == "cam-1: 3 photos dropped by the gateway in 24 h (its image store was full)"
    assert alerts[0].evidence == {"image_quota": 3} and alerts[0].severity is Severity.WARNING
