"""What the gateway checks at start-up about its brokers, so a setup that would lose data is
said out loud (in the log and in /health) instead of found out after the loss.

Pure: each check takes the config (and what was read from disk) and returns warnings, one
sentence each, saying what is wrong, what it costs and where the fix is documented.
"""

from __future__ import annotations

from .config import GatewayConfig


def shared_login_warnings(config: GatewayConfig) -> list[str]:
    """The farm and cloud links on one broker with one login: where `furrow broker config` binds
    client ids to logins, both connections get the same id and knock each other off."""
    farm, cloud = config.farm_broker, config.cloud_broker
    if farm.username is None or (farm.host, farm.port, farm.username) != (cloud.host, cloud.port, cloud.username):
        return []
    return [f"[farm_broker] and [cloud_broker] are one broker ({farm.host}:{farm.port}) with one login "
            f"({farm.username!r}): a broker that binds client ids to logins (furrow broker config) gives both "
            "links the same session, and they knock each other off; use a farm broker and a cloud broker "
            "(docs/gateway.md, 'The farm broker')"]
