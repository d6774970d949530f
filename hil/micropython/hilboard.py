# The board side of a HIL scenario run in the real MicroPython: the firmware's
# node cores on "fed" hardware whose values the host computes from the virtual
# farm each step. MicroPython subset: no typing, no f-strings, no dataclasses.
#
# One request line in, one reply line out (JSON):
#   {"t": now_ms, "due": [node ids to tick], "cmds": [[node, command json]],
#    "pulses": {node: [[channel, count]]}, "in": {node: inputs}, "rtu": [[node, frame hex]]}
#   (handled in that order: the "rtu" frames last, so a master reads what the ticks made)
#   inputs: soil {"adc": {"10": [u16, ...]}}, weather {"air": [t, rh, p], "wind": [ms, deg], "solar": w},
#           irrigation {"flow": [total_l, l_min]}, with an injector also "ec": dS/m (the line after it)
#   reply: {"ups": [[node, wire hex]], "acks": [ack, ...], "valves": {node: [0/1, ...]},
#           "pumps": {node: 0/1} (controllers with an injector: its dosing pump's relay),
#           "rtu": [reply frame hex or null, ...]}
#
# A controller whose spec has "injector_l_h" doses fertigates with the firmware's
# Injector (its pump rate, its line EC band "ec_band"): the pump is a relay the host
# reads back, the EC sensor returns what the host fed it.
#
# An irrigation node with "link": "modbus" is an RS-485 controller: the firmware's
# RTU slave with its command mailbox (unit "unit"). Its commands come as whole
# RTU frames in "rtu" (a master's requests, answered in order; any request to it
# is the gateway's heartbeat); its acks go into its mailbox's ack block and its
# reports into its registers, not into "acks" and "ups".

import json

from furrow.edge import payload
from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
from furrow.firmware.injector import Injector
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.firmware.journal import Journal
from furrow.firmware.modbus_commands import CommandMailbox
from furrow.firmware.modbus_slave import RtuSlave
from furrow.firmware.pest_node import PestNode
from furrow.firmware.seqstore import SeqStore
from furrow.firmware.soil_node import SoilNode
from furrow.firmware.weather_node import WeatherNode

HEX = "0123456789abcdef"


def hexbytes(data):
    out = []
    for b in data:
        out.append(HEX[b >> 4] + HEX[b & 15])
    return "".join(out)


def unhex(text):
    return bytes(int(text[i:i + 2], 16) for i in range(0, len(text), 2))


class FedADC:
    def __init__(self):
        self.samples = [0]
        self.i = 0

    def feed(self, samples):
        self.samples = samples
        self.i = 0

    def read_u16(self):
        v = self.samples[self.i % len(self.samples)]
        self.i += 1
        return v


class Fed:
    """A sensor whose read() returns what the host fed it (a tuple or one value)."""

    has_pressure = True

    def __init__(self):
        self.value = None

    def read(self):
        return self.value


class FedValve:
    """A relay output the host reads back: a valve's solenoid, or a dosing pump."""

    def __init__(self):
        self.is_open = False

    def set(self, is_open):
        self.is_open = bool(is_open)


class FedMeter:
    def __init__(self):
        self.total = 0.0
        self.rate = 0.0

    def total_l(self):
        return self.total

    def rate_l_min(self):
        return self.rate


