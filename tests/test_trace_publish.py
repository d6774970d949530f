"""A harvest lot published (issue 21): the public page behind its token shows what the farm chose and nothing
else, not other lots; withdrawn or unknown tokens are 404; the printable report's QR code decodes back to the
public page's address (with Debian's zbarimg)."""

from __future__ import annotations

import base64
import re
import subprocess

import httpx
import pytest

from furrow.cloud.trace.pages import choose_lang
from tests.cloud_support import local_settings, problem, running_app
from tests.test_machinery_operations import BOUNDARY

FARM = [("sites", {"id": "demo", "name": "Hilltop Farm", "timezone": "Asia/Shanghai"}),
        ("fields", {"id": "f1", "site_id": "demo", "name": "North"}),
        ("fields", {"id": "f2", "site_id": "demo", "name": "Orchard Corner"})]
RECORDS = [
    {"field": "f1", "season": "2026", "occurred_at": "2026-04-20T06:00:00Z",
     "details": {"kind": "sowing", "crop": "maize", "variety": "DK 159", "seed_lot": "DK159-2026-0412"}},
    {"field": "f1", "season": "2026", "occurred_at": "2026-08-10T07:30:00+08:00",
     "details": {"kind": "spraying", "product": "Coragen 20SC", "rate": 0.15, "rate_unit": "L/ha", "phi_days": 14}},
    {"field": "f1", "season": "2026", "occurred_at": "2026-07-01T05:00:00Z",
     "details": {"kind": "irrigation", "water_mm": 12.5}},
    # 23:30 UTC on Aug 31 is Sept 1 at the farm (UTC+8): the page gives the farm's date
    {"field": "f1", "season": "2026", "occurred_at": "2026-08-31T23:30:00Z",
     "details": {"kind": "harvest", "lot_id": "F1-2026-A", "quantity_kg": 18000}},
    {"field": "f2", "season": "2026", "occurred_at": "2026-05-02T06:00:00Z",
     "details": {"kind": "sowing", "crop": "sorghum", "seed_lot": "SG-OTHER-77"}},
    {"field": "f2", "season": "2026", "occurred_at": "2026-09-20T06:00:00Z",
     "details": {"kind": "harvest", "lot_id": "F2-2026-B", "quantity_kg": 5000}},
]


async def _farm(c) -> None:  # noqa: ANN001
    for path, body in FARM:
        assert (await c.post(f"/api/v1/registry/{path}", json=body)).status_code == 201
    for body in RECORDS:
        r = await c.post("/api/v1/trace/records", json=body)
        assert r.status_code == 201, r.text


def _anonymous(c) -> httpx.AsyncClient:  # noqa: ANN001
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://furrow.test")


def test_language_from_the_query_then_accept_language():
    assert choose_lang("zh-CN", "en") == "zh" and choose_lang("en", "zh-CN,zh;q=0.9") == "en"
    assert choose_lang(None, "en;q=0.5, zh-CN;q=0.8") == "zh" and choose_lang(None, "fr, de") == "en"
    assert choose_lang(None, None) == "en" and choose_lang(None, "zh;q=x, en") == "en"


