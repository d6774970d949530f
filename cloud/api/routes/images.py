"""Images from camera nodes: a zone's or node's images, one image and its thumbnail, HTTPS ingest."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from furrow.edge.image_forward import decode_image
from furrow.edge.topics import check_id

from ..._time import parse_instant
from ...errors import Forbidden, NotFound
from ...images import ImageService
from ..deps import Ingester, Reader, ServicesDep
from ..json_body import JsonRoute
from ..schemas import ProblemResponse
from .ingest import gateway_origin

router = APIRouter(tags=["images"], route_class=JsonRoute)

# An image's seq is a database key: one past int64 is a 422 naming it, not an OverflowError (500).
Seq = Annotated[int, Path(ge=0, le=2**63 - 1)]


class ImageOut(BaseModel):
    node: str
    seq: int
    site: str
    gateway: str
    zone_id: str | None
    kind: Literal["canopy", "trap"]
    format: str
    ts_ms: int
    received_ms: int
    size: int
    sha256: str
    width: int
    height: int


class ImageReceipt(BaseModel):
    v: str
    node: str
    image: int
    status: Literal["stored", "refused"]
    reason: str | None


def _images(services: Any) -> ImageService:
    assert services.images is not None, "open_services sets the image service"
    return services.images


@router.get("/images", response_model=list[ImageOut], responses={422: {"model": ProblemResponse}})
async def list_images(
    services: ServicesDep,
    _: Reader,
    zone: str | None = None,
    node: str | None = None,
    kind: Literal["canopy", "trap"] | None = None,
    start: Annotated[str | None, Query(description="capture time from, ISO 8601 or Unix ms")] = None,
    end: Annotated[str | None, Query(description="capture time before, ISO 8601 or Unix ms (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """A zone's (or a node's) images, newest first: when and by which node each was taken, its kind,
    size and checksum. The bytes are at `/images/{node}/{seq}/content` and `.../thumbnail`."""
    if zone is not None:
        check_id("zone", zone)
    if node is not None:
        check_id("node", node)
    images = await _images(services).list(
        zone=zone, node=node, kind=kind, start_ms=parse_instant("start", start) if start else None,
        end_ms=parse_instant("end", end) if end else None, limit=limit)
    return [i.as_dict() for i in images]


async def _one(services: Any, node: str, seq: int) -> Any:
    check_id("node", node)
    image = await _images(services).get(node, seq)
    if image is None:
        raise NotFound("seq", seq, f"no image {seq} of node {node}")
    return image


@router.get("/images/{node}/{seq}", response_model=ImageOut, responses={404: {"model": ProblemResponse}})
async def get_image(services: ServicesDep, _: Reader, node: str, seq: Seq) -> dict[str, Any]:
    """One image's metadata."""
    return (await _one(services, node, seq)).as_dict()


def _jpeg(data: bytes) -> Response:
    # An image never changes once stored: (node, seq) is kept once.
    return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=86400"})


@router.get("/images/{node}/{seq}/content", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "the image as the node took it"},
    404: {"model": ProblemResponse}})
async def get_image_content(services: ServicesDep, _: Reader, node: str, seq: Seq) -> Response:
    """The image's bytes, as the camera node took them."""
    await _one(services, node, seq)
    return _jpeg(await _images(services).content(node, seq))


@router.get("/images/{node}/{seq}/thumbnail", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "at most 320 px on its longer side"},
    404: {"model": ProblemResponse}})
async def get_image_thumbnail(services: ServicesDep, _: Reader, node: str, seq: Seq) -> Response:
    """A small JPEG of the image (at most 320 px on its longer side), for timelines."""
    await _one(services, node, seq)
    return _jpeg(await _images(services).content(node, seq, thumb=True))


@router.post("/ingest/image", response_model=ImageReceipt, responses={
    503: {"model": ProblemResponse, "description": "the object store is unavailable: retry later"}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary",
                   "description": "one JSON header line, a newline, the image (edge/image_forward.py)"}}}}})
async def post_image(request: Request, services: ServicesDep, who: Ingester) -> dict[str, Any]:
    """Store a gateway's whole image (the HTTPS path; MQTT is the other). The answer is the image's
    receipt: "stored" once the image and its metadata are kept (a resent image is kept once), or
    "refused" with the reason. A gateway token may only post its own gateway's images."""
    body = await request.body()
    origin = gateway_origin(who)
    if origin is not None:
        try:
            header, _ = decode_image(body)
        except Exception:  # noqa: BLE001 - the service refuses it with the reason below
            header = None
        if header is not None and (header["site"], header["gateway"]) != origin:
            raise Forbidden("gateway", header["gateway"], f"this token speaks for {origin[0]}.{origin[1]} only")
    return await _images(services).ingest(body)
