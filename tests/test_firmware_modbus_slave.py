"""The hand-written Modbus RTU slave, checked against hand-built frames and pymodbus's own framer."""

from typing import Any

import pytest
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadCoilsRequest,
    ReadCoilsResponse,
    WriteMultipleCoilsRequest,
    WriteSingleCoilRequest,
)
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

from furrow.edge import modbus_map
from furrow.edge.crc import crc16_modbus
from furrow.firmware.modbus_slave import RtuSlave, char_us_for_baud
from furrow.firmware.soil_node import SoilNode
from tests.firmware_fakes import MemorySeq

CHAR_US = char_us_for_baud(9600)
GAP = 10_000  # us between frames: well over 3.5 characters at 9600 baud


def _with_crc(body: bytes) -> bytes:
    crc = crc16_modbus(body)
    return body + bytes([crc & 0xFF, crc >> 8])


def _request(pdu: ModbusPDU) -> bytes:
    """A request frame as pymodbus (the master side) builds it."""
    return FramerRTU(DecodePDU(True)).buildFrame(pdu)


def _response(frame: bytes) -> Any:
    """Decode a reply with pymodbus's client framer: it checks length and CRC itself."""
    used, pdu = FramerRTU(DecodePDU(False)).processIncomingFrame(frame)
    assert used == len(frame), frame.hex()
    assert pdu is not None, frame.hex()
    return pdu


class Clock:
    """Microseconds for feed(); each frame is sent after a silence."""

    def __init__(self) -> None:
        self.us = 0

    def frame(self) -> int:
        self.us += GAP
        return self.us


@pytest.fixture
def slave() -> RtuSlave:
    inputs = list(range(100, 212))
    holding = [0] * 16
    coils = [False] * 4
    return RtuSlave(1, inputs, holding, coils=coils, char_us=CHAR_US)


def _ask(slave: RtuSlave, frame: bytes, clock: Clock | None = None) -> bytes | None:
    return slave.feed(frame, (clock or Clock()).frame())


def test_crc_matches_pymodbus() -> None:
    """edge.crc16_modbus agrees with pymodbus's independent CRC on many frames."""
    for n in range(1, 40):
        data = bytes((i * 37 + n) & 0xFF for i in range(n))
        ours = crc16_modbus(data)
        assert FramerRTU.compute_CRC(data) == ((ours & 0xFF) << 8) | (ours >> 8)


def test_fc04_read_inputs_hand_built_frame(slave: RtuSlave) -> None:
    """The spec-style frame 01 04 0000 000A 700D gets ten registers, CRC low byte first."""
    reply = _ask(slave, bytes.fromhex("01040000000a700d"))
    assert reply is not None
    assert reply[:3] == bytes([1, 4, 20])
    assert reply[3:5] == bytes([0, 100]) and len(reply) == 3 + 20 + 2
    crc = crc16_modbus(reply[:-2])
    assert reply[-2:] == bytes([crc & 0xFF, crc >> 8])
    assert isinstance(_response(reply), ReadInputRegistersResponse)


def test_fc04_whole_map_as_pymodbus_reads_it(slave: RtuSlave) -> None:
    """One FC04 read of all 112 input registers, built and decoded by pymodbus."""
    frame = _request(ReadInputRegistersRequest(dev_id=1, address=0, count=modbus_map.INPUT_COUNT))
    pdu = _response(_ask(slave, frame))
    assert pdu.registers == list(range(100, 212))


def test_fc03_and_fc06_fc16_write_then_read_holding(slave: RtuSlave) -> None:
    """Writes of one and of several holding registers are echoed and then read back."""
    clock = Clock()
    pdu = _response(_ask(slave, _request(WriteSingleRegisterRequest(dev_id=1, address=1, registers=[60])), clock))
    assert (pdu.function_code, pdu.address, pdu.registers) == (6, 1, [60])
    pdu = _response(
        _ask(slave, _request(WriteMultipleRegistersRequest(dev_id=1, address=8, registers=[52000, 22000, 7])), clock)
    )
    assert (pdu.function_code, pdu.address, pdu.count) == (16, 8, 3)
    pdu = _response(_ask(slave, _request(ReadHoldingRegistersRequest(dev_id=1, address=0, count=11)), clock))
    assert pdu.registers == [0, 60, 0, 0, 0, 0, 0, 0, 52000, 22000, 7]


