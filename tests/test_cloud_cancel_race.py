"""A command cancelled while its publish still waits on the broker is followed by its cancel."""

from __future__ import annotations

import asyncio
import os
import signal

import aiomqtt
import pytest

from furrow.edge.batch import encode_batch
from furrow.edge.commands import decode_command
from furrow.edge.topics import gateway_topic
from tests.cloud_support import WAIT, batch_of, eventually, item, local_settings, running_app, soil_uplink
from tests.servers import MosquittoServer

pytestmark = pytest.mark.mosquitto


async def test_a_cancel_during_the_publish_sends_the_cancel_after_it(tmp_path, mqtt_topic_prefix):
    """The broker frozen (SIGSTOP) holds the open command's PUBACK; a cancel meanwhile cannot stop the
    publish, so the command is "cancelling" and, once the broker resumes, its gateway gets the open and
    then the contract's cancel of the same id (which the controller answers "cancelled")."""
    root = mqtt_topic_prefix
    broker = MosquittoServer()
    broker.start()
    try:
        settings = local_settings(tmp_path, mqtt_enabled=True, mqtt_host=broker.host, mqtt_port=broker.port,
                                  topic_root=root, mqtt_reconnect_max_s=0.5)
        async with running_app(settings) as client:
            worker = client.app.state.services.worker
            await asyncio.wait_for(worker.ready.wait(), WAIT)
            gw = aiomqtt.Client(broker.host, broker.port)  # the gateway: routes soil-01 via gw-1, takes commands
            await gw.__aenter__()
            await gw.subscribe(gateway_topic("demo", "gw-1", "cmd", root), qos=1)
            await gw.publish(gateway_topic("demo", "gw-1", "batch", root),
                             encode_batch(batch_of([item(soil_uplink(seq=1))])), qos=1)

            async def routed() -> bool:
                return any(n["node"] == "soil-01" for n in (await client.get("/api/v1/nodes")).json())

            await eventually(routed, "soil-01 routed through gw-1")
            assert broker.pid is not None
            os.kill(broker.pid, signal.SIGSTOP)
            try:
                opening = asyncio.create_task(
                    client.post("/api/v1/commands", json={"node": "soil-01", "valve": 1, "duration_s": 60}))

                async def publishing() -> bool:
                    return bool(client.app.state.services.commands.sender.sending)

                await eventually(publishing, "the open command's publish to be waiting on the broker")
                (cmd_id,) = client.app.state.services.commands.sender.sending
                r = await client.post(f"/api/v1/commands/{cmd_id}/cancel", json={"reason": "changed my mind"})
                assert r.status_code == 200 and r.json()["state"] == "cancelling"
            finally:
                os.kill(broker.pid, signal.SIGCONT)
            assert (await opening).status_code == 201
            got = []
            async with asyncio.timeout(WAIT):
                async for message in gw.messages:
                    got.append(decode_command(bytes(message.payload)))
                    if len(got) == 2:
                        break
            await gw.__aexit__(None, None, None)
            assert [(c["id"], c["action"]) for c in got] == [(cmd_id, "open"), (cmd_id, "cancel")]
            assert got[1]["duration_s"] is None and got[1]["max_runtime_s"] is None  # a cancel runs nothing
            assert (await client.get(f"/api/v1/commands/{cmd_id}")).json()["state"] == "cancelling"
            assert [c for c in (await client.get("/api/v1/commands")).json() if c["action"] == "close"] == []
    finally:
        broker.stop()
