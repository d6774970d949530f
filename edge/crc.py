"""CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), used by Modbus RTU
frames and by the binary uplink payload."""

from array import array

_TABLE = array("H")  # 2 bytes an entry: half what a list of 256 ints holds on a board


def _build_table():
    for byte in range(256):
        crc = byte
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
        _TABLE.append(crc)


_build_table()


def crc16_modbus(data, crc=0xFFFF):
    """Return the CRC-16/MODBUS of `data` (bytes-like); chain with `crc`."""
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc
