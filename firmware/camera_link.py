"""A camera node over Wi-Fi and MQTT: its photos to the gateway in chunks, the gateway's answers back.

The connection is mqtt_link's `Link` (backoff, keepalive, the retained status and its will). What
waits is not a ring of messages but the core's photos in flash (firmware/image_store.py): each pass
of the loop publishes up to CHUNKS_PER_PASS of the chunks the core offers, at QoS 1 on
``node/{node}/image``, and tells the core ``sent()`` after each PUBACK (umqtt.simple's publish at
QoS 1 returns once it has arrived). The gateway's answers on ``node/{node}/image_ack`` go to the
core's ``on_image_ack``, read by ``check_msg`` and by umqtt while it waits for a PUBACK. A broken
connection is the core's ``link_lost()``: the chunk whose PUBACK did not come goes again after the
reconnect (firmware/camera_node.py has the delivery rules).
"""

import gc
import time

from furrow.edge import topics
from furrow.firmware.mqtt_link import Link, MqttNode

CHUNKS_PER_PASS = 8  # then the watchdog, the core's schedule and the gateway's answers get their turn


class CameraMqtt(MqttNode):
    """A camera core's topics: its status, its chunks, and the answers it listens to."""

    def __init__(self, core, site, root=topics.ROOT):
        MqttNode.__init__(self, core, site, None, root)  # no ring: the photos wait in their own store
        self.image_t = topics.node_topic(site, core.node_id, topics.NODE_IMAGE, root)
        self.listens = topics.node_topic(site, core.node_id, topics.NODE_IMAGE_ACK, root)

    def tick(self, now_ms):
        """Take the photo when it is due (into the flash); a camera makes no reports or acks."""
        return self.core.tick(now_ms)

    def on_message(self, data, now_ms):
        self.core.on_image_ack(data, now_ms)


class CameraLink(Link):
    """The Link of a camera: what waits is the core's next chunks."""

    def publish_waiting(self, on_sent, wdt):
        core = self.node.core
        for _ in range(CHUNKS_PER_PASS):
            chunk = core.next_chunk(self.clock.now_ms())
            if chunk is None:
                return
            self.client.publish(self.node.image_t, chunk, qos=1)
            self.last_sent = self.clock.now_ms()
            core.sent(self.last_sent)
            if wdt is not None:
                wdt.feed()

    def lost(self, error):
        self.node.core.link_lost()
        Link.lost(self, error)


def run(cfg, node, clock, wdt):
    """Take photos on the core's schedule and deliver them, forever."""
    link = CameraLink(cfg, clock, CameraMqtt(node, cfg["site"], cfg["mqtt"].get("root", topics.ROOT)))
    while True:
        wdt.feed()
        link.connect()
        photos = node.stats["photos"]
        link.node.tick(clock.now_ms())
        link.drain(wdt=wdt)
        if node.stats["photos"] != photos:
            gc.collect()  # after a capture, while the heap is tidy: the frame's buffers are gone
        time.sleep_ms(50)
