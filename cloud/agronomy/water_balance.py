"""Root-zone water balance, FAO-56 chapter 8 (single crop coefficient), corrected
by the zone's soil moisture probes.

Depletion Dr [mm] is the water below field capacity in the root zone: 0 at field
capacity, TAW at the wilting point. Equation numbers are FAO-56's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from .canopy_kc import MeasuredCover, kc_from_cover, noon_solar_elevation
from .crop import CropCoefficients, Stage, crop_stage, kc_single
from .zone import ZoneConfig


def total_available_water(theta_fc: float, theta_wp: float, zr_m: float) -> float:
    """TAW = 1000 (θFC - θWP) Zr [mm] (FAO-56 eq. 82)."""
    return 1000.0 * (theta_fc - theta_wp) * zr_m


def depletion_fraction(p_table: float, etc_mm: float) -> float:
    """p adjusted for the day's ETc: p = p_table + 0.04 (5 - ETc), within 0.1..0.8
    (FAO-56 table 22, footnote)."""
    return min(0.8, max(0.1, p_table + 0.04 * (5.0 - etc_mm)))


def readily_available_water(p: float, taw_mm: float) -> float:
    """RAW = p TAW [mm] (FAO-56 eq. 83)."""
    return p * taw_mm


def water_stress_coefficient(dr_mm: float, taw_mm: float, raw_mm: float) -> float:
    """Ks = (TAW - Dr) / (TAW - RAW) when Dr > RAW, else 1 (FAO-56 eq. 84)."""
    if dr_mm <= raw_mm:
        return 1.0
    return max(0.0, (taw_mm - dr_mm) / (taw_mm - raw_mm))


def effective_rain(rain_mm: float, et0_mm: float, runoff_fraction: float = 0.0) -> tuple[float, float]:
    """(P - RO, RO): rain below 0.2 ET0 is taken as evaporated before it enters the
    root zone (FAO-56 ch. 8, "Precipitation"); of the rest a fixed fraction runs off."""
    if rain_mm < 0.2 * et0_mm:
        return 0.0, 0.0
    ro = runoff_fraction * rain_mm
    return rain_mm - ro, ro


def deep_percolation(p_eff_mm: float, irrigation_mm: float, etc_mm: float, dr_prev_mm: float) -> float:
    """DP = (P - RO) + I - ETc - Dr,i-1 when positive (FAO-56 eq. 88)."""
    return max(0.0, p_eff_mm + irrigation_mm - etc_mm - dr_prev_mm)


def root_zone_depletion(dr_prev_mm: float, p_eff_mm: float, irrigation_mm: float, etc_mm: float, dp_mm: float,
                        taw_mm: float, cr_mm: float = 0.0) -> float:
    """Dr,i = Dr,i-1 - (P - RO) - I - CR + ETc + DP, within 0..TAW (FAO-56 eq. 85, 86, 87)."""
    dr = dr_prev_mm - p_eff_mm - irrigation_mm - cr_mm + etc_mm + dp_mm
    return min(taw_mm, max(0.0, dr))


@dataclass(frozen=True)
class ProbeReading:
    """One soil moisture reading: depth of the sensor, VWC [%], and quality 0..1
    (1 a calibrated healthy sensor, 0 a faulty one)."""

    depth_cm: float
    vwc_pct: float
    quality: float = 1.0


@dataclass(frozen=True)
class ProbeEstimate:
    """Depletion measured by the probes and how much to trust it."""

    depletion_mm: float
    """Measured depletion of the whole root zone; negative when wetter than field capacity."""
    confidence: float
    """0..1: the share of the root zone the probes cover, weighted by their quality."""
    layers: tuple[tuple[float, float, float, float], ...]
    """(top_cm, bottom_cm, vwc_pct, quality) per probe used."""


def probe_depletion(readings: Sequence[ProbeReading], theta_fc: float, theta_wp: float, zr_m: float,
                    reach_cm: float = 15.0) -> ProbeEstimate | None:
    """Root-zone depletion from probe readings, weighted by depth and quality.

    Each probe in the root zone (0 < depth ≤ Zr) with quality > 0 stands for a
    layer reaching `reach_cm` above and below it, cut at the half-way point to its
    neighbours and at the surface and Zr. The root zone's deficit is the
    thickness×quality-weighted mean of (θFC - θ) times Zr; the confidence is the
    thickness×quality covered over Zr. None when no probe qualifies.
    """
    zr_cm = zr_m * 100.0
    used = sorted((r for r in readings if 0.0 < r.depth_cm <= zr_cm and r.quality > 0.0), key=lambda r: r.depth_cm)
    if not used:
        return None
    layers = []
    for i, r in enumerate(used):
        top = max(0.0, r.depth_cm - reach_cm)
        bottom = min(zr_cm, r.depth_cm + reach_cm)
        if i > 0:
            top = max(top, (used[i - 1].depth_cm + r.depth_cm) / 2.0)
        if i + 1 < len(used):
            bottom = min(bottom, (r.depth_cm + used[i + 1].depth_cm) / 2.0)
        layers.append((top, bottom, r.vwc_pct, min(1.0, r.quality)))
    weights = [(b - t) * q for t, b, _, q in layers]
    total = sum(weights)
    if total <= 0:
        return None
    max_deficit = theta_fc - theta_wp
    deficits = [min(max_deficit, theta_fc - vwc / 100.0) for _, _, vwc, _ in layers]
    mean_deficit = sum(w * d for w, d in zip(weights, deficits, strict=True)) / total
    return ProbeEstimate(depletion_mm=1000.0 * mean_deficit * zr_m, confidence=min(1.0, total / zr_cm),
                         layers=tuple(layers))


def assimilate(dr_model_mm: float, estimate: ProbeEstimate | None, gain: float, taw_mm: float) -> tuple[float, float]:
    """Nudge the modelled depletion toward the probes: Dr = Dr_model + K (Dr_probe - Dr_model),
    K = gain × confidence; returns (Dr, K). Without probes the model stands (K = 0)."""
    if estimate is None or gain <= 0:
        return dr_model_mm, 0.0
    k = gain * estimate.confidence
    measured = min(taw_mm, max(0.0, estimate.depletion_mm))
    return min(taw_mm, max(0.0, dr_model_mm + k * (measured - dr_model_mm))), k


@dataclass(frozen=True)
class DayInput:
    day: date
    et0_mm: float
    rain_mm: float = 0.0
    irrigation_mm: float = 0.0
    """Net irrigation that reached the root zone."""
    probes: tuple[ProbeReading, ...] = ()
    gdd: float = 0.0
    """The day's degree days, used when the crop's stages are in degree days."""
    cover: MeasuredCover | None = None
    """The zone's measured ground cover that day (canopy photos), when it has one."""


