"""The web dashboard, served by the cloud service itself: ``mount(app)`` adds it.

- ``GET /`` redirects to ``/app/``;
- ``/app/`` serves the single-page dashboard (``static/``: HTML, CSS and JavaScript modules, no
  build step), which talks to ``/api/v1`` with the user's token like any other client;
- ``/app/vendor/uplot/`` serves the uPlot chart library from ``node_modules/uplot/dist``, which
  ``npm install`` in this folder puts there (scripts/_setup.sh does it; ``package.json`` pins the
  version). The wheel carries those files as package data when it is built after that install;
  without them the dashboard works and says its charts are unavailable;
- ``/app/vendor/leaflet/`` serves the Leaflet map library (the machinery page's map) from
  ``node_modules/leaflet/dist`` the same way; without it the page says the map is unavailable.

The static files are public (they hold no data); every request for data needs a token.
"""

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..settings import Settings, tile_origin

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CATALOGUES = STATIC / "i18n"  # one <locale>.json per language the dashboard speaks (docs/dashboard.md)


def locales() -> list[str]:
    """The languages the dashboard speaks: one catalogue file each."""
    return sorted(p.stem for p in CATALOGUES.glob("*.json"))
UPLOT_DIST = HERE / "node_modules" / "uplot" / "dist"
LEAFLET_DIST = HERE / "node_modules" / "leaflet" / "dist"


async def _uplot_missing(scope: Scope, receive: Receive, send: Send) -> None:
    response = PlainTextResponse("uPlot is not installed: run `npm install` in furrow/cloud/dashboard "
                                 "(scripts/_setup.sh does); the dashboard works without charts", status_code=404)
    await response(scope, receive, send)


async def _leaflet_missing(scope: Scope, receive: Receive, send: Send) -> None:
    response = PlainTextResponse("Leaflet is not installed: run `npm ci --ignore-scripts` in furrow/cloud/dashboard "
                                 "(scripts/_setup.sh does); the dashboard works without its map", status_code=404)
    await response(scope, receive, send)


# The page loads only its own scripts and styles and talks only to its own origin; data from the
# API is put into the page as text, never as HTML. blob: images are the photos the page fetched
# itself with the reader's token (an <img> cannot send it); the map's basemap tiles come from the one tile
# server FURROW_MAP_TILE_URL names, when it names one. no-cache: revalidate (ETag), so an upgraded
# service's pages are used at once.
def headers(settings: Settings | None = None) -> dict[str, str]:
    """The response headers of every dashboard file under `settings` (the tile origin in img-src)."""
    tiles = f" {tile_origin(settings.map_tile_url)}" if settings is not None and settings.map_tile_url else ""
    return {
        "Content-Security-Policy": f"default-src 'self'; img-src 'self' data: blob:{tiles}; object-src 'none'; "
                                   "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


HEADERS = headers()  # with no tile server


class _Static(StaticFiles):
    def __init__(self, *args: Any, headers: dict[str, str] = HEADERS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers = headers

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(self.headers)
        return response


def uplot_installed() -> bool:
    return (UPLOT_DIST / "uPlot.iife.min.js").is_file()


def leaflet_installed() -> bool:
    return (LEAFLET_DIST / "leaflet.js").is_file()


def mount(app: FastAPI) -> None:
    """Add the dashboard's public routes to `app`."""

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/app/")

    sent = headers(getattr(app.state, "settings", None))
    app.mount("/app/vendor/uplot", _Static(directory=UPLOT_DIST, headers=sent) if uplot_installed()
              else _uplot_missing, name="uplot")
    app.mount("/app/vendor/leaflet", _Static(directory=LEAFLET_DIST, headers=sent) if leaflet_installed()
              else _leaflet_missing, name="leaflet")
    app.mount("/app", _Static(directory=STATIC, html=True, headers=sent), name="dashboard")
