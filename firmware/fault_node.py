"""What a node runs when its config is invalid: no sensors, no reports, just
the reason, where a technician will look for it.

It stands in for a role's core in the board loop: the Modbus slave serves
its registers (register 0 stays 0, so no master takes it for a report;
register 14 = 1 "config invalid", 15 = the number of errors), and writes are
refused (exception 03). Over MQTT its ``fault`` goes into the retained
``online`` status. It never reboots: a reboot would only meet the same file.
"""

from furrow.edge import modbus_map
from furrow.firmware.config import describe


class FaultNode:
    def __init__(self, node_id, errors):
        self.node_id = node_id if isinstance(node_id, str) else "unknown"
        self.errors = list(errors)
        self.fault = "config: " + describe(self.errors, 192)
        self.image = [0] * modbus_map.INPUT_COUNT
        self.image[modbus_map.STATUS] = modbus_map.STATUS_CONFIG_ERROR
        self.image[modbus_map.STATUS_ERRORS] = min(len(self.errors), 0xFFFF)
        self.holding = [modbus_map.DEFAULT_UNIT] + [0] * (modbus_map.HOLDING_COUNT - 1)
        self.last = None

    def registers(self):
        return self.image

    def on_holding_write(self, address, values):
        raise ValueError("fault mode: fix /config.json (%s)" % self.fault)

    def tick(self, now_ms):
        return []
