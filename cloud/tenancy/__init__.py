"""Organisations and their data separation (issue 21).

Every site and node belongs to one organisation (a farm or a cooperative), and so does every user. A
caller sees only its organisation's data: ``deps.scoped`` refuses another organisation's ids in a path,
query or body as if they did not exist (404 for a path or query id, the route's own "no such" 422 for a
body reference), and ``TenantFilter`` drops another organisation's items from every JSON list answered.
Aggregates and streams are scoped where they are computed (stats, the event stream, exports).
"""

from ._filter import EventScope, TenantFilter, visible
from ._ingest import IngestGuard, ingest_guard, owners_changed
from ._owners import (
    ALERT,
    COMMAND,
    FIELD,
    IMPLEMENT,
    LOT,
    MACHINE,
    NODE,
    OPERATION,
    REGION,
    SITE,
    TASK,
    TOKEN,
    VALVE,
    YIELD_LOG,
    ZONE,
    Kind,
    holders,
    org_fields,
    org_nodes,
    org_sites,
    org_zones,
    owners,
    refuse_foreign,
    require_owned,
)

__all__ = ["ALERT", "COMMAND", "FIELD", "IMPLEMENT", "LOT", "MACHINE", "NODE", "OPERATION", "REGION", "SITE", "TASK",
           "TOKEN", "VALVE", "YIELD_LOG", "ZONE",
           "EventScope", "IngestGuard", "ingest_guard", "owners_changed",
           "Kind", "TenantFilter", "holders", "org_fields", "org_nodes", "org_sites", "org_zones", "owners",
           "refuse_foreign", "require_owned", "visible"]
