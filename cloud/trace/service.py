"""Production records in the service: what Furrow records feeds them, people add to them, the heads get
signed, and a chain (or a harvest lot) can be checked and traced.

Fed from: an irrigation or fertigation command that ended having run (cloud/commands: its runtime and the
flow meter's volume), a fertiliser application (cloud/fertility, spread by hand or fertigated), a machine's
field operation (cloud/machinery); and entries people make (POST /api/v1/trace/records). Each source is
recorded once (its ``source`` is unique), so the periodic ``sync`` may offer the same thing again safely and
picks up whatever a listener missed.

Which season an automatic record goes to: the season of the field's newest sowing on or before the
operation; without one, the calendar year at the farm (a person's entry names its season).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from furrow.edge.errors import ContractError

from .._time import Clock
from .._time import now_ms as _now_ms
from ..commands.lifecycle import CommandState
from ..db import (
    ApplicationRow,
    CommandEvent,
    CommandRow,
    Database,
    FieldRow,
    OperationRow,
    SiteRow,
    TraceRecordRow,
    ZoneRow,
)
from ..errors import NotFound
from ..events import EventBus
from ..storage import ReadingStore
from . import records
from .canonical import canonical_json
from .chain import ChainReport, head_body, verify_chain
from .models import RecordIn, RecordKind, to_ms
from .sensors import season_sensors

log = logging.getLogger(__name__)

L_PER_MM_HA = 10_000  # 1 mm of water over 1 ha is 10 m3: 10 000 l
FUTURE_SLACK_MS = 3_600_000  # a person's clock may be a little ahead; an operation an hour ahead is a plan
APPEND_TRIES = 5  # two appenders that took the same seq: the loser tries again on the new head
OPERATION_KINDS = {"tillage": "tillage", "sowing": "sowing", "spraying": "spraying", "fertilising": "fertilisation",
                   "harvest": "harvest"}  # machinery's kinds -> record kinds


def water_mm(volume_l: float | None, runtime_s: int | None, area_ha: float, precip_rate_mm_h: float,
             ) -> tuple[float | None, str | None]:
    """The depth of water a run put on its zone, and how it was found: from the flow meter's volume over the
    zone's area (1 mm on 1 ha = 10 000 l), else from the runtime at the zone's precipitation rate."""
    if volume_l and area_ha > 0:
        return round(volume_l / (area_ha * L_PER_MM_HA), 3), "flow meter volume / zone area"
    if runtime_s and precip_rate_mm_h > 0:
        return round(runtime_s * precip_rate_mm_h / 3600, 3), "runtime x zone precipitation rate"
    return None, None


def _tz(session: Session, field: FieldRow) -> ZoneInfo:
    site = session.get(SiteRow, field.site_id)
    return ZoneInfo(site.timezone if site is not None and site.timezone else "UTC")


def season_for(session: Session, field: FieldRow, occurred_ms: int) -> str:
    """The season an automatic record of `field` at `occurred_ms` belongs to (module docstring)."""
    sowing = session.scalar(select(TraceRecordRow.season)
                            .where(TraceRecordRow.field_id == field.id, TraceRecordRow.kind == "sowing",
                                   TraceRecordRow.occurred_ms <= occurred_ms)
                            .order_by(TraceRecordRow.occurred_ms.desc(), TraceRecordRow.seq.desc()).limit(1))
    if sowing is not None:
        return sowing
    return str(datetime.fromtimestamp(occurred_ms / 1000, _tz(session, field)).year)


def effective(chain: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records that stand: each correction replaces the record it corrects, a void withdraws it."""
    replaced = {r["corrects"] for r in chain if r["corrects"] is not None}
    return [r for r in chain if r["seq"] not in replaced and r["kind"] != RecordKind.VOID]


