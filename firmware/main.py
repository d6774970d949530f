"""The board loop: reads /config.json, validates it, builds the role's core on
real hardware, and wires it to RS-485 (Modbus RTU slave) or Wi-Fi (MQTT).

On the board this file is copied to /main.py with the library under
/lib/furrow/. It only glues: every decision lives in the cores, which the
tests drive on CPython and on the MicroPython runtime.

* An invalid config never starts a core and never reboots: the node stays up
  in fault mode and says why (MQTT status ``fault``; Modbus input register
  14 = 1, 15 = number of errors) until a technician fixes the file.
* The hardware watchdog (``watchdog_s``, default 30, 0 = off) is fed once
  per loop; a hung loop resets the board, and an irrigation node's journal
  then ends the interrupted run "aborted" with the reset's cause.
* MQTT messages go through the flash ring (firmware/outbox.py) and leave it
  only after their PUBACK. With ``deep_sleep`` an MQTT soil, weather or pest
  node wakes, reports once, drains its ring and sleeps for the interval.
"""

import json
import time

from furrow.edge import commands, payload, topics
from furrow.firmware import FW_VERSION, board
from furrow.firmware.config import validate
from furrow.firmware.modbus_commands import CommandMailbox
from furrow.firmware.modbus_slave import RtuSlave, char_us_for_baud
from furrow.firmware.seqstore import SeqStore

CONFIG_PATH = "/config.json"
BACKOFF_MAX_S = 60
FAULT_RETRY_MS = 60000
WAKE_REPORT_MS = 5000  # how long a waking node may take to make its report


def read_config(path=CONFIG_PATH):
    """(cfg with defaults, errors); an unreadable file is an error too."""
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError as e:
        return {}, [(path, None, "cannot be read: %s" % e)]
    except ValueError as e:
        return {}, [(path, None, "is not valid JSON: %s" % e)]
    return validate(cfg)


def _air(cfg):
    from furrow.firmware.drivers.bme280 import BME280
    from furrow.firmware.drivers.sht3x import SHT3x

    bus = board.i2c(cfg)
    if cfg["sensor"] == "sht3x":
        return SHT3x(bus, cfg.get("address", 0x44))
    return BME280(bus, cfg.get("address", 0x76))