class Board:
    def __init__(self, specs):
        self.nodes = {}
        for s in specs:
            nid = s["node_id"]
            seq = SeqStore("/flash/" + nid + ".seq")
            ms = s["interval_s"] * 1000
            if s["role"] == "soil":
                adcs = {}
                probes = []
                for d in s["depths_cm"]:
                    adcs[str(d)] = FedADC()
                    probes.append((d, CapacitiveMoisture(adcs[str(d)], s["dry_raw"], s["wet_raw"]), None))
                core = SoilNode(nid, seq, probes, interval_ms=ms, battery=lambda: 3.7, rssi=lambda: -70)
                hw = {"adc": adcs}
            elif s["role"] == "weather":
                hw = {"air": Fed(), "wind": Fed(), "solar": Fed()}
                core = WeatherNode(nid, seq, air=hw["air"], interval_ms=ms, wind=hw["wind"], solar=hw["solar"],
                                   battery=lambda: 3.9, rssi=lambda: -75)
            elif s["role"] == "irrigation":
                valves = [FedValve() for _ in s["valve_zones"]]
                meter = FedMeter()
                hw = {"valves": valves, "meter": meter}
                injector = None
                if s.get("injector_l_h"):
                    hw["pump"], hw["ec"] = FedValve(), Fed()
                    injector = Injector(hw["pump"], s["injector_l_h"], hw["ec"], tuple(s["ec_band"]))
                core = IrrigationNode(nid, seq, valves, interval_ms=ms, flow_meter=meter,
                                      journal=Journal("/flash/" + nid + ".journal"), boot_reason="emulator start",
                                      injector=injector)
                if s.get("link") == "modbus":
                    box = CommandMailbox(core)
                    hw["box"] = box
                    hw["slave"] = RtuSlave(s["unit"], box.inputs, box.holding, coils=core.coils(),
                                           on_write=box.on_write, on_coil_write=core.on_coil_write)
            else:
                hw = {}
                core = PestNode(nid, seq, traps=s["traps"], interval_ms=ms, battery=lambda: 3.8, rssi=lambda: -80)
            self.nodes[nid] = (s, core, hw)
        self._line_us = 0  # the RS-485 line's time, microseconds

    def _feed(self, nid, inputs):
        s, core, hw = self.nodes[nid]
        if "adc" in inputs:
            for depth, samples in inputs["adc"].items():
                hw["adc"][depth].feed(samples)
        if "air" in inputs:
            hw["air"].value = tuple(inputs["air"])
            hw["wind"].value = tuple(inputs["wind"])
            hw["solar"].value = inputs["solar"]
        if "flow" in inputs:
            hw["meter"].total, hw["meter"].rate = inputs["flow"][0], inputs["flow"][1]
        if "ec" in inputs:
            hw["ec"].value = inputs["ec"]

    def _rtu(self, nid, frame, now):
        """One whole request frame to node `nid`'s slave, with a silence before and after it
        (so no old partial frame joins it, and a function code it does not know is judged)."""
        s, core, hw = self.nodes[nid]
        slave = hw["slave"]
        core.on_heartbeat(now)  # the master is heard as it sends (and a write acts at this time)
        gap = slave.gap_us * 2
        self._line_us += gap
        slave.feed(b"", self._line_us)
        reply = slave.feed(frame, self._line_us + 1)
        if reply is None:
            reply = slave.feed(b"", self._line_us + 1 + gap)
        self._line_us += 1 + gap
        return reply

    def step(self, line):
        req = json.loads(line)
        now = req["t"]
        ups, acks = [], []
        for nid, inputs in req.get("in", {}).items():
            self._feed(nid, inputs)
        for nid, data in req.get("cmds", []):
            acks.extend(self.nodes[nid][1].on_command(data.encode(), now))
        for nid, events in req.get("pulses", {}).items():
            core = self.nodes[nid][1]
            for channel, count in events:
                for i in range(count):
                    at = now - (count - i) * 100
                    if channel == 0:
                        core.on_pulse(at)
                    else:
                        core.on_catch(channel, at)
        for nid in req.get("due", []):
            s, core, hw = self.nodes[nid]
            if s["role"] == "irrigation":
                if "box" in hw:  # RS-485: heard only through its bus, its reports in its registers
                    hw["box"].post(core.tick(now)[0])
                    continue
                core.on_heartbeat(now)
                a, made = core.tick(now)
                acks.extend(a)
            else:
                made = core.tick(now)
            for up in made:
                wire = payload.encode_binary(up) if s["encoding"] == "binary" else payload.encode_json(up)
                ups.append([nid, hexbytes(wire)])
        replies = []
        for nid, frame in req.get("rtu", []):  # after the ticks: a master reads what is up to date
            reply = self._rtu(nid, unhex(frame), now)
            replies.append(None if reply is None else hexbytes(reply))
        valves, pumps = {}, {}
        for nid, (s, _core, hw) in self.nodes.items():
            if s["role"] == "irrigation":
                valves[nid] = [1 if v.is_open else 0 for v in hw["valves"]]
                if "pump" in hw:
                    pumps[nid] = 1 if hw["pump"].is_open else 0
        print(json.dumps({"ups": ups, "acks": acks, "valves": valves, "pumps": pumps, "rtu": replies}))
