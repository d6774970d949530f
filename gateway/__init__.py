"""The farm gateway: sources -> decode/validate -> durable buffer -> cloud link.

Nodes reach it over MQTT (MqttSource) or Modbus (ModbusPoller); every reading
is committed to the DurableBuffer before anyone is told it arrived, bad input
is quarantined with its reason, and the Forwarder sends batches to the cloud,
deleting rows only after the cloud broker acknowledged them. The CommandRelay
carries irrigation commands down and node acks up; its decisions (RelayCore)
and the offline autonomy (PlanKeeper, Heartbeats) run without I/O on any
clock. See gateway/README.md and docs/gateway.md.
"""

from .app import Gateway, main
from .autonomy import Heartbeats, PlanKeeper, validate_plan
from .buffer import DurableBuffer, Item, Quarantined
from .command_auth import CommandAuth, Refusal, SeenIds, load_trusted_keys
from .config import BrokerConfig, ConfigError, Framing, GatewayConfig, ModbusDeviceConfig, load_config
from .forwarder import Forwarder, HttpsForwarder
from .modbus import ModbusPoller
from .mqtt_source import MqttSource
from .quality import QualityChecker
from .relay import CommandRelay
from .relay_core import NodeCommand, Out, RelayCore

__all__ = [
    "BrokerConfig",
    "CommandAuth",
    "CommandRelay",
    "ConfigError",
    "DurableBuffer",
    "Forwarder",
    "Framing",
    "Gateway",
    "GatewayConfig",
    "Heartbeats",
    "HttpsForwarder",
    "Item",
    "ModbusDeviceConfig",
    "ModbusPoller",
    "MqttSource",
    "NodeCommand",
    "Out",
    "PlanKeeper",
    "QualityChecker",
    "Quarantined",
    "Refusal",
    "RelayCore",
    "SeenIds",
    "load_config",
    "load_trusted_keys",
    "main",
    "validate_plan",
]
