"""Soil fertility: soil tests (entered, or imported from a lab's CSV through its mapping), the soil map of a
zone, a farm's products and crop coefficients, recommendations, applications and harvests, and the
season's nutrient balance."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from furrow.edge.errors import ContractError
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...fertility import FertilityService
from ...fertility.models import (
    ApplicationIn,
    ApplicationOut,
    CoefficientsIn,
    FertigateIn,
    HarvestIn,
    ImportOut,
    InjectorIn,
    InjectorOut,
    LabMappingIn,
    ProductIn,
    ProductOut,
    RecommendIn,
    SampleIn,
    SampleOut,
)
from ..deps import AuditDep, CommandWriter, Planner, Reader, RegistryWriter, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/fertility", tags=["fertility"], route_class=JsonRoute)
zones = APIRouter(prefix="/zones", tags=["fertility"], route_class=JsonRoute)
NOT_FOUND = {404: {"model": ProblemResponse}}
SEASON = Query(pattern=r"^\d{4}(-[a-z0-9-]{1,20})?$", description="a season, e.g. 2026", examples=["2026"])


def _svc(request: Request) -> FertilityService:
    svc = get_services(request).fertility
    assert svc is not None, "open_services sets the fertility service"
    return svc


def _lab(lab: str) -> str:
    if not 1 <= len(lab) <= 64 or not lab.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ContractError("lab", lab, "must be 1 to 64 letters, digits, '-', '_' or '.'")
    return lab


@zones.post("/{zone_id}/soil-samples", status_code=status.HTTP_201_CREATED, response_model=SampleOut,
            responses=NOT_FOUND)
async def add_sample(zone_id: str, body: SampleIn, request: Request, who: Planner, audit: AuditDep) -> SampleOut:
    """Record a soil sample of the zone; each result is converted to its stored unit (e.g. organic matter
    in % to g/kg, exchangeable K in cmol/kg to mg/kg), a unit it does not take is refused naming it."""
    out = await _svc(request).add_sample(check_id("zone", zone_id), body, f"person:{who.name}")
    await audit(who.name, "soil.sample", f"zone:{zone_id}", sample=out.id)
    return out


@zones.get("/{zone_id}/soil-samples", response_model=list[SampleOut], responses=NOT_FOUND)
async def list_samples(zone_id: str, request: Request, _: Reader, season: Annotated[str | None, SEASON] = None
                       ) -> list[SampleOut]:
    """The zone's soil samples of every season (or one), oldest first."""
    return await _svc(request).samples(check_id("zone", zone_id), season)


@zones.get("/{zone_id}/soil-map", responses=NOT_FOUND)
async def soil_map(zone_id: str, request: Request, _: Reader, season: Annotated[str | None, SEASON] = None,
                   result: Annotated[str, Query(max_length=40, examples=["olsen_p_mg_kg"])] = "olsen_p_mg_kg"
                   ) -> dict:
    """The zone's boundary and the value of one result at each located sample point (whether the
    point lies inside the boundary)."""
    return await _svc(request).soil_map(check_id("zone", zone_id), result, season)


@router.put("/labs/{lab}/mapping", response_model=LabMappingIn)
async def put_mapping(lab: str, body: LabMappingIn, request: Request, who: Planner,
                      audit: AuditDep) -> LabMappingIn:
    """Map a lab's CSV columns once: which column holds each field, and the unit of each result."""
    out = await _svc(request).put_mapping(_lab(lab), body, f"person:{who.name}")
    await audit(who.name, "soil.mapping", f"lab:{lab}")
    return out


@router.get("/labs/{lab}/mapping", response_model=LabMappingIn, responses=NOT_FOUND)
async def get_mapping(lab: str, request: Request, _: Reader) -> LabMappingIn:
    return await _svc(request).get_mapping(_lab(lab))


