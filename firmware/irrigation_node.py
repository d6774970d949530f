"""Irrigation controller core: runs valve commands safely on its own.

The rules below hold whatever the gateway or cloud do, because this core
enforces them itself:

* with a node key (``cmd_key``, contract 1.1), a command whose node MAC
  (``nmac``, edge/signing.py) is missing or wrong is refused ("rejected",
  reason "node mac: ...") before anything else, and not remembered;
* a command past its ``expires_ms`` is refused ("rejected"), so is one for a
  valve this controller does not have or for another node;
* a command id seen before is never executed again: the controller re-sends
  the latest acknowledgement of that id instead, so retries never
  double-water (the last `HISTORY` ids are remembered, plus every running
  or waiting command);
* a command before its ``not_before_ms`` waits ("received") and starts when
  due, if the valve is free and the gateway is still heard; if it cannot
  start before its expiry it ends "aborted";
* an open runs ``duration_s`` then "completed" (with runtime and, with a flow
  meter, the volume); a run past ``max_runtime_s`` (plus `RUNTIME_GRACE_MS`)
  is cut off and "aborted" (only a stalled loop or a clock jump gets there);
* a close command shuts the valve: the run it cut short ends "aborted"
  ("closed by command <id>") and the close itself "completed";
* cancel (contract 1.2, a command message with action "cancel" and the id of
  the command it cancels): a held command is dropped and its valve never
  opens; a running one has its valve closed (its runtime and volume are in
  the ack); an id never seen is remembered, so the command arriving later is
  refused; each ends "cancelled". A cancel for a finished command (or a
  second cancel) repeats that command's final ack. A cancel is acted on at
  once, whatever its times say: dropping or closing is always safe. The
  "cancelled" ack is remembered like any other (and journalled), so a
  cancelled command retried after a reset is still refused;
* heartbeat: if nothing is heard from the gateway for
  `heartbeat_timeout_ms` while a valve is open, every valve closes and the
  runs end "aborted" ("heartbeat lost");
* reset: valves close at boot. With a `journal` (firmware/journal.py, a
  file in flash) a run that was open when the controller reset ends
  "aborted" with the reset's cause (`boot_reason`, e.g. "watchdog reset"),
  a command still waiting for its not-before ends "aborted" too, and the
  latest ack of the last `_JOURNAL_IDS` command ids survives, so a command
  retried after the reboot is answered, never run again;
* no flow: with a flow meter, a run during which the meter sees less than
  `min_flow_l_min` for `no_flow_ms` (a stuck valve, a pump that failed, an
  empty tank) is cut off, "aborted" ("no flow ...");
* fertigate (contract 1.5): an open during which the injector (``injector``,
  firmware/injector.py) doses stock solution within the command's window and
  only while water flows; a controller without an injector or a flow meter
  refuses it ("rejected"), one whose injector doses another run holds it
  like a busy valve. Whatever ends the run stops the pump, and the final ack
  carries ``injected_ml``; an injector fault (line EC out of its band) ends
  the run "aborted", and a window that closes before the dose ends it
  "completed" with the shortfall in the reason;
* leak: flow of at least `leak_l_min` while every valve has been closed for
  `leak_settle_ms` (the pipe drained) is a leak (a valve that does not seal,
  a burst pipe): the controller reports at once, with the reading
  `leak_l_min` (0 when there is none), and counts it in ``stats["leaks"]``.

Heartbeats: the board loop calls ``on_heartbeat(now_ms)`` whenever it hears
from the gateway: any MQTT message on the node's command topic, each ping
answered by a connected broker, or any Modbus request addressed to this unit.
``on_command`` counts as a heartbeat by itself.

Valve drivers have one method, ``set(open)`` (True opens, False closes);
they are closed at construction whatever state they powered up in. The
optional flow meter has ``total_l()`` (litres since power-up, never
decreasing) and ``rate_l_min()``.

Time is Unix milliseconds that never step backwards (the board derives it
from a monotonic tick counter, not from a wall clock that NTP may step).
"""

import json
import struct

