"""A species' season as pure functions (cloud/pests/season.py): catches from cards that keep what they
caught, pressure in the threshold's own unit, and what a season says when the table lacks values."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from furrow.cloud.agronomy.phenology import Basis
from furrow.cloud.agronomy.species import shipped
from furrow.cloud.pests.season import Check, card_checks, species_season

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
    assert season.missing == ("thresholds", "development", "action", "card", "biofix date")


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
    assert hb.action.crops == ["tomato"]
    maize = species_season(hb, checks, [], today, crop="Maize").pressure
    assert (maize.crops, maize.crop, maize.crop_match, maize.above) == (("tomato",), "Maize", False, True)
    assert species_season(hb, checks, [], today, crop="tomato").pressure.crop_match is True
    assert species_season(hb, checks, [], today).pressure.crop_match is None
    bare = hb.model_copy(update={"action": hb.action.model_copy(update={"crops": None})})
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
    assert sp.action.crops == crops
    mine = species_season(sp, checks, [], today, crop=right).pressure
    theirs = species_season(sp, checks, [], today, crop=other).pressure
    assert mine.above and theirs.above
    assert (mine.crop_match, theirs.crop_match, theirs.crops) == (True, False, tuple(crops))
