"""The demo farm: what a technician registers, and the virtual farm those entries describe.

One description serves both, so the registry and the farm cannot disagree: each zone's area
and precipitation rate make the flow its valve draws in the farm and the flow the cloud
expects; its field capacity and wilting point make the farm's soil and the planner's TAW;
its crop coefficients are the farm crop's.

The farm is a maize farm sown at the start of the simulated weeks. It is placed where maize
grows on the day the demo runs, so the sun and the temperatures the weather station reports
are a growing season's (the cloud computes ET0 from the site's latitude and the date):

* April to September: near Wuwei, Gansu (37.93° N, 102.64° E, 1530 m), an oasis of the Hexi
  corridor whose spring maize lives on irrigation;
* October to March: near Griffith, New South Wales (34.29° S, 146.05° E, 130 m), in the
  Murrumbidgee Irrigation Area, where maize is sown in spring (October-November).

Both are dry, so the weather generator's rain is sparse (hil/farm/weather.py `Climate`).

Layout (every zone its valve; one pump, so one zone runs at a time):

    site demo ── field home ─┬─ zone north: 2.0 ha loam, maize      soil-01 (10, 30, 60 cm, MQTT JSON)
                             │                                       soil-02 (10, 30 cm, MQTT binary)
                             │                                       weather-01 (with a red/NIR pair: NDVI),
                             │                                       pest-01 (2 traps), cam-north,
                             │                                       trap-north (a camera over a lured trap)
                             └─ zone south: 1.5 ha sandy loam, maize soil-03 (10, 30, 60 cm, RS-485),
                                                                     cam-south
    irr-01 (MQTT): valve 1 waters north, valve 2 waters south, 5 mm/h sprinklers, one flow meter

Pests are watched as on a farm (`pest_traps`): pest-01's first counter and a pheromone trap whose liner
the camera trap-north photographs each morning are lured for the cotton bollworm (Helicoverpa armigera),
the maize pest of both places; the farm's pest population (hil/farm/pests.py: above 10 °C, about 550 °C·d
a generation) is like it (the species table's 10.7 °C and 521 °C·d). The cloud counts the liner's photos,
sets the biofix from the traps and forecasts the species' stages on the north block's page.

The crop's growth is seen as on a farm (`growth_nodes`): a camera over each zone photographs its
canopy at noon (the cloud measures each photo's green cover), and the weather station's reflectance
pair looks down on the north block (its NDVI).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from furrow.hil.farm import MAIZE, Climate, Crop, Farm, FarmZone, PestPopulation, SoilColumn, generate
from furrow.hil.farm.crop import MAIZE_P
from furrow.hil.farm.normals import true_normals
from furrow.hil.fleet import NodeSpec

SITE = "demo"
FIELD = "home"
GATEWAY = "gw-1"
ROOT_DEPTH_CM = 60
PRECIP_RATE_MM_H = 5.0
"""Solid-set sprinklers: FAO-56 and most sprinkler guides give 4-10 mm/h; 5 keeps a 30 mm
refill inside a night (the planner splits it at the valve's 4 h maximum)."""
PUMP = "pump-1"


@dataclass(frozen=True)
class Place:
    """Where the demo farm is: its location, its time zone, and when its summer peaks."""

    label: str
    lat: float
    lon: float
    elevation_m: float
    timezone: str
    warmest_doy: int

    def climate(self) -> Climate:
        """A dry irrigated summer here: about 13 degree days a day for the maize, rain on
        about one day in nine (a mean of 7 mm), sun and ET0 of this latitude and date."""
        return Climate(latitude_deg=self.lat, elevation_m=self.elevation_m, mean_temp_c=22.0, seasonal_amp_c=4.0,
                       warmest_doy=self.warmest_doy, p_wet_after_dry=0.12, p_wet_after_wet=0.35, mean_rain_mm=7.0)


WUWEI = Place("near Wuwei, Gansu, China", 37.93, 102.64, 1530.0, "Asia/Shanghai", 200)
GRIFFITH = Place("near Griffith, New South Wales, Australia", -34.29, 146.05, 130.0, "Australia/Sydney", 18)


def climate_normals(place: Place) -> tuple[bytes, str]:
    """The virtual farm's own climate normals here, as the agronomist's CSV (docs/pests.md) and its source
    (hil/farm/normals.py: 30 simulated years of this place's climate). A real farm imports a station's
    normals; the virtual one's climate is the generator's, so these are its true normals."""
    return true_normals(place.climate(), place.label)


def place_for(day: date) -> Place:
    """Where maize is growing on `day`: the northern farm from April to September, else the southern."""
    return WUWEI if 4 <= day.month <= 9 else GRIFFITH


@dataclass(frozen=True)
class DemoZone:
    """One zone as the technician registers it (FC and WP as FAO-56 table 19 gives for its texture)."""

    id: str
    name: str
    area_ha: float
    texture: str
    fc_pct: float
    wp_pct: float
    sown_day: int
    """Days after the start of the simulated weeks that it was sown."""
    start_depletion: float
    """Share of TAW already depleted when the simulation starts."""
    week_budget_mm: float | None = None
    """Gross mm a week the zone's water right allows (none: no cap)."""


# FAO-56 table 19: loam θFC 0.25-0.35, θWP 0.12-0.17; sandy loam θFC 0.18-0.28, θWP 0.06-0.16.
ZONES = (DemoZone("north", "North block", 2.0, "loam", 30.0, 15.0, 0, 0.15),
         DemoZone("south", "South block", 1.5, "sandy_loam", 23.0, 11.0, 6, 0.30, week_budget_mm=25.0))
"""The south block draws on a capped water right (as the Shiyang and Murrumbidgee basins allocate
water): 25 mm a week, less than a canopy closing in summer uses, so the planner rations it and the
block runs near its refill point: what the demo's alerts and decisions then say is true."""


SEASON_INTERVALS_S = {"weather": 3600, "soil": 3 * 3600, "irrigation": 6 * 3600, "pest": 6 * 3600}
"""Report intervals while the season is simulated: the weather station hourly (the planner's daily
weather wants 18 hours or more), the probes every 3 h, controllers (and on every valve change) and
traps every 6 h. Live, every node reports at the demo's own interval."""


def nodes(intervals_s: dict[str, int]) -> list[NodeSpec]:
    """The demo's nodes, each reporting at its role's interval (soil-03 is the RS-485 one), and the cameras."""
    i = intervals_s
    return [
        NodeSpec("soil-01", "soil", i["soil"], zone="north", depths_cm=(10, 30, 60)),
        NodeSpec("soil-02", "soil", i["soil"], zone="north", depths_cm=(10, 30), encoding="binary"),
        NodeSpec("soil-03", "soil", i["soil"], zone="south", depths_cm=(10, 30, 60)),
        NodeSpec("weather-01", "weather", i["weather"], canopy_zone=WEATHER_ZONE),
        NodeSpec("irr-01", "irrigation", i["irrigation"], valve_zones=("north", "south"), rate_mm_h=PRECIP_RATE_MM_H),
        NodeSpec("pest-01", "pest", i["pest"], zone="north", traps=2, encoding="binary"),
        *growth_nodes(),
        NodeSpec(TRAP_CAMERA, "camera", CAMERA_INTERVAL_S, zone="north", offset_s=TRAP_PHOTO_S, lure=LURE),
    ]


CAMERA_INTERVAL_S = 24 * 3600
CAMERA_FIRST_S = 11 * 3600
"""A canopy photo a day at noon (the engine's first tick is 01:00 local), season and live alike: cover
changes over days, and a noon photo has the sun overhead and the fewest shadows."""


def growth_nodes() -> list[NodeSpec]:
    """A canopy camera over each zone, photographing daily at noon."""
    return [NodeSpec(f"cam-{z.id}", "camera", CAMERA_INTERVAL_S, zone=z.id, offset_s=CAMERA_FIRST_S) for z in ZONES]


LURE = "helicoverpa-armigera"
"""The cotton bollworm (棉铃虫): a pest of maize in the Hexi corridor and in the Murrumbidgee alike, and a
species the table ships with thresholds, stages and an action threshold (cloud/agronomy/species.py)."""
TRAP_CAMERA = "trap-north"
TRAP_PHOTO_S = 5 * 3600
"""The trap camera photographs its liner at 06:00 (the engine's first tick is 01:00 local), after the night's
flight, as the pest-season scenario's does; a technician puts in a fresh liner every seventh photo."""
TRAP_VIEW_MM = 200.0
"""The width of liner the trap camera's photo shows (a 200 mm liner, hil/farm/trap_card.py), as the technician
measures it when setting the trap up."""


def pest_traps() -> list[tuple[str, int, dict[str, Any]]]:
    """(node, channel, body) for `PUT /pests/traps/{node}/{channel}`, as a technician sets the traps up: pest-01's
    first counter lured (its second stays a trap for everything), and the camera's pheromone trap."""
    return [("pest-01", 1, {"card": "white-pheromone", "lure": LURE}),
            (TRAP_CAMERA, 1, {"card": "white-pheromone", "lure": LURE, "view_width_mm": TRAP_VIEW_MM})]


MODBUS_NODES = {"soil-03": 1}
"""Nodes on the emulated RS-485 bus, by unit; the others speak MQTT."""
WEATHER_ZONE = "north"


def crop_coefficients() -> dict[str, Any]:
    """Grain maize as the farm grows it (hil/farm/crop.py): Kc 0.3 / 1.2 / 0.6 (FAO-56 table 12),
    p 0.55 (FAO-56 table 22), stages in degree days above 10 °C capped at 30 °C: 180 to 10 % cover,
    420 more to full cover, 600 of mid-season and 300 to maturity, 1500 in all, a hybrid of about
    2700 °F·d (Neild & Newman 1987, Growing season characteristics and requirements in the Corn Belt,
    National Corn Handbook NCH-40); 2 m tall in mid-season (FAO-56 table 12), which the planner's Kc from the
    cameras' measured cover needs (FAO-56 ch. 9)."""
    c = MAIZE
    return {"l_ini": c.l_ini, "l_dev": c.l_dev, "l_mid": c.l_mid, "l_late": c.l_late, "kc_ini": c.kc_ini,
            "kc_mid": c.kc_mid, "kc_end": c.kc_end, "p": MAIZE_P, "stages_in": "gdd", "gdd_base_c": 10.0,
            "gdd_upper_c": 30.0, "height_m": Crop().height_m}


def registry_entries(place: Place, start: date) -> list[tuple[str, dict[str, Any]]]:
    """(kind, body) for `POST /registry/{kind}`, in the order a technician enters them: the site,
    the field, the zones (soil, crop sown, coefficients), the nodes where they stand, the valves."""
    out: list[tuple[str, dict[str, Any]]] = [
        ("sites", {"id": SITE, "name": f"Demo farm ({place.label})", "timezone": place.timezone, "lat": place.lat,
                   "lon": place.lon, "elevation_m": place.elevation_m}),
        ("fields", {"id": FIELD, "site_id": SITE, "name": "Home field",
                    "area_ha": round(sum(z.area_ha for z in ZONES), 2)})]
    for z in ZONES:
        out.append(("zones", {
            "id": z.id, "field_id": FIELD, "name": z.name, "area_ha": z.area_ha, "soil_texture": z.texture,
            "field_capacity_pct": z.fc_pct, "wilting_point_pct": z.wp_pct, "root_depth_cm": ROOT_DEPTH_CM,
            "crop": "maize", "planting_date": (start + timedelta(days=z.sown_day)).isoformat(),
            "precip_rate_mm_h": PRECIP_RATE_MM_H, "hydraulic_group": PUMP, "crop_coefficients": crop_coefficients(),
            **({"week_budget_mm": z.week_budget_mm} if z.week_budget_mm is not None else {})}))
    for i, spec in enumerate(nodes(SEASON_INTERVALS_S)):
        body: dict[str, Any] = {"id": spec.node_id, "role": spec.role, "zone_id": spec.zone or WEATHER_ZONE,
                                # each node's GPS fix, a few metres apart
                                "lat": round(place.lat + 0.0002 * i, 5), "lon": round(place.lon + 0.0002 * i, 5),
                                "firmware": "0.1.0"}
        if spec.depths_cm:
            body["depths_cm"] = list(spec.depths_cm)
        out.append(("nodes", body))
    for spec in nodes(SEASON_INTERVALS_S):
        for channel, zone in enumerate(spec.valve_zones, start=1):
            out.append(("valves", {"node_id": spec.node_id, "channel": channel, "zone_id": zone,
                                   "max_runtime_s": 4 * 3600}))
    return out


def local_midnight(day: date, place: Place) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(place.timezone))


def build_farm(place: Place, start: date, days: int, seed: int) -> Farm:
    """The virtual farm from local midnight of `start`, with weather for `days` days (the farm
    keeps the last day's weather beyond them); each zone's soil, area and crop as registered.
    A zone sown after `start` is bare until then: its crop starts growing on its sowing day."""
    rng = random.Random(seed)
    weather = generate(start, days, seed, place.climate())
    zones = []
    for z in ZONES:
        soil = SoilColumn.uniform(z.fc_pct / 100, z.wp_pct / 100, ROOT_DEPTH_CM,
                                  start_fraction=z.start_depletion + rng.uniform(-0.03, 0.03))
        zones.append(FarmZone(z.id, soil, Crop(), area_m2=z.area_ha * 10_000, sown_day=z.sown_day))
    return Farm(zones, weather, local_midnight(start, place), seed=seed,
                pests=PestPopulation(rng=random.Random(seed + 7)), elevation_m=place.elevation_m)
