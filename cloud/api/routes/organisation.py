"""The caller's organisation: read it (every person), change its name, region and whether it shares
its data with the regional platform (admin). Organisations are made with `furrow cloud org create`."""

from fastapi import APIRouter

from ...tenancy.organisations import OrganisationIn, OrganisationOut, get_organisation, update_organisation
from ..deps import AuditDep, Reader, ServicesDep, UserAdmin
from ..json_body import JsonRoute

router = APIRouter(prefix="/organisation", tags=["organisation"], route_class=JsonRoute)


@router.get("", response_model=OrganisationOut)
async def organisation(services: ServicesDep, who: Reader) -> OrganisationOut:
    """The caller's organisation."""
    return await services.db.run(lambda s: get_organisation(s, who.organisation))


@router.put("", response_model=OrganisationOut)
async def change_organisation(body: OrganisationIn, services: ServicesDep, who: UserAdmin,
                              audit: AuditDep) -> OrganisationOut:
    """Change the caller's organisation: its name, region, and whether the regional view counts it."""
    out = await services.db.run(lambda s: update_organisation(s, who.organisation, body))
    await audit(who.name, "organisation.update", f"organisation:{who.organisation}", **body.model_dump())
    return out
