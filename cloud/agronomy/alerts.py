"""Alerts as pure rules: `evaluate_alerts(state, previous) -> list[Alert]`.

Each rule looks at a snapshot of the farm and yields at most one alert per
(kind, subject). Against the previous list an alert that is still true keeps its
`since` and its acknowledgement (it is not new); one whose severity rose is new
again and needs a fresh acknowledgement; one no longer true is dropped (resolved).
Delivery (API, MQTT, webhook) and storage belong to the cloud, not here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import NamedTuple

from furrow.edge.batch import GAP_IMAGE_QUOTA

from .messages import Message, Texts

# The English of every alert message; the dashboard's catalogues translate the same keys.
TEXT = Texts({
    "alert.soil-dry": "depletion {depletion_mm:.0f} mm is past RAW {raw_mm:.0f} mm (TAW {taw_mm:.0f} mm): "
                      "the crop is under water stress",
    "alert.waterlogged": "probes show {excess_mm:.0f} mm above field capacity",
    "alert.budget-nearly-spent": "{used_pct:.0f}% of the water budget is used",
    "alert.drought": "{grade} (GB/T 32136-2015): soil relative humidity {r_pct:.0f}% of field capacity in the "
                     "root zone",
    "drought-grade.light": "light drought",
    "drought-grade.moderate": "moderate drought",
    "drought-grade.severe": "severe drought",
    "drought-grade.extreme": "extreme drought",
    "alert.frost": "minimum {tmin_c:.1f} °C expected",
    "alert.heat": "maximum {tmax_c:.1f} °C expected",
    "alert.frost-forecast": "minimum {tmin_c:.1f} °C forecast for {day} ({source})",
    "alert.heat-forecast": "maximum {tmax_c:.1f} °C forecast for {day} ({source})",
    "alert.node-never-heard": "{node} never heard",
    "alert.node-silent": "{node} silent for {silent_h:.1f} h",
    "alert.battery-low": "{node} battery {battery_v:.2f} V",
    "alert.readings-dropped": "{node}: {count} readings not stored in 24 h (buffer full {quota}, over budget "
                              "{flood}, quarantined {quarantine})",
    "alert.images-dropped": "{node}: {count} photos dropped by the gateway in 24 h (its image store was full)",
    "alert.sensor-fault": "{node} sensor {sensor} reports {fault}",
    "alert.sensor-stuck": "{node} sensor {sensor} has read {value:g} {unit} for longer than a working sensor "
                          "does: stuck",
    "alert.irrigation-no-flow": "{node} valve {valve} open but flow {flow_l_min:.1f} L/min "
                                "(expected {expected_l_min:.0f} L/min)",
    "alert.irrigation-flow-when-closed": "{node} valve {valve} closed but {flow_l_min:.1f} L/min flowing",
    "alert.threshold": "risk index {value:.1f} ≥ threshold {threshold:g}",
    "alert.threshold-detail": "risk index {value:.1f} ≥ threshold {threshold:g}: {detail}",
    "alert.pest-threshold": "{node}: {value:.1f} catches per trap per week ≥ threshold {threshold:g}",
    "alert.pest-threshold-detail": "{node}: {value:.1f} catches per trap per week ≥ threshold {threshold:g}: "
                                   "{detail}",
    "alert.trap-detail": "catch {catch:.1f}/trap/week, trend {trend} ({slope:+.1f}/week)",
    "alert.pest-species-night": "{species}: {value:.1f} per trap per night at {traps} ≥ action threshold "
                                "{threshold:g}, trend {trend}; {window}",
    "alert.pest-species-week": "{species}: {value:.1f} per trap per week at {traps} ≥ action threshold "
                               "{threshold:g}, trend {trend}; {window}",
    "alert.pest-species-night-other-crop": "{species}: {value:.1f} per trap per night at {traps} ≥ action "
                                           "threshold {threshold:g} set for {crops}, not {crop}, trend {trend}; "
                                           "{window}",
    "alert.pest-species-week-other-crop": "{species}: {value:.1f} per trap per week at {traps} ≥ action "
                                          "threshold {threshold:g} set for {crops}, not {crop}, trend {trend}; "
                                          "{window}",
    "alert.pest-species-night-no-crop-threshold": "{species}: {value:.1f} per trap per night at {traps} ≥ "
                                                  "{threshold:g}, the first of its action thresholds ({thresholds}), "
                                                  "none set for {crop}, trend {trend}; {window}",
    "alert.pest-species-week-no-crop-threshold": "{species}: {value:.1f} per trap per week at {traps} ≥ "
                                                 "{threshold:g}, the first of its action thresholds ({thresholds}), "
                                                 "none set for {crop}, trend {trend}; {window}",
    "alert.pest-threshold-for-night": "{threshold:g} per trap per night for {crops}",
    "alert.pest-threshold-for-week": "{threshold:g} per trap per week for {crops}",
    "alert.pest-window": "control window {start} to {end}",
    "alert.pest-window-open": "control window from {start}, its end not yet forecast",
    "alert.pest-no-window": "no control window forecast",
    "alert.disease-detail": "{wet_hours:g} wet hours at {mean_temp_c:.1f} °C, {required_h:.1f} h needed "
                            "({pathogen}, values from {source})",
    "alert.disease-detail-no-infection": "{wet_hours:g} wet hours at {mean_temp_c:.1f} °C, no infection at that "
                                         "temperature ({pathogen}, values from {source})",
})


class Severity(IntEnum):
    INFO = 1
    WARNING = 2
    CRITICAL = 3


class AlertKind(StrEnum):
    DRY = "soil-dry"
    WATERLOGGED = "waterlogged"
    FROST = "frost"
    HEAT = "heat"
    PEST = "pest-threshold"
    PEST_SPECIES = "pest-species"
    DISEASE = "disease-risk"
    NODE_OFFLINE = "node-offline"
    BATTERY_LOW = "battery-low"
    SENSOR_FAULT = "sensor-fault"
    NO_FLOW = "irrigation-no-flow"
    FLOW_WHEN_CLOSED = "irrigation-flow-when-closed"
    BUDGET = "budget-nearly-spent"
    DROUGHT = "drought"
    READINGS_DROPPED = "readings-dropped"
    IMAGES_DROPPED = "images-dropped"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    subject: str
    severity: Severity
    message: str
    since: datetime
    evidence: dict[str, object] = field(default_factory=dict)
    new: bool = True
    acknowledged_by: str | None = None
    i18n: Message | None = None
    """The message as a catalogue key and its values (None on alerts stored before keys)."""

    @property
    def key(self) -> tuple[AlertKind, str]:
        return (self.kind, self.subject)


class DroughtGrade(IntEnum):
    """GB/T 32136-2015 农业干旱等级 (Grade of agricultural drought), clause 4: five grades."""

    NONE = 1
    """无旱"""
    LIGHT = 2
    """轻旱"""
    MODERATE = 3
    """中旱"""
    SEVERE = 4
    """重旱"""
    EXTREME = 5
    """特旱"""


# GB/T 32136-2015 clause 5.2, table 2 (grades by the soil relative humidity index R, %): the lowest R
# of each grade is exclusive (轻旱 50 < R <= 60 ...); at or under 30 it is 特旱.
SOIL_RH_GRADES: tuple[tuple[float, DroughtGrade], ...] = (
    (60.0, DroughtGrade.NONE), (50.0, DroughtGrade.LIGHT), (40.0, DroughtGrade.MODERATE),
    (30.0, DroughtGrade.SEVERE))

_GRADE_KEY = {DroughtGrade.LIGHT: "light", DroughtGrade.MODERATE: "moderate", DroughtGrade.SEVERE: "severe",
              DroughtGrade.EXTREME: "extreme"}
_GRADE_SEVERITY = {DroughtGrade.LIGHT: Severity.INFO, DroughtGrade.MODERATE: Severity.WARNING,
                   DroughtGrade.SEVERE: Severity.CRITICAL, DroughtGrade.EXTREME: Severity.CRITICAL}


def soil_relative_humidity(vwc_pct: Sequence[float], field_capacity_pct: float) -> float:
    """The soil relative humidity index R [%] of GB/T 32136-2015 (clause 6.2, the 土壤相对湿度指数):
    the mean over the observed layers of each layer's water content as a percentage of field
    capacity, R = (1/n) * sum(w_i / f_c * 100), here with the zone's probes in its root zone as the
    layers and the registry's field capacity (both volumetric, so the ratio is that of the
    standard's gravimetric contents on the same soil)."""
    if not vwc_pct:
        raise ValueError("vwc_pct: no layer reading, R is not defined")
    if field_capacity_pct <= 0:
        raise ValueError(f"field_capacity_pct: {field_capacity_pct!r} must be > 0")
    return sum(w / field_capacity_pct * 100 for w in vwc_pct) / len(vwc_pct)


