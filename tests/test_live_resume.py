"""Live views lose nothing between two streams: each message's id is the client's position, and
a client that comes back with it (Last-Event-ID) is handed what was published meanwhile, by
the same instance or another on the same PostgreSQL; where that is no longer possible it is
told `lagged`, so the dashboard loads its page afresh."""

from __future__ import annotations

import json

import pytest

from furrow.cloud.events import EventBus, format_position, parse_position
from tests.cloud_support import T0, eventually, local_settings, running_app

WAIT = 60.0  # two app instances and a PostgreSQL on a loaded machine


def _messages(text: str) -> list[tuple[str | None, str, dict]]:
    """(id, event, data) of each message of an SSE body."""
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            out.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
    return out


def _reading(node: str, seq: int) -> dict:
    return {"site": "demo", "gateway": "gw-1", "nodes": [{"node": node, "seq": seq, "ts_ms": T0 + seq}]}


def test_a_position_travels_as_an_sse_id_and_garbage_is_not_one():
    """format/parse round-trip; a malformed Last-Event-ID is no position (the client reloads)."""
    position = {"a1b2c3d4e5f6": 17, "0f0f0f0f0f0f": 0}
    assert parse_position(format_position(position)) == position
    assert parse_position("") == {}
    for bad in ("a1:x", "zz:1", "a1:1,,b2:2", "a1:1\nevent: x", ",".join(f"{i:x}:1" for i in range(65))):
        assert parse_position(bad) is None, bad


def test_a_returning_client_gets_what_it_missed_and_nothing_twice():
    """Resumed at its position, a client is handed exactly the events published after it."""
    bus = EventBus()
    bus.publish("command", {"id": "c-1"})
    seen = bus.position()
    bus.publish("command", {"id": "c-2"})
    bus.publish("alert", {"id": "a-1"})
    resume = bus.resume(seen)
    assert resume.complete and resume.start == seen
    assert [e.data["id"] for e in resume.missed] == ["c-2", "a-1"]
    assert bus.resume(bus.position()).missed == []


def test_a_client_whose_events_left_the_history_or_came_from_elsewhere_is_told_to_reload():
    """Events gone from the bounded history, an origin never heard of, or a garbled id: incomplete."""
    bus = EventBus(history_size=3)
    bus.publish("command", {"id": "c-1"})
    seen = bus.position()
    for i in range(2, 6):
        bus.publish("command", {"id": f"c-{i}"})
    assert not bus.resume(seen).complete  # c-2 fell out of the history
    assert bus.resume({**bus.position()}).complete
    assert not bus.resume({**bus.position(), "abcdef012345": 3}).complete  # another instance's, unknown here
    assert not bus.resume(None).complete


def test_the_history_is_bounded_by_the_node_reports_it_holds():
    """Big reading events push the oldest out early (memory stays bounded), so resuming before them is incomplete."""
    bus = EventBus(history_size=100, history_nodes=10)
    seen = bus.position()
    for seq in range(3):
        bus.publish("reading", {"site": "demo", "gateway": "gw-1",
                                "nodes": [{"node": f"soil-{n}", "seq": seq} for n in range(4)]})
    assert not bus.resume(seen).complete  # 15 weighed more than 10: the first event went
    resume = bus.resume({bus.origin: 1})
    assert resume.complete and len(resume.missed) == 2


async def test_a_subscriber_that_does_not_read_holds_a_bounded_number_of_node_reports():
    """A stuck reader's queue drops its oldest events past `nodes_max` node reports, counted, not without bound."""
    bus = EventBus(history_nodes=10)
    async with bus.subscribe() as sub:
        for seq in range(3):
            bus.publish("reading", {"nodes": [{"node": f"soil-{n}", "seq": seq} for n in range(4)]})
        assert sub.dropped == 1 and sub.weight == 10 and sub.queue.qsize() == 2
        assert (await sub.get()).seq == 2 and sub.weight == 5


