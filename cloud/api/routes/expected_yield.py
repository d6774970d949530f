"""Expected yield per zone from the season's water use (FAO-33 eq. 1; planning/expected.py), and the farm's
and zones' own Ky and Ym."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from ...planning.expected import SEASON_PATTERN, ExpectedYieldService
from ..deps import AuditDep, Planner, Reader, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(tags=["expected yield"], route_class=JsonRoute)
NOT_FOUND = {404: {"model": ProblemResponse}}
SEASON = Query(pattern=SEASON_PATTERN, examples=["2026"], description="a season: 2026 or 2026-summer")
Crop = Annotated[str, Path(min_length=1, max_length=64, description="the crop as the zones name it, e.g. maize")]


class Missing(BaseModel):
    field: str
    reason: str


class HarvestSeen(BaseModel):
    yield_t_ha: float
    harvested_on: str
    source: str


class YieldLogSeen(BaseModel):
    id: int
    crop: str | None
    machine: str
    mean_yield_t_ha: float
    mass_kg: float
    harvested_ha: float
    standard_moisture_pct: float


class ExpectedYieldOut(BaseModel):
    """A zone's expected yield for the season so far (docs/machinery.md, "Expected yield"): FAO-33 eq. 1 with
    ETa and ETm summed from the zone's water balance, Ky and Ym with their sources, and the harvest beside it."""

    zone_id: str
    zone_name: str
    field_id: str
    site_id: str
    crop: str
    season: str | None
    area_ha: float
    season_from: str | None = Field(description="the planting date: the first day counted")
    season_to: str | None = Field(description="the last day counted (yesterday, or the day before the harvest)")
    days: int
    days_modelled: int = Field(description="days with a modelled balance (ET0 known); only these are summed")
    eta_mm: float | None = Field(description="the season's actual ET, sum of Ks Kc ET0 (FAO-56 eq. 80)")
    etm_mm: float | None = Field(description="the season's ET with no water stress, sum of Kc ET0 (eq. 58)")
    eta_over_etm: float | None
    ky: float | None = Field(description="the crop's yield response factor over the season (FAO-56 Table 24, "
                                         "from FAO-33)")
    ym_t_ha: float | None = Field(description="the farm's high-producing yield for the crop, t/ha")
    relative_yield: float | None = Field(description="Ya/Ym = 1 - Ky (1 - ETa/ETm), FAO-33 eq. 1")
    ya_t_ha: float | None = Field(description="the expected yield, t/ha")
    total_t: float | None = Field(description="the expected yield over the zone's area, t")
    within_range: bool | None = Field(description="false when the deficit is beyond the 50 % eq. 1 was fitted to")
    sources: dict[str, str]
    harvest: HarvestSeen | None = Field(description="the season's newest harvest record of the zone")
    yield_logs: list[YieldLogSeen] = Field(description="the yield monitor logs of the zone's field that year")
    missing: list[Missing] = Field(description="what the estimate lacks, each named with what to do")
    explanation: str


class PotentialIn(BaseModel):
    """A farm's or a zone's own Ky and Ym for a crop (either or both), with where they come from."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [
        {"ky": 1.25, "ym_t_ha": 10.5, "source": "our best irrigated maize, 2021-2025 mean"}]})

    ky: float | None = Field(default=None, gt=0, le=5)
    ym_t_ha: float | None = Field(default=None, gt=0, le=300)
    source: str = Field(min_length=3, max_length=300, description="where these values come from")


class PotentialOut(BaseModel):
    site: str
    crop: str
    ky: float | None
    ky_source: str
    ym_t_ha: float | None
    ym_source: str


def _svc(request: Request) -> ExpectedYieldService:
    svc = get_services(request).expected_yield
    assert svc is not None, "open_services sets the expected-yield service"
    return svc


def _one_of(body: PotentialIn) -> None:
    if body.ky is None and body.ym_t_ha is None:
        raise ContractError("ky", None, "give ky, ym_t_ha or both")


@router.get("/zones/{zone_id}/expected-yield", response_model=ExpectedYieldOut, responses={
    **NOT_FOUND, 409: {"model": ProblemResponse, "description": "a season the zone was not planted in"}})
async def zone_expected_yield(zone_id: str, request: Request, _: Reader,
                              season: Annotated[str | None, SEASON] = None) -> dict:
    """The zone's expected yield for the season so far, from its water balance: 1 - Ya/Ym = Ky (1 - ETa/ETm)
    (FAO-33 eq. 1), with ETa and ETm summed from planting (to the day before the harvest once one is
    recorded), Ky and Ym with their sources, the harvest beside it, and whatever is missing named."""
    return await _svc(request).expected(check_id("zone", zone_id), season)


@router.put("/zones/{zone_id}/expected-yield/potential", response_model=ExpectedYieldOut,
            responses={**NOT_FOUND, 422: {"model": ProblemResponse}})
async def put_zone_potential(zone_id: str, body: PotentialIn, request: Request, who: Planner,
                             audit: AuditDep) -> dict:
    """Set this zone's own Ky and/or Ym for its crop (over the farm's and the built-in ones); answers the
    zone's expected yield with them."""
    _one_of(body)
    out = await _svc(request).put_zone_potential(check_id("zone", zone_id), body.ky, body.ym_t_ha, body.source,
                                                 f"person:{who.name}")
    await audit(who.name, "yield.potential", f"zone:{zone_id}", ky=body.ky, ym_t_ha=body.ym_t_ha)
    return out


@router.get("/sites/{site}/yield-potentials/{crop}", response_model=PotentialOut, responses=NOT_FOUND)
async def get_site_potential(site: str, crop: Crop, request: Request, _: Reader) -> dict:
    """The farm's Ky and Ym for a crop as the expected yield takes them, each with its source."""
    return await _svc(request).potentials(check_id("site", site), crop)


@router.put("/sites/{site}/yield-potentials/{crop}", response_model=PotentialOut,
            responses={**NOT_FOUND, 422: {"model": ProblemResponse}})
async def put_site_potential(site: str, crop: Crop, body: PotentialIn, request: Request, who: Planner,
                             audit: AuditDep) -> dict:
    """Set the farm's own Ky and/or Ym for a crop (every zone of the crop takes them unless it has its own)."""
    _one_of(body)
    svc = _svc(request)
    await svc.put_potential(check_id("site", site), "", crop, body.ky, body.ym_t_ha, body.source,
                            f"person:{who.name}")
    await audit(who.name, "yield.potential", f"site:{site}", crop=crop, ky=body.ky, ym_t_ha=body.ym_t_ha)
    return await svc.potentials(site, crop)


@router.get("/expected-yield", response_model=list[ExpectedYieldOut])
async def season_expected_yield(request: Request, who: Reader, season: Annotated[str, SEASON],
                                site: Annotated[str | None, Query(description="one farm only")] = None
                                ) -> list[dict]:
    """Every zone planted in the season's year (of one site, if given), each with its expected yield."""
    return await _svc(request).season(season, who.organisation, None if site is None else check_id("site", site))
