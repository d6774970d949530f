"""Climate normals beyond the weather forecast (cloud/agronomy/normals.py) and the pest forecast that uses
them (cloud/pests/season.py): the imported file's format and its errors by line and column, the farm's own
period averages only from ten years on, and stage dates that say which days were measured, forecast or
normal, with the range one standard deviation gives."""

import math
from datetime import date, timedelta

import pytest

from furrow.cloud.agronomy.normals import (
    MIN_YEARS,
    NormalsInvalid,
    calendar_day,
    normals_from_history,
    parse_normals_csv,
)
from furrow.cloud.agronomy.phenology import Basis
from furrow.cloud.agronomy.species import Biofix, Development, Species, StageDd, Thresholds, f_to_c
from furrow.cloud.pests.season import Check, species_season


def csv_of(rows, header="doy,tmax_c,tmin_c"):
    return (header + "\n" + "\n".join(",".join(str(c) for c in r) for r in rows) + "\n").encode()


def common_year(tmax=lambda d: 20.0, tmin=lambda d: 10.0):
    return [(d, tmax(d), tmin(d)) for d in range(1, 366)]


def test_calendar_days_put_1_march_on_day_61_in_every_year():
    """A leap-year calendar: 29 February is day 60, 1 March day 61 in common and leap years alike."""
    assert calendar_day(date(2024, 2, 29)) == 60
    assert calendar_day(date(2025, 3, 1)) == calendar_day(date(2024, 3, 1)) == 61
    assert calendar_day(date(2025, 12, 31)) == 366


def test_a_common_year_file_gives_29_february_the_values_of_28_february():
    """365 rows are the days of a common year: doy 59 is 28 February, 60 is 1 March; a leap year's 29
    February takes 28 February's values."""
    normals = parse_normals_csv(csv_of(common_year(tmax=lambda d: float(d % 50), tmin=lambda d: -5.0)),
                                "CMA 1991-2020, station 54511")
    assert normals.kind == "imported" and normals.source == "CMA 1991-2020, station 54511"
    assert normals.on(date(2025, 2, 28)).tmax_c == 9.0 and normals.on(date(2025, 3, 1)).tmax_c == 10.0
    assert normals.on(date(2024, 2, 29)).tmax_c == 9.0 and normals.on(date(2024, 3, 1)).tmax_c == 10.0
    assert not normals.has_sd


def test_a_leap_year_file_and_standard_deviations():
    """366 rows are a leap year's days; the optional sd columns are kept (UTF-8 with a byte-order mark)."""
    rows = [(d, 25.0, 12.0, 3.0, 2.5) for d in range(1, 367)]
    data = b"\xef\xbb\xbf" + csv_of(rows, "doy,tmax_c,tmin_c,tmax_sd_c,tmin_sd_c")
    normals = parse_normals_csv(data, "WMO 1991-2020")
    assert normals.has_sd and normals.on(date(2024, 2, 29)).tmin_sd_c == 2.5


def test_every_bad_cell_is_named_by_line_and_column():
    """A file with bad cells is refused whole, each named rows.<line>.<column> with its value: a word for a
    number, a minimum above the maximum, a day repeated, a negative deviation, a temperature off the scale."""
    rows = common_year()
    rows[2] = (3, "warm", 10.0)
    rows[3] = (4, 10.0, 12.0)
    rows[4] = (4, 20.0, 10.0)
    rows[6] = (7, 99.0, 10.0)
    with pytest.raises(NormalsInvalid) as e:
        parse_normals_csv(csv_of(rows), "x" * 10)
    assert e.value.problems == [
        ("rows.4.tmax_c", "warm", "is not a number"),
        ("rows.5.tmin_c", "12.0", "is above tmax_c (10.0)"),
        ("rows.6.doy", "4", "repeats line 5"),
        ("rows.8.tmax_c", "99.0", "must be between -70 and 60")]
    sd = [(d, 20.0, 10.0, -1, 1) for d in range(1, 366)]
    with pytest.raises(NormalsInvalid) as e:
        parse_normals_csv(csv_of(sd, "doy,tmax_c,tmin_c,tmax_sd_c,tmin_sd_c"), "x" * 10, max_problems=2)
    assert e.value.problems[0] == ("rows.2.tmax_sd_c", "-1", "must be between 0 and 20")


def test_a_file_must_have_its_header_and_every_day():
    """A header without tmin_c is named; a year with day 100 missing is refused naming the day."""
    with pytest.raises(NormalsInvalid) as e:
        parse_normals_csv(b"doy,tmax_c,tmean_c\n1,2,3\n", "x" * 10)
    assert e.value.problems[0][0] == "rows.1" and "tmin_c" in e.value.problems[0][2]
    with pytest.raises(NormalsInvalid) as e:
        parse_normals_csv(csv_of([r for r in common_year() if r[0] != 100]), "x" * 10)
    assert e.value.problems[0][:2] == ("rows", 364) and "missing doy 100" in e.value.problems[0][2]


def history(years, first_year=2010):
    """A sine-shaped year (mean 15 °C, ±10 °C over the year; Tmax 6 °C above it, Tmin 6 °C below), each
    year 0.5 °C warmer than the one before."""
    out = []
    for y in range(first_year, first_year + years):
        d = date(y, 1, 1)
        while d.year == y:
            mean = 15 - 10 * math.cos(2 * math.pi * (d.timetuple().tm_yday - 15) / 365) + 0.5 * (y - first_year)
            out.append((d, mean - 6, mean + 6))
            d += timedelta(days=1)
    return out


