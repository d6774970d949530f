"""The tracker's positions message (edge/position.py): exact round trips of integer positions, unknown
values kept as unknown, damage and bad fields refused naming what is wrong."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furrow.edge.errors import ContractError
from furrow.edge.position import MAX_FIXES, decode_positions, encode_positions

T0 = 1_776_664_800_000


def fix(i: int = 0, **over) -> dict:
    base = {"t_ms": T0 + 1000 * i, "lat_e7": 360000000 + 25 * i, "lon_e7": 1144000000 - 7 * i, "speed_cms": 250,
            "course_d10": 900, "quality": 4, "sats": 21, "valid": True, "implement_down": True, "engine_on": True}
    return {**base, **over}


def test_a_batch_round_trips_exactly():
    """Ten fixes come back equal, to the 1e-7 degree, in 17 bytes each plus 24 (header, node id, CRC)."""
    fixes = [fix(i) for i in range(10)]
    data = encode_positions("trk-01", 7, fixes)
    assert len(data) == 16 + len("trk-01") + 17 * 10 + 2
    assert decode_positions(data) == {"node": "trk-01", "seq": 7, "fixes": fixes}


def test_unknown_values_stay_unknown_and_flags_are_independent():
    """No course, quality or satellites: None after the trip; implement up with the engine on."""
    f = fix(course_d10=None, quality=None, sats=None, implement_down=False, valid=False)
    (back,) = decode_positions(encode_positions("trk-01", 0, [f]))["fixes"]
    assert back == f


def test_bad_fields_are_named():
    """A latitude past 90, a float position, a fix out of time order, an empty batch, too many fixes."""
    cases = [([fix(lat_e7=900000001)], "fixes.0.lat_e7"), ([fix(lon_e7=114.4)], "fixes.0.lon_e7"),
             ([fix(1), fix(0)], "fixes.1.t_ms"), ([fix(0), fix(70)], "fixes.1.t_ms"), ([], "fixes"),
             ([fix(i) for i in range(MAX_FIXES + 1)], "fixes"), ([fix(course_d10=3600)], "fixes.0.course_d10")]
    for fixes, field in cases:
        with pytest.raises(ContractError) as e:
            encode_positions("trk-01", 0, fixes)
        assert e.value.field == field, (field, e.value)


def test_damage_is_refused():
    """A flipped bit fails the CRC; a truncated message and another magic are named."""
    data = bytearray(encode_positions("trk-01", 1, [fix(0), fix(1)]))
    with pytest.raises(ContractError) as e:
        decode_positions(bytes(data[:-5]))
    data[30] ^= 1
    with pytest.raises(ContractError) as e:
        decode_positions(bytes(data))
    assert e.value.field == "positions.crc"
    with pytest.raises(ContractError):
        decode_positions(b"\xf7" + bytes(40))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_any_bytes_decode_or_raise_contract_error(data):
    """Any bytes: a message or a ContractError, nothing else."""
    try:
        decode_positions(data)
    except ContractError:
        pass
