"""A sans-I/O Modbus RTU slave (server), written for MicroPython.

The board loop hands it every chunk of bytes the UART received with the time
they arrived, and sends whatever it returns:

    reply = slave.feed(uart.read(), now_us)
    if reply:
        uart.write(reply)

Framing (Modbus over serial line v1.02, section 2.5.1): a frame is complete
when the length its function code implies has arrived (8 bytes for 01-06,
9 + byte count for 15 and 16). A silence of more than 3.5 character times
(`char_us` * 3.5) ends whatever frame was in progress: a partial frame is then
discarded, and a frame of a function code this slave does not know is judged
at that point (answered with exception 01 if its CRC holds). Call
``feed(b"", now_us)`` while the line is idle so such a silence is noticed.

A frame for another unit is skipped up to the next silence without reading
it, so other devices' requests *and their replies* on a shared RS-485 bus
can never be taken for requests to this unit. A frame with a bad CRC gets no
reply (the master times out and retries); broadcasts (unit 0) execute writes
and never reply.

Function codes: 01 read coils, 03 read holding registers, 04 read input
registers, 05 write single coil, 06 write single register, 15 write multiple
coils, 16 write multiple registers. Exceptions (function | 0x80, code):

    01 illegal function      unknown code, or no coils on this node
    02 illegal data address  start + quantity outside the table
    03 illegal data value    quantity 0 or above the limit (125 registers
                             read, 123 written, 2000 coils read, 1968
                             written), byte count mismatch, FC05 value not
                             0xFF00/0x0000, or a value the node refuses
    04 server device failure the node's write handler failed

The quantity check comes before the address check, as in the spec's state
diagrams.
"""

from furrow.edge.crc import crc16_modbus

try:
    from micropython import const
except ImportError:  # CPython (tests, HIL): a constant is its value; MicroPython folds it into the code
    def const(value):
        return value

_READ_COILS = const(0x01)
_READ_DISCRETE_INPUTS = const(0x02)
_READ_HOLDING = const(0x03)
_READ_INPUTS = const(0x04)
_WRITE_COIL = const(0x05)
_WRITE_REGISTER = const(0x06)
_WRITE_COILS = const(0x0F)
_WRITE_REGISTERS = const(0x10)

_ILLEGAL_FUNCTION = const(0x01)
_ILLEGAL_ADDRESS = const(0x02)
_ILLEGAL_VALUE = const(0x03)
_DEVICE_FAILURE = const(0x04)

_BROADCAST = const(0)
_UNKNOWN_LENGTH = const(-1)
_MIN_FRAME = const(4)  # unit, function, CRC
_MAX_FRAME = const(256)  # serial line ADU limit; more without a silence is noise


def char_us_for_baud(baud):
    """Microseconds per character (11 bits: start, 8 data, parity or a second
    stop, stop). Above 19200 baud the spec fixes t3.5 at 1750 us, which is
    what 500 us per character gives."""
    if baud > 19200:
        return 500
    return (11 * 1000000 + baud - 1) // baud