class TraceService:
    """The production records: append, read, sign heads, verify, trace a lot."""

    def __init__(self, db: Database, signer: Any = None, clock: Clock = _now_ms,
                 events: EventBus | None = None, store: ReadingStore | None = None) -> None:
        self._db = db
        self.store = store  # the readings, for a lot's season sensor summary
        self.signer = signer  # a commands.signing.CommandSigner: the heads are signed with its key
        self.clock = clock
        self.events = events
        self._said_unsigned = False

    # --- appending ------------------------------------------------------------------------

    async def _append(self, make: Any) -> tuple[dict[str, Any], bool]:
        """Run ``make(session) -> (values for records.append) | None`` and append; retried when another
        appender took the same seq first."""
        for attempt in range(APPEND_TRIES):
            def store(session: Session) -> tuple[dict[str, Any], bool] | None:
                values = make(session)
                if values is None:
                    return None
                row, new = records.append(session, recorded_ms=self.clock(), **values)
                return records.as_record(row), new
            try:
                out = await self._db.run(store)
            except IntegrityError:
                if attempt == APPEND_TRIES - 1:
                    raise
                continue
            if out is not None and out[1] and self.events is not None:
                rec = out[0]
                self.events.publish("trace", {"field": rec["field"], "season": rec["season"], "seq": rec["seq"],
                                              "kind": rec["kind"]})
            return out if out is not None else ({}, False)
        raise AssertionError("unreachable")

    async def record(self, body: RecordIn, by: str) -> tuple[dict[str, Any], bool]:
        """A person's entry: (the record, True); (the stored one, False) for an idempotency key seen before.
        NotFound for an unknown field or a zone not in it, ContractError for a correction that names no
        earlier record or one of another kind."""
        data = body.details.model_dump(mode="json", exclude_none=True)
        data.pop("kind")
        if body.note:
            data["note"] = body.note
        if body.reason:
            data["reason"] = body.reason
        occurred_ms = to_ms(body.occurred_at)
        if occurred_ms > self.clock() + FUTURE_SLACK_MS:
            raise ContractError("occurred_at", body.occurred_at.isoformat(), "is ahead of the service's clock: a "
                                "record says what was done, not what is planned")
        source = "entry:" + (body.idempotency_key or secrets.token_hex(12))

        def make(session: Session) -> dict[str, Any]:
            if records.by_source(session, source) is None:
                if session.get(FieldRow, body.field) is None:
                    raise NotFound("field", body.field, "no field with this id in the registry")
                if body.zone is not None:
                    zone = session.get(ZoneRow, body.zone)
                    if zone is None or zone.field_id != body.field:
                        raise NotFound("zone", body.zone, f"no zone with this id in field {body.field}")
                if body.corrects is not None:
                    fixed = session.scalar(select(TraceRecordRow).where(
                        TraceRecordRow.field_id == body.field, TraceRecordRow.season == body.season,
                        TraceRecordRow.seq == body.corrects))
                    if fixed is not None and body.details.kind not in (fixed.kind, RecordKind.VOID):
                        raise ContractError("details.kind", body.details.kind, f"record {body.corrects} is a "
                                            f"{fixed.kind}: correct it with a {fixed.kind} or withdraw it (void)")
            return {"field_id": body.field, "season": body.season, "kind": body.details.kind,
                    "occurred_ms": occurred_ms, "zone_id": body.zone, "data": data, "corrects": body.corrects,
                    "source": source, "by": by}

        return await self._append(make)

    async def from_command(self, out: Any) -> None:
        """A command ended (CommandService.on_end): one that ran on a registered zone is an irrigation."""
        if out.zone is None or out.state not in (CommandState.COMPLETED, CommandState.ABORTED):
            return
        if not (out.runtime_s or out.volume_l):
            return
        await self._append(lambda s: self._command_values(s, out.id))

    def _command_values(self, session: Session, command_id: str) -> dict[str, Any] | None:
        cmd = session.get(CommandRow, command_id)
        zone = session.get(ZoneRow, cmd.zone) if cmd is not None and cmd.zone else None
        if cmd is None or zone is None:
            return None
        field = session.get(FieldRow, zone.field_id)
        # when the controller ended it (its ack's time), not when the cloud heard of it
        ended_ms = session.scalar(select(CommandEvent.ts_ms).where(CommandEvent.command_id == cmd.id,
                                                                   CommandEvent.state == cmd.state)) or cmd.updated_ms
        mm, how = water_mm(cmd.volume_l, cmd.runtime_s, zone.area_ha, zone.precip_rate_mm_h)
        data = {"command_id": cmd.id, "action": cmd.action, "state": cmd.state, "node": cmd.node, "valve": cmd.valve,
                "runtime_s": cmd.runtime_s, "volume_l": cmd.volume_l, "water_mm": mm, "water_from": how,
                "requested_mm": cmd.amount_mm, "origin": cmd.origin}
        if cmd.injected_ml:
            data["injected_ml"] = cmd.injected_ml
        return {"field_id": field.id, "season": season_for(session, field, ended_ms), "kind": "irrigation",
                "occurred_ms": ended_ms, "zone_id": zone.id, "data": {k: v for k, v in data.items() if v is not None},
                "corrects": None, "source": f"command:{cmd.id}", "by": "furrow:commands"}

    async def from_application(self, app: Any) -> None:
        """A fertiliser application was recorded (FertilityService.on_application)."""
        await self._append(lambda s: self._application_values(s, app.id))

    def _application_values(self, session: Session, app_id: int) -> dict[str, Any] | None:
        app = session.get(ApplicationRow, app_id)
        zone = session.get(ZoneRow, app.zone_id) if app is not None else None
        if app is None or zone is None:
            return None
        field = session.get(FieldRow, zone.field_id)
        day = date.fromisoformat(app.applied_on)
        occurred = to_ms(datetime.combine(day, time(0), _tz(session, field)))
        data = {"product": app.product_name, "product_id": app.product_id, "rate": app.rate_kg_ha,
                "rate_unit": "kg/ha", "area_ha": app.area_ha, "method": app.method, "applied_on": app.applied_on,
                "nutrients_kg_ha": app.nutrients_kg_ha, "application_id": app.id, "entered_by": app.by}
        if app.command_id:
            data["command_id"] = app.command_id
        if app.note:
            data["note"] = app.note
        return {"field_id": field.id, "season": app.season, "kind": "fertilisation", "occurred_ms": occurred,
                "zone_id": zone.id, "data": data, "corrects": None, "source": f"application:{app.id}",
                "by": "furrow:fertility"}

    async def from_operation(self, op: Any) -> None:
        """A machine's field operation was recorded (OperationService.on_record)."""
        await self._append(lambda s: self._operation_values(s, op.id))

    def _operation_values(self, session: Session, op_id: int) -> dict[str, Any] | None:
        op = session.get(OperationRow, op_id)
        field = session.get(FieldRow, op.field_id) if op is not None else None
        if op is None or field is None:
            return None
        # A live tracker's window is recomputed as more of it arrives (machinery/service.py): each version
        # (its number of fixes) is recorded once, a later one correcting the one before in the same chain.
        earlier = session.scalar(select(TraceRecordRow).where(TraceRecordRow.source.like(f"operation:{op.id}:%"))
                                 .order_by(TraceRecordRow.id.desc()).limit(1))
        data = {"operation_id": op.id, "fixes": op.fixes, "machine": op.machine, "implement": op.implement,
                "operator": op.operator,
                "product": op.product, "rate": op.rate, "rate_unit": op.rate_unit, "covered_ha": op.covered_ha,
                "started_ms": op.started_ms, "ended_ms": op.ended_ms, "entered_by": op.by}
        if earlier is not None:
            data["reason"] = f"the operation was recomputed from {op.fixes} fixes (the live track grew)"
        return {"field_id": earlier.field_id if earlier else field.id,
                "season": earlier.season if earlier else season_for(session, field, op.started_ms),
                "kind": OPERATION_KINDS[op.kind], "occurred_ms": op.started_ms, "zone_id": None,
                "data": {k: v for k, v in data.items() if v is not None},
                "corrects": earlier.seq if earlier else None, "source": f"operation:{op.id}:{op.fixes}",
                "by": "furrow:machinery"}

    async def sync(self) -> int:
        """Append whatever the sources hold that the records do not yet (a listener that failed, a service
        that stopped between the two writes, records from before this feature): how many were added."""

        def missing(session: Session) -> tuple[list[str], list[int], list[int]]:
            have = set(session.scalars(select(TraceRecordRow.source)))
            cmds = [c for c, in session.execute(
                select(CommandRow.id).where(CommandRow.zone.is_not(None),
                                            CommandRow.state.in_([CommandState.COMPLETED, CommandState.ABORTED]))
                .order_by(CommandRow.updated_ms)) if f"command:{c}" not in have]
            apps = [a for a, in session.execute(select(ApplicationRow.id).order_by(ApplicationRow.id))
                    if f"application:{a}" not in have]
            ops = [o for o, n in session.execute(select(OperationRow.id, OperationRow.fixes)
                                                 .order_by(OperationRow.started_ms))
                   if f"operation:{o}:{n}" not in have]
            return cmds, apps, ops

        cmds, apps, ops = await self._db.run(missing)
        added = 0

        async def take(make: Any) -> None:
            nonlocal added
            try:
                _, new = await self._append(make)
                added += new
            except Exception:  # one bad source row never stops the rest
                log.exception("production records: could not record a source row")

        for c in cmds:
            await take(lambda s, c=c: self._ran(s, c))
        for a in apps:
            await take(lambda s, a=a: self._application_values(s, a))
        for o in ops:
            await take(lambda s, o=o: self._operation_values(s, o))
        return added

    def _ran(self, session: Session, command_id: str) -> dict[str, Any] | None:
        cmd = session.get(CommandRow, command_id)
        if cmd is None or not (cmd.runtime_s or cmd.volume_l):
            return None
        return self._command_values(session, command_id)

    # --- reading ----------------------------------------------------------------------------

    async def chain(self, field_id: str, season: str) -> list[dict[str, Any]]:
        return await self._db.run(lambda s: [records.as_record(r) for r in records.chain(s, field_id, season)])

    async def chains(self, field_id: str | None = None) -> list[dict[str, Any]]:
        return await self._db.run(lambda s: records.chains(s, field_id))

    async def checkpoints(self, field_id: str, season: str) -> list[dict[str, Any]]:
        return await self._db.run(lambda s: [records.as_checkpoint(c)
                                             for c in records.checkpoints(s, field_id, season)])

    # --- signing and verifying --------------------------------------------------------------

    async def sign_heads(self) -> list[dict[str, Any]]:
        """Sign the head of every chain that grew since its last checkpoint, with the service's command
        signing key: the new checkpoints (none without a key, said in the log)."""
        if self.signer is None:
            if not self._said_unsigned:  # once: the command signer has said why there is no key
                log.warning("production records: no signing key (FURROW_COMMAND_SIGNING_KEYS_DIR), chain heads "
                            "are not signed")
                self._said_unsigned = True
            return []
        signer = self.signer
        at = self.clock()

        def sign(session: Session) -> list[dict[str, Any]]:
            out = []
            for field_id, season, seq, head in records.unsigned_heads(session):
                body = head_body(field_id, season, seq, head, at, signer.kid)
                sig = signer.sign_bytes(canonical_json(body))
                row = records.add_checkpoint(session, field_id, season, seq, head, at, signer.kid, sig)
                out.append(records.as_checkpoint(row))
            return out

        return await self._db.run(sign)

    async def verify(self, public_keys: Mapping[str, Ed25519PublicKey] | None = None, field_id: str | None = None,
                     season: str | None = None) -> list[ChainReport]:
        """Verify every chain (or one field's, one season's) against the service's own public keys."""
        if public_keys is None and self.signer is not None:
            public_keys = self.signer.public_keys()
        return await self._db.run(lambda s: verify_all(s, public_keys, field_id, season))

    async def lot(self, lot_id: str, public_keys: Mapping[str, Ed25519PublicKey] | None = None) -> dict[str, Any]:
        """A harvest lot traced back to its fields, operations, inputs and water (lots.py)."""
        from .lots import trace_lot

        if public_keys is None and self.signer is not None:
            public_keys = self.signer.public_keys()
        out = await self._db.run(lambda s: trace_lot(s, lot_id, public_keys))
        for harvest in out["harvests"]:
            window = harvest.pop("_sensors")
            harvest["sensors"] = {"from_ms": window["from_ms"], "to_ms": window["to_ms"], "nodes": window["nodes"],
                                  "summary": [] if self.store is None else await season_sensors(
                                      self.store, window["nodes"], window["from_ms"], window["to_ms"])}
        return out

    async def sync_and_sign(self) -> None:
        """The periodic job: pick up what the listeners missed, then sign the heads that moved."""
        added = await self.sync()
        if added:
            log.info("production records: %d record(s) picked up from their sources", added)
        await self.sign_heads()


def verify_all(session: Session, public_keys: Mapping[str, Ed25519PublicKey] | None, field_id: str | None = None,
               season: str | None = None) -> list[ChainReport]:
    """Verify each chain in the database (what ``furrow trace verify`` and the API both run)."""
    reports = []
    for f, s in records.chain_keys(session, field_id, season):
        reports.append(verify_chain(f, s, [records.as_record(r) for r in records.chain(session, f, s)],
                                    [records.as_checkpoint(c) for c in records.checkpoints(session, f, s)],
                                    public_keys))
    return reports
