"""Ingest: a gateway's batch in, readings stored once, every bad item named.

``ingest_batch`` is the one core both paths share (MQTT worker and
``POST /api/v1/ingest/batch``). A zlib-compressed body (first byte 0x78) is
inflated first, up to ``MAX_BATCH_BYTES``. The envelope is checked as a whole (a bad one
rejects the batch with the reason); items are checked one by one, so one bad
item never costs the good ones: a plainly valid report in one pass over the contract's tables
(``furrow.uplink_check.check_item``), anything else by the contract itself, so every refusal
names the field and value the contract names. Good items go to the store in one ``store.write`` as
`Reports` (the checked reports themselves: an InfluxDB store formats line protocol straight
from them, other stores get the same Readings ``flatten`` makes); the store's idempotency
(node, seq, ...) makes a replayed batch harmless.

The batch's gap reports (readings the gateway did not forward, edge/batch.py)
are kept once each by the `GapRecorder` (cloud/gaps.py); a 1.1 gateway's
``dropped`` counts become reports too. A malformed ``gaps`` key costs the
reports, never the readings.

When the store is unavailable, ``StorageUnavailable`` propagates and nothing
is recorded as seen: the caller keeps the batch (HTTP answers 503, the MQTT
worker waits and retries the same message) instead of losing it. Only once
`ingest_batch` returned is the batch the cloud's: then the receipt goes back.
"""

import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from furrow.edge.batch import (
    RECEIPT_REFUSED,
    RECEIPT_STORED,
    decode_batch,
    make_receipt,
    validate_envelope,
    validate_gaps,
    validate_item,
)
from furrow.edge.errors import ContractError
from furrow.edge.position import FLAG_IMPLEMENT_DOWN, is_positions
from furrow.uplink_check import check_item

from ._time import Clock, now_ms
from .errors import printable
from .events import EventBus
from .gaps import legacy_drops
from .node_routes import Health
from .storage import Reading, Reports


class RouteRecorder(Protocol):
    async def record(self, site: str, gateway: str, seen_ms: Mapping[str, int],
                     health: Mapping[str, Health] | None = None) -> None: ...


class ReadingWriter(Protocol):
    """What ingest needs of a store: a ReadingStore, or MergedWrites in front of one."""

    async def write(self, points: Sequence[Reading]) -> int: ...


class GapRecorder(Protocol):
    async def record(self, site: str, gateway: str, gaps: Sequence[Mapping[str, Any]], received_ms: int) -> int: ...


class TrackRecorder(Protocol):
    async def record(self, site: str, gateway: str, items: Sequence[tuple[dict, int | None]]) -> int: ...


class OwnerGuard(Protocol):
    """``tenancy.IngestGuard``: the batch site's organisation and the nodes another one holds."""

    async def foreign(self, site: str, nodes: set[str], poster: str | None = None) -> tuple[str, set[str]]: ...


class PayloadTooLarge(ContractError):
    """A compressed batch that inflates past the limit (a zip bomb, or a runaway gateway)."""


ZLIB_MAGIC = 0x78
MAX_BATCH_BYTES = 16 * 1024 * 1024  # inflated; a 5,000-item JSON batch is about 2 MB


def inflate(raw: bytes, limit: int = MAX_BATCH_BYTES) -> bytes:
    """The batch bytes, inflated when zlib-compressed (first byte 0x78).

    JSON starts with ``{`` and never with 0x78, so the forms cannot be
    confused. Inflation stops at `limit` bytes: more raises PayloadTooLarge,
    and a corrupt stream raises ContractError, both naming the payload.
    """
    if len(raw) > limit:
        raise PayloadTooLarge("payload", f"{len(raw)} bytes", f"a batch may hold at most {limit} bytes")
    if not raw or raw[0] != ZLIB_MAGIC:
        return raw
    d = zlib.decompressobj()
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error as e:
        raise ContractError("payload", f"{len(raw)} bytes zlib", f"corrupt zlib stream: {e}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise PayloadTooLarge("payload", f"{len(raw)} bytes zlib",
                              f"inflates past {limit} bytes; send smaller batches")
    if not d.eof:
        raise ContractError("payload", f"{len(raw)} bytes zlib", "truncated zlib stream")
    return out