class ModbusError(Exception):
    """A request this slave answers with an exception response."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def _u16(data, i):
    return (data[i] << 8) | data[i + 1]


def _request_length(buf):
    """Bytes in the request starting `buf`: None if more are needed to know,
    _UNKNOWN_LENGTH for a function code only a silence can delimit."""
    fc = buf[1]
    if _READ_COILS <= fc <= _WRITE_REGISTER:
        return 8
    if fc == _WRITE_COILS or fc == _WRITE_REGISTERS:
        if len(buf) < 7:
            return None
        return 9 + buf[6]
    return _UNKNOWN_LENGTH


class RtuSlave:
    """Modbus RTU slave for one unit address (see the module docstring).

    `input_registers`, `holding_registers` and `coils` are lists or any
    object with ``__getitem__``/``__len__`` (a node's live view). Writes go to
    `on_write(address, values)` / `on_coil_write(address, values)` when
    given, *before* anything is stored: the callback applies and stores
    them, or raises ValueError to refuse them (exception 03). Without a
    callback the slave stores into the list itself.

    With `reuse` (the board loop) every reply is built in one buffer of
    _MAX_FRAME bytes allocated here, and `feed` returns a memoryview of it,
    valid until the next call: a poll then allocates nothing of a reply's size
    (a read of 112 registers is 229 bytes), which a fragmented heap may not
    have in one piece. Without it each reply is a new bytearray.
    """

    def __init__(
        self,
        unit,
        input_registers,
        holding_registers,
        coils=None,
        char_us=1146,
        on_write=None,
        on_coil_write=None,
        reuse=False,
    ):
        if not 1 <= unit <= 247:
            raise ValueError("unit address must be 1..247, not %r" % (unit,))
        self.unit = unit
        self.input_registers = input_registers
        self.holding_registers = holding_registers
        self.coils = coils
        self.on_write = on_write
        self.on_coil_write = on_coil_write
        self.gap_us = (char_us * 7 + 1) // 2  # 3.5 character times
        self.stats = {
            "frames": 0,  # requests with a good CRC for this unit or broadcast
            "crc_errors": 0,
            "exceptions": 0,
            "other_unit": 0,
            "discarded": 0,  # partial frames ended by a silence
            "broadcasts": 0,
        }
        self._buf = bytearray()
        self._last_us = None
        self._skip = False  # in another unit's frame until the next silence
        self._reply = bytearray(_MAX_FRAME) if reuse else None

    def feed(self, data, now_us):
        """Take `data` (bytes received at `now_us`); return a reply frame or None.

        At most one reply per call; bytes behind a complete request wait for
        the next call.
        """
        reply = None
        if self._last_us is not None and now_us - self._last_us > self.gap_us and (self._buf or self._skip):
            reply = self._scan(True)  # the silence closed the frame in progress
            self._discard()
        if data:
            self._last_us = now_us
            if not self._skip:
                self._buf.extend(data)
                if len(self._buf) > _MAX_FRAME:
                    self._discard()
                    self._skip = True  # resynchronise at the next silence
        if reply is not None:
            return reply
        return self._scan(False)

    def busy(self):
        """True while a frame is being received (don't stall the loop now)."""
        return self._skip or len(self._buf) > 0

    def _discard(self):
        if self._buf and not self._skip:
            self.stats["discarded"] += 1
        self._buf = bytearray()
        self._skip = False

    def _scan(self, silence):
        if self._skip or len(self._buf) < 2:
            return None
        buf = self._buf
        if buf[0] != self.unit and buf[0] != _BROADCAST:
            self.stats["other_unit"] += 1
            self._buf = bytearray()
            self._skip = True
            return None
        n = _request_length(buf)
        if n == _UNKNOWN_LENGTH:
            if not silence or len(buf) < _MIN_FRAME:
                return None
            n = len(buf)
        if n is None or len(buf) < n:
            return None
        frame = bytes(buf[:n])
        self._buf = buf[n:]
        return self._handle(frame)

    def _handle(self, frame):
        crc = crc16_modbus(memoryview(frame)[:-2])
        if frame[-2] != crc & 0xFF or frame[-1] != crc >> 8:
            self.stats["crc_errors"] += 1
            return None
        self.stats["frames"] += 1
        unit = frame[0]
        fc = frame[1]
        broadcast = unit == _BROADCAST
        if broadcast:
            self.stats["broadcasts"] += 1
            if fc not in (_WRITE_COIL, _WRITE_REGISTER, _WRITE_COILS, _WRITE_REGISTERS):
                return None  # only writes may be broadcast
        try:
            out, n = self._dispatch(fc, frame[2:-2])
        except ModbusError as e:
            self.stats["exceptions"] += 1
            if broadcast:
                return None
            out, n = self._body(bytes((e.code,)))
            fc |= 0x80
        if broadcast:
            return None
        # The reply is built in place, in one buffer: a board's heap may have no room for the
        # copies a growing buffer makes (a read of 112 registers is a 229-byte reply).
        out[0], out[1] = unit, fc
        crc = crc16_modbus(memoryview(out)[: n - 2])
        out[n - 2] = crc & 0xFF  # CRC goes low byte first
        out[n - 1] = crc >> 8
        return memoryview(out)[:n] if out is self._reply else out

    def _out(self, n):
        """(buffer, n): where a reply of `n` bytes (unit, function and CRC included) is built."""
        return (self._reply if self._reply is not None else bytearray(n)), n

    def _body(self, body):
        """A reply whose data is `body`."""
        out, n = self._out(len(body) + 4)
        out[2 : n - 2] = body
        return out, n

    def _dispatch(self, fc, data):
        if fc == _READ_INPUTS or fc == _READ_HOLDING:
            table = self.input_registers if fc == _READ_INPUTS else self.holding_registers
            return self._read_registers(table, data)
        if fc == _WRITE_REGISTER:
            address = _u16(data, 0)
            self._check(self.holding_registers, address, 1)
            self._write(self.holding_registers, self.on_write, address, [_u16(data, 2)])
            return self._body(data)
        if fc == _WRITE_REGISTERS:
            address, count = _u16(data, 0), _u16(data, 2)
            if not 1 <= count <= 123 or data[4] != 2 * count:
                raise ModbusError(_ILLEGAL_VALUE) from None
            self._check(self.holding_registers, address, count)
            values = [_u16(data, 5 + 2 * i) for i in range(count)]
            self._write(self.holding_registers, self.on_write, address, values)
            return self._body(data[:4])
        if fc in (_READ_COILS, _WRITE_COIL, _WRITE_COILS) and self.coils is None:
            raise ModbusError(_ILLEGAL_FUNCTION)
        if fc == _READ_COILS:
            return self._read_coils(data)
        if fc == _WRITE_COIL:
            address, value = _u16(data, 0), _u16(data, 2)
            if value != 0xFF00 and value != 0x0000:
                raise ModbusError(_ILLEGAL_VALUE) from None
            self._check(self.coils, address, 1)
            self._write(self.coils, self.on_coil_write, address, [value == 0xFF00])
            return self._body(data)
        if fc == _WRITE_COILS:
            address, count = _u16(data, 0), _u16(data, 2)
            if not 1 <= count <= 1968 or data[4] != (count + 7) // 8:
                raise ModbusError(_ILLEGAL_VALUE) from None
            self._check(self.coils, address, count)
            bits = [bool(data[5 + i // 8] >> (i % 8) & 1) for i in range(count)]
            self._write(self.coils, self.on_coil_write, address, bits)
            return self._body(data[:4])
        raise ModbusError(_ILLEGAL_FUNCTION)

    def _check(self, table, address, count):
        if table is None:
            raise ModbusError(_ILLEGAL_FUNCTION)
        if address + count > len(table):
            raise ModbusError(_ILLEGAL_ADDRESS)

    def _read_registers(self, table, data):
        address, count = _u16(data, 0), _u16(data, 2)
        if not 1 <= count <= 125:
            raise ModbusError(_ILLEGAL_VALUE) from None
        self._check(table, address, count)
        out, n = self._out(5 + 2 * count)
        out[2] = 2 * count
        for i in range(count):
            v = table[address + i] & 0xFFFF
            out[3 + 2 * i] = v >> 8
            out[4 + 2 * i] = v & 0xFF
        return out, n

    def _read_coils(self, data):
        address, count = _u16(data, 0), _u16(data, 2)
        if not 1 <= count <= 2000:
            raise ModbusError(_ILLEGAL_VALUE) from None
        self._check(self.coils, address, count)
        nbytes = (count + 7) // 8
        out, n = self._out(5 + nbytes)
        out[2] = nbytes
        for i in range(nbytes):
            out[3 + i] = 0
        for i in range(count):
            if self.coils[address + i]:
                out[3 + i // 8] |= 1 << (i % 8)  # first coil in the lowest bit
        return out, n

    def _write(self, table, callback, address, values):
        try:
            if callback is not None:
                callback(address, values)
            else:
                for i, v in enumerate(values):
                    table[address + i] = v
        except ValueError:
            raise ModbusError(_ILLEGAL_VALUE) from None
        except Exception:  # noqa: BLE001 - reported to the master, not raised into the loop
            raise ModbusError(_DEVICE_FAILURE) from None
