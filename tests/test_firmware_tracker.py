"""The tracker node's core (firmware/tracker_node.py): NMEA and the implement and engine inputs in,
position messages out, 1 Hz at work and sparse when parked; the same messages on MicroPython."""

from __future__ import annotations

import pytest

from furrow.edge.position import decode_positions
from furrow.firmware.drivers.nmea import checksum
from furrow.firmware.tracker_node import TrackerNode
from tests.firmware_fakes import MemorySeq
from tests.mplib import board_lib

T0 = 1_776_664_800_000  # 2026-04-20 06:00:00 UTC


def rmc(s: int, knots: float, north_e5: int = 0) -> bytes:
    """An RMC of 2026-04-20 06:00:00 + s seconds at 36 N + north_e5 1e-5 minutes, 114 24 E."""
    hh, mm, ss = 6 + s // 3600, s // 60 % 60, s % 60
    body = (f"GNRMC,{hh:02d}{mm:02d}{ss:02d}.00,A,36{north_e5 // 100000:02d}.{north_e5 % 100000:05d},N,"
            f"11424.00000,E,{knots:.1f},0.0,200426,,,A")
    return b"$%s*%02X\r\n" % (body.encode(), checksum(body.encode()))


def drive(node: TrackerNode, seconds: range, knots: float, implement: bool, engine: bool) -> list[bytes]:
    out = []
    for s in seconds:
        node.on_uart(rmc(s, knots, north_e5=s * 100), implement, engine)
        while (m := node.next_message(T0 + s * 1000)) is not None:
            out.append(m)
    return out


def test_at_work_every_second_in_batches_then_parked_every_five_minutes():
    """25 s drilling: 25 fixes in messages of 10, 10 and (after the stop) the rest; then 10 min parked
    with the engine off: one fix at the stop, then one per 5 min; seqs 0, 1, 2 ..."""
    node = TrackerNode("trk-01", MemorySeq())
    msgs = drive(node, range(0, 25), 5.4, True, True)
    msgs += drive(node, range(25, 625), 0.0, False, False)
    msgs += [m for m in iter(lambda: node.next_message(T0 + 10**7), None)]
    decoded = [decode_positions(m) for m in msgs]
    assert [d["seq"] for d in decoded] == list(range(len(decoded)))
    fixes = [f for d in decoded for f in d["fixes"]]
    times = [(f["t_ms"] - T0) // 1000 for f in fixes]
    assert times == [*range(25), 25, 325]
    assert [len(d["fixes"]) for d in decoded][:2] == [10, 10]
    assert all(f["implement_down"] and f["speed_cms"] == 278 for f in fixes[:25])  # 5.4 kn = 278 cm/s
    assert not fixes[25]["implement_down"] and not fixes[25]["engine_on"]
    assert fixes[1]["lat_e7"] - fixes[0]["lat_e7"] == 167  # 0.001 minute of latitude = 166.7e-7 degree


def test_engine_on_and_moving_is_work_but_idling_is_not():
    """Engine on at 5 km/h with the implement up counts as work (1 Hz); engine on standing still does not."""
    node = TrackerNode("trk-01", MemorySeq(), batch=60, flush_ms=10**9)
    drive(node, range(0, 10), 2.7, False, True)
    drive(node, range(10, 20), 0.0, False, True)
    assert [(f["t_ms"] - T0) // 1000 for f in node.pending] == [*range(10), 10]


def test_no_position_yet_is_counted_not_sent_and_bad_lines_do_not_stop_it():
    """An RMC with empty position fields and a corrupt line: counted; the next good fix is kept."""
    node = TrackerNode("trk-01", MemorySeq())
    body = b"GNRMC,060000.00,V,,,,,,,200426,,,N"
    node.on_uart(b"$%s*%02X\r\n" % (body, checksum(body)) + b"$GNRMC,garbage*00\r\n" + rmc(1, 5.0), True, True)
    assert node.stats["no_position"] == 1 and node.reader.errors["checksum"] == 1
    assert len(node.pending) == 1


TRACKER = r"""
import json
import firmware_fakes as ff
from furrow.firmware.tracker_node import TrackerNode
data = bytes.fromhex(%r)
node = TrackerNode("trk-01", ff.MemorySeq())
for i in range(0, len(data), 37):
    node.on_uart(data[i:i + 37], True, True)
msgs = []
while True:
    m = node.next_message(%d)
    if m is None:
        break
    msgs.append(m.hex())
print(json.dumps(msgs))
"""


@pytest.mark.micropython
def test_the_tracker_on_micropython_sends_the_messages_cpython_builds(micropython, tmp_path):
    """On the real MicroPython runtime the same 30 s of NMEA give byte-identical messages, read back exactly."""
    data = b"".join(rmc(s, 5.4, north_e5=s * 100) for s in range(30))
    node = TrackerNode("trk-01", MemorySeq())
    node.on_uart(data, True, True)
    want = [m.hex() for m in iter(lambda: node.next_message(T0 + 10**6), None)]
    lib = board_lib(tmp_path / "lib", "firmware_fakes.py")
    result = micropython.run(TRACKER % (data.hex(), T0 + 10**6), lib_dir=lib, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    import json

    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got == want and len(got) == 3
    assert [f["lat_e7"] for f in decode_positions(bytes.fromhex(got[0]))["fixes"]][:2] == [360000000, 360000167]
