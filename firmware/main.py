"""The board loop: reads /config.json, builds the role's core on real
hardware, and wires it to RS-485 (Modbus RTU slave) or Wi-Fi (MQTT).

On the board this file is copied to /main.py with the library under
/lib/furrow/. It only glues: every decision lives in the cores, which the
tests drive on CPython and on the MicroPython runtime.
"""

import json
import time

from furrow.edge import commands, payload, topics
from furrow.firmware import FW_VERSION, board
from furrow.firmware.modbus_slave import RtuSlave, char_us_for_baud
from furrow.firmware.seqstore import SeqStore

CONFIG_PATH = "/config.json"
OUTBOX_MAX = 50  # messages kept in RAM while the broker is unreachable
BACKOFF_MAX_S = 60


def load_config(path=CONFIG_PATH):
    with open(path) as f:
        return json.load(f)


def build_node(cfg, clock):
    """The role's core with its drivers, from the config dict."""
    role = cfg["role"]
    seq = SeqStore(cfg.get("seq_path", "/seq"), cfg.get("seq_reserve", 100))
    common = {"fw": FW_VERSION, "interval_ms": cfg.get("interval_s", 900) * 1000}
    if "battery" in cfg:
        common["battery"] = board.battery(cfg["battery"])
    if role == "soil":
        from furrow.firmware.drivers.ds18b20 import DS18B20
        from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
        from furrow.firmware.soil_node import SoilNode

        probes = []
        buses = {}
        for p in cfg["probes"]:
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
        from furrow.firmware.weather_node import WeatherNode

        rain = cfg.get("rain")
        node = WeatherNode(cfg["node"], seq, rain_mm_per_tip=rain and rain.get("mm_per_tip", 0.2), **common)
        if rain:
            node.gauge = board.PulseCounter(rain["pin"], handler=lambda: node.on_pulse(clock.now_ms()))
        return node
    if role == "irrigation":
        from furrow.firmware.irrigation_node import IrrigationNode

        valves = [board.Valve(v["pin"], v.get("active_high", True)) for v in cfg["valves"]]
        flow = cfg.get("flow")
        meter = board.PulseCounter(flow["pin"], flow["l_per_pulse"]) if flow else None
        timeout_ms = cfg.get("heartbeat_timeout_s", 600) * 1000
        return IrrigationNode(cfg["node"], seq, valves, flow_meter=meter, heartbeat_timeout_ms=timeout_ms, **common)
    raise ValueError("role %r has no firmware yet" % role)


def run_modbus(cfg, node, clock):
    """Serve the node on RS-485. The gateway polls; nothing is pushed."""
    mb = cfg["modbus"]
    port = board.Rs485(mb)
    is_irrigation = cfg["role"] == "irrigation"
    node.holding[0] = mb.get("unit", 1)
    slave = RtuSlave(
        node.holding[0],
        node.registers(),
        node.holding,
        coils=node.coils() if is_irrigation else None,
        char_us=char_us_for_baud(port.baud),
        on_write=None,
        on_coil_write=node.on_coil_write if is_irrigation else None,
    )

    def on_write(address, values):
        node.on_holding_write(address, values)
        slave.unit = node.holding[0]  # the reply still goes out from the old address

    slave.on_write = on_write
    while True:
        reply = slave.feed(port.read(), clock.now_us())
        if reply:
            port.write(reply)
            if is_irrigation:
                node.on_heartbeat(clock.now_ms())  # a request for this unit: the gateway is there
        # Only tick between frames: a slow tick with half a request in the
        # buffer would look like an inter-frame silence and lose it.
        if not slave.busy():
            node.tick(clock.now_ms())
        time.sleep_ms(1)


def run_mqtt(cfg, node, clock):
    """Publish reports (and, for irrigation, take commands) over MQTT."""
    mq = cfg["mqtt"]
    site, ident, root = cfg["site"], cfg["node"], mq.get("root", topics.ROOT)
    up_t = topics.node_topic(site, ident, topics.NODE_UP, root)
    status_t = topics.node_topic(site, ident, topics.NODE_STATUS, root)
    cmd_t = topics.node_topic(site, ident, topics.NODE_CMD, root)
    ack_t = topics.node_topic(site, ident, topics.NODE_ACK, root)
    binary = mq.get("encoding", "json") == "binary"
    is_irrigation = cfg["role"] == "irrigation"
    outbox = []
    dropped = [0]

    def post(topic, data):
        if len(outbox) >= OUTBOX_MAX:
            outbox.pop(0)
            dropped[0] += 1  # the gateway sees the seq gap
        outbox.append((topic, data))

    def on_message(topic, msg):
        now = clock.now_ms()
        node.on_heartbeat(now)  # any message on the command topic is the gateway
        for ack in node.on_command(msg, now):
            post(ack_t, commands.encode(ack))

    client = None
    retry_at = 0
    backoff_s = 1
    while True:
        now = clock.now_ms()
        if client is None and now >= retry_at:
            try:
                offline = commands.encode(commands.make_status(ident, commands.STATUS_OFFLINE, now, FW_VERSION))
                client = board.mqtt_client(mq, ident, status_t, offline)
                client.set_callback(on_message)
                client.connect()
                online = commands.make_status(ident, commands.STATUS_ONLINE, now, FW_VERSION)
                client.publish(status_t, commands.encode(online), retain=True, qos=1)
                if is_irrigation:
                    client.subscribe(cmd_t, qos=1)
                backoff_s = 1
            except OSError:
                client = None
                retry_at = now + backoff_s * 1000
                backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
        # The core ticks whether or not the broker is there: the heartbeat
        # timeout must close valves precisely when the link is gone.
        acks = []
        if is_irrigation:
            acks, uplinks = node.tick(now)
        else:
            uplinks = node.tick(now)
        for ack in acks:
            post(ack_t, commands.encode(ack))
        for up in uplinks:
            post(up_t, payload.encode_binary(up) if binary else payload.encode_json(up))
        if client is not None:
            try:
                client.check_msg()
                while outbox:
                    topic, data = outbox[0]
                    client.publish(topic, data, qos=1)  # returns after the PUBACK
                    outbox.pop(0)
                    if is_irrigation:
                        # The broker runs on the gateway: an acknowledged
                        # publish means the gateway is up.
                        node.on_heartbeat(clock.now_ms())
            except OSError:
                client = None
                retry_at = clock.now_ms() + backoff_s * 1000
        time.sleep_ms(50)


def main():
    cfg = load_config()
    if cfg.get("link", "modbus") == "mqtt":
        board.wifi(cfg["wifi"])
        while not board.set_time():
            time.sleep(5)  # a report without true time is worse than a late one
    clock = board.Clock()
    node = build_node(cfg, clock)
    if cfg.get("link", "modbus") == "mqtt":
        run_mqtt(cfg, node, clock)
    else:
        run_modbus(cfg, node, clock)


# MicroPython runs /main.py at boot as __main__; importing it (tests) does not start the loop.
if __name__ == "__main__":
    main()
