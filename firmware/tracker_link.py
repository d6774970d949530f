"""A tracker node over MQTT (a cellular modem or the farm's Wi-Fi): the GNSS receiver's NMEA in, position
messages out through the flash ring.

Each pass of the loop (every LOOP_MS) reads what the receiver's UART holds and hands it to the core with the
implement-down switch and the engine-on input as they are now (firmware/tracker_node.py keeps one fix a
second at work, one in five minutes parked). The position messages the core makes go into the flash ring
(firmware/outbox.py) first, then out on ``node/{node}/up`` at QoS 1, each removed after its PUBACK: out of
coverage the ring keeps them (a 64-slot ring of 10-fix messages is ten minutes at work; the config's
``outbox.slots`` sets more) and drains them in order when the link is back; a reboot keeps them too. The
connection is mqtt_link's `Link` (backoff, keepalive, the retained status and its will), and the UART's
receive buffer holds the sentences that arrive while a connect attempt waits (board.gnss_uart).
"""

import gc
import time

from furrow.edge import topics
from furrow.firmware.mqtt_link import Link, MqttNode
from furrow.firmware.outbox import Outbox

LOOP_MS = 100  # a 9600-baud receiver sends under 100 bytes in that time


class TrackerMqtt(MqttNode):
    """A tracker core's topics and ring; its tick reads the board's UART and inputs."""

    def tick(self, now_ms):
        core = self.core
        data = core.uart.read()
        if data:
            core.on_uart(data, core.implement.on(), core.engine is not None and core.engine.on())
        made = 0
        while True:
            message = core.next_message(now_ms)
            if message is None:
                return made
            self._append(self.up_t, message)
            made += 1


def run(cfg, node, clock, wdt):
    """Read the receiver and deliver the positions, forever."""
    mq, ob = cfg["mqtt"], cfg["outbox"]
    outbox = Outbox(ob["path"], ob["slots"], ob["slot_size"])
    link = Link(cfg, clock, TrackerMqtt(node, cfg["site"], outbox, mq.get("root", topics.ROOT)))
    while True:
        wdt.feed()
        link.connect()
        if link.node.tick(clock.now_ms()):
            gc.collect()  # after each message, while the heap is tidy
        link.drain(wdt=wdt)
        time.sleep_ms(LOOP_MS)
