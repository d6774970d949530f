"""Pest phenology: the species table's sources, the biofix from trap checks, degree days by the
species' method, and stage dates against worked examples from the sources."""

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from furrow.cloud.agronomy.crop import GddMethod, gdd_modified_average
from furrow.cloud.agronomy.pests import insect_development
from furrow.cloud.agronomy.phenology import (
    Basis,
    DayDd,
    degree_days,
    first_sustained_catch,
    stage_calendar,
    with_recent_weather,
)
from furrow.cloud.agronomy.species import F_DD, SHIPPED, Species, f_to_c, shipped

ECB = shipped("ostrinia-nubilalis")
CEW = shipped("helicoverpa-zea")


def constant_weather(start: date, days: int, tmin_f: float, tmax_f: float) -> list:
    return [(start + timedelta(days=k), f_to_c(tmin_f), f_to_c(tmax_f), Basis.OBSERVED) for k in range(days)]


def test_every_shipped_group_names_its_source():
    """No shipped value without a source: every group of every species carries a citation."""
    for sp in SHIPPED:
        for group in ("thresholds", "development", "biofix", "actions", "window", "card", "generations"):
            g = getattr(sp, group)
            for one in g if isinstance(g, list) else [g]:
                assert one is None or len(one.source) > 20, (sp.key, group)


def test_a_species_says_which_groups_it_lacks_and_reads_back():
    """Groups no source gave are listed in `incomplete` (the API returns it); a species read back with it
    validates again, so the agronomist can fill in the gaps by editing what the API gave her."""
    acb = shipped("ostrinia-furnacalis")
    assert acb.incomplete == ["thresholds", "development", "actions", "window", "card"]
    assert shipped("helicoverpa-armigera").incomplete == ["window", "generations"]
    assert Species.model_validate(acb.model_dump(mode="json")) == acb


def test_armigera_egg_to_adult_at_25_c_by_the_sources_thermal_constants():
    """Jung et al. (2023): eggs, larvae and pupae take 43 + 287 + 191 = 521 °C·d above 10.7 °C; at a constant
    25 °C that is 521 / 14.3 = 36.4 days, so the next flight comes on the 37th day from the biofix."""
    sp = shipped("helicoverpa-armigera")
    biofix = date(2026, 6, 1)
    series = degree_days([(biofix + timedelta(days=k), 25.0, 25.0, Basis.OBSERVED) for k in range(60)],
                         sp.thresholds.lower_c, sp.thresholds.upper_c, GddMethod.SINE)
    cal = {s.name: s.day for s in stage_calendar(series, [(s.name, s.dd) for s in sp.development.stages], None)}
    assert cal["egg hatch"] == biofix + timedelta(days=4 - 1)  # 43 / 14.3 = 3.007 days: on the 4th
    assert cal["next flight"] == biofix + timedelta(days=37 - 1)


def test_fall_armyworm_duration_model_of_he_et_al():
    """He et al. (2019) predict a stage's duration as K / (T - C): egg to adult, 390.55 °C·d above 11.34 °C,
    takes 390.55 / (25 - 11.34) = 28.6 days at 25 °C and 390.55 / (20 - 11.34) = 45.1 days at 20 °C; the
    calendar from the shipped table reaches the next flight on the 29th and the 46th day."""
    sp = shipped("spodoptera-frugiperda")
    biofix = date(2026, 7, 1)
    for temp, day in ((25.0, 29), (20.0, 46)):
        series = degree_days([(biofix + timedelta(days=k), temp, temp, Basis.OBSERVED) for k in range(80)],
                             sp.thresholds.lower_c, sp.thresholds.upper_c, GddMethod.SINE)
        cal = {s.name: s.day for s in stage_calendar(series, [(s.name, s.dd) for s in sp.development.stages], None)}
        assert cal["next flight"] == biofix + timedelta(days=day - 1), temp


def test_a_value_without_its_source_is_refused():
    """A threshold given without a source is a validation error naming the field."""
    with pytest.raises(ValidationError, match="thresholds.source"):
        Species.model_validate({"key": "x-y", "name": "X y", "thresholds": {"lower_c": 10}})


def test_a_window_must_name_stages_of_the_table():
    """An action window between stages the species does not have is refused, naming them."""
    body = ECB.model_dump()
    body["window"]["end"] = "pupation"
    with pytest.raises(ValidationError, match="'pupation' is not one of development.stages"):
        Species.model_validate(body)


def test_a_crop_has_one_action_threshold_and_one_at_most_names_none():
    """Two thresholds for one crop, or two naming no crop, leave the zone's pick ambiguous: refused, naming it."""
    body = ECB.model_dump()
    body["actions"][1]["crops"] = ["Sweet Corn", "potato"]
    with pytest.raises(ValidationError, match="crop 'potato' is in action thresholds 0 and 1"):
        Species.model_validate(body)
    body = ECB.model_dump()
    for a in body["actions"]:
        a["crops"] = None
    with pytest.raises(ValidationError, match="at most one action threshold names no crop"):
        Species.model_validate(body)


