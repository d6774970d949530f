"""Modbus/TCP (MBAP) in front of the firmware's RTU slave.

Modbus/TCP carries the same PDU as RTU behind a 7-byte MBAP header
(transaction id, protocol id 0, length, unit id) and without a CRC. A bench
tool such as `mbpoll -m tcp` speaks it, so the emulated node takes the MBAP
frame apart, wraps the PDU with its unit and CRC-16 into an RTU frame, lets
the firmware's own `RtuSlave` answer, and turns the RTU reply back into an
MBAP frame: the firmware slave is the one that decides every answer.

When no slave answers a unicast request (no node at that unit), the adapter
answers as a Modbus/TCP gateway does: exception 0x0B, "gateway target device
failed to respond" (Modbus application protocol v1.1b3, section 7).
"""

from __future__ import annotations

import struct

from furrow.edge.crc import crc16_modbus

MBAP_LEN = 7
GATEWAY_TARGET_FAILED = 0x0B
MAX_PDU = 253


class MbapError(ValueError):
    """A frame that is not Modbus/TCP; the connection is closed."""


def parse_header(header: bytes) -> tuple[int, int, int]:
    """(transaction id, unit, PDU length) from a 7-byte MBAP header."""
    tid, proto, length, unit = struct.unpack(">HHHB", header)
    if proto != 0:
        raise MbapError(f"protocol id {proto}: not Modbus")
    if not 2 <= length <= MAX_PDU + 1:
        raise MbapError(f"MBAP length {length} outside 2..{MAX_PDU + 1}")
    return tid, unit, length - 1


def to_rtu(unit: int, pdu: bytes) -> bytes:
    """The RTU frame (unit, PDU, CRC-16 low byte first) of a PDU."""
    body = bytes([unit]) + pdu
    crc = crc16_modbus(body)
    return body + bytes([crc & 0xFF, crc >> 8])


def from_rtu(tid: int, rtu: bytes) -> bytes:
    """The MBAP frame carrying an RTU reply's unit and PDU (its CRC dropped)."""
    unit, pdu = rtu[0], rtu[1:-2]
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def no_answer(tid: int, unit: int, function: int) -> bytes:
    """Exception 0x0B for a unit nobody answered."""
    pdu = bytes([function | 0x80, GATEWAY_TARGET_FAILED])
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu
