"""Furrow cloud: ingest, storage in InfluxDB or SQLite, irrigation commands, HTTP API.

``create_app(settings)`` builds the FastAPI service; see cloud/README.md.
"""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
