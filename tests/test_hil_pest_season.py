"""The HIL pest scenario: a corn borer population flying by degree days onto a trap camera's liners,
counted, forecast and alerted on by the production services (hil/scenarios/pest_season.py)."""

from __future__ import annotations

from datetime import date

import pytest

from furrow.hil.scenarios import RunOptions, all_scenarios
from furrow.hil.scenarios.pest_season import (
    ALERT_DAYS,
    BIOFIX_DAYS,
    FORECAST_DAYS,
    LEAD_DAYS,
    WINDOW_DAYS,
    first_sustained,
    first_week_over,
    run_season,
)


def test_the_truth_rules_read_the_catches_as_the_species_table_says():
    """The truth's biofix is the first of two checks in a row with a moth; its alert day the first whose
    seven days caught 60 moths."""
    caught = [(date(2026, 5, d), n) for d, n in ((1, 0), (2, 1), (3, 0), (4, 2), (5, 1), (6, 20), (7, 40))]
    assert first_sustained(caught) == date(2026, 5, 4)
    assert first_week_over(caught) == date(2026, 5, 7) and first_week_over(caught[:-1]) is None


async def test_first_flight_biofix_alert_and_forecast_hold_their_tolerances(tmp_path):
    """The spring flight through the real camera core, gateway and counter: the cloud's biofix, its first
    corn borer alert and the control window's end it forecasts that morning are within the stated days of
    the simulated truth; past the weather week the forecast comes from the site's imported normals, and
    every stage it dates from them that morning (the next generation's, weeks ahead) falls, in the truth,
    within the cloud's own one-standard-deviation range (± the biofix's day); no reading is lost and every
    photo is counted."""
    result = await run_season(RunOptions(workdir=tmp_path), stop_days_after_alert=0)
    x = result.extra
    assert x["photos"] == x["photos_counted"] > 20
    assert abs(x["biofix_error_days"]) <= BIOFIX_DAYS, x
    assert abs(x["alert_error_days"]) <= ALERT_DAYS, x
    assert abs(x["window_end_error_days"]) <= WINDOW_DAYS, x
    assert x["beyond_forecast"] == "normals"
    assert len(x["normals_on_alert"]) >= 2 and x["normals_on_alert_outside"] == 0, x["normals_on_alert"]
    assert result.readings_lost == 0 and result.duplicates_stored == 0


@pytest.mark.full
async def test_the_whole_pest_season_holds_its_tolerances(tmp_path):
    """`furrow hil run pest-season`: May to 10 August, both flights; the same tolerances, the forecast two
    weeks ahead of the second generation's egg hatch within its days, that hatch dated from measured
    weather at the end within a day of the truth, and every stage dated from the normals on any morning
    (of those the simulated weather reaches) within the cloud's one-standard-deviation range ± a day."""
    result = await all_scenarios()["pest-season"].run(RunOptions(workdir=tmp_path))
    x = result.extra
    assert abs(x["biofix_error_days"]) <= BIOFIX_DAYS, x
    assert abs(x["alert_error_days"]) <= ALERT_DAYS, x
    assert abs(x["window_end_error_days"]) <= WINDOW_DAYS, x
    assert abs(x[f"gen2_hatch_forecast_{LEAD_DAYS}d_error_days"]) <= FORECAST_DAYS, x
    assert abs(x["gen2_hatch_final_error_days"]) <= 1, x
    assert x["beyond_forecast"] == "normals" and x["normals_on_alert_outside"] == 0, x["normals_on_alert"]
    assert x["normals_dates"] > 50 and x["normals_inside_share"] == 1.0, x
    assert x["photos"] == x["photos_counted"] and result.readings_lost == 0
