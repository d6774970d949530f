"""Device identity: broker credentials for every node and gateway, and the Mosquitto files made from them."""

from .credentials import GATEWAY, NODE, CredentialStore, IssuedCredentials, gateway_username
from .mosquitto import (
    BrokerLogin,
    Listener,
    Topics,
    acl_file,
    conf_snippet,
    hash_password,
    password_file,
    service_topics,
)

__all__ = [
    "GATEWAY",
    "NODE",
    "BrokerLogin",
    "CredentialStore",
    "IssuedCredentials",
    "Listener",
    "Topics",
    "acl_file",
    "conf_snippet",
    "gateway_username",
    "hash_password",
    "password_file",
    "service_topics",
]
