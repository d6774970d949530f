"""Which "rejected" acknowledgements say something about the command itself.

A gateway refuses a copy of a command for reasons that may have nothing to do
with the command the cloud sent (gateway/command_auth.py): a replayed copy, or
one that failed authentication (anyone on the gateway's command topic can send
one under a real command's id). Such a refusal leaves the command as it is.
Only a refusal that would hit the cloud's own copy too ends it: the cloud signs
nothing and the gateway wants signatures, or the gateway does not trust the key
the cloud signs with.
"""

from __future__ import annotations

from typing import Any

from furrow.edge import commands as contract
from furrow.edge.signing import (
    REFUSED_REPLAYED,
    REFUSED_SIGNATURE,
    REFUSED_UNKNOWN_KEY,
    REFUSED_UNSIGNED,
    REFUSED_WRONG_GATEWAY,
    refusal_kind,
)

# Refusals of a copy that failed authentication at the gateway.
AUTH_REFUSALS = (REFUSED_UNSIGNED, REFUSED_UNKNOWN_KEY, REFUSED_SIGNATURE, REFUSED_WRONG_GATEWAY)


def refuses_own_copy(kind: str, reason: str, signing_kid: str | None) -> bool:
    """Whether an authentication refusal of `kind` would hit this cloud's own copy too
    (`signing_kid`: the key the cloud signs with, None when it signs nothing)."""
    if kind == REFUSED_UNSIGNED:
        return signing_kid is None
    if kind == REFUSED_UNKNOWN_KEY:
        return signing_kid is not None and f"kid {signing_kid!r} " in reason
    return False


def refuses_a_copy_only(ack: dict[str, Any], signing_kid: str | None) -> str | None:
    """For a validated ack: the refusal's kind when it is about a copy, not the command
    (a replay, or a forgery the gateway caught); None when the ack is about the command."""
    if ack["state"] != contract.ACK_REJECTED:
        return None
    kind = refusal_kind(ack["reason"])
    if kind == REFUSED_REPLAYED:
        return kind
    if kind in AUTH_REFUSALS and not refuses_own_copy(kind, ack["reason"], signing_kid):
        return kind
    return None