@dataclass(frozen=True)
class DayRecord:
    """One day of the balance with every term, so each number can be checked by hand."""

    day: date
    progress: float
    stage: Stage
    kc: float
    """The Kc used: the curve's, or from the measured cover (`kc_curve` keeps the curve's)."""
    et0_mm: float
    etc_mm: float
    p: float
    taw_mm: float
    raw_mm: float
    ks: float
    etc_adj_mm: float
    rain_mm: float
    runoff_mm: float
    p_eff_mm: float
    irrigation_mm: float
    dp_mm: float
    dr_start_mm: float
    dr_model_mm: float
    probe: ProbeEstimate | None
    gain: float
    dr_mm: float
    excess_mm: float = 0.0
    """Water the probes see above field capacity (waterlogging), mm."""
    notes: tuple[str, ...] = field(default=())
    kc_curve: float | None = None
    """The crop curve's Kc that day (FAO-56 eq. 66), whether or not the measured cover replaced it."""
    cover: MeasuredCover | None = None
    """The measured ground cover Kc came from, None when Kc is the curve's."""


@dataclass(frozen=True)
class BalanceParams:
    """The constants of one zone's balance (from ZoneConfig)."""

    crop: CropCoefficients
    p_table: float
    theta_fc: float
    theta_wp: float
    zr_m: float
    runoff_fraction: float = 0.0
    probe_gain: float = 0.5
    probe_reach_cm: float = 15.0
    crop_height_m: float | None = None
    """The crop's height (FAO-56 table 12); without it a measured cover is not used (Kd needs h)."""
    latitude_deg: float | None = None
    """Where the sun's noon elevation is computed for fc,eff; without it a measured cover is not used."""


