"""The HTTP API in-process: ingest and read back, commands and their lifecycle via acks."""

from __future__ import annotations

import pytest

from furrow.cloud.auth import Role
from furrow.cloud.commands import AckOutcome, CommandState, moves_forward
from furrow.edge.batch import make_batch
from furrow.edge.commands import make_ack
from furrow.edge.payload import make_reading, make_uplink
from tests.cloud_support import T0, batch_of, item, local_settings, problem, running_app, soil_uplink


@pytest.fixture
async def client(tmp_path):
    async with running_app(local_settings(tmp_path)) as c:
        yield c


def irrigation_batch(node: str = "irr-01", gateway: str = "gw-1") -> dict:
    up = make_uplink(node, "irrigation", 1, T0, [make_reading("valve_open", 0, channel=1)],
                     "0.1.0")
    return make_batch("demo", gateway, "gw-1-irr", T0, [item(up)])


async def test_ingest_then_read_back_through_every_read_route(client):
    """A batch posted to /ingest/batch comes back from /readings, /nodes, /latest and /stats."""
    items = [item(soil_uplink(seq=1)), item(soil_uplink(seq=2, ts_ms=T0 + 60_000, vwc=24.0))]
    r = await client.post("/api/v1/ingest/batch", json=batch_of(items))
    assert r.status_code == 200
    assert r.json() == {"batch_id": "gw-1-000001", "status": "stored", "accepted": 2, "readings": 4, "stored": 4,
                        "rejected": [], "gaps": 0, "fixes": 0}

    r = await client.get("/api/v1/readings", params={
        "node": "soil-01", "measurement": "vwc_pct",
        "start": "2026-01-01T00:00:00Z", "end": str(T0 + 3_600_000)})
    assert r.status_code == 200
    assert [(x["seq"], x["value"], x["depth_cm"], x["unit"]) for x in r.json()] == [
        (1, 23.4, 10, "%"), (2, 24.0, 10, "%")]

    r = await client.get("/api/v1/nodes/soil-01/latest")
    assert [(x["measurement"], x["seq"]) for x in r.json()] == [("soil_temp_c", 2), ("vwc_pct", 2)]
    r = await client.get("/api/v1/nodes")
    assert [(x["node"], x["site"], x["gateway"]) for x in r.json()] == [("soil-01", "demo", "gw-1")]
    r = await client.get("/api/v1/stats")
    assert r.json()["readings_stored"] == 4


async def test_ingest_reports_bad_items_and_keeps_the_good(client):
    """The HTTP answer lists each bad item with index, field, value and reason."""
    bad = item(soil_uplink(seq=2))
    bad["readings"][0]["name"] = "moisture"
    r = await client.post("/api/v1/ingest/batch", json=batch_of([item(soil_uplink()), bad]))
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1
    assert body["rejected"] == [{"index": 1, "field": "items.1.readings.0.name",
                                 "value": "moisture", "reason": "unknown measurement"}]


async def test_a_bad_envelope_answers_422_with_field_value_and_reason(client):
    """A batch whose envelope breaks the contract gets 422 naming the field and value."""
    batch = batch_of([item(soil_uplink())])
    batch["v"] = "2.0"
    r = await client.post("/api/v1/ingest/batch", json=batch)
    assert r.status_code == 422
    detail = problem(r)
    assert (detail["field"], detail["value"]) == ("v", "2.0")
    assert "major version" in detail["reason"]
    r = await client.post("/api/v1/ingest/batch", content=b"[1, 2")
    assert r.status_code == 422 and problem(r)["field"] == "batch"


async def test_readings_query_parameters_are_checked(client):
    """An unknown measurement, a bad instant or an empty window is a 422 naming the parameter."""
    r = await client.get("/api/v1/readings", params={"measurement": "moisture"})
    assert r.status_code == 422 and problem(r)["field"] == "measurement"
    r = await client.get("/api/v1/readings", params={"start": "yesterday"})
    assert r.status_code == 422 and problem(r)["field"] == "start"
    r = await client.get("/api/v1/readings", params={"start": str(T0), "end": str(T0)})
    assert r.status_code == 422 and problem(r)["field"] == "start"
    r = await client.get("/api/v1/readings", params={"node": "Soil 01"})
    assert r.status_code == 422 and problem(r)["field"] == "node"


async def test_create_command_routes_it_through_the_nodes_gateway(client):
    """A command for a node that reported is created (201), routed to its gateway, with history."""
    await client.post("/api/v1/ingest/batch", json=irrigation_batch(gateway="gw-7"))
    r = await client.post("/api/v1/commands", json={
        "node": "irr-01", "valve": 1, "duration_s": 600,
        "not_before": "2026-01-01T05:00:00Z", "ttl_s": 3600})
    assert r.status_code == 201, r.text
    cmd = r.json()
    assert (cmd["site"], cmd["gateway"], cmd["state"]) == ("demo", "gw-7", "created")
    assert cmd["id"].startswith("c-")
    assert cmd["not_before_ms"] == T0 + 5 * 3_600_000
    assert cmd["expires_ms"] == cmd["not_before_ms"] + 3_600_000
    assert cmd["max_runtime_s"] == 3600  # the settings' default
    assert [e["state"] for e in cmd["events"]] == ["created"]
    r = await client.get(f"/api/v1/commands/{cmd['id']}")
    assert r.status_code == 200 and r.json() == cmd
    r = await client.get("/api/v1/commands", params={"node": "irr-01"})
    assert [c["id"] for c in r.json()] == [cmd["id"]]
    assert (await client.get("/api/v1/commands/c-nope")).status_code == 404


