"""An irrigation controller: relay or latching valves, flow meter, line pressure, command journal."""

import time

from furrow.firmware import board


def build(cfg, clock, seq, common):
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
    if pressure:
        from furrow.firmware.drivers.analog import LinePressure

        pressure = LinePressure(
            board.adc(pressure["adc"]), pressure.get("kind", "0.5-4.5v"), pressure.get("full_scale_kpa", 1000)
        )
    injector = cfg.get("injector")
    if injector:
        injector = _injector(injector)
    key = None
    if cfg.get("cmd_key"):
        from furrow.edge.signing import parse_node_key

        key = parse_node_key("cmd_key", cfg["cmd_key"])
    return IrrigationNode(
        cfg["node"],
        seq,
        valves,
        flow_meter=meter,
        heartbeat_timeout_ms=cfg.get("heartbeat_timeout_s", 600) * 1000,
        journal=Journal(cfg.get("journal_path", "/journal")),
        boot_reason=board.reset_reason(),
        cmd_key=key,
        no_flow_ms=flow.get("no_flow_s", 120) * 1000,
        min_flow_l_min=flow.get("min_l_min", 0.5),
        leak_l_min=flow.get("leak_l_min", 1.0),
        leak_settle_ms=flow.get("leak_settle_s", 60) * 1000,
        pressure=pressure or None,
        injector=injector or None,
        **common
    )


def _injector(cfg):
    """The dosing pump (a relay output like a valve) and its optional in-line EC transmitter."""
    from furrow.firmware.injector import Injector

    ec = cfg.get("ec")
    sensor = band = None
    if ec:
        from furrow.firmware.drivers.analog import LinePressure

        # the same 0.5-4.5 V or 4-20 mA transmitter maths, scaled to dS/m instead of kPa
        sensor = LinePressure(board.adc(ec["adc"]), ec.get("kind", "4-20ma"), ec.get("full_scale_ds_m", 10))
        band = (ec["low_ds_m"], ec["high_ds_m"])
    return Injector(board.Valve(cfg["pin"], cfg.get("active_high", True)), cfg["rate_l_h"], sensor, band,
                    ec.get("settle_s", 60) * 1000 if ec else 0)
