"""Pests from the farm's traps: trap photos counted (counting.py, classifier.py), people's corrections,
the species table's entries, and each zone's species seasons (season.py) in the service (service.py)."""

from .models import CardKind, CountDetail, CountOut, ReviewIn, TrapIn, TrapOut
from .service import PestService

__all__ = ["CardKind", "CountDetail", "CountOut", "PestService", "ReviewIn", "TrapIn", "TrapOut"]
