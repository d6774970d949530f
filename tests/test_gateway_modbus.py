"""The Modbus poller against a real pymodbus server speaking RTU framing over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest
from pymodbus import FramerType
from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.server import ModbusTcpServer

from furrow.edge.commands import encode, make_command
from furrow.edge.modbus_map import (
    ACK_BASE,
    CMD_BASE,
    CMD_COUNT,
    INPUT_COUNT,
    encode_ack_regs,
    encode_command_regs,
    encode_inputs,
)
from furrow.edge.payload import make_reading
from furrow.gateway import DurableBuffer, ModbusDeviceConfig
from furrow.gateway.modbus import ModbusPoller
from tests.gateway_support import (
    BatchCollector,
    Peer,
    gateway_config,
    gw_topic,
    running_gateway,
    wait_until,
)
from tests.servers import free_port

FC_INPUT = 4
TS_MS = 1_767_225_600_000


def soil_image(seq: int, vwc: float = 23.4) -> list[int]:
    readings = [
        make_reading("vwc_pct", vwc, depth_cm=10),
        make_reading("soil_temp_c", 18.25, depth_cm=10),
        make_reading("vwc_pct", None, depth_cm=30, fault="disconnected"),
    ]
    return encode_inputs("soil", seq, TS_MS + seq * 60_000, "0.1.0", readings, bat_v=3.7)


class Bus:
    """A pymodbus TCP server with RTU framing: one RS-485 bus with some units on it."""

    def __init__(self, context: ModbusServerContext, port: int) -> None:
        self.context = context
        self.port = port

    def serve(self, unit: int, regs: list[int]) -> None:
        """Put a new input-register image on `unit`, as a node does after a report."""
        self.context[unit].setValues(FC_INPUT, 0, regs)


@contextlib.asynccontextmanager
async def modbus_bus(images: dict[int, list[int]], port: int | None = None) -> AsyncIterator[Bus]:
    # The slave context adds 1 to every address, so a block starting at 1
    # serves protocol address 0.
    slaves = {u: ModbusSlaveContext(ir=ModbusSequentialDataBlock(1, r)) for u, r in images.items()}
    context = ModbusServerContext(slaves=slaves, single=False)
    port = port or free_port()
    server = ModbusTcpServer(
        context,
        framer=FramerType.RTU,
        address=("127.0.0.1", port),
        ignore_missing_slaves=True,  # an absent unit stays silent, as on RS-485
    )
    await server.serve_forever(background=True)
    try:
        yield Bus(context, port)
    finally:
        await server.shutdown()


def device(node_id: str, port: int, unit: int = 1, **kw) -> ModbusDeviceConfig:
    return ModbusDeviceConfig(
        node_id=node_id,
        host="127.0.0.1",
        port=port,
        unit=unit,
        poll_interval=kw.pop("poll_interval", 0.05),
        timeout=kw.pop("timeout", 0.2),
        retries=kw.pop("retries", 0),
        **kw,
    )


@contextlib.asynccontextmanager
async def polling(poller: ModbusPoller) -> AsyncIterator[ModbusPoller]:
    task = asyncio.create_task(poller.run())
    try:
        yield poller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def buf(tmp_path):
    with DurableBuffer(tmp_path / "buffer.sqlite") as b:
        yield b


def stored(buf: DurableBuffer) -> list[tuple[str, int]]:
    return [(i["node"], i["seq"]) for _, i in buf.next_batch(1000)]


async def test_reports_are_decoded_into_the_buffer_once_per_seq(buf):
    """Each new seq becomes one validated report; polling an unchanged image adds nothing."""
    async with modbus_bus({1: soil_image(1)}) as bus:
        poller = ModbusPoller([device("soil-07", bus.port)], buf.put_many, buf.quarantine)
        async with polling(poller):
            await wait_until(lambda: stored(buf) == [("soil-07", 1)], "the first report")
            polls = poller.health()["soil-07"]["polls"]
            await wait_until(lambda: poller.health()["soil-07"]["polls"] >= polls + 3, "polls")
            assert stored(buf) == [("soil-07", 1)]
            bus.serve(1, soil_image(2, vwc=31.5))
            await wait_until(lambda: poller.health()["soil-07"]["reports"] == 2, "report 2")
    assert len(stored(buf)) == 2
    items = [i for _, i in buf.next_batch(10)]
    by_key = {(r["name"], r["depth_cm"]): r for r in items[1]["readings"]}
    assert by_key["vwc_pct", 10] == {"name": "vwc_pct", "unit": "%", "depth_cm": 10, "value": 31.5}
    assert by_key["vwc_pct", 30]["fault"] == "disconnected"
    assert by_key["soil_temp_c", 10]["value"] == 18.25
    assert items[1]["ts_ms"] == TS_MS + 2 * 60_000 and items[1]["bat_v"] == 3.7
    health = poller.health()["soil-07"]
    assert health["reports"] == 2 and health["errors"] == 0 and health["last_good_ms"]


async def test_node_without_a_report_yet_is_healthy_and_its_seq_0_is_stored(buf):
    """An all-zero image (powered up, nothing reported) is waited for, not quarantined;
    the node's first report, seq 0, is then stored."""
    async with modbus_bus({1: [0] * INPUT_COUNT}) as bus:
        poller = ModbusPoller([device("soil-01", bus.port)], buf.put_many, buf.quarantine)
        async with polling(poller):
            await wait_until(lambda: poller.health()["soil-01"]["polls"] >= 3, "polls")
            assert stored(buf) == [] and buf.stats()["quarantined"] == 0
            assert poller.health()["soil-01"]["last_good_ms"] is not None
            bus.serve(1, soil_image(0))
            await wait_until(lambda: poller.health()["soil-01"]["reports"] == 1, "the first report")
    assert stored(buf) == [("soil-01", 0)]