from furrow.edge import commands
from furrow.edge.errors import ContractError
from furrow.edge.measurements import ROLE_IRRIGATION
from furrow.firmware.reporting import Reporter, reading

try:
    from micropython import const
except ImportError:  # CPython (tests, HIL): a constant is its value; MicroPython folds it into the code
    def const(value):
        return value

DEFAULT_INTERVAL_MS = 60 * 1000
_DEFAULT_HEARTBEAT_TIMEOUT_MS = const(10 * 60 * 1000)
# A run ends at the first tick after its duration; only a run that overshoots
# max_runtime_s by more than this (a stalled loop, a clock jump) is "aborted".
RUNTIME_GRACE_MS = 2000
HISTORY = 32  # command ids remembered after they finish
MAX_WAITING = 8  # commands held for their not_before at once
_JOURNAL_IDS = const(16)  # command ids whose latest ack survives a reset
_DEFAULT_NO_FLOW_MS = const(2 * 60 * 1000)  # a valve and pump need seconds, not minutes
DEFAULT_MIN_FLOW_L_MIN = 0.5
DEFAULT_LEAK_L_MIN = 1.0
_DEFAULT_LEAK_SETTLE_MS = const(60 * 1000)  # what the pipe holds drains after a close


# how a _compact()ed ack holds each optional field
_NONE = const(0)
_INT = const(1)
_FLOAT = const(2)


def _key(cmd_id):
    """How a remembered ack begins: its command id's UTF-8 length (2 bytes) and the id."""
    b = cmd_id.encode()
    return bytes((len(b) >> 8, len(b) & 255)) + b


def _compact(ack):
    """What the history keeps of a valid ack, in one bytes object: its command id (`_key`), its state
    (the index in ACK_STATES) and ts_ms, then runtime_s, volume_l and injected_ml each as a tag (_NONE,
    _INT, _FLOAT) and 8 bytes, then the reason after a tag, in UTF-8. `_expand` gives back the same
    values of the same types, so a repeat is the very ack that was sent. (A tuple of them held ts_ms as
    a big int and each volume as a float, heap objects of their own: some 50 bytes more per remembered
    command; a dict from id to ack held each id as a string of its own, and its table: some 30 more.)"""
    out = _key(ack["id"]) + struct.pack("<Bq", commands.ACK_STATES.index(ack["state"]), ack["ts_ms"])
    for key in ("runtime_s", "volume_l", "injected_ml"):
        value = ack.get(key)
        if value is None:
            out += bytes((_NONE,))
        elif isinstance(value, float):
            out += struct.pack("<Bd", _FLOAT, value)
        else:
            out += struct.pack("<Bq", _INT, value)
    reason = ack["reason"]
    return out + (bytes((_NONE,)) if reason is None else bytes((_INT,)) + reason.encode())


def _expand(kept):
    """make_ack's (state, ts_ms, runtime_s, volume_l, reason, injected_ml) of a _compact()ed ack."""
    pos = 2 + (kept[0] << 8 | kept[1])  # after the id
    state, ts_ms = struct.unpack_from("<Bq", kept, pos)
    pos, numbers = pos + 9, []
    for _ in range(3):
        tag = kept[pos]
        if tag == _NONE:
            numbers.append(None)
            pos += 1
        else:
            numbers.append(struct.unpack_from("<d" if tag == _FLOAT else "<q", kept, pos + 1)[0])
            pos += 9
    reason = kept[pos + 1:].decode() if kept[pos] != _NONE else None
    runtime_s, volume_l, injected_ml = numbers
    return commands.ACK_STATES[state], ts_ms, runtime_s, volume_l, reason, injected_ml


def _rebuild_id(kept):
    """The command id a _compact()ed ack begins with."""
    return kept[2:2 + (kept[0] << 8 | kept[1])].decode()


def _recover_id(data):
    """The id of a command that failed validation, if one can be read."""
    try:
        obj = json.loads(data)
        cmd_id = obj.get("id")
    except Exception:  # noqa: BLE001 - anything unreadable has no id
        return None
    if isinstance(cmd_id, str) and 1 <= len(cmd_id) <= 64:
        return cmd_id
    return None


