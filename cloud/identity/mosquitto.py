"""Mosquitto's password file and ACL file, made from the registry's credentials. Pure: text in, text out.

Password hashes use the format Mosquitto 2.0 writes and reads by default
(``mosquitto_passwd -H sha512-pbkdf2``): ``$7$<iterations>$<salt b64>$<hash b64>``,
PBKDF2-HMAC-SHA512 with a 12-byte salt and a 64-byte key. The cloud stores
that hash, never the password, so it can write the broker's file without
knowing any secret. 101 iterations is Mosquitto's own default; the
passwords are 32 random bytes, so the hash does not have to slow a guesser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass

from furrow.edge.image import ROLE_CAMERA
from furrow.edge.topics import (
    GW_ACK,
    GW_BATCH,
    GW_CMD,
    GW_IMAGE,
    GW_IMAGE_RECEIPT,
    GW_PLAN,
    GW_RECEIPT,
    GW_STATUS,
    NODE_ACK,
    NODE_CMD,
    NODE_IMAGE,
    NODE_IMAGE_ACK,
    NODE_STATUS,
    NODE_UP,
    gateway_topic,
    node_filter,
    node_topic,
)

PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
KEY_BYTES = 64


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """The ``$7$`` PBKDF2-SHA512 hash of `password`, as in a Mosquitto 2.0 password file."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, KEY_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def check_password(password: str, hashed: str) -> bool:
    """Whether `password` matches a ``$7$`` hash (as the broker would decide)."""
    try:
        _, kind, iterations, salt, key = hashed.split("$")
        if kind != "7":
            return False
        want = base64.b64decode(key)
        got = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations), len(want))
    except ValueError:
        return False
    return hmac.compare_digest(want, got)


@dataclass(frozen=True, slots=True)
class Topics:
    """What one login may publish to and subscribe to (MQTT topic filters)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def as_dict(self) -> dict[str, list[str]]:
        return {"publish": list(self.publish), "subscribe": list(self.subscribe)}


def node_topics(root: str, site: str, node: str, role: str | None) -> Topics:
    """A node publishes its own readings, status and acks and reads only its own commands. Only a
    camera node (`role` edge.image.ROLE_CAMERA, canopy and trap photos alike) also publishes image
    chunks and reads their image acks: a soil probe's login has no business on the image topics,
    where a stolen one could fill the gateway's image store. `role` None (a node no longer in the
    registry) gets the plain node's topics."""
    publish, subscribe = [NODE_UP, NODE_STATUS, NODE_ACK], [NODE_CMD]
    if role == ROLE_CAMERA:
        publish.append(NODE_IMAGE)
        subscribe.append(NODE_IMAGE_ACK)
    return Topics(publish=tuple(node_topic(site, node, leaf, root) for leaf in publish),
                  subscribe=tuple(node_topic(site, node, leaf, root) for leaf in subscribe))


def gateway_topics(root: str, site: str, gateway: str) -> Topics:
    """A gateway publishes its own batches, status and acks and reads its own commands, plans and batch
    receipts (never a sibling gateway's of the same site); on the farm side it reads its site's nodes'
    readings, status, acks and image chunks and publishes their commands (relayed, or its own when offline)
    and image acks. Images (1.3) go up on their own topic and come back as image receipts."""
    own = tuple(gateway_topic(site, gateway, leaf, root) for leaf in (GW_BATCH, GW_STATUS, GW_ACK, GW_IMAGE))
    return Topics(publish=(*own, node_filter(site, NODE_CMD, root), node_filter(site, NODE_IMAGE_ACK, root)),
                  subscribe=(*(gateway_topic(site, gateway, leaf, root)
                               for leaf in (GW_CMD, GW_PLAN, GW_RECEIPT, GW_IMAGE_RECEIPT)),
                             *(node_filter(site, leaf, root) for leaf in (NODE_UP, NODE_STATUS, NODE_ACK, NODE_IMAGE))))


def service_topics(root: str) -> Topics:
    """The cloud's own login: every site."""
    return Topics(publish=(f"{root}/#",), subscribe=(f"{root}/#",))


@dataclass(frozen=True, slots=True)
class BrokerLogin:
    """One line of the password file and one `user` block of the ACL file."""

    username: str
    password_hash: str
    topics: Topics


