"""Irrigation commands, their acknowledgements, and online/offline status.

A command is safe on its own: it carries an id (so a retry is recognised and
never waters twice), a not-before and an expiry (so a late delivery is
refused), and a maximum runtime the controller enforces by itself.

    {"v": "1.0", "id": "c-5f1d...", "node": "irr-01", "valve": 1,
     "action": "open", "duration_s": 600, "max_runtime_s": 900,
     "not_before_ms": 1767225600000, "expires_ms": 1767229200000}

Since 1.1 a command may also carry the cloud's signature and a node MAC
(issued_ms, site, gateway, kid, sig, nmac: see signing.py); they are kept
when valid, and a 1.0 reader drops them.

Since 1.2 the action may be "cancel": a message about the command whose id
it carries (same id, node and valve; no duration or runtime) telling the
controller to drop it if it holds it and to close its valve if it runs it;
the controller answers with the final state "cancelled". Senders build one
with cancel.make_cancel (docs/contract.md, "Cancel").

Since 1.5 the action may be "fertigate": an open (the valve runs duration_s)
during which the controller's injector doses `inject_ml` millilitres of
stock solution, only between `inject_from_s` and `inject_until_s` seconds
after the valve opened (the line fills first; water alone flushes it after)
and only while water flows (firmware/injector.py). Its final ack carries
`injected_ml`, what the injector delivered. The product and its dose per
hectare are the cloud's (cloud/fertility/fertigation.py): the controller
only ever sees a volume of stock solution and a window.

An acknowledgement reports one step of the command's life:

    {"v": "1.0", "id": "c-5f1d...", "node": "irr-01", "state": "completed",
     "ts_ms": 1767226200000, "runtime_s": 600, "volume_l": 412.5, "reason": null}
"""

import json

from . import CONTRACT_VERSION
from .errors import ContractError
from .payload import TS_MS_MAX
from .topics import check_id
from .version import check_version

ACTION_OPEN = "open"
ACTION_CLOSE = "close"
ACTION_CANCEL = "cancel"  # 1.2
ACTION_FERTIGATE = "fertigate"  # 1.5
ACTIONS = (ACTION_OPEN, ACTION_CLOSE, ACTION_CANCEL, ACTION_FERTIGATE)
RUNS = (ACTION_OPEN, ACTION_FERTIGATE)  # the actions that open a valve for duration_s

# The lifecycle as the controller reports it. "rejected" means it refused the
# command before acting (expired, unknown valve, ...); "aborted" that it
# stopped early (max runtime, lost heartbeat, a close command, a fault);
# "cancelled" (1.2) that a cancel dropped it or closed its valve.
ACK_RECEIVED = "received"
ACK_STARTED = "started"
ACK_COMPLETED = "completed"
ACK_ABORTED = "aborted"
ACK_REJECTED = "rejected"
ACK_CANCELLED = "cancelled"  # 1.2
ACK_STATES = (ACK_RECEIVED, ACK_STARTED, ACK_COMPLETED, ACK_ABORTED, ACK_REJECTED, ACK_CANCELLED)
FINAL_ACK_STATES = (ACK_COMPLETED, ACK_ABORTED, ACK_REJECTED, ACK_CANCELLED)

_AUTH_KEYS = ("issued_ms", "site", "gateway", "kid", "sig", "nmac")  # signing.AUTH_FIELDS
MAX_RUNTIME_LIMIT_S = 24 * 3600
VALVE_MAX = 16
INJECT_KEYS = ("inject_ml", "inject_from_s", "inject_until_s")

STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _check_cmd_id(value):
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise ContractError("id", value, "must be a string of 1 to 64 characters")
    return value


def make_command(cmd_id, node, valve, action, duration_s, max_runtime_s, not_before_ms, expires_ms, inject=None):
    """Build a validated command (see the module docstring); `inject` is
    (inject_ml, inject_from_s, inject_until_s) for a fertigate."""
    c = {
            "v": CONTRACT_VERSION,
            "id": cmd_id,
            "node": node,
            "valve": valve,
            "action": action,
            "duration_s": duration_s,
            "max_runtime_s": max_runtime_s,
            "not_before_ms": not_before_ms,
            "expires_ms": expires_ms,
        }
    if inject is not None:
        c["inject_ml"], c["inject_from_s"], c["inject_until_s"] = inject
    return validate_command(c)