def test_an_entry_with_the_one_threshold_action_of_before_is_read():
    """An agronomist's entry written as a single `action` (before several) reads as a one-item `actions`;
    one giving both is refused, saying which to keep."""
    old = {"key": "agrotis-ipsilon", "name": "Agrotis ipsilon",
           "action": {"catch": 10, "per": "week", "source": "the farm's agronomist, 2025 notes"}}
    sp = Species.model_validate(old)
    assert [(a.catch, a.per) for a in sp.actions] == [(10, "week")]
    assert "action" not in sp.model_dump() and sp.model_dump()["actions"][0]["catch"] == 10
    with pytest.raises(ValidationError, match="give the action thresholds once, as `actions`"):
        Species.model_validate({**old, "actions": [old["action"]]})


def test_the_threshold_for_a_crop_is_the_one_set_for_it_else_a_general_one():
    """With a threshold set for potato and one naming no crop, a potato zone gets its own (True), a maize zone
    the general one (None: its source names no crop, so it is no other crop's)."""
    general = ECB.actions[1].model_copy(update={"crops": None})
    sp = ECB.model_copy(update={"actions": [ECB.actions[0], general]})
    assert sp.action_for("potato") == (ECB.actions[0], True)
    assert sp.action_for("maize") == (general, None)
    assert ECB.action_for(None)[1] is False and shipped("ostrinia-furnacalis").action_for("maize") is None


def test_modified_degree_days_worked_example_iowa_state():
    """Iowa State ICM (1999): days of 85 °F and nights of 60 °F give the European corn borer 22.5 °F·d a day."""
    assert gdd_modified_average(f_to_c(60), f_to_c(85), f_to_c(50), f_to_c(86)) == pytest.approx(22.5 * F_DD)


def test_ecb_hatch_to_tunnelling_takes_ten_days_at_85_60_f():
    """Iowa State ICM (1999): at 85/60 °F a day, about 10 days pass from egg hatch to the stalk-tunnelling
    third instar (225 °F·d); the calendar from the shipped table gives exactly 10."""
    t = ECB.thresholds
    series = degree_days(constant_weather(date(2026, 6, 1), 30, 60, 85), t.lower_c, t.upper_c, GddMethod.MODIFIED)
    cal = {s.name: s.day for s in stage_calendar(series, [(s.name, s.dd) for s in ECB.development.stages], None)}
    assert (cal["third instar"] - cal["egg hatch"]).days == 10


def test_ecb_peak_hatch_five_days_after_the_flight_at_70_f():
    """University of Illinois (1998): 5 days averaging 70 °F after the first significant flight make 100 °F·d,
    and peak egg hatch is under way: the 5th day from the biofix."""
    t = ECB.thresholds
    biofix = date(2026, 5, 25)
    series = degree_days(constant_weather(biofix, 20, 62, 78), t.lower_c, t.upper_c, GddMethod.MODIFIED)
    cal = {s.name: s.day for s in stage_calendar(series, [(s.name, s.dd) for s in ECB.development.stages], None)}
    assert cal["egg hatch"] == biofix + timedelta(days=4)


def test_biofix_is_the_first_of_two_checks_in_a_row_with_a_catch():
    """A lone moth does not set the biofix; the first of two successive checks with moths does."""
    checks = [(date(2026, 5, d), c) for d, c in [(1, 0), (2, 1), (3, 0), (4, 2), (5, 1), (6, 3)]]
    assert first_sustained_catch(checks, 1, 2) == date(2026, 5, 4)
    assert first_sustained_catch(checks[:5], 1, 3) is None


def test_stage_dates_say_observed_forecast_or_recent_weather():
    """Stages are dated on measured days, then forecast days, then the last measured days' mean, each so marked."""
    start = date(2026, 6, 1)
    days = [DayDd(start + timedelta(days=k), 10.0, Basis.OBSERVED) for k in range(5)]
    days += [DayDd(start + timedelta(days=5 + k), 20.0, Basis.FORECAST) for k in range(3)]
    series = with_recent_weather(days, start + timedelta(days=40))
    assert series[-1].basis is Basis.RECENT and series[-1].dd == pytest.approx(10.0)
    cal = stage_calendar(series, [("a", 30.0), ("b", 90.0), ("c", 150.0)], None)
    assert [(s.name, s.day, s.basis) for s in cal] == [
        ("a", start + timedelta(days=2), Basis.OBSERVED),
        ("b", start + timedelta(days=6), Basis.FORECAST),
        ("c", start + timedelta(days=11), Basis.RECENT)]  # 50 + 60, then 10 a day


def test_generations_repeat_the_stages_after_the_generation_length():
    """Corn earworm: the second generation's egg hatch comes 484.9 °C·d after the first's."""
    stages = [(s.name, s.dd) for s in CEW.development.stages]
    series = [DayDd(date(2026, 6, 1) + timedelta(days=k), 10.0, Basis.OBSERVED) for k in range(120)]
    cal = [s for s in stage_calendar(series, stages, CEW.development.generation_dd, generations=2)
           if s.name == "egg hatch"]
    assert [s.dd for s in cal] == [103.1, 588.0]
    assert (cal[1].day - cal[0].day).days == 48  # at 10 °C·d a day: day 11 (110) and day 59 (590)


def test_insect_development_by_the_species_method():
    """insect_development counts by the modified average when the species' model does."""
    days = [(f_to_c(60), f_to_c(85))] * 10
    dev = insect_development(days, f_to_c(50), f_to_c(86), 570.0, method=GddMethod.MODIFIED)
    assert dev.degree_days == pytest.approx(225 * F_DD)
    assert dev.generations_completed == 0
