"""The tracker's board loop as it runs on a node: firmware/tracker_link.py with the image `furrow firmware build
--role tracker` makes, on the real MicroPython unix port (tests/unixboard.py), against a real Mosquitto. Its
GNSS UART has a receiver behind it (unixboard.Gnss: GGA and RMC at 1 Hz along passes with headland turns, the
implement switch down on the passes), on a virtual clock 10 times faster than the loop's sleeps."""

from __future__ import annotations

import math
import time
import uuid

from furrow.edge import topics
from furrow.edge.position import decode_positions
from tests.gateway_support import Peer
from tests.unixboard_support import board_files, board_options, build_image, node_config, run_board

HEAP_KIB = 96
T0_S = 1_767_225_600  # unixboard.T0_S
LAT0, LON0 = 36.0, 114.4
# metres per degree at 36 N on WGS 84 (meridian and parallel arcs), so the receiver needs no math module
A, E2 = 6_378_137.0, 6.694379990141e-3
_S = math.sin(math.radians(LAT0))
M_PER_DEG_LAT = math.radians(1) * A * (1 - E2) / (1 - E2 * _S * _S) ** 1.5
M_PER_DEG_LON = math.radians(1) * A * math.cos(math.radians(LAT0)) / math.sqrt(1 - E2 * _S * _S)
PASS_M, WIDTH_M, SPEED, TURN_S = 100, 6, 2.5, 8  # a 40 s pass, an 8 s turn
NO_COVERAGE = [0, 90]  # virtual seconds: no network from boot (the field's far end)
GNSS_LOST = [150, 160]  # under trees: no fix
PARK_S = 190  # the machine stops, implement up, engine still on
PARKED_S = 20  # the config's tracker.parked_interval_s
RUN_S = 240


def expected(e: float) -> tuple[float, float, bool]:
    """(lat, lon, implement down) of the receiver's pattern e seconds after boot (unixboard.Gnss.at)."""
    if e >= PARK_S:
        return *expected(PARK_S - 0.001)[:2], False
    run_s = PASS_M / SPEED
    k, w = divmod(e, run_s + TURN_S)
    if w < run_s:
        x, y, down = k * WIDTH_M, w * SPEED if k % 2 == 0 else PASS_M - w * SPEED, True
    else:
        x, y, down = k * WIDTH_M + (w - run_s) / TURN_S * WIDTH_M, PASS_M if k % 2 == 0 else 0, False
    return LAT0 + y / M_PER_DEG_LAT, LON0 + x / M_PER_DEG_LON, down


def test_the_tracker_board_loop_sends_every_fix_once_after_a_stretch_out_of_coverage(unix_port, mosquitto, tmp_path):
    """240 virtual seconds, the first 90 with no network: every epoch with a fix at work arrives, once a second,
    in seq order with none missing (the first 90 s from the flash ring); the 10 s without a fix send nothing;
    parked from 190 s, the stop and then one fix in 20 s; each fix is
    where the receiver said to 2e-7 degree (2 cm), with the implement state its switch had."""
    node = f"trk-{uuid.uuid4().hex[:8]}"
    cfg = node_config("tracker", "mqtt", (mosquitto.host, mosquitto.port), node=node)
    cfg["tracker"].update(batch=10, flush_s=15, parked_interval_s=PARKED_S)
    listener = Peer(mosquitto.host, mosquitto.port)
    listener.subscribe(topics.node_topic(cfg["site"], node, topics.NODE_UP))
    build_image(unix_port, "tracker", tmp_path / "image", cfg)
    files = board_files(tmp_path / "image", tmp_path / "board")
    gnss = {"lat": LAT0, "lon": LON0, "pass_m": PASS_M, "width_m": WIDTH_M, "speed_m_s": SPEED, "turn_s": TURN_S,
            "implement_pin": 14, "engine_pin": 27, "gnss_lost": [GNSS_LOST], "park_s": PARK_S,
            "m_per_deg_lat": M_PER_DEG_LAT, "m_per_deg_lon": M_PER_DEG_LON}
    options = board_options("tracker", cfg, RUN_S, speed=10, gnss=gnss, wifi_down=[NO_COVERAGE])
    try:
        run = run_board(unix_port, HEAP_KIB, options, image=files, flash=tmp_path / "flash.img", timeout=180)
        time.sleep(1)
        messages = []
        while not listener.messages.empty():
            messages.append(decode_positions(listener.messages.get().payload))
    finally:
        listener.close()
    assert run.ok, run.describe()
    seqs = [m["seq"] for m in messages]
    unique = sorted(set(seqs))
    assert unique == list(range(len(unique))) and seqs == sorted(seqs), seqs  # in order, none missing
    fixes = [f for m in {m["seq"]: m for m in messages}.values() for f in m["fixes"]]
    seconds = [f["t_ms"] // 1000 - T0_S for f in fixes]
    # the receiver's first epoch is at boot; the last messages may still wait for their batch at the end
    assert seconds[0] <= 2 and seconds[-1] >= RUN_S - 40, seconds
    lost = set(range(*GNSS_LOST))
    at_work = [s for s in seconds if s < PARK_S]
    assert at_work == [s for s in range(seconds[0], PARK_S) if s not in lost], seconds  # 1 Hz at work
    # parked: the fix where it stopped, then one every parked_interval_s
    assert [s for s in seconds if s >= PARK_S] == list(range(PARK_S, seconds[-1] + 1, PARKED_S)), seconds
    assert seconds[0] < NO_COVERAGE[1] - 30  # fixes made with no network arrived
    for f, s in zip(fixes, seconds, strict=True):
        lat, lon, down = expected(s)
        # NMEA's ddmm.mmmmm steps by 1e-5 minute (1.7e-7 degree): half a step, plus the e7 integer's own
        assert abs(f["lat_e7"] - lat * 1e7) <= 2 and abs(f["lon_e7"] - lon * 1e7) <= 2, (s, f)
        assert (f["implement_down"], f["engine_on"], f["quality"], f["valid"]) == (down, True, 4, True), (s, f)
    assert run.result["gnss"]["lost"] == GNSS_LOST[1] - GNSS_LOST[0]
