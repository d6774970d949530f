"""The irrigation controller's safety rules as data: one list of scenarios
(events in, acknowledgements and valve states out) and the runner that plays
them against the real IrrigationNode.

Written in the MicroPython subset: tests/test_firmware_irrigation_vectors.py
runs every scenario on CPython, and copies this file next to the firmware to
run the very same scenarios inside the MicroPython runtime.

Times are milliseconds after T0. Events:

    ("cmd", t, {kwargs of command()})  a command arrives (gateway heard)
    ("raw", t, bytes)                  undecodable bytes on the command topic
    ("tick", t)                        the gateway is heard, then the loop ticks
    ("silent", t)                      the loop ticks, nothing heard
    ("run", t0, t1, step)              "tick" from t0 to t1 every step
    ("pump", t, l_min)                 flow while a valve is open from now on
    ("leak", t, l_min)                 flow while every valve is closed from now on
    ("coil", t, address, values)       a Modbus coil write
    ("reboot", t, reason)              the controller resets; a new core boots
                                       on the same valves and journal file
    ("damage", t)                      the journal file is overwritten with junk

Expected keys: "acks" (in order: [id, state] or [id, state, reason part]),
"valves" (final states), "opens" (how often each valve was driven open),
"volume" ({id: litres in its completed/aborted ack}), "stats" (a subset),
"leak" (True: the latest report shows leak_l_min > 0), "refused" (coil
writes refused).
"""

# The MicroPython subset: %-formatting, zip() without strict=.
# ruff: noqa: UP031, B905

import json

from furrow.edge import commands
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.journal import Journal

T0 = 1767225600000
S = 1000
MIN = 60 * S
HOUR = 60 * MIN
NODE = "irr-01"


class Valve:
    """A valve output: ``set(open)``, remembering every call."""

    def __init__(self):
        self.is_open = False
        self.calls = []

    def set(self, is_open):
        self.is_open = bool(is_open)
        self.calls.append(self.is_open)


class PipeMeter:
    """A flow meter on the controller's supply pipe: `open_rate` L/min
    flows while any valve is open, `closed_rate` (a leak) while none."""

    def __init__(self, valves, open_rate, closed_rate=0.0):
        self.valves = valves
        self.open_rate = open_rate
        self.closed_rate = closed_rate
        self.total = 0.0
        self._t = None

    def advance(self, t):
        if self._t is not None and t > self._t:
            self.total += self.rate_l_min() * (t - self._t) / MIN
        self._t = t

    def rate_l_min(self):
        for v in self.valves:
            if v.is_open:
                return self.open_rate
        return self.closed_rate

    def total_l(self):
        return round(self.total, 3)


def command(cmd_id, valve=1, action="open", duration_s=600, max_runtime_s=900, not_before=0, expires=HOUR,
            node=NODE):
    if action == "close":
        duration_s = None
    return commands.encode(
        commands.make_command(cmd_id, node, valve, action, duration_s, max_runtime_s, T0 + not_before,
                              T0 + expires))


