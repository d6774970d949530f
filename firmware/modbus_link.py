"""A node core on an RS-485 line: its Modbus RTU slave, the command mailbox
(irrigation) and the report queue, wired in one place for the board loop and
the HIL bus alike.

    rtu = RtuNode(core, unit, char_us_for_baud(baud), queue_path="/queue")
    reply = rtu.feed(port.read(), now_us, now_ms)   # the reply to send, or None
    if not rtu.busy():
        acks, uplinks = rtu.tick(now_ms)

The gateway polls; nothing is pushed. An irrigation core takes commands over
the bus too (firmware/modbus_commands.py) and counts every request addressed
to it as a heartbeat. With a queue (contract 1.1, firmware/report_queue.py)
each report waits in flash until the gateway acknowledges it.
"""

import gc
import time
from array import array

from furrow.edge import modbus_map
from furrow.firmware.modbus_slave import RtuSlave, char_us_for_baud
from furrow.firmware.reporting import tick


class Registers:
    """The latest report as the input-register image of edge.modbus_map: what a
    master reads with one FC04 of 112 registers (a core's ``registers()``).

    Each report is written over the one list in place, between two requests, so a
    master always reads one whole report and the board never needs room for a
    second image. Before the first report every register reads 0: a master sees no
    report yet (``edge.modbus_map.has_report`` is False) rather than a made-up one.
    """

    def __init__(self):
        # Unsigned 16-bit words, as the registers are: 224 bytes in one piece where a list of 112
        # numbers takes 448 (every register value fits; edge.modbus_map writes each one & 0xFFFF).
        self.image = array("H", bytes(2 * modbus_map.INPUT_COUNT))

    def __len__(self):
        return len(self.image)

    def __getitem__(self, i):
        return self.image[i]

    def show(self, up):
        """Serve the uplink `up` from now on."""
        modbus_map.encode_inputs(up["role"], up["seq"], up["ts_ms"], up["fw"], up["readings"], up["bat_v"],
                                 up["rssi_dbm"], out=self.image)


class RtuNode:
    """One node core behind its RTU slave. `queue_slots` 0 or `queue_path` None: no report queue
    (contract 1.0, the latest report only). `reuse`: replies built in one buffer (RtuSlave; the board
    loop, which sends each reply before it feeds the next bytes)."""

    def __init__(self, core, unit, char_us, queue_path=None, queue_slots=64, reuse=False):
        self.core = core
        core.holding[modbus_map.HOLD_UNIT] = unit
        commands = hasattr(core, "on_command")
        self.mailbox = None
        if commands:
            from furrow.firmware.modbus_commands import CommandMailbox

            self.mailbox = CommandMailbox(core)
        inputs = self.mailbox.inputs if commands else core.registers()
        self._write = self.mailbox.on_write if commands else core.on_holding_write
        self.queue = None
        if queue_path is not None and queue_slots:
            from furrow.firmware.report_queue import ReportQueue

            self.queue = ReportQueue(queue_path, inputs, core.holding, self._write, queue_slots)
            inputs, self._write = self.queue, self.queue.on_write
        self.slave = RtuSlave(
            unit,
            inputs,
            self.mailbox.holding if commands else core.holding,
            coils=core.coils() if commands else None,
            char_us=char_us,
            on_write=self._on_write,
            on_coil_write=core.on_coil_write if commands else None,
            reuse=reuse,
        )

    def _on_write(self, address, values):
        self._write(address, values)
        self.slave.unit = self.core.holding[modbus_map.HOLD_UNIT]  # the reply still goes out from the old address

    def feed(self, data, now_us, now_ms):
        """Bytes from the line in; the reply to send (or None)."""
        reply = self.slave.feed(data, now_us)
        if reply is not None and self.mailbox is not None:
            self.core.on_heartbeat(now_ms)  # a request for this unit: the gateway is there
        return reply

    def busy(self):
        """A request is half in: don't tick now (a slow tick would look like an inter-frame silence)."""
        return self.slave.busy()

    def tick(self, now_ms):
        """Tick the core; its acks go to the mailbox, a new report into the queue. (acks, uplinks)."""
        acks, uplinks = tick(self.core, now_ms)
        if self.mailbox is not None:
            self.mailbox.post(acks)
        if uplinks and self.queue is not None:
            self.queue.on_report()
        return acks, uplinks


def serve_fault(mb, core, clock):
    """Fault mode (firmware/fault_mode.py): answer reads with the fault's registers, forever."""
    from furrow.firmware import board

    port = board.Rs485(mb)
    unit = mb.get("unit", 1) if mb.get("unit", 1) in range(1, 248) else 1
    slave = RtuSlave(unit, core.registers(), core.holding, char_us=char_us_for_baud(port.baud),
                     on_write=core.on_holding_write, reuse=True)
    while True:
        reply = slave.feed(port.read(), clock.now_us())
        if reply:
            port.write(reply)
        time.sleep_ms(1)


def run(cfg, node, clock, wdt):
    """Serve the node on the board's RS-485 port, forever."""
    from furrow.firmware import board

    mb = cfg["modbus"]
    port = board.Rs485(mb)
    queue_path = mb.get("queue_path", "/queue")
    rtu = RtuNode(node, mb.get("unit", 1), char_us_for_baud(port.baud), queue_path, mb.get("queue_slots", 64),
                  reuse=True)
    # Nothing below reads the config, and the caller's frame still holds it: emptied, its kilobyte or
    # so goes back to the heap for as long as the node runs.
    cfg.clear()
    while True:
        wdt.feed()
        reply = rtu.feed(port.read(), clock.now_us(), clock.now_ms())
        if reply:
            port.write(reply)
        if not rtu.busy() and rtu.tick(clock.now_ms())[1]:
            gc.collect()  # after each report, while the heap is tidy: fewer holes for the next one
        time.sleep_ms(1)
