"""Modbus register maps of every node role.

Addresses are protocol addresses starting at 0 (what most tools call
reference 1, e.g. input register 30001). Multi-register values are big-endian
words (high word first), as Modbus masters expect. Unit address 1 unless the
node is configured otherwise (holding register 0).

Input registers (function 04), the same header on every role:

    0      contract version, major << 8 | minor (0 until the node's first
           report: see has_report)
    1      role code (soil 1, weather 2, irrigation 3, pest 4)
    2-3    seq of the latest report, u32 (a new value = a new report)
    4-5    time of the latest report, Unix seconds, u32
    6      battery, mV (0xFFFF: not measured)
    7      signal, dBm as i16 (0x8000: not measured)
    8      firmware major << 8 | minor
    9      firmware patch
    10-13  soil only: depth in cm of depth slots 0-3 (0xFFFF: slot unused)
    14     node status: 0 ok, 1 config invalid (the node serves no report
           and waits for a technician; register 0 stays 0)
    15     with status 1: how many config errors; with status 0 (1.1) the
           report queue: reports waiting for an ack (bits 0-14), and bit 15
           set when the image is the oldest of them (edge/modbus_queue.py)
    16-63  values of the role (see ROLE_VALUES)
    64-111 fault code of the value at address - 48 (0 ok, 0xFFFF not fitted)

Holding registers (functions 03, 06, 16):

    0      unit address 1..247
    1      report interval, seconds
    2      1.1: report queue mode, 1 oldest unacknowledged report first
    3-4    1.1: seq of the report the master stored (the queue's ack), u32
           (both: edge/modbus_queue.py)
    8-15   soil only: calibration, raw ADC counts dry then wet, per depth slot
    8-11   pest only: service of traps 1-4, write 1 "lure changed",
           2 "trap emptied" (reads 0)

Coils (functions 01, 05, 15), irrigation only: coil k is valve k + 1.
"""

from . import CONTRACT_MAJOR, CONTRACT_MINOR, CONTRACT_VERSION
from .errors import ContractError
from .measurements import (
    FAULT_BY_CODE,
    FAULTS,
    ROLE_BY_CODE,
    ROLE_IRRIGATION,
    ROLE_PEST,
    ROLE_SOIL,
    ROLE_WEATHER,
    ROLES,
)
from .payload import make_uplink

DEFAULT_UNIT = 1
INPUT_COUNT = 112  # one FC04 read of 112 registers covers the whole map
VALUES_BASE = 16
FAULTS_BASE = 64
FAULT_OFFSET = FAULTS_BASE - VALUES_BASE
DEPTH_BASE = 10
DEPTH_SLOTS = 4
STATUS = 14
STATUS_ERRORS = 15
STATUS_OK = 0
STATUS_CONFIG_ERROR = 1
NOT_FITTED = 0xFFFF
NO_DEPTH = 0xFFFF
NO_BATTERY = 0xFFFF
NO_RSSI = 0x8000

HOLD_UNIT = 0
HOLD_INTERVAL_S = 1
HOLD_CAL_BASE = 8
HOLD_SERVICE_BASE = 8  # pest: one register per trap
SERVICE_LURE_CHANGED = 1
SERVICE_TRAP_EMPTIED = 2
HOLDING_COUNT = 16
VALVE_COILS = 4

