"""Throughput of the contract's payload codecs, beside the raw limit.

The raw limit is the standard library doing the bare serialisation of the
same report (json.dumps of the dict; struct.pack of the same fields) with no
validation, measured in the same run on the same machine. The gap is what
validation and canonicalisation cost. Rates are per CPU second of the process
(time.process_time), which a loaded machine does not shrink.

    .venv/bin/python bench/codecs.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import struct
import time

from furrow.edge import payload
from furrow.edge.payload import make_reading as R


def sample_report() -> dict:
    readings = [R("vwc_pct", 20.0 + i, depth_cm=10 * (i + 1)) for i in range(4)]
    readings += [R("soil_temp_c", 15.5 + i, depth_cm=10 * (i + 1)) for i in range(4)]
    return payload.make_uplink("soil-01", "soil", 123456, 1_767_225_600_000, readings, "0.1.0", 3.7, -70)


def rate(fn, seconds: float) -> float:
    """Calls per CPU second of this process, over about `seconds` of CPU: on a shared machine
    CPU time, unlike the wall clock, does not shrink with the other processes' load."""
    n = 0
    start = time.process_time()
    end = start + seconds
    while time.process_time() < end:
        for _ in range(100):
            fn()
        n += 100
    return n / (time.process_time() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    s = ap.parse_args().seconds
    p = sample_report()
    j = payload.encode_json(p)
    b = payload.encode_binary(p)
    raw_fields = [(1, r["depth_cm"], 255, 0, int(r["value"] * 100)) for r in p["readings"]]

    def raw_pack() -> bytes:
        return b"".join(struct.pack("<BHBBi", *f) for f in raw_fields)

    rows = [
        ("encode JSON", rate(lambda: payload.encode_json(p), s), "json.dumps", rate(lambda: json.dumps(p).encode(), s)),
        ("decode JSON", rate(lambda: payload.decode(j), s), "json.loads", rate(lambda: json.loads(j), s)),
        ("encode binary", rate(lambda: payload.encode_binary(p), s), "struct.pack", rate(raw_pack, s)),
        ("decode binary", rate(lambda: payload.decode(b), s), "struct.unpack",
         rate(lambda: [struct.unpack_from("<BHBBi", b, 30 + 9 * i) for i in range(8)], s)),
    ]
    print(f"report: 8 readings; JSON {len(j)} bytes, binary {len(b)} bytes")
    print(f"{'operation':<15} {'Furrow /s':>12} {'raw limit':<14} {'raw /s':>12} {'share':>6}")
    for name, ours, raw_name, raw in rows:
        print(f"{name:<15} {ours:>12,.0f} {raw_name:<14} {raw:>12,.0f} {ours / raw:>6.0%}")
    print(json.dumps({name.replace(" ", "_").lower(): {"furrow_s": round(ours), "raw": raw_name, "raw_s": round(raw),
                                                       "share": round(ours / raw, 3)}
                      for name, ours, raw_name, raw in rows}))


if __name__ == "__main__":
    main()
