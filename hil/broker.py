"""The embedded MQTT broker (amqtt) that lets the demo run with nothing installed.

It is for one machine and a newcomer's first run. Tests, and any real farm,
use Mosquitto; the embedded broker speaks MQTT 3.1.1 only, so it has no
shared subscriptions.
"""

from __future__ import annotations

import logging
import socket
import warnings

from amqtt.broker import Broker


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now. SO_REUSEADDR as the servers set it
    (uvicorn, asyncio, amqtt): a connection of a server that just stopped lingers in TIME_WAIT
    for a minute, and without the option it would count as a server still running."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class EmbeddedBroker:
    """An in-process MQTT broker on host:port, anonymous, loopback only."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host, self.port = host, port
        self._broker: Broker | None = None
        self._config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "sys_interval": 0,
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        # amqtt logs every connect and subscribe at INFO: too chatty for a demo log.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)

    async def start(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self._broker = Broker(self._config)  # binds to the running loop
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
