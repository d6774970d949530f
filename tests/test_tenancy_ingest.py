"""Organisations at ingest (issue 21): a batch's items naming a node registered to another organisation
than the batch's site are rejected one by one (field `node`), through HTTP (plain and zlib-compressed,
as an admin token of the other organisation would post) and through the MQTT worker; the rest is stored."""

from __future__ import annotations

import asyncio
import json
import zlib

import aiomqtt
import pytest

from furrow.cloud.auth import Role
from furrow.cloud.tenancy import ingest_guard
from furrow.cloud.tenancy.organisations import OrganisationNew, create_organisation
from furrow.edge.batch import decode_receipt, encode_batch
from furrow.edge.topics import gateway_filter, gateway_topic
from tests.cloud_support import T0, WAIT, batch_of, item, local_settings, problem, running_app, soil_uplink
from tests.test_tenancy import farm

WINDOW = f"start={T0 - 1000}&end={T0 + 86_400_000}"


async def two_farms(c) -> dict[str, dict]:  # noqa: ANN001
    """Organisations org-a and org-b, each with a registered site, field, zone and soil node; B has stored
    one reading batch of its own. Each farm's admin headers."""
    services = c.app.state.services
    out = {}
    for p in ("a", "b"):
        await services.db.run(lambda s, p=p: create_organisation(s, OrganisationNew(id=f"org-{p}", name=p.upper())))
        token = (await services.tokens.issue(f"{p}-admin", Role.ADMIN, 1, organisation=f"org-{p}")).token
        out[p] = {"Authorization": f"Bearer {token}"}
        for path, body in farm(p, p.upper(), "")[:4]:
            r = await c.post(f"/api/v1/registry/{path}", json=body, headers=out[p])
            assert r.status_code == 201, (path, r.text)
    r = await c.post("/api/v1/ingest/batch", headers=out["b"], json=batch_of(
        [item(soil_uplink("b-soil", 1, vwc=30.0))], site="b-site", batch_id="b-1"))
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    return out


async def readings(c, headers: dict, node: str) -> list:  # noqa: ANN001
    r = await c.get(f"/api/v1/readings?node={node}&{WINDOW}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def mixed(batch_id: str, seq: int) -> dict:
    """A's site's batch: A's node, B's node (the intruder), A's node again."""
    return batch_of([item(soil_uplink("a-soil", seq, ts_ms=T0 + seq)),
                     item(soil_uplink("b-soil", seq, ts_ms=T0 + seq, vwc=99.0)),
                     item(soil_uplink("a-soil", seq + 1, ts_ms=T0 + seq + 1))], site="a-site", batch_id=batch_id)


async def test_an_admin_of_one_organisation_cannot_write_another_organisations_node(tmp_path):
    async with running_app(local_settings(tmp_path)) as c:
        h = await two_farms(c)
        before = await readings(c, h["b"], "b-soil")
        assert [x["value"] for x in before if x["measurement"] == "vwc_pct"] == [30.0]
        for n, compress in ((10, False), (20, True)):
            raw = json.dumps(mixed(f"a-{n}", n)).encode()
            r = await c.post("/api/v1/ingest/batch", content=zlib.compress(raw) if compress else raw,
                             headers={**h["a"], "content-type": "application/json"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert (body["status"], body["accepted"]) == ("stored", 2), body
            assert body["rejected"] == [{"index": 1, "field": "node", "value": "b-soil",
                                         "reason": "node belongs to another organisation than site a-site"}]
        assert await readings(c, h["b"], "b-soil") == before  # B's node untouched
        assert sorted({x["seq"] for x in await readings(c, h["a"], "a-soil")}) == [10, 11, 20, 21]
        # A's admin naming B's site: refused as a site that does not exist, compressed or not
        for compress in (False, True):
            raw = json.dumps(batch_of([item(soil_uplink("b-soil", 40, vwc=1.0))], site="b-site",
                                      batch_id="a-40")).encode()
            r = await c.post("/api/v1/ingest/batch", content=zlib.compress(raw) if compress else raw,
                             headers={**h["a"], "content-type": "application/json"})
            assert r.status_code == 422, r.text
            assert problem(r) == {"field": "site", "value": "b-site", "reason": "no site with this id"}
        assert await readings(c, h["b"], "b-soil") == before
        # a node nobody registered is accepted as before; once B registers it, at once (not after the
        # owners' second in memory) it is B's and A's site can no longer write it
        for seq, kept in ((50, 1), (51, 0)):
            r = await c.post("/api/v1/ingest/batch", headers=h["a"], json=batch_of(
                [item(soil_uplink("b-new", seq, ts_ms=T0 + seq))], site="a-site", batch_id=f"a-{seq}"))
            assert r.status_code == 200 and r.json()["accepted"] == kept, r.text
            if kept:
                r = await c.post("/api/v1/registry/nodes", headers=h["b"],
                                 json={"id": "b-new", "role": "soil", "zone_id": "b-zone", "depths_cm": [10]})
                assert r.status_code == 201, r.text


async def test_an_install_of_one_organisation_never_asks_who_owns_a_node(tmp_path):
    """The single-organisation shortcut: ingest costs no owner query, and an unregistered node is stored."""
    async with running_app(local_settings(tmp_path)) as c:
        r = await c.post("/api/v1/ingest/batch", json=batch_of([item(soil_uplink("soil-01", 1))]))
        assert r.status_code == 200 and r.json()["accepted"] == 1 and r.json()["rejected"] == [], r.text
        assert ingest_guard(c.app.state.services.db).queries == 0


@pytest.mark.mosquitto
async def test_a_gateway_over_mqtt_cannot_write_another_organisations_node(tmp_path, mosquitto, mqtt_topic_prefix):
    settings = local_settings(tmp_path, mqtt_enabled=True, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port,
                              topic_root=mqtt_topic_prefix, mqtt_reconnect_max_s=0.5)
    async with running_app(settings) as c:
        h = await two_farms(c)
        before = await readings(c, h["b"], "b-soil")
        await asyncio.wait_for(c.app.state.services.worker.ready.wait(), WAIT)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gw:
            await gw.subscribe(gateway_filter("a-site", "receipt", mqtt_topic_prefix), qos=1)
            raw = encode_batch(mixed("a-mqtt", 10))
            await gw.publish(gateway_topic("a-site", "gw-1", "batch", mqtt_topic_prefix), zlib.compress(raw), qos=1)
            async with asyncio.timeout(WAIT):
                async for message in gw.messages:
                    got = decode_receipt(bytes(message.payload))
                    break
        assert (got["batch_id"], got["status"], got["items"], got["rejected"]) == ("a-mqtt", "stored", 2, 1)
        assert await readings(c, h["b"], "b-soil") == before
        assert sorted({x["seq"] for x in await readings(c, h["a"], "a-soil")}) == [10, 11]