def drought_grade(r_pct: float) -> DroughtGrade:
    """The agricultural drought grade of a soil relative humidity index R [%] (GB/T 32136-2015,
    clause 5.2, table 2: 无旱 R > 60, 轻旱 50 < R <= 60, 中旱 40 < R <= 50, 重旱 30 < R <= 40,
    特旱 R <= 30)."""
    for lowest, grade in SOIL_RH_GRADES:
        if r_pct > lowest:
            return grade
    return DroughtGrade.EXTREME


@dataclass(frozen=True)
class ZoneSnapshot:
    zone: str
    depletion_mm: float
    taw_mm: float
    raw_mm: float
    excess_mm: float = 0.0
    budget_used_fraction: float | None = None
    soil_relative_humidity_pct: float | None = None
    """GB/T 32136-2015's R from the zone's probes (None without one: the drought rule is silent)."""


class SensorFault(NamedTuple):
    """One sensor of a node that reports a fault code, or a value the gateway flagged suspect."""

    sensor: str
    """measurement[@depth or channel], as in the alert's subject."""
    fault: str
    """The fault code, or the gateway's flag ("stuck")."""
    value: float | None = None
    """The suspect value (a flag), with its unit."""
    unit: str = ""


@dataclass(frozen=True)
class NodeSnapshot:
    node: str
    last_seen: datetime | None
    report_interval_s: float = 300.0
    battery_v: float | None = None
    faults: tuple[SensorFault, ...] = ()
    """Sensors reporting a fault or flagged suspect."""
    expected: bool = True
    """Whether the node ought to report (it is registered): only then is silence an alert."""
    dropped: Mapping[str, int] = field(default_factory=dict)
    """Readings its gateways reported they did not forward in the last 24 h, per reason
    (quota, flood, quarantine; cloud/gaps.py)."""