SCENARIOS = [
    {
        "name": "open runs its duration then completes with the litres measured",
        "flow": 40.0,
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 600}), ("run", 10 * S, 600 * S, 10 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "completed"]],
        "valves": [False, False],
        "opens": [1, 0],
        "volume": {"c-1": 400.0},
    },
    {
        "name": "an expired command is refused and opens nothing",
        "events": [("cmd", 2 * HOUR, {"cmd_id": "c-1", "expires": HOUR})],
        "acks": [["c-1", "rejected", "expired"]],
        "valves": [False, False],
        "opens": [0, 0],
    },
    {
        "name": "a retried command id is answered, never run twice",
        "flow": 20.0,
        "events": [
            ("cmd", 0, {"cmd_id": "c-1", "duration_s": 60}),
            ("cmd", 5 * S, {"cmd_id": "c-1", "duration_s": 60}),
            ("run", 10 * S, 60 * S, 10 * S),
            ("cmd", 70 * S, {"cmd_id": "c-1", "duration_s": 60}),
            ("run", 80 * S, 200 * S, 10 * S),
        ],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "started"], ["c-1", "completed"],
                 ["c-1", "completed"]],
        "valves": [False, False],
        "opens": [1, 0],
        "stats": {"duplicates": 2},
    },
    {
        "name": "a valve the controller does not have, or another node's command, is refused",
        "events": [("cmd", 0, {"cmd_id": "c-1", "valve": 3}), ("cmd", 0, {"cmd_id": "c-2", "node": "irr-02"})],
        "acks": [["c-1", "rejected", "no valve 3"], ["c-2", "rejected", "irr-02"]],
        "valves": [False, False],
        "opens": [0, 0],
    },
    {
        "name": "an unreadable command is counted, not acknowledged",
        "events": [("raw", 0, b"\x00not json"), ("tick", S)],
        "acks": [],
        "stats": {"bad_commands": 1},
    },
    {
        "name": "a command waits for its not-before, then runs",
        "flow": 10.0,
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 60, "not_before": 5 * MIN}),
                   ("run", MIN, 7 * MIN, 30 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "completed"]],
        "valves": [False, False],
        "opens": [1, 0],
    },
    {
        "name": "a waiting command whose expiry passes while the gateway is silent is aborted",
        "events": [("cmd", 0, {"cmd_id": "c-1", "not_before": 15 * MIN, "expires": 20 * MIN}),
                   ("silent", 16 * MIN), ("silent", 21 * MIN)],
        "node": {"heartbeat_timeout_ms": 10 * MIN},
        "acks": [["c-1", "received"], ["c-1", "aborted", "gateway not heard"]],
        "opens": [0, 0],
    },
    {
        "name": "a run past max runtime (a stalled loop) is cut off",
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 600, "max_runtime_s": 600}), ("tick", 900 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "aborted", "max runtime"]],
        "valves": [False, False],
    },
    {
        "name": "a close command aborts the run it stops and completes itself",
        "events": [("cmd", 0, {"cmd_id": "c-1"}), ("cmd", 60 * S, {"cmd_id": "c-2", "action": "close"})],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-2", "received"],
                 ["c-1", "aborted", "closed by command c-2"], ["c-2", "completed"]],
        "valves": [False, False],
    },
    {
        "name": "when the gateway's heartbeat stops every valve closes",
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 3600, "max_runtime_s": 3600}),
                   ("cmd", 0, {"cmd_id": "c-2", "valve": 2, "duration_s": 3600, "max_runtime_s": 3600}),
                   ("silent", 5 * MIN), ("silent", 11 * MIN)],
        "node": {"heartbeat_timeout_ms": 10 * MIN},
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-2", "received"], ["c-2", "started"],
                 ["c-1", "aborted", "heartbeat lost"], ["c-2", "aborted", "heartbeat lost"]],
        "valves": [False, False],
        "stats": {"heartbeat_losses": 1},
    },
    {
        "name": "a coil write closes a valve but can never open one",
        "events": [("cmd", 0, {"cmd_id": "c-1"}), ("coil", 10 * S, 1, [1]), ("coil", 20 * S, 0, [0]),
                   ("tick", 21 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "aborted", "coil"]],
        "valves": [False, False],
        "opens": [1, 0],
        "refused": 1,
    },
    {
        "name": "a watchdog reset during a run closes the valve and aborts the run",
        "flow": 30.0,
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 600}), ("run", 10 * S, 60 * S, 10 * S),
                   ("reboot", 70 * S, "watchdog reset"), ("tick", 71 * S), ("run", 72 * S, 700 * S, 60 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "aborted", "watchdog reset"]],
        "valves": [False, False],
        "opens": [1, 0],
        "stats": {"reset_aborts": 1},
    },
    {
        "name": "a command retried after a reset is answered from the journal, not run again",
        "flow": 30.0,
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 60}), ("run", 10 * S, 60 * S, 10 * S),
                   ("reboot", 70 * S, "power-on reset"), ("tick", 71 * S),
                   ("cmd", 80 * S, {"cmd_id": "c-1", "duration_s": 60}), ("run", 90 * S, 200 * S, 10 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "completed"], ["c-1", "completed"]],
        "valves": [False, False],
        "opens": [1, 0],
        "stats": {"duplicates": 1, "reset_aborts": 0},
    },
    {
        "name": "a run interrupted by a reset and then retried stays aborted: no double watering",
        "flow": 30.0,
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 600}), ("tick", 30 * S),
                   ("reboot", 40 * S, "watchdog reset"),
                   ("cmd", 50 * S, {"cmd_id": "c-1", "duration_s": 600}), ("run", 60 * S, 700 * S, 60 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "aborted", "watchdog reset"],
                 ["c-1", "aborted", "watchdog reset"]],
        "valves": [False, False],
        "opens": [1, 0],
    },
    {
        "name": "a command waiting for its not-before at a reset is aborted at boot",
        "events": [("cmd", 0, {"cmd_id": "c-1", "not_before": 10 * MIN}), ("tick", MIN),
                   ("reboot", 2 * MIN, "watchdog reset"), ("run", 3 * MIN, 12 * MIN, MIN)],
        "acks": [["c-1", "received"], ["c-1", "aborted", "watchdog reset before it started"]],
        "valves": [False, False],
        "opens": [0, 0],
    },
    {
        "name": "a damaged journal boots empty with every valve closed",
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 600}), ("damage", 10 * S),
                   ("reboot", 20 * S, "watchdog reset"), ("run", 30 * S, 120 * S, 30 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"]],
        "valves": [False, False],
        "opens": [1, 0],
    },
    {
        "name": "no flow while open (stuck valve, failed pump) aborts the run",
        "flow": 0.0,
        "node": {"no_flow_ms": 2 * MIN},
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 600}), ("run", 10 * S, 5 * MIN, 10 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "aborted", "no flow for 120 s"]],
        "valves": [False, False],
        "stats": {"no_flow_aborts": 1},
    },
    {
        "name": "a pump that fails mid-run aborts it with the litres delivered so far",
        "flow": 60.0,
        "node": {"no_flow_ms": MIN},
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 600}), ("run", 10 * S, 120 * S, 10 * S),
                   ("pump", 120 * S, 0.0), ("run", 130 * S, 300 * S, 10 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "aborted", "no flow"]],
        "valves": [False, False],
        "volume": {"c-1": 120.0},
    },
    {
        "name": "flow while every valve is closed is reported as a leak",
        "flow": 40.0,
        "node": {"leak_l_min": 1.0, "leak_settle_ms": MIN},
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 60}), ("run", 10 * S, 60 * S, 10 * S),
                   ("leak", 60 * S, 3.0), ("run", 70 * S, 200 * S, 10 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "completed"]],
        "valves": [False, False],
        "leak": True,
        "stats": {"leaks": 1},
    },
    {
        "name": "the pipe draining just after a close is not a leak",
        "flow": 40.0,
        "node": {"leak_l_min": 1.0, "leak_settle_ms": MIN},
        "events": [("cmd", 0, {"cmd_id": "c-1", "duration_s": 60}), ("run", 10 * S, 60 * S, 10 * S),
                   ("leak", 60 * S, 3.0), ("run", 70 * S, 100 * S, 10 * S), ("leak", 100 * S, 0.0),
                   ("run", 110 * S, 300 * S, 10 * S)],
        "acks": [["c-1", "received"], ["c-1", "started"], ["c-1", "completed"]],
        "leak": False,
        "stats": {"leaks": 0},
    },
]


