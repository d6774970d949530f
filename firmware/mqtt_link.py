"""A node core over Wi-Fi and MQTT: the flash ring, the topics, the connection.

``MqttNode`` is the node's MQTT side without a connection: its topics, what
goes into its flash ring (firmware/outbox.py: reports in the configured
encoding, acknowledgements) and what a command message does. The board's
``Link`` (umqtt.simple) and the HIL runner (aiomqtt) both drive it.

``Link`` keeps the connection to the farm broker:

* every failure to connect (Wi-Fi or DNS down, refused, a broker refusing the
  login, a short or garbled CONNACK, no answer) is retried with a capped,
  jittered backoff; the core goes on ticking meanwhile, so valves stay safe
  and reports wait in the ring;
* no read waits longer than ``LINK_TIMEOUT_S``, a connect attempt included:
  umqtt's ``wait_msg`` sets its socket blocking, which on a board means
  waiting for ever, so a link that goes silent (no reset, no close: an access
  point rebooting) would hang the loop, valve checks and all, waiting for a
  PUBACK. The socket is wrapped (``BoundedSocket``) so that "blocking" means
  "for at most LINK_TIMEOUT_S"; a read that times out is a lost link, and
  the loop connects again after the backoff;
* a message leaves the ring only after its PUBACK, oldest first, so after a
  broker restart or a cut link the ring drains in order;
* between reports it sends PINGREQ every half keepalive, so the broker keeps
  the session (and an irrigation node its command subscription) instead of
  dropping the node and publishing its will; when nothing at all came back
  by the next ping (no PINGRESP), the link counts as lost: a silent link is
  noticed within a keepalive even by a node with nothing to publish.

With ``deep_sleep`` a soil, weather or pest node wakes, reports once, drains
its ring and sleeps for the interval (``run_once_and_sleep``).
"""

import gc
import random
import time

from furrow.edge import commands, payload, topics
from furrow.firmware import FW_VERSION, board
from furrow.firmware.outbox import Outbox
from furrow.firmware.reporting import tick

BACKOFF_MAX_S = 60
# The longest one read may wait (a CONNACK, a PUBACK, the rest of a packet) before the link counts as lost.
# A broker on the farm LAN answers in milliseconds; the loop, valve safety checks included, is never held up
# longer than this (an RP2040's watchdog bites at 8.3 s).
LINK_TIMEOUT_S = 2
WAKE_REPORT_MS = 5000  # how long a waking node may take to make its report


class MqttNode:
    """A core's topics, ring and command handling, for any MQTT client."""

    def __init__(self, core, site, outbox, root=topics.ROOT, encoding="json"):
        self.core, self.outbox = core, outbox
        ident = core.node_id
        self.up_t = topics.node_topic(site, ident, topics.NODE_UP, root)
        self.status_t = topics.node_topic(site, ident, topics.NODE_STATUS, root)
        self.cmd_t = topics.node_topic(site, ident, topics.NODE_CMD, root)
        self.ack_t = topics.node_topic(site, ident, topics.NODE_ACK, root)
        self.binary = encoding == "binary"
        self.takes_commands = hasattr(core, "on_command")
        self.listens = self.cmd_t if self.takes_commands else None  # the topic whose messages go to on_message

    def tick(self, now_ms):
        """Tick the core and put what it made into the ring: (acks, uplinks)."""
        acks, uplinks = tick(self.core, now_ms)
        for ack in acks:
            self.post_ack(ack)
        for up in uplinks:
            self.post_uplink(up)
        return acks, uplinks

    def on_message(self, data, now_ms):
        """A message on the command topic: the gateway is there, and the core judges the command."""
        self.core.on_heartbeat(now_ms)
        for ack in self.core.on_command(data, now_ms):
            self.post_ack(ack)

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

    def status(self, state, now_ms, fault=None):
        return commands.encode(commands.make_status(self.core.node_id, state, now_ms, FW_VERSION, fault))


class BoundedSocket:
    """umqtt's socket with every blocking read bounded by `timeout_s`: umqtt's ``setblocking(True)``
    (after each non-blocking poll) restores the timeout instead of waiting for ever."""

    def __init__(self, sock, timeout_s):
        self.sock, self.timeout_s = sock, timeout_s
        self.heard = False  # something was read since the Link last cleared this
        sock.settimeout(timeout_s)

    def setblocking(self, flag):
        self.sock.settimeout(self.timeout_s if flag else 0)

    def read(self, n):
        data = self.sock.read(n)
        if data:
            self.heard = True
        return data

    def write(self, data, n=None):
        return self.sock.write(data) if n is None else self.sock.write(data, n)

    def close(self):
        self.sock.close()


