"""Kc from measured ground cover (FAO-56 ch. 9, agronomy/canopy_kc.py) and its place in the daily balance."""

import math
from datetime import date

import pytest

from furrow.cloud.agronomy.canopy_kc import (
    KC_MIN,
    MeasuredCover,
    density_coefficient,
    effective_cover,
    effective_cover_rows,
    kc_from_cover,
    kcb_full,
    noon_solar_elevation,
)
from furrow.cloud.agronomy.crop import CropCoefficients
from furrow.cloud.agronomy.water_balance import BalanceParams, DayInput, water_balance_day

CROP = CropCoefficients(l_ini=20, l_dev=30, l_mid=40, l_late=20, kc_ini=0.3, kc_mid=1.2, kc_end=0.5)


def test_fao56_chapter9_worked_example_by_hand():
    """FAO-56 ch. 9's example inputs as the sebkc package reproduces them (fc 0.3, row crop h/w 1,
    40° N on 19 July (J 200), u2 1.5 m/s, RHmin 55 %, h 2 m), each step checked by hand:
    δ = 0.409 sin(2π 200/365 - 1.39) = 0.3624 rad, β = 90° - (40° - 20.77°) = 70.76°,
    fc,eff = 0.3 (1 + 1/tan β) = 0.4046, Kcb,full = 1.20 + (0.04(-0.5) - 0.004(10)) (2/3)^0.3 = 1.1469,
    Kd = min(1, 2 x 0.3, 0.4046^(1/3) = 0.7396) = 0.6, Kcb = 0.15 + 0.6 (1.1469 - 0.15) = 0.7481.
    (The FAO text's own printed result could not be read offline; these are the equations' figures.)"""
    beta = noon_solar_elevation(40.0, date(2026, 7, 19))
    assert math.degrees(beta) == pytest.approx(70.76, abs=0.01)
    fc_eff = effective_cover_rows(0.3, beta, 1.0)
    assert fc_eff == pytest.approx(0.4046, abs=0.0005)
    full = kcb_full(2.0, u2_ms=1.5, rh_min_pct=55.0)
    assert full == pytest.approx(1.1469, abs=0.0005)
    kd = density_coefficient(0.3, fc_eff, 2.0)
    assert kd == pytest.approx(0.6)
    assert KC_MIN + kd * (full - KC_MIN) == pytest.approx(0.7481, abs=0.0005)


def test_density_coefficient_bounds():
    """Bare ground gives Kc min, a closed canopy the full-cover Kc; more cover never lowers Kc."""
    beta = math.radians(60)
    assert kc_from_cover(1.2, 0.0, 2.0, beta) == pytest.approx(KC_MIN)
    assert kc_from_cover(1.2, 1.0, 2.0, beta) == pytest.approx(1.2)
    kcs = [kc_from_cover(1.2, fc / 20, 1.5, beta) for fc in range(21)]
    assert kcs == sorted(kcs)


def test_taller_crops_transpire_more_at_the_same_cover():
    """At the same fc,eff a taller crop has the larger Kd (fc,eff^(1/(1+h)), FAO-56 ch. 9), until 2 fc caps it."""
    assert density_coefficient(0.5, 0.55, 0.3) < density_coefficient(0.5, 0.55, 2.0) <= 1.0
    assert density_coefficient(0.2, 0.25, 3.0) == pytest.approx(0.4)  # 2 fc binds


def test_effective_cover_is_the_shade_at_noon():
    """fc,eff = fc / sin β: more than fc when the sun is low, fc with the sun overhead, never above 1."""
    assert effective_cover(0.4, math.radians(90)) == pytest.approx(0.4)
    assert effective_cover(0.4, math.radians(30)) == pytest.approx(0.8)
    assert effective_cover(0.8, math.radians(30)) == 1.0
    with pytest.raises(ValueError, match="fc"):
        effective_cover(1.2, 1.0)


def _params(height: float | None = 2.0) -> BalanceParams:
    return BalanceParams(crop=CROP, p_table=0.5, theta_fc=0.3, theta_wp=0.15, zr_m=0.6, crop_height_m=height,
                         latitude_deg=41.65)


def test_measured_cover_sets_kc_from_the_development_stage():
    """Day 30 (development): a sparse measured canopy (20 %) lowers Kc below the curve's, and ETc with it;
    the record keeps the curve's Kc and names the cover."""
    cover = MeasuredCover(0.2, "photo image:1")
    day = DayInput(date(2026, 6, 1), et0_mm=6.0, cover=cover)
    rec = water_balance_day(_params(), 0.0, 30.0, day)
    curve = 0.3 + (30 - 20) / 30 * (1.2 - 0.3)
    beta = noon_solar_elevation(41.65, date(2026, 6, 1))
    assert rec.kc_curve == pytest.approx(curve)
    assert rec.kc == pytest.approx(kc_from_cover(1.2, 0.2, 2.0, beta)) and rec.kc < curve
    assert rec.etc_mm == pytest.approx(rec.kc * 6.0) and rec.cover == cover


def test_cover_is_not_used_in_the_initial_stage_or_without_a_height():
    """In the initial stage Kc is soil evaporation (Kc ini); a crop without a height keeps its curve."""
    day = DayInput(date(2026, 5, 10), et0_mm=5.0, cover=MeasuredCover(0.05, "manual"))
    initial = water_balance_day(_params(), 0.0, 10.0, day)
    assert (initial.kc, initial.cover) == (0.3, None)
    no_height = water_balance_day(_params(None), 0.0, 60.0, day)
    assert (no_height.kc, no_height.cover) == (1.2, None)