@dataclass(frozen=True)
class ValveSnapshot:
    node: str
    valve: int
    open: bool
    flow_l_min: float | None
    expected_flow_l_min: float


@dataclass(frozen=True)
class SiteWeather:
    """The lowest and highest air temperature a site has now or is forecast to have; `*_day` and
    `*_source` are set when the value is a forecast's (the day it is for, and the forecast)."""

    site: str
    tmin_forecast_c: float | None = None
    tmax_forecast_c: float | None = None
    tmin_day: str | None = None
    tmin_source: str | None = None
    tmax_day: str | None = None
    tmax_source: str | None = None


@dataclass(frozen=True)
class RiskSnapshot:
    """A pest trap status or disease risk reduced to what alerting needs."""

    subject: str
    value: float
    threshold: float
    detail: Message | None = None


@dataclass(frozen=True)
class SpeciesPressure:
    """A species' catch in a zone against its own cited action threshold (cloud/pests/season.py): the
    traps at or over it, the trend, and the control window forecast from degree days."""

    zone: str
    species: str
    name: str
    value: float
    threshold: float
    per: str
    """"night" or "week": the threshold's unit, per trap."""
    traps: tuple[str, ...]
    trend: str
    source: str
    window: tuple[str | None, str | None] | None = None
    """(first day, last day) of the next control window, ISO dates; None without one."""
    threshold_crops: tuple[str, ...] = ()
    """Set when the threshold was set for other crops than the zone's `crop`: the alert says whose it is and
    stays a warning (another crop's threshold is no ground for a critical one)."""
    crop: str | None = None
    other_thresholds: tuple[tuple[float, str, tuple[str, ...]], ...] = ()
    """Set when the species has several thresholds and none is the zone's crop's: each (catch, per, crops); the
    alert names them all (`threshold` is the first of them, the one compared with)."""


