"""The command lifecycle as pure rules.

    created -> sent -> received -> started -> completed | aborted | rejected
    created | sent | received -> expired          (the cloud's expiry job)
    created -> cancelled                            (cancelled before it left the cloud)
    sent | received | started -> cancelling -> cancelled | completed | aborted | rejected
                                                    (the controller's word on the cancel it was sent)
    cancelling -> cancelled                         (no word once the command can no longer run)

"created", "sent", "expired", "cancelling" and the cloud's own "cancelled" are
the cloud's steps; the rest are reported by the controller in acknowledgements
(a controller that drops a held command, or closes a running one, for a cancel
says "cancelled", contract 1.2). Acks can arrive late, twice or out of order
(QoS 1, store-and-forward gateways), so the state only ever moves forward and
a final state never changes.
"""

from enum import StrEnum

from furrow.edge import commands as contract


class CommandState(StrEnum):
    CREATED = "created"
    SENT = "sent"
    RECEIVED = contract.ACK_RECEIVED
    STARTED = contract.ACK_STARTED
    COMPLETED = contract.ACK_COMPLETED
    ABORTED = contract.ACK_ABORTED
    REJECTED = contract.ACK_REJECTED
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = contract.ACK_CANCELLED


FINAL_STATES = frozenset(CommandState(s) for s in contract.FINAL_ACK_STATES) | {
    CommandState.EXPIRED, CommandState.CANCELLED}
# Not started yet: the expiry job may still expire these.
NOT_STARTED = frozenset({CommandState.CREATED, CommandState.SENT, CommandState.RECEIVED})
CANCELLABLE = NOT_STARTED | {CommandState.STARTED}

_RANK = {
    CommandState.CREATED: 0,
    CommandState.SENT: 1,
    CommandState.RECEIVED: 2,
    CommandState.STARTED: 3,
    CommandState.CANCELLING: 4,
    CommandState.COMPLETED: 5,
    CommandState.ABORTED: 5,
    CommandState.REJECTED: 5,
    CommandState.EXPIRED: 5,
    CommandState.CANCELLED: 5,
}


class AckOutcome(StrEnum):
    """What one acknowledgement did."""

    APPLIED = "applied"  # moved the command forward
    LATE = "late"  # recorded in the history; the command was already further on
    DUPLICATE = "duplicate"  # this state was already reported: nothing changed
    UNKNOWN_COMMAND = "unknown_command"  # no such command id: counted and ignored
    WRONG_NODE = "wrong_node"  # the ack names another node than the command: ignored
    # a gateway refused a replayed copy of the command: says nothing about the
    # command itself (the first copy went through), so logged and counted only
    REPLAY_REFUSED = "replay_refused"


def moves_forward(current: str, reported: str) -> bool:
    """Whether `reported` advances a command that is in `current`."""
    cur, new = CommandState(current), CommandState(reported)
    if cur in FINAL_STATES:
        return False
    return _RANK[new] > _RANK[cur]