@router.post("/labs/{lab}/import", response_model=ImportOut, responses=NOT_FOUND,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string", "format": "binary"}}}}})
async def import_csv(lab: str, request: Request, who: Planner, audit: AuditDep,
                     zone: Annotated[str | None, Query(description="the zone, when the mapping has no zone "
                                                                   "column")] = None,
                     season: Annotated[str | None, SEASON] = None) -> ImportOut:
    """Import a lab's CSV (the body; UTF-8 or GB 18030) through the lab's mapping: good rows are stored
    (a sample already stored under its lab id is counted, not stored twice), every bad cell is named by
    row and column, and a row with a bad cell is left out."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("text/csv", "text/plain", "application/octet-stream"):
        raise ContractError("content-type", kind, "a lab CSV is sent as text/csv")
    out = await _svc(request).import_csv(_lab(lab), await request.body(),
                                         None if zone is None else check_id("zone", zone), season,
                                         f"person:{who.name}")
    await audit(who.name, "soil.import", f"lab:{lab}", imported=out.imported, rejected_rows=out.rejected_rows)
    return out


@router.put("/sites/{site}/products/{product}", response_model=ProductOut, responses=NOT_FOUND)
async def put_product(site: str, product: str, body: ProductIn, request: Request, who: Planner,
                      audit: AuditDep) -> ProductOut:
    """Add or change a fertiliser product of the farm (its id in the path and body must agree)."""
    if body.id != product:
        raise ContractError("id", body.id, f"must be the product of the path ({product})")
    out = await _svc(request).put_product(check_id("site", site), body)
    await audit(who.name, "fertiliser.product", f"site:{site}", product=product)
    return out


@router.get("/sites/{site}/products", response_model=list[ProductOut], responses=NOT_FOUND)
async def list_products(site: str, request: Request, _: Reader) -> list[ProductOut]:
    return await _svc(request).products(check_id("site", site))


@router.get("/sites/{site}/coefficients/{crop}", responses=NOT_FOUND)
async def get_coefficients(site: str, crop: str, request: Request, _: Reader) -> dict:
    """The crop's coefficients as a recommendation uses them, each with its source; a value not confirmed
    is null with what to enter."""
    return await _svc(request).coefficients(check_id("site", site), check_id("crop", crop))


@router.put("/sites/{site}/coefficients/{crop}", responses=NOT_FOUND)
async def put_coefficients(site: str, crop: str, body: CoefficientsIn, request: Request, who: Planner,
                           audit: AuditDep) -> dict:
    """Set the farm's own coefficients for a crop (they replace the built-in ones; recorded as entered by you)."""
    out = await _svc(request).put_coefficients(check_id("site", site), check_id("crop", crop), body,
                                               f"person:{who.name}")
    await audit(who.name, "fertility.coefficients", f"site:{site}", crop=crop)
    return out


@zones.post("/{zone_id}/fertility/recommend", status_code=status.HTTP_201_CREATED,
            responses={**NOT_FOUND, 409: {"model": ProblemResponse, "description": "no soil test, or no "
                                          "coefficients for the crop"}})
async def recommend(zone_id: str, body: RecommendIn, request: Request, who: Planner, audit: AuditDep) -> dict:
    """Recommend the zone's fertiliser for a season: N, P2O5 and K2O by the cited methods, the least-cost
    product mix split into basal and top-dress, the top-dress timed by crop stage and held while the root
    zone is waterlogged or dry; stored with its inputs, sources, equations and explanation."""
    out = await _svc(request).recommend(check_id("zone", zone_id), body, f"person:{who.name}")
    await audit(who.name, "fertility.recommend", f"zone:{zone_id}", recommendation=out["id"])
    return out


@zones.get("/{zone_id}/fertility/recommendations", responses=NOT_FOUND)
async def list_recommendations(zone_id: str, request: Request, _: Reader, season: Annotated[str | None, SEASON] = None,
                               limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[dict]:
    """The zone's recommendations, newest first."""
    return await _svc(request).recommendations(check_id("zone", zone_id), season, limit)


@zones.post("/{zone_id}/fertility/applications", status_code=status.HTTP_201_CREATED,
            response_model=ApplicationOut, responses=NOT_FOUND)
async def record_application(zone_id: str, body: ApplicationIn, request: Request, who: Planner,
                             audit: AuditDep) -> ApplicationOut:
    """Record a fertiliser applied to the zone (append-only: a correction is a new record with a note)."""
    out = await _svc(request).record_application(check_id("zone", zone_id), body, f"person:{who.name}")
    await audit(who.name, "fertiliser.application", f"zone:{zone_id}", application=out.id)
    return out


@zones.get("/{zone_id}/fertility/applications", response_model=list[ApplicationOut], responses=NOT_FOUND)
async def list_applications(zone_id: str, request: Request, _: Reader, season: Annotated[str | None, SEASON] = None
                            ) -> list[ApplicationOut]:
    """The zone's applications, oldest first (fertigated ones name their command)."""
    return await _svc(request).applications(check_id("zone", zone_id), season)


@zones.post("/{zone_id}/fertility/harvests", status_code=status.HTTP_201_CREATED, responses=NOT_FOUND)
async def record_harvest(zone_id: str, body: HarvestIn, request: Request, who: Planner, audit: AuditDep) -> dict:
    """Record the zone's harvested yield for a season (the newest record counts in the balance)."""
    out = await _svc(request).record_harvest(check_id("zone", zone_id), body, f"person:{who.name}")
    await audit(who.name, "harvest.record", f"zone:{zone_id}", season=body.season)
    return out


@zones.get("/{zone_id}/fertility/balance", responses=NOT_FOUND)
async def season_balance(zone_id: str, request: Request, _: Reader,
                         season: Annotated[str, Query(pattern=r"^\d{4}(-[a-z0-9-]{1,20})?$", examples=["2026"])]
                         ) -> dict:
    """The season's nutrient balance: applied vs recommended vs removed by the harvest, per nutrient."""
    return await _svc(request).balance(check_id("zone", zone_id), season)


@router.put("/injectors/{node_id}", response_model=InjectorOut,
            responses={**NOT_FOUND, 422: {"model": ProblemResponse}})
async def put_injector(node_id: str, body: InjectorIn, request: Request, who: RegistryWriter,
                       audit: AuditDep) -> InjectorOut:
    """Register (or recalibrate) an irrigation controller's fertigation injector: its dosing pump's rate and
    line-EC band, as its firmware is configured. A fertigate through a controller without one is refused."""
    svc = get_services(request).fertigation
    assert svc is not None, "open_services sets the fertigation service"
    out = await svc.put_injector(check_id("node", node_id), body, f"person:{who.name}")
    await audit(who.name, "injector.put", f"node:{node_id}", rate_l_h=body.rate_l_h)
    return out


@router.get("/injectors", response_model=list[InjectorOut])
async def list_injectors(request: Request, _: Reader) -> list[InjectorOut]:
    """Every registered injector, by node."""
    svc = get_services(request).fertigation
    assert svc is not None, "open_services sets the fertigation service"
    return await svc.injectors()


@zones.post("/{zone_id}/fertility/fertigations", status_code=status.HTTP_201_CREATED,
            responses={**NOT_FOUND, 409: {"model": ProblemResponse, "description": "the node cannot be routed"},
                       422: {"model": ProblemResponse}})
async def fertigate(zone_id: str, body: FertigateIn, request: Request, who: CommandWriter, audit: AuditDep) -> dict:
    """Top-dress the zone through its irrigation: a fertigate command (signed and sent like an irrigation
    command) that runs the valve and doses the product's stock solution within the window, only while water
    flows. When the controller ends it, the volume it injected is recorded as the zone's application."""
    svc = get_services(request).fertigation
    assert svc is not None, "open_services sets the fertigation service"
    not_before_ms = None if body.not_before is None else parse_instant("not_before", body.not_before)
    out = await svc.fertigate(check_id("zone", zone_id), body, f"person:{who.name}", not_before_ms)
    await audit(who.name, "fertigation.create", f"zone:{zone_id}", command=out["command"].id,
                product=body.product_id)
    return out