@dataclass(frozen=True)
class Thresholds:
    frost_c: float = 1.0
    hard_frost_c: float = -2.0
    heat_c: float = 35.0
    extreme_heat_c: float = 40.0
    battery_v: float = 3.5
    battery_critical_v: float = 3.3
    offline_intervals: float = 3.0
    offline_critical: timedelta = timedelta(hours=24)
    dry_critical_fraction: float = 0.9
    waterlogged_mm: float = 5.0
    waterlogged_critical_mm: float = 20.0
    budget_warning: float = 0.9
    no_flow_fraction: float = 0.1
    closed_flow_l_min: float = 0.5
    dropped_critical: int = 1000
    """Readings of one node not stored in 24 h past which losing them is critical: a day of a
    one-minute node's reports (an operational bound, not agronomic)."""


@dataclass(frozen=True)
class FarmState:
    now: datetime
    zones: Sequence[ZoneSnapshot] = ()
    nodes: Sequence[NodeSnapshot] = ()
    valves: Sequence[ValveSnapshot] = ()
    weather: Sequence[SiteWeather] = ()
    pests: Sequence[RiskSnapshot] = ()
    diseases: Sequence[RiskSnapshot] = ()
    species: Sequence[SpeciesPressure] = ()
    thresholds: Thresholds = Thresholds()


def _raise(kind: AlertKind, subject: str, severity: Severity, message: Message, now: datetime,
           **evidence: object) -> Alert:
    return Alert(kind=kind, subject=subject, severity=severity, message=message.text, since=now, evidence=evidence,
                 i18n=message)


