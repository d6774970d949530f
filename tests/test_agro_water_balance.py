"""FAO-56 chapter 8 water balance, checked against a season worked by hand.

FAO-56 prints the equations of the single-coefficient balance (eq. 80-88) and a
worked irrigation-scheduling example, but not a day-by-day table small enough to
copy here, so the season below is constructed for this test and worked by hand
from the paper's equations, every step written out. It uses the same zone as
tests/data/agro/zone.toml, so `furrow agro balance` is checked against it too.
"""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from furrow.cloud.agronomy.crop import CropCoefficients
from furrow.cloud.agronomy.water_balance import (
    BalanceParams,
    DayInput,
    ProbeReading,
    assimilate,
    deep_percolation,
    depletion_fraction,
    effective_rain,
    probe_depletion,
    run_water_balance,
    total_available_water,
    water_stress_coefficient,
)

CROP = CropCoefficients(l_ini=2, l_dev=4, l_mid=2, l_late=2, kc_ini=0.5, kc_mid=1.1, kc_end=0.7)
PARAMS = BalanceParams(crop=CROP, p_table=0.5, theta_fc=0.30, theta_wp=0.15, zr_m=0.6)
START = date(2026, 5, 1)


def season_days() -> list[DayInput]:
    et0 = [5, 5, 5, 5, 5, 6, 6, 6, 6, 6]
    rain = [0, 0, 0.5, 0, 30, 0, 0, 0, 0, 0]
    irrigation = [0, 0, 0, 0, 0, 0, 0, 0, 55, 0]
    return [DayInput(START + timedelta(days=i), et0[i], rain[i], irrigation[i]) for i in range(10)]


def test_hand_worked_season():
    """Ten days of eq. 66, 58, table 22, 83, 84, 80, 88, 85 reproduce the hand-worked values."""
    # TAW = 1000 (θFC - θWP) Zr = 1000 x (0.30 - 0.15) x 0.6 = 90 mm            (eq. 82)
    # Kc (eq. 66; day i of the season, L 2/4/2/2, Kc 0.5/1.1/0.7):
    #   i=1,2 initial 0.5; i=3..6 development 0.5 + (i-2)/4 x 0.6 = 0.65, 0.80, 0.95, 1.10;
    #   i=7,8 mid 1.1; i=9,10 late 1.1 - (i-8)/2 x 0.4 = 0.9, 0.7
    # p = 0.5 + 0.04 (5 - ETc) (table 22); RAW = p TAW (eq. 83)
    # Ks = (TAW - Dr,i-1)/(TAW - RAW) when Dr,i-1 > RAW (eq. 84); ETc adj = Ks Kc ET0 (eq. 80)
    # Dr,0 = 40 mm
    # day 1: ETc = 0.5 x 5 = 2.5; p = 0.5 + 0.04 x 2.5 = 0.60; RAW = 54; Ks = 1 (40 ≤ 54)
    #        Dr = 40 + 2.5 = 42.5
    # day 2: same; Dr = 42.5 + 2.5 = 45.0
    # day 3: ETc = 0.65 x 5 = 3.25; p = 0.57; RAW = 51.3; Ks = 1
    #        rain 0.5 < 0.2 x ET0 = 1.0: evaporated, P eff = 0; Dr = 45 + 3.25 = 48.25
    # day 4: ETc = 0.8 x 5 = 4.0; p = 0.54; RAW = 48.6; Ks = 1 (48.25 ≤ 48.6); Dr = 52.25
    # day 5: ETc = 0.95 x 5 = 4.75; p = 0.51; RAW = 45.9; Dr,i-1 52.25 > 45.9:
    #        Ks = (90 - 52.25)/(90 - 45.9) = 37.75/44.1 = 0.85601; ETc adj = 4.06604
    #        rain 30 (≥ 1.0): P eff = 30; DP = 30 - 4.06604 - 52.25 < 0 -> 0      (eq. 88)
    #        Dr = 52.25 - 30 + 4.06604 = 26.31604                                  (eq. 85)
    # day 6: ETc = 1.1 x 6 = 6.6; p = 0.5 + 0.04 x (5 - 6.6) = 0.436; RAW = 39.24; Ks = 1
    #        Dr = 26.31604 + 6.6 = 32.91604
    # day 7: same; Dr = 39.51604
    # day 8: ETc 6.6 (Kc 1.1, the last mid-season day); RAW 39.24 < 39.51604:
    #        Ks = (90 - 39.51604)/(90 - 39.24) = 50.48396/50.76 = 0.994562; ETc adj = 6.56411
    #        Dr = 39.51604 + 6.56411 = 46.08015
    # day 9: ETc = 0.9 x 6 = 5.4; p = 0.484; RAW = 43.56;
    #        Ks = (90 - 46.08015)/(90 - 43.56) = 43.91985/46.44 = 0.945733; ETc adj = 5.10696
    #        irrigation 55: DP = 55 - 5.10696 - 46.08015 = 3.81289                   (eq. 88)
    #        Dr = 46.08015 - 55 + 5.10696 + 3.81289 = 0
    # day 10: ETc = 0.7 x 6 = 4.2; p = 0.532; RAW = 47.88; Ks = 1; Dr = 4.2
    expected = [  # (Kc, p, Ks, ETc adj, DP, Dr)
        (0.5, 0.60, 1.0, 2.5, 0.0, 42.5),
        (0.5, 0.60, 1.0, 2.5, 0.0, 45.0),
        (0.65, 0.57, 1.0, 3.25, 0.0, 48.25),
        (0.8, 0.54, 1.0, 4.0, 0.0, 52.25),
        (0.95, 0.51, 0.85601, 4.06604, 0.0, 26.31604),
        (1.1, 0.436, 1.0, 6.6, 0.0, 32.91604),
        (1.1, 0.436, 1.0, 6.6, 0.0, 39.51604),
        (1.1, 0.436, 0.994562, 6.56411, 0.0, 46.08015),
        (0.9, 0.484, 0.945733, 5.10696, 3.81289, 0.0),
        (0.7, 0.532, 1.0, 4.2, 0.0, 4.2),
    ]
    records = run_water_balance(PARAMS, season_days(), START, dr_initial_mm=40.0)
    for rec, (kc, p, ks, etc_adj, dp, dr) in zip(records, expected, strict=True):
        assert rec.taw_mm == pytest.approx(90.0)
        assert rec.kc == pytest.approx(kc, abs=1e-9), rec.day
        assert rec.p == pytest.approx(p, abs=1e-9), rec.day
        assert rec.ks == pytest.approx(ks, abs=1e-5), rec.day
        assert rec.etc_adj_mm == pytest.approx(etc_adj, abs=1e-4), rec.day
        assert rec.dp_mm == pytest.approx(dp, abs=1e-4), rec.day
        assert rec.dr_mm == pytest.approx(dr, abs=1e-4), rec.day
    assert records[2].p_eff_mm == 0.0 and records[4].p_eff_mm == 30.0