async def test_command_for_a_node_never_heard_is_409(client):
    """A node that never reported through a gateway cannot be routed: 409 says so."""
    r = await client.post("/api/v1/commands", json={"node": "irr-99", "valve": 1,
                                                    "duration_s": 60})
    assert r.status_code == 409
    assert "never reported through a gateway" in problem(r)["reason"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"node": "irr-01", "valve": 99, "duration_s": 60}, "valve"),
        ({"node": "irr-01", "valve": 1}, "duration_s"),
        ({"node": "irr-01", "valve": 1, "duration_s": 7200}, "duration_s"),
        ({"node": "irr-01", "valve": 1, "duration_s": 60, "max_runtime_s": 0}, "max_runtime_s"),
        ({"node": "IRR 01", "valve": 1, "duration_s": 60}, "node"),
        ({"node": "irr-01", "valve": 1, "duration_s": 60, "not_before": "soon"}, "not_before"),
    ],
)
async def test_invalid_command_is_422_naming_the_field(client, body, field):
    """A command that breaks the contract is refused with 422 naming the offending field."""
    await client.post("/api/v1/ingest/batch", json=irrigation_batch())
    r = await client.post("/api/v1/commands", json=body)
    assert r.status_code == 422
    assert problem(r)["field"] == field


async def test_request_schema_errors_are_422_naming_the_field(client):
    """A body of the wrong shape is refused by the request model, naming the field."""
    r = await client.post("/api/v1/commands", json={"node": "irr-01", "valve": "one"})
    assert r.status_code == 422
    assert problem(r)["field"] == "valve"
    r = await client.post("/api/v1/commands", json={"node": "irr-01", "valve": 1, "ttl_s": 0})
    assert r.status_code == 422 and problem(r)["field"] == "ttl_s"


async def _command(client) -> dict:
    await client.post("/api/v1/ingest/batch", json=irrigation_batch())
    r = await client.post("/api/v1/commands", json={"node": "irr-01", "valve": 1,
                                                    "duration_s": 600})
    return r.json()


def _ack(cmd: dict, state: str, ts_ms: int, **kw) -> dict:
    return make_ack(cmd["id"], cmd["node"], state, ts_ms, **kw)


async def test_acks_walk_a_command_through_its_lifecycle(client):
    """received, started, completed move the command forward and fill runtime and volume."""
    cmd = await _command(client)
    commands = client.app.state.services.commands
    for i, state in enumerate(["received", "started"]):
        assert await commands.apply_ack(_ack(cmd, state, T0 + i)) is AckOutcome.APPLIED
    done = _ack(cmd, "completed", T0 + 600_000, runtime_s=600, volume_l=412.5)
    assert await commands.apply_ack(done) is AckOutcome.APPLIED
    got = (await client.get(f"/api/v1/commands/{cmd['id']}")).json()
    assert (got["state"], got["runtime_s"], got["volume_l"]) == ("completed", 600, 412.5)
    assert [e["state"] for e in got["events"]] == ["created", "received", "started", "completed"]
    assert (await client.get("/api/v1/stats")).json()["commands"] == {"completed": 1}


async def test_out_of_order_and_duplicate_acks_never_move_a_command_backwards(client):
    """A late ack is kept in the history but the final state stays; the same ack twice adds nothing."""
    cmd = await _command(client)
    commands = client.app.state.services.commands
    aborted = _ack(cmd, "aborted", T0 + 300, runtime_s=120, reason="max runtime")
    assert await commands.apply_ack(aborted) is AckOutcome.APPLIED
    assert await commands.apply_ack(_ack(cmd, "started", T0 + 100)) is AckOutcome.LATE
    assert await commands.apply_ack(_ack(cmd, "completed", T0 + 400)) is AckOutcome.LATE
    assert await commands.apply_ack(aborted) is AckOutcome.DUPLICATE
    assert await commands.apply_ack(_ack(cmd, "started", T0 + 100)) is AckOutcome.DUPLICATE
    got = (await client.get(f"/api/v1/commands/{cmd['id']}")).json()
    assert (got["state"], got["runtime_s"], got["reason"]) == ("aborted", 120, "max runtime")
    assert [e["state"] for e in got["events"]] == ["created", "aborted", "started", "completed"]


