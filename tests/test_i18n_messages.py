"""Alert and decision texts as message keys and values: the rules give each text its key and
values beside its English, storage and the API carry them, a person's dashboard language is
kept with her, and the dashboard's catalogues hold every key the server can send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from furrow.cloud import commissioning
from furrow.cloud.agronomy import alerts as alert_rules
from furrow.cloud.agronomy import fertility_plan, planner
from furrow.cloud.agronomy.alerts import (
    FarmState,
    NodeSnapshot,
    RiskSnapshot,
    SensorFault,
    SiteWeather,
    ValveSnapshot,
    ZoneSnapshot,
    evaluate_alerts,
)
from furrow.cloud.agronomy.messages import Message, placeholders
from furrow.cloud.dashboard import CATALOGUES, locales
from furrow.cloud.db import AlertRow
from tests.cloud_support import local_settings, problem, running_app
from tests.test_agro_planner import NOON, zone
from tests.test_cloud_planning import _farm

NOW = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)
SERVER_TEXTS = {**alert_rules.TEXT.templates, **planner.TEXT.templates, **commissioning.TEXT.templates,
                **fertility_plan.TEXT.templates}


def catalogue(locale: str) -> dict[str, str]:
    return json.loads((CATALOGUES / f"{locale}.json").read_text(encoding="utf-8"))


def every_alert() -> list:
    trend = alert_rules.TEXT("alert.trap-detail", catch=14.0, trend="rising", slope=2.0)
    return evaluate_alerts(FarmState(
        now=NOW,
        zones=[ZoneSnapshot("dry", depletion_mm=85.4, taw_mm=90, raw_mm=45),
               ZoneSnapshot("wet", depletion_mm=0, taw_mm=90, raw_mm=45, excess_mm=8, budget_used_fraction=0.956,
                            soil_relative_humidity_pct=45.0)],
        weather=[SiteWeather("farm", tmin_forecast_c=-3, tmax_forecast_c=36)],
        nodes=[NodeSnapshot("soil-1", last_seen=NOW - timedelta(hours=1), battery_v=3.4,
                            faults=(SensorFault("vwc_pct@30", "disconnected"),)),
               NodeSnapshot("soil-2", last_seen=None)],
        valves=[ValveSnapshot("irr-01", 1, open=True, flow_l_min=0.0, expected_flow_l_min=40),
                ValveSnapshot("irr-01", 2, open=False, flow_l_min=12.0, expected_flow_l_min=40)],
        pests=[RiskSnapshot("pest-01", value=14, threshold=10, detail=trend)],
        diseases=[RiskSnapshot("z1/scab", value=2.5, threshold=1.0)]))


def test_every_alert_carries_its_key_and_values_and_its_english_is_built_from_them():
    """Each alert of a snapshot where every rule fires has a message key with a template, values
    that are plain JSON, and the English `message` is that template filled with them."""
    alerts = every_alert()
    assert len(alerts) == 14  # one per rule and subject
    for a in alerts:
        assert a.i18n is not None and a.i18n.key in alert_rules.TEXT.templates, a
        assert a.message == a.i18n.text
        json.dumps(a.i18n.record())
    by_kind = {str(a.kind): a.i18n.record() for a in alerts}
    assert by_kind["soil-dry"] == {"key": "alert.soil-dry", "params": {"depletion_mm": 85, "raw_mm": 45,
                                                                        "taw_mm": 90}}
    assert by_kind["pest-threshold"]["params"]["detail"] == {
        "key": "alert.trap-detail", "params": {"catch": 14.0, "trend": "rising", "slope": 2.0}}
    assert by_kind["budget-nearly-spent"]["params"] == {"used_pct": 96}


def test_a_decision_explains_itself_in_messages_whose_english_is_its_explanation():
    """A refill split into runs and deferred to the night window gives the rule's message then
    one per adjustment; their English joined is the explanation, and a datetime value is ISO 8601."""
    d = planner.plan_zone(zone(max_runtime_s=3 * 3600), planner.ZoneState(depletion_mm=80, taw_mm=90), None, None, NOON)
    assert [m.key for m in d.messages] == ["decision.mad-reached", "decision.split-at-max-runtime",
                                           "decision.deferred-to-window"]
    assert d.explanation == "; ".join(m.text for m in d.messages)
    record = d.to_record()["messages"]
    assert record[2]["params"]["at"] == d.not_before.isoformat()
    json.dumps(record)


def test_an_override_by_nobody_named_says_an_agronomist_as_a_message_of_its_own():
    """A hold without a person's name nests the "an agronomist" message, so it is translated too."""
    state = planner.ZoneState(depletion_mm=10, taw_mm=90, override=planner.Override(planner.OverrideKind.HOLD))
    d = planner.plan_zone(zone(), state, None, None, NOON)
    assert d.explanation == "held by an agronomist: nothing is issued"
    assert d.to_record()["messages"] == [{"key": "decision.override-hold",
                                          "params": {"by": {"key": "decision.an-agronomist", "params": {}}}}]


