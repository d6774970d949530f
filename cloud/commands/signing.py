"""Signing irrigation commands in the cloud (contract 1.1, see furrow.edge.signing).

Every command leaving the cloud is signed with Ed25519 by the newest key of
the key directory, and names the key by its id (``kid``), so gateways verify
it with the matching public key. A directory holds, per key, ``<kid>.key``
(the private key, PEM PKCS#8, mode 0600) and ``<kid>.pub`` (its public key,
PEM, what a gateway's config lists). Key ids are ``k`` + the UTC creation
time + 4 random hex digits, so the newest sorts last.

Rotation: generate a new key and give its ``.pub`` to every gateway (they
accept the old and the new kid); restart the cloud, which now signs with the
new one; once no command signed with the old one can still be valid (the
command TTL), remove the old ``.key`` here and the old kid from the gateways.

A node key (per irrigation node, hex, in a JSON file ``{"irr-01": "9f..."}``)
adds the node MAC ``nmac`` the node itself checks.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from furrow.edge.commands import validate_command
from furrow.edge.errors import ContractError
from furrow.edge.plan_signing import plan_signed_bytes
from furrow.edge.signing import node_mac, parse_node_key, signed_bytes
from furrow.edge.topics import check_id

from .._time import Clock, now_ms

log = logging.getLogger(__name__)

PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"


class SigningKeyError(ValueError):
    """A key file or directory that cannot be used; the message names the file."""


def new_kid(now_ms: int) -> str:
    """A fresh key id made at `now_ms`, sorting after every older one."""
    return "k" + datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(2)


def generate_key(directory: Path, kid: str | None = None, clock: Clock = now_ms) -> tuple[str, Path, Path]:
    """Make a new Ed25519 key pair in `directory` (its kid from `clock` unless given);
    (kid, private path, public path)."""
    kid = check_id("kid", kid or new_kid(clock()))
    directory.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    priv_path, pub_path = directory / (kid + PRIVATE_SUFFIX), directory / (kid + PUBLIC_SUFFIX)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub_path.write_bytes(public_pem(private.public_key()))
    return kid, priv_path, pub_path


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise SigningKeyError(f"{path}: not a readable PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (what ``furrow cloud keys generate`` writes)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, UnsupportedAlgorithm) as e:
        raise SigningKeyError(f"{path}: not a readable PEM public key: {e}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def load_private_keys(directory: Path) -> dict[str, Ed25519PrivateKey]:
    """Every ``<kid>.key`` of `directory`, by kid."""
    if not directory.is_dir():
        raise SigningKeyError(f"{directory}: no such key directory (make one with `furrow cloud keys generate`)")
    keys = {}
    for path in sorted(directory.glob("*" + PRIVATE_SUFFIX)):
        kid = path.name[: -len(PRIVATE_SUFFIX)]
        try:
            check_id("kid", kid)
        except ContractError as e:
            raise SigningKeyError(f"{path}: the file name is not a key id: {e.reason}") from None
        keys[kid] = load_private_key(path)
    return keys


def load_public_keys(directory: Path) -> dict[str, Ed25519PublicKey]:
    """Every ``<kid>.pub`` of `directory`, by kid: what checks what any key of it signed, including keys
    whose ``.key`` was removed after a rotation (the production records' old signed heads, cloud/trace/)."""
    if not directory.is_dir():
        raise SigningKeyError(f"{directory}: no such key directory")
    keys = {}
    for path in sorted(directory.glob("*" + PUBLIC_SUFFIX)):
        kid = path.name[: -len(PUBLIC_SUFFIX)]
        try:
            check_id("kid", kid)
        except ContractError as e:
            raise SigningKeyError(f"{path}: the file name is not a key id: {e.reason}") from None
        keys[kid] = load_public_key(path)
    return keys


def load_node_keys(path: Path) -> dict[str, bytes]:
    """Node keys from a JSON file ``{"<node>": "<hex>"}``; SigningKeyError naming the entry."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SigningKeyError(f"{path}: not a readable JSON file of node keys: {e}") from None
    if not isinstance(raw, dict):
        raise SigningKeyError(f"{path}: must be an object of node id -> hex key")
    keys = {}
    for node, value in raw.items():
        try:
            keys[check_id("node", node)] = parse_node_key(node, value)
        except ContractError as e:
            raise SigningKeyError(f"{path}: {e.field}: {e.reason}") from None
    return keys


def add_node_key(path: Path, node: str) -> str:
    """Make a random key for `node` in the node key file (replacing an older one); its hex."""
    check_id("node", node)
    keys = json.loads(path.read_text()) if path.exists() else {}
    keys[node] = secrets.token_hex(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return keys[node]


@dataclass
class CommandSigner:
    """Signs commands with one key of `keys` (the newest unless `kid` is given)
    and adds the node MAC for nodes that have a key."""

    keys: dict[str, Ed25519PrivateKey]
    kid: str
    node_keys: dict[str, bytes]
    directory: Path | None = None  # where the keys were read from (their .pub files check old signatures)

    @classmethod
    def create(cls, keys: dict[str, Ed25519PrivateKey], kid: str | None = None,
               node_keys: dict[str, bytes] | None = None) -> CommandSigner:
        if not keys:
            raise SigningKeyError("no signing key: generate one with `furrow cloud keys generate`")
        kid = kid or max(keys)
        if kid not in keys:
            raise SigningKeyError(f"signing kid {kid!r} is not among the keys ({', '.join(sorted(keys))})")
        return cls(keys=keys, kid=kid, node_keys=dict(node_keys or {}))

    def sign(self, cmd: dict[str, Any], site: str, gateway: str, issued_ms: int) -> dict[str, Any]:
        """The command bound to its gateway, with `issued_ms`, `kid`, `nmac` (if the node has a key) and `sig`."""
        out = {k: v for k, v in cmd.items() if k not in ("sig", "nmac")}
        out.update(site=site, gateway=gateway, issued_ms=issued_ms, kid=self.kid)
        node_key = self.node_keys.get(cmd["node"])
        if node_key is not None:
            out["nmac"] = node_mac(node_key, out)
        out["sig"] = self.keys[self.kid].sign(signed_bytes(out)).hex()
        return validate_command(out)

    def sign_plan(self, plan: dict[str, Any], site: str, gateway: str) -> dict[str, Any]:
        """The plan (its commands already signed) bound to its gateway, with `kid` and the envelope's `sig`
        (furrow.edge.plan_signing): a gateway keeps no plan whose id, times or command list were altered."""
        out = {k: v for k, v in plan.items() if k != "sig"}
        out.update(site=site, gateway=gateway, kid=self.kid)
        out["sig"] = self.keys[self.kid].sign(plan_signed_bytes(out)).hex()
        return out

    def sign_bytes(self, data: bytes) -> str:
        """An Ed25519 signature (hex) of `data` with the signing key (`kid`): the production records' chain
        heads are signed with the same key as commands (cloud/trace/)."""
        return self.keys[self.kid].sign(data).hex()

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The public key of every private key held, and of every ``.pub`` file in the key directory (a key
        rotated out keeps checking what it signed)."""
        out = load_public_keys(self.directory) if self.directory is not None and self.directory.is_dir() else {}
        return out | {kid: key.public_key() for kid, key in self.keys.items()}


def signer_from_settings(settings: Any, clock: Clock = now_ms) -> CommandSigner | None:
    """The signer the settings ask for; None (commands go unsigned, said loudly)
    when no key directory is set. Raises SigningKeyError for unusable keys."""
    directory: Path | None = settings.command_signing_keys_dir
    if directory is None and settings.demo_mode:
        # The demo signs too: a key pair made once in the data dir; the demo
        # gateway is handed its public key (hil/demo.py).
        directory = Path(settings.data_dir) / "command-keys"
        if not any(directory.glob("*" + PRIVATE_SUFFIX)):
            generate_key(directory, clock=clock)
    if directory is None:
        log.warning("FURROW_COMMAND_SIGNING_KEYS_DIR is not set: irrigation commands go out UNSIGNED, and "
                    "gateways configured with trusted keys will refuse them; see docs/security.md")
        return None
    node_keys = load_node_keys(settings.command_node_keys_file) if settings.command_node_keys_file else {}
    signer = CommandSigner.create(load_private_keys(Path(directory)), settings.command_signing_kid, node_keys)
    signer.directory = Path(directory)
    log.info("commands signed with key %s (%d key(s) in %s, %d node key(s))", signer.kid, len(signer.keys),
             directory, len(node_keys))
    return signer