def validate_command(c):
    """Return the canonical form of a command or raise ContractError."""
    if not isinstance(c, dict):
        raise ContractError("command", c, "must be an object")
    check_version(c.get("v"))
    cmd_id = _check_cmd_id(c.get("id"))
    node = check_id("node", c.get("node"))
    valve = c.get("valve")
    if not _is_int(valve) or not 1 <= valve <= VALVE_MAX:
        raise ContractError("valve", valve, "must be an integer 1..%d" % VALVE_MAX)
    action = c.get("action")
    if action not in ACTIONS:
        raise ContractError("action", action, "must be one of %s" % (ACTIONS,))
    max_runtime = c.get("max_runtime_s")
    duration = c.get("duration_s")
    if action == ACTION_CANCEL:
        if max_runtime is not None:  # a cancel runs nothing
            raise ContractError("max_runtime_s", max_runtime, "must be null for cancel")
    elif not _is_int(max_runtime) or not 1 <= max_runtime <= MAX_RUNTIME_LIMIT_S:
        raise ContractError("max_runtime_s", max_runtime, "must be an integer 1..%d" % MAX_RUNTIME_LIMIT_S)
    if action in RUNS:
        if not _is_int(duration) or not 1 <= duration <= max_runtime:
            raise ContractError("duration_s", duration, "must be an integer 1..max_runtime_s (%d)" % max_runtime)
    elif duration is not None and (action == ACTION_CANCEL or not _is_int(duration) or duration < 0):
        raise ContractError("duration_s", duration, "must be null for cancel, null or a non-negative integer for close")
    not_before = c.get("not_before_ms")
    expires = c.get("expires_ms")
    if not _is_int(not_before) or not_before < 0:
        raise ContractError("not_before_ms", not_before, "must be Unix time in milliseconds")
    if not _is_int(expires) or expires <= not_before:
        raise ContractError("expires_ms", expires, "must be Unix time in milliseconds after not_before_ms")
    out = {
        "v": CONTRACT_VERSION,
        "id": cmd_id,
        "node": node,
        "valve": valve,
        "action": action,
        "duration_s": duration,
        "max_runtime_s": max_runtime,
        "not_before_ms": not_before,
        "expires_ms": expires,
    }
    if action == ACTION_FERTIGATE:
        # 1.5: imported only for a fertigate, so a node that never gets one never loads it
        from .fertigate import check_inject

        out["inject_ml"], out["inject_from_s"], out["inject_until_s"] = check_inject(c, duration)
    else:
        for key in INJECT_KEYS:
            if c.get(key) is not None:
                raise ContractError(key, c.get(key), "only a fertigate command carries it")
    for key in _AUTH_KEYS:
        if c.get(key) is not None:
            # 1.1: the signature and node MAC (see signing.py), imported only
            # when a command carries them: a sensor node never loads it
            from .signing import validate_auth

            return validate_auth(c, out)
    return out


def make_ack(cmd_id, node, state, ts_ms, runtime_s=None, volume_l=None, reason=None, injected_ml=None):
    """Build a validated acknowledgement (`injected_ml`: a fertigate's, 1.5)."""
    return _ack(cmd_id, node, state, ts_ms, runtime_s, volume_l, reason, injected_ml)


def validate_ack(a):
    """Return the canonical form of an acknowledgement or raise ContractError."""
    if not isinstance(a, dict):
        raise ContractError("ack", a, "must be an object")
    check_version(a.get("v"))
    return _ack(a.get("id"), a.get("node"), a.get("state"), a.get("ts_ms"), a.get("runtime_s"), a.get("volume_l"),
                a.get("reason"), a.get("injected_ml"))