def test_every_key_the_server_sends_is_in_every_catalogue_with_the_same_values():
    """Each alert, decision, checklist, calibration and fertility key has a text in every language the dashboard
    speaks, using exactly the values the server sends (a translation cannot ask for a value that never comes)."""
    assert locales() == ["en", "zh-CN"]
    for locale in locales():
        texts = catalogue(locale)
        for key, template in SERVER_TEXTS.items():
            assert key in texts, (locale, key)
            assert placeholders(texts[key]) == placeholders(template), (locale, key, texts[key])


def test_the_message_helper_renders_nested_messages_and_keeps_them_as_records():
    """A Message value renders into the English text and stays {key, params} in the record."""
    inner = Message("x.inner", {}, "inner words")
    m = alert_rules.TEXT("alert.threshold-detail", value=2.0, threshold=1.0, detail=inner)
    assert m.text == "risk index 2.0 ≥ threshold 1: inner words"
    assert m.record() == {"key": "alert.threshold-detail",
                          "params": {"value": 2.0, "threshold": 1.0, "detail": {"key": "x.inner", "params": {}}}}


async def test_alerts_and_decisions_carry_keys_through_storage_and_the_api(tmp_path):
    """A node never heard is an alert whose API record has its key; a plan's decision lists its
    messages, in the API and on the event bus; an alert stored before keys keeps its text, key null."""
    async with running_app(local_settings(tmp_path, alerts_interval_s=3600.0)) as c:
        await _farm(c, vwc=20.0)  # soil-01 dry enough to irrigate; wx-01 never heard
        assert (await c.post("/api/v1/alerts/evaluate")).status_code == 200
        silent = [a for a in (await c.get("/api/v1/alerts")).json() if a["subject"] == "wx-01"]
        assert [(a["message"], a["message_key"], a["message_params"]) for a in silent] == [
            ("wx-01 never heard", "alert.node-never-heard", {"node": "wx-01"})]

        def old_row(session):
            session.add(AlertRow(kind="frost", subject="s1", site="s1", zone=None, severity=2,
                                 message="minimum 0.5 °C expected", evidence={}, first_ms=1, last_ms=1))

        await c.app.state.services.db.run(old_row)
        old = [a for a in (await c.get("/api/v1/alerts")).json() if a["kind"] == "frost"]
        assert [(a["message"], a["message_key"], a["message_params"]) for a in old] == [
            ("minimum 0.5 °C expected", None, None)]

        async with c.app.state.services.events.subscribe() as sub:
            r = await c.post("/api/v1/zones/z1/plan")
            assert r.status_code == 200, r.text
            events = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        d = r.json()
        assert d["messages"] and d["explanation"] == "; ".join(_english(m) for m in d["messages"])
        [stored] = (await c.get("/api/v1/zones/z1/decisions")).json()
        assert stored["messages"] == d["messages"]
        assert [e.data["messages"] for e in events if e.kind == "decision"] == [d["messages"]]


def _english(record: dict) -> str:
    """A message record rendered with the server's English template (nested ones first)."""
    params = {k: _english(v) if isinstance(v, dict) and "key" in v else v for k, v in record["params"].items()}
    if "at" in params or "until" in params:
        params = {k: datetime.fromisoformat(v) if k in ("at", "until") else v for k, v in params.items()}
    return SERVER_TEXTS[record["key"]].format(**params)


async def test_a_person_keeps_her_dashboard_language_and_a_bad_one_is_refused(tmp_path):
    """PUT /auth/me/locale stores the language with the user: /auth/me gives it with any of her
    tokens; a language the dashboard does not speak is a 422 naming `locale`; null forgets it."""
    async with running_app(local_settings(tmp_path)) as c:
        issued = [(await c.post("/api/v1/auth/tokens", json={"user": "li", "role": "agronomist"})).json()["token"]
                  for _ in range(2)]
        first, second = ({"Authorization": f"Bearer {t}"} for t in issued)
        assert (await c.get("/api/v1/auth/me", headers=first)).json()["locale"] is None
        r = await c.put("/api/v1/auth/me/locale", json={"locale": "zh-CN"}, headers=first)
        assert r.status_code == 200 and r.json()["locale"] == "zh-CN", r.text
        assert (await c.get("/api/v1/auth/me", headers=second)).json()["locale"] == "zh-CN"
        bad = await c.put("/api/v1/auth/me/locale", json={"locale": "fr"}, headers=first)
        assert bad.status_code == 422 and problem(bad)["field"] == "locale", bad.text
        assert (await c.put("/api/v1/auth/me/locale", json={"locale": None}, headers=second)).status_code == 200
        assert (await c.get("/api/v1/auth/me", headers=first)).json()["locale"] is None
