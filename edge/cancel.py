"""Cancelling a command (contract 1.2): the message a sender builds.

A cancel is a command message with action "cancel" and the same id, node and
valve as the command it cancels:

    {"v": "1.2", "id": "c-5f1d...", "node": "irr-01", "valve": 1,
     "action": "cancel", "duration_s": null, "max_runtime_s": null,
     "not_before_ms": 1767225000000, "expires_ms": 1767230100000}

It is signed like any command (the cloud's `sig`, the node's `nmac`: see
signing.py, which covers the action, so no signature of an open can pass
for a cancel or the other way round). A controller that holds the command
drops it, one that runs it closes its valve, one that never saw it remembers
its id so the command arriving later is refused; each answers with the
command's final ack state "cancelled" (commands.ACK_CANCELLED). A cancel is
never held for its not_before_ms and is acted on whatever its times say:
dropping a command or closing a valve is always safe.

Why the same id: the Modbus mailbox has room for one id (32 characters), and
the node's answer is an ack of that id, so the cancel needs no id of its own.
The gateway's replay protection remembers relayed ids; a cancel is not a
replay of the command it names, so the gateway relays it even though that id
went through before (docs/contract.md, "Cancel").

A controller on contract 1.1 refuses a cancel (an unknown action: a
"rejected" ack, or Modbus exception 03, or the repeat of the command's
latest ack if it holds it) and opens nothing, but it still runs a command it
holds: `node_takes_cancel` tells a sender which nodes act on one.

Senders only (cloud, gateway, tools): this module is not in node images.
"""

from . import CONTRACT_MAJOR, CONTRACT_VERSION
from .commands import ACTION_CANCEL, validate_command
from .errors import ContractError
from .version import check_version

CANCEL_SINCE_MINOR = 2  # contract 1.2


def cancel_expires_ms(cmd):
    """When `cmd` can no longer be held or running, so its cancel is moot:
    its expiry (the latest it may start) plus its maximum runtime."""
    return cmd["expires_ms"] + cmd["max_runtime_s"] * 1000


def make_cancel(cmd, now_ms):
    """The cancel (validated, unsigned) of the open or close command `cmd`
    (validated), made at `now_ms` (Unix ms): not_before_ms is `now_ms`,
    expires_ms is cancel_expires_ms(cmd). ContractError naming the field if
    `cmd` is a cancel itself, or can no longer be held or running."""
    if cmd["action"] == ACTION_CANCEL:
        raise ContractError("action", ACTION_CANCEL, "a cancel cannot be cancelled")
    expires = cancel_expires_ms(cmd)
    if now_ms >= expires:
        raise ContractError("expires_ms", cmd["expires_ms"], "command %s can no longer be held or running at %d: "
                            "nothing to cancel" % (cmd["id"], now_ms))
    return validate_command(
        {
            "v": CONTRACT_VERSION,
            "id": cmd["id"],
            "node": cmd["node"],
            "valve": cmd["valve"],
            "action": ACTION_CANCEL,
            "duration_s": None,
            "max_runtime_s": None,
            "not_before_ms": now_ms,
            "expires_ms": expires,
        }
    )


def node_takes_cancel(version):
    """Whether a node speaking contract `version` ("MAJOR.MINOR": what its
    firmware reports, or what Modbus input register 0 reads as
    "%d.%d" % (r >> 8, r & 0xFF)) acts on a cancel. ContractError for a
    malformed version or another major."""
    check_version(version, "version")
    major, minor = version.split(".")
    return int(major) == CONTRACT_MAJOR and int(minor) >= CANCEL_SINCE_MINOR