def test_the_farm_s_own_normals_need_ten_years():
    """Nine years of measurements are not enough (None, 9); ten give period averages per calendar day whose
    mean is the years' mean and whose standard deviation includes the years' spread."""
    assert normals_from_history(history(MIN_YEARS - 1), "farm") == (None, MIN_YEARS - 1)
    normals, years = normals_from_history(history(MIN_YEARS), "farm weather 2010-2019")
    assert years == 10 and normals.kind == "farm" and normals.has_sd
    july = normals.on(date(2026, 7, 15))
    # 15 + 10 (the sine's top, near 15 July) + 2.25 (the years' mean offset) + 6; the window's curve lowers it
    assert july.tmax_c == pytest.approx(33.25, abs=0.2)
    assert july.tmax_c - july.tmin_c == pytest.approx(12.0, abs=1e-6)
    # ten years 0.5 °C apart spread 1.44 °C (0.5 x sqrt(99/12)); near the top the window's curve adds little
    assert 1.43 < july.tmax_sd_c < 1.55
    gap = [r for r in history(12) if not (r[0].year < 2013 and r[0].month == 9)]
    assert normals_from_history(gap, "farm")[1] == 9  # September of three years missing: 9 years there


# The worked example: UC IPM, "A simple way to calculate degree-days" (ipm.ucanr.edu/PMG/FIG/cit-t01.html,
# California red scale): average daily temperature 64 °F minus the 53 °F lower threshold = 11 degree-days.
# A day of 54 °F to 74 °F (average 64 °F) lies wholly above 53 °F, where the single sine equals the average
# method (R. L. Snyder, "Degree days using the single sine method", UC Davis Biometeorology): 11 °F·d a day.
LOWER = f_to_c(53)
TMIN, TMAX = f_to_c(54), f_to_c(74)
DAY_DD = 11 * 5 / 9
SCALE = Species(
    key="aonidiella-aurantii", name="Aonidiella aurantii",
    thresholds=Thresholds(lower_c=LOWER, source="UC IPM, California red scale, lower threshold 53 °F"),
    development=Development(stages=[StageDd(name="a", dd=3 * DAY_DD), StageDd(name="b", dd=10 * DAY_DD),
                                    StageDd(name="c", dd=20 * DAY_DD)], source="the worked example's stages"),
    biofix=Biofix(source="first sustained catch (test)"))
TODAY = date(2026, 6, 20)
BIOFIX = TODAY - timedelta(days=4)


def scale_season(normals):
    checks = [Check("t", BIOFIX, 2, 1.0), Check("t", BIOFIX + timedelta(days=1), 2, 1.0)]
    weather = [(BIOFIX + timedelta(days=k), TMIN, TMAX, Basis.OBSERVED) for k in range(5)]
    weather += [(TODAY + timedelta(days=k), TMIN, TMAX, Basis.FORECAST) for k in range(1, 8)]
    return species_season(SCALE, checks, weather, TODAY, normals)


def example_normals(sd):
    rows = [(d, TMAX, TMIN, sd, sd) for d in range(1, 366)]
    return parse_normals_csv(csv_of(rows, "doy,tmax_c,tmin_c,tmax_sd_c,tmin_sd_c"), "the worked example")


def test_stages_beyond_the_forecast_week_come_from_normals_with_a_range():
    """11 °F·d (6.11 °C·d) a day from the biofix: stage a (3 days) on the 3rd day, measured; b (10 days) on
    the 10th, inside the forecast week; c (20 days) on the 20th, eight days after the forecast ends, from
    the normals. With a 2 °C standard deviation, a day 2 °C warmer gives 8.11 °C·d: the 61.1 °C·d left
    after the forecast take 8 days at the normal, 7.53 one SD warmer (so the 7th day past it), and more
    one SD cooler."""
    season = scale_season(example_normals(2.0))
    by = {s.name: s for s in season.stages if s.generation == 1}
    assert (by["a"].day, by["a"].basis) == (BIOFIX + timedelta(days=2), Basis.OBSERVED)
    assert (by["b"].day, by["b"].basis) == (BIOFIX + timedelta(days=9), Basis.FORECAST)
    assert (by["c"].day, by["c"].basis) == (BIOFIX + timedelta(days=19), Basis.NORMAL)
    assert by["c"].early == TODAY + timedelta(days=14) and by["c"].late > by["c"].day
    assert by["a"].early is None and by["b"].late is None
    assert season.beyond_forecast == "normals" and season.normals_source == "the worked example"
    assert season.normals_sd and season.weather_basis["recent"] == 0
    assert season.degree_days == pytest.approx(5 * DAY_DD, abs=0.05)


def test_normals_without_deviations_give_one_date_and_no_range():
    """Normals without standard deviations: the date is a normals-based estimate without early or late."""
    season = scale_season(parse_normals_csv(csv_of([(d, TMAX, TMIN) for d in range(1, 366)]), "a station"))
    c = next(s for s in season.stages if s.name == "c" and s.generation == 1)
    assert (c.day, c.basis, c.early, c.late) == (BIOFIX + timedelta(days=19), Basis.NORMAL, None, None)
    assert not season.normals_sd


def test_without_normals_the_recent_weather_carries_on_and_the_season_says_so():
    """No normals: beyond the forecast the last 14 measured days' mean (a persistence estimate) is used,
    every such date says 'recent', and the season names what the days after the forecast come from."""
    season = scale_season(None)
    c = next(s for s in season.stages if s.name == "c" and s.generation == 1)
    assert (c.day, c.basis) == (BIOFIX + timedelta(days=19), Basis.RECENT)
    assert season.beyond_forecast == "recent" and season.normals_source is None
    assert season.weather_basis["normal"] == 0