def build_node(cfg, clock):
    """The role's core with its drivers, from the config dict."""
    role = cfg["role"]
    reserve = 1 if cfg.get("deep_sleep") else cfg.get("seq_reserve", 100)  # every wake is a boot
    seq = SeqStore(cfg.get("seq_path", "/seq"), reserve)
    common = {"fw": FW_VERSION, "interval_ms": cfg.get("interval_s", 900) * 1000}
    if "battery" in cfg:
        common["battery"] = board.battery(cfg["battery"])
    if role == "soil":
        from furrow.firmware.drivers.ds18b20 import DS18B20
        from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture, PolyMoisture
        from furrow.firmware.soil_node import SoilNode

        probes = []
        buses = {}
        for p in cfg["probes"]:
            if p.get("poly"):
                moisture = PolyMoisture(board.adc(p["adc"]), p["poly"])
            else:
                moisture = CapacitiveMoisture(
                    board.adc(p["adc"]), p["dry_raw"], p["wet_raw"], vwc_wet_pct=p.get("vwc_wet_pct", 45.0)
                )
            temperature = None
            if "onewire" in p:
                pin = p["onewire"]
                if pin not in buses:
                    buses[pin] = board.onewire_bus(pin)
                rom = bytes.fromhex(p["rom"]) if p.get("rom") else None
                temperature = DS18B20(buses[pin], rom)
            probes.append((p["depth_cm"], moisture, temperature))
        return SoilNode(cfg["node"], seq, probes, **common)
    if role == "weather":
        from furrow.firmware.drivers.analog import LeafWetness, Pyranometer
        from furrow.firmware.drivers.wind import Anemometer, Wind, WindVane
        from furrow.firmware.weather_node import WeatherNode

        rain, wind, solar, leaf = cfg.get("rain"), cfg.get("wind"), cfg.get("solar"), cfg.get("leaf")
        canopy = cfg.get("canopy")
        if canopy:
            from furrow.firmware.drivers.reflectance import ReflectancePair
        node = WeatherNode(
            cfg["node"],
            seq,
            air=_air(cfg["air"]) if cfg.get("air") else None,
            rain_mm_per_tip=rain and rain.get("mm_per_tip", 0.2),
            wind=wind
            and Wind(
                Anemometer(board.PulseCounter(wind["pin"]), wind.get("ms_per_hz", 0.667)),
                WindVane(board.adc(wind["vane_adc"])) if "vane_adc" in wind else None,
                clock.now_ms,
            ),
            solar=solar
            and Pyranometer(board.adc(solar["adc"]), solar.get("w_m2_per_mv", 5.0), solar.get("gain", 1.0)),
            leaf=leaf
            and LeafWetness(board.adc(leaf["adc"]), leaf.get("dry_raw", 60000), leaf.get("wet_raw", 15000)),
            canopy=canopy
            and ReflectancePair([board.adc(canopy[k]) for k in ("red_up", "nir_up", "red_down", "nir_down")],
                                canopy["k_red"], canopy["k_nir"]),
            **common
        )
        if rain:
            node.gauge = board.PulseCounter(rain["pin"], handler=lambda: node.on_pulse(clock.now_ms()))
        return node
    if role == "irrigation":
        from furrow.edge.signing import parse_node_key
        from furrow.firmware.drivers.analog import LinePressure
        from furrow.firmware.drivers.valves import FlowMeter, LatchingValve
        from furrow.firmware.irrigation_node import IrrigationNode
        from furrow.firmware.journal import Journal

        valves = []
        for v in cfg["valves"]:
            latch = v.get("latch")
            if latch:
                valves.append(
                    LatchingValve(
                        board.pin_out(latch["open_pin"]),
                        board.pin_out(latch["close_pin"]),
                        latch.get("pulse_ms", 50),
                        time.sleep_ms,
                    )
                )
            else:
                valves.append(board.Valve(v["pin"], v.get("active_high", True)))
        flow = cfg.get("flow") or {}
        meter = FlowMeter(board.PulseCounter(flow["pin"]), flow["l_per_pulse"], clock.now_ms) if flow else None
        pressure = cfg.get("pressure")
        return IrrigationNode(
            cfg["node"],
            seq,
            valves,
            flow_meter=meter,
            heartbeat_timeout_ms=cfg.get("heartbeat_timeout_s", 600) * 1000,
            journal=Journal(cfg.get("journal_path", "/journal")),
            boot_reason=board.reset_reason(),
            cmd_key=cfg.get("cmd_key") and parse_node_key("cmd_key", cfg["cmd_key"]),
            no_flow_ms=flow.get("no_flow_s", 120) * 1000,
            min_flow_l_min=flow.get("min_l_min", 0.5),
            leak_l_min=flow.get("leak_l_min", 1.0),
            leak_settle_ms=flow.get("leak_settle_s", 60) * 1000,
            pressure=pressure
            and LinePressure(
                board.adc(pressure["adc"]), pressure.get("kind", "0.5-4.5v"), pressure.get("full_scale_kpa", 1000)
            ),
            **common
        )
    if role == "pest":
        from furrow.firmware.pest_node import PestNode

        node = PestNode(cfg["node"], seq, traps=len(cfg["traps"]), **common)
        node.counters = []
        for i, t in enumerate(cfg["traps"]):
            ch = i + 1
            node.counters.append(board.PulseCounter(t["pin"], handler=lambda ch=ch: node.on_catch(ch, clock.now_ms())))
            for key, event in (("lure_pin", "lure_changed"), ("empty_pin", "trap_emptied")):
                if key in t:  # a technician's button on the trap
                    press = lambda ch=ch, e=event: node.on_service(ch, e, clock.now_ms())  # noqa: E731
                    node.counters.append(board.PulseCounter(t[key], handler=press))
        return node
    raise ValueError("role %r has no firmware" % role)


def _tick(node, now):
    """(acks, uplinks) whatever the role."""
    out = node.tick(now)
    return out if isinstance(out, tuple) else ([], out)


