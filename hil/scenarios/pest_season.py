"""pest-season: a corn borer population flies by degree days onto a trap camera's card; the cloud
counts the photos, sets the biofix, forecasts the next generation and raises the species alert in time.

The virtual farm's weather runs from 1 January (a continental summer, hil/farm/weather.py); a European
corn borer population (hil/farm/moth_flights.py) develops on its true daily temperatures and flies as
the University of Wisconsin's table dates the spring and summer flights. From 1 May a pheromone trap
with a white liner stands in zone `north`, watched by a camera node (the real camera core and driver
over the virtual card, hil/trap_camera.py) that photographs it every morning at 06:00; a technician
puts in a fresh liner every seventh morning, after the photo. A weather station reports every hour.
Everything runs on the production services (hil/runtime.py): photos go chunk by chunk through the
gateway's image store to the cloud's image ingest and the counter, readings through the gateway's
buffer and forwarder; the alert job runs after each morning's photo.

Held against the simulated truth (`judge`), with the tolerances the docs state (docs/hil.md):

* biofix: the cloud's (first of two checks in a row with a moth, from its counts) against the same
  rule on the moths truly caught: within `BIOFIX_DAYS`;
* alert: the first `pest-species` alert against the first morning the liner's true catch of the last
  seven days reached the species' action threshold (60 moths a week): within `ALERT_DAYS`;
* control window: on the morning of the alert, the cloud's date for the end of the first
  generation's control window (the third instar, 180.6 °C·d after the biofix) against the day the
  farm's true weather makes that many degree days from the true biofix: within `WINDOW_DAYS`;
* generation forecast: the cloud's date for the second generation's egg hatch (570 + 55.6 °C·d after
  the biofix) against the same truth, two weeks ahead of it (`LEAD_DAYS`): within `FORECAST_DAYS`
  (the full season only);
* the forecast past the weather week: on the morning of the alert, every stage the cloud dates from
  the site's climate normals (the next generation's, some three to nine weeks ahead) against the day
  the true weather makes its degree days from the true biofix: the truth within the cloud's own
  range for that date (`early`..`late`, every day from the normals on one standard deviation warmer
  or cooler), widened by `NORMALS_SLACK_DAYS` for the biofix's own tolerance. Why that bound holds:
  the farm's daily anomaly is a first-order autoregression (hil/farm/weather.py, keep 0.7, SD 1.5 °C
  a step, so 2.1 °C a day), whose mean over n days has an SD of about 2.1 × sqrt(1.7 / 0.3 / n) °C,
  0.9 °C over five weeks (a little more with the wet days' 1.5 °C), where the range moves every day by
  a day's whole SD (Tmax 2.6, Tmin 2.1 °C in summer): a season outside it is between two and three SDs
  of the generator away. Every morning's normals-based dates are reported too (`normals_*`).

The cloud reads a week's forecast of the farm's weather (hil/farm/forecast.py, skill 0.8: temperatures
within about ±0.5 °C) through its file provider, written at 05:00 each morning, as a weather service
would publish it; past that week it reads the site's climate normals, which the agronomist imports as
a farm would (`PestService.put_normals`, the API the demo uses): the virtual farm's true ones, 30
simulated years of the same climate (hil/farm/normals.py).

`run_season(options, until)` stops early (the fast test runs to a few days after the alert);
`SCENARIO` runs to 10 August, through the summer flight.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from furrow.cloud.agronomy.crop import gdd_modified_average
from furrow.cloud.agronomy.phenology import Basis
from furrow.cloud.pests import TrapIn
from furrow.cloud.registry.models import FieldIn, NodeIn, SiteIn, ZoneIn
from furrow.edge.image import DEFAULT_CHUNK_BYTES
from furrow.firmware.camera_node import CameraNode
from furrow.firmware.drivers.camera import Camera
from furrow.firmware.image_store import ImageStore
from furrow.firmware.seqstore import SeqStore
from furrow.hil.clock import SimClock
from furrow.hil.farm import Climate, Crop, Farm, FarmZone, ForecastOracle, SoilColumn, generate
from furrow.hil.farm.moth_flights import ECB_LOWER_C, ECB_UPPER_C, MothFlights
from furrow.hil.farm.normals import true_normals
from furrow.hil.farm.trap_card import CardKind, Look, TrapCard, bycatch, moth
from furrow.hil.fleet import CPythonFleet, NodeSpec
from furrow.hil.runtime import FarmRuntime
from furrow.hil.scenarios import RunOptions, Scenario, ScenarioResult
from furrow.hil.trap_camera import TrapCamera
from furrow.hil.verdict import Ledger, account, stored_readings

SPECIES = "ostrinia-nubilalis"
JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
TRAPS_OUT = datetime(2026, 5, 1, tzinfo=UTC)
END = datetime(2026, 8, 10, tzinfo=UTC)
CLIMATE = Climate(mean_temp_c=13.0, seasonal_amp_c=12.0)  # about 1 °C in January, 25 °C late in July
CAMERA, STATION, ZONE = "cam-01", "wx-01", "north"
PHOTO_HOUR, CARD_DAYS = 6, 7
FORECAST_HOUR, FORECAST_AHEAD, FORECAST_SKILL = 5, 7, 0.8  # a week's forecast, temperatures ±0.5 °C
FOREWING_MM, WINGSPAN_MM = (13.0, 17.0), (20.0, 32.0)  # species.py, card: the corn borer's sizes
BYCATCH_PER_NIGHT = 0.5
LOOK = Look(glare=1, dust=12, blur_px=0.5, jpeg_quality=85)
BIOFIX_DAYS, ALERT_DAYS = 1, 2
WINDOW_DAYS = 2  # the control window's end forecast on the morning of the alert
LEAD_DAYS, FORECAST_DAYS = 14, 3  # gen 2's egg hatch forecast two weeks ahead of the true date
WINDOW_END_DD = 325 * 5 / 9  # the table's third instar: the end of the control window, °C·d after the biofix
HATCH_DD = 570.0 + 100 * 5 / 9  # the table's generation plus egg hatch, °C·d after the biofix
NORMALS_SLACK_DAYS = BIOFIX_DAYS  # the cloud's dates count from its biofix, the truth's from the true one


def _registry() -> list[Any]:
    return [SiteIn(id="farm", name="Pest farm", timezone="UTC"), FieldIn(id="f1", site_id="farm", name="F1"),
            ZoneIn(id=ZONE, field_id="f1", name="North", area_ha=1.0, soil_texture="loam", field_capacity_pct=30,
                   wilting_point_pct=15, root_depth_cm=60, crop="maize", precip_rate_mm_h=12),
            NodeIn(id=STATION, role="weather", zone_id=ZONE), NodeIn(id=CAMERA, role="camera", zone_id=ZONE)]


class PestFarm:
    """The farm, its moths, the trap camera and the station, the production services, on one clock."""

    def __init__(self, options: RunOptions) -> None:
        days = generate(JAN1.date(), (END - JAN1).days + 1, options.seed, CLIMATE)
        self.truth_weather = {d.weather.day: (d.weather.tmin_c, d.weather.tmax_c) for d in days}
        self.moths = MothFlights(rng=random.Random(options.seed))
        skip = (TRAPS_OUT - JAN1).days
        for d in days[:skip]:  # the winter and spring before the traps go out: the moths develop
            self.moths.day(d.weather.day, d.weather.tmin_c, d.weather.tmax_c)
        self.clock = SimClock(TRAPS_OUT)
        self.farm = Farm([FarmZone(ZONE, SoilColumn.uniform(0.3, 0.15, 60), Crop())], days[skip:], TRAPS_OUT)
        self.fleet = CPythonFleet([NodeSpec(STATION, "weather", 3600)], self.farm, self.clock,
                                  options.workdir / "nodes")
        self.card = TrapCard(CardKind.WHITE_PHEROMONE)
        self.sensor = TrapCamera(lambda: self.card, seed=options.seed, look=LOOK)
        flash = options.workdir / "flash"
        flash.mkdir(parents=True, exist_ok=True)
        self.camera = CameraNode(CAMERA, Camera(self.sensor, "vga"), ImageStore(str(flash / "cam.images")),
                                 SeqStore(str(flash / "cam.seq")), kind="trap", fw="0.1.0", interval_ms=86_400_000,
                                 chunk_bytes=DEFAULT_CHUNK_BYTES)
        self.rng = random.Random(options.seed + 11)
        # a weather service's forecast of the farm's next days, read through the cloud's file provider
        self.oracle = ForecastOracle(days[skip:], skill=FORECAST_SKILL, seed=options.seed, ahead=FORECAST_AHEAD)
        self.forecast_file = options.workdir / "forecast.json"
        self.workdir = options.workdir
        self.ledger = Ledger()
        self.rt: FarmRuntime
        self.caught: list[tuple[date, int]] = []  # (photo day, moths truly caught since the photo before)
        self.alert_day: date | None = None
        self.forecasts: dict[date, dict[tuple[str, int], date | None]] = {}  # stage dates, each morning
        self.from_normals: dict[date, list[NormalsDate]] = {}  # the dates from the normals, each morning
        self._tonight = 0.0  # the mean catch per trap of the coming night

    async def open(self) -> None:
        self.oracle.write(self.forecast_file, "farm", self.clock.now())
        self.rt = await FarmRuntime.open(self.workdir / "farm", self.clock.ms, site="farm", gateway="gw-1",
                                         forecast_file=self.forecast_file)
        await self.rt.register(*_registry())
        # the agronomist imports the site's climate normals, as the demo does (the farm's true ones)
        await self.rt.services.pests.put_normals("farm", *true_normals(CLIMATE, "the pest scenario's farm"),
                                                 "agronomist")
        await self.rt.services.pests.put_trap(CAMERA, 1, TrapIn(card=CardKind.WHITE_PHEROMONE, lure=SPECIES,
                                                                view_width_mm=self.card.width_mm), "tech")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.rt.close()
        self.fleet.close()

    async def day(self) -> None:
        """One day from midnight: the station every hour, the night's moths on the card, the photo at
        06:00 through the gateway, the alert job; at midnight the moths develop by the day's weather."""
        today = self.clock.now().date()
        midnight = datetime.combine(today, datetime.min.time(), UTC)
        for hour in range(24):
            self.clock.advance_to((midnight + timedelta(hours=hour)).timestamp())
            self.farm.advance(self.clock.s())
            for up, data in self.fleet.step(self.clock.ms(), [STATION], [], {}).uplinks:
                self.ledger.uplink(up)
                self.rt.receive(data)
            if hour == FORECAST_HOUR:
                self.oracle.write(self.forecast_file, "farm", self.clock.now())
            if hour == PHOTO_HOUR:
                await self._morning(today)
        tmin, tmax = self.truth_weather[today]
        self._tonight = self.moths.day(today, tmin, tmax)
        self.clock.advance_to((midnight + timedelta(days=1)).timestamp())

    async def _morning(self, today: date) -> None:
        caught = self.moths.catch(self._tonight)
        for _ in range(caught):
            m = moth(self.rng, 0, 0, FOREWING_MM, WINGSPAN_MM)
            x, y = self.card.place(self.rng, m.length_mm)
            self.card.insects.append(replace(m, x_mm=x, y_mm=y))
        for _ in range(self.moths.catch(BYCATCH_PER_NIGHT)):
            self.card.insects.append(bycatch(self.rng, *self.card.place(self.rng, 3.0)))
        self.caught.append((today, caught))
        self.camera.tick(self.clock.ms())
        while (chunk := self.camera.next_chunk(self.clock.ms())) is not None:
            answer = self.rt.receive_chunk(bytes(chunk))
            self.camera.sent(self.clock.ms())
            if answer is not None:
                self.camera.on_image_ack(answer, self.clock.ms())
        await self.rt.forward()
        await self.rt.evaluate_alerts()
        if self.alert_day is None and await self._species_alert():
            self.alert_day = today
        season = await self.season()
        if season and season["biofix"]:
            self.forecasts[today] = season["stages"]
            self.from_normals[today] = season["normals"]
        if len(self.caught) % CARD_DAYS == 0:
            self.card.replace()

    async def _species_alert(self) -> bool:
        return any(a.kind == "pest-species" and a.zone == ZONE for a in await self.rt.services.alerts.list())

    async def season(self) -> dict[str, Any] | None:
        seasons = await self.rt.services.pests.zone_seasons(ZONE)
        return next((_season_view(s) for s in seasons if s.species == SPECIES), None)


