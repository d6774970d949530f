"""Production records and traceability (issue 21): one append-only, hash-chained record per field and season
of every operation, with its head signed at intervals by the service's command signing key.

* `canonical`: RFC 8785 canonical JSON, what is hashed and signed (pure)
* `chain`: record hashes, signed heads, verifying a chain and naming the first bad record (pure)
* `models`: what the routes take and give; `records`: the tables
* `service`: TraceService, fed by commands, fertiliser applications, machine operations and people's entries
* `lots`: a harvest lot traced back to its field, operations, inputs and water; `sensors`: its season's probes
"""

from .service import TraceService

__all__ = ["TraceService"]
