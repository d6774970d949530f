"""A species' season as pure functions (cloud/pests/season.py): catches from cards that keep what they
caught, pressure in the threshold's own unit, and what a season says when the table lacks values."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from furrow.cloud.agronomy.alerts import FarmState, Severity, evaluate_alerts
from furrow.cloud.agronomy.phenology import Basis
from furrow.cloud.agronomy.species import shipped
from furrow.cloud.pests.season import Check, alert_pressure, card_checks, species_season

DAY = 86_400_000
T0 = 1780704000000  # 2026-06-06T00:00:00Z
UTC = ZoneInfo("UTC")


def test_a_card_count_that_falls_is_a_fresh_card():
    """Catches are differences between photos; after a fresh card the count itself is the catch; two days
    between photos make two nights."""
    checks = card_checks("cam-01", [(T0, 3), (T0 + DAY, 7), (T0 + 3 * DAY, 2), (T0 + 4 * DAY, 2)], UTC)
    assert [(c.day.isoformat(), c.catch, c.nights) for c in checks] == [
        ("2026-06-07", 4, 1.0), ("2026-06-09", 2, 2.0), ("2026-06-10", 0, 1.0)]
    assert checks[1].per_night == 1.0


def test_weekly_pressure_sums_the_last_seven_days_per_trap_and_names_the_traps_over():
    """European corn borer (60 moths per pheromone trap per week, University of Maine): trap a caught 70
    in the last 7 days, trap b 30: the mean 50 is under the threshold, trap a alone is over it."""
    today = date(2026, 6, 20)
    checks = [Check("a", today - timedelta(days=k), 10, 1.0) for k in range(7)]
    checks += [Check("b", today - timedelta(days=k), 5, 1.0) for k in range(6)]
    checks += [Check("a", today - timedelta(days=9), 500, 1.0)]  # before the week: not in it
    season = species_season(shipped("ostrinia-nubilalis"), checks, [], today)
    p = season.pressure
    assert (p.value, p.threshold, p.per, p.above, p.traps_over) == (50.0, 60.0, "week", False, ("a",))
    assert "University of Maine" in p.source


def test_a_species_without_stages_says_what_is_missing():
    """The Asian corn borer ships only its generations and biofix rule: the season gives no stage dates and
    names the thresholds, stage degree days, action threshold, card size and biofix date as missing."""
    today = date(2026, 6, 20)
    weather = [(today - timedelta(days=k), 18.0, 30.0, Basis.OBSERVED) for k in range(30)]
    season = species_season(shipped("ostrinia-furnacalis"), [Check("a", today, 3, 1.0)], weather, today)
    assert season.stages == () and season.biofix is None and season.pressure is None
    assert season.missing == ("thresholds", "development", "actions", "card", "biofix date")


def test_no_weather_since_the_biofix_is_said_not_guessed():
    """With a biofix but no measured day since it, the season has no degree days and names 'weather'."""
    today = date(2026, 6, 20)
    checks = [Check("a", today - timedelta(days=k), 2, 1.0) for k in (3, 2)]
    season = species_season(shipped("helicoverpa-zea"), checks, [], today)
    assert season.biofix == today - timedelta(days=3)
    assert season.degree_days is None and season.missing == ("weather",)
    assert season.pressure.value == pytest.approx(2.0)


def test_a_threshold_names_the_crops_it_was_set_for():
    """The cotton bollworm's shipped threshold is the processing-tomato one (Sousa et al. 2021): a maize zone's
    season says it is not the zone's crop's, a tomato zone's that it is, and a zone of unknown crop neither;
    a threshold the species table leaves without crops (an agronomist's entry) names none."""
    today = date(2026, 6, 20)
    checks = [Check("a", today - timedelta(days=k), 2, 1.0) for k in range(3)]
    hb = shipped("helicoverpa-armigera")
    assert [a.crops for a in hb.actions] == [["tomato"]]
    maize = species_season(hb, checks, [], today, crop="Maize").pressure
    assert (maize.crops, maize.crop, maize.crop_match, maize.above) == (("tomato",), "Maize", False, True)
    assert species_season(hb, checks, [], today, crop="tomato").pressure.crop_match is True
    assert species_season(hb, checks, [], today).pressure.crop_match is None
    bare = hb.model_copy(update={"actions": [hb.actions[0].model_copy(update={"crops": None})]})
    assert species_season(bare, checks, [], today, crop="maize").pressure.crop_match is None


@pytest.mark.parametrize(("key", "crops", "catch", "right", "other"), [
    # Purdue Vegetable Crops Hotline: 'The threshold for spraying sweet corn that matures prior to field corn
    # silking is only one moth per night'
    ("helicoverpa-zea", ["sweet corn"], 2, "Sweet Corn", "maize"),
    # University of Maine Cooperative Extension, Potato IPM: '60 moths in a 7-day period in a pheromone trap'
    ("ostrinia-nubilalis", ["potato"], 10, "potato", "maize")])
def test_the_earworm_and_corn_borer_thresholds_name_the_crops_their_sources_set_them_for(
        key, crops, catch, right, other):
    """The corn earworm's threshold is Purdue's for sweet corn, the corn borer's the University of Maine potato
    programme's: over either, a zone of that crop has its own threshold reached (crop_match true), a maize
    zone is told it is another crop's (crop_match false) though the catch is over it."""
    today = date(2026, 6, 20)
    checks = [Check("a", today - timedelta(days=k), catch, 1.0) for k in range(7)]  # 2 a night, 70 a week
    sp = shipped(key)
    assert crops in [a.crops for a in sp.actions]
    mine = species_season(sp, checks, [], today, crop=right).pressure
    theirs = species_season(sp, checks, [], today, crop=other).pressure
    assert mine.above and theirs.above
    assert (mine.crop_match, theirs.crop_match, theirs.crops) == (True, False, tuple(crops))


def test_the_corn_borer_is_held_to_the_threshold_of_the_zones_crop():
    """The European corn borer carries two University of Maine thresholds: '60 moths in a 7-day period in a
    pheromone trap' (Potato IPM) and 'the threshold of 5 moths per week' in silking sweet corn (Highmoor Farm's
    sweet corn newsletters). 10 moths a week: on a potato zone under 60 (crop_match true), on a sweet corn zone
    over 5 (crop_match true); on a maize zone, which neither was set for, compared with the first in the
    table, 60, and told so, naming both with their crops."""
    today = date(2026, 6, 20)
    checks = [Check("a", today - timedelta(days=k), 2, 1.0) for k in range(5)]  # 10 in the last 7 days
    ecb = shipped("ostrinia-nubilalis")
    potato = species_season(ecb, checks, [], today, crop="potato").pressure
    assert (potato.value, potato.threshold, potato.per, potato.crop_match, potato.above) == (
        10, 60, "week", True, False)
    assert "Potato IPM" in potato.source and potato.thresholds == ()
    corn = species_season(ecb, checks, [], today, crop="Sweet Corn").pressure
    assert (corn.threshold, corn.per, corn.crop_match, corn.above, corn.crops) == (5, "week", True, True,
                                                                                   ("sweet corn",))
    assert "Highmoor" in corn.source and corn.thresholds == ()
    maize = species_season(ecb, checks, [], today, crop="maize").pressure
    assert (maize.threshold, maize.crop_match, maize.above) == (60, False, False)
    assert [(t.catch, t.per, t.crops) for t in maize.thresholds] == [(60, "week", ("potato",)),
                                                                     (5, "week", ("sweet corn",))]


@pytest.mark.parametrize(("crop", "week", "above"), [
    # Potato IPM: '60 moths in a 7-day period in a pheromone trap'
    ("potato", 59, False), ("potato", 60, True),
    # Highmoor Farm: 'over the threshold of 5 moths per week' in silking fields; Furrow acts at 5 or more
    ("sweet corn", 4, False), ("sweet corn", 5, True)])
def test_each_corn_borer_threshold_is_reached_at_its_own_catch(crop, week, above):
    """One trap's week of catches just under and at each source's threshold."""
    today = date(2026, 6, 20)
    checks = [Check("a", today, week, 7.0)]
    p = species_season(shipped("ostrinia-nubilalis"), checks, [], today, crop=crop).pressure
    assert (p.value, p.above, p.traps_over) == (week, above, ("a",) if above else ())


def test_on_maize_the_corn_borer_alert_is_a_warning_naming_both_thresholds():
    """The maize zone's season (140 a week, over twice the first threshold, 60) gives an alert that stays a
    warning and names 60 a week for potato and 5 a week for sweet corn, in its text and its evidence; on
    sweet corn the same catch is critical (its own threshold, 5)."""
    today = date(2026, 6, 20)
    checks = [Check("a", today - timedelta(days=k), 20, 1.0) for k in range(7)]
    season = species_season(shipped("ostrinia-nubilalis"), checks, [], today, crop="maize")
    (alert,) = evaluate_alerts(FarmState(now=datetime(2026, 6, 20, 23, tzinfo=UTC),
                                         species=[alert_pressure("z1", "Ostrinia nubilalis", season)]))
    assert alert.severity is Severity.WARNING
    assert alert.message.startswith(
        "Ostrinia nubilalis: 140.0 per trap per week at a ≥ 60, the first of its action thresholds (60 per trap per "
        "week for potato; 5 per trap per week for sweet corn), none set for maize, trend ")
    assert alert.i18n.key == "alert.pest-species-week-no-crop-threshold"
    assert [m.key for m in alert.i18n.params["thresholds"]] == ["alert.pest-threshold-for-week"] * 2
    assert alert.evidence["thresholds"] == [{"catch": 60, "per": "week", "crops": ["potato"]},
                                            {"catch": 5, "per": "week", "crops": ["sweet corn"]}]
    assert alert.evidence["crop"] == "maize" and "Potato IPM" in alert.evidence["source"]
    own = species_season(shipped("ostrinia-nubilalis"), checks, [], today, crop="sweet corn")
    (alert,) = evaluate_alerts(FarmState(now=datetime(2026, 6, 20, 23, tzinfo=UTC),
                                         species=[alert_pressure("z1", "Ostrinia nubilalis", own)]))
    assert alert.severity is Severity.CRITICAL and alert.i18n.key == "alert.pest-species-week"
