"""The regional view (issue 21), for a regional user (an extension service, a county bureau): a region's
aggregates over the organisations that share their data, by sub-region and crop; cells of fewer than
FURROW_REGIONAL_MIN_FARMS farms are withheld, and so are the cells that would give them away."""

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from ...db import OpenDatasetRow
from ...errors import Conflict, Gone, NotFound
from ...regional import RegionalView, within
from ...regional.opendata import FILES, catalog, dcat
from ...tenancy.organisations import Region
from ..deps import AuditDep, ClockDep, RegionalPublisher, RegionalReader, ServicesDep, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/regional", tags=["regional"], route_class=JsonRoute)
public = APIRouter(tags=["open data"])  # no token: published datasets are open data


class DatasetIn(BaseModel):
    season: str = Field(min_length=1, max_length=32, examples=["2026"])
    region: Region | None = Field(default=None, description="default: the caller's region")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, min_length=1, max_length=4000)


class DatasetOut(BaseModel):
    """A dataset of the caller's region as its publisher sees it, withdrawn ones too."""

    id: str
    region: str
    season: str
    title: str
    min_farms: int
    rows: int
    by: str
    issued_ms: int
    withdrawn_ms: int | None = None
    withdrawn_by: str | None = None
    withdrawn_reason: str | None = None
    files: dict[str, str] = Field(description="data.csv, data.parquet and dcat.jsonld: their addresses (none once "
                                  "withdrawn)")


def _base(request: Request) -> str:
    return str(get_services(request).settings.public_url or request.base_url)


def _record(row: OpenDatasetRow, request: Request) -> dict[str, Any]:
    licence = get_services(request).settings.open_data_license
    return dcat(row, _base(request), str(licence) if licence else None)


def _out(row: OpenDatasetRow, request: Request) -> DatasetOut:
    url = f"{_base(request).rstrip('/')}/open-data/{row.id}"
    files = {} if row.withdrawn_ms else {name: f"{url}/{name}" for name in (*FILES, "dcat.jsonld")}
    return DatasetOut(id=row.id, region=row.region, season=row.season, title=row.title, min_farms=row.min_farms,
                      rows=row.rows, by=row.by, issued_ms=row.issued_ms, withdrawn_ms=row.withdrawn_ms,
                      withdrawn_by=row.withdrawn_by, withdrawn_reason=row.withdrawn_reason, files=files)


@router.get("", response_model=RegionalView, responses={404: {"model": ProblemResponse}})
async def regional_view(services: ServicesDep, who: RegionalReader, clock: ClockDep,
                        season: Annotated[str, Query(min_length=1, max_length=32, examples=["2026"],
                                                     description="the production records' season")],
                        region: Annotated[Region | None, Query(description="default: the caller's region")] = None,
                        ) -> RegionalView:
    """The region (default the caller's) and each region one level below it, per crop and for all crops: farms
    counted, zones and their area, area planted and harvested (machine operations), harvest (records), water
    applied (irrigation records), open alerts, and pest pressure (farms and zones with a species' trap catch at or
    over its action threshold in the last 7 days). A region outside the caller's is 404."""
    assert services.regional is not None and who.region is not None
    region = region or who.region
    if not within(region, who.region):
        raise NotFound("region", region, "not a region this user sees")
    return await services.regional.view(region, season, services.settings.regional_min_farms, clock())


@router.post("/datasets", status_code=status.HTTP_201_CREATED, response_model=dict[str, Any],
             responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}})