class IrrigationNode:
    """An irrigation controller of ``len(valves)`` valves (numbered from 1).

    Events in: ``on_command(data, now_ms)``, ``on_heartbeat(now_ms)``,
    ``tick(now_ms)``, ``on_coil_write(address, values)``. Out: lists of
    acknowledgement dicts and uplink dicts for the board to publish.
    """

    def __init__(
        self,
        node_id,
        seqstore,
        valves,
        fw="0.1.0",
        interval_ms=DEFAULT_INTERVAL_MS,
        flow_meter=None,
        heartbeat_timeout_ms=_DEFAULT_HEARTBEAT_TIMEOUT_MS,
        battery=None,
        rssi=None,
        journal=None,
        boot_reason="reset",
        no_flow_ms=_DEFAULT_NO_FLOW_MS,
        min_flow_l_min=DEFAULT_MIN_FLOW_L_MIN,
        leak_l_min=DEFAULT_LEAK_L_MIN,
        leak_settle_ms=_DEFAULT_LEAK_SETTLE_MS,
        pressure=None,
        cmd_key=None,
        injector=None,
    ):
        if not 1 <= len(valves) <= commands.VALVE_MAX:
            raise ValueError("an irrigation node drives 1..%d valves, not %d" % (commands.VALVE_MAX, len(valves)))
        self.node_id = node_id
        self.valves = list(valves)
        self.flow_meter = flow_meter
        self.pressure = pressure  # has read() -> kPa or a fault code
        self.injector = injector  # firmware/injector.py, or None: no fertigation
        self._rate = None  # the flow meter's latest rate, l/min (None: no meter or unreadable)
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        # With a key (bytes) every command must carry its node MAC (nmac).
        self.cmd_key = cmd_key
        self._rep = Reporter(node_id, ROLE_IRRIGATION, seqstore, fw, interval_ms, battery, rssi)
        self.holding = self._rep.holding
        self._open = [False] * len(self.valves)
        self._runs = {}  # valve number -> {"cmd", "start_ms", "vol0"}
        self._waiting = []  # commands held until not_before
        self._history = []  # the latest ack of each remembered command id, _compact()ed, oldest id first
        self._pending = []  # acks made outside on_command/tick, sent at the next tick
        self._last_heard_ms = None
        self._now_ms = 0  # latest time seen in any event
        self._report_now = False
        self.no_flow_ms = no_flow_ms
        self.min_flow_l_min = min_flow_l_min
        self.leak_l_min = leak_l_min
        self.leak_settle_ms = leak_settle_ms
        self._closed_since_ms = None  # every valve closed since (None: one is open)
        self._leak_l_min = 0.0
        self.stats = {
            "commands": 0,
            "bad_commands": 0,
            "duplicates": 0,
            "heartbeat_losses": 0,
            "no_flow_aborts": 0,
            "leaks": 0,
            "reset_aborts": 0,
            "mac_refused": 0,
            "journal_errors": 0,  # journal saves that failed (flash full, or no room in the heap)
        }
        for v in self.valves:
            v.set(False)
        self.journal = journal
        self.boot_reason = boot_reason
        self._interrupted = []  # (id, "run" or "waiting") open or waiting at the reset
        self._booted = journal is None
        if journal is not None:
            state = journal.load()
            for ack in state["acks"]:
                if isinstance(ack, dict) and isinstance(ack.get("id"), str):
                    try:  # only what makes a valid ack again, as a repeat will
                        commands.make_ack(ack["id"], node_id, ack["state"], ack["ts_ms"], ack["runtime_s"],
                                          ack["volume_l"], ack["reason"], ack.get("injected_ml"))
                    except (ContractError, KeyError):
                        continue
                    self._keep(_compact(ack))
            for entry in state["runs"]:
                self._interrupted.append((entry[1], "run"))
            for cmd_id in state["waiting"]:
                self._interrupted.append((cmd_id, "waiting"))

    # -- events --------------------------------------------------------------

    def on_heartbeat(self, now_ms):
        """The gateway was heard from at `now_ms`."""
        self._last_heard_ms = now_ms
        self._now_ms = now_ms

    def _boot(self, now_ms):
        """At the first event after a reset: end what the journal says was
        running or waiting ("aborted"), and write the journal back."""
        self._booted = True
        for cmd_id, kind in self._interrupted:
            self.stats["reset_aborts"] += 1
            why = self.boot_reason if kind == "run" else "%s before it started" % self.boot_reason
            self._pending.append(self._ack(cmd_id, commands.ACK_ABORTED, now_ms, reason=why[:200]))
        self._interrupted = []
        self._save()

    def on_command(self, data, now_ms):
        """Handle one command (JSON bytes, or the dict `commands.validate_command` returned: the
        Modbus mailbox validates the registers' command itself, and handing it over as it is spares
        a JSON round trip through a small heap); returns the acks to publish."""
        if not self._booted:
            self._boot(now_ms)
        self.on_heartbeat(now_ms)
        try:
            cmd = data if isinstance(data, dict) else commands.decode_command(data)
        except ContractError as e:
            self.stats["bad_commands"] += 1
            cmd_id = _recover_id(data)
            if cmd_id is None:
                return []
            if self._find(cmd_id) >= 0:
                return self._repeat(cmd_id)
            # Not remembered: a corrected command may come back with this id.
            reason = "invalid command: %s" % e
            return [commands.make_ack(cmd_id, self.node_id, commands.ACK_REJECTED, now_ms, reason=reason[:200])]
        cmd_id = cmd["id"]
        if self.cmd_key is not None:
            # Checked first: a forged command gets no repeat of a real one's ack
            # either, and it is not remembered, so the real one still runs.
            # (Imported here: a node without a key never loads the MAC code.)
            from furrow.edge.signing import check_node_mac

            why = check_node_mac(self.cmd_key, cmd)
            if why is not None:
                self.stats["mac_refused"] += 1
                return [commands.make_ack(cmd_id, self.node_id, commands.ACK_REJECTED, now_ms, reason=why[:200])]
        if cmd["action"] == commands.ACTION_CANCEL:
            return self._cancel(cmd_id, now_ms)
        if self._find(cmd_id) >= 0:
            return self._repeat(cmd_id)
        self.stats["commands"] += 1
        valve = cmd["valve"]
        if cmd["node"] != self.node_id:
            return [self._reject(cmd, now_ms, "addressed to node %s, this is %s" % (cmd["node"], self.node_id))]
        if now_ms > cmd["expires_ms"]:
            return [self._reject(cmd, now_ms, "expired at %d, received at %d" % (cmd["expires_ms"], now_ms))]
        if valve > len(self.valves):
            return [self._reject(cmd, now_ms, "no valve %d: this controller has %d" % (valve, len(self.valves)))]
        if cmd["action"] == commands.ACTION_FERTIGATE and (self.injector is None or self.flow_meter is None):
            # without a meter nothing proves water flows, and the pump must never dose a dry line
            return [self._reject(cmd, now_ms, "cannot fertigate: no %s" % (
                "injector" if self.injector is None else "flow meter"))]
        if now_ms < cmd["not_before_ms"] or self._busy(cmd):
            if len(self._waiting) >= MAX_WAITING:
                return [self._reject(cmd, now_ms, "%d commands already waiting" % MAX_WAITING)]
            self._waiting.append(cmd)
            return [self._ack(cmd_id, commands.ACK_RECEIVED, now_ms)]
        # Not remembered (nor journalled) on its own: _execute remembers the next step at once.
        received = commands.make_ack(cmd_id, self.node_id, commands.ACK_RECEIVED, now_ms)
        return [received] + self._execute(cmd, now_ms)

    def tick(self, now_ms):
        """Advance to `now_ms`; returns (acks, uplinks) to publish."""
        if not self._booted:
            self._boot(now_ms)
        if self._last_heard_ms is None:
            self._last_heard_ms = now_ms  # boot: the timeout counts from here
        if self._closed_since_ms is None and True not in self._open:
            self._closed_since_ms = now_ms
        self._now_ms = now_ms
        acks = self._pending
        self._pending = []
        heard = now_ms - self._last_heard_ms <= self.heartbeat_timeout_ms
        if not heard and True in self._open:
            self.stats["heartbeat_losses"] += 1
            for valve in range(1, len(self.valves) + 1):
                acks += self._close(valve, now_ms, "heartbeat lost")
        for valve in sorted(self._runs):
            run = self._runs[valve]
            elapsed_ms = now_ms - run["start_ms"]
            cmd = run["cmd"]
            if elapsed_ms > cmd["max_runtime_s"] * 1000 + RUNTIME_GRACE_MS:
                acks += self._close(valve, now_ms, "max runtime %d s exceeded" % cmd["max_runtime_s"])
            elif elapsed_ms >= cmd["duration_s"] * 1000:
                acks += self._close(valve, now_ms, None)
        acks += self._check_flow(now_ms)
        acks += self._inject(now_ms)
        for cmd in list(self._waiting):
            if now_ms > cmd["expires_ms"]:
                self._waiting.remove(cmd)
                why = "expired at %d before it could start" % cmd["expires_ms"]
                if not heard:
                    why += " (gateway not heard)"
                elif self._busy(cmd):
                    why += " (valve %d or the injector busy)" % cmd["valve"]
                acks.append(self._ack(cmd["id"], commands.ACK_ABORTED, now_ms, reason=why))
            elif now_ms >= cmd["not_before_ms"] and heard:
                if self._busy(cmd):
                    continue  # waits for the valve (or the injector), at most until it expires
                self._waiting.remove(cmd)
                acks += self._execute(cmd, now_ms)
        uplinks = []
        if self._rep.due(now_ms) or self._report_now:
            uplinks.append(self._rep.report(now_ms, self._readings(), self._rep.due(now_ms)))
            self._report_now = False
        return acks, uplinks

    def on_coil_write(self, address, values):
        """RtuSlave's coil callback: a coil write may only close valves.
        Opening needs a command (id, expiry, max runtime), so a write of 1
        raises ValueError, which the slave answers with exception 03."""
        for i, v in enumerate(values):
            if v:
                raise ValueError("valve %d: open with a command, coils only close" % (address + i + 1))
        for i in range(len(values)):
            self._pending += self._close(address + i + 1, self._now_ms, "closed by Modbus coil write")

    def on_holding_write(self, address, values):
        """RtuSlave's `on_write`: unit address and report interval."""
        self._rep.apply_holding(self._rep.new_holding(address, values))

    # -- state ---------------------------------------------------------------

    @property
    def now_ms(self):
        """The latest time seen in any event (for callers that carry no clock,
        such as a Modbus write)."""
        return self._now_ms

    def valve_states(self):
        """Open (True) or closed (False) per valve, valve 1 first."""
        return list(self._open)

    def coils(self):
        """The valve states as the Modbus slave serves them (coil k = valve k+1)."""
        return self._open

    def registers(self):
        """Live input-register view of the latest report (for RtuSlave)."""
        return self._rep.registers

    @property
    def last(self):
        """The latest uplink dict, or None before the first report."""
        return self._rep.last

    # -- inside --------------------------------------------------------------

    def _busy(self, cmd):
        """True while `cmd` (a run) must wait: its valve runs, or (a fertigate) the injector doses."""
        if cmd["action"] not in commands.RUNS:
            return False
        return cmd["valve"] in self._runs or (
            cmd["action"] == commands.ACTION_FERTIGATE and self.injector.cmd is not None)

    def _inject(self, now_ms):
        """Run the injector for its fertigate's valve; a fault ends that run."""
        inj = self.injector
        if inj is None or inj.cmd is None:
            return []
        rate = self._rate
        why = inj.tick(now_ms, rate is not None and rate >= self.min_flow_l_min)
        return [] if why is None else self._close(inj.cmd["valve"], now_ms, why)

    def _check_flow(self, now_ms):
        """The flow anomaly rules: no flow while open, flow while closed."""
        self._rate = None
        if self.flow_meter is None:
            return []
        try:
            rate = self.flow_meter.rate_l_min()
        except MemoryError:  # out of heap is no dead meter: up to the loop, the board resets
            raise
        except Exception:  # noqa: BLE001 - a dead meter proves nothing either way
            return []
        if rate is None or rate != rate:
            return []
        self._rate = rate
        acks = []
        for valve in sorted(self._runs):
            run = self._runs[valve]
            if rate >= self.min_flow_l_min:
                run["flow_ms"] = now_ms
            elif self.no_flow_ms is not None and now_ms - run["flow_ms"] >= self.no_flow_ms:
                self.stats["no_flow_aborts"] += 1
                why = "no flow for %d s while open (stuck valve or pump failure)" % ((now_ms - run["flow_ms"]) // 1000)
                acks += self._close(valve, now_ms, why)
        leak = 0.0
        if (
            self.leak_l_min is not None
            and self._closed_since_ms is not None
            and now_ms - self._closed_since_ms >= self.leak_settle_ms
            and rate >= self.leak_l_min
        ):
            leak = rate
        if (leak > 0) != (self._leak_l_min > 0):
            self._report_now = True  # a leak starts or stops: report it now
            if leak > 0:
                self.stats["leaks"] += 1
        self._leak_l_min = leak
        return acks

    def _save(self):
        if self.journal is None:
            return
        history = self._history
        state = {
            "runs": [[v, self._runs[v]["cmd"]["id"], self._runs[v]["start_ms"]] for v in sorted(self._runs)],
            "waiting": [c["id"] for c in self._waiting],
            # rebuilt one at a time as the journal writes them (and no list of them: no 64-byte block)
            "acks": (self._rebuild(history[i]) for i in range(max(0, len(history) - _JOURNAL_IDS), len(history))),
        }
        try:
            self.journal.save(state)
        except Exception as e:  # noqa: BLE001 - a full flash or a full heap must not stop the valves closing
            # Counted and said on the console, never silent: after a reset the journal may be one
            # step behind (a run it missed is not reported "aborted", a retry of a command it
            # missed runs again). The valves stay safe either way: closed at boot, closed by time.
            # `print` with separate arguments builds no string, so it works in a heap with no room.
            self.stats["journal_errors"] += 1
            print("furrow journal: not saved:", type(e).__name__, e)

    def _find(self, cmd_id):
        """The index of `cmd_id`'s ack in the history, -1 if it is not remembered."""
        key = _key(cmd_id)
        for i in range(len(self._history)):
            if self._history[i].startswith(key):
                return i
        return -1

    def _keep(self, kept):
        """Remember a _compact()ed ack: in place of its id's earlier one, or appended (room made first:
        the history never grows past HISTORY ids, and never forgets a command still in play)."""
        history = self._history
        i = self._find(_rebuild_id(kept))
        if i >= 0:
            history[i] = kept
            return
        if len(history) >= HISTORY:
            active = [r["cmd"]["id"] for r in self._runs.values()] + [c["id"] for c in self._waiting]
            for j in range(len(history)):
                if _rebuild_id(history[j]) not in active:
                    history.pop(j)
                    break
        history.append(kept)

    def _remember(self, ack):
        self._keep(_compact(ack))
        if self._booted:
            self._save()
    def _ack(self, cmd_id, state, now_ms, runtime_s=None, volume_l=None, reason=None, injected_ml=None):
        ack = commands.make_ack(cmd_id, self.node_id, state, now_ms, runtime_s, volume_l, reason, injected_ml)
        self._remember(ack)
        return ack

    def _reject(self, cmd, now_ms, reason):
        return self._ack(cmd["id"], commands.ACK_REJECTED, now_ms, reason=reason)

    def _latest(self, cmd_id):
        """The latest ack of a remembered command id, as it was sent."""
        return commands.make_ack(cmd_id, self.node_id, *_expand(self._history[self._find(cmd_id)]))

    def _rebuild(self, kept):
        """The ack a history entry holds, as it was sent."""
        return commands.make_ack(_rebuild_id(kept), self.node_id, *_expand(kept))

    def _repeat(self, cmd_id):
        self.stats["duplicates"] += 1
        return [self._latest(cmd_id)]

    def _total_l(self):
        if self.flow_meter is None:
            return None
        try:
            return self.flow_meter.total_l()
        except MemoryError:  # out of heap is no dead meter: up to the loop, the board resets
            raise
        except Exception:  # noqa: BLE001 - a dead meter must not keep a valve open
            return None

    def _set(self, valve, is_open):
        self.valves[valve - 1].set(is_open)
        if self._open[valve - 1] != is_open:
            self._report_now = True
        self._open[valve - 1] = is_open
        if is_open:
            self._closed_since_ms = None
        elif self._closed_since_ms is None and True not in self._open:
            self._closed_since_ms = self._now_ms

    def _cancel(self, cmd_id, now_ms):
        for cmd in self._waiting:
            if cmd["id"] == cmd_id:
                self._waiting.remove(cmd)  # held: its valve never opens
                break
        else:
            for valve in self._runs:
                if self._runs[valve]["cmd"]["id"] == cmd_id:
                    return self._close(valve, now_ms, None, commands.ACK_CANCELLED)
            if self._find(cmd_id) >= 0:
                return self._repeat(cmd_id)  # finished, or cancelled already: its final ack again
        # held, or never seen: remembered as cancelled, so it is refused if it comes
        return [self._ack(cmd_id, commands.ACK_CANCELLED, now_ms)]

    def _execute(self, cmd, now_ms):
        valve = cmd["valve"]
        if cmd["action"] == commands.ACTION_CLOSE:
            acks = self._close(valve, now_ms, "closed by command %s" % cmd["id"])
            return acks + [self._ack(cmd["id"], commands.ACK_COMPLETED, now_ms)]
        self._runs[valve] = {"cmd": cmd, "start_ms": now_ms, "vol0": self._total_l(), "flow_ms": now_ms}
        # remembered and journalled with the run before the valve opens: a reset in between still finds it
        ack = self._ack(cmd["id"], commands.ACK_STARTED, now_ms)
        self._set(valve, True)
        if cmd["action"] == commands.ACTION_FERTIGATE:
            self.injector.start(cmd, now_ms)
        return [ack]

    def _close(self, valve, now_ms, reason, state=None):
        """Close `valve`; end its run `state`, by default "completed" (reason None) or "aborted"."""
        self._set(valve, False)
        run = self._runs.pop(valve, None)
        if run is None:
            return []
        runtime_s = max(0, now_ms - run["start_ms"]) // 1000
        volume_l = None
        total = self._total_l()
        if total is not None and run["vol0"] is not None:
            volume_l = round(max(0.0, total - run["vol0"]), 1)
            if volume_l != volume_l or volume_l > 1e9:
                volume_l = None  # a meter gone wrong (NaN, inf) must not break the ack's JSON
        if state is None:
            state = commands.ACK_COMPLETED if reason is None else commands.ACK_ABORTED
        injected = None
        if self.injector is not None and self.injector.cmd is run["cmd"]:
            injected = self.injector.stop(now_ms)
            if state == commands.ACK_COMPLETED and injected < run["cmd"]["inject_ml"]:
                reason = "dose not reached: %d of %d ml in the window" % (injected, run["cmd"]["inject_ml"])
        return [self._ack(run["cmd"]["id"], state, now_ms, runtime_s, volume_l, reason and reason[:200], injected)]

    def _readings(self):
        out = []
        for i, is_open in enumerate(self._open):
            out.append(reading("valve_open", 1 if is_open else 0, channel=i + 1))
        if self.flow_meter is not None:
            try:
                rate = self.flow_meter.rate_l_min()
            except MemoryError:  # out of heap is no dead meter: up to the loop, the board resets
                raise
            except Exception:  # noqa: BLE001
                rate = "sensor_error"
            total = self._total_l()
            out.append(reading("flow_l_min", rate))
            out.append(reading("volume_l", "sensor_error" if total is None else total))
            out.append(reading("leak_l_min", self._leak_l_min if isinstance(rate, (int, float)) else rate))
        if self.pressure is not None:
            try:
                kpa = self.pressure.read()
            except MemoryError:  # out of heap is no dead meter: up to the loop, the board resets
                raise
            except Exception:  # noqa: BLE001
                kpa = "sensor_error"
            out.append(reading("line_pressure_kpa", kpa))
        return out