def test_events_of_another_instance_are_numbered_and_a_gap_in_them_is_reported():
    """Relayed events keep their origin's number: a duplicate is dropped, a gap makes subscribers lagged."""
    bus = EventBus()
    bus.deliver("command", {"id": "x-1"}, "abcdef012345", 1)
    seen = bus.position()
    bus.deliver("command", {"id": "x-1"}, "abcdef012345", 1)  # heard twice: handed over once
    bus.deliver("command", {"id": "x-2"}, "abcdef012345", 2)
    assert [e.data["id"] for e in bus.resume(seen).missed] == ["x-2"]
    assert bus.resume({bus.origin: 0}).complete  # an origin that began after the client did: all of it
    bus.hear("0123456789ab", 5)  # joined with five events this instance never had
    assert not bus.resume({bus.origin: 0}).complete


async def test_a_subscriber_is_told_of_events_lost_on_the_way_from_another_instance():
    """A relayed seq that skips numbers counts as dropped for every subscriber (the stream says lagged)."""
    bus = EventBus()
    async with bus.subscribe() as sub:
        bus.deliver("command", {"id": "x-1"}, "abcdef012345", 1)
        bus.deliver("command", {"id": "x-4"}, "abcdef012345", 4)
        assert sub.dropped == 2 and sub.queue.qsize() == 2


async def test_an_event_published_between_two_streams_reaches_the_client_that_comes_back(tmp_path):
    """One stream ends, a command and a reading are published, the next stream (Last-Event-ID) hands them over."""
    async with running_app(local_settings(tmp_path)) as c:
        bus = c.app.state.services.events
        bus.publish("command", {"id": "c-0", "state": "sent"})
        first = _messages((await c.get("/api/v1/events?max_events=1")).text)
        assert [k for _, k, _ in first] == ["hello"] and first[0][0]
        bus.publish("command", {"id": "c-1", "state": "acked"})  # no stream is open now
        bus.publish("reading", _reading("soil-01", 7))
        r = await c.get("/api/v1/events?max_events=3", headers={"Last-Event-ID": first[0][0]})
        second = _messages(r.text)
        assert [(k, d.get("id")) for _, k, d in second[:2]] == [("hello", None), ("command", "c-1")]
        assert second[2][1] == "reading" and second[2][2]["nodes"][0]["seq"] == 7
        again = _messages((await c.get("/api/v1/events?max_events=1", headers={"Last-Event-ID": second[2][0]})).text)
        assert [k for _, k, _ in again] == ["hello"]  # nothing handed over twice
        old = _messages((await c.get("/api/v1/events?max_events=2", headers={"Last-Event-ID": "abcdef012345:9"})).text)
        assert [k for _, k, _ in old] == ["hello", "lagged"]  # an instance gone (a restart): reload the page


@pytest.mark.postgres
async def test_a_client_that_comes_back_to_another_instance_gets_what_both_published_meanwhile(pg_database, tmp_path):
    """Behind a balancer: a stream read from A ends; A and B each publish; resumed on B, both arrive."""
    settings = [local_settings(tmp_path / name, database_url=pg_database) for name in ("a", "b")]
    async with running_app(settings[0]) as a, running_app(settings[1]) as b:
        sa, sb = a.app.state.services.events, b.app.state.services.events
        await eventually(lambda: _know_each_other(sa, sb), "each instance heard the other", WAIT)
        first = _messages((await a.get("/api/v1/events?max_events=1")).text)
        sa.publish("command", {"id": "from-a", "state": "sent"})  # between the two streams
        sb.publish("alert", {"id": "from-b"})
        await eventually(lambda: _has(sb, sa.origin, sa.seq), "A's event relayed to B", WAIT)
        second = _messages((await b.get("/api/v1/events?max_events=3", headers={"Last-Event-ID": first[0][0]})).text)
        assert second[0][1] == "hello"
        assert sorted(d["id"] for _, _, d in second[1:]) == ["from-a", "from-b"]


async def _know_each_other(a: EventBus, b: EventBus) -> bool:
    return b.origin in a.position() and a.origin in b.position()


async def _has(bus: EventBus, origin: str, seq: int) -> bool:
    return bus.position().get(origin, 0) >= seq