async def publish_dataset(body: DatasetIn, request: Request, services: ServicesDep, who: RegionalPublisher,
                          audit: AuditDep, clock: ClockDep) -> dict[str, Any]:
    """Publish the region's cells (it and every region under it, per crop and all crops) for the season as an
    open dataset: CSV and Parquet at /open-data/{id}/, described by the DCAT record this answers with. The
    suppression runs again on exactly the rows written: a cell that would show fewer than
    FURROW_REGIONAL_MIN_FARMS farms, or give one away by subtraction, is a 409 naming it. The caller is the
    approver, in the audit log."""
    assert services.regional is not None and services.open_data is not None and who.region is not None
    region = body.region or who.region
    if not within(region, who.region):
        raise NotFound("region", region, "not a region this user sees")
    k = services.settings.regional_min_farms
    table = await services.regional.full_table(body.season, k, clock())
    try:
        row = await services.open_data.publish(table, region, body.season, k, who.name, body.title,
                                               body.description, clock())
    except Conflict as e:
        await audit(who.name, "regional.publish_refused", f"region:{region}", season=body.season, cell=e.value,
                    reason=e.reason)
        raise
    await audit(who.name, "regional.publish", f"dataset:{row.id}", region=region, season=body.season,
                min_farms=k, rows=row.rows, csv_sha256=hashlib.sha256(row.csv).hexdigest(),
                parquet_sha256=hashlib.sha256(row.parquet).hexdigest())
    return _record(row, request)


@router.get("/datasets", response_model=list[DatasetOut])
async def region_datasets(request: Request, services: ServicesDep, who: RegionalPublisher) -> list[DatasetOut]:
    """The open datasets of the caller's region (and the regions under it), newest first, withdrawn ones too."""
    assert services.open_data is not None and who.region is not None
    rows = await services.open_data.all(withdrawn=True)
    return [_out(row, request) for row in rows if within(row.region, who.region)]


@router.delete("/datasets/{dataset}", response_model=DatasetOut,
               responses={404: {"model": ProblemResponse}, 409: {"model": ProblemResponse}})
async def withdraw_dataset(request: Request, services: ServicesDep, who: RegionalPublisher, audit: AuditDep,
                           clock: ClockDep, dataset: Annotated[str, Path(max_length=32)],
                           reason: Annotated[str | None, Query(min_length=1, max_length=400,
                                                              description="why, for the audit log")] = None,
                           ) -> DatasetOut:
    """Withdraw a published dataset of the caller's region: its files are deleted, its addresses answer 410
    Gone and the DCAT catalogue no longer lists it. Who withdrew it and why are in the audit log. A dataset
    of another region is 404, one already withdrawn 409."""
    assert services.open_data is not None and who.region is not None
    row = await services.open_data.withdraw(dataset, who.region, who.name, reason, clock())
    await audit(who.name, "regional.withdraw", f"dataset:{row.id}", region=row.region, season=row.season,
                reason=reason)
    return _out(row, request)


@public.get("/open-data", response_model=dict[str, Any])
async def list_datasets(request: Request) -> dict[str, Any]:
    """The catalogue (a DCAT dcat:Catalog in JSON-LD): every published dataset's record, newest first. No
    login: this is open data."""
    open_data = get_services(request).open_data
    assert open_data is not None
    return catalog([_record(row, request) for row in await open_data.all()], _base(request))


@public.get("/open-data/{dataset}/{file}", response_class=Response,
            responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {},
                                         "application/ld+json": {}}}, 404: {"model": ProblemResponse},
                       410: {"model": ProblemResponse},
                       422: {"model": ProblemResponse}})
async def dataset_file(request: Request, dataset: Annotated[str, Path(max_length=32)],
                       file: Annotated[str, Path(description="data.csv, data.parquet or dcat.jsonld")]) -> Response:
    """A published dataset's file, no login: data.csv (UTF-8; a withheld cell's figures empty, `withheld` says
    why), data.parquet (the same columns, nulls) or dcat.jsonld (its DCAT record). A withdrawn dataset's files
    are 410 Gone."""
    open_data = get_services(request).open_data
    assert open_data is not None
    row = await open_data.get(dataset)
    if row is None:
        raise NotFound("dataset", dataset, "no published dataset has this id")
    if row.withdrawn_ms is not None:
        raise Gone("dataset", dataset, "withdrawn by its publisher" + (f": {row.withdrawn_reason}"
                                                                       if row.withdrawn_reason else ""))
    if file == "dcat.jsonld":
        return Response(json.dumps(_record(row, request), ensure_ascii=False), media_type="application/ld+json")
    if file not in FILES:
        raise NotFound("file", file, "a dataset has data.csv, data.parquet and dcat.jsonld")
    data = row.csv if file == "data.csv" else row.parquet
    media = FILES[file] + ("; charset=utf-8" if file == "data.csv" else "")
    return Response(data, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{row.id}-{file}"'})