def _check_username(name: str) -> str:
    # The files are line-based and ':' separates user from hash: refuse
    # anything that could add a line or a field.
    if not name or any(c in name for c in ":\n\r\t ") or len(name) > 80:
        raise ValueError(f"username {name!r} cannot go in a Mosquitto password file")
    return name


def password_file(logins: Iterable[BrokerLogin]) -> str:
    """The ``password_file`` text: ``username:$7$...`` per login, sorted."""
    lines = [f"{_check_username(x.username)}:{x.password_hash}" for x in sorted(logins, key=lambda x: x.username)]
    return "".join(line + "\n" for line in lines)


def acl_file(logins: Iterable[BrokerLogin]) -> str:
    """The ``acl_file`` text. Nothing is granted outside a ``user`` block, so an anonymous
    client (if the listener lets one in at all) may do nothing."""
    out = ["# Generated by `furrow broker config` from the Furrow registry: do not edit,",
           "# regenerate (and send the broker SIGHUP) after issuing, rotating or revoking credentials.", ""]
    for login in sorted(logins, key=lambda x: x.username):
        out.append(f"user {_check_username(login.username)}")
        both = set(login.topics.publish) & set(login.topics.subscribe)
        for topic in login.topics.publish:
            out.append(f"topic {'readwrite' if topic in both else 'write'} {topic}")
        for topic in login.topics.subscribe:
            if topic not in both:
                out.append(f"topic read {topic}")
        out.append("")
    return "\n".join(out)


@dataclass(frozen=True, slots=True)
class Listener:
    """One Mosquitto listener: a port, the address it binds (None: every interface), and
    optionally a server certificate and a CA that client certificates must chain to."""

    port: int
    host: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    client_cafile: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"listener port {self.port} is not 1-65535")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("a listener's certfile and keyfile go together")
        if self.client_cafile is not None and self.certfile is None:
            raise ValueError("client certificates need TLS: give the listener a certfile and keyfile")
        for value in (self.host, self.certfile, self.keyfile, self.client_cafile):
            if value is not None and (not value or any(c in value for c in "\n\r")):
                raise ValueError(f"{value!r} cannot go in a mosquitto.conf line")

    @classmethod
    def parse(cls, text: str) -> Listener:
        """``PORT`` or ``HOST:PORT`` (``[::1]:PORT`` for an IPv6 address)."""
        host, sep, port = text.rpartition(":")
        if not port.isdigit():
            raise ValueError(f"listener {text!r}: want PORT or HOST:PORT")
        host = host.removeprefix("[").removesuffix("]") if sep else ""
        return cls(int(port), host or None)

    def lines(self) -> list[str]:
        out = [f"listener {self.port}" + (f" {self.host}" if self.host else "")]
        if self.certfile is not None:
            out += [f"certfile {self.certfile}", f"keyfile {self.keyfile}"]
        if self.client_cafile is not None:
            out += [f"cafile {self.client_cafile}", "require_certificate true"]
        return out


def conf_snippet(devices: Listener, password_path: str, acl_path: str,
                 service: Listener | None = None, service_password_path: str = "",
                 service_acl_path: str = "") -> str:
    """The mosquitto.conf lines of Furrow's listeners (include it from the main config; it
    defines the listeners, so the main config should define none of its own).

    On the devices' listener the broker replaces every client id with the login's username
    (``use_username_as_clientid``): a device can only ever open or take over its own session,
    never a gateway's or another node's, and a persistent session stays its own across
    reconnects. The cloud's workers log in on a listener of their own, which only the service
    login may use: there they choose their client ids, so several workers can share the one
    login (each with its own id, and ``$share`` subscriptions) without knocking each other off.
    """
    out = [
        "# Generated by `furrow broker config` from the Furrow registry: do not edit, regenerate.",
        "# Logins are per listener: each listener below has its own password and ACL file.",
        "per_listener_settings true",
        "",
        "# Nodes and gateways: the client id is the login, so no login can take over another's session.",
        *devices.lines(),
        "use_username_as_clientid true",
        "allow_anonymous false",
        f"password_file {password_path}",
        f"acl_file {acl_path}",
    ]
    if service is not None:
        out += [
            "",
            "# The cloud's ingest workers: only the service login, each worker with its own client id.",
            "# Keep it off the devices' network (loopback or the cloud's private network).",
            *service.lines(),
            "allow_anonymous false",
            f"password_file {service_password_path}",
            f"acl_file {service_acl_path}",
        ]
    return "\n".join(out) + "\n"