NormalsDate = tuple[str, int, float, date, date, date]
"""A stage dated from the normals: (name, generation, °C·d after the biofix, day, early, late)."""


def _season_view(s: Any) -> dict[str, Any]:
    return {"biofix": s.biofix, "degree_days": s.degree_days, "beyond_forecast": s.beyond_forecast,
            "stages": {(st.name, st.generation): st.day for st in s.stages},
            "normals": [(st.name, st.generation, st.dd, st.day, st.early, st.late) for st in s.stages
                        if st.basis is Basis.NORMAL and st.day and st.early and st.late]}


async def run_season(options: RunOptions, until: datetime = END, stop_days_after_alert: int | None = None,
                     ) -> ScenarioResult:
    """The season to `until`, or to `stop_days_after_alert` mornings after the species alert."""
    f = PestFarm(options)
    try:
        await f.open()
        options.progress(f"pest-season: trap and station out {TRAPS_OUT.date()}, seed {options.seed}")
        while f.clock.now() < until:
            await f.day()
            if (stop_days_after_alert is not None and f.alert_day is not None
                    and f.clock.now().date() > f.alert_day + timedelta(days=stop_days_after_alert)):
                break
        await f.rt.forward()  # what the station reported since the morning
        final = await f.season()
        counts = await f.rt.services.pests.counts(node=CAMERA)
        readings = account(f.ledger.readings, await stored_readings(f.rt.services.store, f.ledger.nodes))
    finally:
        await f.close()
    return judge(f, final, [c.target for c in counts], readings)


