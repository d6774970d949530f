"""A `FarmState` for the alert rules, gathered from what the service holds.

Sources: the registry (sites, fields, zones, nodes, valves), node routes (last seen and
battery of the newest report), the readings store (the newest reading of each sensor; rain,
air temperature and leaf wetness over recent days) and the zones' commands (water budgets,
counted as the planner counts them). Disease risk is per pathogen configured on a zone, from the
zone's weather nodes (without one, the site's, as the planner); a zone without pathogens has
none. The rules themselves stay pure
(agronomy/alerts.py). An input that is missing leaves its rule silent for that subject; a
store that fails makes the whole snapshot fail, so an outage never "resolves" every alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..agronomy.alerts import (
    AlertKind,
    FarmState,
    NodeSnapshot,
    SensorFault,
    SiteWeather,
    SpeciesPressure,
    Thresholds,
    ValveSnapshot,
    ZoneSnapshot,
    soil_relative_humidity,
)
from ..db import Database
from ..gaps import GapStore
from ..node_routes import NodeRoutes
from ..planning import zone_water
from ..planning.forecast import Extremes
from ..planning.inputs import DEFAULT_P
from ..registry import FIELDS, NODES, SITES, VALVES, ZONES, Registry
from ..registry.models import NodeOut, SiteOut, ValveOut, ZoneOut
from ..storage import Reading, ReadingStore
from .budget import budget_used_fraction
from .history import disease_risk, trap_risk

HOUR_MS = 3_600_000
# An air temperature older than this says nothing about frost or heat now.
WEATHER_FRESH_MS = 3 * HOUR_MS
# Readings a gateway did not forward count towards a node's alert over this window (the rule's "24 h").
DROPPED_WINDOW_MS = 24 * HOUR_MS
# Gateway quality flags (gateway/quality.py) that make a sensor's value suspect.
SUSPECT_FLAGS = ("stuck",)

_ZONE_KINDS = {AlertKind.DRY, AlertKind.WATERLOGGED, AlertKind.BUDGET, AlertKind.DROUGHT}
_SITE_KINDS = {AlertKind.FROST, AlertKind.HEAT}


@dataclass(frozen=True)
class SnapshotOptions:
    """What the registry does not hold, from Settings."""

    report_interval_s: float = 300.0
    camera_interval_s: float = 86_400.0
    """A camera is heard through its photos, a few a day at most (the firmware's default is one every 3 h, the
    demo's one a day at noon): it counts as silent after `offline_intervals` of these, not of the reports'."""
    trap_threshold_per_week: float | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True)
class Places:
    """Which site and zone each subject belongs to, for storing and routing an alert."""

    zone_site: dict[str, str | None]
    node_place: dict[str, tuple[str | None, str | None]]

    def of(self, kind: AlertKind, subject: str) -> tuple[str | None, str | None]:
        """(site, zone) of an alert's subject; None where it is not known."""
        if kind in _ZONE_KINDS:
            return self.zone_site.get(subject), subject
        if kind in _SITE_KINDS:
            return subject, None
        if kind in (AlertKind.DISEASE, AlertKind.PEST_SPECIES):  # "zone/pathogen", "zone/species"
            zone = subject.split("/", 1)[0]
            return self.zone_site.get(zone), zone
        # node subjects: "node", "node/sensor", "node/valve 1"
        return self.node_place.get(subject.split("/", 1)[0], (None, None))


@dataclass(frozen=True)
class Snapshot:
    state: FarmState
    places: Places


class _Latest:
    """store.latest per node, asked once per snapshot (zone_water asks for it too): the whole farm's in
    one `fetch` (a query per node was most of an evaluation's time, docs/performance.md)."""

    def __init__(self, store: ReadingStore) -> None:
        self._store = store
        self._seen: dict[str, list[Reading]] = {}

    async def fetch(self, nodes: set[str]) -> None:
        self._seen.update(await self._store.latest_many(sorted(nodes - set(self._seen))))

    async def latest_many(self, nodes: list[str]) -> dict[str, list[Reading]]:
        await self.fetch(set(nodes))
        return {n: self._seen.get(n, []) for n in nodes}

    async def latest(self, node: str) -> list[Reading]:
        if node not in self._seen:
            self._seen[node] = await self._store.latest(node)
        return self._seen[node]


def _sensor(r: Reading) -> str:
    where = r.depth_cm if r.depth_cm is not None else r.channel
    return r.measurement if where is None else f"{r.measurement}@{where}"


NEEDS_DAYLIGHT = frozenset({"red_refl", "nir_refl", "ndvi"})
"""Measurements of a reflectance pair, which says "not_ready" while the sky is too dark for a ratio
(firmware/drivers/reflectance.py): every night, on a sound sensor."""


def sensor_faults(latest: list[Reading]) -> tuple[SensorFault, ...]:
    """Each sensor whose newest reading is a fault, or a value flagged suspect (with its unit). A
    flag names the sensor ("stuck:vwc_pct@30"); an older gateway's names only the measurement
    ("stuck:vwc_pct") and then holds for each of its sensors."""
    out = set()
    for r in latest:
        if r.fault == "not_ready" and r.measurement in NEEDS_DAYLIGHT:
            continue  # a reflectance pair in the dark: the night, not a fault
        if r.fault:
            out.add(SensorFault(_sensor(r), r.fault))
            continue
        for flag in r.flags:
            name, _, sensor = flag.partition(":")
            if name in SUSPECT_FLAGS and sensor in (_sensor(r), r.measurement):
                out.add(SensorFault(_sensor(r), name, r.value, r.unit))
    return tuple(sorted(out))


def _value(latest: list[Reading], measurement: str, channel: int | None = None) -> float | None:
    for r in latest:
        if r.measurement == measurement and (channel is None or r.channel == channel) and r.value is not None:
            return r.value
    return None


def expected_flow_l_min(zone: ZoneOut) -> float:
    """The flow a zone's emitters draw: 1 mm over 1 m2 is 1 L, so rate [mm/h] x area [m2] / 60."""
    return zone.precip_rate_mm_h * zone.area_ha * 10_000 / 60


def zone_snapshot(zone: ZoneOut, depletion_mm: float | None, taw_mm: float, mean_vwc_pct: float | None,
                  budget_used: float | None = None, raw_mm: float | None = None,
                  probe_vwc_pct: Sequence[float] = ()) -> ZoneSnapshot | None:
    """Depletion and TAW from the probes (as the planner and the zone summary read them); RAW the
    daily balance's `raw_mm` when given (p adjusted for the day's ETc, as the planner's MAD), else
    p TAW (FAO-56 eq. 83; p of the zone's crop coefficients, else the planner's 0.5); excess =
    water above field capacity; the drought rule's soil relative humidity R (GB/T 32136-2015,
    6.2) from the probes in the root zone `probe_vwc_pct` and the zone's field capacity.

    A zone without a probe has no R, and its drought rule stays silent: the standard's other
    index for it, the crop water deficit anomaly CWDIa (5.1, 6.1), is CWDI's departure from its
    mean over many years at the place, which a farm's own record does not hold."""
    r_pct = (round(soil_relative_humidity(probe_vwc_pct, zone.field_capacity_pct), 1)
             if probe_vwc_pct and zone.field_capacity_pct > 0 else None)
    if depletion_mm is None or mean_vwc_pct is None:
        if budget_used is None:
            return None
        # No probe reading: the dry and waterlogged rules must stay silent, the others may fire.
        depletion_mm, mean_vwc_pct = 0.0, zone.wilting_point_pct
    excess = max(0.0, mean_vwc_pct - zone.field_capacity_pct) / 100 * zone.root_depth_cm * 10
    p = zone.crop_coefficients.p if zone.crop_coefficients is not None else DEFAULT_P
    raw = raw_mm if raw_mm is not None else p * taw_mm
    return ZoneSnapshot(zone=zone.id, depletion_mm=depletion_mm, taw_mm=taw_mm, raw_mm=round(raw, 1),
                        excess_mm=round(excess, 1), budget_used_fraction=budget_used,
                        soil_relative_humidity_pct=r_pct)


def _weather_of(zone: ZoneOut, nodes: list[NodeOut], zone_site: dict[str, str | None]) -> list[str]:
    """The zone's registered weather nodes; without one, those of the other zones of its site."""
    own = [n.id for n in nodes if n.role == "weather" and n.zone_id == zone.id]
    if own:
        return own
    site = zone_site.get(zone.id)
    return sorted(n.id for n in nodes if n.role == "weather" and n.zone_id is not None
                  and site is not None and zone_site.get(n.zone_id) == site)


def _timezone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


RawOf = Callable[[ZoneOut, int], Awaitable[float | None]]
"""A zone's RAW [mm] as of a time, from its daily balance (None: not known)."""
ForecastOf = Callable[[SiteOut, list[NodeOut], ZoneInfo, int], Awaitable[tuple[Extremes, str] | None]]
"""A site's forecast extremes over today and tomorrow, and the forecast's source (None: no forecast)."""
SpeciesOf = Callable[[str, int], Awaitable[list[SpeciesPressure]]]
"""A zone's pest species against their own action thresholds as of a time (cloud/pests/)."""

LuredOf = Callable[[], Awaitable[dict[str, frozenset[int]]]]
"""Per pest node, the counter channels set up with a lure (cloud/pests/): their species' threshold
watches them, so the one threshold for traps with no lure leaves them out."""


def site_weather(site: str, now_c: list[float], ahead: tuple[Extremes, str] | None) -> list[SiteWeather]:
    """The site's lowest and highest temperature, measured now (fresh readings) or forecast ahead,
    whichever is more extreme; a forecast's value carries its day and source."""
    lows = [(v, None, None) for v in now_c]
    highs = [(v, None, None) for v in now_c]
    if ahead is not None:
        e, source = ahead
        if e.tmin_c is not None:
            lows.append((e.tmin_c, e.tmin_day.isoformat() if e.tmin_day else None, source))
        if e.tmax_c is not None:
            highs.append((e.tmax_c, e.tmax_day.isoformat() if e.tmax_day else None, source))
    if not lows and not highs:
        return []
    low = min(lows, key=lambda x: x[0]) if lows else (None, None, None)
    high = max(highs, key=lambda x: x[0]) if highs else (None, None, None)
    return [SiteWeather(site, low[0], high[0], tmin_day=low[1], tmin_source=low[2], tmax_day=high[1],
                        tmax_source=high[2])]


async def farm_snapshot(registry: Registry, routes: NodeRoutes, store: ReadingStore, db: Database, now_ms: int,
                        options: SnapshotOptions | None = None, raw_of: RawOf | None = None,
                        forecast_of: ForecastOf | None = None, species_of: SpeciesOf | None = None,
                        lured_of: LuredOf | None = None) -> Snapshot:
    """Everything the alert rules look at, as of `now_ms`; each zone's RAW from `raw_of` when
    given (the planner's balance, see BalanceRaw), else p TAW; frost and heat from the sites' fresh air
    temperatures and, with `forecast_of`, their forecast over today and tomorrow; with `species_of`,
    each zone's pest species against their own thresholds; the one trap threshold, when set, on the pest
    nodes' counters that `lured_of` does not name (one rule speaks for each trap)."""
    options = options or SnapshotOptions()
    latest = _Latest(store)
    sites = {s.id: s for s in await registry.all(SITES)}  # type: ignore[attr-defined]
    site_tz = {s.id: _timezone(s.timezone) for s in sites.values()}
    field_site = {f.id: f.site_id for f in await registry.all(FIELDS)}  # type: ignore[attr-defined]
    zones: list[ZoneOut] = await registry.all(ZONES)  # type: ignore[assignment]
    nodes: list[NodeOut] = await registry.all(NODES)  # type: ignore[assignment]
    valves: list[ValveOut] = await registry.all(VALVES)  # type: ignore[assignment]
    heard = {r.node: r for r in await routes.all()}
    # every node a rule below may look at: registered (zones, weather, pests), heard, or with a valve
    await latest.fetch({n.id for n in nodes} | set(heard) | {v.node_id for v in valves})
    zone_by_id = {z.id: z for z in zones}
    zone_site = {z.id: field_site.get(z.field_id) for z in zones}
    role = {n.id: str(n.role) for n in nodes}
    registered = set(role)
    zone_of = {n.id: n.zone_id for n in nodes}
    members_of: dict[str, list[NodeOut]] = defaultdict(list)
    for n in nodes:
        if n.zone_id is not None:
            members_of[n.zone_id].append(n)
    node_place: dict[str, tuple[str | None, str | None]] = {}
    for node_id in sorted(set(role) | set(heard)):
        zone_id = zone_of.get(node_id)
        site = zone_site.get(zone_id) if zone_id else None
        if site is None and node_id in heard:
            site = heard[node_id].site
        node_place[node_id] = (site, zone_id)
        if node_id not in role:  # heard, not registered: its readings say its role
            role[node_id] = next((r.role for r in await latest.latest(node_id)), "")
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    t = options.thresholds

    # readings the gateways reported they did not forward, per node and reason, over a day
    dropped: dict[str, dict[str, int]] = {}
    for (node_id, reason), count in (await GapStore(db).totals(now_ms - DROPPED_WINDOW_MS)).items():
        if node_id is not None:
            dropped.setdefault(node_id, {})[reason] = count
    node_snaps = []
    for node_id in sorted(set(node_place) | set(dropped)):
        route = heard.get(node_id)
        node_snaps.append(NodeSnapshot(
            node=node_id,
            report_interval_s=options.camera_interval_s if role.get(node_id) == "camera" else options.report_interval_s,
            last_seen=None if route is None else datetime.fromtimestamp(route.last_seen_ms / 1000, UTC),
            battery_v=None if route is None else route.bat_v,
            faults=sensor_faults(await latest.latest(node_id)) if route is not None else (),
            # a node heard but not registered is not promised to the farm: its silence is no alert
            expected=node_id in registered, dropped=dropped.get(node_id, {})))

    zone_snaps = []
    for z in zones:
        members = members_of.get(z.id, [])
        water = await zone_water(z, members, latest)  # type: ignore[arg-type]
        used = await budget_used_fraction(db, z, site_tz.get(zone_site[z.id] or "", ZoneInfo("UTC")), now_ms)
        raw = await raw_of(z, now_ms) if raw_of is not None else None
        probes = [p.vwc_pct for p in water.probes if p.vwc_pct is not None]
        snap = zone_snapshot(z, water.depletion_mm, water.taw_mm, water.root_zone_vwc_pct, used, raw, probes)
        if snap is not None:
            zone_snaps.append(snap)

    diseases = []
    for z in zones:
        if z.pathogens:
            sources = _weather_of(z, nodes, zone_site)
            for pathogen in z.pathogens:
                risk = await disease_risk(store, z.id, sources, pathogen, now_ms)
                if risk is not None:
                    diseases.append(risk)

    valve_snaps = []
    for v in valves:
        zone = zone_by_id.get(v.zone_id)
        node_latest = await latest.latest(v.node_id)
        state = _value(node_latest, "valve_open", v.channel)
        if zone is None or state is None:
            continue
        is_open = state >= 0.5
        any_open = any(r.measurement == "valve_open" and (r.value or 0) >= 0.5 for r in node_latest)
        # One meter per node: with another valve of the node open, its flow says nothing of this one.
        flow = _value(node_latest, "flow_l_min") if is_open or not any_open else None
        if not is_open and _value(node_latest, "leak_l_min") is not None:
            flow = _value(node_latest, "leak_l_min")
        valve_snaps.append(ValveSnapshot(node=v.node_id, valve=v.channel, open=is_open, flow_l_min=flow,
                                         expected_flow_l_min=expected_flow_l_min(zone)))

    air: dict[str, list[float]] = defaultdict(list)
    pests = []
    lured = await lured_of() if lured_of is not None and options.trap_threshold_per_week is not None else {}
    for node_id, (site, _zone) in node_place.items():
        if role.get(node_id) == "weather" and node_id in heard:
            for r in await latest.latest(node_id):
                if r.measurement == "air_temp_c" and r.value is not None and now_ms - r.ts_ms <= WEATHER_FRESH_MS:
                    air[site or heard[node_id].site].append(r.value)
        if role.get(node_id) == "pest" and options.trap_threshold_per_week is not None and node_id in heard:
            risk = await trap_risk(store, node_id, now_ms, options.trap_threshold_per_week,
                                   lured.get(node_id, frozenset()))
            if risk is not None:
                pests.append(risk)
    weather = []
    for site_id in sorted(set(air) | (set(sites) if forecast_of is not None else set())):
        ahead = None
        if forecast_of is not None and site_id in sites:
            site_nodes = [n for n in nodes if n.zone_id is not None and zone_site.get(n.zone_id) == site_id]
            ahead = await forecast_of(sites[site_id], site_nodes, site_tz[site_id], now_ms)
        weather.extend(site_weather(site_id, air.get(site_id, []), ahead))

    species = [p for z in zones for p in await species_of(z.id, now_ms)] if species_of is not None else []
    state = FarmState(now=now, zones=zone_snaps, nodes=node_snaps, valves=valve_snaps, weather=weather,
                      pests=pests, diseases=diseases, species=species, thresholds=t)
    return Snapshot(state, Places(zone_site, node_place))



__all__ = ["ForecastOf", "LuredOf", "Places", "RawOf", "Snapshot", "SnapshotOptions", "SpeciesOf", "farm_snapshot",
           "sensor_faults", "site_weather"]
