"""Machinery and field operations (issue 20).

* `coverage`: worked area from a track and a working width (pure: swaths, covered, overlap, skipped)
* `tracks`: tracks from GPX and CSV files
* `live`: trackers' fixes from the gateways' batches (TrackStore)
* `yield_map`: a combine's yield monitor log cleaned and totalled at standard moisture (pure)
* `models`: what the routes take and give; `service`: OperationService (record, list, progress, dispatch)
  and YieldLogs
"""

from .live import TrackStore
from .service import OperationService

__all__ = ["OperationService", "TrackStore"]