def test_total_available_water_and_p_limits():
    """TAW (eq. 82) for a loam, and p adjusted by ETc stays within 0.1..0.8 (table 22 note)."""
    assert total_available_water(0.22, 0.10, 1.0) == pytest.approx(120.0)
    assert depletion_fraction(0.5, 5.0) == 0.5
    assert depletion_fraction(0.7, 0.0) == 0.8
    assert depletion_fraction(0.2, 15.0) == 0.1


def test_ks_is_one_until_raw_then_falls_linearly_to_zero_at_taw():
    """Ks (eq. 84): 1 up to RAW, 0.5 half-way between RAW and TAW, 0 at TAW."""
    assert water_stress_coefficient(40.0, 90.0, 45.0) == 1.0
    assert water_stress_coefficient(67.5, 90.0, 45.0) == pytest.approx(0.5)
    assert water_stress_coefficient(90.0, 90.0, 45.0) == 0.0


def test_effective_rain_threshold_and_runoff():
    """Rain under 0.2 ET0 is lost; a runoff fraction is taken from the rest."""
    assert effective_rain(0.9, 5.0) == (0.0, 0.0)
    assert effective_rain(20.0, 5.0, 0.1) == pytest.approx((18.0, 2.0))
    assert deep_percolation(18.0, 0.0, 3.0, 10.0) == pytest.approx(5.0)


def test_probe_depletion_weights_by_depth_and_quality():
    """Two probes split the root zone at their mid-point; a half-quality probe counts half."""
    # Zr 0.6 m, reach 15 cm: probe 10 cm covers 0-20 cm (cut at the 20 cm mid-point to the 30 cm probe),
    # probe 30 cm covers 20-45 cm. θFC 0.30: deficits 0.30-0.20 = 0.10 and 0.30-0.28 = 0.02.
    est = probe_depletion([ProbeReading(10, 20.0), ProbeReading(30, 28.0)], 0.30, 0.15, 0.6)
    assert est is not None
    # weights 20 and 25: mean deficit (20 x 0.10 + 25 x 0.02)/45 = 2.5/45; x 600 mm
    assert est.depletion_mm == pytest.approx(600 * 2.5 / 45)
    assert est.confidence == pytest.approx(45 / 60)
    half = probe_depletion([ProbeReading(10, 20.0, quality=0.5), ProbeReading(30, 28.0)], 0.30, 0.15, 0.6)
    assert half is not None
    # weights 10 and 25: (10 x 0.10 + 25 x 0.02)/35 = 1.5/35
    assert half.depletion_mm == pytest.approx(600 * 1.5 / 35)
    assert half.confidence == pytest.approx(35 / 60)


