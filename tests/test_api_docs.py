"""The interactive API docs at /docs in a real browser with the network closed to everything but
loopback: Swagger UI comes from the service itself (cloud/docs.py), so the page draws every
operation on a farm network without the internet.

Playwright drives Debian's Chromium (headless) against a real uvicorn; every request the page
makes to a host other than the service's loopback address is refused and recorded.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route, expect, sync_playwright

from furrow.cloud import create_app
from tests.cloud_support import local_settings
from tests.http_support import UvicornThread

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
TIMEOUT_MS = 20_000  # a bound on every wait; the machine may be busy with other tests


def test_docs_draw_every_operation_with_only_loopback_reachable(tmp_path):
    """/docs loads Swagger UI and the schema from the service alone and draws one block per
    operation; the page asks no other host for anything (it loaded Swagger UI from a CDN)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail("Chromium is missing: install the Debian package chromium (scripts/test does)")
    app = create_app(local_settings(tmp_path))
    operations = sum(len(methods) for methods in app.openapi()["paths"].values())
    refused: list[str] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    with UvicornThread(app) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context()
            context.route("**/*", loopback_only)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{server.url}/docs")
            expect(page.locator(".opblock")).to_have_count(operations, timeout=TIMEOUT_MS)
            expect(page.locator(".opblock-summary-path", has_text="/api/v1/readings").first).to_be_visible()
        finally:
            browser.close()
    assert refused == []