def day_kc(params: BalanceParams, progress: float, d: DayInput) -> tuple[float, float, MeasuredCover | None]:
    """(Kc, the curve's Kc, the cover used): the curve's Kc (FAO-56 eq. 66), or from the development
    stage on, where the day has a measured cover and the crop a height, Kc from the cover by FAO-56
    ch. 9 with the curve's Kc mid as the full-cover value (agronomy/canopy_kc.py)."""
    curve = kc_single(progress, params.crop)
    stage = crop_stage(progress, params.crop)
    usable = stage in (Stage.DEVELOPMENT, Stage.MID, Stage.LATE)
    if d.cover is None or not usable or params.crop_height_m is None or params.latitude_deg is None:
        return curve, curve, None
    beta = noon_solar_elevation(params.latitude_deg, d.day)
    return kc_from_cover(params.crop.kc_mid, d.cover.fc, params.crop_height_m, beta), curve, d.cover


def water_balance_day(params: BalanceParams, dr_prev_mm: float, progress: float, d: DayInput) -> DayRecord:
    """One day of FAO-56 ch. 8: Kc from the curve or the measured cover (day_kc), ETc = Kc ET0
    (eq. 58), p (table 22), TAW, RAW, Ks from yesterday's depletion (eq. 84), ETc adj = Ks Kc ET0
    (eq. 80), DP (eq. 88), Dr (eq. 85); then the probe correction."""
    c = params.crop
    kc, kc_curve, cover = day_kc(params, progress, d)
    stage = crop_stage(progress, c)
    etc = kc * d.et0_mm
    taw = total_available_water(params.theta_fc, params.theta_wp, params.zr_m)
    p = depletion_fraction(params.p_table, etc)
    raw = readily_available_water(p, taw)
    ks = water_stress_coefficient(dr_prev_mm, taw, raw)
    etc_adj = ks * etc
    p_eff, ro = effective_rain(d.rain_mm, d.et0_mm, params.runoff_fraction)
    dp = deep_percolation(p_eff, d.irrigation_mm, etc_adj, dr_prev_mm)
    dr_model = root_zone_depletion(dr_prev_mm, p_eff, d.irrigation_mm, etc_adj, dp, taw)
    estimate = probe_depletion(d.probes, params.theta_fc, params.theta_wp, params.zr_m, params.probe_reach_cm)
    dr, k = assimilate(dr_model, estimate, params.probe_gain, taw)
    excess = max(0.0, -estimate.depletion_mm) if estimate is not None else 0.0
    return DayRecord(day=d.day, progress=progress, stage=stage, kc=kc, et0_mm=d.et0_mm, etc_mm=etc, p=p,
                     taw_mm=taw, raw_mm=raw, ks=ks, etc_adj_mm=etc_adj, rain_mm=d.rain_mm, runoff_mm=ro,
                     p_eff_mm=p_eff, irrigation_mm=d.irrigation_mm, dp_mm=dp, dr_start_mm=dr_prev_mm,
                     dr_model_mm=dr_model, probe=estimate, gain=k, dr_mm=dr, excess_mm=excess, kc_curve=kc_curve,
                     cover=cover)


def run_water_balance(params: BalanceParams, days: Sequence[DayInput], planting: date, dr_initial_mm: float = 0.0,
                      stages_in_gdd: bool = False) -> list[DayRecord]:
    """The balance over consecutive days. Progress is the day number in the season
    (the planting day is day 1, as i in FAO-56 eq. 66), or, for a crop staged by
    degree days, the degree days accumulated up to and including the day."""
    out: list[DayRecord] = []
    dr = dr_initial_mm
    acc_gdd = 0.0
    for d in days:
        if stages_in_gdd:
            acc_gdd += d.gdd
            progress = acc_gdd
        else:
            progress = float((d.day - planting).days + 1)
        rec = water_balance_day(params, dr, progress, d)
        out.append(rec)
        dr = rec.dr_mm
    return out


def params_from_zone(zone: ZoneConfig) -> BalanceParams:
    """BalanceParams from a validated ZoneConfig."""
    return BalanceParams(crop=zone.crop.coefficients, p_table=zone.crop.p, theta_fc=zone.soil.theta_fc,
                         theta_wp=zone.soil.theta_wp, zr_m=zone.crop.root_depth_m,
                         runoff_fraction=zone.balance.runoff_fraction, probe_gain=zone.balance.probe_gain,
                         probe_reach_cm=zone.balance.probe_reach_cm, crop_height_m=zone.crop.height_m,
                         latitude_deg=zone.site.latitude_deg)
