"""The planner's inputs from what the cloud holds: the registry zone, its probes, its rain gauge.

Each function reads the registry or the readings store and returns plain values; the
planner itself (agronomy/planner.py) stays pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..agronomy.zone import ZoneConfig
from ..errors import Conflict
from ..registry import ZoneOut
from ..registry.models import NodeOut, SiteOut, ValveOut
from ..storage import ReadingStore

# A zone without crop coefficients in the registry: p (the depletion fraction, the default MAD)
# is FAO-56 table 22's common 0.5, and the Kc curve is flat at 1 over a year-long "season"
# (the balance records that it used this fallback).
DEFAULT_P = 0.5
_PLACEHOLDER_CROP = {"l_ini": 1, "l_dev": 1, "l_mid": 363, "l_late": 1, "kc_ini": 1.0, "kc_mid": 1.0,
                     "kc_end": 1.0}


class MissingInputs(Conflict):
    """The planner cannot run: something it needs is not there (HTTP 409). `missing` names it."""

    def __init__(self, zone: str, missing: str, reason: str) -> None:
        self.zone = zone
        self.missing = missing
        super().__init__("zone", zone, f"cannot be planned: {missing}: {reason}")


@dataclass(frozen=True)
class ProbeValue:
    node: str
    depth_cm: int | None
    vwc_pct: float | None
    ts_ms: int


@dataclass(frozen=True)
class ZoneWater:
    """Root-zone water from the zone's probes alone (what GET /zones/{zone}/summary shows)."""

    probes: list[ProbeValue]
    root_zone_vwc_pct: float | None
    taw_mm: float
    depletion_mm: float | None

    @property
    def oldest_probe_ms(self) -> int | None:
        times = [p.ts_ms for p in self.probes if p.vwc_pct is not None]
        return min(times) if times else None


async def zone_water(zone: ZoneOut, nodes: list[NodeOut], store: ReadingStore) -> ZoneWater:
    """Newest vwc_pct of each probe within the root zone; their mean; TAW = (FC - WP) x Zr
    (FAO-56 eq. 82); depletion = (FC - mean) x Zr, never below 0."""
    probes = []
    latest = await store.latest_many([n.id for n in nodes])  # one query per 100 nodes on InfluxDB 1.x
    for n in nodes:
        for r in latest.get(n.id, []):
            if r.measurement == "vwc_pct" and (r.depth_cm is None or r.depth_cm <= zone.root_depth_cm):
                probes.append(ProbeValue(node=n.id, depth_cm=r.depth_cm, vwc_pct=r.value, ts_ms=r.ts_ms))
    values = [p.vwc_pct for p in probes if p.vwc_pct is not None]
    mean = sum(values) / len(values) if values else None
    root_mm = zone.root_depth_cm * 10
    taw = (zone.field_capacity_pct - zone.wilting_point_pct) / 100 * root_mm
    depletion = None if mean is None else round(max(0.0, zone.field_capacity_pct - mean) / 100 * root_mm, 1)
    return ZoneWater(probes=probes, root_zone_vwc_pct=None if mean is None else round(mean, 2),
                     taw_mm=round(taw, 1), depletion_mm=depletion)


async def rain_since(gauges: list[str], store: ReadingStore, start_ms: int, end_ms: int) -> float | None:
    """Rain over [start_ms, end_ms): the mean of the totals of those weather nodes in `gauges` that
    reported rain in it; None when none did. A weather node without a rain gauge never reports
    `rain_mm`, and a gauge's faulted reading has no value: neither is read as a dry spell, or a station
    without a gauge would halve its neighbour's rain and say forecast rain did not fall."""
    totals = []
    for node in gauges:
        values = [r.value for r in await store.query(node, "rain_mm", start_ms, end_ms, 100_000)
                  if r.value is not None]
        if values:
            totals.append(sum(values))
    return round(sum(totals) / len(totals), 2) if totals else None


@dataclass(frozen=True)
class Location:
    """Where the zone's ET0 is computed for, and which node (or the site) said so."""

    lat: float
    lon: float | None
    source: str
    elevation_m: float | None = None
    """The site's, when the registry holds it."""


