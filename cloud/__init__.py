"""Furrow cloud: ingest, storage in InfluxDB or SQLite, irrigation commands, HTTP API.

``create_app(settings)`` builds the FastAPI service; see cloud/README.md.
The names below load on first use, so importing a light subpackage (the
agronomy engine behind `furrow agro`) does not pull in the web service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module 'furrow.cloud' has no attribute {name!r}")
