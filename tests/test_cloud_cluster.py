"""Cloud instances on one PostgreSQL act as one: live events and gateway status are shared
(LISTEN/NOTIFY), each job runs on one instance, and its lease moves when the holder goes.

The three-instance deployment behind nginx is tests/test_cloud_cluster_nginx.py.
"""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from sqlalchemy.engine import make_url

from furrow.cloud.cluster import LocalLeases, PgLeases, PgRelay
from furrow.cloud.cluster.relay import CHANNEL, FRAME_MAX, Reassembler, channel_of, frames
from tests.cloud_support import T0, eventually, local_settings, running_app


def test_a_long_message_travels_as_frames_and_is_put_back_together():
    """A message past one NOTIFY's size is split into frames under the limit and rebuilt whole."""
    message = {"k": "event", "kind": "reading", "data": {"nodes": [{"node": f"soil-{i:03d}", "v": "x" * 40}
                                                                    for i in range(500)]}}
    framed = frames("a1", 7, message)
    assert len(framed) > 1 and all(len(f.encode()) < 8000 for f in framed)
    assembler = Reassembler()
    got = [assembler.add(f) for f in framed]
    assert got[:-1] == [None] * (len(framed) - 1) and got[-1] == ("a1", message)


def test_a_message_whose_first_frames_were_missed_is_dropped_not_half_delivered():
    """A listener that joins mid-message delivers nothing of it, and the next message whole."""
    big = {"p": "y" * (FRAME_MAX * 2)}
    assembler = Reassembler()
    assert [assembler.add(f) for f in frames("a1", 1, big)[1:]] == [None, None]
    assert assembler.add(frames("a1", 2, {"small": 1})[0]) == ("a1", {"small": 1})


async def test_local_leases_hold_every_job_on_a_single_instance():
    """SQLite, one process: every job runs there, and is counted."""
    leases = LocalLeases()
    ran = []
    assert await leases.run("planner", lambda: asyncio.sleep(0, ran.append(1)))
    assert ran == [1] and leases.runs["planner"] == 1 and leases.held() == {"planner"}


@pytest.mark.postgres
async def test_one_instance_holds_a_job_lease_until_it_goes_then_another_takes_it(pg_database):
    """Two instances: one holds the lease, the other cannot take it until the first lets go."""
    from sqlalchemy.engine import make_url

    dsn = make_url(pg_database).set(drivername="postgresql").render_as_string(hide_password=False)
    first, second = PgLeases(dsn), PgLeases(dsn)
    try:
        assert await first.holds("planner")
        assert await first.holds("planner")  # still held, not taken twice
        assert not await second.holds("planner")
        assert await second.holds("alerts")  # leases are per job
        assert not await second.run("planner", lambda: asyncio.sleep(0))
        await first.close()  # the holder's session ends, as when its process dies
        await eventually(lambda: second.holds("planner"), "the lease taken over once the server ends the session")
        assert second.held() == {"planner", "alerts"} and second.runs["planner"] == 0
    finally:
        await first.close()
        await second.close()


@pytest.mark.postgres
async def test_two_instances_on_one_postgresql_share_live_events_and_gateway_status(pg_database, tmp_path):
    """An event published on one instance reaches the other's subscribers; so does a gateway's status."""
    settings = [local_settings(tmp_path / name, database_url=pg_database) for name in ("a", "b")]
    async with running_app(settings[0]) as a:
        async with running_app(settings[1]) as b:
            sa, sb = a.app.state.services, b.app.state.services
            for client in (a, b):
                await eventually(lambda c=client: _listening(c), "both instances listening")
            assert sa.cluster.instance != sb.cluster.instance
            # each sends to the peers it has heard (a hello): once they have heard each other
            await eventually(lambda: _peers(sa, sb), "each instance heard the other's hello")
            async with sb.events.subscribe() as sub, sa.events.subscribe() as own:
                sa.events.publish("command", {"id": "c-1", "state": "sent"})
                event = await asyncio.wait_for(sub.queue.get(), 10)
                assert (event.kind, event.data) == ("command", {"id": "c-1", "state": "sent"})
                assert (await own.queue.get()).data["id"] == "c-1"  # its own subscribers once, not twice
                await asyncio.sleep(0.2)
                assert own.queue.empty()
            report = {"ts_ms": T0, "modbus": {}}
            assert await sa.gateway_status.record("farm", "gw-1", report)
            await eventually(lambda: _has_status(sb, "farm", "gw-1"), "the status on the other instance")
            assert sb.gateway_status.reports[("farm", "gw-1")][0]["ts_ms"] == T0


async def _peers(sa, sb) -> bool:
    return sb.cluster.instance in sa.cluster.relay.peers and sa.cluster.instance in sb.cluster.relay.peers


async def _listening(client) -> bool:
    return (await client.get("/api/v1/health")).json()["cluster"] == "listening"


async def _has_status(services, site: str, gateway: str) -> bool:
    return (site, gateway) in services.gateway_status.reports


def test_frames_are_ascii_json():
    """Non-ASCII text (a zh-CN alert) travels escaped, so a frame's characters are its bytes."""
    framed = frames("a1", 1, {"msg": "土壤过干"})
    assert framed[0].isascii() and json.loads(framed[0].split(" ", 4)[4]) == {"msg": "土壤过干"}