def run_modbus(cfg, node, clock, wdt):
    """Serve the node on RS-485. The gateway polls; nothing is pushed."""
    mb = cfg["modbus"]
    port = board.Rs485(mb)
    is_irrigation = cfg["role"] == "irrigation"
    node.holding[0] = mb.get("unit", 1)
    # An irrigation node takes commands over the bus too (modbus_commands).
    mailbox = CommandMailbox(node) if is_irrigation else None
    inputs = mailbox.inputs if mailbox else node.registers()
    write = mailbox.on_write if mailbox else node.on_holding_write
    queue = None
    if mb.get("queue_slots", 64):
        # Reports wait in flash until the gateway acknowledges them (report_queue).
        from furrow.firmware.report_queue import ReportQueue

        queue = ReportQueue(mb.get("queue_path", "/queue"), inputs, node.holding, write, mb.get("queue_slots", 64))
        inputs, write = queue, queue.on_write
    slave = RtuSlave(
        node.holding[0],
        inputs,
        mailbox.holding if mailbox else node.holding,
        coils=node.coils() if is_irrigation else None,
        char_us=char_us_for_baud(port.baud),
        on_write=None,
        on_coil_write=node.on_coil_write if is_irrigation else None,
    )

    def on_write(address, values):
        write(address, values)
        slave.unit = node.holding[0]  # the reply still goes out from the old address

    slave.on_write = on_write
    while True:
        wdt.feed()
        reply = slave.feed(port.read(), clock.now_us())
        if reply:
            port.write(reply)
            if is_irrigation:
                node.on_heartbeat(clock.now_ms())  # a request for this unit: the gateway is there
        # Only tick between frames: a slow tick with half a request in the
        # buffer would look like an inter-frame silence and lose it.
        if not slave.busy():
            acks, ups = _tick(node, clock.now_ms())
            if mailbox:
                mailbox.post(acks)
            if queue is not None and ups:
                queue.on_report()
        time.sleep_ms(1)


class Link:
    """The MQTT side: topics, the flash ring, the connection with backoff."""

    def __init__(self, cfg, clock):
        from furrow.firmware.outbox import Outbox

        mq = cfg["mqtt"]
        self.cfg, self.mq, self.clock = cfg, mq, clock
        site, ident, root = cfg["site"], cfg["node"], mq.get("root", topics.ROOT)
        self.ident = ident
        self.up_t = topics.node_topic(site, ident, topics.NODE_UP, root)
        self.status_t = topics.node_topic(site, ident, topics.NODE_STATUS, root)
        self.cmd_t = topics.node_topic(site, ident, topics.NODE_CMD, root)
        self.ack_t = topics.node_topic(site, ident, topics.NODE_ACK, root)
        ob = cfg.get("outbox", {})
        self.outbox = Outbox(ob.get("path", "/outbox"), ob.get("slots", 64), ob.get("slot_size", 1024))
        self.binary = mq.get("encoding", "json") == "binary"
        self.client = None
        self.retry_at = 0
        self.backoff_s = 1

    def post_uplink(self, up):
        if not self.binary:
            try:
                self.outbox.append(self.up_t, payload.encode_json(up))
                return
            except ValueError:
                pass  # larger than a slot: the compact form (about 9 bytes a reading) fits
        self._append(self.up_t, payload.encode_binary(up))

    def post_ack(self, ack):
        self._append(self.ack_t, commands.encode(ack))

    def _append(self, topic, data):
        try:
            self.outbox.append(topic, data)
        except ValueError as e:  # a slot too small for it: say so, never crash the loop
            print("furrow outbox: %s (raise outbox.slot_size)" % e)

    def connect(self, on_message=None, fault=None):
        """Connect if due; True when connected."""
        now = self.clock.now_ms()
        if self.client is not None:
            return True
        if now < self.retry_at:
            return False
        try:
            offline = commands.encode(commands.make_status(self.ident, commands.STATUS_OFFLINE, now, FW_VERSION))
            client = board.mqtt_client(self.mq, self.ident, self.status_t, offline)
            if on_message is not None:
                client.set_callback(on_message)
            client.connect()
            online = commands.make_status(self.ident, commands.STATUS_ONLINE, now, FW_VERSION, fault)
            client.publish(self.status_t, commands.encode(online), retain=True, qos=1)
            if on_message is not None:
                client.subscribe(self.cmd_t, qos=1)
            self.client = client
            self.backoff_s = 1
            return True
        except OSError:
            self.retry_at = now + self.backoff_s * 1000
            self.backoff_s = min(self.backoff_s * 2, BACKOFF_MAX_S)
            return False

    def drain(self, on_sent=None, wdt=None):
        """Publish the oldest messages, each removed only after its PUBACK
        (umqtt.simple's publish at QoS 1 returns once it has arrived)."""
        if self.client is None:
            return
        try:
            self.client.check_msg()
            while True:
                message = self.outbox.peek()
                if message is None:
                    break
                self.client.publish(message[0], message[1], qos=1)
                self.outbox.pop()
                if on_sent is not None:
                    on_sent()
                if wdt is not None:
                    wdt.feed()
        except OSError:
            self.client = None
            self.retry_at = self.clock.now_ms() + self.backoff_s * 1000


