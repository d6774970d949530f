"""Fertigation end to end on real servers: a top-dress asked of the cloud API becomes a signed fertigate command,
the real gateway relays it over a real Mosquitto to an emulated irrigation controller running the firmware core
with its injector on the HIL farm's dosing pump and line EC sensor; the acks come back and the volume injected
is recorded as the zone's application. A stuck injector (EC never rises) stops the run."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from furrow.cloud.fertility.fertigation import (
    applied_rate_kg_ha,
    dose_of_concentration,
    max_dose_kg_ha,
    stock_ml,
    water_l,
)
from furrow.cloud.settings import Settings
from furrow.firmware.injector import Injector
from furrow.firmware.irrigation_node import IrrigationNode
from furrow.gateway.config import ModbusDeviceConfig
from furrow.hil.hardware import FlowMeter, Valve
from furrow.hil.injector import DosingPump, LineEC
from furrow.hil.modbus_bus import ModbusBus
from furrow.hil.mqtt_node import MqttNodeRunner
from furrow.hil.virtual_farm import VirtualFarm, VirtualZone
from tests.cloud_support import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.firmware_fakes import MemorySeq
from tests.servers import free_port
from tests.test_cloud_fertility import ZONE as FERTILITY_ZONE
from tests.test_e2e_path import SITE, _gateway, _until, cloud_service, running

pytestmark = [pytest.mark.mosquitto]

NODE = "irr-fert"
# A bench-sized zone, so a dose goes in within seconds of wall time: 0.01 ha (100 m2) at 12 mm/h is 20 l/min.
ZONE = {**FERTILITY_ZONE, "area_ha": 0.01}
UREA = {"id": "urea", "name": "Urea 46-0-0", "n_pct": 46, "p2o5_pct": 0, "k2o_pct": 0, "price_per_kg": 2.4,
        "stock_kg_per_l": 0.3}
PUMP_L_H = 36.0  # 10 ml/s


def test_dose_to_stock_volume_by_hand() -> None:
    """60 kg/ha of urea on 2 ha from a 0.3 kg/l stock is 400 l; 100 mg/l in 1 h of a 5 mm/h, 2 ha zone is 100 kg
    in 100 000 l, 50 kg/ha; a 120 l/h pump in 45 min delivers 90 l, 13.5 kg/ha of that stock; half the volume in
    is half the dose."""
    assert stock_ml(60, 2.0, 0.3) == 400_000
    assert water_l(5.0, 2.0, 3600) == 100_000
    assert dose_of_concentration(100, 100_000, 2.0) == 5.0
    assert max_dose_kg_ha(120, 2700, 2.0, 0.3) == pytest.approx(13.5)
    assert applied_rate_kg_ha(60, 400_000, 200_000) == 30


def _settings(tmp_path: Path, mosquitto, root: str) -> Settings:
    return Settings(storage="sqlite", secret_key=SECRET_KEY, bootstrap_admin_token=ADMIN_TOKEN,
                    data_dir=tmp_path / "cloud", mqtt_host=mosquitto.host, mqtt_port=mosquitto.port, topic_root=root)


def _controller(farm: VirtualFarm) -> tuple[IrrigationNode, DosingPump, list]:
    farm.connect_valve(NODE, 1, "z1", ZONE["precip_rate_mm_h"])
    meter, pump = FlowMeter(farm, NODE), DosingPump(PUMP_L_H)
    injector = Injector(pump, PUMP_L_H, LineEC(farm, NODE, pump), (0.5, 3.0), ec_settle_ms=1000)
    core = IrrigationNode(NODE, MemorySeq(), [Valve(farm, NODE, 1)], interval_ms=1000, flow_meter=meter,
                          injector=injector, no_flow_ms=10_000)
    return core, pump, [meter, pump]


async def _farm(c: httpx.AsyncClient, api: str) -> None:
    for path, body in [("registry/sites", {"id": SITE, "name": "Farm", "timezone": "UTC"}),
                       ("registry/fields", {"id": "f1", "site_id": SITE, "name": "North"}),
                       ("registry/zones", ZONE), ("registry/nodes", {"id": NODE, "role": "irrigation"}),
                       ("registry/valves", {"node_id": NODE, "channel": 1, "zone_id": "z1"})]:
        r = await c.post(f"{api}/{path}", json=body)
        assert r.status_code == 201, r.text
    r = await c.put(f"{api}/fertility/sites/{SITE}/products/urea", json=UREA)
    assert r.status_code == 200, r.text
    r = await c.put(f"{api}/fertility/injectors/{NODE}", json={"rate_l_h": PUMP_L_H, "ec_band_ds_m": [0.5, 3.0]})
    assert r.status_code == 200, r.text


@contextlib.asynccontextmanager
async def _node_link(core: IrrigationNode, advance, link: str, tmp_path: Path, mosquitto,  # noqa: ANN001
                     root: str) -> AsyncIterator[None]:
    """The controller on MQTT, or on the emulated RS-485 bus with the gateway's master writing its mailbox
    and reading its ack block with the volume injected; the real gateway between it and the cloud."""
    if link == "mqtt":
        runner = MqttNodeRunner(core, SITE, mosquitto.host, mosquitto.port, root=root, tick_s=0.05,
                                on_tick=advance)
        async with running(_gateway(tmp_path, mosquitto, root).run), running(runner.run):
            yield
        return
    bus = ModbusBus(port=free_port(), baud=115_200, tick_s=0.05, on_tick=advance)
    bus.add(core, 7)
    await bus.start()
    device = ModbusDeviceConfig(node_id=NODE, host="127.0.0.1", port=bus.port, unit=7, role="irrigation",
                                commands=True, injector=True, poll_interval=timedelta(seconds=0.2))
    try:
        async with running(_gateway(tmp_path, mosquitto, root, [device]).run), running(bus.run):
            yield
    finally:
        await bus.close()


async def _fertigate(tmp_path: Path, mosquitto, root: str, stuck: bool,  # noqa: ANN001
                     link: str = "mqtt") -> tuple[dict, list[dict], DosingPump]:
    farm = VirtualFarm([VirtualZone("z1", area_m2=100.0)])
    core, pump, parts = _controller(farm)
    pump.stuck = stuck

    def advance(now_ms: int) -> None:
        for part in parts:
            part.advance(now_ms / 1000)

    async with cloud_service(_settings(tmp_path, mosquitto, root)) as api, \
            _node_link(core, advance, link, tmp_path, mosquitto, root), \
            httpx.AsyncClient(timeout=10, headers=ADMIN) as c:
        await _farm(c, api)

        async def routed() -> bool:
            return any(n["node"] == NODE for n in (await c.get(f"{api}/nodes")).json())

        await _until(routed, 60, what=f"{NODE} to be routable")
        # 0.6 kg/ha on 0.01 ha from 0.3 kg/l is 20 ml: 2 s of the pump, in a window of 1..6 s of an 8 s run
        r = await c.post(f"{api}/zones/z1/fertility/fertigations", json={
            "season": "2026", "product_id": "urea", "dose_kg_ha": 0.6, "duration_s": 8, "inject_from_s": 1,
            "inject_until_s": 6})
        assert r.status_code == 201, r.text
        assert r.json()["fertigation"]["inject_ml"] == 20
        cmd_id = r.json()["command"]["id"]

        async def ended() -> dict | None:
            cmd = (await c.get(f"{api}/commands/{cmd_id}")).json()
            return cmd if cmd["state"] in ("completed", "aborted", "rejected") else None

        command = await _until(ended, 60, what="the fertigate command to end")

        async def recorded() -> list[dict] | None:
            apps = (await c.get(f"{api}/zones/z1/fertility/applications")).json()
            return apps or None

        apps = await _until(recorded, 30, what="the application to be recorded")
    return command, apps, pump


@pytest.mark.parametrize("link", ["mqtt", "modbus"])
async def test_a_fertigation_runs_end_to_end_and_records_its_application(tmp_path, mosquitto, mqtt_topic_prefix,
                                                                         link):
    """The zone's top-dress of 0.6 kg/ha of urea, over MQTT and through the Modbus mailbox: the controller injects
    its 20 ml within the window while water flows, completes, and the zone's application is 0.6 kg/ha of urea
    (0.276 kg N/ha) by fertigation."""
    command, apps, pump = await _fertigate(tmp_path, mosquitto, mqtt_topic_prefix, stuck=False, link=link)
    states = [e["state"] for e in command["events"]]
    assert command["state"] == "completed", command
    assert states.index("started") < states.index("completed")  # a master polling may miss "received"
    assert command["action"] == "fertigate" and command["inject_ml"] == 20
    assert 20 <= command["injected_ml"] <= 21  # stops at the first 50 ms tick at or past the dose
    assert pump.delivered_ml == pytest.approx(command["injected_ml"], abs=1.0) and not pump.on
    [app] = apps
    assert app["method"] == "fertigation" and app["command_id"] == command["id"] and app["product_id"] == "urea"
    assert app["rate_kg_ha"] == pytest.approx(0.6 * command["injected_ml"] / 20)
    assert app["nutrients_kg_ha"]["N"] == pytest.approx(app["rate_kg_ha"] * 0.46, abs=1e-3)


async def test_a_stuck_injector_stops_the_run_on_line_ec(tmp_path, mosquitto, mqtt_topic_prefix):
    """The pump runs but moves nothing: the line EC stays at the water's 0.4 dS/m, below the band, so the
    controller ends the run "aborted" once the pump has run 1 s; the application records what its count says."""
    command, apps, pump = await _fertigate(tmp_path, mosquitto, mqtt_topic_prefix, stuck=True)
    assert command["state"] == "aborted" and "line EC 0.40 dS/m outside 0.50..3.00" in command["reason"], command
    assert pump.delivered_ml == 0 and not pump.on
    # the controller counts its pump's strokes: what it reports is recorded, with the fault beside it
    [app] = apps
    assert 0 < command["injected_ml"] < 20 and app["rate_kg_ha"] == pytest.approx(0.6 * command["injected_ml"] / 20)
    assert "aborted: injection stopped: line EC" in app["note"]