# (address, measurement, type, scale, slot). `slot` is the soil depth slot
# (0-3) or the channel (valve or trap number, from 1); the value on the wire
# is round(value * scale) in the given type.
ROLE_VALUES = {
    ROLE_SOIL: [(16 + i, "vwc_pct", "u16", 100, i) for i in range(4)]
    + [(20 + i, "soil_temp_c", "i16", 100, i) for i in range(4)]
    + [(24 + i, "ec_ds_m", "u16", 1000, i) for i in range(4)]
    + [(28 + i, "soil_raw", "u16", 1, i) for i in range(4)],
    ROLE_WEATHER: [
        (16, "air_temp_c", "i16", 100, None),
        (17, "rh_pct", "u16", 100, None),
        (18, "pressure_kpa", "u16", 100, None),
        (19, "rain_mm", "u16", 100, None),
        (20, "wind_ms", "u16", 100, None),
        (21, "wind_dir_deg", "u16", 10, None),
        (22, "rs_w_m2", "u16", 10, None),
        (23, "leaf_wet_pct", "u16", 10, None),
    ],
    ROLE_IRRIGATION: [(16 + i, "valve_open", "u16", 1, i + 1) for i in range(4)]
    + [
        (20, "flow_l_min", "u16", 10, None),
        (21, "volume_l", "u32", 10, None),
        (23, "line_pressure_kpa", "u16", 10, None),
        (24, "leak_l_min", "u16", 10, None),
    ],
    ROLE_PEST: [(16 + i, "trap_count", "u16", 1, i + 1) for i in range(4)]
    + [(20 + i, "lure_age_d", "u16", 10, i + 1) for i in range(4)]
    + [(24 + i, "trap_total", "u16", 1, i + 1) for i in range(4)],
}


def _put(regs, addr, kind, raw):
    if kind == "u32":
        raw &= 0xFFFFFFFF
        regs[addr] = raw >> 16
        regs[addr + 1] = raw & 0xFFFF
    else:
        regs[addr] = raw & 0xFFFF


def _get(regs, addr, kind):
    if kind == "u32":
        return (regs[addr] << 16) | regs[addr + 1]
    raw = regs[addr]
    if kind == "i16" and raw >= 0x8000:
        return raw - 0x10000
    return raw


def _limit(kind):
    if kind == "i16":
        return -0x8000, 0x7FFF
    if kind == "u32":
        return 0, 0xFFFFFFFF
    return 0, 0xFFFF


