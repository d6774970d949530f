"""The hash chain of production records and the signed chain heads, as pure functions (no database).

A chain is one field's records of one season, numbered 1, 2, 3 ... (``seq``). A record's hash is
SHA-256 over the RFC 8785 canonical JSON (canonical.py) of its content and the hash of the record before it
(``prev``; 64 zeros for the first), so changing, removing or reordering any record changes every hash after
it. A checkpoint is the chain's head (its newest seq and hash) signed with the service's command signing key
(Ed25519, cloud/commands/signing.py): a chain rewritten from some record on, hashes and all, no longer
reaches a head signed before the rewrite; a chain cut short no longer holds the record a checkpoint names.

``verify_chain`` walks one chain and its checkpoints and names the first thing wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .canonical import CanonicalError, canonical_json

GENESIS = "0" * 64  # the prev of a chain's first record
RECORD_TYPE = "furrow.trace.record/1"
HEAD_TYPE = "furrow.trace.head/1"

# What a record's hash covers: every stored column but its row id (which a restore may renumber) and the
# hash itself. The same names in the same meaning in docs/traceability.md.
HASHED = ("field", "season", "seq", "kind", "occurred_ms", "zone", "data", "corrects", "source", "lot", "by",
          "recorded_ms", "prev")


def record_body(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The object hashed for a record: its HASHED values and the format's type tag."""
    return {"type": RECORD_TYPE, **{k: rec[k] for k in HASHED}}


def record_hash(rec: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the record's canonical body, `prev` included."""
    return hashlib.sha256(canonical_json(record_body(rec))).hexdigest()


def head_body(field_id: str, season: str, seq: int, head: str, signed_ms: int, kid: str) -> dict[str, Any]:
    """The object a checkpoint signs: which chain, up to which record, that record's hash, when, with which key."""
    return {"type": HEAD_TYPE, "field": field_id, "season": season, "seq": seq, "head": head,
            "signed_ms": signed_ms, "kid": kid}


def head_bytes(cp: Mapping[str, Any]) -> bytes:
    return canonical_json(head_body(cp["field"], cp["season"], cp["seq"], cp["head"], cp["signed_ms"], cp["kid"]))


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with a chain: the record (or checkpoint) and why."""

    field: str
    season: str
    what: str  # "record" or "checkpoint"
    seq: int  # the record's seq (for a checkpoint: the seq it names)
    row_id: int | None  # the row in trace_records / trace_checkpoints, for the person who looks
    reason: str

    def __str__(self) -> str:
        row = f" (row id {self.row_id})" if self.row_id is not None else ""
        return f"{self.field}/{self.season}: {self.what} {self.seq}{row}: {self.reason}"


@dataclass
class ChainReport:
    """What verifying one chain found."""

    field: str
    season: str
    records: int = 0
    head: str = GENESIS
    checkpoints: int = 0
    signed_seq: int = 0  # the newest seq a good checkpoint covers
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "season": self.season, "ok": self.ok, "records": self.records,
                "head": self.head, "checkpoints": self.checkpoints, "signed_seq": self.signed_seq,
                "unsigned_records": max(0, self.records - self.signed_seq),
                "problem": None if self.problem is None else {
                    "what": self.problem.what, "seq": self.problem.seq, "row_id": self.problem.row_id,
                    "reason": self.problem.reason, "text": str(self.problem)},
                "warnings": self.warnings}


def verify_chain(field_id: str, season: str, records: Sequence[Mapping[str, Any]],
                 checkpoints: Sequence[Mapping[str, Any]], public_keys: Mapping[str, Ed25519PublicKey] | None,
                 ) -> ChainReport:
    """Check one chain: records in seq order (each a mapping with HASHED, ``hash`` and ``id``) and its
    checkpoints (``seq``, ``head``, ``signed_ms``, ``kid``, ``sig``, ``id``). The first bad record is named;
    if every record is good, the first checkpoint that fails. Without `public_keys` the signatures are not
    checked (said in warnings)."""
    report = ChainReport(field_id, season)

    def bad(what: str, seq: int, row_id: int | None, reason: str) -> ChainReport:
        report.problem = Problem(field_id, season, what, seq, row_id, reason)
        return report

    prev = GENESIS
    hashes: dict[int, str] = {}
    for expected, rec in enumerate(records, start=1):
        seq, row_id = rec["seq"], rec.get("id")
        if (rec["field"], rec["season"]) != (field_id, season):
            return bad("record", seq, row_id, f"belongs to {rec['field']}/{rec['season']}, not this chain")
        if seq != expected:
            missing = f"record {expected} is missing" if seq > expected else f"seq {seq} appears twice"
            return bad("record", seq, row_id, f"comes where record {expected} should: {missing}")
        if rec["prev"] != prev:
            return bad("record", seq, row_id, f"names the hash before it as {rec['prev'][:16]}..., but record "
                       f"{seq - 1 or 'GENESIS'} hashes to {prev[:16]}...: a record before it was changed or removed")
        try:
            computed = record_hash(rec)
        except CanonicalError as e:
            return bad("record", seq, row_id, f"cannot be put in canonical form: {e}")
        if computed != rec["hash"]:
            return bad("record", seq, row_id, f"its content hashes to {computed[:16]}..., not the stored "
                       f"{str(rec['hash'])[:16]}...: the record was altered after it was written")
        if rec["corrects"] is not None and not 1 <= rec["corrects"] < seq:
            return bad("record", seq, row_id, f"corrects record {rec['corrects']}, which is not before it")
        prev = rec["hash"]
        hashes[seq] = prev
    report.records, report.head = len(records), prev

    if public_keys is None and checkpoints:
        report.warnings.append("no public keys given: the checkpoints' signatures were not checked")
    for cp in checkpoints:
        report.checkpoints += 1
        seq, row_id = cp["seq"], cp.get("id")
        if public_keys is not None:
            key = public_keys.get(cp["kid"])
            if key is None:
                return bad("checkpoint", seq, row_id, f"signed with key {cp['kid']}, which is not among the "
                           f"public keys given ({', '.join(sorted(public_keys)) or 'none'})")
            try:
                key.verify(bytes.fromhex(cp["sig"]), head_bytes({**cp, "field": field_id, "season": season}))
            except (InvalidSignature, ValueError):
                return bad("checkpoint", seq, row_id, f"its signature (key {cp['kid']}) does not match what it "
                           "says: the checkpoint was altered")
        if seq not in hashes:
            return bad("checkpoint", seq, row_id, f"signed at {cp['signed_ms']} ms with record {seq} as the head, "
                       f"but the chain ends at record {len(records)}: records were removed")
        if hashes[seq] != cp["head"]:
            return bad("checkpoint", seq, row_id, f"signed record {seq} as {cp['head'][:16]}..., the chain has "
                       f"{hashes[seq][:16]}... there: the chain was rewritten up to that record")
        report.signed_seq = max(report.signed_seq, seq)
    return report