def first_sustained(caught: list[tuple[date, int]], in_a_row: int = 2) -> date | None:
    """The species' biofix rule on the true catches: the first of `in_a_row` checks each with a moth."""
    run: list[date] = []
    for day, n in caught:
        run = run + [day] if n >= 1 else []
        if len(run) >= in_a_row:
            return run[0]
    return None


def first_week_over(caught: list[tuple[date, int]], threshold: float = 60) -> date | None:
    """The first check day whose seven days (it and the six before) truly caught `threshold` moths."""
    for day, _ in caught:
        if sum(n for d, n in caught if day - timedelta(days=6) <= d <= day) >= threshold:
            return day
    return None


def day_reaching(weather: dict[date, tuple[float, float]], start: date, dd: float, lower: float, upper: float,
                 ) -> date | None:
    """The day the true weather's modified degree days from `start` (inclusive) reach `dd`."""
    total, day = 0.0, start
    while day in weather:
        total += gdd_modified_average(*weather[day], lower, upper)
        if total >= dd - 1e-6:
            return day
        day += timedelta(days=1)
    return None


def _days(a: date | None, b: date | None) -> int | None:
    return None if a is None or b is None else (a - b).days


def normals_against_truth(f: PestFarm, truth_biofix: date | None) -> dict[str, Any]:
    """Every stage the cloud dated from the normals, each morning, against the day the true weather makes
    its degree days from the true biofix (stages past the simulated weather are left out and counted):
    the alert morning's one by one, all mornings' summed up (module docstring)."""
    slack = timedelta(days=NORMALS_SLACK_DAYS)
    rows: list[dict[str, Any]] = []
    past_truth = 0
    for morning, dates in f.from_normals.items():
        for name, gen, dd, day, early, late in dates:
            truth = (day_reaching(f.truth_weather, truth_biofix, dd, ECB_LOWER_C, ECB_UPPER_C)
                     if truth_biofix else None)
            if truth is None:
                past_truth += 1
                continue
            rows.append({"morning": str(morning), "stage": f"{name} {gen}", "forecast": str(day), "early": str(early),
                         "late": str(late), "truth": str(truth), "error_days": (day - truth).days,
                         "ahead_days": (day - morning).days, "inside": early - slack <= truth <= late + slack})
    on_alert = [r for r in rows if f.alert_day and r["morning"] == str(f.alert_day)]
    errors = [abs(r["error_days"]) for r in rows]
    return {"normals_on_alert": on_alert, "normals_on_alert_outside": sum(not r["inside"] for r in on_alert),
            "normals_dates": len(rows), "normals_dates_past_the_season": past_truth,
            "normals_inside_share": round(sum(r["inside"] for r in rows) / len(rows), 3) if rows else None,
            "normals_mae_days": round(sum(errors) / len(errors), 2) if errors else None,
            "normals_max_error_days": max(errors, default=None),
            "normals_bias_days": round(sum(r["error_days"] for r in rows) / len(rows), 2) if rows else None,
            "normals_range_days_median": (sorted((date.fromisoformat(r["late"]) - date.fromisoformat(r["early"])).days
                                                 for r in rows)[len(rows) // 2] if rows else None)}


def judge(f: PestFarm, final: dict[str, Any] | None, counted: list[int], readings: Any) -> ScenarioResult:
    """The cloud's biofix, alert and forecast against the truth (module docstring); counts per photo."""
    truth_biofix = first_sustained(f.caught)
    truth_alert = first_week_over(f.caught)
    truth_hatch2 = (day_reaching(f.truth_weather, truth_biofix, HATCH_DD, ECB_LOWER_C, ECB_UPPER_C)
                    if truth_biofix else None)
    cloud_biofix = final["biofix"] if final else None
    truth_window_end = (day_reaching(f.truth_weather, truth_biofix, WINDOW_END_DD, ECB_LOWER_C, ECB_UPPER_C)
                        if truth_biofix else None)
    on_alert = f.forecasts.get(f.alert_day, {}) if f.alert_day else {}
    near = truth_hatch2 - timedelta(days=LEAD_DAYS) if truth_hatch2 else None
    forecast_near = f.forecasts.get(near, {}).get(("egg hatch", 2)) if near else None
    truths = f.sensor.truths
    errors = [c - t for c, t in zip(counted, truths, strict=False)]
    extra: dict[str, object] = {
        "photos": len(truths), "photos_counted": len(counted),
        "moths_caught": sum(n for _, n in f.caught), "most_on_a_card": max(truths, default=0),
        "count_mae_per_photo": round(sum(abs(e) for e in errors) / len(errors), 2) if errors else None,
        "count_bias_per_photo": round(sum(errors) / len(errors), 2) if errors else None,
        "count_error_share": round(sum(abs(e) for e in errors) / max(1, sum(truths)), 3),
        "biofix_truth": str(truth_biofix), "biofix_cloud": str(cloud_biofix),
        "biofix_error_days": _days(cloud_biofix, truth_biofix),
        "alert_truth": str(truth_alert), "alert_cloud": str(f.alert_day),
        "alert_error_days": _days(f.alert_day, truth_alert),
        "window_end_truth": str(truth_window_end), "window_end_forecast": str(on_alert.get(("third instar", 1))),
        "window_end_error_days": _days(on_alert.get(("third instar", 1)), truth_window_end),
        "gen2_hatch_truth": str(truth_hatch2), "gen2_hatch_forecast": str(on_alert.get(("egg hatch", 2))),
        "gen2_hatch_forecast_error_days": _days(on_alert.get(("egg hatch", 2)), truth_hatch2),
        f"gen2_hatch_forecast_{LEAD_DAYS}d_ahead": str(forecast_near),
        f"gen2_hatch_forecast_{LEAD_DAYS}d_error_days": _days(forecast_near, truth_hatch2),
        "summer_flight_first_moths": str(f.moths.first_moths(1)),
        "beyond_forecast": final["beyond_forecast"] if final else None,
        **normals_against_truth(f, truth_biofix),
        "tolerance_days": {"biofix": BIOFIX_DAYS, "alert": ALERT_DAYS, "window_end": WINDOW_DAYS,
                           f"gen2_forecast_{LEAD_DAYS}d": FORECAST_DAYS,
                           "from_normals": f"the cloud's early..late ± {NORMALS_SLACK_DAYS}"},
    }
    if final and final["stages"].get(("egg hatch", 2)) and truth_hatch2 and truth_hatch2 < f.clock.now().date():
        extra["gen2_hatch_final_error_days"] = _days(final["stages"][("egg hatch", 2)], truth_hatch2)
    days = (f.clock.now() - TRAPS_OUT).total_seconds() / 86400
    return ScenarioResult(
        simulated_days=round(days, 2), nodes=2, readings_sent=readings.sent, readings_stored=readings.stored,
        readings_lost=readings.lost, duplicates_stored=readings.duplicates, irrigation_mm=0.0, stress_days=0,
        commands_issued=0, commands_executed_late=0, valve_overruns=0, extra=extra,
        series={"moths caught per night": ([float(i) for i in range(len(f.caught))], [float(n) for _, n in f.caught]),
                "moths counted on the card": ([float(i) for i in range(len(counted))], [float(c) for c in counted])})


async def run(options: RunOptions) -> ScenarioResult:
    return await run_season(options)


SCENARIO = Scenario("pest-season", "a corn borer population flies by degree days onto a trap camera's liners; the "
                    "cloud's counts, biofix, generation forecast and species alert against the simulated truth", run)