def _node(sc, valves, meter, path, reason):
    kw = dict(sc.get("node", {}))
    return IrrigationNode(NODE, _Seq(), valves, interval_ms=MIN, flow_meter=meter, journal=Journal(path),
                          boot_reason=reason, **kw)


class _Seq:
    def __init__(self):
        self.value = 0

    def next(self):
        self.value += 1
        return self.value - 1


def run_scenario(sc, path):
    """Play one scenario; returns a list of what differed (empty: it passed).
    `path` is a journal file of its own, absent at the start."""
    valves = [Valve() for _ in range(sc.get("valves_fitted", 2))]
    meter = None
    if sc.get("flow") is not None:
        meter = PipeMeter(valves, sc["flow"])
    node = _node(sc, valves, meter, path, "power-on reset")
    acks = []
    refused = 0
    for ev in sc["events"]:
        kind, t = ev[0], T0 + ev[1]
        if meter is not None:
            meter.advance(t)
        if kind == "cmd":
            acks += node.on_command(command(**ev[2]), t)
        elif kind == "raw":
            acks += node.on_command(ev[2], t)
        elif kind == "tick":
            node.on_heartbeat(t)
            acks += node.tick(t)[0]
        elif kind == "silent":
            acks += node.tick(t)[0]
        elif kind == "run":
            step_t = t
            while step_t <= T0 + ev[2]:
                if meter is not None:
                    meter.advance(step_t)
                node.on_heartbeat(step_t)
                acks += node.tick(step_t)[0]
                step_t += ev[3]
        elif kind == "pump":
            meter.open_rate = ev[2]
        elif kind == "leak":
            meter.closed_rate = ev[2]
        elif kind == "coil":
            try:
                node.on_coil_write(ev[2], ev[3])
            except ValueError:
                refused += 1
        elif kind == "reboot":
            stats = node.stats
            node = _node(sc, valves, meter, path, ev[2])
            node.stats["duplicates"] += stats["duplicates"]
            node.stats["heartbeat_losses"] += stats["heartbeat_losses"]
        elif kind == "damage":
            with open(path, "w") as f:
                f.write("furrow-journal 0000\n{not json")
        else:
            raise ValueError("unknown event %r" % (kind,))
    return _compare(sc, node, valves, acks, refused)


