"""A season worked by hand from FAO-56's chapter-8 equations (Examples 35/36 scheduling), against
Furrow's water balance.

FAO-56 works irrigation scheduling in chapter 8 (Examples 35 and 36: TAW, RAW, Ks and the daily
depletion Dr, irrigating when Dr reaches RAW) but prints no season. tests/data/agro/season_fao56.csv
is not the paper's: it is a 55-day season worked from the paper's equations by
`hand_worked_season` below, a plain transcription of eq. 66, 58, table 22, 82-88 in the order the
paper gives them, which imports nothing from Furrow. It was written by the same author as the
code under test, so it guards against slips in the code (a wrong equation, a term in the wrong
order), not against a shared misreading of the paper. The CSV's header comments say how every
column was derived. The test checks twice:

1. the CSV is what the transcription gives (so the table is traceable to the equations);
2. Furrow's run_water_balance, fed the same ET0, rain and irrigation, reproduces every column.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest

from furrow.cloud.agronomy.crop import CropCoefficients
from furrow.cloud.agronomy.water_balance import BalanceParams, DayInput, run_water_balance

DATA = Path(__file__).parent / "data" / "agro" / "season_fao56.csv"

# The season (FAO-56 tables 11/12-like values for a 55-day field crop; constant root depth)
L = (10, 15, 20, 10)  # L_ini, L_dev, L_mid, L_late [days]
KC = (0.35, 1.15, 0.45)  # Kc_ini, Kc_mid, Kc_end
P_TABLE = 0.5
THETA_FC, THETA_WP, ZR = 0.32, 0.12, 0.5
DR0 = 20.0  # depletion on the eve of planting [mm]
PLANTING = date(2026, 4, 1)
RAIN = {8: 12.0, 20: 0.6, 33: 25.0, 47: 40.0}  # day -> mm; day 20's is under 0.2 ET0
NO_WATER_DAYS = range(38, 45)  # a pump failure: no irrigation, so the crop is stressed (Ks < 1)
COLUMNS = ("day", "date", "et0_mm", "kc", "etc_mm", "p", "raw_mm", "ks", "etc_adj_mm", "rain_mm", "p_eff_mm",
           "irrigation_mm", "dp_mm", "dr_mm")


def et0_of(i: int) -> float:
    """A varied but reproducible ET0 [mm/day]: 4.0, 4.5, 5.0, 5.5, 6.0 in the order 7i mod 5."""
    return 4.0 + ((7 * i) % 5) * 0.5


def hand_worked_season() -> list[dict[str, float | str | int]]:
    """FAO-56 ch. 8, day by day, irrigating as Example 35/36 do: when Dr at the end of the
    previous day exceeds the day's RAW, the day starts with a net irrigation refilling the root
    zone to field capacity (I = Dr,i-1), except during the pump failure."""
    taw = 1000.0 * (THETA_FC - THETA_WP) * ZR  # eq. 82: 100 mm
    l_ini, l_dev, l_mid, l_late = L
    kc_ini, kc_mid, kc_end = KC
    rows = []
    dr_prev = DR0
    for i in range(1, sum(L) + 1):
        # eq. 66: Kc constant in the initial and mid stages, linear in between
        if i <= l_ini:
            kc = kc_ini
        elif i <= l_ini + l_dev:
            kc = kc_ini + (i - l_ini) / l_dev * (kc_mid - kc_ini)
        elif i <= l_ini + l_dev + l_mid:
            kc = kc_mid
        else:
            kc = kc_mid + (i - l_ini - l_dev - l_mid) / l_late * (kc_end - kc_mid)
        et0 = et0_of(i)
        etc = kc * et0  # eq. 58
        p = min(0.8, max(0.1, P_TABLE + 0.04 * (5.0 - etc)))  # table 22, footnote
        raw = p * taw  # eq. 83
        ks = 1.0 if dr_prev <= raw else (taw - dr_prev) / (taw - raw)  # eq. 84
        etc_adj = ks * etc  # eq. 80
        rain = RAIN.get(i, 0.0)
        p_eff = rain if rain >= 0.2 * et0 else 0.0  # ch. 8 "Precipitation": small rain evaporates
        irrigation = dr_prev if dr_prev > raw and i not in NO_WATER_DAYS else 0.0
        dp = max(0.0, p_eff + irrigation - etc_adj - dr_prev)  # eq. 88
        dr = min(taw, max(0.0, dr_prev - p_eff - irrigation + etc_adj + dp))  # eq. 85-87, CR = RO = 0
        rows.append({"day": i, "date": (PLANTING + timedelta(days=i - 1)).isoformat(), "et0_mm": et0, "kc": kc,
                     "etc_mm": etc, "p": p, "raw_mm": raw, "ks": ks, "etc_adj_mm": etc_adj, "rain_mm": rain,
                     "p_eff_mm": p_eff, "irrigation_mm": irrigation, "dp_mm": dp, "dr_mm": dr})
        dr_prev = dr
    return rows


def printed_table() -> list[dict[str, str]]:
    with DATA.open() as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def test_the_table_is_the_papers_equations_worked_day_by_day():
    """Every printed number of season_fao56.csv (worked by hand from FAO-56's chapter-8 equations) is the
    transcription's, to the 3 decimals printed."""
    table = printed_table()
    worked = hand_worked_season()
    assert len(table) == len(worked) == 55
    for row, ref in zip(table, worked, strict=True):
        assert row["date"] == ref["date"]
        for name in COLUMNS[2:]:
            assert abs(float(row[name]) - float(ref[name])) <= 0.0005 + 1e-9, (row["day"], name)


def test_the_season_exercises_every_term():
    """The season has stress (Ks < 1), deep percolation, ignored small rain and refills."""
    table = printed_table()
    assert any(float(r["ks"]) < 1.0 for r in table)
    assert any(float(r["dp_mm"]) > 0.0 for r in table)
    assert any(float(r["rain_mm"]) > 0.0 and float(r["p_eff_mm"]) == 0.0 for r in table)
    assert sum(float(r["irrigation_mm"]) > 0 for r in table) >= 3


def test_run_water_balance_reproduces_the_hand_worked_season():
    """Furrow's balance, fed the hand-worked season's ET0, rain and irrigation, gives its Kc, p, RAW, Ks,
    ETc adj, DP and Dr on all 55 days within 0.001 (the table's printed precision)."""
    table = printed_table()
    crop = CropCoefficients(*L, *KC)
    params = BalanceParams(crop=crop, p_table=P_TABLE, theta_fc=THETA_FC, theta_wp=THETA_WP, zr_m=ZR)
    days = [DayInput(date.fromisoformat(r["date"]), float(r["et0_mm"]), float(r["rain_mm"]),
                     float(r["irrigation_mm"])) for r in table]
    records = run_water_balance(params, days, PLANTING, dr_initial_mm=DR0)
    for rec, row in zip(records, table, strict=True):
        got = {"kc": rec.kc, "etc_mm": rec.etc_mm, "p": rec.p, "raw_mm": rec.raw_mm, "ks": rec.ks,
               "etc_adj_mm": rec.etc_adj_mm, "p_eff_mm": rec.p_eff_mm, "dp_mm": rec.dp_mm, "dr_mm": rec.dr_mm}
        for name, value in got.items():
            assert value == pytest.approx(float(row[name]), abs=0.0011), (row["day"], name)
        assert rec.taw_mm == pytest.approx(100.0)


if __name__ == "__main__":  # writes the table (python -m tests.test_agro_season)
    header = """\
# A 55-day season of the FAO-56 chapter 8 single-coefficient water balance, worked day by day.
# Derived by tests/test_agro_season.py::hand_worked_season, a transcription of the paper's
# equations that imports nothing from Furrow:
#   TAW = 1000 (θFC - θWP) Zr = 1000 (0.32 - 0.12) 0.5 = 100 mm                      (eq. 82)
#   Kc: L 10/15/20/10 days, Kc 0.35/1.15/0.45, day i from planting (i = 1 on 2026-04-01) (eq. 66)
#   ETc = Kc ET0 (eq. 58); p = 0.5 + 0.04 (5 - ETc) within 0.1..0.8 (table 22); RAW = p TAW (eq. 83)
#   Ks = 1 when Dr,i-1 <= RAW, else (TAW - Dr,i-1)/(TAW - RAW)                          (eq. 84)
#   ETc adj = Ks Kc ET0                                                                 (eq. 80)
#   P eff = P when P >= 0.2 ET0, else 0 (ch. 8, "Precipitation"); RO = CR = 0
#   I = Dr,i-1 (refill to field capacity) when Dr,i-1 > RAW, as in Examples 35/36,
#       except days 38-44 (a pump failure, so the crop is stressed)
#   DP = max(0, P eff + I - ETc adj - Dr,i-1)                                           (eq. 88)
#   Dr,i = Dr,i-1 - P eff - I + ETc adj + DP, within 0..TAW; Dr,0 = 20 mm              (eq. 85-87)
# ET0 = 4.0 + 0.5 (7 i mod 5) mm/day; rain 12 mm (day 8), 0.6 (day 20), 25 (day 33), 40 (day 47).
# Numbers are printed to 3 decimals.
"""
    with DATA.open("w", newline="") as f:
        f.write(header)
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in hand_worked_season():
            w.writerow([r["day"], r["date"], *(f"{float(r[c]):.3f}" for c in COLUMNS[2:])])
