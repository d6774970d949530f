"""A season's sensor summary for a lot's trace: what the field's own probes measured between the first standing
record of the season (its sowing, usually) and the harvest."""

from __future__ import annotations

from typing import Any

from ..storage import ReadingStore

DAY_MS = 86_400_000
# What a buyer or an auditor asks of a season: soil water and temperature, the air, the rain.
SUMMARY: dict[str, tuple[str, ...]] = {"vwc_pct": ("mean", "min", "max"), "soil_temp_c": ("mean", "min", "max"),
                                       "air_temp_c": ("mean", "min", "max"), "rh_pct": ("mean",),
                                       "rain_mm": ("sum",)}


async def season_sensors(store: ReadingStore, nodes: list[str], start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """Per sensor (node, measurement, depth, channel) of `nodes` in [start_ms, end_ms): how many readings, and
    their mean (weighted by each day's count), min and max, or the rain's sum. Daily buckets of the store,
    combined here, so every store (SQLite, InfluxDB) answers the same."""
    if not nodes or end_ms <= start_ms:
        return []
    out: dict[tuple, dict[str, Any]] = {}
    for measurement, fns in SUMMARY.items():
        for fn in fns:
            for b in await store.aggregate(nodes, measurement, start_ms, end_ms, DAY_MS, fn):
                if b.value is None:
                    continue
                key = (b.node, measurement, b.depth_cm, b.channel)
                s = out.setdefault(key, {"node": b.node, "measurement": measurement, "depth_cm": b.depth_cm,
                                         "channel": b.channel, "_n": 0, "_sum": 0.0, "_days": set()})
                s["_days"].add(b.time_ms)
                if fn == "mean":
                    s["_n"] += b.count
                    s["_sum"] += b.value * b.count
                elif fn == "min":
                    s["min"] = min(s.get("min", b.value), b.value)
                elif fn == "max":
                    s["max"] = max(s.get("max", b.value), b.value)
                else:
                    s["sum"] = round(s.get("sum", 0.0) + b.value, 3)
                    s["_n"] += b.count
    summary = []
    for key in sorted(out, key=lambda k: (k[0], k[1], k[2] if k[2] is not None else -1, k[3] or 0)):
        s = out[key]
        n, total, days = s.pop("_n"), s.pop("_sum"), s.pop("_days")
        if "sum" not in s and n:
            s["mean"] = round(total / n, 3)
        summary.append({**s, "readings": n, "days": len(days)})
    return summary