def encode_inputs(role, seq, ts_ms, fw, readings, bat_v=None, rssi_dbm=None, out=None):
    """The input-register image (a list of INPUT_COUNT words) a node serves
    for its latest report. Readings not in the map are left out; a slot with
    no reading reads as not fitted. With `out` (a list of INPUT_COUNT) the
    image is written there: a board keeps one image and never needs room for
    a second."""
    if role not in ROLE_VALUES:
        raise ContractError("role", role, "no register map for this role")
    depths = []
    if role == ROLE_SOIL:
        for r in readings:
            d = r.get("depth_cm")
            if d is not None and d not in depths:
                depths.append(d)
        depths.sort()
        if len(depths) > DEPTH_SLOTS:
            raise ContractError("depth_cm", depths, "a soil node serves at most %d depths" % DEPTH_SLOTS)
    if out is None:
        regs = [0] * INPUT_COUNT
    else:
        regs = out
        for i in range(INPUT_COUNT):
            regs[i] = 0
    regs[0] = (CONTRACT_MAJOR << 8) | CONTRACT_MINOR
    regs[1] = ROLES[role]
    _put(regs, 2, "u32", seq)
    _put(regs, 4, "u32", ts_ms // 1000)
    regs[6] = NO_BATTERY if bat_v is None else int(round(bat_v * 1000))
    regs[7] = NO_RSSI if rssi_dbm is None else rssi_dbm & 0xFFFF
    fw_parts = [int(x) for x in fw.split(".")]
    regs[8] = (fw_parts[0] << 8) | fw_parts[1]
    regs[9] = fw_parts[2]
    for i in range(DEPTH_SLOTS):
        regs[DEPTH_BASE + i] = depths[i] if i < len(depths) else NO_DEPTH
    for entry in ROLE_VALUES[role]:
        regs[entry[0] + FAULT_OFFSET] = NOT_FITTED
    for r in readings:
        for addr, name, kind, scale, slot in ROLE_VALUES[role]:
            if name != r["name"]:
                continue
            if role == ROLE_SOIL:
                if slot >= len(depths) or depths[slot] != r.get("depth_cm"):
                    continue
            elif slot is not None and slot != r.get("channel"):
                continue
            if r.get("fault") is not None:
                regs[addr + FAULT_OFFSET] = FAULTS[r["fault"]]
            else:
                lo, hi = _limit(kind)
                raw = int(round(r["value"] * scale))
                if not lo <= raw <= hi:
                    regs[addr + FAULT_OFFSET] = FAULTS["out_of_range"]
                else:
                    _put(regs, addr, kind, raw)
                    regs[addr + FAULT_OFFSET] = 0
            break
    return regs


def has_report(regs):
    """False while a node has made no report since power-up: its image is all
    zeros until then (register 0 is never 0 once a report exists). A poller
    waits for such a node; it is not a contract violation."""
    return len(regs) > 0 and regs[0] != 0


def decode_inputs(node, regs):
    """Turn an input-register image read from `node` into a validated uplink
    payload. Raises ContractError naming the register on anything malformed."""
    if len(regs) < INPUT_COUNT:
        raise ContractError("registers", len(regs), "need %d input registers from address 0" % INPUT_COUNT)
    major = regs[0] >> 8
    if major != CONTRACT_MAJOR:
        raise ContractError(
            "input_register.0",
            regs[0],
            "unsupported contract major version %d (this software speaks %d.x); "
            "upgrade the older side" % (major, CONTRACT_MAJOR),
        )
    role = ROLE_BY_CODE.get(regs[1])
    if role is None:
        raise ContractError("input_register.1", regs[1], "unknown role code")
    readings = []
    for addr, name, kind, scale, slot in ROLE_VALUES[role]:
        fault_code = regs[addr + FAULT_OFFSET]
        if fault_code == NOT_FITTED:
            continue
        r = {"name": name}
        if role == ROLE_SOIL:
            depth = regs[DEPTH_BASE + slot]
            if depth == NO_DEPTH:
                continue
            r["depth_cm"] = depth
        elif slot is not None:
            r["channel"] = slot
        if fault_code:
            fault = FAULT_BY_CODE.get(fault_code)
            if fault is None:
                raise ContractError("input_register.%d" % (addr + FAULT_OFFSET), fault_code, "unknown fault code")
            r["fault"] = fault
            r["value"] = None
        else:
            r["value"] = _get(regs, addr, kind) / scale
        readings.append(r)
    return make_uplink(
        node=node,
        role=role,
        seq=_get(regs, 2, "u32"),
        ts_ms=_get(regs, 4, "u32") * 1000,
        readings=readings,
        fw="%d.%d.%d" % (regs[8] >> 8, regs[8] & 0xFF, regs[9]),
        bat_v=None if regs[6] == NO_BATTERY else regs[6] / 1000,
        rssi_dbm=None if regs[7] == NO_RSSI else _get(regs, 7, "i16"),
    )


# -- Command mailbox, irrigation nodes (an addition within contract 1.0) -----
#
# Holding registers 32-58 take one command, written by the master in ONE
# function-16 request that ends with the commit register; the node acts on
# such a write as on a command received over MQTT (same checks: id, expiry,
# max runtime). Times are Unix seconds (not_before rounded up, expiry down).
#
#   32-47  command id, ASCII, two characters per register (high byte first),
#          NUL padded: at most 32 characters over Modbus
#   48     valve (from 1)
#   49     action: 1 open, 2 close, 3 cancel (1.2), 4 fertigate (1.5)
#   50-51  duration_s, u32 (0 for a close or a cancel: none)
#   52-53  max_runtime_s, u32 (0 for a cancel: none)
#   54-55  not_before, Unix s, u32
#   56-57  expires, Unix s, u32
#   58     commit: CMD_COMMIT_MAGIC
#   59-66  contract 1.1, optional: the node MAC (nmac, 16 bytes, high byte
#          first); a write of 32-66 carries it, a write of 32-58 does not
#   67-72  contract 1.5, a fertigate only, always written as 32-72 (59-66
#          all zero when it carries no node MAC): inject_ml, inject_from_s,
#          inject_until_s, u32 each
#
# Input registers 112-133 hold the node's latest acknowledgement:
#
#   112-127  command id, as above
#   128      state: 1 received, 2 started, 3 completed, 4 aborted, 5 rejected,
#            6 cancelled (1.2)
#   129-130  runtime_s, u32 (0xFFFFFFFF: none)
#   131-132  volume_l x 10, u32 (0xFFFFFFFF: none)
#   133      ack counter, u16, +1 per acknowledgement (a new value = a new ack)
#   134-135  1.5: injected_ml, u32 (0xFFFFFFFF: none); a master reads 112-135
#            from a node with an injector, 112-133 from any other

CMD_BASE = 32
CMD_ID_REGS = 16
CMD_ID_MAX = 2 * CMD_ID_REGS
CMD_COMMIT_MAGIC = 0xC0DE
CMD_COUNT = 27
CMD_MAC_REGS = 8  # 1.1: the nmac after the commit register
CMD_COUNT_MAC = CMD_COUNT + CMD_MAC_REGS
CMD_INJECT_REGS = 6  # 1.5: a fertigate's dose and window after the node MAC
CMD_COUNT_FERT = CMD_COUNT_MAC + CMD_INJECT_REGS
CMD_ACTIONS = {"open": 1, "close": 2, "cancel": 3, "fertigate": 4}
ACK_BASE = 112
ACK_COUNT = 22
ACK_COUNT_INJECTED = ACK_COUNT + 2  # 1.5: with injected_ml
ACK_STATE_CODES = {"received": 1, "started": 2, "completed": 3, "aborted": 4, "rejected": 5, "cancelled": 6}
ACK_NONE_U32 = 0xFFFFFFFF


def _id_regs(cmd_id):
    raw = cmd_id.encode()
    if len(raw) > CMD_ID_MAX:
        raise ContractError("id", cmd_id, "longer than %d characters: cannot go over Modbus" % CMD_ID_MAX)
    raw = raw + bytes(CMD_ID_MAX - len(raw))
    return [(raw[2 * i] << 8) | raw[2 * i + 1] for i in range(CMD_ID_REGS)]


def _regs_id(regs, field):
    raw = bytes(b for r in regs for b in ((r >> 8) & 0xFF, r & 0xFF))
    try:
        return raw.rstrip(bytes(1)).decode()
    except UnicodeError:
        raise ContractError(field, raw, "command id is not UTF-8") from None


def _u32(value):
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


def encode_command_regs(cmd):
    """The CMD_COUNT holding registers (from CMD_BASE) carrying a validated command."""
    return (
        _id_regs(cmd["id"])
        + [cmd["valve"], CMD_ACTIONS[cmd["action"]]]
        + _u32(cmd["duration_s"] or 0)  # a close may carry none, a cancel has none
        + _u32(cmd["max_runtime_s"] or 0)
        + _u32((cmd["not_before_ms"] + 999) // 1000)
        + _u32(cmd["expires_ms"] // 1000)
        + [CMD_COMMIT_MAGIC]
        + _mac_regs(cmd.get("nmac"))
        + _inject_regs(cmd)
    )


def _inject_regs(cmd):
    if cmd["action"] != "fertigate":
        return []
    mac = [] if cmd.get("nmac") is not None else [0] * CMD_MAC_REGS
    return mac + _u32(cmd["inject_ml"]) + _u32(cmd["inject_from_s"]) + _u32(cmd["inject_until_s"])


def _mac_regs(nmac):
    if nmac is None:
        return []
    # four hex digits per register (binascii costs a board kilobytes of heap)
    return [int(nmac[4 * i:4 * i + 4], 16) for i in range(CMD_MAC_REGS)]


def decode_command_regs(node, regs):
    """A command dict (unvalidated: pass it to commands.validate_command) from
    the CMD_COUNT (or, with the node MAC, CMD_COUNT_MAC) registers written at CMD_BASE."""
    if len(regs) not in (CMD_COUNT, CMD_COUNT_MAC, CMD_COUNT_FERT) or regs[CMD_COUNT - 1] != CMD_COMMIT_MAGIC:
        raise ContractError("holding_register.%d" % (CMD_BASE + CMD_COUNT - 1), regs[CMD_COUNT - 1:CMD_COUNT],
                            "no commit")
    actions = dict((code, name) for name, code in CMD_ACTIONS.items())
    cmd = {
        "v": CONTRACT_VERSION,
        "id": _regs_id(regs[:CMD_ID_REGS], "holding_register.%d" % CMD_BASE),
        "node": node,
        "valve": regs[16],
        "action": actions.get(regs[17], regs[17]),
        "duration_s": (regs[18] << 16) | regs[19],
        "max_runtime_s": (regs[20] << 16) | regs[21],
        "not_before_ms": ((regs[22] << 16) | regs[23]) * 1000,
        "expires_ms": ((regs[24] << 16) | regs[25]) * 1000,
    }
    if cmd["action"] == "cancel":
        # 0 is "none" here; anything else is left for the validator to name
        for key in ("duration_s", "max_runtime_s"):
            cmd[key] = cmd[key] or None
    mac = regs[CMD_COUNT:CMD_COUNT_MAC]
    if len(regs) == CMD_COUNT_MAC or (len(regs) == CMD_COUNT_FERT and any(mac)):
        cmd["nmac"] = "".join("%04x" % r for r in mac)
    if len(regs) == CMD_COUNT_FERT:
        i = CMD_COUNT_MAC
        cmd["inject_ml"] = (regs[i] << 16) | regs[i + 1]
        cmd["inject_from_s"] = (regs[i + 2] << 16) | regs[i + 3]
        cmd["inject_until_s"] = (regs[i + 4] << 16) | regs[i + 5]
    return cmd


def encode_ack_regs(ack, counter):
    """The ACK_COUNT_INJECTED input registers (from ACK_BASE) for an acknowledgement."""
    runtime = ack.get("runtime_s")
    volume = ack.get("volume_l")
    injected = ack.get("injected_ml")
    return (
        _id_regs(ack["id"])
        + [ACK_STATE_CODES[ack["state"]]]
        + _u32(ACK_NONE_U32 if runtime is None else runtime)
        + _u32(ACK_NONE_U32 if volume is None else int(round(volume * 10)))
        + [counter & 0xFFFF]
        + _u32(ACK_NONE_U32 if injected is None else injected)
    )


def decode_ack_regs(regs):
    """(counter, fields) from the ACK_COUNT (or, 1.5, ACK_COUNT_INJECTED) registers
    at ACK_BASE; fields is None while no ack was ever made (state 0), else id,
    state, runtime_s, volume_l and injected_ml (None unless read and set)."""
    if len(regs) not in (ACK_COUNT, ACK_COUNT_INJECTED):
        raise ContractError("input_register.%d" % ACK_BASE, len(regs),
                            "need the %d registers of the ack block" % ACK_COUNT)
    counter = regs[21]
    states = dict((code, name) for name, code in ACK_STATE_CODES.items())
    if regs[16] == 0:
        return counter, None
    state = states.get(regs[16])
    if state is None:
        raise ContractError("input_register.%d" % (ACK_BASE + 16), regs[16], "unknown ack state code")
    runtime = (regs[17] << 16) | regs[18]
    volume = (regs[19] << 16) | regs[20]
    injected = (regs[22] << 16) | regs[23] if len(regs) == ACK_COUNT_INJECTED else ACK_NONE_U32
    return counter, {
        "id": _regs_id(regs[:CMD_ID_REGS], "input_register.%d" % ACK_BASE),
        "state": state,
        "runtime_s": None if runtime == ACK_NONE_U32 else runtime,
        "volume_l": None if volume == ACK_NONE_U32 else volume / 10,
        "injected_ml": None if injected == ACK_NONE_U32 else injected,
    }


__all__ = ["CONTRACT_VERSION", "encode_inputs", "decode_inputs", "has_report", "ROLE_VALUES"]
