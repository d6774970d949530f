"""Fertigation on the irrigation core: the injector doses only while its valve runs and water flows, and stops
on every fault, cancel and lost heartbeat (contract 1.5, firmware/injector.py)."""

from __future__ import annotations

from typing import Any

import pytest

from furrow.edge import commands, signing
from furrow.edge.errors import ContractError
from furrow.firmware.config import validate
from furrow.firmware.injector import Injector
from furrow.firmware.irrigation_node import IrrigationNode
from tests.firmware_fakes import FakeFlowMeter, FakeValve, MemorySeq

T0 = 1_767_225_600_000
S = 1000
HOUR = 3600 * S
RATE_L_H = 36.0  # 10 ml per second


class LineEC:
    """An in-line EC transmitter as the node reads it: dS/m, or a fault code."""

    def __init__(self, ds_m: float | str = 1.2) -> None:
        self.value = ds_m

    def read(self) -> float | str:
        return self.value


def _node(flow: float = 20.0, ec: LineEC | None = None, meter: bool = True,
          injector: bool = True) -> tuple[IrrigationNode, FakeValve, FakeValve, FakeFlowMeter]:
    valve, pump, fm = FakeValve(), FakeValve(), FakeFlowMeter(flow)
    inj = Injector(pump, RATE_L_H, ec, (0.5, 3.0) if ec else None, ec_settle_ms=30 * S) if injector else None
    node = IrrigationNode("irr-01", MemorySeq(), [valve], flow_meter=fm if meter else None, injector=inj,
                          no_flow_ms=60 * S)
    return node, valve, pump, fm


def _fert(cmd_id: str = "f-1", ml: int = 1500, start: int = 60, until: int = 540, duration: int = 600) -> dict:
    return commands.make_command(cmd_id, "irr-01", 1, "fertigate", duration, 900, T0, T0 + HOUR,
                                 inject=(ml, start, until))


def _run(node: IrrigationNode, valve: FakeValve, pump: FakeValve, fm: FakeFlowMeter, start_s: int, end_s: int,
         each: Any = None) -> list[dict]:
    """Tick each second from start_s to end_s; the pump is never on with the valve closed."""
    acks = []
    for t in range(start_s, end_s + 1):
        if each is not None:
            each(t)
        fm.run(1)
        node.on_heartbeat(T0 + t * S)
        acks += node.tick(T0 + t * S)[0]
        assert not (pump.is_open and not valve.is_open), t
    return acks


def test_dose_goes_in_within_the_window_and_the_final_ack_says_how_much() -> None:
    """1500 ml at 10 ml/s: the pump starts 60 s after the valve, stops at the dose, the run completes with it."""
    node, valve, pump, fm = _node()
    acks = node.on_command(commands.encode(_fert()), T0)
    assert [a["state"] for a in acks] == ["received", "started"] and valve.is_open and not pump.is_open
    on_at = []
    acks = _run(node, valve, pump, fm, 1, 620, lambda t: on_at.append(t) if pump.is_open else None)
    assert min(on_at) == 61 and max(on_at) == 210  # on from the tick at 60 s, off at the tick that reaches 1500 ml
    final = acks[-1]
    assert final["state"] == "completed" and final["injected_ml"] == 1500 and final["reason"] is None
    assert not valve.is_open and not pump.is_open


def test_the_pump_stops_the_moment_flow_stops_and_the_run_ends_on_no_flow() -> None:
    """Flow lost at 100 s: the pump is off at that tick, the valve's no-flow rule aborts the run 60 s later."""
    node, valve, pump, fm = _node()
    node.on_command(commands.encode(_fert()), T0)

    def lose_flow(t: int) -> None:
        if t == 100:
            fm.rate = 0.0
        if t >= 101:
            assert not pump.is_open, t

    acks = _run(node, valve, pump, fm, 1, 200, lose_flow)
    final = [a for a in acks if a["id"] == "f-1"][-1]
    assert final["state"] == "aborted" and "no flow" in final["reason"]
    assert final["injected_ml"] == 400  # 40 s of pumping: on at the tick of 60 s, off at that of 100 s
    assert not valve.is_open and not pump.is_open


def test_line_ec_out_of_band_ends_the_run() -> None:
    """A tank that delivers nothing (EC stays at the water's 0.3 dS/m) is found once the pump ran 30 s."""
    ec = LineEC(0.3)
    node, valve, pump, fm = _node(ec=ec)
    node.on_command(commands.encode(_fert()), T0)
    acks = _run(node, valve, pump, fm, 1, 120)
    final = acks[-1]
    assert final["state"] == "aborted" and "line EC 0.30 dS/m outside 0.50..3.00" in final["reason"]
    assert final["injected_ml"] == 300 and not valve.is_open and not pump.is_open


def test_a_failed_ec_sensor_ends_the_run() -> None:
    """A transmitter that reads 'disconnected' cannot show the band is kept: the run ends."""
    node, valve, pump, fm = _node(ec=LineEC("disconnected"))
    node.on_command(commands.encode(_fert()), T0)
    final = _run(node, valve, pump, fm, 1, 120)[-1]
    assert final["state"] == "aborted" and "sensor disconnected" in final["reason"]


def test_ec_in_band_lets_the_dose_finish() -> None:
    """With EC inside its band the run completes as without a sensor."""
    node, valve, pump, fm = _node(ec=LineEC(1.8))
    node.on_command(commands.encode(_fert()), T0)
    final = _run(node, valve, pump, fm, 1, 620)[-1]
    assert final["state"] == "completed" and final["injected_ml"] == 1500