def _ack(cmd_id, node, state, ts_ms, runtime, volume, reason, injected):
    # Checks the fields and builds the one dict: make_ack builds no second dict to check (an
    # irrigation node rebuilds its remembered acks one by one into its journal in a small heap).
    _check_cmd_id(cmd_id)
    check_id("node", node)
    if state not in ACK_STATES:
        raise ContractError("state", state, "must be one of %s" % (ACK_STATES,))
    if not _is_int(ts_ms) or not 0 <= ts_ms <= TS_MS_MAX:
        raise ContractError("ts_ms", ts_ms, "must be Unix time in milliseconds, 0..%d" % TS_MS_MAX)
    if runtime is not None and (not _is_int(runtime) or runtime < 0):
        raise ContractError("runtime_s", runtime, "must be a non-negative integer or null")
    if volume is not None and (
        isinstance(volume, bool) or not isinstance(volume, (int, float)) or not 0 <= volume <= 1e12
    ):
        # the range check also refuses NaN and infinity, which JSON cannot carry
        raise ContractError("volume_l", volume, "must be a finite, non-negative number or null")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
        raise ContractError("reason", reason, "must be a string of at most 200 characters or null")
    out = {
        "v": CONTRACT_VERSION,
        "id": cmd_id,
        "node": node,
        "state": state,
        "ts_ms": ts_ms,
        "runtime_s": runtime,
        "volume_l": volume,
        "reason": reason,
    }
    if injected is not None:
        from .fertigate import check_injected

        out["injected_ml"] = check_injected(injected)
    return out


def make_status(ident, state, ts_ms, fw=None, fault=None, modbus=None):
    """An online/offline status message for a node or a gateway. `fault`
    (optional, up to 200 characters) says why a node that is online does
    not work, e.g. an invalid config. `modbus` (optional, 1.1, gateways):
    node id -> that Modbus device's counters (see gateway_status.py), which a
    gateway adds to the status it repeats every status interval."""
    s = {"v": CONTRACT_VERSION, "id": ident, "state": state, "ts_ms": ts_ms, "fw": fw}
    if fault is not None:
        s["fault"] = fault
    if modbus is not None:
        s["modbus"] = modbus
    return validate_status(s)


def validate_status(s):
    if not isinstance(s, dict):
        raise ContractError("status", s, "must be an object")
    check_version(s.get("v"))
    ident = check_id("id", s.get("id"))
    state = s.get("state")
    if state not in (STATUS_ONLINE, STATUS_OFFLINE):
        raise ContractError("state", state, "must be 'online' or 'offline'")
    ts_ms = s.get("ts_ms")
    if not _is_int(ts_ms) or not 0 <= ts_ms <= TS_MS_MAX:
        raise ContractError("ts_ms", ts_ms, "must be Unix time in milliseconds, 0..%d" % TS_MS_MAX)
    fw = s.get("fw")
    if fw is not None and not isinstance(fw, str):
        raise ContractError("fw", fw, "must be a string or null")
    out = {"v": CONTRACT_VERSION, "id": ident, "state": state, "ts_ms": ts_ms, "fw": fw}
    fault = s.get("fault")
    if fault is not None:
        if not isinstance(fault, str) or len(fault) > 200:
            raise ContractError("fault", fault, "must be a string of at most 200 characters, or absent")
        out["fault"] = fault
    modbus = s.get("modbus")
    if modbus is not None:
        # Only gateways send it: imported here so a node's image never loads (or ships) it.
        from .gateway_status import check_modbus

        out["modbus"] = check_modbus(modbus)
    return out


def _loads(data, what):
    try:
        return json.loads(data)
    except (ValueError, UnicodeError, RuntimeError) as e:
        # RuntimeError: nesting too deep for the parser (RecursionError on CPython)
        raise ContractError(what, data[:40], "not valid JSON: %s" % e) from None


def encode(obj):
    """JSON bytes of a command, ack or status (already validated)."""
    return json.dumps(obj).encode()


def decode_command(data):
    return validate_command(_loads(data, "command"))


def decode_ack(data):
    return validate_ack(_loads(data, "ack"))


def decode_status(data):
    return validate_status(_loads(data, "status"))
