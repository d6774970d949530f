"""Node routes: a changed route is in the database at once; a sighting that changes only when the
node was heard and its health is written behind, and every instance still agrees on the newest."""

from __future__ import annotations

import asyncio

import pytest

from furrow.cloud.db import Database
from furrow.cloud.node_routes import Health, NodeRoutes
from tests.cloud_support import T0, eventually


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'furrow.db'}")
    database.create_all()
    try:
        yield database
    finally:
        database.dispose()


async def _seen(routes: NodeRoutes, node: str) -> tuple[str, int, int | None] | None:
    route = await routes.get(node)
    return None if route is None else (route.gateway, route.last_seen_ms, route.seq)


async def test_an_unchanged_route_is_written_behind_and_a_changed_one_at_once(db):
    """Two instances on one database. The first sighting of a node is a statement before `record`
    returns; fifty more through the same gateway are not one statement each but one, within
    flush_s, which the other instance then reads; this instance reads its newest at once; a move
    to another gateway is in the database before `record` returns."""
    a, b = NodeRoutes(db, flush_s=0.3), NodeRoutes(db, flush_s=0.3)
    try:
        await a.record("farm", "gw-1", {"soil-1": T0}, {"soil-1": Health(1, "0.1.0", 3.7, -60)})
        assert a.statements == 1
        assert await _seen(b, "soil-1") == ("gw-1", T0, 1)
        for seq in range(2, 52):
            await a.record("farm", "gw-1", {"soil-1": T0 + seq * 1000}, {"soil-1": Health(seq, "0.1.0", 3.7, -60)})
        assert a.statements == 1  # none of the fifty waited for a statement
        assert await _seen(b, "soil-1") == ("gw-1", T0, 1)  # not written yet
        await eventually(lambda: _is(b, "soil-1", ("gw-1", T0 + 51_000, 51)), "the newest sighting written behind")
        assert a.statements == 2
        await a.record("farm", "gw-1", {"soil-1": T0 + 52_000}, {"soil-1": Health(52, "0.1.0", 3.7, -60)})
        assert await _seen(a, "soil-1") == ("gw-1", T0 + 52_000, 52)  # its own readers write what waits first
        await a.record("farm", "gw-2", {"soil-1": T0 + 53_000}, {"soil-1": Health(53, "0.1.0", 3.7, -60)})
        assert await _seen(b, "soil-1") == ("gw-2", T0 + 53_000, 53)  # moved: at once, on every instance
    finally:
        await a.close()
        await b.close()


async def test_instances_hearing_a_node_through_two_gateways_agree_on_the_newest(db):
    """Each instance has recorded the node through its own gateway; their sightings written behind
    leave the newest in the database whichever is written last, and an older one never moves it back."""
    a, b = NodeRoutes(db, flush_s=3600), NodeRoutes(db, flush_s=3600)
    try:
        await a.record("farm", "gw-1", {"soil-1": T0})
        await b.record("farm", "gw-2", {"soil-1": T0 + 1000})
        await b.record("farm", "gw-2", {"soil-1": T0 + 3000})  # behind, on b
        await a.record("farm", "gw-1", {"soil-1": T0 + 2000})  # behind, on a
        await b.flush()
        await a.flush()  # older than b's: outvoted in the database
        assert await _seen(a, "soil-1") == ("gw-2", T0 + 3000, None)
        assert await _seen(b, "soil-1") == ("gw-2", T0 + 3000, None)
    finally:
        await a.close()
        await b.close()


async def test_closing_writes_the_sightings_that_wait(db):
    a = NodeRoutes(db, flush_s=3600)
    await a.record("farm", "gw-1", {"soil-1": T0, "soil-2": T0})
    await a.record("farm", "gw-1", {"soil-1": T0 + 5000, "soil-2": T0 + 6000})
    await a.close()
    b = NodeRoutes(db)
    assert [(r.node, r.last_seen_ms) for r in await b.all()] == [("soil-1", T0 + 5000), ("soil-2", T0 + 6000)]


async def test_a_route_that_changes_while_another_write_of_the_node_is_under_way_is_written_at_once(db):
    """The node moves to gw-2 and back to gw-1 while the move's statement still runs: the move back
    is a change from what the database will hold, so it is in the database when `record` returns
    (not behind, as if gw-1 were still the route)."""
    a, b = NodeRoutes(db, flush_s=3600), NodeRoutes(db, flush_s=3600)
    try:
        await a.record("farm", "gw-1", {"soil-1": T0})
        moving = asyncio.create_task(a.record("farm", "gw-2", {"soil-1": T0 + 1000}))
        await asyncio.sleep(0)  # its statement under way
        await a.record("farm", "gw-1", {"soil-1": T0 + 2000})
        await moving
        assert await _seen(b, "soil-1") == ("gw-1", T0 + 2000, None)
    finally:
        await a.close()
        await b.close()


async def test_a_replayed_older_sighting_does_not_become_the_route_this_instance_believes(db):
    """gw-1 replays an old report after gw-2 heard the node: the database keeps gw-2, and so does
    the instance, so the node's next report through gw-1 is a change, written at once."""
    a, b = NodeRoutes(db, flush_s=3600), NodeRoutes(db, flush_s=3600)
    try:
        await a.record("farm", "gw-2", {"soil-1": T0 + 2000})
        await a.record("farm", "gw-1", {"soil-1": T0 + 1000})  # older: outvoted in the database
        await a.record("farm", "gw-1", {"soil-1": T0 + 3000})
        assert await _seen(b, "soil-1") == ("gw-1", T0 + 3000, None)
    finally:
        await a.close()
        await b.close()


async def test_a_change_written_at_once_carries_a_newer_sighting_that_waits(db):
    """A newer sighting through the known gateway waits behind when an older one through another
    gateway arrives (a replay): what goes in at once is the newest, so the database never holds
    the older route meanwhile."""
    a, b = NodeRoutes(db, flush_s=3600), NodeRoutes(db, flush_s=3600)
    try:
        await a.record("farm", "gw-1", {"soil-1": T0})
        await a.record("farm", "gw-1", {"soil-1": T0 + 3000})  # behind
        await a.record("farm", "gw-2", {"soil-1": T0 + 2000})  # a change, but older
        assert await _seen(b, "soil-1") == ("gw-1", T0 + 3000, None)
    finally:
        await a.close()
        await b.close()


async def test_a_reader_waits_for_the_flush_under_way(db):
    """A reader on the instance that holds sightings behind sees the newest even when the flush
    that took them is still writing (it waits for that flush, not only for what still waits)."""
    a = NodeRoutes(db, flush_s=3600)
    try:
        await a.record("farm", "gw-1", {"soil-1": T0})
        await a.record("farm", "gw-1", {"soil-1": T0 + 5000})  # behind
        flushing = asyncio.create_task(a.flush())
        await asyncio.sleep(0)  # it took what waits; its statement not yet run
        assert await _seen(a, "soil-1") == ("gw-1", T0 + 5000, None)
        await flushing
    finally:
        await a.close()


async def _is(routes: NodeRoutes, node: str, expected: tuple) -> bool:
    return await _seen(routes, node) == expected
