"""The farm gateway: sources -> decode/validate -> durable buffer -> cloud link.

Nodes reach it over MQTT (MqttSource) or Modbus (ModbusPoller); every reading
is committed to the DurableBuffer before anyone is told it arrived, bad input
is quarantined with its reason, and the Forwarder sends batches to the cloud,
deleting rows only after the cloud broker acknowledged them. The CommandRelay
carries irrigation commands down and node acks up. See gateway/README.md.
"""

from .app import Gateway, main
from .buffer import DurableBuffer, Item, Quarantined
from .config import BrokerConfig, ConfigError, GatewayConfig, ModbusDeviceConfig, load_config

__all__ = [
    "BrokerConfig",
    "ConfigError",
    "DurableBuffer",
    "Gateway",
    "GatewayConfig",
    "Item",
    "ModbusDeviceConfig",
    "Quarantined",
    "load_config",
    "main",
]