def test_coils_read_write_single_and_multiple(slave: RtuSlave) -> None:
    """FC05 and FC15 set coils, FC01 reads them back packed LSB first."""
    clock = Clock()
    pdu = _response(_ask(slave, _request(WriteSingleCoilRequest(dev_id=1, address=2, bits=[True])), clock))
    assert pdu.function_code == 5
    pdu = _response(_ask(slave, _request(WriteMultipleCoilsRequest(dev_id=1, address=0, bits=[True, True])), clock))
    assert (pdu.function_code, pdu.address, pdu.count) == (15, 0, 2)
    pdu = _response(_ask(slave, _request(ReadCoilsRequest(dev_id=1, address=0, count=4)), clock))
    assert isinstance(pdu, ReadCoilsResponse)
    assert pdu.bits[:4] == [True, True, True, False]
    assert slave.coils == [True, True, True, False]


@pytest.mark.parametrize(
    ("pdu_hex", "code"),
    [
        ("0400000000", 3),  # FC04 count 0
        ("040000007e", 3),  # FC04 count 126 > 125
        ("0400640010", 2),  # FC04 registers 100..115 beyond 112
        ("0400700001", 2),  # FC04 register 112: first one outside
        ("0300100001", 2),  # FC03 holding register 16 outside
        ("0100000000", 3),  # FC01 count 0
        ("01000007d1", 3),  # FC01 count 2001
        ("0100030002", 2),  # FC01 coils 3..4, only 0..3 exist
        ("050001ff01", 3),  # FC05 value neither FF00 nor 0000
        ("050004ff00", 2),  # FC05 coil 4 does not exist
        ("0600100001", 2),  # FC06 register 16 outside
        ("10000f00020400010002", 2),  # FC16 registers 15..16, 16 outside
        ("100000000000", 3),  # FC16 count 0
        ("0f0000000000", 3),  # FC15 count 0
    ],
)
def test_exception_codes(slave: RtuSlave, pdu_hex: str, code: int) -> None:
    """Each bad request gets the exception the spec's state diagrams give, with a valid CRC."""
    frame = _with_crc(b"\x01" + bytes.fromhex(pdu_hex))
    pdu = _response(_ask(slave, frame) or b"")
    assert isinstance(pdu, ExceptionResponse)
    assert pdu.exception_code == code
    assert slave.stats["exceptions"] == 1


def test_fc16_byte_count_mismatch_is_illegal_value(slave: RtuSlave) -> None:
    """FC16 whose byte count is not twice the register count: exception 03, nothing written."""
    frame = _with_crc(bytes.fromhex("01100000000203000100"))  # count 2, byte count 3
    frame2 = _with_crc(bytes.fromhex("01100000000206000100020000"))  # count 2, byte count 6
    clock = Clock()
    assert _response(_ask(slave, frame, clock)).exception_code == 3
    assert _response(_ask(slave, frame2, clock)).exception_code == 3
    assert slave.holding_registers[:2] == [0, 0]


def test_unsupported_function_codes_are_illegal_function(slave: RtuSlave) -> None:
    """FC02 (fixed length) and FC43 (ended by the silence after it) get exception 01."""
    clock = Clock()
    assert _response(_ask(slave, _with_crc(bytes.fromhex("010200000001")), clock)).exception_code == 1
    frame = _with_crc(bytes.fromhex("012b0e0100"))
    assert slave.feed(frame, clock.frame()) is None  # length unknown until the line goes quiet
    pdu = _response(slave.feed(b"", clock.us + 4 * CHAR_US) or b"")
    assert (pdu.function_code, pdu.exception_code) == (0x2B | 0x80, 1)


def test_no_coils_means_coil_functions_are_illegal() -> None:
    """A node without coils answers FC01 with exception 01."""
    slave = RtuSlave(1, [0] * 4, [0] * 4, char_us=CHAR_US)
    assert _response(_ask(slave, _with_crc(bytes.fromhex("010100000001")))).exception_code == 1


