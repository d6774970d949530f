"""Degree days (average and single sine with cut-off), stages and the Kc curve."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furrow.cloud.agronomy.crop import (
    CropCoefficients,
    GddMethod,
    Stage,
    crop_stage,
    gdd,
    gdd_average,
    gdd_single_sine,
    kc_single,
)

# FAO-56 table 11/12 style crop, e.g. maize-like lengths 30/40/50/30 with Kc 0.3/1.2/0.6 (illustrative)
CROP = CropCoefficients(l_ini=30, l_dev=40, l_mid=50, l_late=30, kc_ini=0.3, kc_mid=1.2, kc_end=0.6)


def numeric_sine(tmin: float, tmax: float, base: float, upper: float | None, n: int = 4000) -> float:
    total = 0.0
    for i in range(n):
        t = (tmax + tmin) / 2 + (tmax - tmin) / 2 * math.sin(2 * math.pi * (i + 0.5) / n)
        total += min(max(t, base), upper if upper is not None else math.inf) - base
    return total / n


def test_average_method_with_cutoff():
    """Average method: (30 + 14)/2 - 10 = 12; with a 28 °C cut-off (28 + 14)/2 - 10 = 11; never negative."""
    assert gdd_average(14, 30, 10) == 12
    assert gdd_average(14, 30, 10, 28) == 11
    assert gdd_average(0, 8, 10) == 0


def test_single_sine_cases():
    """Single sine: all above the upper threshold = upper - base; all below base = 0; between = mean - base."""
    assert gdd_single_sine(32, 36, 10, 30) == 20
    assert gdd_single_sine(0, 9, 10, 30) == 0
    assert gdd_single_sine(12, 20, 10, 30) == 6
    # symmetric day around the base: half the time above, mean excursion A/π
    assert gdd_single_sine(0, 20, 10) == pytest.approx(10 / math.pi)


@settings(max_examples=40)
@given(st.floats(-20, 45), st.floats(0, 30), st.floats(-5, 20), st.one_of(st.none(), st.floats(1, 30)))
def test_single_sine_equals_the_integral_of_the_clipped_sine(tmin, rng, base, span):
    """The closed form equals a numerical integral of the clipped sine, and stays within 0..upper-base."""
    upper = None if span is None else base + span
    value = gdd_single_sine(tmin, tmin + rng, base, upper)
    assert value == pytest.approx(numeric_sine(tmin, tmin + rng, base, upper), abs=2e-3)
    assert value >= 0 and (upper is None or value <= upper - base + 1e-9)


def test_gdd_dispatches_by_method():
    """gdd() picks the method asked for."""
    assert gdd(5, 15, 10, method=GddMethod.AVERAGE) == 0
    assert gdd(5, 15, 10, method=GddMethod.SINE) > 0


def test_kc_curve_follows_eq_66():
    """Kc: 0.3 in the initial stage, linear to 1.2 over development, 1.2 mid-season, linear to 0.6 at the end."""
    assert kc_single(1, CROP) == 0.3 and kc_single(29, CROP) == 0.3
    assert kc_single(50, CROP) == pytest.approx(0.3 + 20 / 40 * 0.9)
    assert kc_single(70, CROP) == 1.2 and kc_single(119, CROP) == 1.2
    assert kc_single(135, CROP) == pytest.approx(1.2 - 15 / 30 * 0.6)
    assert kc_single(150, CROP) == pytest.approx(0.6)


def test_stages_from_days_or_degree_days():
    """The same stage lengths work as days or as degree days: the stage follows progress."""
    assert [crop_stage(p, CROP) for p in (1, 31, 71, 121, 151)] == [
        Stage.INITIAL, Stage.DEVELOPMENT, Stage.MID, Stage.LATE, Stage.DONE]
    assert crop_stage(30, CROP) is Stage.INITIAL  # day L_ini is the initial stage's last day
    with pytest.raises(ValueError):
        CropCoefficients(l_ini=0, l_dev=1, l_mid=1, l_late=1, kc_ini=0.3, kc_mid=1.0, kc_end=0.5)