def _rules(s: FarmState) -> Iterator[Alert]:
    t, now = s.thresholds, s.now
    for z in s.zones:
        if z.depletion_mm > z.raw_mm:
            crit = z.depletion_mm >= t.dry_critical_fraction * z.taw_mm
            yield _raise(AlertKind.DRY, z.zone, Severity.CRITICAL if crit else Severity.WARNING,
                         TEXT("alert.soil-dry", depletion_mm=round(z.depletion_mm), raw_mm=round(z.raw_mm),
                              taw_mm=round(z.taw_mm)), now, depletion_mm=z.depletion_mm, raw_mm=z.raw_mm,
                         taw_mm=z.taw_mm)
        if z.excess_mm >= t.waterlogged_mm:
            yield _raise(AlertKind.WATERLOGGED, z.zone,
                         Severity.CRITICAL if z.excess_mm >= t.waterlogged_critical_mm else Severity.WARNING,
                         TEXT("alert.waterlogged", excess_mm=round(z.excess_mm)), now, excess_mm=z.excess_mm)
        if z.budget_used_fraction is not None and z.budget_used_fraction >= t.budget_warning:
            yield _raise(AlertKind.BUDGET, z.zone,
                         Severity.CRITICAL if z.budget_used_fraction >= 1.0 else Severity.WARNING,
                         TEXT("alert.budget-nearly-spent", used_pct=round(100 * z.budget_used_fraction)), now,
                         used_fraction=z.budget_used_fraction)
        if z.soil_relative_humidity_pct is not None:
            grade = drought_grade(z.soil_relative_humidity_pct)
            if grade > DroughtGrade.NONE:  # severity by grade: 轻旱 info, 中旱 warning, 重旱 and 特旱 critical
                yield _raise(AlertKind.DROUGHT, z.zone, _GRADE_SEVERITY[grade],
                             TEXT("alert.drought", grade=TEXT(f"drought-grade.{_GRADE_KEY[grade]}"),
                                  r_pct=round(z.soil_relative_humidity_pct)), now,
                             r_pct=round(z.soil_relative_humidity_pct, 1), grade=_GRADE_KEY[grade],
                             source="GB/T 32136-2015, 5.2 table 2")
    for w in s.weather:
        if w.tmin_forecast_c is not None and w.tmin_forecast_c <= t.frost_c:
            tmin = round(w.tmin_forecast_c, 1)
            yield _raise(AlertKind.FROST, w.site,
                         Severity.CRITICAL if w.tmin_forecast_c <= t.hard_frost_c else Severity.WARNING,
                         TEXT("alert.frost-forecast", tmin_c=tmin, day=w.tmin_day, source=w.tmin_source)
                         if w.tmin_source else TEXT("alert.frost", tmin_c=tmin), now, tmin_c=w.tmin_forecast_c,
                         **({"day": w.tmin_day, "source": w.tmin_source} if w.tmin_source else {}))
        if w.tmax_forecast_c is not None and w.tmax_forecast_c >= t.heat_c:
            tmax = round(w.tmax_forecast_c, 1)
            yield _raise(AlertKind.HEAT, w.site,
                         Severity.CRITICAL if w.tmax_forecast_c >= t.extreme_heat_c else Severity.WARNING,
                         TEXT("alert.heat-forecast", tmax_c=tmax, day=w.tmax_day, source=w.tmax_source)
                         if w.tmax_source else TEXT("alert.heat", tmax_c=tmax), now, tmax_c=w.tmax_forecast_c,
                         **({"day": w.tmax_day, "source": w.tmax_source} if w.tmax_source else {}))
    for n in s.nodes:
        silent = None if n.last_seen is None else now - n.last_seen
        if n.expected and (silent is None or silent > timedelta(seconds=t.offline_intervals * n.report_interval_s)):
            crit = silent is None or silent >= t.offline_critical
            yield _raise(AlertKind.NODE_OFFLINE, n.node, Severity.CRITICAL if crit else Severity.WARNING,
                         TEXT("alert.node-never-heard", node=n.node) if silent is None
                         else TEXT("alert.node-silent", node=n.node, silent_h=round(silent.total_seconds() / 3600, 1)),
                         now,
                         last_seen=n.last_seen.isoformat() if n.last_seen else None)
        if n.battery_v is not None and n.battery_v <= t.battery_v:
            yield _raise(AlertKind.BATTERY_LOW, n.node,
                         Severity.CRITICAL if n.battery_v <= t.battery_critical_v else Severity.WARNING,
                         TEXT("alert.battery-low", node=n.node, battery_v=round(n.battery_v, 2)), now,
                         battery_v=n.battery_v)
        for f in n.faults:
            stuck = f.fault == "stuck" and f.value is not None
            yield _raise(AlertKind.SENSOR_FAULT, f"{n.node}/{f.sensor}", Severity.WARNING,
                         TEXT("alert.sensor-stuck", node=n.node, sensor=f.sensor, value=f.value, unit=f.unit) if stuck
                         else TEXT("alert.sensor-fault", node=n.node, sensor=f.sensor, fault=f.fault), now,
                         fault=f.fault, **({"value": f.value, "unit": f.unit} if stuck else {}))
        readings = {r: c for r, c in n.dropped.items() if r != GAP_IMAGE_QUOTA}
        dropped = sum(readings.values())
        if dropped:  # every reading a gateway did not forward is said, and more is said louder
            yield _raise(AlertKind.READINGS_DROPPED, n.node,
                         Severity.CRITICAL if dropped >= t.dropped_critical else Severity.WARNING,
                         TEXT("alert.readings-dropped", node=n.node, count=dropped,
                              **{r: readings.get(r, 0) for r in ("quota", "flood", "quarantine")}), now,
                         **readings)
        if photos := n.dropped.get(GAP_IMAGE_QUOTA, 0):  # a photo lost is a day of the canopy's record
            yield _raise(AlertKind.IMAGES_DROPPED, n.node, Severity.WARNING,
                         TEXT("alert.images-dropped", node=n.node, count=photos), now, image_quota=photos)
    for v in s.valves:
        subject = f"{v.node}/valve {v.valve}"
        if v.open and v.flow_l_min is not None and v.flow_l_min < t.no_flow_fraction * v.expected_flow_l_min:
            yield _raise(AlertKind.NO_FLOW, subject, Severity.CRITICAL,
                         TEXT("alert.irrigation-no-flow", node=v.node, valve=v.valve, flow_l_min=round(v.flow_l_min, 1),
                              expected_l_min=round(v.expected_flow_l_min)), now,
                         flow_l_min=v.flow_l_min, expected_flow_l_min=v.expected_flow_l_min)
        if not v.open and v.flow_l_min is not None and v.flow_l_min > t.closed_flow_l_min:
            yield _raise(AlertKind.FLOW_WHEN_CLOSED, subject, Severity.CRITICAL,
                         TEXT("alert.irrigation-flow-when-closed", node=v.node, valve=v.valve,
                              flow_l_min=round(v.flow_l_min, 1)), now,
                         flow_l_min=v.flow_l_min)
    for r in s.pests:  # the subject is the trap node; the value catches per trap per week
        if r.value >= r.threshold:
            yield _risk(AlertKind.PEST, "alert.pest-threshold", r, now, node=r.subject)
    for r in s.diseases:  # the value is an infection risk index
        if r.value >= r.threshold:
            yield _risk(AlertKind.DISEASE, "alert.threshold", r, now)
    for p in s.species:  # each species against its own threshold, from its source
        if p.value >= p.threshold:
            yield _species(p, now)


