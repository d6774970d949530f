"""Trap thresholds and trends, insect generations by degree days, and infection risk."""

from datetime import date, datetime, timedelta

import pytest

from furrow.cloud.agronomy.pests import (
    PathogenParams,
    TrapCount,
    Trend,
    insect_development,
    temperature_response,
    trap_pressure,
    wet_periods,
    wetness_required_h,
)

TODAY = date(2026, 6, 28)


def weekly(counts: list[int], traps: int = 2) -> list[TrapCount]:
    """One emptying per trap at the end of each of the last len(counts) weeks."""
    out = []
    for k, c in enumerate(counts):
        day = TODAY - timedelta(days=7 * (len(counts) - 1 - k))
        out += [TrapCount(f"t{i}", day, c) for i in range(traps)]
    return out


def test_trap_catch_above_threshold_and_rising():
    """Catches 2, 5, 9, 14 per trap-week against a threshold of 10: above, trend rising."""
    s = trap_pressure("codling moth / block 4", weekly([2, 5, 9, 14]), 10.0, TODAY)
    assert s.catch_per_trap_week == 14 and s.above_threshold and s.trend is Trend.RISING
    assert s.slope_per_week == pytest.approx(4.0)
    assert s.rule == "catch 14.0/trap/week ≥ action threshold 10, trend rising (+4.0/week)"


def test_trap_catch_normalised_by_exposure_days():
    """A trap read after 3.5 days with 4 moths counts as 8 per week."""
    s = trap_pressure("x", [TrapCount("t1", TODAY, 4, days_exposed=3.5)], 10.0, TODAY, weeks=1)
    assert s.catch_per_trap_week == 8 and not s.above_threshold and s.trend is Trend.UNKNOWN


def test_trap_catch_falling():
    """Catches 12, 8, 4 per trap-week: falling."""
    assert trap_pressure("x", weekly([12, 8, 4]), 10.0, TODAY, weeks=3).trend is Trend.FALLING


def test_generations_from_degree_days():
    """20 days of 25/15 °C over base 10 give 200 DD: with 100 DD to the first and 60 per later generation, 2 done."""
    dev = insect_development([(15.0, 25.0)] * 20, base_c=10.0, upper_c=31.0, dd_per_generation=60.0,
                             first_generation_dd=100.0)
    assert dev.degree_days == pytest.approx(200.0)
    assert dev.generations_completed == 2
    assert dev.dd_to_next == pytest.approx(20.0)


def test_temperature_response_is_one_at_optimum_zero_outside():
    """f(Topt) = 1, f = 0 at or outside Tmin/Tmax, and required wetness is Wmin at the optimum."""
    p = PathogenParams(t_min_c=2, t_opt_c=20, t_max_c=32, w_min_h=6, w_max_h=48, dry_interrupt_h=4)
    assert temperature_response(20, p) == pytest.approx(1.0)
    assert temperature_response(2, p) == 0 and temperature_response(33, p) == 0
    assert wetness_required_h(20, p) == pytest.approx(6.0)
    assert wetness_required_h(3, p) is None  # would need more than Wmax


def test_wet_period_risk_index_bridges_short_dry_spells():
    """8 wet hours at 20 °C with a 2 h dry break form one period: 8/6 ≥ 1, infection conditions met."""
    p = PathogenParams(t_min_c=2, t_opt_c=20, t_max_c=32, w_min_h=6, w_max_h=48, dry_interrupt_h=4)
    start = datetime(2026, 6, 1, 0, 0)
    pattern = [True] * 4 + [False] * 2 + [True] * 4 + [False] * 6 + [True] * 2
    hours = [(start + timedelta(hours=i), wet, 20.0) for i, wet in enumerate(pattern)]
    first, second = wet_periods(hours, p)
    assert first.hours == 8 and first.risk_index == pytest.approx(8 / 6)
    assert second.hours == 2 and second.risk_index < 1
