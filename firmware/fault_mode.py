"""What the board runs when /config.json is invalid: say so on whatever link
works, and wait for a technician.

No watchdog and no reboot: rebooting would only meet the same file. On RS-485
the node answers reads with register 0 = 0 (no report) and registers 14-15
set (modbus_link.serve_fault); over MQTT it publishes its retained ``online``
status with the fault (mqtt_link.publish_fault); and it prints each error on
the console.
"""

import time

from furrow.firmware import board
from furrow.firmware.fault_node import FaultNode


def run_fault(cfg, errors):
    node = FaultNode(cfg.get("node"), errors)
    for field, value, message in errors:
        print("furrow config error: %s=%r: %s" % (field, value, message))
    clock = board.Clock()
    mb = cfg.get("modbus") if isinstance(cfg.get("modbus"), dict) else None
    if cfg.get("link", "modbus") == "modbus" and mb and "tx" in mb and "rx" in mb and "de" in mb:
        try:
            from furrow.firmware.modbus_link import serve_fault

            serve_fault(mb, node, clock)
        except Exception as e:  # noqa: BLE001 - a bad pin in the config: fall through to the console
            print("furrow: cannot serve the fault over Modbus: %r" % (e,))
    if cfg.get("link") == "mqtt" and "mqtt" in cfg and "wifi" in cfg and "node" in cfg and "site" in cfg:
        try:
            from furrow.firmware.mqtt_link import publish_fault

            publish_fault(cfg, node, clock)
        except Exception as e:  # noqa: BLE001
            print("furrow: cannot publish the fault over MQTT: %r" % (e,))
    while True:
        print(node.fault)
        time.sleep(10)