def test_bad_crc_is_silent(slave: RtuSlave) -> None:
    """A request with a corrupted CRC gets no reply and is counted."""
    frame = bytearray(bytes.fromhex("01040000000a700d"))
    frame[-1] ^= 0x01
    assert _ask(slave, bytes(frame)) is None
    assert slave.stats["crc_errors"] == 1 and slave.stats["frames"] == 0


def test_corrupted_body_is_silent(slave: RtuSlave) -> None:
    """A flipped bit in the body (CRC unchanged) gets no reply."""
    frame = bytearray(bytes.fromhex("01040000000a700d"))
    frame[5] ^= 0x10
    assert _ask(slave, bytes(frame)) is None
    assert slave.stats["crc_errors"] == 1


def test_other_unit_is_silent_then_own_request_answered(slave: RtuSlave) -> None:
    """On a shared bus, unit 2's request and its reply are ignored; the next request for unit 1 is answered."""
    clock = Clock()
    assert _ask(slave, _request(ReadInputRegistersRequest(dev_id=2, address=0, count=3)), clock) is None
    reply_of_unit_2 = _with_crc(bytes.fromhex("020406000100010001"))
    assert _ask(slave, reply_of_unit_2, clock) is None
    assert slave.stats["other_unit"] == 2 and slave.stats["crc_errors"] == 0
    pdu = _response(_ask(slave, _request(ReadInputRegistersRequest(dev_id=1, address=0, count=3)), clock))
    assert pdu.registers == [100, 101, 102]


def test_partial_frame_across_many_feeds(slave: RtuSlave) -> None:
    """A request arriving one byte per feed (within the gap) is answered when its last byte comes."""
    frame = _request(WriteMultipleRegistersRequest(dev_id=1, address=0, registers=[7, 8]))
    t = 0
    for b in frame[:-1]:
        t += CHAR_US
        assert slave.feed(bytes([b]), t) is None
    reply = slave.feed(frame[-1:], t + CHAR_US)
    assert _response(reply or b"").function_code == 16
    assert slave.holding_registers[:2] == [7, 8]


def test_silence_discards_a_partial_frame(slave: RtuSlave) -> None:
    """Half a frame, then a silence over 3.5 characters: the half is dropped, the next frame answered."""
    frame = bytes.fromhex("01040000000a700d")
    assert slave.feed(frame[:5], 1000) is None
    gap = (CHAR_US * 7 + 1) // 2 + 1
    assert slave.feed(frame, 1000 + gap) is not None
    assert slave.stats["discarded"] == 1


def test_a_gap_shorter_than_35_chars_keeps_the_frame(slave: RtuSlave) -> None:
    """A pause of 3 characters inside a frame does not split it."""
    frame = bytes.fromhex("01040000000a700d")
    assert slave.feed(frame[:5], 1000) is None
    assert slave.feed(frame[5:], 1000 + 3 * CHAR_US) is not None


def test_broadcast_write_executes_without_reply(slave: RtuSlave) -> None:
    """A write to unit 0 is applied by every slave and answered by none; a broadcast read is ignored."""
    clock = Clock()
    assert _ask(slave, _request(WriteSingleRegisterRequest(dev_id=0, address=1, registers=[300])), clock) is None
    assert slave.holding_registers[1] == 300
    assert _ask(slave, _request(ReadInputRegistersRequest(dev_id=0, address=0, count=1)), clock) is None
    assert slave.stats["broadcasts"] == 2


def test_write_callback_can_refuse_a_value() -> None:
    """on_write raising ValueError answers exception 03 and stores nothing."""
    seen: list[tuple[int, list[int]]] = []

    def on_write(address: int, values: list[int]) -> None:
        if values[0] == 0:
            raise ValueError("unit 0 is broadcast")
        seen.append((address, values))

    holding = [1, 900]
    slave = RtuSlave(1, [0], holding, on_write=on_write, char_us=CHAR_US)
    clock = Clock()
    refused = _ask(slave, _request(WriteSingleRegisterRequest(dev_id=1, address=0, registers=[0])), clock)
    assert _response(refused).exception_code == 3
    _response(_ask(slave, _request(WriteSingleRegisterRequest(dev_id=1, address=0, registers=[5])), clock))
    assert seen == [(0, [5])]
    assert holding == [1, 900]  # the callback owns storing