async def test_acks_for_unknown_commands_or_other_nodes_are_counted_and_ignored(client):
    """An ack for an unknown id, or naming another node, changes nothing and is counted."""
    cmd = await _command(client)
    commands = client.app.state.services.commands
    stranger = make_ack("c-unknown", "irr-01", "completed", T0)
    assert await commands.apply_ack(stranger) is AckOutcome.UNKNOWN_COMMAND
    wrong = make_ack(cmd["id"], "irr-02", "completed", T0)
    assert await commands.apply_ack(wrong) is AckOutcome.WRONG_NODE
    got = (await client.get(f"/api/v1/commands/{cmd['id']}")).json()
    assert got["state"] == "created"
    acks = (await client.get("/api/v1/stats")).json()["acks"]
    assert acks == {"unknown_command": 1, "wrong_node": 1}


async def test_https_acks_are_bound_to_the_gateway_the_command_went_through(client):
    """A gateway token may ack only commands routed through its own gateway: another gateway's
    ack is 403 naming the command and changes nothing; the right gateway and admin are heard."""
    cmd = await _command(client)  # routed through demo/gw-1
    tokens = client.app.state.services.tokens

    async def as_gateway(name: str) -> dict:
        return {"Authorization": f"Bearer {(await tokens.issue(name, Role.GATEWAY, 1)).token}"}

    other, own = await as_gateway("demo.gw-2"), await as_gateway("demo.gw-1")
    r = await client.post("/api/v1/commands/acks", json=_ack(cmd, "received", T0), headers=other)
    assert r.status_code == 403
    assert problem(r)["value"] == cmd["id"] and "demo/gw-2" in problem(r)["reason"]
    got = (await client.get(f"/api/v1/commands/{cmd['id']}")).json()
    assert [e["state"] for e in got["events"]] == ["created"]

    r = await client.post("/api/v1/commands/acks", json=_ack(cmd, "received", T0), headers=own)
    assert (r.status_code, r.json()) == (200, {"outcome": "applied"})
    r = await client.post("/api/v1/commands/acks", json=_ack(cmd, "started", T0 + 1))  # admin
    assert (r.status_code, r.json()) == (200, {"outcome": "applied"})
    got = (await client.get(f"/api/v1/commands/{cmd['id']}")).json()
    assert [e["state"] for e in got["events"]] == ["created", "received", "started"]

    site_only = await as_gateway("demo")  # not <site>.<gateway>: cannot be checked, refused
    r = await client.post("/api/v1/commands/acks", json=_ack(cmd, "completed", T0 + 2), headers=site_only)
    assert r.status_code == 403


def test_lifecycle_only_moves_forward_and_final_states_are_final():
    """The pure rule: forward moves only, nothing leaves a final state."""
    assert moves_forward("created", "sent") and moves_forward("sent", "completed")
    assert moves_forward("received", "started") and not moves_forward("started", "received")
    for final in ("completed", "aborted", "rejected", "expired", "cancelled"):
        for state in CommandState:
            assert not moves_forward(final, state)


async def test_health_and_openapi_document_the_service(client):
    """/health reports the backends; the OpenAPI document carries the request examples."""
    r = await client.get("/api/v1/health")
    health = r.json()
    assert {k: health[k] for k in ("status", "storage", "mqtt", "cluster")} == {
        "status": "ok", "storage": "sqlite", "mqtt": "disabled", "cluster": "single"}
    assert len(health["instance"]) == 12
    spec = (await client.get("/openapi.json")).json()
    assert spec["components"]["schemas"]["CommandCreate"]["examples"]
    body = spec["paths"]["/api/v1/ingest/batch"]["post"]["requestBody"]
    assert body["content"]["application/json"]["example"]["items"]


async def test_a_command_never_sent_is_cancelled_or_expired_without_a_close(client):
    """Unsent commands (no broker) cancel or expire in the cloud alone; expired ones are never sent."""
    commands = client.app.state.services.commands
    cmd = await _command(client)
    r = await client.post(f"/api/v1/commands/{cmd['id']}/cancel", json={"reason": "changed plan"})
    assert (r.status_code, r.json()["state"]) == (200, "cancelled")
    assert r.json()["reason"] == "cancelled by person:bootstrap-admin: changed plan"
    assert [c["action"] for c in (await client.get("/api/v1/commands")).json()] == ["open"]

    late = await _command(client)
    assert await commands.expire_due(now_ms=late["expires_ms"] - 1) == 0
    assert await commands.expire_due(now_ms=late["expires_ms"]) == 1
    assert await commands.expire_due(now_ms=late["expires_ms"] + 1) == 0
    got = (await client.get(f"/api/v1/commands/{late['id']}")).json()
    assert [e["state"] for e in got["events"]] == ["created", "expired"]
    assert await commands.sender.dispatch_pending(now_ms=late["expires_ms"] + 1) == 0
    assert (await client.post(f"/api/v1/commands/{late['id']}/cancel")).status_code == 409
    assert (await client.post("/api/v1/commands/c-nope/cancel")).status_code == 404
