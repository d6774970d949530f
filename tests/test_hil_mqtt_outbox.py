"""An MQTT node's flash ring delivers every report, in order, across a real broker outage (real Mosquitto)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from furrow.edge import payload, topics
from furrow.firmware.drivers.soil_moisture import CapacitiveMoisture
from furrow.firmware.seqstore import SeqStore
from furrow.firmware.soil_node import SoilNode
from furrow.hil.mqtt_node import MqttNodeRunner
from tests.firmware_fakes import FakeADC
from tests.gateway_support import Peer, TcpProxy

pytestmark = pytest.mark.mosquitto
SITE = "farm"
WAIT = 20.0


class OutageProxy(TcpProxy):
    """The node's link to the broker: `down()` drops every connection and
    stops listening (connections are refused, as on a dead link), `up()`
    listens on the same port again."""

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        self.cut()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)


def soil_core(flash: Path) -> SoilNode:
    """A soil node whose seq lives in `flash` (one probe, no DS18B20: a report per interval)."""
    flash.mkdir(parents=True, exist_ok=True)
    probe = CapacitiveMoisture(FakeADC(37000), 52000, 22000)
    return SoilNode("soil-ob", SeqStore(str(flash / "seq"), reserve=10), [(10, probe, None)], interval_ms=1000)


def stepping_clock() -> Callable[[], int]:
    """Node time that moves one second per reading: a report on every tick of the runner."""
    start = int(time.time() * 1000)
    counter = itertools.count()
    return lambda: start + 1000 * next(counter)


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(int(WAIT / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def running(runner: MqttNodeRunner) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)


async def received_seqs(peer: Peer, count: int) -> list[int]:
    seqs = []
    while len(set(seqs)) < count:
        seqs.append(payload.decode(bytes((await peer.get(WAIT)).payload))["seq"])
    return seqs


def first_seen(seqs: list[int]) -> list[int]:
    out: list[int] = []
    for s in seqs:
        if s not in out:
            out.append(s)
    return out


async def test_every_report_arrives_in_order_after_an_outage(mosquitto, mqtt_topic_prefix, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Reports made while the broker is unreachable wait in the ring and then arrive, every seq, in order."""
    peer = Peer(mosquitto.host, mosquitto.port)
    peer.subscribe(topics.node_topic(SITE, "soil-ob", "up", root=mqtt_topic_prefix))
    async with OutageProxy(mosquitto.host, mosquitto.port) as link:
        runner = MqttNodeRunner(soil_core(tmp_path / "flash"), SITE, link.host, link.port, root=mqtt_topic_prefix,
                                tick_s=0.05, clock_ms=stepping_clock(), state_dir=tmp_path / "flash")
        async with running(runner):
            await until(lambda: runner.reports_sent >= 3, "reports before the outage")
            await link.down()
            await until(lambda: not runner.connected, "the node to notice the outage")
            made = runner.reports_made
            await until(lambda: runner.reports_made >= made + 10, "reports made during the outage")
            assert len(runner.outbox) >= 10  # they wait in flash
            await link.up()
            await until(lambda: runner.connected and len(runner.outbox) == 0, "the ring to drain")
        total = runner.reports_made
    try:
        seqs = await received_seqs(peer, total)
    finally:
        peer.close()
    assert first_seen(seqs) == list(range(total))  # every seq, in order (a resend may repeat one)
    assert runner.outbox.stats["dropped"] == 0