def test_serves_a_nodes_live_register_view() -> None:
    """The slave reads a SoilNode's live view: after each report it serves the new seq."""
    node = SoilNode("soil-01", MemorySeq(start=41), [(10, _Probe(), None)], interval_ms=60_000)
    slave = RtuSlave(1, node.registers(), node.holding, on_write=node.on_holding_write, char_us=CHAR_US)
    clock = Clock()
    read = _request(ReadInputRegistersRequest(dev_id=1, address=0, count=modbus_map.INPUT_COUNT))
    for t in (0, 60_000):
        [up] = node.tick(1_767_225_600_000 + t)
        regs = _response(_ask(slave, read, clock)).registers
        assert modbus_map.decode_inputs("soil-01", regs)["seq"] == up["seq"]
    # a master sets the report interval through the node's handler
    _response(_ask(slave, _request(WriteSingleRegisterRequest(dev_id=1, address=1, registers=[120])), clock))
    assert node.holding[1] == 120


class _Probe:
    dry_raw, wet_raw = 50000, 20000

    def read(self) -> tuple[float, None, int]:
        return 25.0, None, 30000


@pytest.mark.parametrize(("baud", "char_us"), [(1200, 9167), (9600, 1146), (19200, 573), (38400, 500), (115200, 500)])
def test_character_time_from_baud(baud: int, char_us: int) -> None:
    """11 bits per character; above 19200 baud t3.5 is the spec's fixed 1750 us."""
    assert char_us_for_baud(baud) == char_us
    assert (RtuSlave(1, [], [], char_us=char_us).gap_us == 1750) == (baud > 19200)


def test_reuse_builds_every_reply_in_the_one_buffer() -> None:
    """With `reuse` (the board loop) every reply has the same bytes as a new one would, built in the one
    buffer the slave allocated at start: a poll of 112 registers needs no new 229 bytes in one piece."""
    tables = (list(range(100, 212)), [0] * 16)
    fresh = RtuSlave(1, *tables, coils=[False] * 4, char_us=CHAR_US)
    reused = RtuSlave(1, list(tables[0]), list(tables[1]), coils=[False] * 4, char_us=CHAR_US, reuse=True)
    frames = [
        _request(ReadInputRegistersRequest(dev_id=1, address=0, count=modbus_map.INPUT_COUNT)),
        _request(WriteSingleRegisterRequest(dev_id=1, address=1, registers=[60])),
        _request(WriteMultipleRegistersRequest(dev_id=1, address=8, registers=[52000, 22000, 7])),
        _request(ReadHoldingRegistersRequest(dev_id=1, address=0, count=11)),
        _request(WriteMultipleCoilsRequest(dev_id=1, address=0, bits=[True, False, True])),
        _request(WriteSingleCoilRequest(dev_id=1, address=3, bits=[True])),
        _request(ReadCoilsRequest(dev_id=1, address=0, count=4)),
        _request(ReadInputRegistersRequest(dev_id=1, address=110, count=5)),  # past the table: exception 02
        _with_crc(bytes([1, 0x2B, 0x0E, 1, 0])),  # a function it does not serve: exception 01
    ]
    clock_a, clock_b = Clock(), Clock()
    for frame in frames:
        want = _ask(fresh, frame, clock_a)
        got = _ask(reused, frame, clock_b)
        if want is None:  # a function only a silence delimits: answered at the next feed
            want, got = fresh.feed(b"", clock_a.frame()), reused.feed(b"", clock_b.frame())
        assert want is not None and isinstance(want, bytearray)
        assert isinstance(got, memoryview) and got.obj is reused._reply and bytes(got) == bytes(want), frame.hex()
    assert fresh.stats == reused.stats and fresh.stats["exceptions"] == 2