async def test_a_published_lot_shows_only_what_was_chosen_then_withdrawn_is_404(tmp_path):
    """Publishing crop, field names, harvest dates and inputs: the page (no login) shows the maize, "North",
    the farm's harvest date and the spray with its pre-harvest interval met, and neither the seed lot, the
    farm's name, the water, nor anything of the other lot; withdrawn, the token is 404."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        r = await c.post("/api/v1/trace/lots/F1-2026-A/publication",
                         json={"items": ["crop", "fields", "harvest_dates", "inputs"]})
        assert r.status_code == 201, r.text
        pub = r.json()
        assert len(pub["token"]) >= 32 and pub["url"] == f"http://furrow.test/lot/{pub['token']}"
        async with _anonymous(c) as anyone:
            page = await anyone.get(f"/lot/{pub['token']}", params={"lang": "en"})
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            html = page.text
            for shown in ("F1-2026-A", "maize DK 159", "North", "2026-09-01", "Coragen 20SC", "pre-harvest interval",
                          "respected"):
                assert shown in html, shown
            for private in ("DK159-2026-0412", "Hilltop Farm", "12.5", "18000", "Records verified",
                            "F2-2026-B", "Orchard Corner", "sorghum", "SG-OTHER-77"):
                assert private not in html, private
            zh = await anyone.get(f"/lot/{pub['token']}", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
            assert "收获批次" in zh.text and "安全间隔期" in zh.text and 'lang="zh-CN"' in zh.text
            assert (await anyone.get("/lot/not-a-token")).status_code == 404
            # the token opens no API route
            assert (await anyone.get("/api/v1/trace/lots/F1-2026-A",
                                     headers={"Authorization": f"Bearer {pub['token']}"})).status_code == 401

            other = (await c.post("/api/v1/trace/lots/F2-2026-B/publication", json={})).json()
            assert other["items"] == sorted(["crop", "fields", "region", "sowing_dates", "harvest_dates", "inputs",
                                             "water", "verification"])  # the built-in default
            assert "Orchard Corner" in (await anyone.get(f"/lot/{other['token']}")).text
            assert "Orchard Corner" not in (await anyone.get(f"/lot/{pub['token']}")).text

            r = await c.delete("/api/v1/trace/lots/F1-2026-A/publication")
            assert r.status_code == 200 and r.json()["withdrawn_ms"] is not None
            gone = await anyone.get(f"/lot/{pub['token']}")
            assert gone.status_code == 404 and problem(gone)["value"] is None  # the token is not echoed
            assert (await c.delete("/api/v1/trace/lots/F1-2026-A/publication")).status_code == 404
            assert (await anyone.get(f"/lot/{other['token']}")).status_code == 200  # the other lot stays

            again = (await c.post("/api/v1/trace/lots/F1-2026-A/publication", json={})).json()
            assert again["token"] != pub["token"]
            assert (await anyone.get(f"/lot/{pub['token']}")).status_code == 404
        assert (await c.post("/api/v1/trace/lots/NOPE/publication", json={})).status_code == 404
        r = await c.post("/api/v1/trace/lots/F1-2026-A/publication", json={"items": ["crop", "secrets"]})
        assert r.status_code == 422 and "secrets" in r.text
        actions = [e["action"] for e in (await c.get("/api/v1/audit")).json()]
        assert actions.count("trace.publish") == 3 and actions.count("trace.withdraw") == 1


async def test_the_farm_wide_default_and_a_chosen_boundary(tmp_path):
    """The farm-wide default applies to a lot published without a choice; the exact outline shows only when
    chosen."""
    async with running_app(local_settings(tmp_path)) as c:
        await _farm(c)
        r = await c.put("/api/v1/trace/publication-default", json={"items": ["quantity", "region"]})
        assert r.status_code == 200 and r.json() == {"items": ["quantity", "region"]}
        pub = (await c.post("/api/v1/trace/lots/F1-2026-A/publication", json={})).json()
        assert (await c.put("/api/v1/registry/fields/f1/boundary", json=BOUNDARY)).status_code == 200
        async with _anonymous(c) as anyone:
            html = (await anyone.get(f"/lot/{pub['token']}")).text
            assert "18000 kg" in html and "Hilltop Farm" in html and "North" not in html and "maize" not in html
            assert "coordinates" not in html
            pub = (await c.post("/api/v1/trace/lots/F1-2026-A/publication", json={"items": ["boundaries"]})).json()
            html = (await anyone.get(f"/lot/{pub['token']}")).text
            assert "Polygon" in html and "coordinates" in html and "Hilltop Farm" not in html


async def test_the_printable_report_has_a_qr_code_that_decodes_to_the_public_page(tmp_path):
    """The report (logged in) has every item, and once the lot is published a QR code image that zbarimg
    reads back as the public page's address, at FURROW_PUBLIC_URL."""
    async with running_app(local_settings(tmp_path, public_url="https://trace.example.farm/")) as c:
        await _farm(c)
        before = await c.get("/api/v1/trace/lots/F1-2026-A/report", params={"lang": "en"})
        assert before.status_code == 200 and "Not published" in before.text and "data:image/png" not in before.text
        assert "DK159-2026-0412" in before.text and "Hilltop Farm" in before.text  # the farm's own copy: all
        pub = (await c.post("/api/v1/trace/lots/F1-2026-A/publication", json={"items": ["crop"]})).json()
        assert pub["url"] == f"https://trace.example.farm/lot/{pub['token']}"
        report = await c.get("/api/v1/trace/lots/F1-2026-A/report", headers={"Accept-Language": "zh-CN"})
        assert "批次报告" in report.text and "@media print" in report.text
        [png] = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', report.text)
        (tmp_path / "qr.png").write_bytes(base64.b64decode(png))
        out = subprocess.run(["zbarimg", "--quiet", "--raw", str(tmp_path / "qr.png")], capture_output=True,
                             text=True, timeout=60, check=True)
        assert out.stdout.strip() == pub["url"]
        async with _anonymous(c) as anyone:
            assert (await anyone.get("/api/v1/trace/lots/F1-2026-A/report")).status_code == 401


@pytest.mark.parametrize("body", [{"items": "crop"}, {"items": ["crop"], "extra": 1}])
def test_publish_body_is_checked(body):
    from pydantic import ValidationError

    from furrow.cloud.trace.models import PublishIn

    with pytest.raises(ValidationError):
        PublishIn.model_validate(body)


async def test_the_pages_open_without_a_token_are_limited_per_client_address(tmp_path):
    """A flood from one address is refused with 429 and Retry-After once it has had `public_max_requests`
    in the window (tokens are unguessable, but a flood still costs the cloud); another address, and the
    API behind a token, are not held up by it."""
    async with running_app(local_settings(tmp_path, public_max_requests=5, public_window_s=60)) as c:
        def at(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=c.app, client=(address, 40000))
            return httpx.AsyncClient(transport=transport, base_url="http://furrow.test")

        async with at("198.51.100.7") as flood, at("203.0.113.9") as other:
            answers = [(await flood.get(f"/lot/guess-{i}")).status_code for i in range(5)]
            assert answers == [404] * 5
            refused = await flood.get("/open-data")
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
            assert problem(refused)["field"] == "client" and problem(refused)["value"] == "198.51.100.7"
            assert (await flood.get("/lot/guess-6")).status_code == 429
            assert (await other.get("/lot/guess-1")).status_code == 404  # another address is not held up
        assert (await c.get("/api/v1/stats")).status_code == 200  # nor the API behind a token
