"""The interactive API docs at ``/docs``, served by the service itself: it works offline.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, so on a farm network without the
internet it is blank. Here the page loads Swagger UI from ``/docs/assets/``, which serves the
``swagger-ui-dist`` npm package (pinned in ``cloud/dashboard/package.json``, installed by
``scripts/_setup.sh`` beside uPlot). ReDoc, the other page FastAPI offers, is not served: one
docs page. Swagger UI's validator badge, which would call out to swagger.io, is off.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

SWAGGER_UI_DIST = Path(__file__).resolve().parent / "dashboard" / "node_modules" / "swagger-ui-dist"
ASSETS = "/docs/assets"


def swagger_ui_installed() -> bool:
    return (SWAGGER_UI_DIST / "swagger-ui-bundle.js").is_file()


async def _missing(scope: Scope, receive: Receive, send: Send) -> None:
    response = PlainTextResponse("Swagger UI is not installed: run `npm ci --ignore-scripts` in "
                                 "furrow/cloud/dashboard (scripts/_setup.sh does); /openapi.json has the schema",
                                 status_code=404)
    await response(scope, receive, send)


def mount(app: FastAPI) -> None:
    """Add ``/docs`` and its assets to `app` (made with ``docs_url=None, redoc_url=None``)."""
    assert app.openapi_url is not None

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png", oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None})

    app.mount(ASSETS, StaticFiles(directory=SWAGGER_UI_DIST) if swagger_ui_installed() else _missing,
              name="swagger-ui")
