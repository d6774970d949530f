"""Images in the cloud: stored once in the object store (files, or a real S3 server), metadata in the
database, thumbnails, retention, the processing hook, and the API."""

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from furrow.cloud.db import Database
from furrow.cloud.images import FileObjects, ImageService, ObjectsUnavailable, S3Objects
from furrow.edge.image_forward import decode_image_receipt, encode_image, make_image_header
from tests.cloud_support import ADMIN, T0, local_settings, problem, running_app
from tests.image_support import field_jpeg

DAY = 86_400_000


def message(jpeg: bytes, seq: int = 1, node: str = "cam-01", kind: str = "canopy", ts_ms: int = T0,
            sha: str | None = None, gateway: str = "gw-1") -> bytes:
    header = make_image_header("farm", gateway, node, seq, kind, "jpeg", ts_ms, ts_ms + 1000, len(jpeg),
                               sha or hashlib.sha256(jpeg).hexdigest())
    return encode_image(header, jpeg)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    d = Database(f"sqlite:///{tmp_path / 'furrow.db'}")
    d.migrate()
    return d


async def test_an_image_is_stored_once_with_its_thumbnail_and_metadata(db: Database, tmp_path: Path):
    """The image and a thumbnail go to the object store, the row to the database; the resent image changes nothing."""
    objects = FileObjects(tmp_path / "images")
    images = ImageService(db, objects, clock=lambda: T0 + 5000)
    jpeg = field_jpeg(640, 480)
    assert (await images.ingest(message(jpeg)))["status"] == "stored"
    assert (await images.ingest(message(jpeg)))["status"] == "stored"
    [stored] = await images.list(node="cam-01")
    assert (stored.seq, stored.kind, stored.ts_ms, stored.size, stored.width, stored.height) == (
        1, "canopy", T0, len(jpeg), 640, 480)
    assert stored.sha256 == hashlib.sha256(jpeg).hexdigest() and stored.received_ms == T0 + 5000
    assert await images.content("cam-01", 1) == jpeg
    thumb = Image.open(io.BytesIO(await images.content("cam-01", 1, thumb=True)))
    assert thumb.size == (320, 240) and thumb.format == "JPEG"
    assert images.stats["stored"] == 1 and images.stats["duplicates"] == 1


@pytest.mark.parametrize("case,reason", [
    ("checksum", "does not match"),
    ("not_jpeg", "not a readable image"),
    ("short", "size"),
    ("garbage", "header"),
])
async def test_a_bad_image_is_refused_with_its_reason_and_nothing_stored(db: Database, tmp_path: Path, case: str,
                                                                         reason: str):
    """A checksum that does not match, bytes that are no image, a short body or no header: refused, named."""
    images = ImageService(db, FileObjects(tmp_path / "images"))
    jpeg = field_jpeg(320, 240)
    bad = {"checksum": message(jpeg, sha="0" * 64), "not_jpeg": message(b"\x00" * 500),
           "short": message(jpeg)[:-10], "garbage": b"\xff\xd8 no header"}[case]
    receipt = await images.ingest(bad)
    assert receipt["status"] == "refused" and reason in receipt["reason"]
    assert await images.list() == [] and not any((tmp_path / "images").rglob("*.jpg"))


async def test_another_image_under_a_taken_seq_is_refused(db: Database, tmp_path: Path):
    """(node, seq) names one image: a different photo under the same seq is refused, the first is kept."""
    images = ImageService(db, FileObjects(tmp_path / "images"))
    first, other = field_jpeg(320, 240, seed=1), field_jpeg(320, 240, seed=2)
    await images.ingest(message(first))
    receipt = await images.ingest(message(other))
    assert receipt["status"] == "refused" and "already holds another image" in receipt["reason"]
    assert await images.content("cam-01", 1) == first


async def test_processing_steps_run_once_per_image_of_their_kind_and_a_failing_one_costs_nothing(
        db: Database, tmp_path: Path):
    """A canopy step sees each canopy image once (not the resend, not trap photos); a failing step is counted."""
    images = ImageService(db, FileObjects(tmp_path / "images"))
    seen: list[tuple[str, int, int]] = []

    async def canopy_step(image, data):  # type: ignore[no-untyped-def]
        seen.append((image.kind, image.seq, len(data)))

    async def broken_step(image, data):  # type: ignore[no-untyped-def]
        raise RuntimeError("model not loaded")

    images.subscribe("canopy", canopy_step)
    images.subscribe(None, broken_step)
    canopy, trap = field_jpeg(320, 240, seed=1), field_jpeg(320, 240, seed=2)
    for m in (message(canopy, seq=1), message(canopy, seq=1), message(trap, seq=2, kind="trap")):
        assert (await images.ingest(m))["status"] == "stored"
    assert seen == [("canopy", 1, len(canopy))] and images.stats["step_failures"] == 2


