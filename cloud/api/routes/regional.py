"""The regional view (issue 21), for a regional user (an extension service, a county bureau): a region's
aggregates over the organisations that share their data, by sub-region and crop; cells of fewer than
FURROW_REGIONAL_MIN_FARMS farms are withheld, and so are the cells that would give them away."""

from typing import Annotated

from fastapi import APIRouter, Query

from ...errors import NotFound
from ...regional import RegionalView, within
from ...tenancy.organisations import Region
from ..deps import RegionalReader, ServicesDep
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/regional", tags=["regional"], route_class=JsonRoute)


@router.get("", response_model=RegionalView, responses={404: {"model": ProblemResponse}})
async def regional_view(services: ServicesDep, who: RegionalReader,
                        season: Annotated[str, Query(min_length=1, max_length=32, examples=["2026"],
                                                     description="the production records' season")],
                        region: Annotated[Region | None, Query(description="default: the caller's region")] = None,
                        ) -> RegionalView:
    """The region (default the caller's) and each region one level below it, per crop and for all crops: farms
    counted, zones and their area, area planted and harvested (machine operations), harvest (records), water
    applied (irrigation records) and open alerts. A region outside the caller's is 404."""
    assert services.regional is not None and who.region is not None
    region = region or who.region
    if not within(region, who.region):
        raise NotFound("region", region, "not a region this user sees")
    return await services.regional.view(region, season, services.settings.regional_min_farms)