class Link:
    """The connection to the farm broker, kept up with backoff (see the module docstring)."""

    def __init__(self, cfg, clock, node):
        mq = cfg["mqtt"]
        self.cfg, self.mq, self.clock, self.node = cfg, mq, clock, node
        self.keepalive_ms = mq.get("keepalive_s", 60) * 1000
        self.client = None
        self.retry_at = 0
        self.backoff_s = 1
        self.failures = 0  # connect attempts failed in a row
        self.last_sent = 0  # when the broker last heard from us
        self.pinged = False  # a PINGREQ is out: the next one checks that something came back

    def connect(self, fault=None):
        """Connect if due; True when connected."""
        if self.client is not None:
            return True
        now = self.clock.now_ms()
        if now < self.retry_at:
            return False
        client = None
        try:
            if not board.wifi_up(self.cfg["wifi"]):
                raise OSError("Wi-Fi down")
            node = self.node
            client = board.mqtt_client(self.mq, node.core.node_id, node.status_t,
                                       node.status(commands.STATUS_OFFLINE, now))
            if node.listens:
                client.set_callback(self._on_message)
            client.connect(timeout=LINK_TIMEOUT_S)
            client.sock = BoundedSocket(client.sock, LINK_TIMEOUT_S)
            client.publish(node.status_t, node.status(commands.STATUS_ONLINE, now, fault), retain=True, qos=1)
            if node.listens:
                client.subscribe(node.listens, qos=1)
        except MemoryError:
            raise  # out of heap is no link failure: let the board reset
        except Exception as e:  # noqa: BLE001 - every failure to connect is retried, none ends the loop
            self._failed(client, e)
            return False
        self.client = client
        self.last_sent = now
        self.pinged = False
        self.backoff_s = 1
        self.failures = 0
        return True

    def _failed(self, client, error):
        self.failures += 1
        if self.failures == 1:  # loudly once, then quietly until it recovers
            print("furrow mqtt: %s:%s: %r; retrying" % (self.mq["host"], self.mq.get("port", 1883), error))
        if client is not None:
            try:
                client.sock.close()
            except Exception:  # noqa: BLE001 - it may never have opened
                pass
        delay_ms = self.backoff_s * 1000
        delay_ms -= delay_ms * random.getrandbits(8) // 1024  # up to a quarter less: nodes don't retry in step
        self.retry_at = self.clock.now_ms() + delay_ms
        self.backoff_s = min(self.backoff_s * 2, BACKOFF_MAX_S)

    def _on_message(self, topic, data):
        self.node.on_message(data, self.clock.now_ms())

    def drain(self, on_sent=None, wdt=None):
        """Take what the broker sent, publish what waits (`publish_waiting`), and ping when the link is quiet."""
        if self.client is None:
            return
        try:
            self.client.check_msg()
            self.publish_waiting(on_sent, wdt)
            now = self.clock.now_ms()
            if now - self.last_sent >= self.keepalive_ms // 2:
                sock = self.client.sock
                if self.pinged and not sock.heard:
                    raise OSError("no PINGRESP in %d s" % (self.keepalive_ms // 2000))
                sock.heard = False
                self.client.ping()  # the PINGRESP is read by a later check_msg
                self.pinged = True
                self.last_sent = now
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - a dropped or garbled link: connect again
            self.lost(e)

    def publish_waiting(self, on_sent, wdt):
        """The ring's oldest messages, each removed only after its PUBACK (umqtt.simple's publish at
        QoS 1 returns once it has arrived)."""
        while True:
            message = self.node.outbox.peek()
            if message is None:
                return
            self.client.publish(message[0], message[1], qos=1)
            self.last_sent = self.clock.now_ms()
            self.node.outbox.pop()
            if on_sent is not None:
                on_sent()
            if wdt is not None:
                wdt.feed()

    def lost(self, error):
        """The connection broke (`error`): connect again after the backoff."""
        client, self.client = self.client, None
        self._failed(client, error)

    def close(self):
        if self.client is not None:
            try:
                self.client.disconnect()
            except Exception:  # noqa: BLE001
                pass
            self.client = None


def join_network(cfg, wdt):
    """Join Wi-Fi and set the clock from NTP: a report without true time is worse than a late one."""
    board.wifi(cfg["wifi"])
    while not board.set_time():
        wdt.feed()
        time.sleep(5)


def publish_fault(cfg, core, clock):
    """Fault mode (firmware/fault_mode.py): the retained ``online`` status says why, forever."""
    board.wifi(cfg["wifi"])
    link = make_link(cfg, core, clock)
    while True:  # the link keeps itself up (backoff, keepalive): the status stays on the broker
        link.connect(fault=core.fault)
        link.drain()
        time.sleep_ms(1000)


def make_link(cfg, core, clock):
    """The Link of `core` as the config says: its flash ring, topics and encoding."""
    mq, ob = cfg["mqtt"], cfg.get("outbox", {})
    outbox = Outbox(ob.get("path", "/outbox"), ob.get("slots", 64), ob.get("slot_size", 1024))
    mqtt = MqttNode(core, cfg["site"], outbox, mq.get("root", topics.ROOT), mq.get("encoding", "json"))
    return Link(cfg, clock, mqtt)


def run(cfg, node, clock, wdt):
    """Publish reports (and, for irrigation, take commands) over MQTT, forever."""
    if cfg.get("deep_sleep"):
        run_once_and_sleep(cfg, node, clock, wdt)
    link = make_link(cfg, node, clock)
    heard = None
    if link.node.takes_commands:
        def heard():
            # The broker runs on the gateway: an acknowledged publish means the gateway is up.
            node.on_heartbeat(clock.now_ms())

    while True:
        wdt.feed()
        link.connect()
        # The core ticks whether or not the broker is there: the heartbeat
        # timeout must close valves precisely when the link is gone.
        made = link.node.tick(clock.now_ms())[1]
        link.drain(heard, wdt)
        if made:
            gc.collect()  # after each report, while the heap is tidy: fewer holes for the next one
        time.sleep_ms(50)


def run_once_and_sleep(cfg, node, clock, wdt):
    """A battery node's wake: one report, drain the ring, deep sleep."""
    link = make_link(cfg, node, clock)
    start = clock.now_ms()
    while clock.now_ms() - start < WAKE_REPORT_MS:
        wdt.feed()
        if link.node.tick(clock.now_ms())[1]:
            break
        time.sleep_ms(50)
    if link.connect():
        link.drain(wdt=wdt)
        link.close()
    link.node.outbox.sync()
    board.deep_sleep(cfg.get("interval_s", 900) * 1000)
