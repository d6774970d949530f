"""Machinery and field operations (issue 20).

* `coverage`: worked area from a track and a working width (pure: swaths, covered, overlap, skipped)
* `tracks`: tracks from GPX and CSV files
* `live`: trackers' fixes from the gateways' batches (TrackStore)
* `models`: what the routes take and give; `service`: OperationService, record, list, progress
"""

from .live import TrackStore
from .service import OperationService

__all__ = ["OperationService", "TrackStore"]
