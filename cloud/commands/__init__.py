"""Irrigation commands: created, routed to a gateway, sent, acknowledged.

    created -> sent -> received -> started -> completed | aborted | rejected
                                  (not started) -> expired;  (not final) -> cancelled
"""

from .lifecycle import FINAL_STATES, AckOutcome, CommandState, moves_forward
from .models import CommandEventOut, CommandOut
from .service import (
    CommandNotFound,
    CommandPublisher,
    CommandService,
    NotCancellable,
    UnroutableNode,
    new_command_id,
    wire_command,
)

__all__ = [
    "FINAL_STATES",
    "AckOutcome",
    "CommandEventOut",
    "CommandNotFound",
    "CommandOut",
    "CommandPublisher",
    "CommandService",
    "CommandState",
    "NotCancellable",
    "UnroutableNode",
    "moves_forward",
    "new_command_id",
    "wire_command",
]
