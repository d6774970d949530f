"""The core HIL scenarios (dry-spell, season) and `furrow hil list|run`, measured end to end."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from furrow.cloud.agronomy.tables import TableError
from furrow.hil.farm import Climate, Crop, Farm, FarmZone, SoilColumn, generate, replay
from furrow.hil.report import scratch_dir
from furrow.hil.scenarios import RunOptions, ScenarioResult, all_scenarios

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("simulated_days", "nodes", "readings_sent", "readings_stored", "readings_lost", "duplicates_stored",
        "irrigation_mm", "stress_days", "commands_issued", "commands_executed_late", "valve_overruns")


def run(name: str, policy: str = "furrow", seed: int = 1) -> ScenarioResult:
    with scratch_dir(f"furrow-test-{name}-") as work:
        return asyncio.run(all_scenarios()[name].run(RunOptions(workdir=Path(work), policy=policy, seed=seed)))


def assert_clean(r: ScenarioResult) -> None:
    """Nothing lost or stored twice, no command late, no valve open too long."""
    assert r.readings_sent > 0 and r.readings_stored == r.readings_sent
    assert (r.readings_lost, r.duplicates_stored) == (0, 0)
    assert (r.commands_executed_late, r.valve_overruns) == (0, 0)


def furrow_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "furrow.cli", "hil", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


@pytest.mark.full
def test_season_furrow_uses_clearly_less_water_than_timer_without_more_stress() -> None:
    """On a 50-node, 120-day season the production planner (PlanningService, signed commands through the gateway's
    relay) waters <= 70 % of the timer's depth, stresses no more, loses nothing, runs nothing late or too long."""
    # the timer run goes through the command line in a second process, so the two use both cores
    cli = subprocess.Popen([sys.executable, "-m", "furrow.cli", "hil", "run", "season", "--policy", "timer", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        furrow = run("season", "furrow")
        out, err = cli.communicate(timeout=600)
    finally:
        cli.kill()
    assert cli.returncode == 0, err
    timer = json.loads(out.strip().splitlines()[-1])
    assert_clean(furrow)
    assert furrow.nodes >= 50 and furrow.simulated_days == 120
    assert furrow.extra["rain_mm"] > 100  # rain events happened
    assert furrow.commands_issued > 0 and furrow.extra["commands_completed"] > 0
    assert timer["policy"] == "timer" and timer["nodes"] == furrow.nodes and timer["simulated_days"] == 120
    assert timer["readings_sent"] == timer["readings_stored"] > 0
    assert [timer[k] for k in ("readings_lost", "duplicates_stored", "commands_executed_late", "valve_overruns")] \
        == [0, 0, 0, 0]
    assert furrow.irrigation_mm <= 0.70 * timer["irrigation_mm"], (furrow.irrigation_mm, timer["irrigation_mm"])
    assert furrow.extra["valve_opens"] == furrow.extra["commands_completed"] and furrow.extra["unexplained_opens"] == 0
    assert set(furrow.extra["planner_rules"]) <= {"below-mad", "mad-reached", "already-irrigating"}  # no "error"
    assert furrow.stress_days <= timer["stress_days"], (furrow.stress_days, timer["stress_days"])


def test_dry_spell_planner_irrigates_through_the_spell_and_the_crop_never_stresses() -> None:
    """Through 21 rainless days the planner's commands open valves, the soil recovers and no zone-day is stressed."""
    r = run("dry-spell")
    assert_clean(r)
    assert r.extra["dry_spell_rain_mm"] == 0
    assert r.extra["dry_spell_irrigation_mm"] > 50  # valves opened in the emulator and wetted the soil
    assert r.stress_days == 0
    assert r.extra["dry_spell_peak_depletion_of_raw"] < 1.0
    assert r.extra["final_depletion_of_raw"] < 1.0  # recovered: back under the threshold at the end


@pytest.mark.full
@pytest.mark.micropython
def test_dry_spell_with_cores_in_real_micropython(micropython: object) -> None:
    """The same dry spell with the firmware cores in the MicroPython runtime: no stress, nothing lost, none late."""
    r = run("dry-spell-micropython")
    assert r.extra["runtime"] == "micropython"
    assert_clean(r)
    assert r.extra["dry_spell_irrigation_mm"] > 50 and r.stress_days == 0


def test_hil_list_names_every_core_scenario() -> None:
    """`furrow hil list` prints each scenario with its summary, the core ones included."""
    p = furrow_cli("list")
    assert p.returncode == 0, p.stderr
    names = [line.split()[0] for line in p.stdout.splitlines() if line.strip()]
    assert {"dry-spell", "dry-spell-micropython", "season"} <= set(names)
    assert names == list(all_scenarios())


@pytest.mark.full
def test_hil_run_json_prints_the_promised_keys_as_its_last_line() -> None:
    """`furrow hil run dry-spell --json` ends with one JSON object holding every promised key; progress on stderr."""
    p = furrow_cli("run", "dry-spell", "--policy", "timer", "--seed", "2", "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert set(KEYS) <= set(summary)
    assert summary["policy"] == "timer" and summary["readings_lost"] == 0
    assert "day 10/75" in p.stderr


@pytest.mark.full
def test_hil_run_writes_a_report_folder_with_plots(tmp_path: Path) -> None:
    """Without --json a report folder holds report.md, summary.json and PNG plots, and its path is printed."""
    out = tmp_path / "report"
    p = furrow_cli("run", "dry-spell", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert Path(p.stdout.strip().splitlines()[-1]) == out / "report.md"
    text = (out / "report.md").read_text()
    assert "stress_days" in text and "![depletion.png](depletion.png)" in text
    for png in ("depletion.png", "water.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "summary.json").read_text())["readings_lost"] == 0


def test_hil_run_unknown_scenario_names_the_choices() -> None:
    """A bad scenario name fails with status 2 and lists the scenarios there are."""
    p = furrow_cli("run", "no-such-scenario")
    assert p.returncode == 2
    assert "unknown scenario 'no-such-scenario'" in p.stderr and "dry-spell" in p.stderr and "season" in p.stderr


# -- the virtual farm's documented dynamics ---------------------------------------------------

def _farm(days: int = 30, **climate: object) -> Farm:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    weather = generate(start.date(), days + 1, 5, Climate(**climate))  # type: ignore[arg-type]
    return Farm([FarmZone("z", SoilColumn.uniform(0.30, 0.14, 60), Crop())], weather, start)


def _stored_mm(soil: SoilColumn) -> float:
    return sum(layer.theta * layer.thickness_mm for layer in soil.layers)


def test_soil_water_balances_and_never_falls_below_the_wilting_point() -> None:
    """Over 60 rainless days: storage change = infiltration - ET - drainage, and θ stays at or above θWP."""
    farm = _farm(60, dry_spell=(0, 61))
    soil = farm.zones["z"].soil
    before = _stored_mm(soil)
    farm.advance(farm.start_s + 60 * 86_400)
    t = soil.totals
    assert _stored_mm(soil) == pytest.approx(before + t["infiltrated"] - t["et"] - t["drained"], abs=1e-6)
    assert all(layer.theta >= soil.theta_wp - 1e-12 for layer in soil.layers)
    assert farm.zones["z"].days[-1].depletion_end_mm > 40  # the crop dried the root zone
    assert sum(d.stressed for d in farm.zones["z"].days) > 0  # and, unwatered, it stressed


def test_valve_open_time_times_flow_over_the_area_reaches_the_soil() -> None:
    """A valve open 30 min at 12 mm/h puts 6 mm on its zone; the run is recorded with its litres."""
    farm = _farm(2)
    farm.connect_valve("irr-1", 1, "z", 12.0)
    farm.advance(farm.start_s + 3600)
    farm.set_valve("irr-1", 1, True)
    assert farm.valve_flow_l_min("irr-1") == pytest.approx(12.0 * 1000 / 60)
    farm.advance(farm.start_s + 3600 + 1800)
    farm.set_valve("irr-1", 1, False)
    assert farm.zones["z"].irrigated_mm == pytest.approx(6.0)
    (run_,) = farm.runs
    assert (run_.end_s - run_.start_s, run_.litres) == (1800, pytest.approx(6000.0))


def test_weather_generator_is_repeatable_and_the_dry_spell_is_dry() -> None:
    """The same seed gives the same season; the dry spell has no rain and ET0 comes from FAO-56."""
    a = generate(datetime(2026, 5, 1).date(), 90, 7, Climate(dry_spell=(30, 20)))
    b = generate(datetime(2026, 5, 1).date(), 90, 7, Climate(dry_spell=(30, 20)))
    assert a == b
    assert sum(d.rain_mm for d in a[30:50]) == 0 and sum(d.rain_mm for d in a) > 0
    assert all(2.0 < d.et0_mm < 9.0 for d in a)


def test_weather_replay_reads_an_et0_station_csv_and_names_a_bad_cell(tmp_path: Path) -> None:
    """Daily and hourly `furrow agro et0` CSVs with rain replay as days; a bad cell names its row and column."""
    good = tmp_path / "station.csv"
    good.write_text("date,tmin_c,tmax_c,rh_min_pct,rh_max_pct,wind_ms,rs_mj_m2,rain_mm\n"
                    "2026-07-01,16.0,31.0,35,85,2.1,27.5,0\n2026-07-02,17.0,25.0,60,95,1.5,12.0,14.2\n")
    days = replay(good, Climate().site)
    assert [d.rain_mm for d in days] == [0.0, 14.2]
    assert days[0].et0_mm > days[1].et0_mm > 0
    hourly = tmp_path / "hourly.csv"
    rows = [f"2026-07-01T{h:02d}:00+00:00,{18 + 8 * (h >= 12):.1f},60,2.0,{1.5 * (8 <= h <= 18):.1f},"
            f"{2.0 * (h == 15):.1f}" for h in range(1, 24)]
    hourly.write_text("time,temp_c,rh_pct,wind_ms,rs_mj_m2,rain_mm\n" + "\n".join(rows) + "\n")
    (day,) = replay(hourly, Climate().site)  # folded into one day
    assert (day.weather.tmin_c, day.weather.tmax_c, day.rain_mm) == (18.0, 26.0, 2.0)
    assert day.weather.rs_mj_m2 == pytest.approx(1.5 * 11) and day.et0_mm > 0
    bad = tmp_path / "bad.csv"
    bad.write_text("date,tmin_c,tmax_c\n2026-07-01,16.0,hot\n")
    with pytest.raises(TableError, match="row 2, column 'tmax_c'"):
        replay(bad, Climate().site)