def test_probes_outside_root_zone_or_faulty_are_ignored():
    """A probe below the root zone, or with quality 0, gives no estimate: the model stands."""
    assert probe_depletion([ProbeReading(90, 10.0), ProbeReading(20, 5.0, quality=0.0)], 0.30, 0.15, 0.6) is None
    assert assimilate(33.0, None, 0.5, 90.0) == (33.0, 0.0)


def test_probe_correction_keeps_the_model_from_drifting():
    """With ET0 overestimated 50% the model alone drifts dry; the probes hold it near the field."""
    truth_et = 4.0  # the field really loses 4 mm/day
    days = []
    true_dr = 0.0
    for i in range(30):
        true_dr = min(90.0, true_dr + truth_et * 0.5)  # Kc 0.5 throughout the toy crop
        vwc = (0.30 - true_dr / 600.0) * 100.0  # uniform profile, Zr 600 mm
        days.append(DayInput(START + timedelta(days=i), et0_mm=truth_et * 1.5,
                             probes=(ProbeReading(10, vwc), ProbeReading(30, vwc), ProbeReading(50, vwc))))
    flat = CropCoefficients(l_ini=100, l_dev=1, l_mid=1, l_late=1, kc_ini=0.5, kc_mid=0.5, kc_end=0.5)
    params = BalanceParams(crop=flat, p_table=0.99, theta_fc=0.30, theta_wp=0.15, zr_m=0.6)
    bare = BalanceParams(crop=flat, p_table=0.99, theta_fc=0.30, theta_wp=0.15, zr_m=0.6, probe_gain=0.0)
    corrected = run_water_balance(params, days, START)[-1].dr_mm
    model_only = run_water_balance(bare, days, START)[-1].dr_mm
    assert abs(model_only - true_dr) > 20.0
    assert abs(corrected - true_dr) < 0.25 * abs(model_only - true_dr)


def test_waterlogging_is_reported_as_excess():
    """Probes wetter than field capacity pull depletion toward 0 and report the excess."""
    d = DayInput(START, et0_mm=1.0, probes=(ProbeReading(20, 40.0),))
    (rec,) = run_water_balance(PARAMS, [d], START, dr_initial_mm=0.0)
    # the probe at 20 cm covers 5-35 cm at 0.40 against θFC 0.30: 0.10 x 600 mm = 60 mm above FC
    assert rec.excess_mm == pytest.approx(60.0)
    assert rec.dr_mm < rec.dr_model_mm


@given(st.lists(st.tuples(st.floats(0, 15), st.floats(0, 80), st.floats(0, 80), st.floats(0, 45)),
                min_size=1, max_size=40),
       st.floats(0, 90))
def test_depletion_is_bounded_by_taw(days, dr0):
    """Whatever the weather, irrigation and probes, 0 ≤ Dr ≤ TAW and DP ≥ 0 (eq. 85-88)."""
    inputs = [DayInput(START + timedelta(days=i), et0, rain, irr, probes=(ProbeReading(20, vwc),))
              for i, (et0, rain, irr, vwc) in enumerate(days)]
    for rec in run_water_balance(PARAMS, inputs, START, dr_initial_mm=dr0):
        assert 0.0 <= rec.dr_mm <= rec.taw_mm + 1e-9
        assert 0.0 <= rec.dr_model_mm <= rec.taw_mm + 1e-9
        assert rec.dp_mm >= 0.0 and 0.0 <= rec.ks <= 1.0


def test_stages_can_follow_degree_days():
    """With stages in degree days, Kc moves on with accumulated GDD, not with the calendar."""
    crop = CropCoefficients(l_ini=100, l_dev=100, l_mid=100, l_late=100, kc_ini=0.4, kc_mid=1.2, kc_end=0.6)
    params = BalanceParams(crop=crop, p_table=0.5, theta_fc=0.30, theta_wp=0.15, zr_m=0.6)
    days = [DayInput(START + timedelta(days=i), et0_mm=4.0, gdd=25.0) for i in range(8)]
    records = run_water_balance(params, days, START, stages_in_gdd=True)
    assert records[3].progress == 100.0 and records[3].kc == pytest.approx(0.4)
    assert records[7].progress == 200.0 and records[7].kc == pytest.approx(1.2)
