"""A tracker node: the GNSS receiver on its UART, the implement-down switch and the engine-on input."""

from furrow.firmware import board


def build(cfg, clock, seq, common):
    from furrow.firmware.tracker_node import TrackerNode

    t = cfg["tracker"]
    node = TrackerNode(cfg["node"], seq, work_interval_ms=t["work_interval_s"] * 1000,
                       parked_interval_ms=t["parked_interval_s"] * 1000, batch=t["batch"],
                       flush_ms=t["flush_s"] * 1000)
    # The board's side, read by the link's loop (firmware/tracker_link.py); the core stays sans-I/O.
    node.uart = board.gnss_uart(cfg["gnss"])
    node.implement = board.Switch(t["implement_pin"], t["implement_active"])
    node.engine = board.Switch(t["engine_pin"], t["engine_active"]) if "engine_pin" in t else None
    return node
