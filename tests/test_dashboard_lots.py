"""The lots page (views/lots.js) in a real browser (Playwright, Debian's Chromium) against a running cloud
service: a harvest lot listed from the production records, published with a chosen few items, its public
address and QR code shown, the printable report opened (styled, with the QR code and everything of the lot),
the public page /lot/{token} showing the chosen items and not the others, withdrawn to 404; in English and in
Simplified Chinese."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard_support import login_with_token, new_page, screenshot
from tests.test_dashboard_i18n import COLLECT, chinese_in, data_of, missing_keys, untranslated

LOT = "2026-0901-07"  # digits: the other pages' language checks see it as data
FIELD = {"id": "lot-f1", "site_id": "demo", "name": "Hillside"}
SEED_LOT = "DK159-2026-0412"
RECORDS = [
    {"field": "lot-f1", "season": "2026", "occurred_at": "2026-04-20T06:00:00Z",
     "details": {"kind": "sowing", "crop": "maize", "variety": "DK 159", "seed_lot": SEED_LOT}},
    {"field": "lot-f1", "season": "2026", "occurred_at": "2026-09-01T08:00:00Z",
     "details": {"kind": "harvest", "lot_id": LOT, "quantity_kg": 12345}},
]
CHOSEN = ["crop", "harvest_dates", "quantity"]  # not the seed lots, not the field's name


@pytest.fixture(scope="module")
def farm(dashboard_farm):
    """The dashboard tests' farm with field lot-f1 sown (seed lot DK159-2026-0412) and harvested as lot
    2026-0901-07 (12 345 kg), recorded through the API."""
    with dashboard_farm.client() as c:
        assert c.post("/registry/fields", json=FIELD).status_code == 201
        for body in RECORDS:
            r = c.post("/trace/records", json=body)
            assert r.status_code == 201, r.text
    return dashboard_farm


@pytest.mark.parametrize(("locale", "words"), [
    ("en-GB", {"harvested": "Harvested", "crop": "maize", "published": "Published."}),
    ("zh-CN", {"harvested": "收获", "crop": "maize", "published": "已发布。"})])
def test_a_lot_is_published_from_its_page_its_report_and_public_page_show_what_they_should(
        farm, dashboard_browser, locale, words):
    """From the lot list to the lot's page; three items chosen and published: the public address and its QR
    code appear; the printable report opens styled, with the QR code, the seed lot and the public address; the
    public page shows the crop, the harvest date and the quantity, and neither the seed lot nor the field's
    name; withdrawn, the public page is 404; nothing is left untranslated."""
    page = new_page(dashboard_browser, locale=locale)
    login_with_token(page, farm, "agronomist")
    page.goto(f"{farm.url}/app/#/lots")
    expect(page.locator("[data-view=lots]")).to_have_attribute("data-rendered", "1")
    row = page.get_by_test_id("lot-list").locator(f"tr[data-lot='{LOT}']")
    expect(row).to_contain_text("Hillside")  # the field by its name, not its id lot-f1
    row.get_by_role("link", name=LOT).click()
    expect(page.locator("[data-view=lots][data-rendered='1']")).to_be_visible()
    expect(page.get_by_test_id("lot-summary")).to_contain_text("Hillside")

    for box in page.locator("input[name=item]").all():
        box.set_checked(box.get_attribute("value") in CHOSEN)
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("publish-status")).to_have_text(words["published"])
    expect(page.get_by_test_id("publication")).to_have_attribute("data-published", "1")
    link = page.get_by_test_id("public-url")
    url = link.get_attribute("href")
    assert url is not None and url.startswith(f"{farm.url}/lot/") and link.inner_text() == url
    qr = page.get_by_test_id("lot-qr")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/png;base64,")
    texts = page.evaluate(COLLECT)
    assert missing_keys(page) == [] and page.errors == []
    if locale == "zh-CN":
        assert untranslated(texts, [*data_of(farm), LOT, url, "2026"]) == []
        screenshot(page, "zh-lot")
    else:
        assert chinese_in(texts) == []
        screenshot(page, "lot")

    with page.expect_popup() as opened:
        page.get_by_test_id("open-report").click()
    report = opened.value
    expect(report.locator("html[data-styled='1']")).to_have_count(1)
    expect(report.locator("body")).to_contain_text(SEED_LOT)  # the farm's copy shows everything
    expect(report.locator("body")).to_contain_text(url)
    assert report.locator(".qr img").get_attribute("src") == qr.get_attribute("src")
    assert report.locator(".qr").evaluate("e => getComputedStyle(e).float") == "right"  # its own print layout
    report.close()

    public = new_page(dashboard_browser, locale=locale)  # anyone, not logged in
    response = public.goto(url)
    assert response is not None and response.status == 200
    body = public.locator("body")
    expect(body).to_contain_text(words["harvested"])
    expect(body).to_contain_text("2026-09-01")
    expect(body).to_contain_text(words["crop"])
    expect(body).to_contain_text("12")  # the quantity, as the page writes 12 345
    shown = body.inner_text()
    assert "12345" in shown.replace(",", "").replace(" ", "").replace("\u202f", "").replace("\xa0", "")
    assert SEED_LOT not in shown and "Hillside" not in shown and "lot-f1" not in shown
    public.context.close()

    page.get_by_test_id("withdraw").click()
    expect(page.get_by_test_id("publication")).to_have_attribute("data-published", "0")
    assert httpx.get(url, timeout=30).status_code == 404
    page.context.close()