def test_lost_heartbeat_stops_pump_and_valve() -> None:
    """Nothing heard for the heartbeat timeout: valve closed, pump off, aborted with what went in."""
    node, valve, pump, fm = _node()
    node.heartbeat_timeout_ms = 120 * S
    node.on_command(commands.encode(_fert()), T0)
    acks = []
    for t in range(1, 200):
        fm.run(1)
        acks += node.tick(T0 + t * S)[0]  # no heartbeat
    final = acks[-1]
    assert final["state"] == "aborted" and final["reason"] == "heartbeat lost"
    assert final["injected_ml"] == 610 and not valve.is_open and not pump.is_open  # 60 s..121 s


def test_cancel_stops_the_pump() -> None:
    """A cancel mid-dose closes the valve and stops the pump; the cancelled ack carries the volume."""
    from furrow.edge.cancel import make_cancel

    node, valve, pump, fm = _node()
    cmd = _fert()
    node.on_command(commands.encode(cmd), T0)
    _run(node, valve, pump, fm, 1, 100)
    assert pump.is_open
    acks = node.on_command(commands.encode(make_cancel(cmd, T0 + 100 * S)), T0 + 100 * S)
    assert acks[-1]["state"] == "cancelled" and acks[-1]["injected_ml"] == 400
    assert not valve.is_open and not pump.is_open


def test_a_window_too_short_completes_with_the_shortfall_named() -> None:
    """The window closes at 100 s with 400 of 1500 ml in: the water runs on, the ack names the shortfall."""
    node, valve, pump, fm = _node()
    node.on_command(commands.encode(_fert(until=100)), T0)
    final = _run(node, valve, pump, fm, 1, 620)[-1]
    assert final["state"] == "completed" and final["injected_ml"] == 400
    assert final["reason"] == "dose not reached: 400 of 1500 ml in the window"


@pytest.mark.parametrize(("kw", "why"), [({"injector": False}, "no injector"), ({"meter": False}, "no flow meter")])
def test_a_controller_that_cannot_fertigate_refuses(kw: dict, why: str) -> None:
    """Without an injector, or without a flow meter to prove water flows, a fertigate is rejected and nothing opens."""
    node, valve, pump, _ = _node(**kw)
    acks = node.on_command(commands.encode(_fert()), T0)
    assert acks[-1]["state"] == "rejected" and why in acks[-1]["reason"] and not valve.is_open


def test_a_second_fertigate_waits_for_the_injector() -> None:
    """One injector, two valves: the second fertigate is held until the first run ends, then doses."""
    valves, pump, fm = [FakeValve(), FakeValve()], FakeValve(), FakeFlowMeter(20.0)
    node = IrrigationNode("irr-01", MemorySeq(), valves, flow_meter=fm, injector=Injector(pump, RATE_L_H))
    node.on_command(commands.encode(_fert("f-1", duration=300, until=290, ml=500)), T0)
    second = commands.make_command("f-2", "irr-01", 2, "fertigate", 300, 900, T0, T0 + HOUR, inject=(500, 0, 290))
    assert node.on_command(commands.encode(second), T0)[-1]["state"] == "received" and not valves[1].is_open
    acks = []
    for t in range(1, 700):
        fm.run(1)
        node.on_heartbeat(T0 + t * S)
        acks += node.tick(T0 + t * S)[0]
    finals = {a["id"]: a for a in acks if a["state"] == "completed"}
    assert finals["f-1"]["injected_ml"] == 500 and finals["f-2"]["injected_ml"] == 500


def test_the_window_must_lie_within_the_run() -> None:
    """The contract names the field and its bounds: a window past the run's end, an empty one, no dose."""
    with pytest.raises(ContractError) as e:
        _fert(until=601)
    assert e.value.field == "inject_until_s" and "inject_from_s + 1 (61)..duration_s (600)" in str(e.value)
    with pytest.raises(ContractError) as e:
        _fert(start=600)
    assert e.value.field == "inject_from_s"
    with pytest.raises(ContractError) as e:
        _fert(ml=0)
    assert e.value.field == "inject_ml" and "1..10000000" in str(e.value)
    with pytest.raises(ContractError) as e:
        commands.make_command("c-1", "irr-01", 1, "open", 600, 900, T0, T0 + HOUR, inject=(100, 0, 10))
    assert e.value.field == "inject_ml" and "only a fertigate" in str(e.value)


def test_signature_and_node_mac_cover_the_dose() -> None:
    """A fertigate whose dose or window was changed in transit no longer verifies."""
    key = bytes(range(32))
    cmd = dict(_fert(), nmac=None)
    cmd["nmac"] = signing.node_mac(key, cmd)
    assert signing.check_node_mac(key, cmd) is None
    for field, value in (("inject_ml", 15000), ("inject_from_s", 0), ("inject_until_s", 600)):
        assert signing.check_node_mac(key, {**cmd, field: value}) is not None, field
        assert signing.signed_bytes({**cmd, field: value}) != signing.signed_bytes(cmd), field


def test_an_open_signs_as_before() -> None:
    """Only a fertigate's bytes grow: an open's signed bytes are those of contract 1.4."""
    cmd = commands.make_command("c-1", "irr-01", 1, "open", 600, 900, T0, T0 + HOUR)
    assert signing.signed_bytes(cmd).endswith(b"0:,0:,0:,0:,0:,")


def test_an_injector_needs_the_flow_meter_in_the_config() -> None:
    """The node config refuses an injector without a flow meter, naming the field."""
    cfg = {"node": "irr-01", "role": "irrigation", "link": "mqtt", "valves": [{"pin": 5}],
           "injector": {"pin": 6, "rate_l_h": 36}}
    _, errors = validate(cfg)
    assert any(e[0] == "injector" and "flow meter" in e[2] for e in errors), errors
