"""A zone's agronomic configuration: soil, crop, irrigation and probes.

Validated once at the boundary (pydantic); the pure functions downstream trust it.
The same model is read from a zone TOML file by `furrow agro balance` and will be
built from the farm registry by the cloud.
"""

from __future__ import annotations

from datetime import date, time

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .crop import CropCoefficients, GddMethod


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SiteConfig(_Frozen):
    latitude_deg: float = Field(ge=-90, le=90)
    elevation_m: float = Field(ge=-500, le=9000)
    longitude_deg: float | None = Field(default=None, ge=-180, le=180)
    wind_height_m: float = Field(default=2.0, gt=0.1, le=100)
    coastal: bool = False


class SoilConfig(_Frozen):
    """Water contents at field capacity and wilting point [m3/m3] (FAO-56 table 19)."""

    theta_fc: float = Field(gt=0, lt=1)
    theta_wp: float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _fc_above_wp(self) -> SoilConfig:
        if self.theta_fc <= self.theta_wp:
            raise ValueError(f"theta_fc ({self.theta_fc}) must be above theta_wp ({self.theta_wp})")
        return self


class CropConfig(_Frozen):
    """Single-coefficient crop (FAO-56 tables 11, 12, 22). Stage lengths are days,
    or degree days when `stages_in = "gdd"`."""

    name: str = "crop"
    planting: date
    l_ini: float = Field(gt=0)
    l_dev: float = Field(gt=0)
    l_mid: float = Field(gt=0)
    l_late: float = Field(gt=0)
    kc_ini: float = Field(gt=0, le=2)
    kc_mid: float = Field(gt=0, le=2)
    kc_end: float = Field(gt=0, le=2)
    p: float = Field(default=0.5, gt=0, lt=1, description="depletion fraction for no stress at ETc = 5 mm/day")
    root_depth_m: float = Field(gt=0, le=5)
    stages_in: str = Field(default="days", pattern="^(days|gdd)$")
    gdd_base_c: float = 10.0
    gdd_upper_c: float | None = None
    gdd_method: GddMethod = GddMethod.AVERAGE
    height_m: float | None = Field(default=None, gt=0, le=30, description="crop height in mid-season (FAO-56 "
                                   "table 12): a measured ground cover drives Kc only with it")

    @property
    def coefficients(self) -> CropCoefficients:
        return CropCoefficients(self.l_ini, self.l_dev, self.l_mid, self.l_late, self.kc_ini, self.kc_mid, self.kc_end)


class IrrigationConfig(_Frozen):
    node: str = "irr-01"
    valve: int = Field(default=1, ge=1, le=16)
    precipitation_rate_mm_h: float = Field(gt=0, description="net application rate over the zone")
    efficiency: float = Field(default=1.0, gt=0, le=1, description="application efficiency; gross = net / efficiency")
    max_runtime_s: int = Field(default=4 * 3600, ge=60, le=24 * 3600, description="the valve's longest single run")
    max_runs: int = Field(default=3, ge=1, le=12, description="runs a longer irrigation may be split into")
    split_gap_s: int = Field(default=600, ge=0, le=6 * 3600, description="pause between split runs (soak)")
    hydraulic_group: str = "main"
    mad_fraction: float | None = Field(default=None, gt=0, lt=1, description="management-allowed depletion; default p")
    refill_fraction: float = Field(default=0.0, ge=0, lt=1, description="depletion left after irrigating, x TAW")
    min_application_mm: float = Field(default=2.0, ge=0)
    window_start: time = time(22, 0)
    window_end: time = time(6, 0)
    urgent_fraction: float = Field(default=0.9, gt=0, le=1,
                                   description="depletion x TAW that waters outside the window")
    week_budget_mm: float | None = Field(default=None, ge=0)
    season_budget_mm: float | None = Field(default=None, ge=0)
    rain_skip_mm: float = Field(default=2.0, ge=0, description="forecast rain below this is ignored")


class BalanceConfig(_Frozen):
    initial_depletion_mm: float = Field(default=0.0, ge=0)
    runoff_fraction: float = Field(default=0.0, ge=0, lt=1)
    probe_gain: float = Field(default=0.5, ge=0, le=1, description="nudging gain at full probe confidence")
    probe_reach_cm: float = Field(default=15.0, gt=0, description="soil a probe represents above and below it")


class ZoneConfig(_Frozen):
    """Everything the water balance and the planner need about one zone."""

    id: str = "zone-1"
    site: SiteConfig
    soil: SoilConfig
    crop: CropConfig
    irrigation: IrrigationConfig
    balance: BalanceConfig = BalanceConfig()