def _compare(sc, node, valves, acks, refused):
    errors = []
    want = sc.get("acks", [])
    got = [[a["id"], a["state"]] for a in acks]
    if got != [w[:2] for w in want]:
        errors.append("acks: got %s, want %s" % (got, [w[:2] for w in want]))
    else:
        for a, w in zip(acks, want):
            if len(w) > 2 and (a.get("reason") is None or w[2] not in a["reason"]):
                errors.append("ack %s %s: reason %r lacks %r" % (w[0], w[1], a.get("reason"), w[2]))
    for a in acks:
        commands.validate_ack(json.loads(commands.encode(a)))  # every ack is valid on the wire
    if "valves" in sc and [v.is_open for v in valves] != sc["valves"]:
        errors.append("valves: got %s, want %s" % ([v.is_open for v in valves], sc["valves"]))
    if "opens" in sc:
        opens = [len([c for c in v.calls if c]) for v in valves]
        if opens != sc["opens"]:
            errors.append("opens: got %s, want %s" % (opens, sc["opens"]))
    for cmd_id, litres in sc.get("volume", {}).items():
        final = [a for a in acks if a["id"] == cmd_id and a["state"] in ("completed", "aborted")]
        if not final or final[-1]["volume_l"] is None or abs(final[-1]["volume_l"] - litres) > 0.5:
            errors.append("volume of %s: got %s, want %s" % (cmd_id, final and final[-1]["volume_l"], litres))
    for key, value in sc.get("stats", {}).items():
        if node.stats.get(key) != value:
            errors.append("stats[%s]: got %s, want %s" % (key, node.stats.get(key), value))
    if "leak" in sc:
        leak = [r for r in node.last["readings"] if r["name"] == "leak_l_min"]
        if not leak or (leak[0]["value"] > 0) != sc["leak"]:
            errors.append("leak reading: got %s, want leak=%s" % (leak, sc["leak"]))
    if refused != sc.get("refused", 0):
        errors.append("refused coil writes: got %d, want %d" % (refused, sc.get("refused", 0)))
    return errors


def run_all(path_of):
    """Run every scenario; `path_of(i)` names scenario i's journal file.
    Returns {name: errors} for the scenarios that failed."""
    failed = {}
    for i, sc in enumerate(SCENARIOS):
        errors = run_scenario(sc, path_of(i))
        if errors:
            failed[sc["name"]] = errors
    return failed
