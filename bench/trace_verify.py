"""Cost of the production records' hash chain, beside the raw limit of the same primitives.

Appends N records to one chain of a fresh SQLite database through the service's own insert
(cloud/trace/records.append: head read, RFC 8785 canonical JSON, SHA-256, insert) in one transaction, then
verifies the chain as `furrow trace verify` does (read every row, recompute every hash, check the links and
one signed head); beside them, the raw limit: SHA-256 of the same canonical bytes already made, and the
canonical serialisation alone. Rates are per CPU second of this process (time.process_time), which a loaded
machine does not shrink; the database's own I/O is in the wall figures.

    PYTHONPATH=. .venv/bin/python bench/trace_verify.py [--records 5000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from furrow.cloud.commands.signing import CommandSigner
from furrow.cloud.db import Database
from furrow.cloud.trace import records
from furrow.cloud.trace.canonical import canonical_json
from furrow.cloud.trace.chain import head_body, record_body
from furrow.cloud.trace.service import verify_all

T0 = 1_776_664_800_000  # 2026-04-20


def entry(i: int) -> dict:
    """A spraying record's values, as a person's entry makes them."""
    return {"field_id": "f1", "season": "2026", "kind": "spraying", "occurred_ms": T0 + i * 60_000, "zone_id": "z1",
            "data": {"product": "Coragen 20SC", "active_ingredient": "chlorantraniliprole", "rate": 0.15 + i / 1e4,
                     "rate_unit": "L/ha", "phi_days": 14, "target": "Spodoptera frugiperda"},
            "corrects": None, "source": f"entry:{i:08d}", "by": "person:maria", "recorded_ms": T0 + i * 60_000 + 5}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=5000)
    args = ap.parse_args()
    n = args.records
    signer = CommandSigner.create({"k1": Ed25519PrivateKey.generate()})
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'furrow.db'}")
        db.migrate()
        wall, cpu = time.perf_counter(), time.process_time()
        with db.sessions.begin() as s:
            for i in range(n):
                records.append(s, **entry(i))
        append_wall, append_cpu = time.perf_counter() - wall, time.process_time() - cpu
        with db.sessions.begin() as s:
            [(f, season, seq, head)] = records.unsigned_heads(s)
            body = head_body(f, season, seq, head, T0, signer.kid)
            records.add_checkpoint(s, f, season, seq, head, T0, signer.kid, signer.sign_bytes(canonical_json(body)))
        wall, cpu = time.perf_counter(), time.process_time()
        with db.sessions() as s:
            [report] = verify_all(s, signer.public_keys())
            rows = [records.as_record(r) for r in records.chain(s, "f1", "2026")]
        verify_wall, verify_cpu = time.perf_counter() - wall, time.process_time() - cpu
        db.dispose()
    assert report.ok and report.records == n and report.signed_seq == n, report.as_dict()
    bodies = [record_body(r) for r in rows]
    cpu = time.process_time()
    encoded = [canonical_json(b) for b in bodies]
    canon_cpu = time.process_time() - cpu
    cpu = time.process_time()
    for b in encoded:
        hashlib.sha256(b).hexdigest()
    sha_cpu = max(time.process_time() - cpu, 1e-9)
    figures = {
        "records": n, "record_bytes": round(sum(map(len, encoded)) / n),
        "append_per_cpu_s": round(n / append_cpu), "append_per_wall_s": round(n / append_wall),
        "verify_per_cpu_s": round(n / verify_cpu), "verify_per_wall_s": round(n / verify_wall),
        "raw_canonical_per_cpu_s": round(n / max(canon_cpu, 1e-9)), "raw_sha256_per_cpu_s": round(n / sha_cpu),
    }
    print(f"{'what':<46}{'records/s (CPU)':>16}{'records/s (wall)':>17}")
    print(f"{'append (head, canonical JSON, SHA-256, insert)':<46}{figures['append_per_cpu_s']:>16}"
          f"{figures['append_per_wall_s']:>17}")
    print(f"{'verify (read, canonical, SHA-256, links, 1 sig)':<46}{figures['verify_per_cpu_s']:>16}"
          f"{figures['verify_per_wall_s']:>17}")
    print(f"{'raw: canonical JSON of the same records':<46}{figures['raw_canonical_per_cpu_s']:>16}{'':>17}")
    print(f"{'raw: SHA-256 of the canonical bytes':<46}{figures['raw_sha256_per_cpu_s']:>16}{'':>17}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
