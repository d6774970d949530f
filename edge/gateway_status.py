"""A gateway's Modbus bus health in its status message (contract 1.1).

Gateways only: a node's image never holds this module (edge/commands.py
imports it when a status carries `modbus`), so it costs no node heap.
"""

from .errors import ContractError
from .payload import TS_MS_MAX
from .topics import check_id

# At most this many devices, each with these non-negative integer counters (and port, unit, role, ...).
MODBUS_DEVICES_MAX = 256
_MODBUS_COUNTERS = ("polls", "requests", "errors", "consecutive_failures")


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def check_modbus(modbus):
    """node id -> counters, validated; ContractError naming the field otherwise."""
    if not isinstance(modbus, dict) or len(modbus) > MODBUS_DEVICES_MAX:
        raise ContractError("modbus", modbus, "must be an object of at most %d devices" % MODBUS_DEVICES_MAX)
    devices = {}
    for node, c in modbus.items():
        check_id("modbus", node)
        devices[node] = _check_counters(node, c)
    return devices


def _check_counters(node, c):
    """One Modbus device's counters in a gateway status: the bus it is on
    (`port`), its unit and role, the polls, requests and failed requests
    since the gateway started, the failures in a row, whether it is set
    aside (`backed_off`), its last good poll and last error."""
    where = "modbus." + node
    if not isinstance(c, dict):
        raise ContractError(where, c, "must be an object of counters")
    port = c.get("port")
    if not isinstance(port, str) or not 1 <= len(port) <= 200:
        raise ContractError(where + ".port", port, "must be a string of 1 to 200 characters")
    out = {"port": port}
    for key in _MODBUS_COUNTERS:
        n = c.get(key, 0)
        if not _is_int(n) or n < 0:
            raise ContractError(where + "." + key, n, "must be a non-negative integer")
        out[key] = n
    unit = c.get("unit")
    if unit is not None and (not _is_int(unit) or not 0 <= unit <= 247):
        raise ContractError(where + ".unit", unit, "must be an integer 0..247 or null")
    role = c.get("role")
    if role is not None and (not isinstance(role, str) or len(role) > 32):
        raise ContractError(where + ".role", role, "must be a string of at most 32 characters or null")
    backed_off = c.get("backed_off", False)
    if not isinstance(backed_off, bool):
        raise ContractError(where + ".backed_off", backed_off, "must be true or false")
    last_good = c.get("last_good_ms")
    if last_good is not None and (not _is_int(last_good) or not 0 <= last_good <= TS_MS_MAX):
        raise ContractError(where + ".last_good_ms", last_good, "must be Unix time in milliseconds or null")
    last_error = c.get("last_error")
    if last_error is not None and (not isinstance(last_error, str) or len(last_error) > 200):
        raise ContractError(where + ".last_error", last_error, "must be a string of at most 200 characters or null")
    out["unit"] = unit
    out["role"] = role
    out["backed_off"] = backed_off
    out["last_good_ms"] = last_good
    out["last_error"] = last_error
    return out