def run_mqtt(cfg, node, clock, wdt):
    """Publish reports (and, for irrigation, take commands) over MQTT."""
    link = Link(cfg, clock)
    is_irrigation = cfg["role"] == "irrigation"

    def on_message(topic, msg):
        now = clock.now_ms()
        node.on_heartbeat(now)  # any message on the command topic is the gateway
        for ack in node.on_command(msg, now):
            link.post_ack(ack)

    def heard():
        # The broker runs on the gateway: an acknowledged publish means the gateway is up.
        node.on_heartbeat(clock.now_ms())

    while True:
        wdt.feed()
        link.connect(on_message if is_irrigation else None)
        # The core ticks whether or not the broker is there: the heartbeat
        # timeout must close valves precisely when the link is gone.
        acks, uplinks = _tick(node, clock.now_ms())
        for ack in acks:
            link.post_ack(ack)
        for up in uplinks:
            link.post_uplink(up)
        link.drain(heard if is_irrigation else None, wdt)
        time.sleep_ms(50)


def run_once_and_sleep(cfg, node, clock, wdt):
    """A battery node's wake: one report, drain the ring, deep sleep."""
    link = Link(cfg, clock)
    start = clock.now_ms()
    while clock.now_ms() - start < WAKE_REPORT_MS:
        wdt.feed()
        _, uplinks = _tick(node, clock.now_ms())
        for up in uplinks:
            link.post_uplink(up)
        if uplinks:
            break
        time.sleep_ms(50)
    if link.connect():
        link.drain(wdt=wdt)
        try:
            link.client.disconnect()
        except (OSError, AttributeError):
            pass
    link.outbox.sync()
    board.deep_sleep(cfg.get("interval_s", 900) * 1000)


def run_fault(cfg, errors):
    """Invalid config: say so on whatever link works, and wait. No watchdog
    and no reboot: rebooting would only meet the same file."""
    from furrow.firmware.fault_node import FaultNode

    node = FaultNode(cfg.get("node"), errors)
    for field, value, message in errors:
        print("furrow config error: %s=%r: %s" % (field, value, message))
    clock = board.Clock()
    mb = cfg.get("modbus") if isinstance(cfg.get("modbus"), dict) else None
    if cfg.get("link", "modbus") == "modbus" and mb and "tx" in mb and "rx" in mb and "de" in mb:
        try:
            port = board.Rs485(mb)
            unit = mb.get("unit", 1) if mb.get("unit", 1) in range(1, 248) else 1
            slave = RtuSlave(unit, node.registers(), node.holding, char_us=char_us_for_baud(port.baud),
                             on_write=node.on_holding_write)
            while True:
                reply = slave.feed(port.read(), clock.now_us())
                if reply:
                    port.write(reply)
                time.sleep_ms(1)
        except Exception as e:  # noqa: BLE001 - a bad pin in the config: fall through to the console
            print("furrow: cannot serve the fault over Modbus: %r" % (e,))
    if cfg.get("link") == "mqtt" and "mqtt" in cfg and "wifi" in cfg and "node" in cfg and "site" in cfg:
        try:
            board.wifi(cfg["wifi"])
            link = Link(cfg, clock)
            while not link.connect(fault=node.fault):
                time.sleep_ms(1000)
            while True:
                link.drain()
                time.sleep_ms(FAULT_RETRY_MS)
        except Exception as e:  # noqa: BLE001
            print("furrow: cannot publish the fault over MQTT: %r" % (e,))
    while True:
        print(node.fault)
        time.sleep(10)


def main():
    cfg, errors = read_config()
    if errors:
        run_fault(cfg, errors)
        return
    wdt = board.Watchdog(cfg.get("watchdog_s", 30))
    if cfg["link"] == "mqtt":
        board.wifi(cfg["wifi"])
        while not board.set_time():
            wdt.feed()
            time.sleep(5)  # a report without true time is worse than a late one
    clock = board.Clock()
    node = build_node(cfg, clock)
    if cfg["link"] == "mqtt":
        if cfg.get("deep_sleep"):
            run_once_and_sleep(cfg, node, clock, wdt)
        run_mqtt(cfg, node, clock, wdt)
    else:
        run_modbus(cfg, node, clock, wdt)


# MicroPython runs /main.py at boot as __main__; importing it (tests) does not start the loop.
if __name__ == "__main__":
    main()
