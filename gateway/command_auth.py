"""Signed commands at the gateway: who may open a valve (contract 1.1).

With trusted cloud keys configured (``[command_auth] keys``), the relay
passes a command to its node only when

1. it carries a signature (``sig``) by a key (``kid``) this gateway trusts,
   and the signature verifies over furrow.edge.signing.signed_bytes;
2. it is bound to this gateway (its ``site`` and ``gateway``);
3. it has not expired (the relay's own check);
4. its id was never relayed before: ids are kept in a small SQLite file,
   committed before the command goes on, until the command has expired, so
   a restart does not reopen the door to a replay, and the file stays small.
   A cancel (contract 1.2) carries the id of the command it cancels: it is
   never refused as a replay, and its id is remembered all the same, so the
   cancelled command arriving after it is (relay_core.py).

A refused command is not relayed; the relay answers the cloud with a
``rejected`` ack whose reason starts with the refusal's kind (``unsigned:``,
``unknown key:``, ``bad signature:``, ``wrong gateway:``, ``expired:``,
``replayed:``) and counts it by kind for /metrics.

A plan (autonomy.py) is kept only when its envelope is signed the same way
(furrow.edge.plan_signing) and every command in it verifies; a refused
plan is counted and logged, never answered, and the plan kept before stays.

Refusals for authentication (unsigned, unknown key, bad signature, wrong
gateway) are about the copy that arrived, not the command its id names: its
id is not recorded, so a forgery reusing a real command's id cannot block
that command. The cloud leaves such a command's state alone (service.py).

Without keys nothing is checked (the demo and old clouds); the gateway says
so loudly at start and in /health ("commands": "unsigned").
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from furrow.edge.plan_signing import plan_signed_bytes
from furrow.edge.signing import (
    REFUSED_REPLAYED,
    REFUSED_SIGNATURE,
    REFUSED_UNKNOWN_KEY,
    REFUSED_UNSIGNED,
    REFUSED_WRONG_GATEWAY,
    signed_bytes,
)

log = logging.getLogger(__name__)

# Ids are forgotten this long after their command expired, so a clock set
# back a little cannot make an expired, forgotten command look fresh.
FORGET_AFTER_EXPIRY_MS = 24 * 3600 * 1000


class Refusal(Exception):
    """Why a command may not go on: `kind` (a signing.REFUSED_* word) and the full reason."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.reason = f"{kind}: {detail}"[:200]
        super().__init__(self.reason)


class KeyFileError(ValueError):
    """A trusted key file that cannot be used; the message names the config field and file."""


def load_trusted_keys(keys: dict[str, Path]) -> dict[str, Ed25519PublicKey]:
    """kid -> public key from PEM files (``furrow cloud keys generate`` writes them)."""
    out = {}
    for kid, path in keys.items():
        try:
            key = serialization.load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError, UnsupportedAlgorithm) as e:
            raise KeyFileError(f"command_auth.keys.{kid}={str(path)!r}: not a readable PEM public key: {e}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"command_auth.keys.{kid}={str(path)!r}: not an Ed25519 key")
        out[kid] = key
    return out


class SeenIds:
    """Command ids already relayed, durable (SQLite, synchronous=FULL); ``":memory:"`` keeps
    them in memory (a simulation)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, forget_ms INTEGER NOT NULL)")

    def claim(self, cmd_id: str, expires_ms: int, now: int) -> bool:
        """Remember `cmd_id`; False if it was already there. Committed on return."""
        self._db.execute("DELETE FROM seen WHERE forget_ms < ?", (now,))
        cur = self._db.execute("INSERT OR IGNORE INTO seen (id, forget_ms) VALUES (?, ?)",
                               (cmd_id, expires_ms + FORGET_AFTER_EXPIRY_MS))
        return cur.rowcount == 1

    def remember(self, cmd_id: str, expires_ms: int, now: int) -> None:
        """Remember `cmd_id` until `expires_ms` (and the grace after), whether or not it was
        there: a cancel names a relayed id and must not be refused for it."""
        self._db.execute("DELETE FROM seen WHERE forget_ms < ?", (now,))
        self._db.execute("INSERT INTO seen (id, forget_ms) VALUES (?, ?) ON CONFLICT (id) DO UPDATE "
                         "SET forget_ms = max(forget_ms, excluded.forget_ms)",
                         (cmd_id, expires_ms + FORGET_AFTER_EXPIRY_MS))

    def release(self, cmd_id: str) -> None:
        """Forget `cmd_id`: it never reached its node, so a re-send is not a replay."""
        self._db.execute("DELETE FROM seen WHERE id = ?", (cmd_id,))

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM seen").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class CommandAuth:
    """Checks commands for one gateway against its trusted keys."""

    def __init__(self, keys: dict[str, Ed25519PublicKey], site: str, gateway: str, seen: SeenIds | None) -> None:
        self.keys = keys
        self.site, self.gateway = site, gateway
        self.seen = seen

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def verify(self, cmd: dict[str, Any]) -> None:
        """Raise Refusal unless `cmd` (validated) is signed by a trusted key for this gateway."""
        self._check(cmd, "command", signed_bytes)

    def verify_plan(self, plan: Any) -> None:
        """Raise Refusal unless the plan's envelope is signed by a trusted key for this gateway
        (furrow.edge.plan_signing), ContractError if a signed field has the wrong type."""
        plan_signed_bytes(plan)  # the types first: ContractError naming the field
        self._check(plan, "plan", plan_signed_bytes)

    def _check(self, signed: dict[str, Any], what: str, to_bytes: Any) -> None:
        sig, kid = signed.get("sig"), signed.get("kid")
        if not isinstance(sig, str) or not isinstance(kid, str):
            raise Refusal(REFUSED_UNSIGNED, f"the {what} carries no signature; gateway {self.gateway} "
                          f"takes signed {what}s only")
        key = self.keys.get(kid)
        if key is None:
            raise Refusal(REFUSED_UNKNOWN_KEY, f"kid {kid!r} is not trusted by gateway {self.gateway} "
                          f"(trusted: {', '.join(sorted(self.keys))})")
        try:
            key.verify(bytes.fromhex(sig), to_bytes(signed))
        except (InvalidSignature, ValueError):  # ValueError: a plan's sig is not checked as hex beforehand
            raise Refusal(REFUSED_SIGNATURE, f"does not verify with key {kid!r} (altered after signing, "
                          "or signed by another key)") from None
        if (signed.get("site"), signed.get("gateway")) != (self.site, self.gateway):
            raise Refusal(REFUSED_WRONG_GATEWAY, f"signed for {signed.get('site')}/{signed.get('gateway')}, "
                          f"this is {self.site}/{self.gateway}")

    def claim(self, cmd: dict[str, Any], now: int) -> None:
        """Record the id as relayed (durably); Refusal if it already was."""
        if self.seen is not None and not self.seen.claim(cmd["id"], cmd["expires_ms"], now):
            raise Refusal(REFUSED_REPLAYED, f"command id {cmd['id']} was already relayed by gateway {self.gateway}")

    def close(self) -> None:
        if self.seen is not None:
            self.seen.close()