def locate(weather: list[str], zone_nodes: list[NodeOut], site_nodes: list[NodeOut],
           site: SiteOut | None = None) -> Location | None:
    """The latitude of the weather nodes the balance reads first, else of any located node of the
    zone, else of the site's nodes, else of the site itself; None when none has one. ET0 needs it
    (extraterrestrial radiation, FAO-56 eq. 21), and no ET0 method in the code does without, so
    there is no default. The elevation is the site's (None when it has none)."""
    elevation = site.elevation_m if site is not None else None
    by_id = {n.id: n for n in [*site_nodes, *zone_nodes]}
    for label, candidates in (("weather node", [by_id[i] for i in weather if i in by_id]),
                              ("zone node", zone_nodes), ("site node", site_nodes)):
        for n in candidates:
            if n.lat is not None:
                return Location(n.lat, n.lon, f"{label} {n.id} ({n.lat:g}, {n.lon if n.lon is not None else '?'})",
                                elevation)
    if site is not None and site.lat is not None:
        return Location(site.lat, site.lon, f"site {site.id} ({site.lat:g}, "
                        f"{site.lon if site.lon is not None else '?'})", elevation)
    return None


def one_valve(zone_id: str, valves: list[ValveOut]) -> ValveOut:
    """The zone's one valve; MissingInputs without exactly one (the planner's commands need it)."""
    if len(valves) != 1:
        raise MissingInputs(zone_id, "valve", f"the zone has {len(valves)} valve(s) in the registry; "
                            "the planner needs exactly one")
    return valves[0]


def zone_config(zone: ZoneOut, valves: list[ValveOut], location: Location | None,
                need_valve: bool = True) -> ZoneConfig:
    """The planner's zone configuration from the registry zone and its one valve (MissingInputs
    without exactly one, unless `need_valve` is False: the balance alone needs none).

    Soil from FC/WP (% to m3/m3), root depth, the emitters' precipitation rate, the hydraulic
    group, the water budgets, the crop's coefficients (when given) and the valve's maximum
    runtime come from the registry; the rest takes zone.py's defaults (night window
    22:00-06:00, efficiency 1, refill to field capacity, 4 h valve maximum). Without crop
    coefficients the Kc curve is flat at 1 and p is FAO-56 table 22's common 0.5. The latitude
    and the site's elevation (0 m when it has none) come from `location` (locate()).
    """
    if need_valve:
        one_valve(zone.id, valves)
    cc = zone.crop_coefficients
    crop = dict(_PLACEHOLDER_CROP, p=DEFAULT_P) if cc is None else {
        "l_ini": cc.l_ini, "l_dev": cc.l_dev, "l_mid": cc.l_mid, "l_late": cc.l_late, "kc_ini": cc.kc_ini,
        "kc_mid": cc.kc_mid, "kc_end": cc.kc_end, "p": cc.p, "stages_in": cc.stages_in,
        "gdd_base_c": cc.gdd_base_c, "gdd_upper_c": cc.gdd_upper_c, "height_m": cc.height_m}
    valve = valves[0] if len(valves) == 1 else None  # the balance alone needs none
    irrigation: dict[str, object] = {
        "node": valve.node_id if valve else "none", "valve": valve.channel if valve else 1,
        "precipitation_rate_mm_h": zone.precip_rate_mm_h,
        # a zone outside any group is its own group: it never waits for another
        "hydraulic_group": zone.hydraulic_group or f"zone:{zone.id}",
        "week_budget_mm": zone.week_budget_mm, "season_budget_mm": zone.season_budget_mm}
    if valve is not None and valve.max_runtime_s is not None:
        irrigation["max_runtime_s"] = valve.max_runtime_s
    return ZoneConfig.model_validate({
        "id": zone.id,
        # without a location the latitude is a placeholder the balance never reads (has_latitude False)
        "site": {"latitude_deg": location.lat if location else 0.0,
                 "elevation_m": location.elevation_m or 0.0 if location else 0.0,
                 "longitude_deg": location.lon if location else None},
        "soil": {"theta_fc": zone.field_capacity_pct / 100, "theta_wp": zone.wilting_point_pct / 100},
        "crop": {"name": zone.crop, "planting": zone.planting_date or date(2000, 1, 1),
                 "root_depth_m": zone.root_depth_cm / 100, **crop},
        "irrigation": irrigation,
    })
