"""The fertigation hardware of a virtual irrigation controller: a dosing pump and an in-line EC sensor.

`DosingPump` is the relay output the firmware's injector drives (``set(on)``); it counts the stock
solution it delivers into the line as time advances, and can be `stuck` (it hums but moves nothing: a
worn diaphragm, an empty tank). `LineEC` reads the line's EC after the injection point as the two
streams mix: EC = water EC + stock EC x injected flow / water flow (EC adds roughly linearly with
concentration in the dilute range of fertigation water; with no water flowing it reads the water's EC).
Time is the farm's: call `advance(t_s)` each tick, as hil/hardware.FlowMeter is.
"""

from __future__ import annotations

from .virtual_farm import VirtualFarm


class DosingPump:
    """A diaphragm dosing pump of `rate_l_h` on one controller's line."""

    def __init__(self, rate_l_h: float) -> None:
        self.rate_l_h = rate_l_h
        self.on = False
        self.stuck = False  # fault: runs but delivers nothing
        self.delivered_ml = 0.0
        self._t_s: float | None = None

    def set(self, on: bool) -> None:
        self.on = bool(on)

    def flow_l_min(self) -> float:
        return self.rate_l_h / 60 if self.on and not self.stuck else 0.0

    def advance(self, t_s: float) -> None:
        if self._t_s is not None and t_s > self._t_s:
            self.delivered_ml += self.flow_l_min() * 1000 * (t_s - self._t_s) / 60
        self._t_s = t_s


class LineEC:
    """The in-line EC transmitter after the injection point, ``read()`` -> dS/m."""

    def __init__(self, farm: VirtualFarm, node: str, pump: DosingPump, water_ds_m: float = 0.4,
                 stock_ds_m: float = 60.0) -> None:
        self.farm, self.node, self.pump = farm, node, pump
        self.water_ds_m, self.stock_ds_m = water_ds_m, stock_ds_m

    def read(self) -> float:
        water = self.farm.valve_flow_l_min(self.node)
        if water <= 0:
            return self.water_ds_m
        return round(self.water_ds_m + self.stock_ds_m * self.pump.flow_l_min() / water, 3)