async def test_dead_port_is_backed_off_and_never_stops_the_live_device(buf):
    """A device whose port has nothing listening is set aside; the live one keeps reporting."""
    async with modbus_bus({1: soil_image(1)}) as bus:
        devices = [device("soil-01", bus.port), device("dead-01", free_port())]
        poller = ModbusPoller(devices, buf.put_many, buf.quarantine)
        async with polling(poller):
            await wait_until(lambda: poller.health()["dead-01"]["backed_off"], "the back-off")
            for seq in (2, 3, 4):
                bus.serve(1, soil_image(seq))
                await wait_until(lambda s=seq: ("soil-01", s) in stored(buf), f"seq {seq}")
    dead = poller.health()["dead-01"]
    assert dead["consecutive_failures"] >= 3 and dead["backoff_s"] > 0 and dead["reports"] == 0
    assert "connect" in dead["last_error"]
    assert stored(buf) == [("soil-01", s) for s in (1, 2, 3, 4)]


async def test_silent_unit_on_the_same_bus_is_backed_off_and_the_bus_keeps_going(buf):
    """A unit that never answers shares the bus with a live one: it is backed off after
    fail_threshold timeouts and the live unit's reports keep arriving."""
    async with modbus_bus({1: soil_image(1)}) as bus:
        devices = [device("soil-01", bus.port, unit=1), device("silent", bus.port, unit=2)]
        poller = ModbusPoller(devices, buf.put_many, buf.quarantine)
        async with polling(poller):
            await wait_until(lambda: poller.health()["silent"]["backed_off"], "the back-off")
            for seq in (2, 3):
                bus.serve(1, soil_image(seq))
                await wait_until(lambda s=seq: ("soil-01", s) in stored(buf), f"seq {seq}")
            silent = poller.health()["silent"]
    assert silent["errors"] >= 3 and "no response" in silent["last_error"]
    assert poller.health()["soil-01"]["consecutive_failures"] == 0


async def test_device_that_comes_back_recovers(buf):
    """A device failing while its bus is down reports again once the bus is back."""
    port = free_port()
    poller = ModbusPoller([device("soil-01", port, backoff_max=0.2)], buf.put_many)
    async with polling(poller):
        await wait_until(lambda: poller.health()["soil-01"]["backed_off"], "the back-off")
        async with modbus_bus({1: soil_image(5)}, port=port):
            await wait_until(lambda: poller.health()["soil-01"]["reports"] == 1, "a report")
            health = poller.health()["soil-01"]
    assert stored(buf) == [("soil-01", 5)]
    assert not health["backed_off"] and health["consecutive_failures"] == 0
    assert health["errors"] >= 3


