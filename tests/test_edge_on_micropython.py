"""The contract runs unchanged on the real MicroPython runtime."""


import pytest

from furrow.edge import modbus_map, payload
from tests.mplib import board_lib

pytestmark = pytest.mark.micropython


@pytest.fixture(scope="module")
def edge_lib(tmp_path_factory):
    return board_lib(tmp_path_factory.mktemp("mp") / "lib", firmware=False)


SCRIPT = r"""
import sys
assert sys.implementation.name == "micropython"
from furrow.edge import payload, commands, batch, modbus_map, topics
from furrow.edge.errors import ContractError
R = payload.make_reading
ROLE_READINGS = {
    "soil": [R("vwc_pct", 23.456, depth_cm=10), R("soil_temp_c", fault="disconnected", depth_cm=10),
             R("vwc_pct", 31.2, depth_cm=30), R("ec_ds_m", 0.412, depth_cm=30)],
    "weather": [R("air_temp_c", -4.25), R("rh_pct", 88.1), R("rain_mm", 0.2), R("rs_w_m2", 0.0)],
    "irrigation": [R("valve_open", 1, channel=1), R("flow_l_min", 12.5), R("volume_l", 1234.5)],
    "pest": [R("trap_count", 5, channel=1)],
}
for role in ROLE_READINGS:
    p = payload.make_uplink("n-" + role, role, 4000000000, 1767225600000, ROLE_READINGS[role], "0.1.0",
                            bat_v=3.7, rssi_dbm=-80)
    assert payload.decode(payload.encode_json(p)) == p, role
    assert payload.decode(payload.encode_binary(p)) == p, role
    regs = modbus_map.encode_inputs(role, p["seq"], p["ts_ms"], p["fw"], p["readings"], p["bat_v"], p["rssi_dbm"])
    back = modbus_map.decode_inputs("n-" + role, regs)
    assert len(back["readings"]) == len(p["readings"]), role
    print("BIN", role, payload.encode_binary(p).hex())
try:
    payload.decode(b'{"v": "2.0", "node": "x"}')
    raise AssertionError("major 2 accepted")
except ContractError as e:
    assert e.field == "v"
c = commands.make_command("c-1", "irr-01", 1, "open", 60, 120, 0, 1000)
assert commands.decode_command(commands.encode(c)) == c
assert topics.parse_topic(topics.node_topic("s", "n", "up")) == ("node", "s", "n", "up")
print("OK")
"""


def test_contract_round_trips_on_micropython(micropython, edge_lib):
    """Every role's payload round-trips in JSON, binary and Modbus form inside MicroPython."""
    result = micropython.run(SCRIPT, lib_dir=edge_lib)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "OK"


def test_micropython_binary_is_byte_identical_to_cpython(micropython, edge_lib):
    """MicroPython and CPython produce the same binary bytes for the same report,
    so a node's frames decode the same way at the gateway."""
    result = micropython.run(SCRIPT, lib_dir=edge_lib)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.startswith("BIN")]
    mp_frames = {role: bytes.fromhex(frame) for _, role, frame in lines}
    assert sorted(mp_frames) == ["irrigation", "pest", "soil", "weather"]
    for role, frame in mp_frames.items():
        p = payload.decode(frame)
        assert payload.encode_binary(p) == frame, role
        assert p["seq"] == 4000000000
    assert modbus_map.INPUT_COUNT == 112