async def test_ring_survives_a_reboot_during_the_outage(mosquitto, mqtt_topic_prefix, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Reports still in the ring when the node resets are delivered by the rebooted node, before its new ones."""
    peer = Peer(mosquitto.host, mosquitto.port)
    peer.subscribe(topics.node_topic(SITE, "soil-ob", "up", root=mqtt_topic_prefix))
    flash = tmp_path / "flash"
    async with OutageProxy(mosquitto.host, mosquitto.port) as link:
        await link.down()
        first = MqttNodeRunner(soil_core(flash), SITE, link.host, link.port, root=mqtt_topic_prefix, tick_s=0.05,
                               clock_ms=stepping_clock(), state_dir=flash)
        async with running(first):
            await until(lambda: first.reports_made >= 5, "reports made offline")
        waiting = len(first.outbox)
        assert waiting == first.reports_made and first.reports_sent == 0
        await link.up()
        second = MqttNodeRunner(soil_core(flash), SITE, link.host, link.port, root=mqtt_topic_prefix, tick_s=0.05,
                                clock_ms=stepping_clock(), state_dir=flash)
        assert len(second.outbox) == waiting  # read back from the file
        async with running(second):
            await until(lambda: second.reports_sent >= waiting + 3, "the old ring and new reports")
        sent = second.reports_sent
    try:
        seqs = first_seen(await received_seqs(peer, sent))
    finally:
        peer.close()
    assert seqs[:waiting] == list(range(waiting))
    assert seqs == sorted(seqs) and len(seqs) == sent  # the reboot skips seqs (reserve), never repeats one


async def test_a_full_ring_drops_the_oldest_and_the_gap_shows(mosquitto, mqtt_topic_prefix, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With a small ring, an outage longer than it drops the oldest reports: counted, and seen as a seq gap."""
    peer = Peer(mosquitto.host, mosquitto.port)
    peer.subscribe(topics.node_topic(SITE, "soil-ob", "up", root=mqtt_topic_prefix))
    async with OutageProxy(mosquitto.host, mosquitto.port) as link:
        await link.down()
        runner = MqttNodeRunner(soil_core(tmp_path / "flash"), SITE, link.host, link.port, root=mqtt_topic_prefix,
                                tick_s=0.05, clock_ms=stepping_clock(), state_dir=tmp_path / "flash", outbox_slots=4)
        async with running(runner):
            await until(lambda: runner.reports_made >= 10, "an outage longer than the ring")
            await link.up()
            await until(lambda: runner.connected and runner.reports_sent >= 6, "the ring to drain")
        dropped = runner.outbox.stats["dropped"]
        total = runner.reports_made
        sent = runner.reports_sent  # PUBACKed: each arrived (the link came back once, nothing was resent)
    try:
        seqs = first_seen(await received_seqs(peer, sent))
    finally:
        peer.close()
    missing = set(range(total)) - set(seqs)
    assert dropped >= 6 and len(missing) == total - sent
    # Every drop is a gap; one dropped while its publish awaited the PUBACK may still have arrived.
    assert dropped - 1 <= len(missing) <= dropped
    assert seqs == sorted(seqs) and seqs[-1] == total - 1 and 0 in missing  # the oldest went, in order


async def test_a_node_with_an_invalid_config_says_why_in_its_status(mosquitto, mqtt_topic_prefix,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    """A fault-mode node publishes its retained online status with the config errors, and no report."""
    from furrow.edge import commands
    from furrow.firmware.config import validate
    from furrow.firmware.fault_node import FaultNode

    _, errors = validate({"node": "soil-ob", "role": "soil", "link": "mqtt", "site": SITE,
                          "wifi": {"ssid": "farm"}, "mqtt": {"host": "gw"}, "probes": []})
    runner = MqttNodeRunner(FaultNode("soil-ob", errors), SITE, mosquitto.host, mosquitto.port,
                            root=mqtt_topic_prefix, tick_s=0.05, state_dir=tmp_path)
    peer = Peer(mosquitto.host, mosquitto.port)
    peer.subscribe(topics.node_topic(SITE, "soil-ob", "status", root=mqtt_topic_prefix))
    try:
        async with running(runner):
            await until(lambda: runner.connected, "the node to connect")
            status = commands.decode_status(bytes((await peer.get(WAIT)).payload))
    finally:
        peer.close()
    assert status["state"] == "online"
    assert status["fault"] == "config: probes=[]: must be a list of 1 to 4 objects"
    assert runner.reports_made == 0