async def test_retention_deletes_old_images_and_their_objects(db: Database, tmp_path: Path):
    """Images taken before the retention window go, bytes and rows; newer ones stay."""
    now = T0 + 40 * DAY
    images = ImageService(db, FileObjects(tmp_path / "images"), clock=lambda: now, retention_days=30)
    jpeg = field_jpeg(320, 240)
    await images.ingest(message(jpeg, seq=1, ts_ms=T0))
    await images.ingest(message(jpeg, seq=2, ts_ms=T0 + 20 * DAY))
    assert await images.expire() == 1
    assert [i.seq for i in await images.list()] == [2]
    assert sorted(p.name for p in (tmp_path / "images").rglob("*.jpg")) == ["0000000002.jpg",
                                                                           "0000000002.thumb.jpg"]


async def test_images_in_a_real_s3_server(db: Database, seaweedfs):  # type: ignore[no-untyped-def]
    """Against SeaweedFS's S3 API with boto3: stored once, read back, deleted by retention; a wrong key is
    'unavailable' (kept and retried), never a refusal."""
    objects = S3Objects("furrow-images", endpoint_url=seaweedfs.url, access_key=seaweedfs.access_key,
                        secret_key=seaweedfs.secret_key)
    objects.ensure_bucket()
    images = ImageService(db, objects, clock=lambda: T0 + 40 * DAY, retention_days=30)
    jpeg = field_jpeg(640, 480, seed=7)
    assert (await images.ingest(message(jpeg, seq=11, ts_ms=T0)))["status"] == "stored"
    assert (await images.ingest(message(jpeg, seq=11, ts_ms=T0)))["status"] == "stored"
    assert await images.content("cam-01", 11) == jpeg
    assert Image.open(io.BytesIO(await images.content("cam-01", 11, thumb=True))).size == (320, 240)
    assert await images.expire() == 1
    with pytest.raises(KeyError):
        objects.get("farm/cam-01/0000000011.jpg")
    wrong = S3Objects("furrow-images", endpoint_url=seaweedfs.url, access_key=seaweedfs.access_key,
                      secret_key="not-the-secret")
    with pytest.raises(ObjectsUnavailable):
        await ImageService(db, wrong).ingest(message(jpeg, seq=12))
    assert [i.seq for i in await images.list()] == []


async def test_the_api_lists_a_zones_images_and_serves_image_and_thumbnail(tmp_path: Path):
    """A registered camera's images list under its zone newest first; content and thumbnail are JPEGs; a reader
    may read, may not ingest; a gateway token posts only its own gateway's images."""
    async with running_app(local_settings(tmp_path)) as client:
        for path, body in [("/api/v1/registry/sites", {"id": "farm", "name": "Farm"}),
                           ("/api/v1/registry/fields", {"id": "f1", "site_id": "farm", "name": "F1"}),
                           ("/api/v1/registry/zones", {"id": "north-1", "field_id": "f1", "name": "North",
                                                        "area_ha": 2.0, "soil_texture": "loam",
                                                        "field_capacity_pct": 31.0,
                                                        "wilting_point_pct": 14.0, "root_depth_cm": 60,
                                                        "crop": "maize", "precip_rate_mm_h": 5.0}),
                           ("/api/v1/registry/nodes", {"id": "cam-01", "role": "camera", "zone_id": "north-1"})]:
            r = await client.post(path, json=body)
            assert r.status_code in (200, 201), r.text
        for seq in (1, 2):
            r = await client.post("/api/v1/ingest/image", content=message(field_jpeg(640, 480, seed=seq), seq=seq,
                                                                          ts_ms=T0 + seq * 3_600_000))
            assert r.status_code == 200 and r.json()["status"] == "stored", r.text
        r = await client.get("/api/v1/images", params={"zone": "north-1"})
        assert r.status_code == 200 and [(i["seq"], i["zone_id"]) for i in r.json()] == [(2, "north-1"),
                                                                                        (1, "north-1")]
        r = await client.get("/api/v1/images/cam-01/2/thumbnail")
        assert r.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(r.content)).size == (320, 240)
        r = await client.get("/api/v1/images/cam-01/2/content")
        assert r.content == field_jpeg(640, 480, seed=2)
        r = await client.get("/api/v1/images/cam-01/9")
        assert r.status_code == 404 and problem(r)["field"] == "seq"
        tokens = {}
        for role, name in (("agronomist", "ann"), ("gateway", "farm.gw-2")):
            r = await client.post("/api/v1/auth/tokens", json={"user": name, "role": role})
            assert r.status_code in (200, 201), r.text
            tokens[role] = {"Authorization": f"Bearer {r.json()['token']}"}
        r = await client.get("/api/v1/images", params={"zone": "north-1"}, headers=tokens["agronomist"])
        assert r.status_code == 200 and len(r.json()) == 2
        r = await client.post("/api/v1/ingest/image", content=message(field_jpeg(320, 240), seq=3),
                              headers=tokens["agronomist"])
        assert r.status_code == 403
        r = await client.post("/api/v1/ingest/image", content=message(field_jpeg(320, 240), seq=3),
                              headers=tokens["gateway"])
        assert r.status_code == 403 and problem(r)["field"] == "gateway"
        r = await client.post("/api/v1/ingest/image", content=message(field_jpeg(320, 240), seq=3, gateway="gw-2"),
                              headers=tokens["gateway"])
        assert decode_image_receipt(r.content)["status"] == "stored"
    assert ADMIN  # the bootstrap admin drove the setup above