def decode(data: bytes) -> dict:
    """``edge.batch.decode_batch`` on CPython, the JSON parsed by orjson (in C, a third of
    ``json.loads``'s time on a batch): what orjson refuses (NaN, Infinity, integers past 64 bits,
    lone surrogates, text that is not UTF-8, nesting past its limit) goes through the contract's
    own ``decode_batch``, so every document comes out as the contract reads it, or is refused
    with the same error (a property test checks both agree, tests/test_cloud_reports.py)."""
    if _LONG_NUMBER in data.translate(_DIGITS):  # orjson reads integers past 64 bits as floats
        return decode_batch(data)
    try:
        batch = orjson.loads(data)
    except orjson.JSONDecodeError:
        return decode_batch(data)
    validate_envelope(batch)
    return batch


# 19 digits in a row: an integer literal past 64 bits may hide in it (-2**63 - 1 has 19; or a
# long fraction, or digits in a string: those go through the contract's decoder too, slower and
# the same). Every digit made a 9, then one substring search: a tenth of a regular expression's time.
_DIGITS = bytes.maketrans(b"0123456789", b"9999999999")
_LONG_NUMBER = b"9" * 19


@dataclass(frozen=True, slots=True)
class Rejection:
    """One item the contract refused: its index in the batch and why."""

    index: int
    field: str
    value: Any
    reason: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch came to.

    accepted  items (reports) that passed the contract and were stored
    readings  values those items hold, all handed to the store
    stored    what the store reports as taken: SQLite counts only new
              readings (readings - stored were already there); InfluxDB
              overwrites a point with itself and reports all of them
    rejected  every item the contract refused, with index, field, value, reason
    gaps      gap reports the batch carried (kept once each: gaps_new were new)
    gap_error why its gap reports were refused as a whole, or None
    fixes     trackers' fixes its positions items carried (counted in accepted as items);
              fixes_new were not stored before
    """

    site: str
    gateway: str
    batch_id: str
    accepted: int
    readings: int
    stored: int
    rejected: list[Rejection] = field(default_factory=list)
    gaps: int = 0
    gaps_new: int = 0
    gap_error: Rejection | None = None
    fixes: int = 0
    fixes_new: int = 0


def flatten(
    site: str, gateway: str, uplink: dict, rx_ms: int | None, flags: list[str]
) -> list[Reading]:
    """The Readings of one validated uplink."""
    return [
        Reading(
            site=site,
            gateway=gateway,
            node=uplink["node"],
            role=uplink["role"],
            measurement=r["name"],
            unit=r["unit"],
            depth_cm=r.get("depth_cm"),
            channel=r.get("channel"),
            value=r["value"],
            fault=r.get("fault"),
            seq=uplink["seq"],
            ts_ms=uplink["ts_ms"],
            rx_ms=rx_ms,
            flags=tuple(flags),
        )
        for r in uplink["readings"]
    ]


LIVE_NODES_MAX = 200  # nodes in one live "reading" event; a bigger batch's others wait for the next


def live_summary(site: str, gateway: str, newest: Mapping[str, dict]) -> dict:
    """The "reading" event of one stored batch: only each node's newest report, so a backlog
    of thousands of reports becomes one small event (the SSE stream coalesces further)."""
    nodes = sorted(newest.values(), key=lambda u: -u["ts_ms"])[:LIVE_NODES_MAX]
    return {"site": site, "gateway": gateway, "nodes": [
        {"node": u["node"], "role": u["role"], "seq": u["seq"], "ts_ms": u["ts_ms"], "readings": [
            {"measurement": r["name"], "depth_cm": r.get("depth_cm"), "channel": r.get("channel"),
             "value": r["value"], "fault": r.get("fault")} for r in u["readings"]]}
        for u in nodes]}


Checked = tuple[int, dict, int | None, list[str]]  # (index, uplink, rx_ms, flags) of an item the contract accepts


def check_items(items: Sequence[Any], keeps_tracks: bool = True) -> tuple[list[Checked], list[Rejection]]:
    """Each item as ``edge.batch.validate_item`` checks it: the accepted ones with their index, and a
    Rejection (index, field, value, reason) for each other, in the batch's order.

    A plainly valid report is checked in one pass (``furrow.uplink_check.check_item``, the contract's
    tables at 2.5 times the contract's speed); anything else goes to the contract itself, so every
    refusal is the contract's own. Without `keeps_tracks` a positions item is refused."""
    checked: list[Checked] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(items):
        fast = check_item(item)
        if fast is not None:
            checked.append((index, *fast))
            continue
        try:
            uplink, rx_ms, flags = validate_item(item, index)
            if is_positions(uplink) and not keeps_tracks:
                raise ContractError(f"items.{index}.kind", "positions", "this cloud keeps no tracks")
        except ContractError as e:
            rejected.append(Rejection(index, e.field, printable(e.value), e.reason))
            continue
        checked.append((index, uplink, rx_ms, flags))
    return checked, rejected


async def ingest_batch(
    raw: bytes | str | dict,
    store: ReadingWriter,
    routes: RouteRecorder,
    *,
    origin: tuple[str, str] | None = None,
    events: EventBus | None = None,
    gaps: GapRecorder | None = None,
    tracks: TrackRecorder | None = None,
    clock: Clock = now_ms,
    owners: OwnerGuard | None = None,
    poster: str | None = None,
) -> IngestResult:
    """Validate, store and route one batch.

    `origin` is the (site, gateway) the batch arrived from (its MQTT topic, or
    the gateway token that posted it); an envelope claiming another is
    refused. Each node's route is recorded with when its gateway heard it
    (rx_ms, else ts_ms); with `events`, a stored batch publishes one "reading"
    event; with `gaps`, its gap reports are kept; with `tracks`, its trackers' positions items
    are (without, each is rejected: this cloud keeps no tracks). With `owners`
    (``tenancy.ingest_guard``), an item whose node is registered to another organisation
    than the batch's site is rejected (field ``node``), and with `poster` (the posting
    token's organisation) a site registered to another organisation refuses the batch
    as a site that does not exist. Raises ContractError
    for a bad envelope and StorageUnavailable when the store cannot take the
    readings (then no route is recorded either).
    """
    if isinstance(raw, dict):
        batch = raw
    else:
        batch = decode(inflate(raw.encode() if isinstance(raw, str) else bytes(raw)))
    site, gateway, batch_id, items = validate_envelope(batch)
    if origin is not None and (site, gateway) != origin:
        raise ContractError(
            "gateway", f"{site}/{gateway}",
            f"batch from {origin[0]}/{origin[1]} (by its MQTT topic or API token) claims another site/gateway",
        )

    readings = Reports()
    seen_ms: dict[str, int] = {}
    health: dict[str, Health] = {}
    newest: dict[str, dict] = {}  # each node's newest report, for live views
    positions: list[tuple[dict, int | None]] = []
    accepted = 0
    checked, rejected = check_items(items, keeps_tracks=tracks is not None)
    foreign: set[str] = set()
    if owners is not None:
        _, foreign = await owners.foreign(site, {u["node"] for _, u, _, _ in checked}, poster)
    if foreign:
        why = f"node belongs to another organisation than site {site}"
        rejected.extend(Rejection(index, "node", printable(u["node"]), why)
                        for index, u, _, _ in checked if u["node"] in foreign)
        rejected.sort(key=lambda r: r.index)
        checked = [c for c in checked if c[1]["node"] not in foreign]
    for _index, uplink, rx_ms, flags in checked:
        if is_positions(uplink):
            positions.append((uplink, rx_ms))
            heard = rx_ms if rx_ms is not None else uplink["fixes"][-1][0]
            node = uplink["node"]
            if heard >= seen_ms.get(node, heard):
                seen_ms[node] = heard
                health[node] = Health(uplink["seq"], None, None, None)
            accepted += 1
            continue
        readings.add(site, gateway, uplink, rx_ms, flags)
        heard = rx_ms if rx_ms is not None else uplink["ts_ms"]
        node = uplink["node"]
        if uplink["ts_ms"] >= newest.get(node, uplink)["ts_ms"]:
            newest[node] = uplink
        if heard >= seen_ms.get(node, heard):
            seen_ms[node] = heard
            # a list comprehension, not a generator: this runs for every report of every batch
            faults = tuple([f"{r['name']}@{r.get('depth_cm', r.get('channel'))}: {r['fault']}"
                            for r in uplink["readings"] if r.get("fault")])
            health[node] = Health(uplink["seq"], uplink.get("fw"), uplink.get("bat_v"),
                                  uplink.get("rssi_dbm"), faults)
        accepted += 1

    reports, gap_error = _gap_reports(batch, batch_id)
    stored = await store.write(readings) if readings else 0
    fixes_new = await tracks.record(site, gateway, positions) if tracks is not None and positions else 0
    await routes.record(site, gateway, seen_ms, health)
    gaps_new = await gaps.record(site, gateway, reports, clock()) if gaps is not None and reports else 0
    if events is not None and newest:
        events.publish("reading", live_summary(site, gateway, newest))
    if events is not None and positions:
        events.publish("position", position_summary(site, gateway, positions))
    return IngestResult(site, gateway, batch_id, accepted, len(readings), stored, rejected, len(reports), gaps_new,
                        gap_error, sum(len(p["fixes"]) for p, _ in positions), fixes_new)


def position_summary(site: str, gateway: str, positions: Sequence[tuple[dict, int | None]]) -> dict:
    """The "position" event of one stored batch: each tracker's newest fix (degrees, km/h), for a live map."""
    newest: dict[str, list] = {}
    for item, _ in positions:
        fix = item["fixes"][-1]
        if fix[0] >= newest.get(item["node"], fix)[0]:
            newest[item["node"]] = fix
    return {"site": site, "gateway": gateway, "machines": [
        {"node": node, "t_ms": f[0], "lat": f[1] / 1e7, "lon": f[2] / 1e7, "speed_kmh": round(f[3] * 0.036, 2),
         "course_deg": None if f[4] is None else f[4] / 10, "implement_down": bool(f[7] & FLAG_IMPLEMENT_DOWN)}
        for node, f in sorted(newest.items())][:LIVE_NODES_MAX]}


def _gap_reports(batch: dict, batch_id: str) -> tuple[list[dict], Rejection | None]:
    """The batch's gap reports (and a 1.1 gateway's ``dropped`` counts); a malformed ``gaps`` key
    is refused as a whole, named, and leaves the readings alone."""
    try:
        reports = validate_gaps(batch)
    except ContractError as e:
        return [], Rejection(-1, e.field, printable(e.value), e.reason)
    return reports + legacy_drops(batch_id, batch["sent_ms"], batch.get("dropped")), None


def receipt(result: IngestResult) -> dict:
    """The receipt that tells the gateway its batch is stored (edge/batch.py)."""
    return make_receipt(result.batch_id, RECEIPT_STORED, result.accepted, len(result.rejected), result.gaps)


def refusal(raw: bytes, why: Exception) -> dict | None:
    """The receipt of a batch refused for good (its envelope broke the contract, or the store
    refused its data), when its batch id can be read at all."""
    try:
        batch_id = json.loads(inflate(raw)).get("batch_id")
    except (ContractError, ValueError, UnicodeError, RuntimeError, AttributeError):
        return None
    if not isinstance(batch_id, str) or not 1 <= len(batch_id) <= 80:
        return None
    return make_receipt(batch_id, RECEIPT_REFUSED, reason=str(why)[:400])