async def test_bad_register_image_is_quarantined_once(buf):
    """An image breaking the contract (unknown role code) is quarantined with the register
    named, once per seq, and reported to the cloud as the node's seq not forwarded (a quarantine
    gap); the device is still healthy."""
    bad = soil_image(9)
    bad[1] = 99  # role code
    async with modbus_bus({1: bad}) as bus:
        poller = ModbusPoller([device("soil-01", bus.port)], buf.put_many, buf.quarantine)
        async with polling(poller):
            await wait_until(lambda: buf.stats()["quarantined"] == 1, "the quarantine")
            polls = poller.health()["soil-01"]["polls"]
            await wait_until(lambda: poller.health()["soil-01"]["polls"] >= polls + 3, "polls")
    assert buf.stats()["quarantined"] == 1 and stored(buf) == []
    row = buf.quarantined()[0]
    assert "input_register.1=99" in row["reason"]
    assert row["source"] == f"modbus:127.0.0.1:{bus.port}/1" and len(row["raw"]) == 224
    assert poller.health()["soil-01"]["consecutive_failures"] == 0
    ((_, gap),) = buf.next_gaps()
    assert (gap["node"], gap["reason"], gap["count"], gap["seqs"]) == ("soil-01", "quarantine", 1, [[9, 9]])


async def test_gateway_forwards_modbus_reports_to_the_cloud(tmp_path, mosquitto, mqtt_topic_prefix):
    """Configured Modbus devices are polled by the Gateway and their reports reach the cloud."""
    async with modbus_bus({1: soil_image(11)}) as bus:
        cfg = gateway_config(
            tmp_path,
            mosquitto.host,
            mosquitto.port,
            mqtt_topic_prefix,
            modbus=[device("soil-01", bus.port).model_dump()],
        )
        peer = Peer(mosquitto.host, mosquitto.port)
        peer.subscribe(gw_topic(cfg, "batch"))
        cloud = BatchCollector(peer)
        try:
            async with running_gateway(cfg) as gw:
                await cloud.until({("soil-01", 11)})
                health = gw.stats()["modbus"]["soil-01"]
        finally:
            peer.close()
    assert health["reports"] == 1 and health["last_seq"] == 11


async def test_command_goes_into_the_modbus_mailbox_and_the_ack_comes_back_up(tmp_path, mosquitto,
                                                                             mqtt_topic_prefix):
    """A command for a Modbus irrigation node with a mailbox is written (one FC16) into holding
    registers 32-58; the ack the node then serves in input registers 112-133 reaches the cloud."""
    readings = [make_reading("valve_open", 0, channel=1), make_reading("flow_l_min", 0.0)]
    image = encode_inputs("irrigation", 1, TS_MS, "0.1.0", readings) + [0] * 22
    slaves = {5: ModbusSlaveContext(ir=ModbusSequentialDataBlock(1, image),
                                    hr=ModbusSequentialDataBlock(1, [0] * 64))}
    context = ModbusServerContext(slaves=slaves, single=False)
    port = free_port()
    server = ModbusTcpServer(context, framer=FramerType.RTU, address=("127.0.0.1", port),
                             ignore_missing_slaves=True)
    await server.serve_forever(background=True)
    now = int(time.time() * 1000)
    cmd = make_command("c-mb-1", "irr-mb", 1, "open", 300, 600, now, now + 600_000)
    dev = {"node_id": "irr-mb", "host": "127.0.0.1", "port": port, "unit": 5, "role": "irrigation",
           "commands": True, "poll_interval": 0.05, "timeout": 0.3}
    config = gateway_config(tmp_path, mosquitto.host, mosquitto.port, mqtt_topic_prefix, modbus=[dev])
    cloud = Peer(mosquitto.host, mosquitto.port)
    cloud.subscribe(gw_topic(config, "ack"))
    try:
        async with running_gateway(config) as gw:
            cloud.publish(gw_topic(config, "cmd"), encode(cmd))
            await wait_until(lambda: gw.stats()["commands_relayed"] == 1, "the command to be written")
            assert context[5].getValues(3, CMD_BASE, CMD_COUNT) == encode_command_regs(cmd)
            ack = {"id": "c-mb-1", "state": "started", "runtime_s": None, "volume_l": None}
            context[5].setValues(FC_INPUT, ACK_BASE, encode_ack_regs(ack, 1))
            msg = await cloud.get()
            state = gw.relay.commands()["c-mb-1"]["state"]
    finally:
        cloud.close()
        await server.shutdown()
    up = json.loads(msg.payload)
    assert (up["id"], up["node"], up["state"]) == ("c-mb-1", "irr-mb", "started")
    assert state == "started"