@pytest.mark.postgres
async def test_an_instance_alone_sends_nothing_and_none_hears_its_own_events(pg_database):
    """Alone, an instance's events never go out; once another has said hello they go to that one's
    own channel only, and the sender hears none of them back (a listener on every channel checks
    what went over the wire: a message sent later on the shared channel arrives, the event before
    it never does)."""
    dsn = make_url(pg_database).set(drivername="postgresql").render_as_string(hide_password=False)
    heard: dict[str, list] = {"aaaa": [], "bbbb": []}
    relays = {o: PgRelay(dsn, o, lambda origin, m, o=o: heard[o].append((origin, m)), join_s=0) for o in heard}
    relays["bbbb"]._on_listening = lambda: relays["bbbb"].send({"k": "hello", "n": 0}, shared=True)
    tasks = []
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as wire:
        for channel in (CHANNEL, channel_of("aaaa"), channel_of("bbbb")):
            await wire.execute(f'LISTEN "{channel}"')
        try:
            a, b = relays["aaaa"], relays["bbbb"]
            tasks.append(asyncio.create_task(a.run()))
            await eventually(lambda: _set(a.listening), "the first instance listening")
            a.send({"k": "event", "n": 1})
            assert a.stats["unheard"] == 1
            a.send({"k": "hello", "n": 1}, shared=True)
            got = await _notes(wire, 1)
            assert [(n.channel, n.payload) for n in got] == [(CHANNEL, frames("aaaa", 0, {"k": "hello", "n": 1})[0])]

            tasks.append(asyncio.create_task(b.run()))
            await eventually(lambda: _has(a.peers, "bbbb"), "the first instance heard the second's hello")
            a.send({"k": "event", "n": 2})
            await eventually(lambda: _has(heard, "bbbb", full=True), "the event at the second instance")
            assert heard["bbbb"] == [("aaaa", {"k": "event", "n": 2})]
            assert heard["aaaa"] == [("bbbb", {"k": "hello", "n": 0})]
            got = await _notes(wire, 2)
            assert [(n.channel, n.payload) for n in got] == [
                (CHANNEL, frames("bbbb", 0, {"k": "hello", "n": 0})[0]),
                (channel_of("bbbb"), frames("aaaa", 1, {"k": "event", "n": 2})[0])]
            assert a.stats["own_heard"] == 1  # its hello on the shared channel; never an event
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _notes(conn: psycopg.AsyncConnection, count: int) -> list:
    """The next `count` notifications `conn` hears (fewer after 10 s)."""
    return [note async for note in conn.notifies(timeout=10, stop_after=count)]


async def _set(event: asyncio.Event) -> bool:
    return event.is_set()


async def _has(container, key: str, full: bool = False) -> bool:
    return bool(container[key]) if full else key in container


@pytest.mark.postgres
async def test_while_joining_an_instance_sends_on_the_shared_channel_then_only_to_peers(pg_database):
    """For join_s after it starts listening an instance cannot know its peers yet: what it sends
    goes on the shared channel, which every instance hears; after that, with no peer heard, it
    sends nothing (a shared message sent next is the next thing on the wire)."""
    dsn = make_url(pg_database).set(drivername="postgresql").render_as_string(hide_password=False)
    now = [1000.0]
    a = PgRelay(dsn, "aaaa", lambda origin, m: None, clock=lambda: now[0], join_s=60)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as wire:
        await wire.execute(f'LISTEN "{CHANNEL}"')
        task = asyncio.create_task(a.run())
        try:
            await eventually(lambda: _set(a.listening), "listening")
            a.send({"k": "event", "n": 1})
            got = await _notes(wire, 1)
            assert [(n.channel, n.payload) for n in got] == [(CHANNEL, frames("aaaa", 0, {"k": "event", "n": 1})[0])]
            now[0] += 61  # joined: no peer heard
            a.send({"k": "event", "n": 2})
            a.send({"k": "hello", "n": 2}, shared=True)
            got = await _notes(wire, 1)
            assert [n.payload for n in got] == [frames("aaaa", 1, {"k": "hello", "n": 2})[0]]
            assert a.stats["unheard"] == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.mark.postgres
async def test_an_idle_instance_stays_a_peer_by_saying_hello_again(pg_database, monkeypatch):
    """An instance that publishes nothing is still sent to long after it joined: its hellos every
    BEAT_S keep it among the peers (PEER_TTL_S, here shortened with BEAT_S to fractions of a second)."""
    from furrow.cloud.cluster import relay as relay_module

    monkeypatch.setattr(relay_module, "BEAT_S", 0.2)
    monkeypatch.setattr(relay_module, "PEER_TTL_S", 0.6)
    dsn = make_url(pg_database).set(drivername="postgresql").render_as_string(hide_password=False)
    heard: list = []
    a = PgRelay(dsn, "aaaa", lambda origin, m: None, join_s=0, beat=lambda: {"k": "hello", "n": 0, "reply": True})
    b = PgRelay(dsn, "bbbb", lambda origin, m: heard.append((origin, m)), join_s=0,
                beat=lambda: {"k": "hello", "n": 0, "reply": True})
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        await eventually(lambda: _has(a.peers, "bbbb"), "the idle instance's first hello heard")
        await asyncio.sleep(1.5)  # two and a half times the peers' lifetime, nothing published by b
        assert a.live_peers() == ["bbbb"]
        a.send({"k": "event", "n": 1})
        await eventually(lambda: _event(heard), "the event at the idle instance")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _event(heard: list) -> bool:
    return ("aaaa", {"k": "event", "n": 1}) in heard
