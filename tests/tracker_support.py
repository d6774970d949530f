"""A tractor's track as its tracker sends it: coverage-test fixes (tests/test_machinery_coverage.py) turned
into position messages (edge/position.py) and the batches a gateway forwards."""

from __future__ import annotations

from collections.abc import Sequence

from furrow.cloud.machinery.coverage import Fix
from furrow.edge.batch import make_batch, make_item
from furrow.edge.position import MAX_FIXES, decode_positions, encode_positions, positions_item

SPAN_MS = 65_000  # a message's fixes lie within 65.535 s of its first


def position_fix(f: Fix, speed_cms: int = 200) -> dict:
    """The message form of a coverage fix: RTK-fixed (GGA quality 4), 12 satellites, engine on."""
    return {"t_ms": f.t_ms, "lat_e7": round(f.lat * 1e7), "lon_e7": round(f.lon * 1e7), "speed_cms": speed_cms,
            "course_d10": None, "quality": 4, "sats": 12, "valid": True, "implement_down": f.down, "engine_on": True}


def position_messages(node: str, fixes: Sequence[Fix], seq0: int = 0, per_message: int = MAX_FIXES) -> list[bytes]:
    """The messages a tracker would send of `fixes`: up to `per_message` fixes each, spanning at most 65 s."""
    out: list[bytes] = []
    chunk: list[dict] = []
    for f in fixes:
        if chunk and (len(chunk) == per_message or f.t_ms - chunk[0]["t_ms"] > SPAN_MS):
            out.append(encode_positions(node, seq0 + len(out), chunk))
            chunk = []
        chunk.append(position_fix(f))
    if chunk:
        out.append(encode_positions(node, seq0 + len(out), chunk))
    return out


def positions_batch(site: str, gateway: str, batch_id: str, messages: Sequence[bytes], rx_ms: int) -> dict:
    """A gateway's batch of these messages as positions items."""
    items = [make_item(positions_item(decode_positions(m)), rx_ms) for m in messages]
    return make_batch(site, gateway, batch_id, rx_ms, items)