def _species(p: SpeciesPressure, now: datetime) -> Alert:
    start, end = p.window or (None, None)
    window = (TEXT("alert.pest-no-window") if start is None
              else TEXT("alert.pest-window-open", start=start) if end is None
              else TEXT("alert.pest-window", start=start, end=end))
    other = bool(p.threshold_crops or p.other_thresholds)
    values: dict[str, object] = dict(species=p.name, value=round(p.value, 1), traps=", ".join(p.traps),
                                     threshold=p.threshold, trend=p.trend, window=window)
    suffix = ""
    extra: dict[str, object] = {}
    if p.other_thresholds:  # several, none the zone's crop's: name them all
        suffix = "-no-crop-threshold"
        each = [TEXT(f"alert.pest-threshold-for-{per}", threshold=catch, crops=list(crops))
                for catch, per, crops in p.other_thresholds]
        values.update(crop=p.crop or "", thresholds=each)
        extra = {"thresholds": [{"catch": c, "per": per, "crops": list(cr)} for c, per, cr in p.other_thresholds],
                 "crop": p.crop}
    elif other:
        suffix = "-other-crop"
        values.update(crops=list(p.threshold_crops), crop=p.crop or "")
        extra = {"threshold_crops": list(p.threshold_crops), "crop": p.crop}
    return _raise(AlertKind.PEST_SPECIES, f"{p.zone}/{p.species}",
                  Severity.CRITICAL if p.value >= 2 * p.threshold and not other else Severity.WARNING,
                  TEXT(f"alert.pest-species-{p.per}{suffix}", **values), now,
                  species=p.species, value=p.value, threshold=p.threshold, per=p.per, traps=list(p.traps),
                  trend=p.trend, source=p.source, window_start=start, window_end=end, **extra)


def _risk(kind: AlertKind, key: str, r: RiskSnapshot, now: datetime, **names: object) -> Alert:
    values = {**names, "value": round(r.value, 1), "threshold": r.threshold}
    return _raise(kind, r.subject, Severity.CRITICAL if r.value >= 2 * r.threshold else Severity.WARNING,
                  TEXT(f"{key}-detail", **values, detail=r.detail) if r.detail else TEXT(key, **values),
                  now, value=r.value, threshold=r.threshold)


def evaluate_alerts(state: FarmState, previous: Sequence[Alert] = ()) -> list[Alert]:
    """The alerts active now, de-duplicated against `previous` (see the module docstring)."""
    before = {a.key: a for a in previous}
    out: dict[tuple[AlertKind, str], Alert] = {}
    for alert in _rules(state):
        if alert.key in out and out[alert.key].severity >= alert.severity:
            continue
        old = before.get(alert.key)
        if old is not None and alert.severity <= old.severity:
            alert = replace(alert, since=old.since, new=False, acknowledged_by=old.acknowledged_by)
        elif old is not None:
            alert = replace(alert, since=old.since, new=True, acknowledged_by=None)
        out[alert.key] = alert
    return sorted(out.values(), key=lambda a: (-a.severity, a.kind, a.subject))


def acknowledge(alerts: Sequence[Alert], kind: AlertKind, subject: str, by: str) -> list[Alert]:
    """The same alerts with (kind, subject) acknowledged by a person."""
    return [replace(a, acknowledged_by=by) if a.key == (kind, subject) else a for a in alerts]
