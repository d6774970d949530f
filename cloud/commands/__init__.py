"""Irrigation commands: created, routed to a gateway, sent, acknowledged.

    created -> sent -> received -> started -> completed | aborted | rejected
                                  (not started) -> expired;  (not final) -> cancelled

`CommandService` (service.py) is the lifecycle; `CommandSender` (dispatch.py)
signs and publishes; `PlanPublisher` (plans.py) keeps each gateway's plan.
"""

from .dispatch import CommandPublisher, CommandSender
from .errors import AckFromOtherGateway, CommandNotFound, NotCancellable, UnroutableNode
from .lifecycle import FINAL_STATES, AckOutcome, CommandState, moves_forward
from .models import CommandEventOut, CommandOut
from .records import wire_command
from .service import CommandService, new_command_id

__all__ = [
    "FINAL_STATES",
    "AckFromOtherGateway",
    "AckOutcome",
    "CommandEventOut",
    "CommandNotFound",
    "CommandOut",
    "CommandPublisher",
    "CommandSender",
    "CommandService",
    "CommandState",
    "NotCancellable",
    "UnroutableNode",
    "moves_forward",
    "new_command_id",
    "wire_command",
]
